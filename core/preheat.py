"""The pre-heat planner and feed-forward: the season calendar and the forecast put to use.

Pre-heat. The flats must be at 18 degC at 00:00 of the season's first day (core.season), and
they start the window cold (the pre-season state, e.g. 12 degC). Heating them early costs the
losses of warm rooms for every hour they are warm before they need to be; the least heat brings
them up as late as possible at the highest supply. So in the pre-heat window the planner keeps
the heating off (the valve shut, the pumps circulating, frost protection acting) and starts
at the latest time that still brings the coldest building group (the room collectors' low
statistic, core.room_feedback) to its floor + `margin_k` by `margin_h` before 00:00, then
supplies `supply_c` (through the limiters) until it is there (without pausing: the air answers
the radiators within the hour and the walls over a day, so a first quick rise of the air says
little of the time still needed); there (phase hold) the normal control, room feedback
included, holds the rooms until 00:00 (switching the heat off would let the air fall back
within the hour: the walls are still cold). The time needed is a one-node model
of the building driven by the forecast outdoor temperatures (core.forecast):

    dT/dt = f x (k_h x (S - T) - k_l x (T - T_out)),   k_l = 1 / tau_h,
    k_h = k_l x (design_room - T_design) / (S_design - design_room)

the emitters' gain k_h taken from the heating curve itself (at -20 degC outdoor the curve's
supply holds the design room temperature: the curve is the station's statement of its
buildings), tau_h a conservative building time constant. It is re-planned every `replan_s`
from the measured rooms and the forecast, so it corrects itself: a warm day ahead or rooms that
cooled less than expected move the start later, a cold night ahead earlier; and at the end of
each heating run (of at least three hours) it learns `f`, the rise it measured against the one
the model predicted, clamped to [0.5, 2] (kept in the snapshot), so a building that warms faster
than the model is started later the next time. Without fresh room readings it cannot see the rooms: it starts
`fallback_lead_h` before 00:00 (conservative: the normal control, as without the planner,
heats from then on).

Feed-forward. In the season, with a forecast, it looks `ff_horizon_h` ahead: when the supply
the curve (plus the room trim) will need at the coldest forecast hour exceeds what the station
can give (the curve's max_supply_c), or the mean ahead is more than `ff_drop_k` below the
building-attenuated outdoor temperature the curve runs on, it raises the supply ahead of time
by ff_gain x the excess (at most `ff_max_k`) while the valve still has travel: heat stored in
the walls before the cold spell instead of falling short in it. Symmetrically, when the mean
ahead is that much above it and the coldest rooms are at least WARM_K above their floor, it
cuts the supply as much: the walls' heat carries the rooms into the mild hours.

Inert without a calendar, without a wall clock, or (the pre-heat) without a usable forecast:
the station then runs exactly as without this module. Outside the season and its pre-heat
window (calendar known) the phase is OFF: core.station keeps the heating off unless the
supervisor leases it on (remote mode with a supply setpoint lease) or the operator is on the
panel (manual).

MicroPython-compatible, no I/O.
"""

from . import checks

DEFAULTS = {
    "enabled": True,  # with a calendar and a forecast (else inert either way)
    "margin_k": 0.3,  # the coldest group at floor + this at 00:00 of day one
    "margin_h": 1.0,  # ... this long before 00:00
    "supply_c": 90.0,  # pre-heat supply (held within the curve's max and the limiters)
    # building time constant of the start model (larger: earlier, safer). The model assumes
    # supply_c; a station short of primary heat reaches less (Jincheng's bench station 55 degC):
    # 100 h brought its coldest group to 17.75 degC at 00:00 of day one, 130 h to 18.88.
    "tau_h": 130.0,
    "replan_s": 300.0,  # re-planned this often from the rooms and the forecast
    "fallback_lead_h": 36.0,  # without fresh room readings: heat from this long before 00:00
    "ff_enabled": True,
    "ff_horizon_h": 12.0,  # feed-forward looks this far ahead in the forecast (its mean and its coldest hour)
    "ff_gain_k_per_k": 0.5,  # supply change per K of shortfall / of change beyond ff_drop_k
    "ff_drop_k": 5.0,  # the mean ahead this much below (above) the attenuated outdoor: a cold (mild) spell
    "ff_max_k": 6.0,
    "ff_travel_pct": 98.0,  # the valve has travel below this opening
}
RANGES = {
    "margin_k": (0.0, 3.0, "K"),
    "margin_h": (0.0, 12.0, "h"),
    "supply_c": (30.0, 130.0, "degC"),
    "tau_h": (10.0, 1000.0, "h"),
    "replan_s": (10.0, 3600.0, "s"),
    "fallback_lead_h": (1.0, 240.0, "h"),
    "ff_horizon_h": (1.0, 72.0, "h"),
    "ff_gain_k_per_k": (0.0, 3.0, "K/K"),
    "ff_drop_k": (1.0, 40.0, "K"),
    "ff_max_k": (0.0, 20.0, "K"),
    "ff_travel_pct": (50.0, 100.0, "%"),
}

# Phases (telemetry "preheat_phase").
P_INERT = 0  # no calendar, no wall clock, or pre-heat window without a forecast: as today
P_OFF = 1  # outside the season and its pre-heat window: heating only on command
P_WAIT = 2  # pre-heat window, not yet: heating off
P_HEAT = 3  # pre-heat window, heating at supply_c
P_SEASON = 4  # in the season: normal control (+ feed-forward)
P_HOLD = 5  # pre-heat window, the target reached: normal control holds the rooms until 00:00
PHASE_NAMES = ("inert", "off", "wait", "heat", "season", "hold")

MAX_NEEDED_H = 240.0
LEARN_AFTER_S = 3 * 3600.0  # steady heating this long before a rise is measured (the air's first jump passed)
WARM_K = 0.5  # a feed-forward cut only while the coldest rooms are this far above their floor
F_MIN = 0.5
F_MAX = 2.0
DESIGN_OUTDOOR_C = -20.0


def validate(section) -> list:
    return checks.section("preheat", section, DEFAULTS, RANGES)


class Preheat:
    """The planner's state and its two outputs: `phase` and `ff_k` (see the module docstring)."""

    def __init__(self, section: dict) -> None:
        s = checks.merged(DEFAULTS, section)
        self.enabled = bool(s["enabled"])
        self.margin_k = float(s["margin_k"])
        self.margin_h = float(s["margin_h"])
        self.supply_c = float(s["supply_c"])
        self.k_l = 1.0 / float(s["tau_h"])
        self.replan_s = float(s["replan_s"])
        self.fallback_lead_h = float(s["fallback_lead_h"])
        self.ff_enabled = bool(s["ff_enabled"])
        self.ff_horizon_h = float(s["ff_horizon_h"])
        self.ff_gain = float(s["ff_gain_k_per_k"])
        self.ff_drop_k = float(s["ff_drop_k"])
        self.ff_max_k = float(s["ff_max_k"])
        self.ff_travel_pct = float(s["ff_travel_pct"])
        self.phase = P_INERT
        self.ff_k = 0.0
        self.next_s = -1e18  # monotonic time of the next plan
        self.needed_h = -1.0  # the model's hours to the target (telemetry; -1: not planning)
        self.left_h = -1.0  # hours to 00:00 of day one (-1: not planning)
        self.f = 1.0  # learned speed factor of the building
        self.heat_since_s = -1.0  # monotonic start of the current steady heating (< 0: not heating)
        self.heat_t0_c = 0.0  # the rooms' low then
        self.heat_pred_k = 0.0  # the rise the model predicted since then

    # --- the model ---------------------------------------------------------------------------
    def rate_k_per_h(self, room_c: float, outdoor_c: float, supply_c: float, k_h: float) -> float:
        """The model's rise of the rooms (K/h) at `supply_c`."""
        return self.f * (k_h * (supply_c - room_c) - self.k_l * (room_c - outdoor_c))

    def hours_needed(self, room_c: float, target_c: float, supply_c: float, k_h: float, forecast, wall_s: float,
                     fallback_out_c: float) -> float:
        """Hours of heating at `supply_c` the model needs from `room_c` to `target_c`, stepped
        hourly on the forecast outdoor temperature from `wall_s` (the last forecast value, or
        `fallback_out_c`, beyond its end); MAX_NEEDED_H when it never gets there."""
        t = room_c
        h = 0.0
        out_c = fallback_out_c
        while t < target_c:
            if h >= MAX_NEEDED_H:
                return MAX_NEEDED_H
            v = forecast.value_at(wall_s + h * 3600.0, wall_s) if forecast is not None else None
            if v is not None:
                out_c = v
            rate = self.rate_k_per_h(t, out_c, supply_c, k_h)
            if rate <= 0.0:
                return MAX_NEEDED_H
            if t + rate >= target_c:
                return h + (target_c - t) / rate
            t += rate
            h += 1.0
        return h

    # --- the plan ----------------------------------------------------------------------------
    def plan(self, now_s: float, wall_s: float, wall_ok: bool, calendar, forecast, room_low_c: float, room_ok: bool,
             floor_c: float, outdoor_c: float, ref_c: float, curve, room_setpoint_c: float, room_trim_k: float,
             valve_pct: float) -> None:
        """Decide the phase and the feed-forward until the next plan (every replan_s).
        `outdoor_c` the outdoor temperature now, `ref_c` the building-attenuated one the curve
        runs on; `curve` a core.heating_curve curve (unclamped_c, max_supply_c)."""
        self.next_s = now_s + self.replan_s
        self.needed_h = -1.0
        self.left_h = -1.0
        self.ff_k = 0.0
        if not self.enabled or not wall_ok or not calendar.known():
            self._phase(P_INERT, now_s)
            return
        if calendar.in_season(wall_s):
            self._phase(P_SEASON, now_s)
            if self.ff_enabled and forecast is not None and forecast.usable(wall_s):
                self.ff_k = self.feed_forward(wall_s, forecast, ref_c, curve, room_setpoint_c, room_trim_k, valve_pct,
                                              room_ok and room_low_c >= floor_c + WARM_K)
            return
        if not calendar.in_preheat(wall_s):
            self._phase(P_OFF, now_s)
            return
        if forecast is None or not forecast.usable(wall_s):
            self._phase(P_INERT, now_s)
            return
        left_h = (calendar.start_s - wall_s) / 3600.0
        self.left_h = left_h
        supply_c = self.supply_c if self.supply_c < curve.max_supply_c else curve.max_supply_c
        if not room_ok:  # blind: the normal control from fallback_lead_h before 00:00
            self._phase(P_INERT if left_h <= self.fallback_lead_h else P_WAIT, now_s)
            return
        target_c = floor_c + self.margin_k
        k_h = self.emitter_gain(curve)
        needed_h = self.hours_needed(room_low_c, target_c, supply_c, k_h, forecast, wall_s, outdoor_c)
        self.needed_h = needed_h
        if self.phase == P_HOLD:  # there: the normal control (room feedback) holds it until 00:00
            return
        if self.phase == P_HEAT:  # once started it heats through to the target
            heat = room_low_c < target_c
        else:
            heat = room_low_c < target_c and needed_h + self.margin_h >= left_h
        if heat and self.heat_since_s < 0.0:
            self.heat_since_s = now_s
            self.heat_t0_c = room_low_c
            self.heat_pred_k = 0.0
        elif heat:
            self.heat_pred_k += self.rate_k_per_h(room_low_c, outdoor_c, supply_c, k_h) * self.replan_s / 3600.0
        elif self.heat_since_s >= 0.0:
            self._learn(now_s, room_low_c)
        self._phase(P_HEAT if heat else (P_HOLD if self.phase == P_HEAT else P_WAIT), now_s)

    def emitter_gain(self, curve) -> float:
        """k_h (1/h): the curve's supply at DESIGN_OUTDOOR_C holds its design room temperature."""
        room_c = curve.design_room_c
        lift = curve.unclamped_c(DESIGN_OUTDOOR_C, room_c) - room_c
        if lift < 5.0:
            lift = 5.0
        return self.k_l * (room_c - DESIGN_OUTDOOR_C) / lift

    def _learn(self, now_s: float, room_c: float) -> None:
        # A heating run reached the target: its measured rise against the one the model
        # predicted for it (runs of at least LEARN_AFTER_S: the air's first jump is not the walls').
        if now_s - self.heat_since_s < LEARN_AFTER_S or self.heat_pred_k <= 0.05:
            return
        ratio = (room_c - self.heat_t0_c) / (self.heat_pred_k / self.f)
        f = 0.5 * self.f + 0.5 * ratio
        self.f = F_MIN if f < F_MIN else (F_MAX if f > F_MAX else f)

    def _phase(self, phase, now_s: float) -> None:
        if phase != P_HEAT:
            self.heat_since_s = -1.0
        self.phase = phase

    def feed_forward(self, wall_s: float, forecast, outdoor_c: float, curve, room_setpoint_c: float, room_trim_k: float,
                     valve_pct: float, rooms_warm: bool) -> float:
        """The supply raise (K, negative: a cut) from the forecast `ff_horizon_h` ahead: a raise
        when the curve will need more than max_supply_c at the coldest hour, or when the mean
        ahead is more than ff_drop_k below `outdoor_c` (the building-attenuated outdoor
        temperature the curve runs on) and the valve has travel; a cut when the mean ahead is as
        much above it and the rooms are warm (`rooms_warm`: the room trim's floor guard has them
        all above floor + 0.5 K), so the walls' heat carries them into the mild hours."""
        low_c = outdoor_c
        total = 0.0
        n = 0
        h = 1.0
        while h <= self.ff_horizon_h:
            v = forecast.value_at(wall_s + h * 3600.0, wall_s)
            if v is not None:
                total += v
                n += 1
                if v < low_c:
                    low_c = v
            h += 1.0
        if n == 0:
            return 0.0
        mean_c = total / n
        ff = 0.0
        if valve_pct < self.ff_travel_pct:
            need_c = curve.unclamped_c(low_c, room_setpoint_c) + room_trim_k
            if need_c > curve.max_supply_c:
                ff = self.ff_gain * (need_c - curve.max_supply_c)
            drop = outdoor_c - mean_c - self.ff_drop_k
            if drop > 0.0 and self.ff_gain * drop > ff:
                ff = self.ff_gain * drop
        rise = mean_c - outdoor_c - self.ff_drop_k
        if ff == 0.0 and rise > 0.0 and rooms_warm:
            ff = -self.ff_gain * rise
        if ff > self.ff_max_k:
            return self.ff_max_k
        return ff if ff > -self.ff_max_k else -self.ff_max_k

    def holds_off(self) -> bool:
        """The station keeps the heating off (outside the season, or waiting to pre-heat)."""
        return self.phase == P_OFF or self.phase == P_WAIT

    def telemetry(self) -> dict:
        return {"preheat_phase": self.phase, "preheat_needed_h": round(self.needed_h, 2) if self.needed_h >= 0.0 else None,
                "preheat_left_h": round(self.left_h, 2) if self.left_h >= 0.0 else None,
                "preheat_speed_factor": round(self.f, 3), "feedforward_k": round(self.ff_k, 2)}

    def snapshot(self) -> dict:
        return {"f": self.f}

    def restore(self, d) -> None:
        if isinstance(d, dict):
            f = d.get("f")
            if checks.is_number(f) and F_MIN <= f <= F_MAX:  # type: ignore[operator]
                self.f = float(f)  # type: ignore[arg-type]
