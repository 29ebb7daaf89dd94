# cython: annotation_typing=False
"""A station's active leases as the dashboard tells them, from its flat telemetry fields.

    leases = from_values(values)   # {lease name: {"remaining_s", "value", "unit", ...}}

The station publishes, per lease (core.commands LEASE_NAMES), the time left `<name>_lease_s`
(0 when none) and its target (`supply_setpoint_lease_c`, `room_setpoint_lease_c`, ...;
core.command_handler.offer). A leased supply setpoint does not jump: the setpoint chain lets it
rise at `ramp_up_k_per_h` (falls pass at once, core.setpoint_chain), and it acts only in remote
mode. So the supply lease also carries where the setpoint is now, the rate, when it arrives and
whether it can arrive before the lease ends (a 30-minute lease to 52 degC from 39 degC at 12 K/h
cannot: it ends at 45 degC). Pure functions: no clock, the times are relative to the sample.
"""

from __future__ import annotations

import sys
from typing import Any

from heatkeeper.core import _cext

# name, time-left field, target field, unit (core.commands LEASE_NAMES order)
LEASES = (
    ("room_setpoint", "room_setpoint_lease_s", "room_setpoint_lease_c", "degC"),
    ("supply_setpoint", "supply_setpoint_lease_s", "supply_setpoint_lease_c", "degC"),
    ("dp_setpoint", "dp_setpoint_lease_s", "dp_setpoint_lease_kpa", "kPa"),
    ("makeup_pressure", "makeup_pressure_lease_s", "makeup_pressure_lease_kpa", "kPa"),
    ("boost", "boost_lease_s", "boost_lease_k", "K"),
    ("mode", "mode_lease_s", "mode_lease_return", ""),
    ("heat_cap", "heat_cap_lease_s", "heat_cap_lease_kw", "kW"),
)
_LEFT_KEYS = tuple(left_key for _name, left_key, _value_key, _unit in LEASES)
MODE_REMOTE = 5  # core.modes.M_REMOTE: the only mode a supply setpoint lease acts in
ARRIVED_K = 0.05  # closer than this the setpoint counts as arrived


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def approach(from_c: float, to_c: float, rate_k_per_h: float | None, left_s: float) -> dict[str, Any]:
    """How a setpoint at `from_c` reaches `to_c` rising at `rate_k_per_h` (falls at once; rate 0:
    no ramp) with `left_s` of lease to go: {"arrival_s": seconds until it gets there (None when
    the rate is unknown), "arrives": before the lease ends, "at_end_c": where it is when the
    lease ends}."""
    rise_k = to_c - from_c
    if rise_k <= ARRIVED_K or rate_k_per_h == 0.0:
        return {"arrival_s": 0.0, "arrives": True, "at_end_c": to_c}
    if rate_k_per_h is None or rate_k_per_h < 0.0:
        return {"arrival_s": None, "arrives": None, "at_end_c": None}
    arrival_s = rise_k / rate_k_per_h * 3600.0
    if arrival_s <= left_s:
        return {"arrival_s": arrival_s, "arrives": True, "at_end_c": to_c}
    return {"arrival_s": arrival_s, "arrives": False, "at_end_c": from_c + rate_k_per_h * left_s / 3600.0}


def none_active(values: dict[str, Any], sent: Any = None) -> bool:
    """Whether `from_values(values, sent)` is certainly empty, in C: no `leases` object and no
    lease's time left other than absent, null or 0 (a lease with a value that is not a
    positive number is no lease there either)."""
    return not isinstance(sent, dict) and not _any_left(values)


def _any_left_by_map(values: dict[str, Any]) -> bool:
    """Whether any lease's time left is there and true (not 0, null or absent): in C builtins,
    the faster way interpreted."""
    return any(map(values.get, _LEFT_KEYS))


def _any_left_by_loop(values: dict[str, Any]) -> bool:
    """`_any_left_by_map` as a loop (leases.pxd types it): the faster way compiled."""
    for key in _LEFT_KEYS:
        if values.get(key):
            return True
    return False


# compiled, the loop runs on the dict directly; interpreted, the builtins are faster
_any_left = _any_left_by_loop if _cext.compiled(sys.modules[__name__]) else _any_left_by_map


def from_values(values: dict[str, Any], sent: Any = None) -> dict[str, dict[str, Any]]:
    """The active leases of one telemetry sample; `sent` is a `leases` object the station sent
    beside its values ({name: [value, remaining_s]}, a station's snapshot), used where the flat
    fields say nothing."""
    if none_active(values, sent):  # the usual sample (every second)
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, left_key, value_key, unit in LEASES:
        left = _num(values.get(left_key))
        value = _num(values.get(value_key))
        row = sent.get(name) if isinstance(sent, dict) else None
        if isinstance(row, (list, tuple)) and len(row) == 2:
            value = _num(row[0]) if value is None else value
            left = _num(row[1]) if left is None else left
        if left is None or left <= 0.0:
            continue
        lease: dict[str, Any] = {"remaining_s": left, "value": value, "unit": unit}
        if name == "mode":
            lease["value"] = None
            back = _num(values.get("mode_lease_return"))
            lease["back_to"] = int(back) if back is not None and back >= 0 else None
        if name == "supply_setpoint":
            mode = _num(values.get("mode"))
            lease["in_effect"] = None if mode is None else int(mode) == MODE_REMOTE
            now_c = _num(values.get("supply_setpoint_c"))
            rate = _num(values.get("ramp_up_k_per_h"))
            lease["rate_k_per_h"] = rate
            lease["from_c"] = now_c
            if value is not None and now_c is not None and lease["in_effect"] is not False:
                lease.update(approach(now_c, value, rate, left))
        out[name] = lease
    return out
