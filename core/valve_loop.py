# cython: wraparound=False, boundscheck=False, initializedcheck=False
# (compiled: no per-access index checks; the only arrays indexed are the validated signals,
# by constant indices below N_SIGNALS.)
"""The valve loop: supply-temperature PI, actuator, valve exercise and plausibility.

ValveLoop(settings) takes the dict of control sections ({"pi": {...}, "valve": {...},
"schedule": {...}}; missing sections or keys take their DEFAULTS), checked by
core.settings.load beforehand. Each cycle:

    out = loop.step(now_s, setpoint_c, supply_c, supply_ok, valve_feedback_pct, feedback_ok,
                    manual_pct_or_None, time_of_day_s=-1.0, return_c=0.0, return_ok=False,
                    primary_return_c=0.0, primary_return_ok=False)
    -> {"valve_cmd_pct", "valve_open_pulse_s", "valve_close_pulse_s", "valve_estimate_pct"}

- setpoint_c <= 0 means heating off: the valve is driven closed (and re-synced) and the PI
  tracks it, so the next start is bumpless.
- manual_pct_or_None: a number is the manual position; the PI tracks it (bumpless back to auto).
- supply not ok (blind): the PI holds its output (no blind integration) and the valve, in auto
  and in manual alike, goes no further open than the fallback limit: the heating curve's
  feed-forward position, fallback_valve_design_pct x (setpoint_c - design_room_c) /
  (design_supply_c - design_room_c) clamped to [0, 1] (curve and interlocks sections), times
  1 - rise / fallback_return_rise_k (clamped to [0, 1]), where rise is the largest increase of
  the secondary or primary return temperature since the supply went blind: heat the network
  does not take up comes back in the returns, so the valve closes. When the supply is back,
  the PI resumes from the limited position (bumpless). The interlocks' backup trip on the
  return temperatures stands behind this.
- Valve exercise: after exercise_after_days without movement, at exercise_time_s of the day, a
  stroke of exercise_stroke_pct out and back (time of day as for the schedule: the argument, or
  (now_s + schedule.day_offset_s) modulo 86400).
- Plausibility (alarms_diag): "valve_open_no_rise" (valve >= no_rise_open_pct, supply more than
  no_rise_below_k under the setpoint and not rising by no_rise_min_k for no_rise_delay_s) and
  "valve_shut_rising" (valve <= shut_pct for shut_delay_s while the supply has risen shut_rise_k
  above its lowest value since the valve shut and, when the secondary return is known, stands
  PASSING_OVER_RETURN_K above it: a passing valve or a bypass heats the secondary across the
  exchanger; a supply rising toward a hotter return is the network's own warm water coming
  round, as at start-up, not heat let through), and
  "valve_position_mismatch" (an ok position feedback more than mismatch_pct away from the
  command for mismatch_delay_s: a stuck valve, a slipping coupling or a dead actuator).
- report_alarms(alarms, now_s, signals) feeds these and the supply deviation alarms (the closed
  loop's supply more than alarms.deviation_k from a setpoint of at least
  alarms.deviation_min_setpoint_c, not in manual) to core.alarms' table, each with its limit.
"""

from .alarms import (
    A_SUPPLY_DEVIATION_HIGH,
    A_SUPPLY_DEVIATION_LOW,
    A_VALVE_OPEN_NO_RISE,
    A_VALVE_POSITION_MISMATCH,
    A_VALVE_SHUT_RISING,
    NO_LIMIT,
    AlarmTable,
)
from .alarms import DEFAULTS as ALARM_DEFAULTS
from .heating_curve import DEFAULTS as CURVE_DEFAULTS
from .heating_curve import merged
from .interlocks import DEFAULTS as INTERLOCK_DEFAULTS
from .pi import PIController
from .schedule import DEFAULTS as SCHEDULE_DEFAULTS
from .sensors import I_SECONDARY_SUPPLY_TEMP, I_VALVE_POSITION, SignalQuality
from .valve_actuator import DEFAULTS as VALVE_DEFAULTS
from .valve_actuator import ValveActuator

DAY_S = 86400.0
_NAN = float("nan")
EXERCISE_WINDOW_S = 3600.0
# A passing valve heats the secondary across the exchanger: its supply stands at least this far
# above the secondary return (module docstring, "valve_shut_rising").
PASSING_OVER_RETURN_K = 2.0
# Alarm and signal indices held as C ints by the compiled module (valve_loop.pxd).
_A_SUPPLY_DEVIATION_HIGH = A_SUPPLY_DEVIATION_HIGH
_A_SUPPLY_DEVIATION_LOW = A_SUPPLY_DEVIATION_LOW
_A_VALVE_OPEN_NO_RISE = A_VALVE_OPEN_NO_RISE
_A_VALVE_POSITION_MISMATCH = A_VALVE_POSITION_MISMATCH
_A_VALVE_SHUT_RISING = A_VALVE_SHUT_RISING
_I_SECONDARY_SUPPLY_TEMP = I_SECONDARY_SUPPLY_TEMP
_I_VALVE_POSITION = I_VALVE_POSITION
_NO_LIMIT = NO_LIMIT


class ValveLoop:
    """Supply temperature -> valve: PI + actuator + exercise + plausibility."""

    def __init__(self, settings):
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise ValueError("control settings=%r: must be a table of sections" % (settings,))
        pi_s = settings.get("pi", {})
        valve_s = settings.get("valve", {})
        self.pi = PIController(pi_s)
        self.actuator = ValveActuator(valve_s)
        v = merged(VALVE_DEFAULTS, valve_s)
        sched = merged(SCHEDULE_DEFAULTS, settings.get("schedule", {}))
        self.day_offset_s = float(sched["day_offset_s"])
        self.exercise_after_s = float(v["exercise_after_days"]) * DAY_S
        self.exercise_time_s = float(v["exercise_time_s"])
        self.exercise_window_s = EXERCISE_WINDOW_S
        self.exercise_stroke_pct = float(v["exercise_stroke_pct"])
        self.exercise_half_s = self.exercise_stroke_pct / 100.0 * self.actuator.run_time_s + 5.0
        self.no_rise_open_pct = float(v["no_rise_open_pct"])
        self.no_rise_below_k = float(v["no_rise_below_k"])
        self.no_rise_min_k = float(v["no_rise_min_k"])
        self.no_rise_delay_s = float(v["no_rise_delay_s"])
        self.shut_pct = float(v["shut_pct"])
        self.shut_rise_k = float(v["shut_rise_k"])
        self.shut_delay_s = float(v["shut_delay_s"])
        self.mismatch_pct = float(v["mismatch_pct"])
        self.mismatch_delay_s = float(v["mismatch_delay_s"])
        self.mismatch_since_s = -1.0
        self.position_mismatch = False
        curve = merged(CURVE_DEFAULTS, settings.get("curve", {}))
        interlock_s = merged(INTERLOCK_DEFAULTS, settings.get("interlocks", {}))
        self.ff_room_c = float(curve["design_room_c"])
        span = float(curve["design_supply_c"]) - self.ff_room_c
        self.ff_span_k = span if span > 1.0 else 1.0
        self.ff_design_pct = float(interlock_s["fallback_valve_design_pct"])
        self.fallback_rise_k = float(interlock_s["fallback_return_rise_k"])
        self.fallback = False
        self.fallback_limit_pct = 100.0
        self.fallback_return_ref_c = _NAN
        self.fallback_primary_ref_c = _NAN
        self.started = False
        self.last_s = 0.0
        self.manual = False
        self.heating_off = False
        self.supply_fault = False
        self.still_pct = 0.0
        self.still_since_s = 0.0
        self.exercise_start_s = -1.0
        self.exercise_base_pct = 0.0
        self.exercises = 0
        self.no_rise_since_s = -1.0
        self.no_rise_ref_c = 0.0
        self.open_no_rise = False
        self.shut_since_s = -1.0
        self.shut_min_c = 0.0
        self.shut_rising = False
        # Supply deviation alarms (alarms section): the closed loop's supply this far from
        # its setpoint, judged only at setpoints from deviation_min_setpoint_c up.
        alarm_s = merged(ALARM_DEFAULTS, settings.get("alarms", {}))
        self.deviation_k = float(alarm_s["deviation_k"])
        self.deviation_min_setpoint_c = float(alarm_s["deviation_min_setpoint_c"])
        self.setpoint_c = 0.0  # the last cycle's setpoint (0: heating off)

    def step(self, now_s: float, setpoint_c: float, supply_c: float, supply_ok: bool,
             valve_feedback_pct: float, feedback_ok: bool, manual_pct_or_None, time_of_day_s: float = -1.0,
             return_c: float = 0.0, return_ok: bool = False, primary_return_c: float = 0.0,
             primary_return_ok: bool = False) -> dict:
        """One cycle; never raises on bad numbers (NaN supply is treated as not ok)."""
        manual = manual_pct_or_None is not None
        manual_pct = _NAN
        if manual and isinstance(manual_pct_or_None, (int, float)) and manual_pct_or_None == manual_pct_or_None:
            manual_pct = float(manual_pct_or_None)
        self.run(now_s, setpoint_c, supply_c, supply_ok, valve_feedback_pct, feedback_ok, manual, manual_pct,
                 time_of_day_s, return_c, return_ok, primary_return_c, primary_return_ok)
        act = self.actuator
        return {"valve_cmd_pct": act.cmd_pct, "valve_open_pulse_s": act.open_pulse_s,
                "valve_close_pulse_s": act.close_pulse_s, "valve_estimate_pct": act.estimate_pct}

    def run(self, now_s: float, setpoint_c: float, supply_c: float, supply_ok: bool, valve_feedback_pct: float,
            feedback_ok: bool, manual: bool, manual_pct: float, time_of_day_s: float, return_c: float,
            return_ok: bool, primary_return_c: float, primary_return_ok: bool) -> None:
        """step() without its result dict (read `actuator`): manual=True with manual_pct NaN
        holds the present command. The station's cycle calls this."""
        if not self.started:
            self.started = True
            self.last_s = now_s
            self.still_since_s = now_s
        dt_s = now_s - self.last_s
        if dt_s < 0.0:
            dt_s = 0.0
        self.last_s = now_s
        if supply_c != supply_c:
            supply_ok = False
        if setpoint_c != setpoint_c:
            setpoint_c = 0.0
        act = self.actuator
        self.setpoint_c = setpoint_c
        self.supply_fault = not supply_ok
        self.heating_off = setpoint_c <= 0.0
        self.manual = manual
        measured_c = supply_c if supply_ok else setpoint_c
        limit = 100.0
        if not supply_ok:
            limit = self._fallback_limit(setpoint_c, return_c, return_ok, primary_return_c, primary_return_ok)
        elif self.fallback:
            # The supply is back: resume from where the fallback held the valve, not from the
            # (higher) output the PI froze when the sensor failed.
            self.fallback = False
            self.pi.track(act.cmd_pct, setpoint_c, supply_c)
        if manual:
            target = act.cmd_pct
            if manual_pct == manual_pct:
                target = manual_pct
            target = 0.0 if target < 0.0 else (100.0 if target > 100.0 else target)
            self.pi.track(target, setpoint_c, measured_c)
        elif self.heating_off:
            target = 0.0
            self.pi.track(target, measured_c, measured_c)
        elif not supply_ok:
            target = self.pi.out_pct
        else:
            target = self.pi.step(dt_s, setpoint_c, supply_c, act.estimate_pct)
        if not self.manual:
            target = self._exercise(now_s, target, time_of_day_s)
        if target > limit:
            target = limit
        act.step(dt_s, target, valve_feedback_pct, feedback_ok)
        self._plausibility(now_s, setpoint_c, supply_c, supply_ok, act.estimate_pct, return_c,
                           return_ok and return_c == return_c)
        d = act.cmd_pct - valve_feedback_pct
        if feedback_ok and abs(d) > self.mismatch_pct:
            if self.mismatch_since_s < 0.0:
                self.mismatch_since_s = now_s
            self.position_mismatch = now_s - self.mismatch_since_s >= self.mismatch_delay_s
        else:
            self.mismatch_since_s = -1.0
            self.position_mismatch = False

    def _fallback_limit(self, setpoint_c: float, return_c: float, return_ok: bool, primary_return_c: float,
                        primary_return_ok: bool) -> float:
        # The blind valve's highest position (module docstring); references taken when the
        # supply went blind (or when a return is first seen after that).
        if not self.fallback:
            self.fallback = True
            self.fallback_return_ref_c = _NAN
            self.fallback_primary_ref_c = _NAN
        phi = (setpoint_c - self.ff_room_c) / self.ff_span_k
        phi = 0.0 if phi < 0.0 else (1.0 if phi > 1.0 else phi)
        rise = 0.0
        if return_ok and return_c == return_c:
            if self.fallback_return_ref_c != self.fallback_return_ref_c:
                self.fallback_return_ref_c = return_c
            rise = return_c - self.fallback_return_ref_c
        if primary_return_ok and primary_return_c == primary_return_c:
            if self.fallback_primary_ref_c != self.fallback_primary_ref_c:
                self.fallback_primary_ref_c = primary_return_c
            d = primary_return_c - self.fallback_primary_ref_c
            if d > rise:
                rise = d
        factor = 1.0 - rise / self.fallback_rise_k
        factor = 0.0 if factor < 0.0 else (1.0 if factor > 1.0 else factor)
        self.fallback_limit_pct = self.ff_design_pct * phi * factor
        return self.fallback_limit_pct

    def _exercise(self, now_s: float, target: float, time_of_day_s: float) -> float:
        if self.exercise_start_s >= 0.0:
            t = now_s - self.exercise_start_s
            if t < self.exercise_half_s:
                return self.exercise_base_pct + self.exercise_stroke_pct
            if t < 2.0 * self.exercise_half_s:
                return self.exercise_base_pct
            self.exercise_start_s = -1.0
            self.exercises += 1
            self.still_pct = target
            self.still_since_s = now_s
        d = target - self.still_pct
        if d > 2.0 or d < -2.0:
            self.still_pct = target
            self.still_since_s = now_s
            return target
        if self.exercise_after_s <= 0.0 or now_s - self.still_since_s < self.exercise_after_s:
            return target
        tod = time_of_day_s
        if tod < 0.0:
            tod = (now_s + self.day_offset_s) % 86400.0
        since = tod - self.exercise_time_s
        if since < 0.0:
            since += 86400.0
        if since < self.exercise_window_s:
            self.exercise_start_s = now_s
            self.exercise_base_pct = target
            if target + self.exercise_stroke_pct > 100.0:
                self.exercise_base_pct = target - self.exercise_stroke_pct
                return target - self.exercise_stroke_pct
            return target + self.exercise_stroke_pct
        return target

    def _plausibility(self, now_s: float, setpoint_c: float, supply_c: float, supply_ok: bool, est_pct: float,
                      return_c: float, return_ok: bool):
        if supply_ok and setpoint_c > 0.0 and est_pct >= self.no_rise_open_pct \
                and supply_c < setpoint_c - self.no_rise_below_k:
            if self.no_rise_since_s < 0.0 or supply_c > self.no_rise_ref_c + self.no_rise_min_k:
                # Start, or restart after a real rise: measure the next delay from here.
                self.no_rise_since_s = now_s
                self.no_rise_ref_c = supply_c
                self.open_no_rise = False
            elif now_s - self.no_rise_since_s >= self.no_rise_delay_s:
                self.open_no_rise = True
        else:
            self.no_rise_since_s = -1.0
            self.open_no_rise = False
        if supply_ok and est_pct <= self.shut_pct:
            if self.shut_since_s < 0.0:
                self.shut_since_s = now_s
                self.shut_min_c = supply_c
            elif supply_c < self.shut_min_c:
                self.shut_min_c = supply_c
            self.shut_rising = now_s - self.shut_since_s >= self.shut_delay_s and \
                supply_c - self.shut_min_c >= self.shut_rise_k and \
                (not return_ok or supply_c >= return_c + PASSING_OVER_RETURN_K)
        else:
            self.shut_since_s = -1.0
            self.shut_rising = False

    def report_alarms(self, alarms: AlarmTable, now_s: float, signals: SignalQuality) -> None:
        """Feed the valve loop's alarms: the closed loop's supply far from its setpoint (not in
        manual, not with heating off), and the plausibility checks of the last cycle."""
        supply_c = signals.values[_I_SECONDARY_SUPPLY_TEMP]
        setpoint_c = self.setpoint_c
        closed_loop = signals.ok[_I_SECONDARY_SUPPLY_TEMP] != 0 and not self.manual and \
            setpoint_c >= self.deviation_min_setpoint_c
        high_c = setpoint_c + self.deviation_k
        low_c = setpoint_c - self.deviation_k
        # An idle alarm staying idle needs no update() (core.alarms.BUSY_BITS: a test, not a call).
        k = _A_SUPPLY_DEVIATION_HIGH
        if (closed_loop and supply_c > high_c) or (alarms.busy >> k) & 1:
            alarms.update(k, closed_loop and supply_c > high_c, supply_c, high_c, now_s)
        k = _A_SUPPLY_DEVIATION_LOW
        if (closed_loop and supply_c < low_c) or (alarms.busy >> k) & 1:
            alarms.update(k, closed_loop and supply_c < low_c, supply_c, low_c, now_s)
        k = _A_VALVE_OPEN_NO_RISE
        if self.open_no_rise or (alarms.busy >> k) & 1:
            alarms.update(k, self.open_no_rise, supply_c, setpoint_c - self.no_rise_below_k, now_s)
        k = _A_VALVE_SHUT_RISING
        if self.shut_rising or (alarms.busy >> k) & 1:
            alarms.update(k, self.shut_rising, supply_c, self.shut_min_c + self.shut_rise_k, now_s)
        k = _A_VALVE_POSITION_MISMATCH
        if self.position_mismatch or (alarms.busy >> k) & 1:
            alarms.update(k, self.position_mismatch, signals.values[_I_VALVE_POSITION], _NO_LIMIT, now_s)

    @property
    def alarms_diag(self) -> dict:
        return {"valve_open_no_rise": self.open_no_rise, "valve_shut_rising": self.shut_rising,
                "valve_position_mismatch": self.position_mismatch}

    @property
    def diag(self) -> dict:
        pi = self.pi
        act = self.actuator
        return {
            "pi_error_k": pi.error_k, "pi_p_pct": pi.p_pct, "pi_integral_pct": pi.integral_pct,
            "pi_out_pct": pi.out_pct, "valve_estimate_pct": act.estimate_pct, "valve_cmd_pct": act.cmd_pct,
            "valve_synced_end": act.synced_end, "valve_travel_pct": act.travel_pct,
            "valve_manual": self.manual, "valve_heating_off": self.heating_off,
            "valve_supply_fault": self.supply_fault, "valve_exercising": self.exercise_start_s >= 0.0,
            "valve_exercises": self.exercises,
            "valve_fallback_limit_pct": self.fallback_limit_pct if self.fallback else None,
        }

    def snapshot(self) -> dict:
        return {"pi": self.pi.snapshot(), "actuator": self.actuator.snapshot(),
                "still_pct": self.actuator.cmd_pct if self.started else 0.0,
                "still_age_s": self.last_s - self.still_since_s if self.started else 0.0,
                "exercises": self.exercises}

    def restore(self, d, now_s: float):
        """State from `snapshot()`; bad entries are ignored (defaults kept)."""
        if not isinstance(d, dict):
            return
        pi = d.get("pi")
        if isinstance(pi, dict):
            self.pi.restore(pi)
        act = d.get("actuator")
        if isinstance(act, dict):
            self.actuator.restore(act)
        try:
            age = float(d.get("still_age_s", 0.0))
            self.still_pct = float(d.get("still_pct", self.actuator.estimate_pct))
            self.exercises = int(d.get("exercises", 0))
        except (TypeError, ValueError):
            age = 0.0
        if age != age or age < 0.0:
            age = 0.0
        self.started = True
        self.last_s = now_s
        self.still_since_s = now_s - age
