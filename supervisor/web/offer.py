"""What a station accepts from the dashboard now, from what it reports in its telemetry.

    offer = station_offer(values)   # {"reported", "permitted", "args", "lease_s", "modes", "clearable"}

A station publishes (core.command_handler.offer) the kinds permitted in its current mode as the
bit mask `commands_permitted` over core.command_handler.KINDS, and its "commands" settings as
`commands_<key>`: each kind's argument bounds come from core's own table (KIND_TABLE's ARG row,
whose bounds name those settings). A station that reports none of this (an older firmware) gets
the dashboard's own bounds (validation.COMMAND_ARGS), and the station has the last word.
"""

from __future__ import annotations

from typing import Any

from heatkeeper.core import command_handler as ch
from heatkeeper.core import modes as md

from . import validation

# the kinds the station page's form offers, in its order
FORM_KINDS = ("set_room_setpoint", "set_supply_setpoint", "set_dp_setpoint", "set_makeup_pressure", "set_mode",
              "boost", "clear_lease")
# the modes a remote set_mode may ask for (manual is the local panel's alone)
REMOTE_MODES = tuple(m for m in ("auto", "remote", "summer", "safe", "startup") if m not in ch.LOCAL_ONLY_MODES)
LEASE_NAMES = ("room_setpoint", "supply_setpoint", "dp_setpoint", "makeup_pressure", "boost", "mode", "heat_cap")  # core.commands


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _bound(bound: Any, values: dict[str, Any]) -> float | None:
    return _num(values.get("commands_" + bound)) if isinstance(bound, str) else float(bound)


def _entered_from(mode: int) -> list[str]:
    """The remote mode names that change the station's mode from `mode` (core.modes.TRANSITIONS)."""
    out = []
    for name in REMOTE_MODES:
        trigger = md.COMMAND_MODES[name]
        if any(mode in sources and trigger == rule_trigger for sources, rule_trigger, _to in md.TRANSITIONS):
            out.append(name)
    return out


def station_offer(values: dict[str, Any]) -> dict[str, Any]:
    """The form a station's page offers, and the bounds the web checks, from its latest values.
    {"reported": the station said, "mode": its mode name, "permitted": kinds permitted now,
    "args": {kind: {arg: [unit, lo, hi]}}, "lease_s": [min, max, default], "modes": set_mode
    targets, "clearable": leases}."""
    mask = _num(values.get("commands_permitted"))
    fallback = validation.COMMAND_ARGS
    args = {kind: {name: list(spec) for name, spec in fallback[kind].items()} for kind in fallback}
    lease_lo, lease_hi = validation.LEASE_RANGE_S
    mode = _num(values.get("mode"))
    mode_name = md.MODE_NAMES[int(mode)] if mode is not None and 0 <= int(mode) < md.N_MODES else None
    if mask is None:
        return {"reported": False, "mode": mode_name, "permitted": list(fallback), "args": args,
                "lease_s": [lease_lo, lease_hi, 3600.0], "modes": list(REMOTE_MODES),
                "clearable": list(validation.CLEARABLE)}
    permitted = [kind for i, kind in enumerate(ch.KINDS) if int(mask) >> i & 1]
    lo_s, hi_s = _num(values.get("commands_min_lease_s")), _num(values.get("commands_max_lease_s"))
    if lo_s is not None and hi_s is not None and lo_s <= hi_s:
        lease_lo, lease_hi = lo_s, hi_s
    default_s = _num(values.get("commands_default_lease_s"))
    for kind, row in ch.KIND_TABLE.items():
        spec = row[ch.ARG]
        if spec is None or kind not in args:
            continue
        key, unit, low, high = spec
        lo, hi = _bound(low, values), _bound(high, values)
        if lo is not None and hi is not None and lo <= hi and key in args[kind]:
            args[kind][key] = [unit, lo, hi]
    if "boost" in args and "duration_s" in args["boost"]:
        args["boost"]["duration_s"] = ["s", lease_lo, lease_hi]
    modes = list(REMOTE_MODES)
    if mode is not None and mode_name is not None:
        modes = _entered_from(int(mode))
        leased = _num(values.get("mode_lease_s"))
        current = md.MODE_NAMES[int(mode)]
        if leased is not None and leased > 0 and current in REMOTE_MODES and current not in modes:
            modes.append(current)  # a running remote summer/safe is renewed by asking for it again
    active = [name for name in LEASE_NAMES if (_num(values.get(name + "_lease_s")) or 0.0) > 0.0]
    clearable = [name for name in validation.CLEARABLE if name in active or name == "all"]
    return {"reported": True, "mode": mode_name, "permitted": permitted, "args": args,
            "lease_s": [lease_lo, lease_hi, default_s if default_s is not None else min(max(3600.0, lease_lo), lease_hi)],
            "modes": modes, "clearable": clearable}
