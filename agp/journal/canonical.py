"""RFC 8785 (JSON Canonicalization Scheme) serialization.

The reference implementation is the ``rfc8785`` package. It costs about 85 µs
for a typical gate decision here, which alone would cap the journal below its
20,000 entries/s goal, so :func:`canonicalize` takes a fast path through the
C-accelerated ``json.dumps`` when the value is in the subset where both are
byte-for-byte identical, and falls back to ``rfc8785`` otherwise:

- no floats (ES6 number formatting differs from ``repr``), no NaN/Infinity;
- integers within ±(2**53 - 1) (``rfc8785`` refuses larger ones, and so do we);
- object keys made only of BMP characters (JCS sorts keys by UTF-16 code
  units, Python by code points; the orders differ only for astral characters);
- strings escape identically: both escape ``"``, ``\\``, the short forms
  ``\\b \\f \\n \\r \\t`` and other controls as lowercase ``\\u00xx``, and emit
  everything else as UTF-8.

``tests/unit/journal/test_canonical.py`` checks the equivalence with
hypothesis and against the RFC's own examples. See adr/0009.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ("CanonicalizationError", "canonicalize", "canonicalize_reference")

_MAX_SAFE = 2**53 - 1
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=True
).encode


class CanonicalizationError(ValueError):
    """The value cannot be represented in RFC 8785 canonical JSON."""


def _fast_ok(obj: Any) -> bool:
    """True when ``json.dumps`` gives exactly the RFC 8785 bytes for ``obj`` (see the module doc)."""
    t = type(obj)
    if t is dict:
        for k, v in obj.items():
            if type(k) is not str or (not k.isascii() and max(k) > "\uffff"):
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if -_MAX_SAFE <= v <= _MAX_SAFE:
                    continue
                return False
            if not _fast_ok(v):
                return False
        return True
    if t is list:
        for v in obj:
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if -_MAX_SAFE <= v <= _MAX_SAFE:
                    continue
                return False
            if not _fast_ok(v):
                return False
        return True
    if t is str or obj is None or t is bool:
        return True
    if t is int:
        return bool(-_MAX_SAFE <= obj <= _MAX_SAFE)
    return False  # float, tuple, subclasses, anything else: the reference path decides


def canonicalize(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``obj``."""
    if _fast_ok(obj):
        try:
            return _dumps(obj).encode("utf-8")
        except (UnicodeEncodeError, ValueError):
            pass  # lone surrogates and the like: let the reference decide and explain
    return canonicalize_reference(obj)


def canonicalize_reference(obj: Any) -> bytes:
    """The ``rfc8785`` package's serialization (slow, always right)."""
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as exc:
        raise CanonicalizationError(str(exc)) from exc
