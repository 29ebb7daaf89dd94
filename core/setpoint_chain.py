"""The supply setpoint chain: outdoor conditioning, curve, schedule, room feedback, ramp, limiters.

Contract with core.station (StationController composes this class):

    chain = SupplySetpointChain(settings)   # {"curve", "outdoor", "schedule", "limiters",
                                            #  "room_feedback": {...}}; missing = DEFAULTS;
                                            # checked by core.settings.load beforehand
    sp_c = chain.step(now_s, outdoor_c, outdoor_ok, inputs, room_setpoint_c, mode_flags)
        # raw outdoor reading (the chain runs the fallback chain itself); inputs = process image
        # (primary return, heat power, flow, optional "time_of_day_s"); mode_flags =
        # {"summer_allowed": bool, "remote_supply_c": None|float, "boost_k": float}
        # returns the supply setpoint in degC, or 0.0 while heating is off (summer cut-out)
    chain.heating_on; chain.diag (plain numbers); chain.set_room_readings(readings, now_s);
    chain.set_supervisor_outdoor(temp_c, now_s); chain.snapshot(); chain.restore(d, now_s)
Each module exports DEFAULTS, RANGES and validate(section) -> [problem, ...]; core.settings gathers them
under the section names "curve", "outdoor", "schedule", "limiters", "room_feedback", "pi", "valve".

Order inside step (each stage bounded, so the result is always inside [min, max] of the curve):
 1. outdoor: composite value and source (sensor, supervisor, last good, fixed);
 2. heating limit (summer cut-out) with hysteresis on the attenuated outdoor value; forced on
    when summer is not allowed, a remote supply setpoint is set, or the outdoor value is fixed;
 2a. the cut-out is held (heating stays or comes back on) while the room feedback's fresh low
    statistic is below its floor_c, until it is back at floor_c + floor_release_k
    (room_feedback.holds_heating; no fresh collector: no hold). `held_by_rooms` shows it; a
    "heating" event "summer_cutout_held_by_rooms" / "summer_cutout_hold_released" marks it;
 3. base = curve (with room-setpoint shift) + schedule offset (faded setback, post-setback
    boost) + room-feedback trim + boost_k, or the remote supply setpoint instead of the first three;
    the room trim is first rescaled to the curve's lift above the room setpoint (follow_load), so
    it follows the heating load at once when the outdoor temperature moves;
 4. ramp: the rise of the base is limited to ramp_up_k_per_h (falls pass at once);
 5. limiters (return temperature, power, flow) trim down; clamp to [min_supply_c, max_supply_c].
step() returns this: the curve's setpoint (what the start-up warm-up aims at).
 6. finish(mode, warmup_ramp_c, frost_floor_c, protection_off): the mode's word, giving the
    final supply setpoint that nothing edits after: the warm-up ramp caps it; heating only in
    the modes that allow it (the summer cut-out does not bind manual); a frost floor
    (core.interlocks frost_supply_floor_c) lifts it and keeps heating on; heating off, or a
    protective trip or no circulation (`protection_off`), gives 0.0 = "heating off" for the
    valve loop, except in manual (the operator holds the valve; the interlocks still act).
"""

from . import heating_curve, outdoor
from .heating_curve import HeatingCurve, merged
from .limiters import Limiters, reading
from .modes import M_MANUAL, M_STARTUP_WARMUP, heating_allowed
from .outdoor import OutdoorConditioner
from .room_feedback import RoomFeedback
from .schedule import Schedule

# Mode indices held as C ints by the compiled module (setpoint_chain.pxd).
_M_MANUAL = M_MANUAL
_M_STARTUP_WARMUP = M_STARTUP_WARMUP

SECTIONS = ("curve", "outdoor", "schedule", "limiters", "room_feedback")
TIME_OF_DAY_S = "time_of_day_s"


def _number(value, default: float) -> float:
    """A finite float from a mode flag, else `default` (None, NaN, bool or text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        v = float(value)
        if -1e6 < v < 1e6:
            return v
    return default


def flag_number(v: float, default: float) -> float:
    """_number for a float already in hand (a lease value): itself when finite and bounded."""
    if v == v and -1e6 < v < 1e6:
        return v
    return default


class SupplySetpointChain:
    """Outdoor temperature and room data in, secondary supply setpoint out."""

    def __init__(self, settings):
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise ValueError("control settings=%r: must be a table of sections" % (settings,))
        self.curve = HeatingCurve(settings.get("curve", {}))
        self.outdoor = OutdoorConditioner(settings.get("outdoor", {}))
        self.schedule = Schedule(settings.get("schedule", {}))
        self.limiters = Limiters(settings.get("limiters", {}))
        self.room = RoomFeedback(settings.get("room_feedback", {}))
        c = merged(heating_curve.DEFAULTS, settings.get("curve", {}))
        self.ramp_k_per_s = float(c["ramp_up_k_per_h"]) / 3600.0
        o = merged(outdoor.DEFAULTS, settings.get("outdoor", {}))
        self.heating_limit_c = float(o["heating_limit_c"])
        self.heating_limit_hyst_k = float(o["heating_limit_hysteresis_k"])
        self.started = False
        self.last_s = 0.0
        self.heating_on = True
        self.ramp_started = False
        self.cut_out = False
        self.ramp_c = 0.0
        self.setpoint_c = 0.0
        self.curve_c = 0.0
        self.schedule_k = 0.0
        self.room_trim_k = 0.0
        self.boost_k = 0.0
        self.limit_trim_k = 0.0
        self.remote = False
        self.room_setpoint_c = self.curve.design_room_c
        self.held_by_rooms = False  # the summer cut-out is held by rooms below their floor
        self.events = []  # type: list  # the station's list (it sets it), "heating" events

    def set_room_readings(self, readings, now_s: float):
        """Room-temperature collector readings [{"collector", "group", "temp_c", "age_s"}, ...]."""
        self.room.set_readings(readings, now_s)

    def set_room_temps(self, ids, groups, temps, now_s: float):
        """Room readings taken now as parallel sequences (core.room_feedback set_temps)."""
        self.room.set_temps(ids, groups, temps, now_s)

    def set_supervisor_outdoor(self, temp_c, now_s: float):
        """An outdoor temperature sent by the supervisor (used while the sensor is not ok)."""
        try:
            self.outdoor.set_supervisor(float(temp_c), now_s)
        except (TypeError, ValueError):
            pass

    def step(self, now_s: float, outdoor_c: float, outdoor_ok: bool, inputs: dict, room_setpoint_c: float,
             mode_flags: dict) -> float:
        """The supply setpoint (degC) for this cycle, 0.0 while heating is off; never raises."""
        tod = reading(inputs, "time_of_day_s")  # TIME_OF_DAY_S
        if tod != tod:
            tod = -1.0
        lim = self.limiters
        return self.step_values(now_s, outdoor_c, outdoor_ok, tod, reading(inputs, lim.return_name),
                                reading(inputs, lim.power_name), reading(inputs, lim.flow_name), room_setpoint_c,
                                bool(mode_flags.get("summer_allowed", True)),
                                _number(mode_flags.get("remote_supply_c"), -1e9),
                                _number(mode_flags.get("boost_k", 0.0), 0.0))

    def step_values(self, now_s: float, outdoor_c: float, outdoor_ok: bool, time_of_day_s: float, return_c: float,
                    power_kw: float, flow_m3h: float, room_setpoint_c: float, summer_allowed: bool,
                    remote_c: float, boost_k: float) -> float:
        """step() on plain numbers (the station's cycle, no dicts): the time of day (-1.0 without
        one), the limiters' readings (NaN when absent or not ok, as limiters.reading gives them),
        the mode flags as step() reads them (remote_c -1e9 without a remote setpoint; both passed
        through _number's finite-and-bounded check)."""
        if not self.started:
            self.started = True
            self.last_s = now_s
        dt_s = now_s - self.last_s
        if dt_s < 0.0:
            dt_s = 0.0
        self.last_s = now_s
        out = self.outdoor
        t_out = out.step(now_s, outdoor_c, outdoor_ok)
        self.remote = remote_c > -1e8
        self.boost_k = boost_k
        # 2. heating limit
        held = False
        if not summer_allowed or self.remote or out.source == 3:  # SOURCE_FIXED
            self.heating_on = True
        else:
            if self.heating_on:
                cut = out.attenuated_c >= self.heating_limit_c
            else:
                cut = out.attenuated_c > self.heating_limit_c - self.heating_limit_hyst_k
            if cut and self.room.holds_heating(now_s, self.held_by_rooms):
                held = True
                cut = False
            self.heating_on = not cut
        if held != self.held_by_rooms:
            self.held_by_rooms = held
            self.events.append({"kind": "heating",
                                "reason": "summer_cutout_held_by_rooms" if held else "summer_cutout_hold_released",
                                "room_low_c": self.room.low_c, "at_s": now_s})
        if not self.heating_on:
            self.ramp_started = False
            self.cut_out = True
            self.limiters.reset()
            self.setpoint_c = 0.0
            return 0.0
        # 3. base
        curve = self.curve
        if room_setpoint_c != room_setpoint_c or room_setpoint_c < 10.0 or room_setpoint_c > 30.0:
            room_setpoint_c = curve.design_room_c
        self.room_setpoint_c = room_setpoint_c
        unclamped_c = curve.unclamped_c(t_out, room_setpoint_c)
        self.curve_c = min(curve.max_supply_c, max(curve.min_supply_c, unclamped_c))
        self.schedule_k = self.schedule.step(now_s, time_of_day_s, t_out)
        self.room.follow_load(unclamped_c - room_setpoint_c)
        self.room.useful_min_k = curve.min_supply_c - unclamped_c - self.schedule_k - boost_k
        self.room_trim_k = self.room.step(now_s, dt_s)
        if self.remote:
            base_c = remote_c + boost_k
        else:
            base_c = unclamped_c + self.schedule_k + self.room_trim_k + boost_k
        base_c = min(curve.max_supply_c, max(curve.min_supply_c, base_c))
        # 4. ramp
        if not self.ramp_started:
            self.ramp_started = True
            # Cold start: no ramp; back from the cut-out: ramp up from the minimum.
            self.ramp_c = curve.min_supply_c if self.cut_out else base_c
            self.cut_out = False
        if base_c > self.ramp_c and self.ramp_k_per_s > 0.0:
            top_c = self.ramp_c + self.ramp_k_per_s * dt_s
            self.ramp_c = base_c if base_c < top_c else top_c
        else:
            self.ramp_c = base_c
        # 5. limiters and clamp
        self.limit_trim_k = self.limiters.step_values(dt_s, t_out, return_c, power_kw, flow_m3h)
        setpoint_c = self.ramp_c + self.limit_trim_k
        setpoint_c = min(curve.max_supply_c, max(curve.min_supply_c, setpoint_c))
        self.setpoint_c = setpoint_c
        return setpoint_c

    def finish(self, mode, warmup_ramp_c: float, frost_floor_c: float, protection_off: bool) -> float:
        """Stage 6 (module docstring): the final supply setpoint from step()'s, 0.0 = heating off."""
        setpoint_c = self.setpoint_c
        if mode == _M_STARTUP_WARMUP and setpoint_c > warmup_ramp_c:
            setpoint_c = warmup_ramp_c
        heating = heating_allowed(mode) and (self.heating_on or mode == _M_MANUAL)
        if frost_floor_c > 0.0:
            if not heating or setpoint_c < frost_floor_c:
                setpoint_c = frost_floor_c
            heating = True
        if mode != _M_MANUAL and (not heating or protection_off):
            setpoint_c = 0.0
        return setpoint_c

    @property
    def diag(self) -> dict:
        out = self.outdoor
        lim = self.limiters
        room = self.room
        return {
            "supply_setpoint_c": self.setpoint_c, "curve_c": self.curve_c, "ramp_c": self.ramp_c,
            "outdoor_filtered_c": out.composite_c, "outdoor_attenuated_c": out.attenuated_c,
            "outdoor_source": out.source, "outdoor_sensor_fault": out.sensor_fault,
            "heating_on": self.heating_on, "summer_cutout_held_by_rooms": self.held_by_rooms,
            "room_setpoint_c": self.room_setpoint_c,
            "schedule_k": self.schedule_k, "setback_k": self.schedule.setback_k,
            "schedule_boost_k": self.schedule.boost_active_k, "boost_k": self.boost_k,
            "remote_supply": self.remote, "room_trim_k": self.room_trim_k,
            "room_shortage_margin_k": room.margin_k,
            "room_low_c": room.low_c if room.n_fresh > 0 else None, "room_fresh": room.n_fresh,
            "room_ignored": room.n_ignored, "room_below_floor": room.n_below_floor,
            "room_rejected": room.rejected, "room_groups": room.n_groups, "room_outliers": room.n_outliers,
            "return_limit_c": lim.return_limit_c, "return_limit_trim_k": lim.return_trim_k,
            "power_limit_trim_k": lim.power_trim_k, "flow_limit_trim_k": lim.flow_trim_k,
            "limit_trim_k": self.limit_trim_k, "return_sensor_fault": lim.return_fault,
            "meter_fault": lim.meter_fault,
        }

    def snapshot(self) -> dict:
        """All state as plain JSON-safe data."""
        now_s = self.last_s
        return {
            "heating_on": self.heating_on, "held_by_rooms": self.held_by_rooms,
            "ramp_started": self.ramp_started, "ramp_c": self.ramp_c,
            "setpoint_c": self.setpoint_c, "outdoor": self.outdoor.snapshot(),
            "schedule": self.schedule.snapshot(now_s), "limiters": self.limiters.snapshot(),
            "room": self.room.snapshot(now_s),
        }

    def restore(self, d, now_s: float):
        """State from `snapshot()`; bad or missing entries keep the fresh-start values."""
        if not isinstance(d, dict):
            return
        self.started = True
        self.last_s = now_s
        self.heating_on = bool(d.get("heating_on", True))
        self.held_by_rooms = bool(d.get("held_by_rooms", False))
        try:
            ramp_c = float(d.get("ramp_c", 0.0))
            sp_c = float(d.get("setpoint_c", 0.0))
        except (TypeError, ValueError):
            ramp_c = sp_c = 0.0
        if ramp_c == ramp_c and sp_c == sp_c:
            self.ramp_started = bool(d.get("ramp_started", False))
            self.ramp_c = ramp_c
            self.setpoint_c = sp_c
        sub = d.get("outdoor")
        if isinstance(sub, dict):
            try:
                self.outdoor.restore(sub, now_s)
            except (TypeError, ValueError):
                self.outdoor.reset()
        sub = d.get("schedule")
        if isinstance(sub, dict):
            try:
                self.schedule.restore(sub, now_s)
            except (TypeError, ValueError):
                pass
        sub = d.get("room")
        if isinstance(sub, dict):
            self.room.restore(sub, now_s)
        sub = d.get("limiters")
        if isinstance(sub, dict):
            self.limiters.restore(sub)
