# cython: wraparound=False, boundscheck=False, initializedcheck=False
# (compiled: no per-access index checks; every state array has N_SIGNALS entries from __init__,
# the loops stay below N_SIGNALS, and the two entry points that take an index or arrays from
# outside check them first.)
"""Signal quality: every input checked for range, loss (stale), a frozen value and an
implausible rate of change, before any control code sees it.

Per signal the validator keeps the last good value. A reading that is lost, out of range or
jumps faster than physics allows is replaced by the last good value for at most `stale_s`
(quality HELD, still usable); after that the signal is BAD (`ok` false) and its consumers
fall back. A jump that persists for `spike_hold_s` is accepted as a real step. A temperature
that has not changed by a single bit for `frozen_s` is BAD (a dead transmitter repeats its
last value). The validated image is `values[i]` / `ok[i]` indexed by the I_* constants, in
the order of core.signals.INPUTS.

Invariant: `update` is total. Any garbage in `inputs` (missing names, wrong types, NaN)
makes that signal not ok; nothing raises.
"""

from array import array

from . import checks
from .alarms import A_SENSOR0, NO_LIMIT, S_NONE, AlarmTable
from .signals import INPUTS

# Indices into the validated image (same order as core.signals.INPUTS).
I_OUTDOOR_TEMP = 0
I_PRIMARY_SUPPLY_TEMP = 1
I_PRIMARY_RETURN_TEMP = 2
I_PRIMARY_SUPPLY_PRESSURE = 3
I_PRIMARY_RETURN_PRESSURE = 4
I_SECONDARY_SUPPLY_TEMP = 5
I_SECONDARY_RETURN_TEMP = 6
I_SECONDARY_SUPPLY_PRESSURE = 7
I_SECONDARY_RETURN_PRESSURE = 8
I_VALVE_POSITION = 9
I_HEAT_POWER = 10
I_PRIMARY_FLOW = 11
I_HEAT_ENERGY = 12
I_PUMP1_RUNNING = 13
I_PUMP1_FAULT = 14
I_PUMP1_SPEED = 15
I_PUMP2_RUNNING = 16
I_PUMP2_FAULT = 17
I_PUMP2_SPEED = 18
I_MAKEUP_PUMP_RUNNING = 19
I_MAKEUP_PUMP_FAULT = 20
I_MAKEUP_VOLUME = 21
I_TANK_LEVEL = 22
I_ELECTRICITY = 23
N_SIGNALS = 24

# Quality of a validated signal.
Q_GOOD = 0
Q_HELD = 1  # last good value stands in; still ok
Q_BAD = 2
QUALITY_NAMES = ("good", "held", "bad")

# Why a signal is not good.
R_NONE = 0
R_MISSING = 1  # absent, not ok at the boundary, or not a number
R_RANGE = 2
R_RATE = 3
R_FROZEN = 4
REASON_NAMES = ("", "missing", "out_of_range", "rate_of_change", "frozen")

# Private copies the compiled module holds as C ints (sensors.pxd), for the per-cycle loop.
_R_NONE = R_NONE
_R_MISSING = R_MISSING
_R_RANGE = R_RANGE
_R_RATE = R_RATE
_R_FROZEN = R_FROZEN
_Q_GOOD = Q_GOOD
_Q_HELD = Q_HELD
_Q_BAD = Q_BAD
_N_SIGNALS = N_SIGNALS
_A_SENSOR0 = A_SENSOR0
_S_NONE = S_NONE
_NO_LIMIT = NO_LIMIT

# Kinds decide which checks apply.
K_TEMP = 0
K_PRESSURE = 1
K_BINARY = 2
K_OTHER = 3

# Signals whose loss is always alarmed; others alarm only once they have been seen ok
# (a station without a heat meter must not alarm for it forever).
ESSENTIAL = (I_SECONDARY_SUPPLY_TEMP, I_SECONDARY_RETURN_PRESSURE)

DEFAULTS = {
    "stale_s": 30.0,
    "frozen_s": 21600.0,
    "spike_hold_s": 10.0,
    "outdoor_min_c": -50.0,
    "outdoor_max_c": 50.0,
    "temp_min_c": -20.0,
    "temp_max_c": 150.0,
    "pressure_max_kpa": 2500.0,
    "temp_rate_k_per_s": 5.0,
    "pressure_rate_kpa_per_s": 500.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "stale_s": (0, 3600, "s"),
    "frozen_s": (0, 604800, "s"),
    "spike_hold_s": (0, 600, "s"),
    "outdoor_min_c": (-70, 0, "degC"),
    "outdoor_max_c": (10, 70, "degC"),
    "temp_min_c": (-60, 20, "degC"),
    "temp_max_c": (90, 250, "degC"),
    "pressure_max_kpa": (100, 10000, "kPa"),
    "temp_rate_k_per_s": (0, 100, "K/s"),
    "pressure_rate_kpa_per_s": (0, 10000, "kPa/s"),
}


def validate(section) -> list:
    """Problems of the "sensors" settings section (empty when fine)."""
    return checks.section("sensors", section, DEFAULTS, RANGES)


def _kind(name: str) -> int:
    if name.endswith("_temp_c"):
        return K_TEMP
    if name.endswith("_pressure_kpa"):
        return K_PRESSURE
    if name.endswith("_running") or name.endswith("_fault"):
        return K_BINARY
    return K_OTHER


def _limits(name: str, kind, cfg: dict) -> tuple:
    """(low, high, rate per s; 0 = no rate check) for one signal."""
    if name == "outdoor_temp_c":
        return (float(cfg["outdoor_min_c"]), float(cfg["outdoor_max_c"]), float(cfg["temp_rate_k_per_s"]))
    if kind == K_TEMP:
        return (float(cfg["temp_min_c"]), float(cfg["temp_max_c"]), float(cfg["temp_rate_k_per_s"]))
    if kind == K_PRESSURE:
        return (-50.0, float(cfg["pressure_max_kpa"]), float(cfg["pressure_rate_kpa_per_s"]))
    if kind == K_BINARY:
        return (0.0, 1.0, 0.0)
    if name.endswith("_pct"):
        return (-5.0, 105.0, 0.0)
    # Meters: power, flow and totalisers are non-negative; totalisers may be large.
    return (0.0, 1.0e12, 0.0)


def _doubles(value, n):
    return array("d", [value] * n)


def _flags(value, n):
    return array("b", [1 if value else 0] * n)


class SignalQuality:
    """Validated process image: `values`, `ok`, `quality`, `reason` arrays by signal index.

    The per-signal state lives in typed arrays (array module: CPython and MicroPython), so the
    compiled cycle touches no Python objects. `update(inputs, now_s)` takes the dict image of
    core.signals; `update_image(values, oks, now_s)` takes the same image as two arrays in
    INPUTS order (a double and an ok flag per signal) and runs the same checks.
    """

    def __init__(self, cfg: dict) -> None:
        self.names = list(INPUTS)
        self.low = _doubles(0.0, N_SIGNALS)
        self.high = _doubles(0.0, N_SIGNALS)
        self.rate = _doubles(0.0, N_SIGNALS)
        self.frozen_check = _flags(False, N_SIGNALS)
        self.essential = _flags(False, N_SIGNALS)
        for i in range(N_SIGNALS):
            name = self.names[i]
            kind = _kind(name)
            lim = _limits(name, kind, cfg)
            self.low[i] = lim[0]
            self.high[i] = lim[1]
            self.rate[i] = lim[2]
            self.frozen_check[i] = 1 if kind == K_TEMP else 0
            self.essential[i] = 1 if i in ESSENTIAL else 0
        self.stale_s = float(cfg["stale_s"])
        self.frozen_s = float(cfg["frozen_s"])
        self.spike_hold_s = float(cfg["spike_hold_s"])
        self.values = _doubles(0.0, N_SIGNALS)
        self.ok = _flags(False, N_SIGNALS)
        self.quality = array("b", [Q_BAD] * N_SIGNALS)
        self.reason = array("b", [R_MISSING] * N_SIGNALS)
        self.raw = _doubles(0.0, N_SIGNALS)  # last raw numeric reading (alarm value)
        self.good_at_s = _doubles(-1.0, N_SIGNALS)  # time of the last good reading, -1 never
        self.changed_at_s = _doubles(-1.0, N_SIGNALS)  # time the raw value last changed
        self.frozen_ref = _doubles(0.0, N_SIGNALS)  # the raw value at that change
        self.spike_since_s = _doubles(-1.0, N_SIGNALS)
        self.seen = _flags(False, N_SIGNALS)  # ever ok since start (or restored)
        self.n_bad = N_SIGNALS  # signals BAD after the last update
        self.alarms_busy = True  # a sensor alarm may be pending or listed (report_alarms)
        # update_bound()'s arrays (bind_image): a caller that refills the same two arrays each
        # cycle hands them over once instead of with every cycle
        self.in_values = _doubles(0.0, N_SIGNALS)
        self.in_oks = _flags(False, N_SIGNALS)
        self.bound = False

    def update(self, inputs: dict, now_s: float) -> None:
        """Validate one cycle's inputs (a dict of name -> (value, ok)) at time now_s."""
        names = self.names
        self.n_bad = 0
        i = 0
        while i < _N_SIGNALS:
            item = inputs.get(names[i])
            if (type(item) is tuple or type(item) is list) and len(item) == 2 and item[1]:
                raw = item[0]
                if type(raw) is float or (type(raw) is int) or type(raw) is bool:
                    self._check(i, float(raw), True, now_s)
                else:
                    self._check(i, 0.0, False, now_s)
            else:
                self._check(i, 0.0, False, now_s)
            i += 1

    def update_image(self, values, oks, now_s: float) -> None:
        """Validate one cycle's image given as arrays in INPUTS order: `values[i]` (a float)
        and `oks[i]` (non-zero when the boundary read it); same checks as update()."""
        if len(values) < _N_SIGNALS or len(oks) < _N_SIGNALS:
            raise IndexError("update_image: values and oks need %d entries (INPUTS order), got %d and %d"
                             % (_N_SIGNALS, len(values), len(oks)))
        self.n_bad = 0
        n = _N_SIGNALS  # a local bound: the stores in _check cannot change it
        i = 0
        while i < n:
            self._check(i, values[i], oks[i] != 0, now_s)
            i += 1

    def bind_image(self, values, oks) -> None:
        """Keep `values` and `oks` (update_image's arrays, INPUTS order) for update_bound()."""
        if len(values) < _N_SIGNALS or len(oks) < _N_SIGNALS:
            raise IndexError("bind_image: values and oks need %d entries (INPUTS order), got %d and %d"
                             % (_N_SIGNALS, len(values), len(oks)))
        self.in_values = values
        self.in_oks = oks
        self.bound = True

    def update_bound(self, now_s: float) -> None:
        """update_image() on the arrays given to bind_image(), as they are now."""
        if not self.bound:
            raise IndexError("update_bound: no arrays bound (bind_image first)")
        self.n_bad = 0
        n = _N_SIGNALS
        # Signals that were good and stay good run through _run_good (no call, no byte store:
        # the compiled loop keeps its arrays at hand); any other one takes _check as always.
        i = self._run_good(0, now_s)
        while i < n:
            self._check(i, self.in_values[i], self.in_oks[i] != 0, now_s)
            i = self._run_good(i + 1, now_s)

    def _run_good(self, i, now_s: float) -> int:
        # _check()'s good path for signals i, i+1, ... of the bound arrays that were GOOD and
        # stay good: every condition is tested before anything is stored, and the first signal
        # that needs more (lost, out of range, frozen, a jump, not GOOD before) is returned
        # untouched for _check (N_SIGNALS when none). The same stores as _check's good path
        # (the spike timer's aside: it is -1 on every GOOD signal).
        # Every entry every signal uses is read first: the compiled loop then finds each of
        # those arrays once per call instead of once per signal (the frozen check's two, read
        # for temperatures only, are looked up where they are used).
        n = _N_SIGNALS
        frozen_s = self.frozen_s
        while i < n:
            v = self.in_values[i]
            present = self.in_oks[i]
            quality = self.quality[i]
            low = self.low[i]
            high = self.high[i]
            frozen_check = self.frozen_check[i]
            good_at = self.good_at_s[i]
            rate = self.rate[i]
            last = self.values[i]
            # one test for lost (NaN compares false) and out of range: this path only decides
            # whether _check is needed, and _check tells the two apart
            if present == 0 or quality != _Q_GOOD or not (v >= low and v <= high):
                return i
            moved = False
            if frozen_check and frozen_s > 0.0:
                changed_at = self.changed_at_s[i]
                if v != self.frozen_ref[i] or changed_at < 0.0:
                    moved = True
                elif now_s - changed_at >= frozen_s:
                    return i
            if rate > 0.0 and good_at >= 0.0:
                dt = now_s - good_at
                if dt < 1.0:
                    dt = 1.0
                step = abs(v - last)  # fabs compiled: no branch on the noise's sign
                if step > rate * dt:
                    return i
            self.raw[i] = v
            if moved:
                self.frozen_ref[i] = v
                self.changed_at_s[i] = now_s
            # spike_since_s[i] is -1 already: only _check's good path sets GOOD, and it sets the
            # timer to -1 then (a jump that starts the timer leaves the signal HELD or BAD until
            # that path accepts it).
            self.values[i] = v
            self.good_at_s[i] = now_s
            i += 1
        return n

    def _check(self, i, v: float, present: bool, now_s: float) -> None:
        # The good path runs straight through; each fault leaves at once through _fault (the
        # checks in the same order as always: lost, range, frozen, rate).
        if not present or v != v:
            self._fault(i, _R_MISSING, now_s)
            return
        self.raw[i] = v
        if v < self.low[i] or v > self.high[i]:
            self._fault(i, _R_RANGE, now_s)
            return
        if self.frozen_check[i] and self.frozen_s > 0.0:
            if v != self.frozen_ref[i] or self.changed_at_s[i] < 0.0:
                self.frozen_ref[i] = v
                self.changed_at_s[i] = now_s
            elif now_s - self.changed_at_s[i] >= self.frozen_s:
                self._fault(i, _R_FROZEN, now_s)
                return
        good_at = self.good_at_s[i]
        rate = self.rate[i]
        if rate > 0.0 and good_at >= 0.0:
            dt = now_s - good_at
            if dt < 1.0:
                dt = 1.0
            step = abs(v - self.values[i])
            if step > rate * dt:
                if self.spike_since_s[i] < 0.0:
                    self.spike_since_s[i] = now_s
                if now_s - self.spike_since_s[i] < self.spike_hold_s:
                    self._fault(i, _R_RATE, now_s)
                    return
        # good (also a step within the rate: the spike timer ends here)
        self.spike_since_s[i] = -1.0
        self.values[i] = v
        self.good_at_s[i] = now_s
        # Quality GOOD is set only here, together with ok, reason and seen: a signal that was
        # good last cycle already has all four (most cycles write nothing more).
        if self.quality[i] != _Q_GOOD:
            self.ok[i] = 1
            self.quality[i] = _Q_GOOD
            self.reason[i] = _R_NONE
            self.seen[i] = 1

    def _fault(self, i, reason, now_s: float) -> None:
        # Signal i failed a check: HELD on its last good value while that is fresh enough
        # (never for a frozen signal), else BAD.
        self.reason[i] = reason
        good_at = self.good_at_s[i]
        if reason != _R_FROZEN and good_at >= 0.0 and now_s - good_at <= self.stale_s:
            self.ok[i] = 1
            self.quality[i] = _Q_HELD
            return
        self.ok[i] = 0
        self.quality[i] = _Q_BAD
        self.n_bad += 1

    def alarm_condition(self, i) -> bool:
        """True when signal i is BAD and worth an alarm (essential, or seen ok before)."""
        if i < 0 or i >= _N_SIGNALS:
            raise IndexError("alarm_condition: signal index %d not in 0..%d" % (i, _N_SIGNALS - 1))
        return self.quality[i] == _Q_BAD and (self.seen[i] != 0 or self.essential[i] != 0)

    def report_alarms(self, alarms: AlarmTable, now_s: float) -> None:
        """Feed the sensor alarms (one per signal: BAD and worth an alarm, alarm_condition); the
        value is the last raw reading, the limit the range limit it broke (none for a lost,
        frozen or jumping signal)."""
        # With every signal not BAD and every sensor alarm idle, each update would return at
        # once; skip the loop then (it costs a third of the cycle).
        if self.n_bad == 0 and not self.alarms_busy:
            return
        busy = False
        i = 0
        while i < _N_SIGNALS:
            k = _A_SENSOR0 + i
            condition = self.alarm_condition(i)
            limit = _NO_LIMIT
            if condition and self.reason[i] == _R_RANGE:
                limit = self.high[i] if self.raw[i] > self.high[i] else self.low[i]
            alarms.update(k, condition, self.raw[i], limit, now_s)
            if alarms.state[k] != _S_NONE or alarms.on_since_s[k] >= 0.0:
                busy = True
            i += 1
        self.alarms_busy = busy

    def snapshot(self) -> dict:
        return {"seen": [n for n, s in zip(self.names, self.seen) if s]}

    def restore(self, snap: object) -> None:
        seen = snap.get("seen") if isinstance(snap, dict) else None
        if isinstance(seen, list):
            for i in range(N_SIGNALS):
                if self.names[i] in seen:
                    self.seen[i] = 1
