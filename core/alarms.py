# cython: wraparound=False, boundscheck=False, initializedcheck=False
# (compiled: no per-access index checks; every per-alarm array has n entries from __init__, the
# loops stay below n, indices from the code index are valid, and the entry points that take an
# alarm index from outside check it first.)
"""Alarms: the catalogue of station alarm codes and the table that runs them.

Each alarm is evaluated every cycle from a condition. A condition must hold for the alarm's
on-delay before the alarm is raised (so a one-cycle glitch raises nothing) and be gone for
`clear_delay_s` before it clears (time hysteresis; value hysteresis is in the conditions).

States (ISA-18.2 style):
    none -> active            condition held for the on-delay          event "raised"
    active -> acked           ack_alarm                                event "acked"
    active -> none            condition gone (non-latching)            event "cleared"
    active -> cleared_unacked condition gone (latching)                event "returned"
    acked -> none             condition gone                           event "cleared"
    cleared_unacked -> none   ack_alarm                                event "acked"
    cleared_unacked -> active condition back                           event "raised"
A latching alarm therefore stays listed until someone acknowledges it, and the protective
action tied to it (see core.interlocks) stays in force until then.

`alarm list` entries: {"code","severity","state","since_s","value","limit","text"}; `value` is
the reading when the alarm was raised and `limit` the threshold it was judged against then (in
the same unit), None for an alarm without a numeric limit (a fault input, a mode); alarm
events carry both too. The list is rebuilt only when a state changes.
"""

from array import array

from . import checks
from .signals import INPUTS

S_NONE = 0
S_ACTIVE = 1
S_ACKED = 2
S_CLEARED_UNACKED = 3
STATE_NAMES = ("none", "active", "acked", "cleared_unacked")

NO_LIMIT = float("nan")  # update()'s limit for an alarm judged against no number

# Private copies held as C numbers by the compiled module (alarms.pxd).
_NO_LIMIT = NO_LIMIT
_S_NONE = S_NONE
_S_ACTIVE = S_ACTIVE
_S_ACKED = S_ACKED
_S_CLEARED_UNACKED = S_CLEARED_UNACKED

SEVERITIES = ("critical", "major", "minor", "warning")

# Delay classes: which settings key gives the on-delay.
D_NONE = 0  # immediate (the protective action already acted)
D_PROCESS = 1  # alarms.delay_s
D_SENSOR = 2  # alarms.sensor_delay_s
D_DEVIATION = 3  # alarms.deviation_delay_s

# Process alarms: (code, severity, latching, delay class, text). Indices A_* below.
PROCESS_ALARMS = (
    ("secondary_overtemp", "critical", True, D_NONE, "secondary supply over temperature: primary valve closed"),
    ("pump_dry_run", "critical", True, D_NONE, "circulation pumps stopped: dry-run protection on low pressure"),
    ("pumps_all_failed", "critical", False, D_PROCESS, "no circulation pump running: primary valve closed"),
    ("pump1_fault", "major", False, D_NONE, "circulation pump 1 failed (fault input or no proof of flow)"),
    ("pump2_fault", "major", False, D_NONE, "circulation pump 2 failed (fault input or no proof of flow)"),
    ("pressure_high", "major", False, D_NONE, "secondary over pressure: relief open, make-up stopped"),
    ("pressure_low", "major", False, D_PROCESS, "secondary return pressure low"),
    ("makeup_pump_fault", "major", False, D_PROCESS, "make-up pump fault"),
    ("tank_level_low", "minor", False, D_PROCESS, "make-up tank level low"),
    ("tank_level_low_low", "major", False, D_PROCESS, "make-up tank level low-low: make-up pump stopped"),
    ("makeup_leak_rate", "major", False, D_NONE, "make-up rate above limit: network leak or illegal water draw"),
    ("makeup_long_run", "minor", False, D_NONE, "make-up pump running too long without reaching pressure"),
    ("supply_deviation_high", "minor", False, D_DEVIATION, "secondary supply far above setpoint"),
    ("supply_deviation_low", "minor", False, D_DEVIATION, "secondary supply far below setpoint"),
    ("valve_open_no_rise", "minor", False, D_PROCESS, "primary valve opening but supply temperature not rising"),
    ("valve_shut_rising", "major", False, D_PROCESS, "primary valve shut but supply temperature rising (passing valve)"),
    ("startup_fill_timeout", "major", False, D_NONE, "start-up: network not pressurised in time"),
    ("safe_mode", "major", False, D_NONE, "station in safe mode"),
    ("valve_position_mismatch", "major", False, D_NONE,
     "primary valve position feedback far from the command (stuck valve or actuator)"),
    ("branch_valve_unreachable", "minor", False, D_PROCESS,
     "building branch valve not answering: its position is held (core.balancing)"),
    ("branch_valve_stuck", "minor", False, D_PROCESS,
     "building branch valve position far from its command (stuck valve or actuator)"),
)
A_SECONDARY_OVERTEMP = 0
A_PUMP_DRY_RUN = 1
A_PUMPS_ALL_FAILED = 2
A_PUMP1_FAULT = 3
A_PUMP2_FAULT = 4
A_PRESSURE_HIGH = 5
A_PRESSURE_LOW = 6
A_MAKEUP_PUMP_FAULT = 7
A_TANK_LEVEL_LOW = 8
A_TANK_LEVEL_LOW_LOW = 9
A_MAKEUP_LEAK_RATE = 10
A_MAKEUP_LONG_RUN = 11
A_SUPPLY_DEVIATION_HIGH = 12
A_SUPPLY_DEVIATION_LOW = 13
A_VALVE_OPEN_NO_RISE = 14
A_VALVE_SHUT_RISING = 15
A_STARTUP_FILL_TIMEOUT = 16
A_SAFE_MODE = 17
A_VALVE_POSITION_MISMATCH = 18  # the valve loop already waited mismatch_delay_s
A_BRANCH_VALVE_UNREACHABLE = 19  # core.balancing already waited lost_s
A_BRANCH_VALVE_STUCK = 20  # core.balancing already waited stuck_s
N_PROCESS = 21
# Sensor alarms follow: index A_SENSOR0 + signal index, code "sensor_" + signal name.
A_SENSOR0 = N_PROCESS

# The alarms below BUSY_BITS (every process alarm: test_alarms checks) are also kept as bits of
# AlarmTable.busy: set while the alarm is listed or its condition is timing its on-delay. A piece
# reporting a false condition for an alarm whose bit is clear may skip update() (it would return
# at once): `if condition or (alarms.busy >> i) & 1: alarms.update(i, condition, ...)`, a test
# in C instead of a call per alarm per cycle. 30 bits: a small int on MicroPython too.
BUSY_BITS = 30
_BUSY_BITS = BUSY_BITS
_MAJOR_SENSORS = ("secondary_supply_temp_c", "secondary_return_pressure_kpa", "secondary_supply_pressure_kpa")


def catalogue() -> list:
    """Every alarm as (code, severity, latching, delay class, text), in index order."""
    rows = list(PROCESS_ALARMS)
    for name in INPUTS:
        severity = "major" if name in _MAJOR_SENSORS else "minor"
        rows.append(("sensor_" + name, severity, False, D_SENSOR, "sensor fault: " + name))
    return rows


CODES = tuple(row[0] for row in catalogue())

DEFAULTS = {
    "delay_s": 10.0,
    "sensor_delay_s": 5.0,
    "deviation_delay_s": 600.0,
    "clear_delay_s": 5.0,
    # supply_deviation_high/low: the closed-loop supply this far from its setpoint, judged only
    # at setpoints from deviation_min_setpoint_c up (below it the valve may sit on its seat)
    "deviation_k": 10.0,
    "deviation_min_setpoint_c": 30.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "delay_s": (0, 3600, "s"),
    "sensor_delay_s": (0, 3600, "s"),
    "deviation_delay_s": (0, 86400, "s"),
    "clear_delay_s": (0, 3600, "s"),
    "deviation_k": (2, 50, "K"),
    "deviation_min_setpoint_c": (20, 80, "degC"),
}


def validate(section) -> list:
    """Problems of the "alarms" settings section."""
    return checks.section("alarms", section, DEFAULTS, RANGES)


class AlarmTable:
    """State of every catalogue alarm; `events` collects this cycle's alarm events."""

    def __init__(self, cfg: dict) -> None:
        rows = catalogue()
        self.n = len(rows)
        self.codes = [r[0] for r in rows]
        self.severity = [r[1] for r in rows]
        self.latching = array("b", [1 if r[2] else 0 for r in rows])
        self.text = [r[4] for r in rows]
        delays = (0.0, float(cfg["delay_s"]), float(cfg["sensor_delay_s"]), float(cfg["deviation_delay_s"]))
        self.delay_s = array("d", [delays[r[3]] for r in rows])
        self.clear_delay_s = float(cfg["clear_delay_s"])
        self.index = {}
        for i in range(self.n):
            self.index[self.codes[i]] = i
        # Per-alarm state as typed arrays: the compiled cycle updates them without Python objects.
        self.state = array("b", [S_NONE] * self.n)
        self.since_s = array("d", [0.0] * self.n)
        self.value = array("d", [0.0] * self.n)
        self.limit = array("d", [_NO_LIMIT] * self.n)
        self.on_since_s = array("d", [-1.0] * self.n)
        self.off_since_s = array("d", [-1.0] * self.n)
        self.events = []  # type: list
        self.dirty = True
        self.listing = []  # type: list
        self.busy = 0  # bit i (i < BUSY_BITS): alarm i listed or timing its on-delay

    def update(self, i, condition: bool, value: float, limit: float, now_s: float) -> None:
        """Feed alarm i its condition for this cycle, with the reading it was judged on and
        the limit it was judged against (NO_LIMIT: none)."""
        if i < 0 or i >= self.n:
            raise IndexError("alarm index %d not in 0..%d" % (i, self.n - 1))
        state = self.state[i]
        if not condition and state == _S_NONE and self.on_since_s[i] < 0.0:
            return  # the common case: idle and staying idle
        if condition:
            self.off_since_s[i] = -1.0
            if state == _S_NONE or state == _S_CLEARED_UNACKED:
                if self.on_since_s[i] < 0.0:
                    self.on_since_s[i] = now_s
                if now_s - self.on_since_s[i] >= self.delay_s[i]:
                    self.state[i] = _S_ACTIVE
                    self.since_s[i] = now_s
                    self.value[i] = value
                    self.limit[i] = limit
                    self._event(i, "raised", now_s)
            self._track(i)
            return
        self.on_since_s[i] = -1.0
        if state == _S_ACTIVE or state == _S_ACKED:
            if self.off_since_s[i] < 0.0:
                self.off_since_s[i] = now_s
            if now_s - self.off_since_s[i] >= self.clear_delay_s:
                self.off_since_s[i] = -1.0
                if state == _S_ACKED or self.latching[i] == 0:
                    self.state[i] = _S_NONE
                    self._event(i, "cleared", now_s)
                else:
                    self.state[i] = _S_CLEARED_UNACKED
                    self._event(i, "returned", now_s)
        self._track(i)

    def _track(self, i) -> None:
        # alarm i's bit of `busy` from its state and on-delay timer
        if i < _BUSY_BITS:
            bit = 1
            bit = bit << i
            if self.state[i] != _S_NONE or self.on_since_s[i] >= 0.0:
                self.busy = self.busy | bit
            else:
                self.busy = self.busy & ~bit

    def ack(self, code: str, now_s: float) -> str:
        """Acknowledge by code; "" when done, else a reason code."""
        i = self.index.get(code, -1)
        if i < 0:
            return "unknown_alarm"
        state = self.state[i]
        if state == S_ACTIVE:
            self.state[i] = S_ACKED
        elif state == S_CLEARED_UNACKED:
            self.state[i] = S_NONE
        elif state == S_ACKED:
            return "already_acked"
        else:
            return "not_active"
        self._track(i)
        self._event(i, "acked", now_s)
        return ""

    def is_on(self, i) -> bool:
        """Listed in any state (active, acked or cleared but unacknowledged)."""
        if i < 0 or i >= self.n:
            raise IndexError("alarm index %d not in 0..%d" % (i, self.n - 1))
        return self.state[i] != S_NONE

    def limit_of(self, i) -> object:
        """Alarm i's limit as JSON wants it: a float, or None without one."""
        if i < 0 or i >= self.n:
            raise IndexError("alarm index %d not in 0..%d" % (i, self.n - 1))
        limit = self.limit[i]
        return limit if limit == limit else None

    def _event(self, i, reason: str, now_s: float) -> None:
        self.dirty = True
        self.events.append({"kind": "alarm", "reason": reason, "code": self.codes[i],
                            "severity": self.severity[i], "value": self.value[i], "limit": self.limit_of(i),
                            "at_s": now_s})

    def listing_now(self) -> list:
        """The alarm list (rebuilt only after a change; do not mutate it)."""
        if self.dirty:
            out = []  # type: list
            for i in range(self.n):
                if self.state[i] != S_NONE:
                    out.append({"code": self.codes[i], "severity": self.severity[i],
                                "state": STATE_NAMES[self.state[i]], "since_s": self.since_s[i],
                                "value": self.value[i], "limit": self.limit_of(i), "text": self.text[i]})
            self.listing = out
            self.dirty = False
        return self.listing

    def snapshot(self, now_s: float) -> list:
        """Listed alarms as [code, state, age_s, value, limit (None: none)]."""
        out = []  # type: list
        for i in range(self.n):
            if self.state[i] != S_NONE:
                out.append([self.codes[i], self.state[i], now_s - self.since_s[i], self.value[i], self.limit_of(i)])
        return out

    def restore(self, rows: object, now_s: float) -> None:
        if not isinstance(rows, list):
            return
        for row in rows:
            # Rows of four (no limit) come from snapshots taken before limits were kept.
            if not isinstance(row, list) or (len(row) != 4 and len(row) != 5):
                continue
            i = self.index.get(row[0], -1)
            if i < 0 or row[1] not in (S_ACTIVE, S_ACKED, S_CLEARED_UNACKED):
                continue
            if not checks.is_number(row[2]) or not checks.is_number(row[3]):
                continue
            self.state[i] = row[1]
            self.since_s[i] = now_s - row[2]
            self.value[i] = float(row[3])
            self.limit[i] = float(row[4]) if len(row) == 5 and checks.is_number(row[4]) else _NO_LIMIT
            self._track(i)
        self.dirty = True
