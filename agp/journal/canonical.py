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
    stack = [obj]
    pop = stack.pop
    push = stack.append
    while stack:
        o = pop()
        t = type(o)
        if t is str or o is None or t is bool:
            continue
        if t is int:
            if -_MAX_SAFE <= o <= _MAX_SAFE:
                continue
            return False
        if t is dict:
            for k, v in o.items():
                if type(k) is not str:
                    return False
                if not k.isascii() and max(k) > "\uffff":
                    return False
                push(v)
            continue
        if t is list:
            stack.extend(o)
            continue
        return False  # float, tuple, subclasses, anything else: reference path
    return True


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
