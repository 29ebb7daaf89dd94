# cpython-only: Hypothesis runs on CPython (the MicroPython runner skips this file)
"""Property-based tests of the command decoder: whatever arrives on a station's command topic,
decode_command returns a command or raises CodecError, nothing else; what it accepts can be
signed, and its signing bytes survive a trip through the wire unchanged."""

from __future__ import annotations

import json
import math

from heatkeeper.core import codec
from hypothesis import given
from hypothesis import strategies as st

TOPIC = codec.command_topic("st-1")

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
                | st.integers(min_value=-(10 ** 1000), max_value=10 ** 1000)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=80))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=70), inner, max_size=4), max_leaves=20)
ids = st.sampled_from(["c-1", "", "st-1", "x" * 65, "bad id", "c_2"]) | st.text(max_size=70)


def decode(payload: bytes) -> dict | None:
    try:
        return codec.decode_command(TOPIC, payload)
    except codec.CodecError as exc:
        assert exc.reason and isinstance(exc.text, str)
        return None


HEAD = b'{"v":1,"id":"c1","station":"st-1","kind":"k","user":"u","issued_ts":1,"expires_ts":2,"args":'
nested = st.tuples(st.integers(min_value=1, max_value=20000), st.sampled_from([b"[]", b'{"a":}'])).map(
    lambda t: HEAD + t[1][:-1] * t[0] + b"1" + t[1][-1:] * t[0] + b"}")


@given(st.binary(max_size=400) | nested)
def test_any_bytes(payload: bytes) -> None:
    decode(payload)


@given(json_values)
def test_any_json_document(doc: object) -> None:
    decode(json.dumps(doc).encode())


GARBAGE = {
    "v": st.sampled_from([2, "1", None, 1.5]),
    "id": ids,
    "station": st.sampled_from(["st-2", 5, None]),
    "kind": st.text(max_size=70) | json_scalars,
    "args": st.dictionaries(st.text(max_size=70), json_values, max_size=6) | json_values,
    "user": st.text(max_size=70) | json_scalars,
    "issued_ts": json_scalars,
    "expires_ts": json_scalars,
    "sig": st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=66) | json_scalars,
}
flat_args = st.dictionaries(st.text(min_size=1, max_size=64), json_scalars, max_size=8)


@st.composite
def command_documents(draw: st.DrawFn) -> dict:
    """Mostly well-formed commands with a few fields (sometimes none) replaced by anything."""
    doc = {"v": 1, "id": draw(st.sampled_from(["c-1", "c_2", "C9"])), "station": "st-1",
           "kind": draw(st.text(min_size=1, max_size=64)), "args": draw(flat_args),
           "user": draw(st.text(min_size=1, max_size=64)),
           "issued_ts": draw(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2 ** 53), 2 ** 53)),
           "expires_ts": draw(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2 ** 53), 2 ** 53))}
    if draw(st.booleans()):
        doc["sig"] = "ab" * 32
    for name in draw(st.sets(st.sampled_from(sorted(GARBAGE)), max_size=2)):
        doc[name] = draw(GARBAGE[name])
    return doc


@given(command_documents())
def test_command_shaped_documents(doc: dict) -> None:
    try:
        payload = json.dumps(doc).encode()
    except (ValueError, TypeError):
        return
    cmd = decode(payload)
    if cmd is None:
        return
    # Accepted: signable, and the bytes a signature covers are the same after another trip.
    signed = codec.command_signing_bytes("st-1", cmd["id"], cmd["kind"], cmd["args"], cmd["user"], cmd["expires_ts"])
    topic, again = codec.encode_command("st-1", cmd["id"], cmd["kind"], cmd["args"], cmd["user"], cmd["issued_ts"],
                                        cmd["expires_ts"], sig=cmd.get("sig", ""))
    back = codec.decode_command(topic, again)
    assert codec.command_signing_bytes("st-1", back["id"], back["kind"], back["args"], back["user"],
                                       back["expires_ts"]) == signed
    for value in list(cmd["args"].values()) + [cmd["expires_ts"], cmd["issued_ts"]]:
        if isinstance(value, float):
            assert math.isfinite(value)
        if isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) <= codec.MAX_ARG_INT
