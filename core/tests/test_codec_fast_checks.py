# cpython-only: Hypothesis runs on CPython (the MicroPython runner skips this file)
"""The codec's fast paths refuse exactly what the plain per-character and per-field checks
refuse, with the same reason and text: `bad_char` against a loop over every character, and
a telemetry message's values against the field-by-field loop in order."""

from __future__ import annotations

import json

from heatkeeper.core import codec
from hypothesis import given
from hypothesis import strategies as st

SID = "st-1"
TS = 1_700_000_000.0


def plain_bad_char(text: str, strict: bool) -> int:
    for ch in text:
        c = ord(ch)
        if c == 0 or 0xD800 <= c <= 0xDFFF:
            return c
        if strict and (c < 0x20 or 0x7F <= c <= 0x9F):
            return c
    return -1


def plain_values_error(values: dict) -> tuple[str, str] | None:
    """The first problem of a telemetry `values` object, field by field (the reference)."""
    for name, value in values.items():
        if not codec.valid_field_name(name):
            return ("bad_field_name", "values.%s: field names are 1-%d of a-z 0-9 _"
                    % (codec._show(name), codec.MAX_FIELD_CHARS))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ("bad_field", "values.%s=%s: must be a number or null" % (name, codec._show(value)))
        if not codec.bounded_number(value):
            return ("bad_number", "values.%s=%s: must be a finite number within +-%g"
                    % (name, codec._show(value), codec.MAX_ABS_NUMBER))
    return None


texts = st.text(max_size=40) | st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40) | st.sampled_from(
    ["auto", "a\x00b", "tab\there", "del\x7f", "\ud800", "ok \u00e9", "\x9f", ""])
numbers = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10 ** 14), max_value=10 ** 14)
           | st.integers(min_value=-(10 ** 400), max_value=10 ** 400)
           | st.sampled_from([1e12, -1e12, 1e12 + 1, 10 ** 12, 10 ** 12 + 1, -0.0, 0, True, False]))
values_of = st.none() | numbers | st.text(max_size=5) | st.lists(st.integers(), max_size=2)
names = st.sampled_from(["supply_c", "pump1_running", "f01_value", "Bad", "", "x" * 65, "a-b", "ok_1"]) | st.text(
    max_size=8)


@given(texts, st.booleans())
def test_bad_char_matches_the_character_loop(text: str, strict: bool) -> None:
    assert codec.bad_char(text, strict) == plain_bad_char(text, strict)


@given(st.dictionaries(names, values_of, max_size=12))
def test_telemetry_values_refused_as_the_field_loop_refuses(values: dict) -> None:
    msg = {"v": 1, "station": SID, "seq": 1, "ts": TS, "kind": "telemetry", "body": {"values": values}}
    try:
        payload = json.dumps(msg).encode()
    except ValueError:
        return
    expected = plain_values_error(json.loads(payload)["body"]["values"])
    try:
        codec.decode_uplink_of(SID, "telemetry", payload, TS, 86400.0)
        got = None
    except codec.CodecError as exc:
        got = (exc.reason, exc.text)
    assert got == expected
