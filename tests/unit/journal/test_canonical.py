import json
import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from agp.journal import canonical
from agp.journal.canonical import CanonicalizationError, canonicalize, canonicalize_reference, loads

# RFC 8785 section 3.2.2 (whitespace, numbers, strings, literals)
RFC_INPUT = (
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
    ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
    ' "literals": [null, true, false]}'
)
RFC_OUTPUT = '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'


def test_rfc8785_section_3_2_2_example():
    assert canonicalize(json.loads(RFC_INPUT)) == RFC_OUTPUT.encode("utf-8")


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units():
    obj = {
        "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
        "\U0001F600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    out = canonicalize(obj).decode("utf-8")
    order = [json.loads("[" + p.split(":")[0] + "]")[0] for p in out[1:-1].split(",")]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"]


def test_integer_outside_the_safe_domain_is_refused():
    with pytest.raises(CanonicalizationError):
        canonicalize({"n": 2**60})


def test_nan_is_refused():
    with pytest.raises(CanonicalizationError):
        canonicalize({"x": math.nan})


def test_lone_surrogate_is_refused():
    with pytest.raises(CanonicalizationError):
        canonicalize({"x": "\ud800"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_matches_the_reference_byte_for_byte(value):
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        with pytest.raises(CanonicalizationError):
            canonicalize(value)
        return
    assert canonicalize(value) == expected
    assert canonicalize_reference(value) == expected


# --- loads: parsing a line and telling, from its text, whether the walk can be skipped ---------------

any_text_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def _as_rfc8785_reads(raw):
    """json.loads, but an integer outside the safe range read as the double it names (the oracle)."""
    return json.loads(raw, parse_int=lambda t: int(t) if abs(int(t)) <= 2**53 - 1 else float(t))


def _same(a, b):
    """Equal as parsed JSON (NaN equal to itself, and a float never equal to an int of the same value)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=500, deadline=None)
@given(any_text_values, st.booleans(), st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32-be"]))
def test_loads_parses_as_json_loads_does_and_plain_means_the_walk_would_pass(value, ascii_only, encoding):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    obj, plain = loads(raw)
    assert _same(obj, _as_rfc8785_reads(raw))
    if plain:
        assert canonical._fast_ok(obj)
        assert canonicalize(obj, plain=True) == canonicalize_reference(obj) == canonicalize(obj)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (b'{"a":[1,"x",true,null,{"b":-9007199254740991}]}', True),
        (b'{"n":9007199254740991,"m":-9007199254740991}', True),
        (b'{"n":9007199254740992}', False),  # outside the safe integers: read as a float
        (b'{"n":-9007199254740992}', False),
        (b'{"n":10000000000000000}', False),
        (b'{"x":1.0}', False),  # floats: ES6 formatting differs from repr
        (b'{"x":1e3}', False),
        (b'{"x":NaN}', False),
        (b'{"x":-Infinity}', False),
        (b'{"k\\u00e9":1}', False),  # any escape of the \u form
        (b'{"\\ud83d\\ude00":1,"\\uffff":2}', False),  # an astral key: UTF-16 order differs
        ('{"é":1}'.encode(), False),  # non-ASCII
        ('{"a":1}'.encode("utf-16-le"), False),  # NULs: json.loads reads UTF-16
        (rb'{"tab":"a\tb","q":"\"","s":"\\"}', True),  # short escapes are the same in both
    ],
)
def test_loads_calls_plain_only_what_needs_no_walk(text, plain):
    obj, got = loads(text)
    assert got is plain
    assert _same(obj, _as_rfc8785_reads(text))


def test_an_astral_key_written_as_escapes_is_sorted_by_utf16_units():
    """The one case the \\u test is there for: json.dumps would sort these keys by code point."""
    text = rb'{"\ud83d\ude00":1,"\ufb33":2}'
    obj, plain = loads(text)
    assert not plain
    assert canonicalize(obj) == '{"\U0001F600":1,"\ufb33":2}'.encode()
    assert canonical._dumps(obj).encode() != canonicalize(obj)  # what plain=True would have given


def test_loads_raises_what_json_loads_raises():
    for text in (b'{"a":', b'{"a":1.5,', b"\x00\x00", b'{"a":1}x', b"[" * 100_000):
        try:
            json.loads(text)
        except (ValueError, RecursionError) as exc:
            with pytest.raises(type(exc)) as got:
                loads(text)
            assert str(got.value) == str(exc)
        else:  # pragma: no cover - every text above is refused
            raise AssertionError(text)


@settings(max_examples=500, deadline=None)
@given(json_values | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: {"n": f, "l": [f, -f]}))
def test_what_is_written_reads_back_to_the_same_bytes(value):
    """The property a verifier rests on: the canonical bytes of any value the journal accepts, parsed
    and canonicalized again, are the same bytes (1e16 is written 10000000000000000: read as an
    integer it would be refused)."""
    try:
        written = canonicalize(value)
    except CanonicalizationError:
        return
    obj, plain = loads(written)
    assert canonicalize(obj, plain=plain) == written
    assert canonicalize(obj) == written


@pytest.mark.parametrize("f", [1e16, 2.0**53, -(2.0**60), 123456789012345680.0, 1e20, 9.999999999999999e20])
def test_a_float_written_as_a_long_integer_reads_back_as_that_float(f):
    written = canonicalize({"n": f})
    assert b"e" not in written and b"." not in written  # RFC 8785 writes these without exponent or point
    obj, plain = loads(written)
    assert obj == {"n": f} and type(obj["n"]) is float and not plain
    assert canonicalize(obj) == written


def test_an_integer_too_long_for_a_double_reads_as_infinity_and_is_refused():
    obj, _ = loads(b'{"n":' + b"9" * 400 + b"}")
    assert obj["n"] == math.inf
    with pytest.raises(CanonicalizationError):
        canonicalize(obj)
