"""The command interpreter: one command checked against the station's state and applied to it.

    res = handle(ctl, cmd, now_s)    # ctl a core.station.StationController; one "command" event

The command kinds are data: KIND_TABLE maps each kind to its row (handler, the modes it is
permitted in, local panel only, the lease it sets, its number argument). A new command is one
handler and one row here (and its shape in supervisor/commands.py). core.commands keeps what
the kinds share: the answer format and reason codes, the argument checks and the leases.

Every command first passes check_envelope (shape, source, expiry, local-only, mode); then its
handler checks its arguments and applies it, or rejects it and changes nothing.

offer(ctl) says the same to the supervisor before anyone asks: the kinds permitted in the current
mode, the limits, the leases' targets, as flat uplink fields (the firmware adds them to each
telemetry sample), so the dashboard offers only what the station will accept.
"""

from . import checks
from . import commands as cm
from . import modes as md
from . import settings as st
from .sensors import I_SECONDARY_SUPPLY_TEMP

# Row fields of KIND_TABLE.
HANDLER = 0
PERMITTED = 1  # the modes (core.modes M_*) the kind is permitted in
LOCAL_ONLY = 2  # True: from the local panel only (ECL/Samson: manual only from the HMI)
LEASE = 3  # the lease (core.commands L_*) it sets, -1 none (set_mode: L_MODE for LEASED_MODES)
ARG = 4  # (key, unit, low, high) of its number argument, low/high a number or a "commands" key

_ALL = (md.M_STARTUP_FILL, md.M_STARTUP_COLD, md.M_STARTUP_WARMUP, md.M_AUTO, md.M_MANUAL, md.M_REMOTE,
        md.M_SAFE, md.M_SUMMER)
# Safe mode refuses new setpoints: whoever wants to change the station must first take it out
# of safe deliberately.
_NOT_SAFE = (md.M_STARTUP_FILL, md.M_STARTUP_COLD, md.M_STARTUP_WARMUP, md.M_AUTO, md.M_MANUAL, md.M_REMOTE,
             md.M_SUMMER)

# Modes only the local panel may set.
LOCAL_ONLY_MODES = ("manual",)
# Modes a remote command sets only for a lease (an unattended station must not stay out of
# heating, or shut, because of one message nobody follows up).
LEASED_MODES = ("summer", "safe")


def _bound(value, ccfg: dict) -> float:
    return float(ccfg[value]) if isinstance(value, str) else float(value)


def _number(row: tuple, args: dict, ccfg: dict) -> tuple:
    key, unit, low, high = row[ARG]
    return cm.number_arg(args, key, unit, _bound(low, ccfg), _bound(high, ccfg))


def _set_setpoint(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    # A remote setpoint: the value for a lease (args["lease_s"], default default_lease_s).
    ccfg = ctl.cfg["commands"]
    value, bad = _number(row, args, ccfg)
    if bad is not None:
        return bad
    lease_s, bad = cm.lease_arg(args, ccfg)
    if bad is not None:
        return bad
    ctl.leases.set(row[LEASE], value, now_s, lease_s)
    key, unit = row[ARG][0], row[ARG][1]
    return cm.result("applied", "ok", "%s=%s %s for %.0f s" % (key, value, unit, lease_s))


def _boost(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    ccfg = ctl.cfg["commands"]
    value, bad = _number(row, args, ccfg)
    if bad is not None:
        return bad
    duration = args.get("duration_s", args.get("lease_s"))
    dur, bad = cm.lease_arg({"lease_s": duration}, ccfg)
    if bad is not None:
        return bad
    ctl.leases.set(row[LEASE], value, now_s, dur)
    return cm.result("applied", "ok", "boost +%.1f K for %.0f s" % (value, dur))


def _set_valve_manual(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    value, bad = _number(row, args, ctl.cfg["commands"])
    if bad is not None:
        return bad
    ctl.manual_valve_pct = value
    return cm.result("applied", "ok", "manual valve position %.1f %%" % value)


def _ack_alarm(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    code = args.get("code")
    if not isinstance(code, str):
        return cm.result("rejected", "bad_args", "code=%r: must be an alarm code" % (code,))
    why = ctl.alarms.ack(code, now_s)
    if why:
        return cm.result("rejected", why, "alarm %s: %s" % (code, why))
    if code == "secondary_overtemp":
        ctl.interlocks.request_reset()
    return cm.result("applied", "ok", "alarm %s acknowledged" % code)


def _clear_lease(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    what = args.get("what")
    lz = ctl.leases
    if what == "all":
        for i in range(cm.N_LEASES):
            lz.clear(i)
        return cm.result("applied", "ok", "all leases cleared")
    if what not in cm.LEASE_NAMES:
        return cm.result("rejected", "bad_args", "what=%r: must be all or one of %s" % (what, ", ".join(cm.LEASE_NAMES)))
    had = lz.clear(cm.LEASE_NAMES.index(what))
    return cm.result("applied", "ok", "%s lease cleared" % what if had else "no %s lease was active" % what)


def _set_mode(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    name = args.get("mode")
    if name not in md.COMMAND_MODES:
        return cm.result("rejected", "bad_args", "mode=%r: must be one of %s" % (name, ", ".join(sorted(md.COMMAND_MODES))))
    if name in LOCAL_ONLY_MODES and source != "local":
        return cm.result("rejected", "local_only", "mode %s is allowed from the local panel only" % name)
    leased = source != "local" and name in LEASED_MODES
    duration = args.get("duration_s", args.get("lease_s"))
    lease_s = 0.0
    if leased:
        lease_s, bad = cm.lease_arg({"lease_s": duration}, ctl.cfg["commands"])
        if bad is not None:
            return bad
    elif duration is not None:
        return cm.result("rejected", "bad_args", "duration_s=%r: applies only to a remote %s"
                         % (duration, " or ".join(LEASED_MODES)))
    if leased and name == "summer":
        bad = _summer_outdoor_check(ctl)
        if bad:
            return bad
    if name == "manual" and not ctl.signals.ok[I_SECONDARY_SUPPLY_TEMP]:
        # A hand-set valve with no supply temperature to watch is how a blind station
        # overheats; auto's fallback (or safe) is what runs it until the sensor is fixed.
        return cm.result("rejected", "supply_sensor_bad",
                         "manual mode refused while the secondary supply temperature sensor is bad")
    modes = ctl.modes
    mode = modes.mode
    if mode == md.M_SAFE and name != "safe" and ctl.interlocks.tripped:
        return cm.result("rejected", "interlock_latched",
                         "over-temperature trip latched: acknowledge secondary_overtemp once cool")
    trigger = md.COMMAND_MODES[name]
    target = md.MODE_NAMES[mode]
    lz = ctl.leases
    if name == target or (name == "startup" and mode in (md.M_STARTUP_FILL, md.M_STARTUP_COLD, md.M_STARTUP_WARMUP)):
        if leased and ctl.mode_lease_return >= 0:
            # A running lease renewed explicitly (never implicitly).
            lz.set(row[LEASE], float(mode), now_s, lease_s)
            return cm.result("applied", "ok", "mode %s lease renewed for %.0f s" % (target, lease_s))
        if not leased:
            ctl.drop_mode_lease()  # the same mode set locally (or for good) holds now
        return cm.result("applied", "ok", "already in mode %s" % target)
    if not modes.fire(trigger, now_s, "command"):
        return cm.result("rejected", "not_permitted_in_mode", "mode %s cannot be entered from %s" % (name, target))
    if name == "manual":
        ctl.manual_valve_pct = ctl.valve.actuator.estimate_pct
    if leased:
        if ctl.mode_lease_return < 0:
            ctl.mode_lease_return = mode  # the station's own mode, before any remote lease
        lz.set(row[LEASE], float(modes.mode), now_s, lease_s)
        return cm.result("applied", "ok", "mode %s -> %s for %.0f s, then back to %s"
                         % (target, md.MODE_NAMES[modes.mode], lease_s, md.MODE_NAMES[ctl.mode_lease_return]))
    ctl.drop_mode_lease()
    return cm.result("applied", "ok", "mode %s -> %s" % (target, md.MODE_NAMES[modes.mode]))


def _summer_outdoor_check(ctl) -> dict:
    # Remote summer only when it is warm by both the actual and the attenuated outdoor
    # temperature the curve runs on; an empty dict when allowed.
    od = ctl.chain.outdoor
    if od.source == 3:  # SOURCE_FIXED: no sensor, supervisor or recent value at all
        return cm.result("rejected", "outdoor_unknown", "remote summer refused: outdoor temperature unknown")
    low_c = od.actual_c if od.actual_c < od.attenuated_c else od.attenuated_c
    limit_c = float(ctl.cfg["commands"]["summer_min_outdoor_c"])
    if low_c < limit_c:
        return cm.result("rejected", "outdoor_too_cold", "remote summer refused: outdoor %.1f degC is below "
                         "commands.summer_min_outdoor_c=%.1f degC" % (low_c, limit_c))
    return {}


def _apply_settings(ctl, row: tuple, args: dict, source: object, now_s: float) -> dict:
    # Pushed settings {"version": n, "sections": {...}}: laid over the station's own (TOML)
    # settings, the whole checked as at start-up, and run from the next cycle with the state
    # kept (StationController.reconfigure); or rejected with every problem, nothing changed.
    # Each push replaces the previous one (a version is a whole overlay); version 0 with no
    # sections goes back to the station's own settings.
    version = args.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        return cm.result("rejected", "bad_args", "version=%r: must be a whole number >= 0" % (version,))
    sections = args.get("sections")
    if version == 0 and sections is None:
        sections = {}
    if version == 0 and sections:
        return cm.result("rejected", "bad_args", "version 0 is the station's own settings: sections must be empty")
    problems = []  # type: list
    merged = st.overlay(ctl.bootstrap, sections, problems)
    if not problems:
        problems = st.validate(merged)
    if problems:
        return cm.result("rejected", "invalid_settings", "settings version %d: %s" % (version, "; ".join(problems)))
    rebuilt = ctl.reconfigure(merged, version)
    return cm.result("applied", "ok", "settings version %d running (built anew: %s)"
                     % (version, ", ".join(rebuilt) if rebuilt else "nothing, no setting changed"))


# kind, handler, permitted modes, local only, lease, number argument (see the row fields above).
_ROWS = (
    ("set_room_setpoint", _set_setpoint, _NOT_SAFE, False, cm.L_ROOM,
     ("room_setpoint_c", "degC", "room_min_c", "room_max_c")),
    # overriding the curve is the platform's strategy mode
    ("set_supply_setpoint", _set_setpoint, (md.M_REMOTE,), False, cm.L_SUPPLY,
     ("supply_setpoint_c", "degC", "supply_min_c", "supply_max_c")),
    ("set_dp_setpoint", _set_setpoint, _NOT_SAFE, False, cm.L_DP,
     ("dp_setpoint_kpa", "kPa", "dp_min_kpa", "dp_max_kpa")),
    ("set_makeup_pressure", _set_setpoint, _NOT_SAFE, False, cm.L_MAKEUP,
     ("pressure_setpoint_kpa", "kPa", "makeup_min_kpa", "makeup_max_kpa")),
    ("set_mode", _set_mode, _ALL, False, cm.L_MODE, None),
    # the supervisor's share of a short source (supervisor/allocation.py): a primary heat power cap
    ("set_heat_cap", _set_setpoint, _NOT_SAFE, False, cm.L_HEAT_CAP, ("heat_cap_kw", "kW", 1.0, 1000000.0)),
    ("ack_alarm", _ack_alarm, _ALL, False, -1, None),
    ("boost", _boost, (md.M_AUTO, md.M_REMOTE), False, cm.L_BOOST, ("boost_k", "K", 0.0, "boost_max_k")),
    ("set_valve_manual", _set_valve_manual, (md.M_MANUAL,), True, -1, ("valve_pct", "%", 0.0, 100.0)),
    ("clear_lease", _clear_lease, _ALL, False, -1, None),
    # every mode: an offline station in safe must still converge; interlocks act locally
    ("apply_settings", _apply_settings, _ALL, False, -1, None),
)
KINDS = tuple([row[0] for row in _ROWS])  # in this order in messages
KIND_TABLE = {row[0]: row[1:] for row in _ROWS}  # type: dict  # kind -> the row without its kind


def check_envelope(cmd: object, now_s: float, mode) -> dict:
    """The checks every command passes before its arguments are looked at: a rejection, or
    an empty dict when the command may proceed."""
    if not isinstance(cmd, dict):
        return cm.result("rejected", "bad_command", "command must be an object")
    kind = cmd.get("kind")
    if not isinstance(kind, str) or kind not in KIND_TABLE:
        return cm.result("rejected", "unknown_kind", "kind=%r: must be one of %s" % (kind, ", ".join(KINDS)))
    source = cmd.get("source", "remote")
    if source not in ("remote", "local"):
        return cm.result("rejected", "bad_source", "source=%r: must be remote or local" % (source,))
    if not isinstance(cmd.get("args", {}), dict):
        return cm.result("rejected", "bad_args", "args must be an object")
    expires = cmd.get("expires_s")
    if expires is not None and checks.is_number(expires) and now_s >= expires:
        return cm.result("expired", "expired", "command expired %.0f s ago" % (now_s - expires))
    row = KIND_TABLE[kind]
    if row[LOCAL_ONLY] and source != "local":
        return cm.result("rejected", "local_only", "%s is allowed from the local panel only" % kind)
    if mode not in row[PERMITTED]:
        return cm.result("rejected", "not_permitted_in_mode", "%s is not permitted in mode %s" % (kind, md.MODE_NAMES[mode]))
    return {}


def apply(ctl, cmd: object, now_s: float) -> dict:
    """Check and apply one command to `ctl`; the answer, no event."""
    bad = check_envelope(cmd, now_s, ctl.modes.mode)
    if bad or not isinstance(cmd, dict):
        return bad
    row = KIND_TABLE[cmd["kind"]]
    return row[HANDLER](ctl, row, cmd.get("args", {}), cmd.get("source", "remote"), now_s)


def handle(ctl, cmd: object, now_s: float) -> dict:
    """Check and apply one command to `ctl`; the answer carries a reason code and a text, and
    one "command" event goes to `ctl.events`."""
    res = apply(ctl, cmd, now_s)
    ev = {"kind": "command", "reason": res["reason"] if res["result"] != "applied" else "applied",
          "result": res["result"], "at_s": now_s}
    if isinstance(cmd, dict):
        for key, field in (("id", "id"), ("kind", "command"), ("user", "user"), ("source", "source")):
            value = cmd.get(key)
            if isinstance(value, str):
                ev[field] = value
    ev["detail"] = res["detail"]
    ctl.events.append(ev)
    return res


# The leases' targets as uplink fields beside their `<lease>_lease_s` (core.station publishes
# supply_setpoint_lease_c itself); the leased mode is the mode, and where it goes back to is
# mode_lease_return (-1 none).
_LEASE_VALUE_FIELDS = ((cm.L_ROOM, "room_setpoint_lease_c"), (cm.L_DP, "dp_setpoint_lease_kpa"),
                       (cm.L_MAKEUP, "makeup_pressure_lease_kpa"), (cm.L_BOOST, "boost_lease_k"),
                       (cm.L_HEAT_CAP, "heat_cap_lease_kw"))


def offer(ctl) -> dict:
    """What the station accepts from the supervisor now, as flat uplink fields: bit i of
    `commands_permitted` set when KINDS[i] is permitted remotely in the current mode, every
    "commands" setting as `commands_<key>` (the bounds of each kind's argument and of a lease),
    the rise rate of the supply setpoint `ramp_up_k_per_h` (a leased supply setpoint climbs at
    it), the leases' targets, the mode a remote summer or safe goes back to and the room
    setpoint in force (`room_setpoint_c`)."""
    ccfg = ctl.cfg["commands"]
    mode = ctl.modes.mode
    mask = 0
    i = 0
    for kind in KINDS:
        row = KIND_TABLE[kind]
        if mode in row[PERMITTED] and not row[LOCAL_ONLY]:
            mask |= 1 << i
        i += 1
    out = {"commands_permitted": mask}  # type: dict
    for key in cm.DEFAULTS:
        out["commands_" + key] = float(ccfg[key])
    out["ramp_up_k_per_h"] = ctl.chain.ramp_k_per_s * 3600.0
    lz = ctl.leases
    for which, field in _LEASE_VALUE_FIELDS:
        out[field] = lz.value[which] if lz.active(which) else None
    out["mode_lease_return"] = ctl.mode_lease_return
    # the room setpoint the curve runs on now (a lease's, else the station's own)
    out["room_setpoint_c"] = lz.value[cm.L_ROOM] if lz.active(cm.L_ROOM) else ctl.room_setpoint_c
    return out
