# cython: wraparound=False, boundscheck=False, initializedcheck=False
# (compiled: no per-access index checks; the signals are read by constant indices below
# N_SIGNALS, and the leak window's bucket number is checked against its list before each use.)
"""Make-up water and pressure holding (定压补水) on the secondary return pressure.

Two ways to hold the static pressure, chosen by `control`:
    "band"  start the make-up pump below P2 = setpoint - band/2, stop at P1 = setpoint + band/2
            (vendor practice: P1 = P2 + 0.03...0.05 MPa)
    "vsd"   start below P2, speed by PI on the setpoint, stop at P1
The relief valve opens at P3 = P1 + relief_margin_kpa (vendor practice: + 0.02...0.04 MPa)
and closes again at P1. Tank level: below `tank_low_pct` an alarm, below `tank_low_low_pct`
the make-up pump stops (dry-run of the make-up pump) until the level is back above it by
`tank_hyst_pct`. Without a valid return pressure the pump stays off (no blind filling).

Make-up volume is totalised from the water meter (a reset or jump re-bases the count); with
no meter, from the pump's run time at `nominal_flow_m3h`. The leak rate is the volume over a
rolling window (60 buckets over `leak_window_s`) in litres per hour; above
`network_volume_m3 * leak_alarm_pct_per_h %` per hour it is a leak or an illegal water draw.
Until the window covers a quarter of `leak_window_s` (after a start, or a clock leap that
emptied it) there is no rate yet: `rate_measuring` is true and no leak is judged.
Volume while the network is being filled (start-up) is totalised but not counted as leakage.
"""

from . import checks
from .alarms import (
    A_MAKEUP_LEAK_RATE,
    A_MAKEUP_LONG_RUN,
    A_MAKEUP_PUMP_FAULT,
    A_TANK_LEVEL_LOW,
    A_TANK_LEVEL_LOW_LOW,
    NO_LIMIT,
    AlarmTable,
)
from .sensors import (
    I_MAKEUP_PUMP_FAULT,
    I_MAKEUP_PUMP_RUNNING,
    I_MAKEUP_VOLUME,
    I_SECONDARY_RETURN_PRESSURE,
    I_TANK_LEVEL,
    SignalQuality,
)

# Signal indices held as C ints by the compiled module (make_up.pxd).
_I_MAKEUP_PUMP_FAULT = I_MAKEUP_PUMP_FAULT
_I_MAKEUP_PUMP_RUNNING = I_MAKEUP_PUMP_RUNNING
_I_MAKEUP_VOLUME = I_MAKEUP_VOLUME
_I_SECONDARY_RETURN_PRESSURE = I_SECONDARY_RETURN_PRESSURE
_I_TANK_LEVEL = I_TANK_LEVEL
# Alarm indices held as C ints by the compiled module (make_up.pxd).
_A_MAKEUP_LEAK_RATE = A_MAKEUP_LEAK_RATE
_A_MAKEUP_LONG_RUN = A_MAKEUP_LONG_RUN
_A_MAKEUP_PUMP_FAULT = A_MAKEUP_PUMP_FAULT
_A_TANK_LEVEL_LOW = A_TANK_LEVEL_LOW
_A_TANK_LEVEL_LOW_LOW = A_TANK_LEVEL_LOW_LOW
_NO_LIMIT = NO_LIMIT


CONTROLS = ("band", "vsd")
N_BUCKETS = 60

DEFAULTS = {
    "control": "band",
    "pressure_setpoint_kpa": 250.0,
    "band_kpa": 40.0,
    "relief_margin_kpa": 30.0,
    "kp_pct_per_kpa": 2.0,
    "ti_s": 60.0,
    "speed_min_pct": 20.0,
    "tank_low_pct": 30.0,
    "tank_low_low_pct": 10.0,
    "tank_hyst_pct": 5.0,
    "network_volume_m3": 200.0,
    "leak_alarm_pct_per_h": 0.5,
    "leak_window_s": 3600.0,
    "nominal_flow_m3h": 2.0,
    "max_run_s": 1800.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "control": CONTROLS,
    "pressure_setpoint_kpa": (50, 1600, "kPa"),
    "band_kpa": (10, 200, "kPa"),
    "relief_margin_kpa": (10, 200, "kPa"),
    "kp_pct_per_kpa": (0.01, 100, "%/kPa"),
    "ti_s": (1, 3600, "s"),
    "speed_min_pct": (0, 100, "%"),
    "tank_low_pct": (0, 100, "%"),
    "tank_low_low_pct": (0, 100, "%"),
    "tank_hyst_pct": (0, 50, "%"),
    "network_volume_m3": (1, 1000000, "m3"),
    "leak_alarm_pct_per_h": (0.01, 100, "%/h"),
    "leak_window_s": (600, 86400, "s"),
    "nominal_flow_m3h": (0.1, 1000, "m3/h"),
    "max_run_s": (60, 86400, "s"),
}


def validate(section) -> list:
    """Problems of the "make_up" settings section."""
    p = checks.section("make_up", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return p
    s = checks.merged(DEFAULTS, section)
    checks.order(p, "make_up", s, "tank_low_low_pct", "tank_low_pct", "%")
    return p


class MakeUp:
    """Pressure holding, relief, tank protection, totaliser and leak rate."""

    def __init__(self, cfg: dict, now_s: float) -> None:
        self.vsd = cfg["control"] == "vsd"
        self.setpoint_kpa = float(cfg["pressure_setpoint_kpa"])
        self.band_kpa = float(cfg["band_kpa"])
        self.relief_margin_kpa = float(cfg["relief_margin_kpa"])
        self.kp = float(cfg["kp_pct_per_kpa"])
        self.ti_s = float(cfg["ti_s"])
        self.speed_min_pct = float(cfg["speed_min_pct"])
        self.tank_low_pct = float(cfg["tank_low_pct"])
        self.tank_low_low_pct = float(cfg["tank_low_low_pct"])
        self.tank_hyst_pct = float(cfg["tank_hyst_pct"])
        self.leak_limit_l_per_h = float(cfg["network_volume_m3"]) * 1000.0 * float(cfg["leak_alarm_pct_per_h"]) / 100.0
        self.window_s = float(cfg["leak_window_s"])
        self.bucket_s = self.window_s / N_BUCKETS
        self.nominal_flow_m3h = float(cfg["nominal_flow_m3h"])
        self.max_run_s = float(cfg["max_run_s"])
        self.run = False
        self.speed_pct = 0.0
        self.integral_pct = 50.0
        self.relief_open = False
        self.run_since_s = -1.0
        self.long_run = False
        self.tank_low = False
        self.tank_low_low = False
        self.pump_fault = False
        self.pressure_ok = False
        self.start_kpa = 0.0
        self.stop_kpa = 0.0
        self.total_m3 = 0.0
        self.meter_last_m3 = -1.0
        self.volume_estimated = False
        self.buckets = [0.0] * N_BUCKETS
        self.bucket_i = 0
        self.bucket_start_s = now_s
        self.window_start_s = now_s
        self.window_m3 = 0.0
        self.rate_l_per_h = 0.0
        self.rate_measuring = True  # the window does not cover enough time for a rate yet
        self.leak = False
        self.events = []  # type: list

    def step(self, now_s: float, dt_s: float, signals: SignalQuality, setpoint_kpa: float, filling: bool) -> None:
        """One cycle; `setpoint_kpa` is the lease or the configured value, `filling` true in
        start-up fill (volume not counted as leakage)."""
        self._tank(signals.ok[_I_TANK_LEVEL], signals.values[_I_TANK_LEVEL])
        self.pump_fault = signals.ok[_I_MAKEUP_PUMP_FAULT] and signals.values[_I_MAKEUP_PUMP_FAULT] > 0.5
        self.setpoint_kpa = setpoint_kpa
        half = self.band_kpa * 0.5
        self.start_kpa = setpoint_kpa - half
        self.stop_kpa = setpoint_kpa + half
        self.pressure_ok = signals.ok[_I_SECONDARY_RETURN_PRESSURE]
        pressure_kpa = signals.values[_I_SECONDARY_RETURN_PRESSURE]
        run = self.run
        if not self.pressure_ok or self.pump_fault or self.tank_low_low:
            run = False
            self.relief_open = False
        else:
            if pressure_kpa < self.start_kpa:
                run = True
            elif pressure_kpa >= self.stop_kpa:
                run = False
            if pressure_kpa >= self.stop_kpa + self.relief_margin_kpa:
                if not self.relief_open:
                    self.events.append({"kind": "make_up", "reason": "relief_open", "pressure_kpa": pressure_kpa, "at_s": now_s})
                self.relief_open = True
            elif pressure_kpa <= self.stop_kpa and self.relief_open:
                self.relief_open = False
                self.events.append({"kind": "make_up", "reason": "relief_closed", "pressure_kpa": pressure_kpa, "at_s": now_s})
        if run and not self.run:
            self.run_since_s = now_s
            self.integral_pct = 50.0
        self.run = run
        if not run:
            self.run_since_s = -1.0
            self.speed_pct = 0.0
        elif self.vsd:
            err = setpoint_kpa - pressure_kpa
            integral = self.integral_pct + self.kp * err * dt_s / self.ti_s
            integral = 100.0 if integral > 100.0 else (self.speed_min_pct if integral < self.speed_min_pct else integral)
            self.integral_pct = integral
            cmd = integral + self.kp * err
            self.speed_pct = 100.0 if cmd > 100.0 else (self.speed_min_pct if cmd < self.speed_min_pct else cmd)
        else:
            self.speed_pct = 100.0
        self.long_run = run and now_s - self.run_since_s >= self.max_run_s
        running = signals.ok[_I_MAKEUP_PUMP_RUNNING] and signals.values[_I_MAKEUP_PUMP_RUNNING] > 0.5 if signals.ok[_I_MAKEUP_PUMP_RUNNING] else run
        self._totalise(now_s, dt_s, signals.ok[_I_MAKEUP_VOLUME], signals.values[_I_MAKEUP_VOLUME], running, filling)

    def _tank(self, level_ok: bool, level_pct: float) -> None:
        if not level_ok:
            return  # the sensor alarm reports it; keep the last decision rather than guess
        if level_pct < self.tank_low_low_pct:
            self.tank_low_low = True
        elif level_pct >= self.tank_low_low_pct + self.tank_hyst_pct:
            self.tank_low_low = False
        if level_pct < self.tank_low_pct:
            self.tank_low = True
        elif level_pct >= self.tank_low_pct + self.tank_hyst_pct:
            self.tank_low = False

    def _check_bucket(self) -> None:
        # compiled without index checks: the bucket number must fall inside the list
        if self.bucket_i < 0 or self.bucket_i >= len(self.buckets):
            raise IndexError("make-up leak window: bucket %d not in 0..%d" % (self.bucket_i, len(self.buckets) - 1))

    def _totalise(self, now_s: float, dt_s: float, meter_ok: bool, meter_m3: float, running: bool,
                  filling: bool) -> None:
        added = 0.0
        if meter_ok:
            self.volume_estimated = False
            if self.meter_last_m3 >= 0.0:
                added = meter_m3 - self.meter_last_m3
                # A meter reset or replacement, or a jump beyond ten times the pump's capacity
                # over the cycle plus ten minutes, re-bases the count.
                if added < 0.0 or added > self.nominal_flow_m3h * 10.0 * (dt_s + 600.0) / 3600.0:
                    self.events.append({"kind": "make_up", "reason": "meter_rebased", "meter_m3": meter_m3,
                                        "at_s": now_s})
                    added = 0.0
            self.meter_last_m3 = meter_m3
        else:
            self.volume_estimated = True
            if running:
                added = self.nominal_flow_m3h * dt_s / 3600.0
        self.total_m3 += added
        # Rolling window: advance whole buckets (a leaping clock empties several at once).
        n = 0
        while now_s - self.bucket_start_s >= self.bucket_s and n < N_BUCKETS:
            self.bucket_i = (self.bucket_i + 1) % N_BUCKETS
            self._check_bucket()
            self.window_m3 -= self.buckets[self.bucket_i]
            self.buckets[self.bucket_i] = 0.0
            self.bucket_start_s += self.bucket_s
            n += 1
        if now_s - self.bucket_start_s >= self.bucket_s:
            self.bucket_start_s = now_s
            self.window_m3 = 0.0
        if not filling and added > 0.0:
            self._check_bucket()
            self.buckets[self.bucket_i] += added
            self.window_m3 += added
        if self.window_m3 < 0.0:
            self.window_m3 = 0.0
        covered_s = now_s - self.window_start_s
        if covered_s > self.window_s:
            covered_s = self.window_s
        self.rate_measuring = covered_s < self.window_s * 0.25
        if not self.rate_measuring:
            self.rate_l_per_h = self.window_m3 * 1000.0 * 3600.0 / covered_s
            if self.rate_l_per_h > self.leak_limit_l_per_h:
                self.leak = True
            elif self.rate_l_per_h < 0.8 * self.leak_limit_l_per_h:
                self.leak = False
        else:
            self.rate_l_per_h = 0.0
            self.leak = False

    def report_alarms(self, alarms: AlarmTable, now_s: float, signals: SignalQuality) -> None:
        """Feed the make-up alarms: pump fault, tank level low and low-low, leak rate, long run
        (its value the run time in s against max_run_s)."""
        level_pct = signals.values[_I_TANK_LEVEL]
        run_s = now_s - self.run_since_s if self.run_since_s >= 0.0 else 0.0
        # An idle alarm staying idle needs no update() (core.alarms.BUSY_BITS: a test, not a call).
        k = _A_MAKEUP_PUMP_FAULT
        if self.pump_fault or (alarms.busy >> k) & 1:
            alarms.update(k, self.pump_fault, 1.0, _NO_LIMIT, now_s)
        k = _A_TANK_LEVEL_LOW
        if self.tank_low or (alarms.busy >> k) & 1:
            alarms.update(k, self.tank_low, level_pct, self.tank_low_pct, now_s)
        k = _A_TANK_LEVEL_LOW_LOW
        if self.tank_low_low or (alarms.busy >> k) & 1:
            alarms.update(k, self.tank_low_low, level_pct, self.tank_low_low_pct, now_s)
        k = _A_MAKEUP_LEAK_RATE
        if self.leak or (alarms.busy >> k) & 1:
            alarms.update(k, self.leak, self.rate_l_per_h, self.leak_limit_l_per_h, now_s)
        k = _A_MAKEUP_LONG_RUN
        if self.long_run or (alarms.busy >> k) & 1:
            alarms.update(k, self.long_run, run_s, self.max_run_s, now_s)

    def snapshot(self, now_s: float) -> dict:
        return {"total_m3": self.total_m3, "meter_last_m3": self.meter_last_m3,
                "buckets": list(self.buckets), "bucket_i": self.bucket_i,
                "bucket_age_s": now_s - self.bucket_start_s,
                "window_age_s": now_s - self.window_start_s, "tank_low_low": self.tank_low_low}

    def restore(self, snap: object, now_s: float) -> None:
        if not isinstance(snap, dict):
            return
        if checks.is_number(snap.get("total_m3")):
            self.total_m3 = float(snap["total_m3"])
        if checks.is_number(snap.get("meter_last_m3")):
            self.meter_last_m3 = float(snap["meter_last_m3"])
        buckets = snap.get("buckets")
        bucket_i = snap.get("bucket_i")
        if (isinstance(buckets, list) and len(buckets) == N_BUCKETS and isinstance(bucket_i, int)
                and 0 <= bucket_i < N_BUCKETS and checks.is_number(snap.get("bucket_age_s"))
                and checks.is_number(snap.get("window_age_s"))):
            total = 0.0
            for i in range(N_BUCKETS):
                b = buckets[i]
                self.buckets[i] = float(b) if checks.is_number(b) and b > 0 else 0.0
                total += self.buckets[i]
            self.bucket_i = bucket_i
            self.bucket_start_s = now_s - snap["bucket_age_s"]
            self.window_start_s = now_s - snap["window_age_s"]
            self.window_m3 = total
        self.tank_low_low = snap.get("tank_low_low") is True
