import json
import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from agp.journal.canonical import CanonicalizationError, canonicalize, canonicalize_reference

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
