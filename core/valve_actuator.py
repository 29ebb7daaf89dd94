"""Valve actuator: turns a wanted position (%) into what the actuator understands.

kind "position": a 0-10 V or Modbus % actuator; the command is the position. Without a
feedback signal the position is estimated by a rate limit of 100 % per run_time_s.

kind "floating": a 3-point actuator driven by open/close pulses. The position is estimated by
integrating the pulses over run_time_s (actuator full-stroke time; reference plant 120 s,
Siemens SAS31/81 120 s), or taken from a feedback signal when one is ok. A drive shorter than
min_pulse_s is not sent (actuators lose pulses below their start delay: Siemens 50..300 ms),
the position error simply grows until it is worth a pulse. Each pulse that starts the motor
from rest is lengthened by start_delay_s (the time the motor takes to move at all), which the
estimate does not count as travel. Re-synchronisation to an end stop:
- a continuous drive in one direction for longer than run_time_s has surely reached the end
  stop, so the estimate is set to it;
- when the wanted position is an end (<= 0 % or >= 100 %) and the estimate has reached it,
  the drive goes on for resync_overdrive_pct of run_time_s so the real valve sits on the stop
  too, then stops (synced) until the valve is moved away again;
- at power-up without a snapshot (or feedback) the position is unknown: the actuator first
  closes for a full run time plus the overdrive (initial_sync), then follows the controller.
Shut-off below the controllable range (both kinds): a wanted position below shut_below_pct
closes the valve onto its seat (0 %), and it opens again only once the wanted position reaches
twice that. An equal-percentage valve cannot meter heat below its smallest controllable
opening (rangeability R: Kv about Kvs/R just off the seat), and a positioner ignores a command
change smaller than its dead band (typically 0.1..0.5 %), so a controller output that sinks
slowly toward 0 % otherwise parks the plug a fraction of a percent open, passing Kvs/R of flow
(hours of supply several kelvin above the setpoint on mild days); the jump to 0 % is larger than
any dead band, so the valve seats and the PI meters the low load by opening and shutting
(Samson 3730 "tight-closing function" below 1 %). 0 = off.
"""

from . import checks
from .checks import merged

DEFAULTS = {
    "kind": "floating",  # "floating" (3-point) or "position" (0-10 V / Modbus %)
    "run_time_s": 120.0,  # reference plant actuator (plant_physics 1.8); ECL factory 35 s
    "min_pulse_s": 0.5,
    "start_delay_s": 0.2,  # motor start delay added to each pulse (reference actuator 0.2 s; Siemens 0.05..0.3 s)
    "resync_overdrive_pct": 10.0,
    "shut_below_pct": 1.0,  # wanted position below this: valve shut (reopens at twice this); 0 = off
    "exercise_after_days": 3.0,  # a short stroke after this long without movement; 0 = off
    "exercise_time_s": 43200.0,  # time of day (ECL120 exercise at 12:00)
    "exercise_stroke_pct": 10.0,
    "no_rise_open_pct": 80.0,  # plausibility: valve this open ...
    "no_rise_below_k": 10.0,  # ... supply this far below setpoint (a plant short of primary heat sits a few K below) ...
    "no_rise_min_k": 2.0,  # ... and not rising by this much ...
    "no_rise_delay_s": 900.0,  # ... for this long: "valve_open_no_rise"
    "shut_pct": 2.0,  # plausibility: valve at most this open ...
    "shut_rise_k": 5.0,  # ... while supply rises this much above its lowest ...
    "shut_delay_s": 600.0,  # ... with the valve shut at least this long: "valve_shut_rising"
    "mismatch_pct": 10.0,  # position feedback this far from the command ...
    "mismatch_delay_s": 300.0,  # ... for this long: "valve_position_mismatch" (stuck valve or actuator)
}

RANGES = {
    "kind": ("floating", "position"),
    "run_time_s": (5.0, 900.0, "s"),
    "min_pulse_s": (0.0, 5.0, "s"),
    "start_delay_s": (0.0, 2.0, "s"),
    "resync_overdrive_pct": (0.0, 100.0, "%"),
    "shut_below_pct": (0.0, 10.0, "%"),
    "exercise_after_days": (0.0, 365.0, "d"),
    "exercise_time_s": (0.0, 86399.0, "s"),
    "exercise_stroke_pct": (1.0, 100.0, "%"),
    "no_rise_open_pct": (10.0, 100.0, "%"),
    "no_rise_below_k": (0.5, 50.0, "K"),
    "no_rise_min_k": (0.1, 50.0, "K"),
    "no_rise_delay_s": (10.0, 86400.0, "s"),
    "shut_pct": (0.0, 20.0, "%"),
    "shut_rise_k": (0.5, 50.0, "K"),
    "shut_delay_s": (10.0, 86400.0, "s"),
    "mismatch_pct": (1.0, 100.0, "%"),
    "mismatch_delay_s": (10.0, 86400.0, "s"),
}

KIND_POSITION = 0
KIND_FLOATING = 1


def validate(section) -> list:
    """Every problem of a `valve` settings section."""
    return checks.section("valve", section, DEFAULTS, RANGES)


class ValveActuator:
    """Command, pulses and position estimate for one control valve."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.kind = KIND_POSITION if s["kind"] == "position" else KIND_FLOATING
        self.run_time_s = float(s["run_time_s"])
        self.min_pulse_s = float(s["min_pulse_s"])
        self.start_delay_s = float(s["start_delay_s"])
        self.last_full = False
        self.overdrive_s = float(s["resync_overdrive_pct"]) / 100.0 * self.run_time_s
        self.shut_below_pct = float(s["shut_below_pct"])
        self.shut = False  # shut below the controllable range, until the wanted position reaches 2 x shut_below_pct
        self.estimate_pct = 0.0
        self.cmd_pct = 0.0
        self.open_pulse_s = 0.0
        self.close_pulse_s = 0.0
        self.drive_dir = 0  # +1 opening, -1 closing, 0 still (last cycle)
        self.drive_run_s = 0.0  # continuous drive in drive_dir
        self.end_drive_s = 0.0  # drive against the end stop the estimate has reached
        self.synced_end = 0  # -1 / +1: confirmed on the closed / open stop; 0: neither
        self.travel_pct = 0.0  # total estimated travel since start (wear counter)
        # A floating actuator's position is unknown at power-up: assume open, sync closed first.
        self.floating = self.kind == KIND_FLOATING
        self.initial_sync = self.floating
        if self.initial_sync:
            self.estimate_pct = 100.0

    def step(self, dt_s: float, target_pct: float, feedback_pct: float, feedback_ok: bool):
        """Drive toward target_pct for this cycle of dt_s seconds."""
        if target_pct != target_pct:
            target_pct = self.estimate_pct
        if target_pct < 0.0:
            target_pct = 0.0
        elif target_pct > 100.0:
            target_pct = 100.0
        if self.shut_below_pct > 0.0:
            if self.shut and target_pct >= 2.0 * self.shut_below_pct:
                self.shut = False
            elif not self.shut and target_pct < self.shut_below_pct:
                self.shut = True
            if self.shut:
                target_pct = 0.0
        self.cmd_pct = target_pct
        self.open_pulse_s = 0.0
        self.close_pulse_s = 0.0
        fb = feedback_ok and feedback_pct == feedback_pct and -5.0 <= feedback_pct <= 105.0
        if not self.floating:
            before = self.estimate_pct
            if fb:
                self.estimate_pct = min(100.0, max(0.0, feedback_pct))
            else:
                max_step = 100.0 * dt_s / self.run_time_s
                d = target_pct - self.estimate_pct
                if d > max_step:
                    d = max_step
                elif d < -max_step:
                    d = -max_step
                self.estimate_pct += d
            self.travel_pct += abs(self.estimate_pct - before)
            return
        if fb:
            self.estimate_pct = min(100.0, max(0.0, feedback_pct))
            self.initial_sync = False
        elif self.initial_sync:
            # Power-up without a known position: close onto the stop first (full run + overdrive).
            if self.synced_end == -1:
                self.initial_sync = False
            else:
                target_pct = 0.0
        est = self.estimate_pct
        drive_s = (target_pct - est) / 100.0 * self.run_time_s
        to_end = target_pct <= 0.0 or target_pct >= 100.0
        direction = 0
        if to_end:
            want_end = 1 if target_pct >= 100.0 else -1
            if self.synced_end != want_end:
                direction = want_end
                if self.drive_dir != want_end:
                    self.end_drive_s = 0.0
        elif drive_s >= self.min_pulse_s:
            direction = 1
        elif drive_s <= -self.min_pulse_s:
            direction = -1
        if direction == 0:
            self.drive_dir = 0
            self.drive_run_s = 0.0
            self.last_full = False
            return
        remaining_s = drive_s if drive_s > 0.0 else -drive_s
        # A motor starting from rest loses its start delay; one already running on does not.
        delay_s = 0.0 if (direction == self.drive_dir and self.last_full) else self.start_delay_s
        if to_end:
            # Drive to the stop and on by the overdrive, wherever the estimate thinks it is.
            pulse_s = remaining_s + self.overdrive_s - self.end_drive_s
            if pulse_s > dt_s - delay_s:
                pulse_s = dt_s - delay_s
            if pulse_s < 0.0:
                pulse_s = 0.0
            beyond_s = pulse_s - remaining_s
            if beyond_s > 0.0:
                self.end_drive_s += beyond_s
            if self.end_drive_s >= self.overdrive_s - 1e-9:
                self.synced_end = direction
        else:
            self.synced_end = 0
            self.end_drive_s = 0.0
            pulse_s = remaining_s if remaining_s < dt_s - delay_s else dt_s - delay_s
            if pulse_s < 0.0:
                pulse_s = 0.0
        sent_s = pulse_s + delay_s  # what the relay is told: movement plus the start delay
        self.last_full = sent_s >= dt_s - 1e-9
        if direction > 0:
            self.open_pulse_s = sent_s
        else:
            self.close_pulse_s = sent_s
        if direction == self.drive_dir:
            self.drive_run_s += pulse_s
        else:
            self.drive_dir = direction
            self.drive_run_s = pulse_s
        delta = direction * pulse_s * 100.0 / self.run_time_s
        est += delta
        self.travel_pct += delta if delta > 0.0 else -delta
        if est <= 0.0:
            est = 0.0
        elif est >= 100.0:
            est = 100.0
        if self.drive_run_s >= self.run_time_s:
            # A full run-time drive in one direction: the valve is on the stop whatever we thought.
            est = 100.0 if direction > 0 else 0.0
        self.estimate_pct = est

    def snapshot(self) -> dict:
        return {"estimate_pct": self.estimate_pct, "travel_pct": self.travel_pct}

    def restore(self, d: dict):
        try:
            est = float(d.get("estimate_pct", 0.0))
            travel = float(d.get("travel_pct", 0.0))
        except (TypeError, ValueError):
            return
        if est == est:
            self.estimate_pct = min(100.0, max(0.0, est))
        if travel == travel and travel >= 0.0:
            self.travel_pct = travel
        # After a restart a floating actuator's real position is uncertain: re-sync at the next end
        # (the snapshot's estimate is trusted meanwhile, so no closing stroke at start-up).
        self.initial_sync = False
        self.synced_end = 0
        self.end_drive_s = 0.0
