"""Station modes: a table-driven state machine with named transitions and events.

Modes (integers, names in MODE_NAMES):
    startup_fill     season start-up 1: circulation off, valve shut, make-up fills and pressurises
    startup_cold     season start-up 2: cold circulation, valve shut, pressure held
    startup_warmup   season start-up 3: valve control on a setpoint ramped at warmup_rate_k_per_h
    auto             run: weather-compensated with room feedback; remote setpoints as leases
    manual           local operator: valve position by hand, pumps and protection automatic
    remote           the supervisor's strategy drives (supply setpoint leases allowed)
    safe             valve shut, circulation on, pressure held; left only by command once
                     no protective trip is latched
    summer           heating off, pumps exercised, pressure held, frost protection on
Interlocks (core.interlocks) act in every mode; modes never weaken them.
A remote summer or safe is a lease (core.command_handler LEASED_MODES): when it ends, core.station
fires RETURN_TRIGGERS[the mode it was in] to go back (a start-up mode restarts the sequence).

Each transition is a row (from, trigger, to) in TRANSITIONS with its "Rule" comment. `fire`
changes mode only along a row and returns an event {"kind": "mode", "reason", "from", "to",
"trigger"}; a trigger without a row changes nothing.
"""

from . import checks
from .alarms import A_SAFE_MODE, A_STARTUP_FILL_TIMEOUT, NO_LIMIT, AlarmTable
from .sensors import I_SECONDARY_RETURN_PRESSURE, SignalQuality

# Alarm and signal indices held as C ints by the compiled module (modes.pxd).
_A_SAFE_MODE = A_SAFE_MODE
_A_STARTUP_FILL_TIMEOUT = A_STARTUP_FILL_TIMEOUT
_I_SECONDARY_RETURN_PRESSURE = I_SECONDARY_RETURN_PRESSURE
_NO_LIMIT = NO_LIMIT

M_STARTUP_FILL = 0
M_STARTUP_COLD = 1
M_STARTUP_WARMUP = 2
M_AUTO = 3
M_MANUAL = 4
M_REMOTE = 5
M_SAFE = 6
M_SUMMER = 7
N_MODES = 8
# Private copies held as C ints by the compiled module (modes.pxd): the cycle compares modes
# several times, and a Python int comparison each time shows in the season benchmark.
_M_STARTUP_FILL = M_STARTUP_FILL
_M_STARTUP_COLD = M_STARTUP_COLD
_M_STARTUP_WARMUP = M_STARTUP_WARMUP
_M_AUTO = M_AUTO
_M_MANUAL = M_MANUAL
_M_REMOTE = M_REMOTE
_M_SAFE = M_SAFE
_M_SUMMER = M_SUMMER
MODE_NAMES = ("startup_fill", "startup_cold", "startup_warmup", "auto", "manual", "remote", "safe", "summer")

T_CMD_STARTUP = 0
T_CMD_AUTO = 1
T_CMD_MANUAL = 2
T_CMD_REMOTE = 3
T_CMD_SAFE = 4
T_CMD_SUMMER = 5
T_FILLED = 6
T_COLD_DONE = 7
T_WARM_DONE = 8
T_TRIP = 9
N_TRIGGERS = 10
TRIGGER_NAMES = ("cmd_startup", "cmd_auto", "cmd_manual", "cmd_remote", "cmd_safe", "cmd_summer",
                 "filled", "cold_done", "warm_done", "trip")

# The names a set_mode command may ask for, and the trigger each one fires.
COMMAND_MODES = {"startup": T_CMD_STARTUP, "auto": T_CMD_AUTO, "manual": T_CMD_MANUAL,
                 "remote": T_CMD_REMOTE, "safe": T_CMD_SAFE, "summer": T_CMD_SUMMER}

# Per mode, the trigger that enters it (or restarts it: the start-up modes restart at fill).
RETURN_TRIGGERS = (T_CMD_STARTUP, T_CMD_STARTUP, T_CMD_STARTUP, T_CMD_AUTO, T_CMD_MANUAL, T_CMD_REMOTE,
                   T_CMD_SAFE, T_CMD_SUMMER)

_STARTUP = (M_STARTUP_FILL, M_STARTUP_COLD, M_STARTUP_WARMUP)
_ALL = _STARTUP + (M_AUTO, M_MANUAL, M_REMOTE, M_SAFE, M_SUMMER)

TRANSITIONS = (
    # Rule 1: the season start-up sequence may begin from any mode but safe (clear safe first).
    ((M_AUTO, M_MANUAL, M_REMOTE, M_SUMMER), T_CMD_STARTUP, M_STARTUP_FILL),
    # Rule 2: fill -> cold circulation once the network holds its static pressure.
    ((M_STARTUP_FILL,), T_FILLED, M_STARTUP_COLD),
    # Rule 3: cold circulation -> warm-up after the circulation time with proven flow.
    ((M_STARTUP_COLD,), T_COLD_DONE, M_STARTUP_WARMUP),
    # Rule 4: warm-up -> run (auto) when the ramp has reached the curve's setpoint.
    ((M_STARTUP_WARMUP,), T_WARM_DONE, M_AUTO),
    # Rule 5: auto from anywhere (from safe only when no trip is latched: checked by the caller).
    (_STARTUP + (M_MANUAL, M_REMOTE, M_SAFE, M_SUMMER), T_CMD_AUTO, M_AUTO),
    # Rule 6: manual from anywhere (core.command_handler allows it only from the local panel).
    (_STARTUP + (M_AUTO, M_REMOTE, M_SAFE, M_SUMMER), T_CMD_MANUAL, M_MANUAL),
    # Rule 7: remote from anywhere (from safe only when no trip is latched).
    (_STARTUP + (M_AUTO, M_MANUAL, M_SAFE, M_SUMMER), T_CMD_REMOTE, M_REMOTE),
    # Rule 8: safe on request from anywhere.
    (_STARTUP + (M_AUTO, M_MANUAL, M_REMOTE, M_SUMMER), T_CMD_SAFE, M_SAFE),
    # Rule 9: a latched protective trip puts an unattended station in safe; a local operator in
    # manual keeps control (the interlock itself still holds the valve shut).
    (_STARTUP + (M_AUTO, M_REMOTE, M_SUMMER), T_TRIP, M_SAFE),
    # Rule 10: summer (heating off) on request from anywhere.
    (_STARTUP + (M_AUTO, M_MANUAL, M_REMOTE, M_SAFE), T_CMD_SUMMER, M_SUMMER),
)

DEFAULTS = {
    "initial_mode": "auto",
    "fill_confirm_s": 120.0,
    "fill_timeout_s": 14400.0,
    "cold_circulation_s": 3600.0,
    "warmup_rate_k_per_h": 10.0,
    "warmup_done_band_k": 2.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "initial_mode": ("startup", "auto", "remote", "safe", "summer"),
    "fill_confirm_s": (0, 3600, "s"),
    "fill_timeout_s": (60, 604800, "s"),
    "cold_circulation_s": (0, 604800, "s"),
    "warmup_rate_k_per_h": (0.5, 60, "K/h"),
    "warmup_done_band_k": (0.2, 20, "K"),
}


def validate(section) -> list:
    """Problems of the "modes" settings section."""
    return checks.section("modes", section, DEFAULTS, RANGES)


def _table() -> dict:
    table = {}
    for rule in TRANSITIONS:
        for source in rule[0]:
            table[source * N_TRIGGERS + rule[1]] = rule[2]
    return table


def heating_allowed(mode) -> bool:
    """True in the modes where the primary valve may be driven open by control."""
    return mode == _M_STARTUP_WARMUP or mode == _M_AUTO or mode == _M_MANUAL or mode == _M_REMOTE


def circulation_wanted(mode) -> bool:
    """True in the modes that run the circulation pumps (summer: only exercise and frost)."""
    return mode != _M_STARTUP_FILL and mode != _M_SUMMER


class ModeMachine:
    """Current mode, its entry time, and the timers of the start-up sequence."""

    def __init__(self, cfg: dict, now_s: float) -> None:
        name = cfg["initial_mode"]
        self.mode = M_STARTUP_FILL if name == "startup" else MODE_NAMES.index(name)
        self.entered_s = now_s
        self.table = _table()
        self.fill_confirm_s = float(cfg["fill_confirm_s"])
        self.fill_timeout_s = float(cfg["fill_timeout_s"])
        self.cold_circulation_s = float(cfg["cold_circulation_s"])
        self.warmup_rate_k_per_s = float(cfg["warmup_rate_k_per_h"]) / 3600.0
        self.warmup_done_band_k = float(cfg["warmup_done_band_k"])
        self.filled_since_s = -1.0
        self.cold_run_s = 0.0
        self.ramp_start_c = 20.0
        self.ramp_c = 20.0
        self.fill_timed_out = False
        self.events = []  # type: list

    def allowed(self, trigger) -> bool:
        """True when `trigger` has a row from the current mode."""
        return (self.mode * N_TRIGGERS + trigger) in self.table

    def fire(self, trigger, now_s: float, reason: str) -> bool:
        """Take the transition for `trigger` if the table has one; event with `reason`."""
        target = self.table.get(self.mode * N_TRIGGERS + trigger, -1)
        if target < 0:
            return False
        self.events.append({"kind": "mode", "reason": reason, "from": MODE_NAMES[self.mode],
                            "to": MODE_NAMES[target], "trigger": TRIGGER_NAMES[trigger], "at_s": now_s})
        self.mode = target
        self.entered_s = now_s
        self.filled_since_s = -1.0
        self.cold_run_s = 0.0
        self.fill_timed_out = False
        return True

    def update(self, now_s: float, dt_s: float, filled: bool, flow_proven: bool,
               supply_c: float, supply_ok: bool, target_c: float) -> None:
        """Advance the start-up sequence (fill, cold circulation, warm-up ramp)."""
        mode = self.mode
        if mode == _M_STARTUP_FILL:
            if filled:
                if self.filled_since_s < 0.0:
                    self.filled_since_s = now_s
                if now_s - self.filled_since_s >= self.fill_confirm_s:
                    self.fire(T_FILLED, now_s, "pressure_reached")
                    return
            else:
                self.filled_since_s = -1.0
            if now_s - self.entered_s >= self.fill_timeout_s:
                self.fill_timed_out = True
        elif mode == _M_STARTUP_COLD:
            if flow_proven:
                self.cold_run_s += dt_s
            if self.cold_run_s >= self.cold_circulation_s:
                if self.fire(T_COLD_DONE, now_s, "cold_circulation_done"):
                    self.ramp_start_c = supply_c if supply_ok else 20.0
                    self.ramp_c = self.ramp_start_c
        elif mode == _M_STARTUP_WARMUP:
            ramp = self.ramp_start_c + self.warmup_rate_k_per_s * (now_s - self.entered_s)
            if ramp >= target_c:
                ramp = target_c
                if not supply_ok or supply_c >= target_c - self.warmup_done_band_k:
                    self.ramp_c = ramp
                    self.fire(T_WARM_DONE, now_s, "warmup_complete")
                    return
            self.ramp_c = ramp

    def report_alarms(self, alarms: AlarmTable, now_s: float, signals: SignalQuality) -> None:
        """Feed the mode's alarms: start-up fill timed out, safe mode."""
        # An idle alarm staying idle needs no update() (core.alarms.BUSY_BITS: a test, not a call).
        k = _A_STARTUP_FILL_TIMEOUT
        if self.fill_timed_out or (alarms.busy >> k) & 1:
            alarms.update(k, self.fill_timed_out, signals.values[_I_SECONDARY_RETURN_PRESSURE], _NO_LIMIT, now_s)
        k = _A_SAFE_MODE
        if self.mode == _M_SAFE or (alarms.busy >> k) & 1:
            alarms.update(k, self.mode == _M_SAFE, 0.0, _NO_LIMIT, now_s)

    def snapshot(self, now_s: float) -> dict:
        return {"mode": self.mode, "age_s": now_s - self.entered_s, "cold_run_s": self.cold_run_s,
                "ramp_start_c": self.ramp_start_c}

    def restore(self, snap: object, now_s: float) -> None:
        if not isinstance(snap, dict):
            return
        mode = snap.get("mode")
        if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode < N_MODES:
            self.mode = mode
        if checks.is_number(snap.get("age_s")):
            self.entered_s = now_s - snap["age_s"]
        if checks.is_number(snap.get("cold_run_s")):
            self.cold_run_s = float(snap["cold_run_s"])
        if checks.is_number(snap.get("ramp_start_c")):
            self.ramp_start_c = float(snap["ramp_start_c"])
            self.ramp_c = self.ramp_start_c
