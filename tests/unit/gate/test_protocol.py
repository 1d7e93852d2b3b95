"""agp.gate.protocol: framing, the one validating entry point, and a fuzz of both."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agp.gate.protocol import (
    MAX_FRAME,
    CheckRequest,
    FrameCode,
    FrameDecoder,
    FrameRejected,
    Verdict,
    call_digest,
    encode_frame,
    parse_request,
)

GOOD = {"v": 1, "type": "check", "id": "r1", "session": "s1", "harness": "claude-code", "tool": "Bash",
        "input": {"command": "ls"}, "cwd": "/workspace", "tool_use_id": "toolu_01"}


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def test_good_request_parses_and_is_frozen():
    req = parse_request(body(GOOD))
    assert isinstance(req, CheckRequest)
    assert req.call_dict() == {"id": "r1", "harness": "claude-code", "tool": "Bash", "input": {"command": "ls"},
                               "cwd": "/workspace", "tool_use_id": "toolu_01"}
    with pytest.raises(Exception):
        req.tool = "Write"  # type: ignore[misc]


def test_tool_use_id_optional_and_null():
    d = dict(GOOD)
    del d["tool_use_id"]
    assert parse_request(body(d)).tool_use_id is None
    d["tool_use_id"] = None
    assert "tool_use_id" not in parse_request(body(d)).call_dict()


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda d: d.update(extra=1), FrameCode.INVALID),
        (lambda d: d.pop("session"), FrameCode.INVALID),
        (lambda d: d.update(v=2), FrameCode.BAD_VERSION),
        (lambda d: d.update(v=True), FrameCode.BAD_VERSION),
        (lambda d: d.update(v="1"), FrameCode.BAD_VERSION),
        (lambda d: d.update(type="verdict"), FrameCode.UNKNOWN_TYPE),
        (lambda d: d.update(type="allow"), FrameCode.UNKNOWN_TYPE),
        (lambda d: d.update(input="ls"), FrameCode.INVALID),
        (lambda d: d.update(input=["ls"]), FrameCode.INVALID),
        (lambda d: d.update(tool=""), FrameCode.INVALID),
        (lambda d: d.update(session=7), FrameCode.INVALID),
        (lambda d: d.update(cwd=None), FrameCode.INVALID),
        (lambda d: d.update(id="x" * 300), FrameCode.INVALID),
        (lambda d: d.update(input={"n": 2**60}), FrameCode.NOT_CANONICAL),
    ],
)
def test_invalid_requests_are_rejected_with_a_code(mutate, code):
    d = json.loads(json.dumps(GOOD))
    mutate(d)
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(d))
    assert ei.value.code is code


def test_rejection_recovers_the_id_and_session():
    d = dict(GOOD, extra="x")
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(d))
    assert ei.value.request_id == "r1" and ei.value.session == "s1"


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"", FrameCode.EMPTY),
        (b"\xff\xfe", FrameCode.NOT_UTF8),
        (b"{", FrameCode.NOT_JSON),
        (b"[1,2]", FrameCode.NOT_OBJECT),
        (b'"check"', FrameCode.NOT_OBJECT),
        (b'{"v":1,"v":1}', FrameCode.NOT_JSON),  # duplicate keys
        (b'{"v":NaN}', FrameCode.NOT_JSON),
        (b'{"v":1e999}', FrameCode.NOT_JSON),
        (b"[" * 100000 + b"]" * 100000, FrameCode.NOT_JSON),  # recursion
    ],
)
def test_garbage_is_rejected(raw, code):
    with pytest.raises(FrameRejected) as ei:
        parse_request(raw)
    assert ei.value.code is code


def test_duplicate_decision_keys_cannot_smuggle_a_field():
    raw = body(GOOD)[:-1] + b',"tool":"Read"}'
    with pytest.raises(FrameRejected, match="duplicate key"):
        parse_request(raw)


def test_too_deep_input_is_invalid():
    inner: dict = {}
    d = inner
    for _ in range(80):
        d["a"] = {}
        d = d["a"]
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(dict(GOOD, input=inner)))
    assert ei.value.code is FrameCode.INVALID


def test_lone_surrogate_in_input_is_rejected():
    raw = body(GOOD).replace(b'"ls"', b'"\\ud800"')
    with pytest.raises(FrameRejected) as ei:
        parse_request(raw)
    assert ei.value.code is FrameCode.NOT_CANONICAL


def test_frame_round_trip_and_split_delivery():
    frames = encode_frame(GOOD) + encode_frame(dict(GOOD, id="r2"))
    dec = FrameDecoder()
    got = []
    for i in range(len(frames)):  # one byte at a time
        got += dec.feed(frames[i : i + 1])
    assert [parse_request(b).id for b in got] == ["r1", "r2"]
    assert dec.pending == 0


def test_oversized_and_empty_length_prefix():
    with pytest.raises(FrameRejected) as ei:
        FrameDecoder().feed(struct.pack(">I", MAX_FRAME + 1))
    assert ei.value.code is FrameCode.OVERSIZED
    with pytest.raises(FrameRejected) as ei:
        FrameDecoder().feed(struct.pack(">I", 0))
    assert ei.value.code is FrameCode.EMPTY
    assert FrameDecoder().feed(struct.pack(">I", MAX_FRAME)) == []  # exactly the cap is fine


def test_encode_refuses_oversized():
    from agp.errors import ProtocolError

    with pytest.raises(ProtocolError):
        encode_frame({"x": "a" * MAX_FRAME})


def test_verdict_shape():
    v = Verdict(id="r1", decision="deny", reason="no", rule=None, seq=4)
    assert json.loads(v.to_frame()[4:]) == {"v": 1, "type": "verdict", "id": "r1", "decision": "deny",
                                            "reason": "no", "rule": None, "seq": 4}
    with pytest.raises(Exception):
        Verdict(id="r1", decision="require", reason="x")


def test_call_digest_is_canonical():
    a = parse_request(body(GOOD)).call_dict()
    reordered = json.loads(json.dumps(dict(reversed(list(GOOD.items())))))
    b = parse_request(body(reordered)).call_dict()
    assert call_digest(a) == call_digest(b)
    assert call_digest(a) != call_digest(dict(a, input={"command": "ls "}))


# --------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.text(max_size=8), ch, max_size=4),
    max_leaves=20,
)
near_requests = st.fixed_dictionaries(
    {k: st.one_of(st.just(v), json_values) for k, v in GOOD.items()},
    optional={"extra": json_values, "decision": st.just("allow")},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_crash(raw):
    try:
        parse_request(raw)
    except FrameRejected:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_requests)
def test_fuzz_near_valid_requests_either_parse_exactly_or_are_rejected(obj):
    try:
        raw = json.dumps(obj).encode()
    except ValueError:
        return
    try:
        req = parse_request(raw)
    except FrameRejected as exc:
        assert exc.code in FrameCode
        return
    # anything that parses is exactly the schema: no extra key, right types
    assert set(obj) <= set(GOOD)
    assert req.v == 1 and req.type == "check" and isinstance(req.input, dict)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_fuzz_decoder_never_crashes(chunks):
    dec = FrameDecoder()
    for c in chunks:
        try:
            for b in dec.feed(c):
                try:
                    parse_request(b)
                except FrameRejected:
                    pass
        except FrameRejected:
            return


# --------------------------------------------------------------------------- edges


def _nested(levels: int, as_list: bool):
    """A value whose innermost leaf sits ``levels`` levels below the request object itself."""
    x = "leaf"
    for _ in range(levels - 2):  # request -> "input" (1) -> "a" (2) -> ...
        x = [x] if as_list else {"a": x}
    return {"a": x}


@pytest.mark.parametrize("as_list", [False, True], ids=["objects", "arrays"])
def test_nesting_is_accepted_up_to_64_levels_and_not_one_more(as_list):
    assert parse_request(body(dict(GOOD, input=_nested(64, as_list)))).input == _nested(64, as_list)
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(dict(GOOD, input=_nested(65, as_list))))
    assert ei.value.code is FrameCode.INVALID and "deeper than 64" in ei.value.detail
    assert ei.value.request_id == "r1"


def test_non_finite_numbers_are_named_in_the_rejection():
    with pytest.raises(FrameRejected) as ei:
        parse_request(b'{"v":NaN}')
    assert ei.value.detail == "non-finite number NaN"
    with pytest.raises(FrameRejected) as ei:
        parse_request(b'{"v":-Infinity}')
    assert ei.value.detail == "non-finite number -Infinity"
    with pytest.raises(FrameRejected) as ei:
        parse_request(b'{"v":1e999}')
    assert ei.value.detail == "number out of range"


def test_several_frames_in_one_chunk_are_split_exactly():
    a, b = encode_frame(GOOD), encode_frame(dict(GOOD, id="r2", input={"command": "x" * 300}))
    dec = FrameDecoder()
    assert dec.feed(a + b + a[:5]) == [a[4:], b[4:]]
    assert dec.pending == 5
    assert dec.feed(a[5:]) == [a[4:]]
    assert dec.pending == 0


def test_length_prefix_rejections_say_what_was_received():
    with pytest.raises(FrameRejected) as ei:
        FrameDecoder().feed(struct.pack(">I", 0))
    assert ei.value.detail == "length prefix 0"
    with pytest.raises(FrameRejected) as ei:
        FrameDecoder(max_frame=100).feed(struct.pack(">I", 101))
    assert ei.value.detail == "length prefix 101 exceeds 100 bytes"
    assert FrameDecoder(max_frame=100).feed(struct.pack(">I", 100) + b"x" * 100) == [b"x" * 100]


def test_encode_frame_is_compact_utf8_and_refuses_what_json_cannot_say():
    frame = encode_frame({"a": [1, 2], "t": "é"})
    assert frame == struct.pack(">I", len('{"a":[1,2],"t":"é"}'.encode())) + '{"a":[1,2],"t":"é"}'.encode()
    with pytest.raises(ValueError):
        encode_frame({"x": float("nan")})
    with pytest.raises(ValueError):
        encode_frame({"x": float("inf")})


def test_encode_frame_accepts_exactly_max_frame_and_names_the_size_above_it():
    from agp.errors import ProtocolError

    pad = MAX_FRAME - len(json.dumps({"x": ""}, separators=(",", ":")))
    assert len(encode_frame({"x": "a" * pad})) == 4 + MAX_FRAME
    with pytest.raises(ProtocolError) as ei:
        encode_frame({"x": "a" * (pad + 1)})
    assert f"{MAX_FRAME + 1} bytes" in str(ei.value)


# --------------------------------------------------------------------------- what a rejection carries
# The code and detail are journaled (gate.frame_rejected); the recovered id and session let the
# server answer the bridge's request with a deny instead of hanging up.

V2 = dict(GOOD, v=2)


@pytest.mark.parametrize("raw, code, detail, rid, session", [
    (b"", FrameCode.EMPTY, "empty frame", None, None),
    (b" " * MAX_FRAME + b" ", FrameCode.OVERSIZED, f"{MAX_FRAME + 1} bytes exceeds {MAX_FRAME}", None, None),
    (b"ok\xff", FrameCode.NOT_UTF8, "not UTF-8 at byte 2", None, None),
    (b"[1,2]", FrameCode.NOT_OBJECT, "a JSON list, not an object", None, None),
    (b'"check"', FrameCode.NOT_OBJECT, "a JSON str, not an object", None, None),
    (b'{"' + b"k" * 50 + b'":1,"' + b"k" * 50 + b'":2}', FrameCode.NOT_JSON, f"duplicate key {'k' * 40!r}", None, None),
    (body(V2), FrameCode.BAD_VERSION, "v must be 1", "r1", "s1"),
    (body(dict(GOOD, type="verdict")), FrameCode.UNKNOWN_TYPE, "unknown message type 'verdict'", "r1", "s1"),
    (body(dict(GOOD, type="t" * 50)), FrameCode.UNKNOWN_TYPE, f"unknown message type {'t' * 40!r}", "r1", "s1"),
    (body(dict(GOOD, type=7)), FrameCode.UNKNOWN_TYPE, "unknown message type 'int'", "r1", "s1"),
    (body({k: v for k, v in GOOD.items() if k != "type"}), FrameCode.UNKNOWN_TYPE, "unknown message type 'NoneType'",
     "r1", "s1"),
    (body(dict(GOOD, input=_nested(65, False))), FrameCode.INVALID, "nested deeper than 64 levels", "r1", "s1"),
])
def test_each_rejection_carries_its_code_detail_and_recovered_request(raw, code, detail, rid, session):
    with pytest.raises(FrameRejected) as ei:
        parse_request(raw)
    e = ei.value
    assert (e.code, e.detail, e.request_id, e.session) == (code, detail, rid, session)
    assert str(e) == f"{code.value}: {detail}"


def test_a_frame_of_exactly_max_frame_bytes_is_parsed_not_refused_for_size():
    raw = b" " * (MAX_FRAME - 2) + b"[]"
    with pytest.raises(FrameRejected) as ei:
        parse_request(raw)
    assert ei.value.code is FrameCode.NOT_OBJECT


@pytest.mark.parametrize("rid, recovered", [
    ("x", "x"),
    ("x" * 256, "x" * 256),
    ("x" * 257, None),
    ("", None),
    (5, None),
    (None, None),
])
def test_only_a_plausible_request_id_is_recovered_from_a_rejected_frame(rid, recovered):
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(dict(V2, id=rid, session=rid)))
    assert ei.value.request_id == recovered and ei.value.session == recovered


def test_schema_rejections_name_the_field_without_echoing_input_or_links():
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(dict(GOOD, session=7, tool="")))
    d = ei.value.detail
    assert d.startswith("session: ") and "tool: " in d
    assert "http" not in d


def test_schema_rejection_detail_lists_at_most_five_errors_and_at_most_400_characters():
    six = dict(GOOD, **{f"e{i}": 1 for i in range(6)})
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(six))
    assert ei.value.detail == "; ".join(f"e{i}: Extra inputs are not permitted" for i in range(5))
    long = dict(GOOD, **{f"e{i}" + "x" * 120: 1 for i in range(6)})
    with pytest.raises(FrameRejected) as ei:
        parse_request(body(long))
    assert len(ei.value.detail) == 400 and ei.value.detail.startswith("e0" + "x" * 120 + ": Extra inputs")


@pytest.mark.parametrize("value", [2**60, 10**130, "a\ud800"])
def test_an_input_rfc8785_cannot_represent_is_rejected_with_the_reason_and_the_request(value):
    from agp.journal.canonical import canonicalize

    try:
        canonicalize({"n": value})
    except Exception as exc:  # noqa: BLE001 - whatever the canonicalizer says is what the detail quotes
        reason = str(exc)[:120]
    raw = body(dict(GOOD, input={"n": 0})).replace(b'"n": 0', b'"n": ' + json.dumps(value).encode())
    with pytest.raises(FrameRejected) as ei:
        parse_request(raw)
    e = ei.value
    assert (e.code, e.request_id, e.session) == (FrameCode.NOT_CANONICAL, "r1", "s1")
    assert e.detail == f"input cannot be canonicalized: {reason}"
