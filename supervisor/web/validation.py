"""Checks of what a browser or a script sends, before it reaches the service.

Each check returns the cleaned value or raises `BadInput` with a reason a person can act on
(key, value, unit, allowed range). A command is checked against what the station reports it
accepts now (its mode and limits, supervisor.web.offer) where it has reported them, else against
the bounds below, which only keep garbage out of the command channel; the station has the last
word either way.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from heatkeeper.core import codec
from heatkeeper.core.command_handler import LOCAL_ONLY_MODES

MODES = ("startup", "auto", "manual", "remote", "safe", "summer")

# kind -> {arg: (unit, lo, hi)}; lease_s travels beside args (see LEASED_KINDS).
COMMAND_ARGS: dict[str, dict[str, tuple[str, float, float]]] = {
    "set_room_setpoint": {"room_setpoint_c": ("degC", 10.0, 28.0)},
    "set_supply_setpoint": {"supply_setpoint_c": ("degC", 20.0, 100.0)},
    "set_dp_setpoint": {"dp_setpoint_kpa": ("kPa", 5.0, 400.0)},
    "set_makeup_pressure": {"pressure_setpoint_kpa": ("kPa", 50.0, 1000.0)},
    "set_mode": {},
    "ack_alarm": {},
    "boost": {"boost_k": ("K", -20.0, 20.0), "duration_s": ("s", 60.0, 86400.0)},
    "set_valve_manual": {"valve_pct": ("%", 0.0, 100.0)},
    "clear_lease": {},
}
LEASED_KINDS = ("set_room_setpoint", "set_supply_setpoint", "set_dp_setpoint", "set_makeup_pressure")
LEASE_RANGE_S = (60.0, 7 * 86400.0)
CLEARABLE = ("room_setpoint", "supply_setpoint", "dp_setpoint", "makeup_pressure", "boost", "mode", "all")


class BadInput(ValueError):
    """Input refused before it reached the service; str() is the reason shown to the user."""


def number(value: Any, name: str, unit: str, lo: float, hi: float) -> float:
    """A finite number in [lo, hi]; numeric strings are accepted (HTML forms send text)."""
    if isinstance(value, bool) or value is None:
        raise BadInput("%s=%r %s: must be a number in [%g, %g]" % (name, value, unit, lo, hi))
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise BadInput("%s=%r %s: must be a number in [%g, %g]" % (name, value, unit, lo, hi)) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadInput("%s=%r %s: must be a number in [%g, %g]" % (name, value, unit, lo, hi))
    if not lo <= value <= hi:
        raise BadInput("%s=%r %s: must be in [%g, %g]" % (name, value, unit, lo, hi))
    return float(value)


def station_id(value: Any) -> str:
    if not codec.valid_id(value):
        raise BadInput("station=%r: must be 1-64 of A-Z a-z 0-9 _ -" % (value,))
    return str(value)


def command(body: Any, offer: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], float | None]:
    """(kind, args, lease_s) of a command request body {"kind", "args", "lease_s"}, checked
    against `offer` (supervisor.web.offer.station_offer) when the station reported one."""
    if not isinstance(body, dict):
        raise BadInput("body: must be a JSON object {kind, args, lease_s}")
    kind = body.get("kind")
    if kind not in COMMAND_ARGS:
        raise BadInput("kind=%r: must be one of %s" % (kind, ", ".join(COMMAND_ARGS)))
    reported = bool(offer and offer.get("reported"))
    mode_now = offer.get("mode") if offer else None
    if reported and offer is not None and kind not in offer["permitted"]:
        raise BadInput("kind=%s: the station does not accept it in mode %s now (it would answer "
                       "not_permitted_in_mode)" % (kind, mode_now or "?"))
    raw = body.get("args", {})
    if not isinstance(raw, dict):
        raise BadInput("args: must be a JSON object")
    specs = offer["args"] if offer else COMMAND_ARGS
    args: dict[str, Any] = {}
    for name, (unit, lo, hi) in specs[kind].items():
        args[name] = number(raw.get(name), name, unit, lo, hi)
    if kind == "set_mode":
        mode = raw.get("mode")
        if mode not in MODES:
            raise BadInput("mode=%r: must be one of %s" % (mode, ", ".join(MODES)))
        if mode in LOCAL_ONLY_MODES:
            raise BadInput("mode=%s: only from the station's local panel" % mode)
        if reported and offer is not None and mode not in offer["modes"]:
            raise BadInput("mode=%s: the station cannot enter it from mode %s; it accepts %s"
                           % (mode, mode_now or "?", ", ".join(offer["modes"]) or "no mode change"))
        args["mode"] = mode
    elif kind == "ack_alarm":
        code = raw.get("code")
        if not isinstance(code, str) or not 0 < len(code) <= 64:
            raise BadInput("code=%r: must be an alarm code of 1-64 characters" % (code,))
        args["code"] = code
    elif kind == "clear_lease":
        what = raw.get("what")
        if what not in CLEARABLE:
            raise BadInput("what=%r: must be one of %s" % (what, ", ".join(CLEARABLE)))
        args["what"] = what
    unknown = sorted(set(raw) - set(args))
    if unknown:
        raise BadInput("args %s: not arguments of %s" % (", ".join(map(str, unknown)), kind))
    lease_s: float | None = None
    if kind in LEASED_KINDS:
        lease_lo, lease_hi = (offer["lease_s"][0], offer["lease_s"][1]) if offer else LEASE_RANGE_S
        lease_s = number(body.get("lease_s"), "lease_s", "s", lease_lo, lease_hi)
    elif body.get("lease_s") is not None:
        raise BadInput("lease_s: %s takes no lease" % kind)
    return kind, args, lease_s


def time_range(t0: Any, t1: Any, now_ts: float, default_span_s: float, max_span_s: float) -> tuple[float, float]:
    """(t0, t1) unix seconds from query text; missing ends default to the last `default_span_s`."""
    end = now_ts if t1 in (None, "") else number(t1, "t1", "unix s", 0.0, 4.0e9)
    start = end - default_span_s if t0 in (None, "") else number(t0, "t0", "unix s", 0.0, 4.0e9)
    if start >= end:
        raise BadInput("t0=%r, t1=%r: t0 must be before t1" % (t0, t1))
    if end - start > max_span_s:
        raise BadInput("t1 - t0 = %g s: must be at most %g s" % (end - start, max_span_s))
    return start, end


def date(value: Any, name: str = "date") -> _dt.date:
    """A calendar date from ISO text YYYY-MM-DD."""
    if not isinstance(value, str):
        raise BadInput("%s=%r: must be a date YYYY-MM-DD" % (name, value))
    try:
        return _dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadInput("%s=%r: must be a date YYYY-MM-DD" % (name, value)) from None


def integer(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        out = int(str(value).strip())
    except ValueError:
        raise BadInput("%s=%r: must be an integer in [%d, %d]" % (name, value, lo, hi)) from None
    if not lo <= out <= hi:
        raise BadInput("%s=%r: must be an integer in [%d, %d]" % (name, value, lo, hi))
    return out


def username(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64 or not all(c.isalnum() or c in "._-@" for c in value):
        raise BadInput("username=%r: must be 1-64 letters, digits or . _ - @" % (value,))
    return value


def password(value: Any) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= 256:
        raise BadInput("password: must be 8-256 characters")
    return value


def role(value: Any) -> str:
    if value not in ("viewer", "operator", "admin"):
        raise BadInput("role=%r: must be one of viewer, operator, admin" % (value,))
    return str(value)
