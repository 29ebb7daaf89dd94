# cython: wraparound=False, boundscheck=False, initializedcheck=False
"""Circulation pumps: duty/standby with proof of flow, change-over, rotation, exercise,
differential-pressure speed control and dry-run protection.

Two pumps (index 0 and 1 = pump1, pump2). The duty pump runs while circulation is wanted;
its flow is proven by its running feedback (or, without feedback, by the station dp) within
`proof_s` (ECL A231/A361: stabilisation 15 s, change-over 5 s, retry 20 min). A pump whose
fault input is set, or which cannot prove flow, is failed: it stops, the other pump starts
after `changeover_delay_s`, and the failed one is retried after `retry_s` once its fault
input is clear; while the other pump has failed too (no circulation at all) it is retried
after `all_failed_retry_s` instead: a drive reset over the bus, or back from a mains blip,
must not leave the network without circulation for the full `retry_s` (20 min). Duty rotates to the pump with fewer run hours after `rotate_after_h` of
continuous duty (the new pump is proven before the old one stops). A pump idle for
`exercise_idle_h` is run for `exercise_s` (anti-seize). Speed follows a dp target by PI:
constant, proportional to heating load, or a supervisor lease (fallback speed when the dp
measurement is lost). Return pressure below `dry_run_kpa` for `dry_run_delay_s` stops both
pumps until it has recovered by `dry_run_hyst_kpa` for `dry_run_restart_s`.

Out of heat: when the valve is fully open (`shortage_valve_pct`) and the supply still stays
more than 1 K below its setpoint, the station cannot deliver what the homes need at the
present circulation. The dp target then rises by up to `shortage_boost_kpa` over
`shortage_ramp_s` (more secondary flow lifts the exchanger's effectiveness and the
radiators' mean temperature, so more heat reaches the homes), and falls back over the same
time once the supply is within 0.5 K or the valve closes below the threshold. Measured on the
reference plant over the Arxan year (seed 0, whose coldest day averages -41 degC): the coldest
group's lowest hour 18.58 degC instead of 17.87 (the valve was fully open with the pump at
59 % speed), pump energy 0.297 -> 0.306 kWh/m2 a season, heat 134.27 -> 134.31 kWh/m2. Beyond
about 200 kPa the primary side is the limit and more flow gains nothing. A supervisor dp lease
is obeyed as given.
"""

from array import array

from . import checks
from .alarms import A_PUMP1_FAULT, A_PUMP2_FAULT, A_PUMP_DRY_RUN, A_PUMPS_ALL_FAILED, NO_LIMIT, AlarmTable
from .sensors import (
    I_PUMP1_FAULT,
    I_PUMP1_RUNNING,
    I_PUMP2_FAULT,
    I_PUMP2_RUNNING,
    I_SECONDARY_RETURN_PRESSURE,
    I_SECONDARY_SUPPLY_PRESSURE,
    SignalQuality,
)

# Signal indices held as C ints by the compiled module (pumps.pxd).
_I_PUMP1_FAULT = I_PUMP1_FAULT
_I_PUMP1_RUNNING = I_PUMP1_RUNNING
_I_PUMP2_FAULT = I_PUMP2_FAULT
_I_PUMP2_RUNNING = I_PUMP2_RUNNING
_I_SECONDARY_RETURN_PRESSURE = I_SECONDARY_RETURN_PRESSURE
_I_SECONDARY_SUPPLY_PRESSURE = I_SECONDARY_SUPPLY_PRESSURE
# Alarm indices held as C ints by the compiled module (pumps.pxd).
_A_PUMP1_FAULT = A_PUMP1_FAULT
_A_PUMP2_FAULT = A_PUMP2_FAULT
_A_PUMP_DRY_RUN = A_PUMP_DRY_RUN
_A_PUMPS_ALL_FAILED = A_PUMPS_ALL_FAILED
_NO_LIMIT = NO_LIMIT


DP_MODES = ("constant", "proportional", "supervisor")

DEFAULTS = {
    "proof_s": 15.0,
    "changeover_delay_s": 5.0,
    "retry_s": 1200.0,
    "all_failed_retry_s": 30.0,  # retry while no pump at all is available
    "rotate_after_h": 168.0,
    "exercise_idle_h": 72.0,
    "exercise_s": 30.0,
    "dp_mode": "constant",
    "dp_setpoint_kpa": 100.0,
    "dp_min_kpa": 50.0,
    "design_outdoor_c": -20.0,
    "dp_proof_kpa": 15.0,
    "speed_min_pct": 30.0,
    "speed_max_pct": 100.0,
    "speed_kp_pct_per_kpa": 0.3,
    "speed_ti_s": 30.0,
    "fallback_speed_pct": 80.0,
    "dry_run_kpa": 50.0,
    "dry_run_delay_s": 5.0,
    "dry_run_hyst_kpa": 30.0,
    "dry_run_restart_s": 60.0,
    "shortage_boost_kpa": 100.0,  # extra dp while the station is out of heat (0: off)
    "shortage_valve_pct": 97.0,
    "shortage_ramp_s": 900.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "proof_s": (1, 600, "s"),
    "changeover_delay_s": (0, 600, "s"),
    "retry_s": (0, 86400, "s"),
    "all_failed_retry_s": (0, 86400, "s"),
    "rotate_after_h": (1, 8760, "h"),
    "exercise_idle_h": (1, 8760, "h"),
    "exercise_s": (5, 3600, "s"),
    "dp_mode": DP_MODES,
    "dp_setpoint_kpa": (5, 1000, "kPa"),
    "dp_min_kpa": (0, 1000, "kPa"),
    "design_outdoor_c": (-50, 0, "degC"),
    "dp_proof_kpa": (0, 500, "kPa"),
    "speed_min_pct": (0, 100, "%"),
    "speed_max_pct": (10, 100, "%"),
    "speed_kp_pct_per_kpa": (0.001, 100, "%/kPa"),
    "speed_ti_s": (1, 3600, "s"),
    "fallback_speed_pct": (0, 100, "%"),
    "dry_run_kpa": (0, 1000, "kPa"),
    "dry_run_delay_s": (0, 600, "s"),
    "dry_run_hyst_kpa": (0, 500, "kPa"),
    "dry_run_restart_s": (0, 3600, "s"),
    "shortage_boost_kpa": (0, 500, "kPa"),
    "shortage_valve_pct": (50, 100, "%"),
    "shortage_ramp_s": (10, 86400, "s"),
}


def validate(section) -> list:
    """Problems of the "pumps" settings section."""
    p = checks.section("pumps", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return p
    s = checks.merged(DEFAULTS, section)
    checks.order(p, "pumps", s, "dp_min_kpa", "dp_setpoint_kpa", "kPa")
    checks.order(p, "pumps", s, "speed_min_pct", "speed_max_pct", "%")
    return p


class CirculationPumps:
    """Duty/standby state of the two circulation pumps; outputs in `run` and `speed_pct`."""

    def __init__(self, cfg: dict, now_s: float) -> None:
        self.proof_s = float(cfg["proof_s"])
        self.changeover_delay_s = float(cfg["changeover_delay_s"])
        self.retry_s = float(cfg["retry_s"])
        self.all_failed_retry_s = float(cfg["all_failed_retry_s"])
        self.rotate_after_s = float(cfg["rotate_after_h"]) * 3600.0
        self.exercise_idle_s = float(cfg["exercise_idle_h"]) * 3600.0
        self.exercise_s = float(cfg["exercise_s"])
        self.dp_mode = DP_MODES.index(cfg["dp_mode"])
        self.dp_setpoint_kpa = float(cfg["dp_setpoint_kpa"])
        self.dp_min_kpa = float(cfg["dp_min_kpa"])
        self.design_outdoor_c = float(cfg["design_outdoor_c"])
        self.dp_proof_kpa = float(cfg["dp_proof_kpa"])
        self.speed_min_pct = float(cfg["speed_min_pct"])
        self.speed_max_pct = float(cfg["speed_max_pct"])
        self.kp = float(cfg["speed_kp_pct_per_kpa"])
        self.ti_s = float(cfg["speed_ti_s"])
        self.fallback_speed_pct = float(cfg["fallback_speed_pct"])
        self.dry_run_kpa = float(cfg["dry_run_kpa"])
        self.dry_run_delay_s = float(cfg["dry_run_delay_s"])
        self.dry_run_hyst_kpa = float(cfg["dry_run_hyst_kpa"])
        self.dry_run_restart_s = float(cfg["dry_run_restart_s"])
        self.shortage_boost_kpa = float(cfg["shortage_boost_kpa"])
        self.shortage_valve_pct = float(cfg["shortage_valve_pct"])
        self.shortage_ramp_s = float(cfg["shortage_ramp_s"])
        self.boost_kpa = 0.0
        self.short_of_heat = False
        self.duty = 0
        self.duty_since_s = now_s
        # Per-pump state as typed arrays (pump 1 at index 0): flags 0/1, times in seconds.
        self.run = array("b", [0, 0])
        self.started_s = array("d", [0.0, 0.0])
        self.proven = array("b", [0, 0])
        self.unproven_since_s = array("d", [-1.0, -1.0])
        self.failed = array("b", [0, 0])
        self.failed_s = array("d", [0.0, 0.0])
        self.run_s = array("d", [0.0, 0.0])  # run-hour counters, in seconds
        self.idle_since_s = array("d", [now_s, now_s])
        self.exercise_until_s = array("d", [-1.0, -1.0])
        self.start_not_before_s = now_s
        self.rotating_to = -1
        self.speed_pct = array("d", [0.0, 0.0])
        self.speed_cmd_pct = self.fallback_speed_pct
        self.integral_pct = self.fallback_speed_pct
        self.dp_kpa = 0.0
        self.dp_ok = False
        self.dp_target_kpa = self.dp_setpoint_kpa
        self.flow_proven = False
        self.dry_low_since_s = -1.0
        self.dry_ok_since_s = -1.0
        self.dry_run = False
        self.want = False
        self.events = []  # type: list

    def heat_shortage(self, dt_s: float, valve_pct: float, setpoint_c: float, supply_c: float, supply_ok: bool) -> None:
        """Follow the out-of-heat boost (see the module doc) from this cycle's valve and supply."""
        gap_k = setpoint_c - supply_c
        if setpoint_c <= 0.0 or not supply_ok or valve_pct < self.shortage_valve_pct - 5.0 or gap_k < 0.5:
            self.short_of_heat = False
        elif valve_pct >= self.shortage_valve_pct and gap_k > 1.0:
            self.short_of_heat = True
        step = self.shortage_boost_kpa * dt_s / self.shortage_ramp_s
        if self.short_of_heat:
            self.boost_kpa = min(self.shortage_boost_kpa, self.boost_kpa + step)
        else:
            self.boost_kpa = max(0.0, self.boost_kpa - step)

    def target_dp(self, outdoor_c: float, outdoor_ok: bool, room_setpoint_c: float, lease_kpa: float) -> float:
        """The dp target this cycle: a supervisor lease (>0) wins, else the configured mode (plus
        the out-of-heat boost)."""
        if lease_kpa > 0.0:
            return lease_kpa
        return self.mode_dp(outdoor_c, outdoor_ok, room_setpoint_c) + self.boost_kpa

    def mode_dp(self, outdoor_c: float, outdoor_ok: bool, room_setpoint_c: float) -> float:
        """The configured mode's dp target."""
        if self.dp_mode == 1:
            if not outdoor_ok:
                return self.dp_setpoint_kpa
            span = room_setpoint_c - self.design_outdoor_c
            load = (room_setpoint_c - outdoor_c) / span if span > 1.0 else 1.0
            if load < 0.0:
                load = 0.0
            elif load > 1.0:
                load = 1.0
            return self.dp_min_kpa + (self.dp_setpoint_kpa - self.dp_min_kpa) * load
        return self.dp_setpoint_kpa

    def step(self, now_s: float, dt_s: float, want: bool, signals: SignalQuality, dp_target_kpa: float) -> None:
        """One cycle: faults, proof, demand, rotation, exercise, dry run, speed."""
        if self.duty != 0 and self.duty != 1:  # the one pump index set from outside (duty, 1 - duty)
            raise ValueError("pumps.duty=%r: must be 0 (pump 1) or 1 (pump 2)" % (self.duty,))
        self.want = want
        self.dp_ok = signals.ok[_I_SECONDARY_SUPPLY_PRESSURE] and signals.ok[_I_SECONDARY_RETURN_PRESSURE]
        self.dp_kpa = signals.values[_I_SECONDARY_SUPPLY_PRESSURE] - signals.values[_I_SECONDARY_RETURN_PRESSURE] if self.dp_ok else 0.0
        self.dp_target_kpa = dp_target_kpa
        if want or self.dry_run:  # an empty network being filled is not a dry-running pump
            self._dry_run(now_s, signals.ok[_I_SECONDARY_RETURN_PRESSURE], signals.values[_I_SECONDARY_RETURN_PRESSURE])
        else:
            self.dry_low_since_s = -1.0
        self._pump_health(now_s, 0, signals.ok[_I_PUMP1_FAULT] and signals.values[_I_PUMP1_FAULT] > 0.5,
                          signals.ok[_I_PUMP1_RUNNING], signals.values[_I_PUMP1_RUNNING] > 0.5)
        self._pump_health(now_s, 1, signals.ok[_I_PUMP2_FAULT] and signals.values[_I_PUMP2_FAULT] > 0.5,
                          signals.ok[_I_PUMP2_RUNNING], signals.values[_I_PUMP2_RUNNING] > 0.5)
        if self.dry_run:
            self._stop(0, now_s)
            self._stop(1, now_s)
            self.rotating_to = -1
        else:
            self._demand(now_s, want)
            self._exercise(now_s, want)
        k = 0
        while k < 2:
            if self.run[k] and self.proven[k]:
                self.run_s[k] += dt_s
            k += 1
        self.flow_proven = (self.run[0] != 0 and self.proven[0] != 0) or (self.run[1] != 0 and self.proven[1] != 0)
        self._speed(dt_s)

    # --- pieces -----------------------------------------------------------------------------
    def _event(self, reason: str, pump, now_s: float) -> None:
        self.events.append({"kind": "pump", "reason": reason, "pump": pump + 1, "at_s": now_s})

    def _start(self, k, now_s: float) -> None:
        if not self.run[k]:
            self.run[k] = 1
            self.started_s[k] = now_s
            self.proven[k] = 0
            self.unproven_since_s[k] = now_s

    def _stop(self, k, now_s: float) -> None:
        if self.run[k]:
            self.run[k] = 0
            self.proven[k] = 0
            self.idle_since_s[k] = now_s
            self.exercise_until_s[k] = -1.0

    def _fail(self, k, now_s: float, why: str) -> None:
        self.failed[k] = 1
        self.failed_s[k] = now_s
        self._stop(k, now_s)
        self._event("failed_" + why, k, now_s)
        if self.rotating_to == k:
            self.rotating_to = -1
        if k == self.duty and not self.failed[1 - k]:
            self.duty = 1 - k
            self.duty_since_s = now_s
            self.start_not_before_s = now_s + self.changeover_delay_s
            self._event("changeover", self.duty, now_s)

    def _pump_health(self, now_s: float, k, fault_in: bool, running_ok: bool, running: bool) -> None:
        if fault_in and not self.failed[k]:
            self._fail(k, now_s, "fault_input")
        elif self.failed[k] and not fault_in and (
                now_s - self.failed_s[k] >= self.retry_s
                or (self.failed[1 - k] and now_s - self.failed_s[k] >= self.all_failed_retry_s)):
            self.failed[k] = 0
            self._event("retry", k, now_s)
        if not self.run[k]:
            return
        if running_ok:
            proof = running
        elif self.dp_ok:
            proof = self.dp_kpa >= self.dp_proof_kpa
        else:
            proof = True  # nothing to prove it with: assume running rather than shut the station
        if proof:
            self.proven[k] = 1
            self.unproven_since_s[k] = -1.0
        else:
            self.proven[k] = 0
            if self.unproven_since_s[k] < 0.0:
                self.unproven_since_s[k] = now_s
            if now_s - self.unproven_since_s[k] >= self.proof_s:
                self._fail(k, now_s, "no_proof")

    def _demand(self, now_s: float, want: bool) -> None:
        duty = self.duty
        if self.failed[duty] and not self.failed[1 - duty]:
            duty = 1 - duty
            self.duty = duty
            self.duty_since_s = now_s
        if not want:
            if self.exercise_until_s[0] < 0.0:
                self._stop(0, now_s)
            if self.exercise_until_s[1] < 0.0:
                self._stop(1, now_s)
            self.rotating_to = -1
            self.duty_since_s = now_s
            return
        other = 1 - duty
        if not self.failed[duty] and not self.run[duty] and now_s >= self.start_not_before_s:
            self._start(duty, now_s)
            self.duty_since_s = now_s
        if self.rotating_to == other:
            if self.proven[other]:
                self._stop(duty, now_s)
                self.duty = other
                self.duty_since_s = now_s
                self.rotating_to = -1
                self._event("rotated", other, now_s)
            return
        if (self.run[duty] and self.proven[duty] and not self.failed[other]
                and now_s - self.duty_since_s >= self.rotate_after_s and self.run_s[other] <= self.run_s[duty]):
            self.rotating_to = other
            self._start(other, now_s)
            return
        if self.run[other] and self.exercise_until_s[other] < 0.0:
            self._stop(other, now_s)

    def _exercise(self, now_s: float, want: bool) -> None:
        k = 0
        while k < 2:
            if self.exercise_until_s[k] >= 0.0:
                if now_s >= self.exercise_until_s[k]:
                    self.exercise_until_s[k] = -1.0
                    if not (want and k == self.duty) and self.rotating_to != k:
                        self._stop(k, now_s)
                    self._event("exercise_done", k, now_s)
            elif (not self.run[k] and not self.failed[k] and now_s - self.idle_since_s[k] >= self.exercise_idle_s
                  and self.exercise_until_s[1 - k] < 0.0):
                self._start(k, now_s)
                self.exercise_until_s[k] = now_s + self.exercise_s
                self._event("exercise", k, now_s)
            k += 1

    def _dry_run(self, now_s: float, pressure_ok: bool, pressure_kpa: float) -> None:
        if not pressure_ok:
            self.dry_low_since_s = -1.0
            return
        if not self.dry_run:
            if pressure_kpa < self.dry_run_kpa:
                if self.dry_low_since_s < 0.0:
                    self.dry_low_since_s = now_s
                if now_s - self.dry_low_since_s >= self.dry_run_delay_s:
                    self.dry_run = True
                    self.dry_ok_since_s = -1.0
                    self.events.append({"kind": "pump", "reason": "dry_run_stop", "pump": 0, "at_s": now_s})
            else:
                self.dry_low_since_s = -1.0
            return
        if pressure_kpa >= self.dry_run_kpa + self.dry_run_hyst_kpa:
            if self.dry_ok_since_s < 0.0:
                self.dry_ok_since_s = now_s
            if now_s - self.dry_ok_since_s >= self.dry_run_restart_s:
                self.dry_run = False
                self.dry_low_since_s = -1.0
                self.start_not_before_s = now_s
                self.events.append({"kind": "pump", "reason": "dry_run_restart", "pump": 0, "at_s": now_s})
        else:
            self.dry_ok_since_s = -1.0

    def _speed(self, dt_s: float) -> None:
        lo = self.speed_min_pct
        hi = self.speed_max_pct
        if not (self.run[0] or self.run[1]):
            self.speed_pct[0] = 0.0
            self.speed_pct[1] = 0.0
            return
        if self.dp_ok:
            err = self.dp_target_kpa - self.dp_kpa
            # Loop gain per cycle: a circulation pump on a closed circuit follows the affinity
            # law (dp ~ speed^2), so d(dp)/d(speed) is about 2 dp / speed, and the drive reaches
            # a new speed within a few seconds. kp x that slope x (1 + dt/Ti) above about 0.5
            # makes a sampled loop ring (at cycles of 5 s and more it swung between minimum and
            # full speed); the gain is held below it, whatever the cycle time.
            speed = self.integral_pct if self.integral_pct > lo else lo
            dp_ref = self.dp_kpa if self.dp_kpa > self.dp_target_kpa else self.dp_target_kpa
            slope = 2.0 * dp_ref / speed if speed > 1.0 else 0.0
            kp = self.kp
            if slope > 0.0:
                limit = 0.5 / (slope * (1.0 + dt_s / self.ti_s))
                if kp > limit:
                    kp = limit
            proportional_pct = kp * err
            integral = self.integral_pct + kp * err * dt_s / self.ti_s
            if integral < lo:
                integral = lo
            elif integral > hi:
                integral = hi
            self.integral_pct = integral
            cmd = integral + proportional_pct
        else:
            cmd = self.fallback_speed_pct
            self.integral_pct = cmd
        if cmd < lo:
            cmd = lo
        elif cmd > hi:
            cmd = hi
        self.speed_cmd_pct = cmd
        self.speed_pct[0] = cmd if self.run[0] else 0.0
        self.speed_pct[1] = cmd if self.run[1] else 0.0

    def report_alarms(self, alarms: AlarmTable, now_s: float, signals: SignalQuality, wanted: bool) -> None:
        """Feed the pump alarms: dry run, no pump left while circulation is `wanted`, each
        pump's fault."""
        failed1 = self.failed[0] != 0
        failed2 = self.failed[1] != 0
        # An idle alarm staying idle needs no update() (core.alarms.BUSY_BITS: a test, not a call).
        k = _A_PUMP_DRY_RUN
        if self.dry_run or (alarms.busy >> k) & 1:
            alarms.update(k, self.dry_run, signals.values[_I_SECONDARY_RETURN_PRESSURE], self.dry_run_kpa, now_s)
        k = _A_PUMPS_ALL_FAILED
        if (wanted and not self.dry_run and failed1 and failed2) or (alarms.busy >> k) & 1:
            alarms.update(k, (wanted and not self.dry_run and failed1 and failed2), 0.0, _NO_LIMIT, now_s)
        k = _A_PUMP1_FAULT
        if failed1 or (alarms.busy >> k) & 1:
            alarms.update(k, failed1, 1.0, _NO_LIMIT, now_s)
        k = _A_PUMP2_FAULT
        if failed2 or (alarms.busy >> k) & 1:
            alarms.update(k, failed2, 2.0, _NO_LIMIT, now_s)

    def snapshot(self, now_s: float) -> dict:
        return {"duty": self.duty, "run_s": [self.run_s[0], self.run_s[1]],
                "idle_age_s": [now_s - self.idle_since_s[0], now_s - self.idle_since_s[1]],
                "failed": [self.failed[0] != 0, self.failed[1] != 0],
                "failed_age_s": [now_s - self.failed_s[0], now_s - self.failed_s[1]],
                "duty_age_s": now_s - self.duty_since_s, "integral_pct": self.integral_pct,
                "dry_run": self.dry_run}

    def restore(self, snap: object, now_s: float) -> None:
        if not isinstance(snap, dict):
            return
        if snap.get("duty") in (0, 1):
            self.duty = snap["duty"]
        for key, target in (("run_s", self.run_s), ("idle_age_s", None), ("failed_age_s", None)):
            pair = snap.get(key)
            if not (isinstance(pair, list) and len(pair) == 2 and checks.is_number(pair[0]) and checks.is_number(pair[1])):
                continue
            for k in (0, 1):
                if key == "run_s":
                    self.run_s[k] = float(pair[k])
                elif key == "idle_age_s":
                    self.idle_since_s[k] = now_s - pair[k]
                else:
                    self.failed_s[k] = now_s - pair[k]
        failed = snap.get("failed")
        if isinstance(failed, list) and len(failed) == 2:
            self.failed[0] = 1 if failed[0] is True else 0
            self.failed[1] = 1 if failed[1] is True else 0
        if checks.is_number(snap.get("duty_age_s")):
            self.duty_since_s = now_s - snap["duty_age_s"]
        if checks.is_number(snap.get("integral_pct")):
            self.integral_pct = float(snap["integral_pct"])
        self.dry_run = snap.get("dry_run") is True
