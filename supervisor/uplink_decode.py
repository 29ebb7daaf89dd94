# cython: annotation_typing=False
"""The ingest's decoder of uplinks: core's codec, with a shortcut for the usual telemetry message.

`decode_uplink_of` accepts and refuses exactly what `codec.decode_uplink_of` does, with the
same message dict and the same reason and text: a telemetry payload the shortcut can vouch for
in a few C-level operations (parsed with orjson, top-level fields of the expected types, field
names the codec accepted before, values plain finite bounded numbers, the other body entries
short clean ASCII text, numbers, true/false or null) is returned as parsed; anything else (a
null value, a nested body entry, non-ASCII text, any refusal) goes to the codec, which checks it
and says what is wrong. The shortcut only ever accepts a subset of what the codec accepts
(supervisor/tests/test_uplink_decode.py compares both on generated good and bad messages). It
is CPython-only (the station's MicroPython never ingests): core's codec stays the one rule.

About half the codec's CPU for the usual message (one function call instead of a dozen).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Set
from typing import Any

from heatkeeper.core import _cext, codec

fast_loads: Callable[[bytes], Any] | None
try:  # [supervisor] installs it: parses an uplink about 3x faster than json (see codec.decode_uplink_of)
    from orjson import loads as fast_loads
except ImportError:  # a bare install: the json module alone, same answers
    fast_loads = None

_NUMBER_TYPES = frozenset((float, int))  # exact types: bool (a subclass of int) is not one of them
# the plain scalars a body entry beside "values" may be, in the shortcut (anything else: the codec)
_FLAT_TYPES = frozenset((str, float, int, bool, type(None)))
# field names the codec accepted in a message before (bounded; a name not here sends the
# message through the codec, which checks it)
_known_names: set[str] = set()
KNOWN_NAMES_MAX = 4096

_TELEMETRY = codec.UP_TELEMETRY
_VERSION = codec.VERSION
_MAX_PAYLOAD_BYTES = codec.MAX_PAYLOAD_BYTES
_MAX_SEQ = codec.MAX_SEQ
_MAX_ABS = codec.MAX_ABS_NUMBER
_MAX_FIELDS = codec.MAX_FIELDS
_MAX_FUTURE_S = codec.MAX_FUTURE_S


def decode_uplink_of(sid: str, kind: str, payload: bytes, now_s: float = -1.0, max_age_s: float = -1.0) -> dict[str, Any]:
    """codec.decode_uplink_of(sid, kind, payload, now_s, max_age_s, orjson.loads), faster for
    the usual telemetry message. Raises codec.CodecError as the codec does."""
    if kind == _TELEMETRY:
        msg = usual_telemetry(sid, payload, now_s, max_age_s)
        if msg is not None:
            return msg
    msg = codec.decode_uplink_of(sid, kind, payload, now_s, max_age_s, fast_loads)
    if kind == _TELEMETRY and len(_known_names) < KNOWN_NAMES_MAX:
        _known_names.update(msg["body"]["values"])  # the codec accepted every one of them
    return msg


def usual_telemetry(sid: str, payload: bytes, now_s: float, max_age_s: float,
                    names: Set[str] | None = None) -> dict[str, Any] | None:
    """The parsed message when it is a telemetry message of station `sid` the codec certainly
    accepts as it is; None for anything the codec has to look at (and without orjson). `names`:
    the field names it may have, of those the codec accepted before (default: all of them; the
    ingest gives the names each station has sent, and so checks them once)."""
    # find, not `in`: `b"\x00" in payload` first tries the NUL as an int index and raises and
    # clears a TypeError inside, about 1,800 instructions a message
    if fast_loads is None or len(payload) > _MAX_PAYLOAD_BYTES or payload.find(b"\x00") >= 0:
        return None
    try:
        msg = fast_loads(payload)  # type: ignore[misc]
    except Exception:  # noqa: BLE001 - whatever orjson refuses, the codec decodes again and explains
        return None
    if msg.__class__ is not dict:
        return None
    try:
        v, station, kind, seq, ts, body = msg["v"], msg["station"], msg["kind"], msg["seq"], msg["ts"], msg["body"]
    except KeyError:  # one missing: the codec says which
        return None
    # the codec's own comparisons, in the same terms (v == 1 holds for 1.0 and true there too)
    if v != _VERSION or station != sid or kind != _TELEMETRY:
        return None
    if seq.__class__ is not int or not 1 <= seq <= _MAX_SEQ:
        return None
    if ts.__class__ is not float or not 0.0 <= ts <= _MAX_ABS:  # NaN fails the comparison
        return None
    if now_s >= 0 and (ts > now_s + _MAX_FUTURE_S or (max_age_s >= 0 and ts < now_s - max_age_s)):
        return None
    if body.__class__ is not dict:
        return None
    values = body.get("values")
    if values.__class__ is not dict or len(values) > _MAX_FIELDS or not values.keys() <= (_known_names if names is None else names):
        return None
    if values and not _plain_numbers(values):
        return None  # a null, a bool, a text, a number out of bounds...: the codec says which
    if len(body) > 1:
        for key, value in body.items():
            if not key.isascii() or "\x00" in key:
                return None
            if key == "values":
                continue
            cls = value.__class__
            if cls not in _FLAT_TYPES:
                return None  # a list or an object: the codec walks it
            if cls is str:
                if not value.isascii() or "\x00" in value:
                    return None
            elif (cls is float or cls is int) and not -_MAX_ABS <= value <= _MAX_ABS:
                return None
    return msg


def _plain_numbers_by_sum(values: dict[str, Any]) -> bool:
    """Whether every value is a plain int or float (not a bool) within +-MAX_ABS_NUMBER (not
    NaN), in a few C builtins: the faster way interpreted."""
    numbers = values.values()
    if not _NUMBER_TYPES.issuperset(map(type, numbers)):
        return False
    # the sum of the sizes is at least the largest (partial sums of floats >= 0 never
    # shrink), and NaN for a NaN: within bounds, each value is (one pass, no comparisons)
    if not sum(map(abs, numbers)) <= _MAX_ABS:
        each = list(numbers)  # a large value among them: each one checked
        if not (-_MAX_ABS <= min(each) and max(each) <= _MAX_ABS):
            return False
        total = sum(each)  # bounded: no overflow; a NaN hidden from min and max makes it NaN
        if total != total:
            return False
    return True


def _plain_numbers_by_loop(values: dict[str, Any]) -> bool:
    """`_plain_numbers_by_sum` as one loop over C doubles (uplink_decode.pxd types it): the
    faster way compiled."""
    limit = _MAX_ABS
    for v in values.values():
        if type(v) is float:
            x = v
            if not -limit <= x <= limit:  # NaN fails
                return False
        elif type(v) is int:
            if not -limit <= v <= limit:
                return False
        else:
            return False  # bool is a subclass of int, not int
    return True


# compiled, the loop runs on C doubles; interpreted, the builtins are faster
_plain_numbers = _plain_numbers_by_loop if _cext.compiled(sys.modules[__name__]) else _plain_numbers_by_sum
