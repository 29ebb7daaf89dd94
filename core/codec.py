"""The uplink/downlink codec shared by firmware and supervisor: topics and JSON payloads.

Pure: bytes and dicts in, bytes and dicts out; the caller supplies wall-clock times. Every
decode either returns a complete, validated dict or raises CodecError with a short reason
code (`CodecError.reason`) and a human text, so the receiver can count and log bad input
without storing it.

Topics (v1), `{sid}` a station id:
    heatkeeper/v1/stations/{sid}/up/{kind}   station -> supervisor, QoS 1, kinds in UP_KINDS
    heatkeeper/v1/stations/{sid}/status      retained "online"/"offline" (last will)
    heatkeeper/v1/stations/{sid}/down/cmd    supervisor -> station commands, QoS 1, never retained
    heatkeeper/v1/stations/{sid}/down/rooms  supervisor -> station room-temperature readings
    heatkeeper/v1/stations/{sid}/down/outdoor  supervisor -> station outdoor temperature (city
                                             value: weather service or the fleet's healthy
                                             sensors), used while the station's own sensor fails
    heatkeeper/v1/stations/{sid}/down/forecast supervisor -> station hourly weather forecast of
                                             its city (retained; core.forecast keeps it)
    heatkeeper/v1/stations/{sid}/down/season   supervisor -> station heating-season calendar of
                                             its city (retained; core.season keeps it)
    heatkeeper/v1/collectors/{cid}           room-temperature collector readings

Uplink payload: {"v": 1, "station": sid, "seq": n, "ts": unix_s, "kind": kind, "body": {...}}.
`seq` is one per-station counter over all kinds, starting at 1, so the supervisor can store
each message exactly once by (station, seq) and see gaps.

An accepted uplink is one every storage backend can hold and every derivation can fold
(one station's message must never stop another's): `seq` in [1, 2^63-1] (a signed 64-bit
column); every number finite with |x| <= 1e12; no NUL or unpaired surrogate in any text (and no
control character at all in ids, codes, kinds and field names); telemetry field names of
[a-z0-9_], 1-64 characters, at most MAX_FIELDS per message; nesting at most MAX_DEPTH deep; and,
when the receiver gives its clock, `ts` within [now - max_age_s, now + MAX_FUTURE_S].
"""

import json

from . import forecast as _forecast

VERSION = 1
PREFIX = "heatkeeper/v1/"
MAX_PAYLOAD_BYTES = 65536
MAX_ID_CHARS = 64
MAX_SEQ = 9223372036854775807  # 2**63 - 1: seq is a signed 64-bit column on both backends
MAX_ABS_NUMBER = 1e12  # beyond any reading, counter or unix time; keeps sums and buckets finite
_MAX_ABS_INT = 1000000000000  # the same bound as an int (a huge int never meets a float here)
MAX_FIELDS = 256  # telemetry values per message (a station sends about a hundred)
MAX_FIELD_CHARS = 64
MAX_DEPTH = 8  # nesting of lists and objects inside a body
MAX_FUTURE_S = 300.0  # how far ahead of the receiver's clock an uplink's ts may be

UP_TELEMETRY = "telemetry"
UP_EVENT = "event"
UP_ALARM = "alarm"
UP_ACK = "ack"
UP_KINDS = (UP_TELEMETRY, UP_EVENT, UP_ALARM, UP_ACK)

STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"

# Results carried by a command ack.
ACK_APPLIED = "applied"
ACK_REJECTED = "rejected"
ACK_EXPIRED = "expired"
ACK_RESULTS = (ACK_APPLIED, ACK_REJECTED, ACK_EXPIRED)


class CodecError(ValueError):
    """A topic or payload that cannot be accepted; `reason` is a short machine code."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(reason + ": " + text)
        self.reason = reason
        self.text = text


_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def valid_id(value: object) -> bool:
    """Station and collector ids: 1-64 of [A-Za-z0-9_-] (safe in topics, ACLs and file names)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        return False
    for ch in value:
        if ch not in _ID_CHARS:
            return False
    return True


def _check_id(value: object, what: str) -> str:
    if not valid_id(value):
        raise CodecError("bad_id", "%s=%r: must be 1-%d of A-Z a-z 0-9 _ -" % (what, value, MAX_ID_CHARS))
    return value  # type: ignore[return-value]


# --- topics --------------------------------------------------------------------------------
def up_topic(station_id: str, kind: str) -> str:
    return PREFIX + "stations/" + station_id + "/up/" + kind


def status_topic(station_id: str) -> str:
    return PREFIX + "stations/" + station_id + "/status"


def command_topic(station_id: str) -> str:
    return PREFIX + "stations/" + station_id + "/down/cmd"


def rooms_topic(station_id: str) -> str:
    return PREFIX + "stations/" + station_id + "/down/rooms"


def outdoor_topic(station_id: str) -> str:
    return PREFIX + "stations/" + station_id + "/down/outdoor"


def forecast_topic(station_id: str) -> str:
    return PREFIX + "stations/" + station_id + "/down/forecast"


def season_topic(station_id: str) -> str:
    return PREFIX + "stations/" + station_id + "/down/season"


def collector_topic(collector_id: str) -> str:
    return PREFIX + "collectors/" + collector_id


# Subscription filters (the `+` level is the station or collector id).
UP_FILTER = PREFIX + "stations/+/up/+"
STATUS_FILTER = PREFIX + "stations/+/status"
COLLECTOR_FILTER = PREFIX + "collectors/+"


def parse_topic(topic: str) -> tuple:
    """(area, id, leaf) for one of our topics: ("up", sid, kind), ("status", sid, ""),
    ("cmd", sid, ""), ("rooms", sid, ""), ("outdoor", sid, ""), ("forecast", sid, ""), ("season", sid, ""),
    ("collector", cid, "").
    Raises CodecError."""
    if not topic.startswith(PREFIX):
        raise CodecError("bad_topic", "topic %r is not under %r" % (topic, PREFIX))
    parts = topic[len(PREFIX):].split("/")
    if len(parts) == 2 and parts[0] == "collectors":
        return ("collector", _check_id(parts[1], "collector"), "")
    if len(parts) >= 3 and parts[0] == "stations":
        sid = _check_id(parts[1], "station")
        if len(parts) == 3 and parts[2] == "status":
            return ("status", sid, "")
        if len(parts) == 4 and parts[2] == "up" and parts[3] in UP_KINDS:
            return ("up", sid, parts[3])
        if len(parts) == 4 and parts[2] == "down" and parts[3] == "cmd":
            return ("cmd", sid, "")
        if len(parts) == 4 and parts[2] == "down" and parts[3] == "rooms":
            return ("rooms", sid, "")
        if len(parts) == 4 and parts[2] == "down" and parts[3] == "outdoor":
            return ("outdoor", sid, "")
        if len(parts) == 4 and parts[2] == "down" and parts[3] == "forecast":
            return ("forecast", sid, "")
        if len(parts) == 4 and parts[2] == "down" and parts[3] == "season":
            return ("season", sid, "")
    raise CodecError("bad_topic", "unknown topic %r" % topic)


# --- payload helpers -----------------------------------------------------------------------
def _dump(obj: dict) -> bytes:
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise CodecError("too_large", "payload of %d bytes exceeds %d" % (len(data), MAX_PAYLOAD_BYTES))
    return data


def _load(payload: bytes, loads=None) -> dict:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CodecError("too_large", "payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD_BYTES))
    if isinstance(payload, (bytes, bytearray)) and b"\x00" in payload:
        # UTF-8 JSON has no NUL byte (strings escape it); UTF-16 and -32 text always has
        raise CodecError("bad_json", "payload has NUL bytes: not UTF-8 JSON")
    if loads is not None:  # a faster parser of UTF-8 JSON bytes; its errors are not ours to classify
        obj = loads(payload)
        if not isinstance(obj, dict):
            raise CodecError("bad_json", "payload must be a JSON object")
        return obj
    try:
        # UTF-8 only (json.loads would also take UTF-16 and -32 bytes, which are then stored
        # as text nowhere); RuntimeError is CPython's RecursionError on deep nesting
        obj = json.loads(payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload)
    except (ValueError, UnicodeError, RuntimeError, MemoryError) as exc:
        raise CodecError("bad_json", "payload is not UTF-8 JSON (%s)" % _show(str(exc)))
    if not isinstance(obj, dict):
        raise CodecError("bad_json", "payload must be a JSON object")
    return obj


def _show(value: object) -> str:
    """repr for an error text, cut short (a value may be a 64 KiB string or a 4,000-digit int)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def bounded_number(value: object) -> bool:
    """An int or float (not bool), finite, with |value| <= MAX_ABS_NUMBER."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_MAX_ABS_INT <= value <= _MAX_ABS_INT
    if isinstance(value, float):
        return -MAX_ABS_NUMBER <= value <= MAX_ABS_NUMBER  # False for NaN and +-inf
    return False


try:  # CPython: O(1) and C-speed answers for the usual all-ASCII text (MicroPython has neither)
    _isascii = str.isascii
    _isprintable = str.isprintable
except AttributeError:
    _isascii = None  # type: ignore[assignment]
    _isprintable = None  # type: ignore[assignment]


def bad_char(text: str, strict: bool) -> int:
    """Code of the first character storage cannot hold (NUL, an unpaired surrogate), or with
    `strict` any control character too; -1 when the text is clean."""
    if _isascii is not None and _isascii(text):  # no surrogate; the only control characters are < 0x20 and 0x7F
        if _isprintable(text) if strict else "\x00" not in text:  # type: ignore[misc]
            return -1
    for ch in text:
        c = ord(ch)
        if c == 0 or 0xD800 <= c <= 0xDFFF:
            return c
        if strict and (c < 0x20 or 0x7F <= c <= 0x9F):
            return c
    return -1


def valid_field_name(name: object) -> bool:
    """A telemetry field name: 1-64 of a-z 0-9 _ (the names the firmware and the dashboard use)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_FIELD_CHARS:
        return False
    for ch in name:
        if ch not in _FIELD_CHARS:
            return False
    return True


_FIELD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_good_names = set()  # type: set  # field names found valid (a cache: bounded, never required for correctness)
_GOOD_NAMES_MAX = 4096
_NUMBER_TYPES = {float, int}  # exact types: bool (a subclass of int) is not one of them


def _number(obj: dict, key: str) -> float:
    value = obj.get(key)
    if not bounded_number(value):
        raise CodecError("bad_field", "%s=%s: must be a finite number within +-%g" % (key, _show(value), MAX_ABS_NUMBER))
    return float(value)  # type: ignore[arg-type]


def _integer(obj: dict, key: str, low: int, high: int = _MAX_ABS_INT) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or value > high:
        raise CodecError("bad_field", "%s=%s: must be an integer in [%d, %d]" % (key, _show(value), low, high))
    return value


def _text(obj: dict, key: str, max_chars: int) -> str:
    """Text of 1-max_chars characters without control characters (a name, a code, a kind)."""
    value = obj.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= max_chars:
        raise CodecError("bad_field", "%s=%s: must be text of 1-%d characters" % (key, _show(value), max_chars))
    c = bad_char(value, True)
    if c >= 0:
        raise CodecError("bad_text", "%s=%s: control character U+%04X not allowed" % (key, _show(value), c))
    return value


def _check_tree(value: object, where: str, depth: int) -> None:
    """Anything inside a body: null, bool, bounded numbers, clean text, and lists and objects of
    them at most MAX_DEPTH deep. Raises CodecError naming the place."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        if not bounded_number(value):
            raise CodecError("bad_number", "%s=%s: must be a finite number within +-%g" % (where, _show(value), MAX_ABS_NUMBER))
        return
    if isinstance(value, str):
        c = bad_char(value, False)
        if c >= 0:
            raise CodecError("bad_text", "%s: character U+%04X cannot be stored" % (where, c))
        return
    if depth >= MAX_DEPTH:
        raise CodecError("too_deep", "%s: nested deeper than %d" % (where, MAX_DEPTH))
    if isinstance(value, dict):
        for key in value:
            c = bad_char(key, False)
            if c >= 0:
                raise CodecError("bad_text", "%s: a key with character U+%04X cannot be stored" % (where, c))
            _check_tree(value[key], where + "." + key[:64], depth + 1)
    elif isinstance(value, list):
        i = 0
        for item in value:
            _check_tree(item, "%s[%d]" % (where, i), depth + 1)
            i += 1
    else:
        raise CodecError("bad_field", "%s: unexpected %s" % (where, type(value).__name__))


def _dict(obj: dict, key: str) -> dict:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise CodecError("bad_field", "%s: must be an object" % key)
    return value


def _check_version(obj: dict) -> None:
    if obj.get("v") != VERSION:
        raise CodecError("bad_version", "v=%r: this codec speaks v%d" % (obj.get("v"), VERSION))


def _open(topic: str, payload: bytes, area: str, what: str) -> tuple:
    """(id, leaf, msg) as parse_topic and _load give them, once the topic is of `area` and the
    version is ours. `what` names the area in the error ("an uplink"). Each decoder adds only
    its own checks."""
    got_area, ident, leaf = parse_topic(topic)
    if got_area != area:
        raise CodecError("bad_topic", "topic %r is not %s topic" % (topic, what))
    msg = _load(payload)
    _check_version(msg)
    return ident, leaf, msg


# --- uplink --------------------------------------------------------------------------------
def encode_uplink(station_id: str, seq: int, kind: str, ts_s: float, body: dict) -> tuple:
    """(topic, payload bytes) of one uplink message."""
    _check_id(station_id, "station")
    if kind not in UP_KINDS:
        raise CodecError("bad_kind", "kind=%r: must be one of %s" % (kind, ", ".join(UP_KINDS)))
    msg = {"v": VERSION, "station": station_id, "seq": seq, "ts": ts_s, "kind": kind, "body": body}
    return up_topic(station_id, kind), _dump(msg)


def decode_uplink(topic: str, payload: bytes, now_s: float = -1.0, max_age_s: float = -1.0) -> dict:
    """A validated uplink message dict; the topic's station and kind must match the payload.
    With the receiver's clock `now_s` (unix s), `ts` must lie in [now_s - max_age_s,
    now_s + MAX_FUTURE_S] (`max_age_s` < 0: no lower bound but 0); without it, ts >= 0.
    See the module docstring for what else is refused; the reason codes are bad_json,
    bad_version, station_mismatch,
    kind_mismatch, bad_field, bad_number, bad_text, bad_field_name, too_many_fields, too_deep,
    ts_out_of_window and too_large."""
    area, sid, kind = parse_topic(topic)
    if area != "up":
        raise CodecError("bad_topic", "topic %r is not an uplink topic" % topic)
    return decode_uplink_of(sid, kind, payload, now_s, max_age_s)


def decode_uplink_of(sid: str, kind: str, payload: bytes, now_s: float = -1.0, max_age_s: float = -1.0,
                     loads=None) -> dict:
    """decode_uplink for a topic already parsed: parse_topic gave ("up", sid, kind).

    `loads`, a faster parser of UTF-8 JSON bytes (the supervisor's), is tried first: a message
    it parses and the checks accept is returned; anything it or the checks refuse is decoded
    again with the json module, so what is refused, and the reason, never depend on it."""
    if loads is not None:
        try:
            return _check_uplink(sid, kind, _load(payload, loads), now_s, max_age_s)
        except Exception:  # noqa: BLE001 - the parser's own errors included: the standard path says what is wrong
            pass
    return _check_uplink(sid, kind, _load(payload), now_s, max_age_s)


def _check_uplink(sid: str, kind: str, msg: dict, now_s: float, max_age_s: float) -> dict:
    _check_version(msg)
    if msg.get("station") != sid:
        raise CodecError("station_mismatch", "payload station %s on topic of %r" % (_show(msg.get("station")), sid))
    if msg.get("kind") != kind:
        raise CodecError("kind_mismatch", "payload kind %s on topic kind %r" % (_show(msg.get("kind")), kind))
    _integer(msg, "seq", 1, MAX_SEQ)
    ts = _number(msg, "ts")
    if ts < 0:
        raise CodecError("bad_field", "ts=%r: must be unix seconds" % ts)
    if now_s >= 0 and (ts > now_s + MAX_FUTURE_S or (max_age_s >= 0 and ts < now_s - max_age_s)):
        raise CodecError("ts_out_of_window", "ts=%r is %.0f s from the receive time %r: must be within [-%g, +%g] s"
                         % (ts, ts - now_s, now_s, max_age_s, MAX_FUTURE_S))
    body = _dict(msg, "body")
    if kind == UP_TELEMETRY:
        values = _dict(body, "values")
        if len(values) > MAX_FIELDS:
            raise CodecError("too_many_fields", "values: %d fields, at most %d per message" % (len(values), MAX_FIELDS))
        # the usual message in a few C loops; anything else goes through each field in order,
        # which finds the first problem and says what it is
        if not (_good_names.issuperset(values) and _bounded_numbers(values)):
            _check_values(values)
        for key in body:
            if bad_char(key, False) >= 0:
                raise CodecError("bad_text", "body: a key with a character that cannot be stored")
            if key != "values":
                _check_tree(body[key], "body." + key[:64], 1)
    else:
        _check_tree(body, "body", 0)
        if kind == UP_ACK:
            _text(body, "command_id", MAX_ID_CHARS)
            if body.get("result") not in ACK_RESULTS:
                raise CodecError("bad_field", "result=%s: must be one of %s" % (_show(body.get("result")), ", ".join(ACK_RESULTS)))
        else:  # UP_EVENT, UP_ALARM
            _text(body, "code" if kind == UP_ALARM else "kind", 64)
    return msg


def _bounded_numbers(values: dict) -> bool:
    """True when every value is an int or float (no bool, no null), finite and within
    +-MAX_ABS_NUMBER: bounded_number of each, in a few C loops. False says only "look at each
    value" (_check_values finds which and why)."""
    if not values:
        return True
    numbers = list(values.values())
    if not _NUMBER_TYPES.issuperset(map(type, numbers)):
        return False
    if not (-MAX_ABS_NUMBER <= min(numbers) and max(numbers) <= MAX_ABS_NUMBER):
        return False
    total = sum(numbers)  # bounded: no overflow; a NaN hidden from min and max makes it NaN
    return total == total


def _check_values(values: dict) -> None:
    """Each telemetry field name valid, each value a bounded number or null, in order; raises
    CodecError about the first field that is not."""
    for name in values:
        if name not in _good_names:
            if not valid_field_name(name):
                raise CodecError("bad_field_name", "values.%s: field names are 1-%d of a-z 0-9 _"
                                 % (_show(name), MAX_FIELD_CHARS))
            if len(_good_names) < _GOOD_NAMES_MAX:
                _good_names.add(name)
        value = values[name]
        if value is None:
            continue
        if type(value) is float:  # the common case, checked inline (NaN fails the comparison)
            if -MAX_ABS_NUMBER <= value <= MAX_ABS_NUMBER:
                continue
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CodecError("bad_field", "values.%s=%s: must be a number or null" % (name, _show(value)))
        elif bounded_number(value):
            continue
        raise CodecError("bad_number", "values.%s=%s: must be a finite number within +-%g"
                         % (name, _show(value), MAX_ABS_NUMBER))


# --- commands (supervisor -> station) --------------------------------------------------------
# A command is signed end to end with a per-station key the broker never holds: HMAC-SHA256
# (computed by the firmware and the supervisor; MicroPython has no hmac module) over the bytes
# `command_signing_bytes` builds from station, id, kind, args, user and expiry. The signature
# travels as "sig" (64 lowercase hex digits). Args are flat: each value a bounded integer, a
# finite number, text, true/false or null, so their canonical form is the same on every side;
# only "sections" (apply_settings: settings sections) is an object, of such values in turn.
SECTIONS_ARG = "sections"
COMMAND_SIG_DOMAIN = "heatkeeper/v1/cmd"
SIG_HEX_CHARS = 64
COMMAND_KEY_MIN_BYTES = 32
MAX_COMMAND_ARGS = 32
MAX_ARG_TEXT_CHARS = 256
MAX_ARG_INT = 9007199254740992  # 2**53: every such integer is also exact as a float
_HEX = "0123456789abcdef"


def _canon_str(text: str) -> str:
    # Escapes only what JSON requires (and lone surrogates, which have no UTF-8 form), so the
    # same text gives the same bytes whatever JSON library read it.
    parts = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            parts.append('\\"')
        elif ch == "\\":
            parts.append("\\\\")
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            parts.append("\\u%04x" % code)
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def _canon(value: object, out: list) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, str):
        out.append(_canon_str(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canon(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise CodecError("bad_field", "object key %r: must be text" % (key,))
            if i:
                out.append(",")
            out.append(_canon_str(key))
            out.append(":")
            _canon(value[key], out)
        out.append("}")
    else:
        raise CodecError("bad_field", "a %s cannot be part of a signed command" % type(value).__name__)


def canonical_json(value: object) -> str:
    """JSON text with sorted keys, no spaces and minimal escapes: one text per value."""
    out = []  # type: list
    _canon(value, out)
    return "".join(out)


def command_signing_bytes(station_id: str, command_id: str, kind: str, args: dict, user: str,
                          expires_ts_s: float) -> bytes:
    """The bytes a command's HMAC-SHA256 covers: station, id, kind, args (canonical JSON), user
    and expiry, under a domain tag so no other message of ours can be passed off as a command."""
    return canonical_json([COMMAND_SIG_DOMAIN, station_id, command_id, kind, args, user, expires_ts_s]).encode()


def parse_command_key(text: str) -> bytes:
    """A station command key from its file text (hex, at least COMMAND_KEY_MIN_BYTES bytes).
    Raises CodecError("bad_key") without echoing the text (it is a secret)."""
    digits = text.strip().lower() if isinstance(text, str) else ""
    for ch in digits:
        if ch not in _HEX:
            raise CodecError("bad_key", "key must be hex digits only (0-9 a-f)")
    if len(digits) < 2 * COMMAND_KEY_MIN_BYTES or len(digits) % 2:
        raise CodecError("bad_key", "key has %d hex digits: must be an even number, at least %d (%d bytes)"
                         % (len(digits), 2 * COMMAND_KEY_MIN_BYTES, COMMAND_KEY_MIN_BYTES))
    return bytes([int(digits[i:i + 2], 16) for i in range(0, len(digits), 2)])


def _finite(obj: dict, key: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, int) and not -MAX_ARG_INT <= value <= MAX_ARG_INT) or (
            isinstance(value, float) and (value != value or value - value != 0.0)):
        raise CodecError("bad_field", "%s=%s: must be a finite number within +-2**53" % (key, ("%r" % (value,))[:40]))
    return value  # type: ignore[return-value]


def _command_args(msg: dict) -> dict:
    args = msg.get("args")
    if not isinstance(args, dict):
        raise CodecError("bad_field", "args: must be an object")
    if len(args) > MAX_COMMAND_ARGS:
        raise CodecError("bad_field", "args: %d arguments, at most %d" % (len(args), MAX_COMMAND_ARGS))
    for name in args:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_ID_CHARS:
            raise CodecError("bad_field", "args: name %s must be text of 1-%d characters"
                             % (("%r" % (name,))[:80], MAX_ID_CHARS))
        value = args[name]
        if isinstance(value, str):
            if len(value) > MAX_ARG_TEXT_CHARS:
                raise CodecError("bad_field", "args.%s: text of %d characters, at most %d"
                                 % (name, len(value), MAX_ARG_TEXT_CHARS))
        elif name == SECTIONS_ARG and isinstance(value, dict):
            _check_tree(value, "args." + name, 1)
        elif value is not None and not isinstance(value, bool):
            if not isinstance(value, (int, float)):
                raise CodecError("bad_field", "args.%s: must be a number, text, true/false or null" % name)
            _finite(args, name)
    return args


def encode_command(station_id: str, command_id: str, kind: str, args: dict, user: str,
                   issued_ts_s: float, expires_ts_s: float, sig: str = "") -> tuple:
    """(topic, payload bytes) of one command; `expires_ts_s` is wall-clock unix seconds; `sig`
    the hex HMAC-SHA256 over `command_signing_bytes` (omitted when empty: an unsigned command)."""
    _check_id(station_id, "station")
    _check_id(command_id, "command id")
    msg = {"v": VERSION, "id": command_id, "station": station_id, "kind": kind, "args": args,
           "user": user, "issued_ts": issued_ts_s, "expires_ts": expires_ts_s}
    if sig:
        msg["sig"] = sig
    return command_topic(station_id), _dump(msg)


def decode_command(topic: str, payload: bytes) -> dict:
    """A structurally valid command dict ("sig" present only when the sender signed it).
    Whether the signature is right is for the receiver to check (it holds the key); whether
    the kind and args are allowed is for core.command_handler to decide (it knows the station's mode
    and limits). Raises CodecError and nothing else."""
    try:
        sid, _, msg = _open(topic, payload, "cmd", "a command")
    except RuntimeError:  # CPython's RecursionError, MicroPython's RuntimeError: nested too deep
        raise CodecError("bad_json", "payload nests too deeply")
    _check_id(msg.get("id"), "command id")
    if msg.get("station") != sid:
        raise CodecError("station_mismatch", "command for %r on topic of %r" % (msg.get("station"), sid))
    _text(msg, "kind", 64)
    _text(msg, "user", 64)
    _command_args(msg)
    _finite(msg, "issued_ts")
    _finite(msg, "expires_ts")
    if "sig" in msg:
        sig = msg["sig"]
        if not isinstance(sig, str) or len(sig) != SIG_HEX_CHARS or [ch for ch in sig if ch not in _HEX]:
            raise CodecError("bad_signature", "sig: must be %d lowercase hex digits" % SIG_HEX_CHARS)
    return msg


def ack_body(command_id: str, result: str, reason: str, detail: str) -> dict:
    """Body of the UP_ACK message answering a command."""
    return {"command_id": command_id, "result": result, "reason": reason, "detail": detail}


# --- room-temperature readings ---------------------------------------------------------------
def encode_collector_reading(collector_id: str, temp_c: float, ts_s: float) -> tuple:
    _check_id(collector_id, "collector")
    return collector_topic(collector_id), _dump({"v": VERSION, "temp_c": temp_c, "ts": ts_s})


def decode_collector_reading(topic: str, payload: bytes) -> dict:
    """{"collector": cid, "temp_c": float, "ts": float}; plausibility is checked downstream."""
    cid, _, msg = _open(topic, payload, "collector", "a collector")
    return {"collector": cid, "temp_c": _number(msg, "temp_c"), "ts": _number(msg, "ts")}


def encode_rooms(station_id: str, readings: list, ts_s: float) -> tuple:
    """Readings forwarded to a station: list of {"collector", "group", "temp_c", "ts"}."""
    return rooms_topic(station_id), _dump({"v": VERSION, "ts": ts_s, "readings": readings})


def decode_rooms(topic: str, payload: bytes) -> dict:
    sid, _, msg = _open(topic, payload, "rooms", "a rooms")
    readings = msg.get("readings")
    if not isinstance(readings, list):
        raise CodecError("bad_field", "readings: must be a list")
    for item in readings:
        if not isinstance(item, dict):
            raise CodecError("bad_field", "readings: items must be objects")
        _check_id(item.get("collector"), "collector")
        _number(item, "temp_c")
        _number(item, "ts")
    return {"station": sid, "ts": _number(msg, "ts"), "readings": readings}


# --- outdoor temperature from the supervisor -------------------------------------------------
# Wider than any weather on Earth: a value outside is garbage, not cold. The station applies its
# own plausibility range and maximum age on top.
OUTDOOR_MIN_C = -80.0
OUTDOOR_MAX_C = 70.0


def encode_outdoor(station_id: str, temp_c: float, ts_s: float, source: str, stations: int) -> tuple:
    """(topic, payload) of an outdoor temperature for one station: measured at `ts_s` (unix s),
    `source` a short name ("fleet_median", "weather_service", ...), `stations` how many
    stations' sensors it stands on (0 when not from the fleet)."""
    _check_id(station_id, "station")
    return outdoor_topic(station_id), _dump({"v": VERSION, "ts": ts_s, "temp_c": temp_c, "source": source,
                                             "stations": stations})


def decode_outdoor(topic: str, payload: bytes) -> dict:
    """{"station", "ts", "temp_c", "source", "stations"}; raises CodecError on anything else."""
    sid, _, msg = _open(topic, payload, "outdoor", "an outdoor")
    temp_c = _number(msg, "temp_c")
    if temp_c < OUTDOOR_MIN_C or temp_c > OUTDOOR_MAX_C:
        raise CodecError("bad_field", "temp_c=%r degC: must be in [%g, %g]" % (temp_c, OUTDOOR_MIN_C, OUTDOOR_MAX_C))
    return {"station": sid, "ts": _number(msg, "ts"), "temp_c": temp_c, "source": _text(msg, "source", 64),
            "stations": _integer(msg, "stations", 0)}


# --- weather forecast from the supervisor ----------------------------------------------------
# Compact: the first hour's unix time, the step and up to forecast.MAX_POINTS values per series
# (temperature, and when the source has them shortwave radiation and wind speed), one decimal.
# Like the outdoor and rooms topics it is not signed: only the supervisor may write a station's
# down/# (broker ACL), and a bad forecast can only be ignored (nothing in the cycle relies on it).
FORECAST_MAX_POINTS = _forecast.MAX_POINTS
FORECAST_SERIES = ("temp_c", "radiation_w_m2", "wind_m_s")


def encode_forecast(station_id: str, ts_s: float, start_ts_s: float, step_s: float, temp_c: list, source: str,
                    radiation_w_m2=None, wind_m_s=None) -> tuple:
    """(topic, payload) of a forecast for one station: issued (fetched) at `ts_s`, values from
    `start_ts_s` every `step_s` seconds. Raises CodecError when it is not one decode accepts."""
    _check_id(station_id, "station")
    msg = {"v": VERSION, "ts": ts_s, "start_ts": start_ts_s, "step_s": step_s,
           "temp_c": [round(float(v), 1) for v in temp_c], "source": source}
    if radiation_w_m2 is not None:
        msg["radiation_w_m2"] = [round(float(v), 1) for v in radiation_w_m2]
    if wind_m_s is not None:
        msg["wind_m_s"] = [round(float(v), 1) for v in wind_m_s]
    problem = _forecast.check(msg)
    if problem:
        raise CodecError("bad_field", problem)
    return forecast_topic(station_id), _dump(msg)


def decode_forecast(topic: str, payload: bytes) -> dict:
    """{"station", "ts", "start_ts", "step_s", "temp_c", "radiation_w_m2" (None when absent),
    "wind_m_s" (idem), "source"}; raises CodecError (reason bad_field naming the key) on anything else."""
    try:
        sid, _, msg = _open(topic, payload, "forecast", "a forecast")
    except RuntimeError:  # nested too deep for the parser
        raise CodecError("bad_json", "payload nests too deeply")
    problem = _forecast.check(msg)
    if problem:
        raise CodecError("bad_field", problem)
    _text(msg, "source", 64)
    return {"station": sid, "ts": float(msg["ts"]), "start_ts": float(msg["start_ts"]),
            "step_s": float(msg["step_s"]), "temp_c": msg["temp_c"], "radiation_w_m2": msg.get("radiation_w_m2"),
            "wind_m_s": msg.get("wind_m_s"), "source": msg["source"]}


# --- heating-season calendar from the supervisor ---------------------------------------------
# The city's calendar of the current (or next) season: its version (grows with every change), when
# it was issued, 00:00 local of the legal first day, 24:00 local of the last day (extensions
# included) and the pre-heat window before the start, all unix seconds. Shape checks only: the
# station's core.season judges the rest. Not signed, like the forecast (broker ACL on down/#).
SEASON_KEYS = ("city", "version", "issued_s", "start_s", "end_s", "preheat_s")
SEASON_MAX_PREHEAT_S = 30 * 86400.0


def _season_msg(msg: dict) -> dict:
    """The six fields of a season calendar checked; raises CodecError naming the first bad key."""
    city = _text(msg, "city", 64)
    version = _integer(msg, "version", 1, MAX_SEQ)
    issued_s = _number(msg, "issued_s")
    start_s = _number(msg, "start_s")
    end_s = _number(msg, "end_s")
    preheat_s = _number(msg, "preheat_s")
    if issued_s <= 0.0:
        raise CodecError("bad_field", "issued_s=%s: must be unix seconds > 0" % _show(msg["issued_s"]))
    if start_s <= 0.0:
        raise CodecError("bad_field", "start_s=%s: must be unix seconds > 0" % _show(msg["start_s"]))
    if end_s <= start_s:
        raise CodecError("bad_field", "end_s=%s: must be after start_s=%s" % (_show(msg["end_s"]), _show(msg["start_s"])))
    if preheat_s < 0.0 or preheat_s > SEASON_MAX_PREHEAT_S:
        raise CodecError("bad_field", "preheat_s=%s: must be in [0, %g] s" % (_show(msg["preheat_s"]), SEASON_MAX_PREHEAT_S))
    return {"city": city, "version": version, "issued_s": issued_s, "start_s": start_s, "end_s": end_s,
            "preheat_s": preheat_s}


def encode_season(station_id: str, ts_s: float, calendar: dict) -> tuple:
    """(topic, payload) of a city's season calendar for one station, sent at `ts_s`; `calendar`
    holds the six SEASON_KEYS. Raises CodecError when it is not one decode_season accepts."""
    _check_id(station_id, "station")
    if not isinstance(calendar, dict):
        raise CodecError("bad_field", "calendar: must be an object")
    msg = _season_msg(calendar)
    msg["v"] = VERSION
    msg["ts"] = ts_s
    _number(msg, "ts")
    return season_topic(station_id), _dump(msg)


def decode_season(topic: str, payload: bytes) -> dict:
    """{"city", "version", "issued_s", "start_s", "end_s", "preheat_s"}; raises CodecError (reason
    bad_field naming the key) on anything else."""
    try:
        _, _, msg = _open(topic, payload, "season", "a season")
    except RuntimeError:  # nested too deep for the parser
        raise CodecError("bad_json", "payload nests too deeply")
    return _season_msg(msg)
