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

A verifier parses lines and re-canonicalizes what it parsed. :func:`loads` tells from the
text itself whether everything in it is in that subset (ASCII without NUL and without
``\\u`` escapes, no number with a fraction or an exponent, no NaN or Infinity, integers
within the safe range), so ``canonicalize(value, plain=True)`` skips the walk over the parsed
value. The test is conservative: a text it is unsure of (any non-ASCII byte, say) takes the
walk, never the other way round.

``tests/unit/journal/test_canonical.py`` checks the equivalence with
hypothesis and against the RFC's own examples. See adr/0009.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ("CanonicalizationError", "canonicalize", "canonicalize_reference", "loads")

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


def canonicalize(obj: Any, *, plain: bool = False) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``obj``.

    ``plain=True`` only for a value (or a part of one) that :func:`loads` parsed and called plain.
    """
    if plain or _fast_ok(obj):
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


class _NotPlain(Exception):
    pass


def _not_plain(_text: str) -> Any:
    raise _NotPlain


def _safe_int(text: str) -> int:
    v = int(text)
    if -_MAX_SAFE <= v <= _MAX_SAFE:
        return v
    raise _NotPlain


# the C scanner with hooks: a float, NaN or Infinity, or an unsafe integer, stops the plain parse
_plain_decode = json.JSONDecoder(parse_float=_not_plain, parse_int=_safe_int, parse_constant=_not_plain).decode


def _double_int(text: str) -> int | float:
    v = int(text)
    if -_MAX_SAFE <= v <= _MAX_SAFE:
        return v
    return float(text)  # the double it names: what serializing that double wrote (1e16 is written 10000000000000000)


# RFC 8785 reads every number as an IEEE double (I-JSON): an integer outside the safe range is read as
# the double it names, so the canonical text of a float such as 1e16 reads back as that float
_double_decode = json.JSONDecoder(parse_int=_double_int).decode


def loads(raw: bytes) -> tuple[Any, bool]:
    """Parse one JSON text as RFC 8785 reads it, and say whether it is plain: every value in it is one
    whose canonical bytes ``canonicalize(value, plain=True)`` may give without checking.

    The value is what ``json.loads(raw)`` gives, except that an integer outside ±(2**53 - 1) is read
    as the float it names (json.loads would give an int the canonicalization refuses); what
    json.loads refuses, this refuses with the same error.
    """
    # ASCII without NUL (json.loads would read a text with NULs as UTF-16 or UTF-32) and without \u
    # escapes (a surrogate can only be written as one): every string in it is BMP-only and encodable
    if raw.isascii() and b"\x00" not in raw and b"\\u" not in raw:
        try:
            return _plain_decode(raw.decode("ascii")), True
        except _NotPlain:
            pass  # a float, or an integer outside the safe range: read below
    # json.loads's own reading of bytes (the encoding it detects, surrogates let through)
    return _double_decode(raw.decode(json.detect_encoding(raw), "surrogatepass")), False
