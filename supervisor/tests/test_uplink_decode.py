"""The ingest's uplink decoder (supervisor/uplink_decode.py) accepts and refuses exactly what
core's codec does: the same message, or the same reason and text, on generated good and bad
messages; and its shortcut takes the usual telemetry message (else it would be no faster)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import uplink_decode
from hypothesis import given
from hypothesis import strategies as st

SID = "st-1"
NOW = 1_700_000_000.0
MAX_AGE_S = 86400.0

NAMES = ["supply_c", "pump1_running", "f01_value", "outdoor_temp_c"]
numbers = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10 ** 14), max_value=10 ** 14)
           | st.sampled_from([1e12, -1e12, 1e12 + 1, 10 ** 12, 10 ** 12 + 1, -1e12 - 1, -0.0, 0, 1e400, 10 ** 19,
                              True, False]))
texts = st.text(max_size=10) | st.sampled_from(["auto", "a\x00b", "\ud800", "\u00e9t\u00e9", "tab\there", ""])
scalars = st.none() | numbers | texts
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                     max_leaves=10)
names = st.sampled_from(NAMES + ["Bad", "", "x" * 65, "a-b", "ok_1", "\u00e9"]) | st.text(max_size=6)
value_dicts = st.dictionaries(names, st.none() | numbers | texts, max_size=6)
usual_values = st.dictionaries(st.sampled_from(NAMES), st.floats(min_value=-1e12, max_value=1e12), max_size=4)
body_keys = st.sampled_from(["mode_name", "mode", "devices", "note", "values", "a\x00", "\u00e9"]) | st.text(max_size=4)


def outcome(decode: Any, kind: str, payload: bytes, now_s: float = NOW, max_age_s: float = MAX_AGE_S) -> Any:
    try:
        msg = decode(SID, kind, payload, now_s, max_age_s)
    except codec.CodecError as exc:
        return ("refused", exc.reason, exc.text)
    return ("accepted", json.dumps(msg, sort_keys=True))


def codec_decode(sid: str, kind: str, payload: bytes, now_s: float, max_age_s: float) -> dict[str, Any]:
    return codec.decode_uplink_of(sid, kind, payload, now_s, max_age_s, uplink_decode.fast_loads)


def both_alike(kind: str, payload: bytes, now_s: float = NOW, max_age_s: float = MAX_AGE_S) -> None:
    theirs = outcome(codec_decode, kind, payload, now_s, max_age_s)
    assert outcome(uplink_decode.decode_uplink_of, kind, payload, now_s, max_age_s) == theirs
    # and against the json module alone (orjson's refusals are decoded again with it)
    assert outcome(lambda *a: codec.decode_uplink_of(*a, None), kind, payload, now_s, max_age_s) == theirs


def payload_of(msg: Any) -> bytes:
    # allow_nan: NaN and Infinity tokens; ensure_ascii: a lone surrogate as its \\u escape
    return json.dumps(msg, allow_nan=True).encode("utf-8", "surrogatepass")


@pytest.fixture(autouse=True)
def _names_known() -> None:
    """The shortcut knows the usual names once the codec has accepted them (as after the first
    message of a station)."""
    uplink_decode.decode_uplink_of(SID, "telemetry", payload_of(
        {"v": 1, "station": SID, "seq": 1, "ts": NOW, "kind": "telemetry", "body": {"values": dict.fromkeys(NAMES, 1.0)}}),
        NOW, MAX_AGE_S)


# a good telemetry message with at most one top-level entry changed to one of these
TOP_VALUES = [1, 1.0, True, False, 2, "1", None, 0, SID, "st-2", "telemetry", "event", 10 ** 19, 2 ** 63 - 1, 2 ** 63,
              -1, 1.5, NOW - 1.5, NOW + 299.9, NOW + 300.5, NOW - MAX_AGE_S - 1.0, -1.0, -0.0, 0.0, 1e12, 2e12,
              int(NOW), float("nan"), float("inf"), {}, [], {"values": {}}]
top_changes: st.SearchStrategy[dict[str, Any]] = st.just({}) | st.dictionaries(st.sampled_from(["v", "station", "seq", "ts", "kind", "body", "more"]),
                                            st.sampled_from(TOP_VALUES), min_size=1, max_size=1)


@given(st.sampled_from(["telemetry", "telemetry", "event", "ack"]), top_changes, usual_values | value_dicts,
       st.dictionaries(body_keys, trees, max_size=3), st.sampled_from([NOW, -1.0]), st.sampled_from([MAX_AGE_S, -1.0]))
def test_any_uplink_decodes_as_the_codec_decodes_it(kind: str, changes: dict, values: dict, extra: dict, now_s: float,
                                                     max_age_s: float) -> None:
    msg = {"v": 1, "station": SID, "seq": 5, "ts": NOW - 2.5, "kind": "telemetry",
           "body": {"values": values, **extra}, **changes}  # `extra` may replace the values with anything
    both_alike(kind, payload_of(msg), now_s, max_age_s)


@given(usual_values, st.dictionaries(st.sampled_from(["mode_name", "mode", "note"]), scalars, max_size=2),
       st.integers(min_value=1, max_value=2 ** 63 - 1), st.floats(min_value=NOW - MAX_AGE_S, max_value=NOW + 300.0))
def test_usual_telemetry_decodes_as_the_codec_decodes_it(values: dict, extra: dict, seq: int, ts: float) -> None:
    msg = {"v": 1, "station": SID, "seq": seq, "ts": ts, "kind": "telemetry", "body": {"values": values, **extra}}
    both_alike("telemetry", payload_of(msg))


@given(st.binary(max_size=200) | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_decode_as_the_codec_decodes_them(payload: bytes) -> None:
    both_alike("telemetry", payload)


@pytest.mark.parametrize("text", [
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{"supply_c":1e400}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{"supply_c":NaN}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{"supply_c":1},'
    '"values":{"Bad":2}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{},"m":"\\ud800"}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{},"m":"a\\u0000"}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{},"a\\u0000":1}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{"supply_c":null}}}',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{"supply_c":1e12},'
    '"x":-1000000000001}}',
    '\ufeff{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{}}}',
    '[{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{}}}]',
    '{"v":1,"station":"st-1","seq":3,"ts":1700000000.5,"kind":"telemetry","body":{"values":{}}}\x00',
])
def test_edges_decode_as_the_codec_decodes_them(text: str) -> None:
    both_alike("telemetry", text.encode("utf-8", "surrogatepass"))


def test_an_oversized_payload_is_refused_as_the_codec_refuses_it() -> None:
    msg = {"v": 1, "station": SID, "seq": 3, "ts": NOW, "kind": "telemetry",
           "body": {"values": {"supply_c": 1.0}, "note": "x" * codec.MAX_PAYLOAD_BYTES}}
    both_alike("telemetry", payload_of(msg))
    assert outcome(uplink_decode.decode_uplink_of, "telemetry", payload_of(msg))[1] == "too_large"


def test_the_usual_telemetry_message_takes_the_shortcut() -> None:
    payload = payload_of({"v": 1, "station": SID, "seq": 7, "ts": NOW - 0.25, "kind": "telemetry",
                          "body": {"values": {"supply_c": 61.5, "pump1_running": 1.0, "f01_value": 3}, "mode_name": "auto",
                                   "mode": 2, "flag": False, "gone": None}})
    msg = uplink_decode.usual_telemetry(SID, payload, NOW, MAX_AGE_S)
    assert msg is not None and msg == json.loads(payload)


def test_a_field_name_first_seen_goes_through_the_codec_then_takes_the_shortcut() -> None:
    payload = payload_of({"v": 1, "station": SID, "seq": 7, "ts": NOW, "kind": "telemetry",
                          "body": {"values": {"brand_new_name_42": 1.5}}})
    uplink_decode._known_names.discard("brand_new_name_42")
    assert uplink_decode.usual_telemetry(SID, payload, NOW, MAX_AGE_S) is None
    assert uplink_decode.decode_uplink_of(SID, "telemetry", payload, NOW, MAX_AGE_S)["seq"] == 7
    assert uplink_decode.usual_telemetry(SID, payload, NOW, MAX_AGE_S) is not None


EXTRAS: list[dict[str, Any]] = [{"m": [1]}, {"m": {"a": 1}}, {"m": ["a\x00"]}, {"m": {"a": {"b": 1e13}}}, {"m": [[[[[[[[[1]]]]]]]]]},
          {"m": "\ud800"}, {"m": "a\x00"}, {"m": 1e13}, {"m": -(10 ** 13)}, {"m": 10 ** 12}, {"m": "\u00e9t\u00e9"},
          {"\u00e9": 1}, {"a\x00": 1}, {"m": True}, {"m": None}, {"m": ""}, {"values": [1.0]}, {"values": None}]


def test_every_single_change_of_a_good_message_decodes_as_the_codec_decodes_it() -> None:
    """Each top-level entry and each kind of body entry changed alone, with and without the
    receive-time window: an exhaustive grid beside the generated messages."""
    many = ["f%03d_value" % i for i in range(codec.MAX_FIELDS + 1)]
    for part in (many[:codec.MAX_FIELDS], many[1:]):  # the shortcut learns every name, at most 256 at a time
        both_alike("telemetry", payload_of({"v": 1, "station": SID, "seq": 5, "ts": NOW, "kind": "telemetry",
                                            "body": {"values": dict.fromkeys(part, 1.0)}}))
    bodies = [{"values": {"supply_c": 1.5}, **extra} for extra in EXTRAS] + [
        {"values": dict.fromkeys(many, 1.0)}, {"values": dict.fromkeys(many[:codec.MAX_FIELDS], 2)}]
    good = {"v": 1, "station": SID, "seq": 5, "ts": NOW - 2.5, "kind": "telemetry", "body": {"values": {"supply_c": 1.5}}}
    changed = [{**good, key: value} for key in ("v", "station", "seq", "ts", "kind", "body", "more") for value in TOP_VALUES]
    changed += [{**good, "body": body} for body in bodies]
    for now_s, max_age_s in ((NOW, MAX_AGE_S), (NOW, -1.0), (-1.0, -1.0), (-1.0, MAX_AGE_S)):
        for msg in changed:
            both_alike("telemetry", payload_of(msg), now_s, max_age_s)


@pytest.mark.parametrize(("values", "shortcut"), [
    ({"supply_c": 1e12, "f01_value": -1e12, "pump1_running": 1.0}, True),  # each within, the sizes add up beyond
    ({"supply_c": 1e12, "f01_value": 10 ** 12}, True),
    ({"supply_c": 1e12, "f01_value": 1e12 + 1}, False),  # one beyond: the codec refuses it
    ({"supply_c": 5.0, "f01_value": -(10 ** 12) - 1}, False),
    ({"supply_c": 5.0, "f01_value": 1e308, "outdoor_temp_c": 1e308}, False),  # the sum overflows
])
def test_large_values_are_each_checked(values: dict[str, Any], shortcut: bool) -> None:
    payload = payload_of({"v": 1, "station": SID, "seq": 7, "ts": NOW, "kind": "telemetry", "body": {"values": values}})
    assert (uplink_decode.usual_telemetry(SID, payload, NOW, MAX_AGE_S) is not None) is shortcut
    both_alike("telemetry", payload)


_ANY_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**63, 2**63 - 1),
                       st.sampled_from([1e12, -1e12, 1e12 + 1, -1e12 - 1, 10**12, 10**12 + 1, 0.0, -0.0, True, False,
                                        None, "1", [1.0]]))


@given(st.dictionaries(st.text(min_size=1, max_size=3), _ANY_VALUE, max_size=8))
def test_both_number_checks_agree(values: dict) -> None:
    """The usual sample's numbers check the compiled module runs (a loop over C doubles) and the
    one it runs interpreted (C builtins) accept exactly the same values (both called here
    whichever way the module was loaded)."""
    assert uplink_decode._plain_numbers_by_loop(values) == uplink_decode._plain_numbers_by_sum(values)
