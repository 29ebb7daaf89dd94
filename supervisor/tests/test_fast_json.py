"""The ingest's faster JSON parser (orjson, from the [supervisor] extra) changes nothing but
speed: every payload decodes to the same message, or is refused with the same reason and text,
as with the json module alone (codec.decode_uplink_of decodes refusals again with json)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import ingest
from hypothesis import given
from hypothesis import strategies as st

SID = "st-1"
NOW = 1_700_000_000.0

scalars = (st.none() | st.booleans() | st.integers(min_value=-(10 ** 25), max_value=10 ** 25)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from([1e400, 10 ** 19, -(10 ** 19), 2 ** 63, -0.0, 1e12, 1.0000000000000002]))
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                            max_size=3), max_leaves=12)
field_names = st.sampled_from(["supply_c", "pump1_running", "Bad", "x" * 65]) | st.text(max_size=6)


def outcome(kind: str, payload: bytes, loads: Any) -> Any:
    try:
        msg = codec.decode_uplink_of(SID, kind, payload, NOW, 86400.0, loads)
    except codec.CodecError as exc:
        return ("refused", exc.reason, exc.text)
    return ("accepted", msg["station"], msg["seq"], msg["ts"], msg["kind"], json.dumps(msg["body"], sort_keys=True))


def test_the_supervisor_has_the_fast_parser() -> None:
    assert ingest.fast_loads is not None, "orjson is in the [supervisor] extra (setup.py)"


@pytest.mark.parametrize("text", [
    '{"v":1,"station":"st-1","seq":18446744073709551616,"ts":1700000000,"kind":"telemetry","body":{"values":{}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000,"kind":"telemetry","body":{"values":{"a":1e400}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000,"kind":"telemetry","body":{"values":{"a":NaN}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000,"kind":"event","body":{"kind":"x","t":"\\ud800"}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000,"kind":"telemetry","body":{"values":{"a":1},"values":{"b":2}}}',
    '\ufeff{"v":1,"station":"st-1","seq":3,"ts":1700000000,"kind":"telemetry","body":{"values":{}}}',
    '{"v":1.0,"station":"st-1","seq":3,"ts":1700000000,"kind":"telemetry","body":{"values":{"a":-0.0}}}',
])
def test_edges_where_the_parsers_differ_decode_alike(text: str) -> None:
    payload = text.encode("utf-8", "surrogatepass")
    assert outcome("telemetry" if '"telemetry"' in text else "event", payload, ingest.fast_loads) == \
        outcome("telemetry" if '"telemetry"' in text else "event", payload, None)


@given(st.sampled_from(["telemetry", "event", "alarm", "ack"]), st.dictionaries(field_names, scalars, max_size=6),
       trees, st.sampled_from([1, 2, 10 ** 19, 0, 1.5]), st.floats(allow_nan=True, allow_infinity=True) | st.just(NOW))
def test_any_uplink_decodes_alike_with_either_parser(kind: str, values: dict, extra: Any, seq: Any, ts: float) -> None:
    body: dict[str, Any] = {"values": values, "mode_name": extra} if kind == "telemetry" else {
        "kind": "x", "code": "c", "command_id": "c-1", "result": "applied", "more": extra}
    payload = json.dumps({"v": 1, "station": SID, "seq": seq, "ts": ts, "kind": kind, "body": body}).encode(
        "utf-8", "surrogatepass")
    assert outcome(kind, payload, ingest.fast_loads) == outcome(kind, payload, None)


@given(st.binary(max_size=200) | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_decode_alike_with_either_parser(payload: bytes) -> None:
    assert outcome("telemetry", payload, ingest.fast_loads) == outcome("telemetry", payload, None)
