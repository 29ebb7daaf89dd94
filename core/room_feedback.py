"""Room feedback: trims the supply setpoint from many room-temperature collectors.

Goal: the coldest homes just above the 18 degC service floor (GB/T 33833 section 5.1) with the
least heat. The controlled value is a robust low statistic of the fresh, plausible readings
(a collector is ignored when its reading is older than max_age_s or outside
[plausible_min_c, plausible_max_c]); `statistic` chooses it:
- "group" (default): the median of each building group's collectors, then the coldest group.
  A group seen by a single collector that sits more than outlier_k below the next group is not
  trusted alone (one broken or badly placed collector must not drive a whole station); a cold
  group confirmed by two or more collectors always counts, since every home must reach 18 degC.
- "percentile": the `percentile` (default 10th) of all readings, and never the single minimum
  when there are 3 or more.

The trim is a slow integral, dtrim/dt = gain_k_per_k x (target_c - predicted_c) / integral_time_s,
where predicted_c is the low statistic trend_horizon_s ahead on its smoothed trend (the rooms
answer hours late, so a fall is met before it reaches the floor, and the daily swing is damped),
held inside [trim_min_k, trim_max_k] and still within +-deadband_k of the target. It rises
raise_factor times faster than it falls: heat is saved slowly and comfort restored quickly,
because the rooms answer hours late and an undershoot below 18 degC is what homes complain of. It lowers
the curve when every home is warm (saving heat) and raises it as the cold ones near 18 degC;
while the low statistic is below floor_c it may only rise, and it does not wind below the trim
that already brings the supply to its minimum (the chain sets `useful_min_k` each cycle: after a
sunny afternoon the heat comes back as soon as the rooms cool, not hours later). With no usable
reading it decays to 0 with decay_s (the curve alone, the safe default).

The default gain, 10 K of supply per K of room error over 4 h (x3 rising), was measured on the
reference plant (tools/plant) over whole seasons: against 3 K/K it narrowed the coldest group's
swing around its mean from 0.61 to 0.40 K on a mild year and from 0.89 to 0.66 K on a sunny
continental one, and raised the coldest hour of the Arxan year from 18.12 to 18.18 degC.

Out of heat: when the station has run short of heat (the valve fully open and the supply still
below its setpoint: the station tells `note_shortage`), the target is raised by
shortage_margin_k for shortage_hold_s. A cold spell beyond the station's capacity comes in
waves over days; in the hours between them, while the valve still has travel, the homes are
warmed a little above their usual level so they enter the next cold night with heat stored in
their walls. Measured on the reference plant over the Arxan year drawn with seed 8 (a day at a
mean of -42 degC, the valve fully open for hours even with the circulation raised): the coldest
group's lowest hour 18.27 degC instead of 17.80 (1.03 K.h below 18), for 0.1 % more heat in
the season (131.31 against 131.18 kWh/m2). It costs heat only in the day after a shortage.

Floor hold: `holds_heating` tells the chain whether the rooms forbid the summer cut-out. It
does while the low statistic of the fresh readings (the coldest trusted group, or the
percentile) is below floor_c, and once holding until it is back at floor_c + floor_release_k
(no chatter around the floor). With no fresh reading, or room feedback disabled, it never
holds (the heating limit alone decides, as without collectors).

With `scale_with_load` (default) the trim follows the heating load: the chain reports the
curve's lift above the room setpoint each cycle (`follow_load`) and the trim is rescaled by
the ratio of the new lift to the old (lifts below min_lift_k count as min_lift_k). A trim is
then a correction of the curve's gradient, not a parallel shift: the homes that need 10 % more
than the curve gives at -20 degC need 10 % more at -40 degC too, and get it the moment the
outdoor temperature falls, not hours later when their rooms have cooled (the building's
mismatch to the curve grows with the load; a shift learnt at one outdoor temperature is wrong
at the next). A negative trim (homes warmer than the curve intends: free gains, which do not
grow with the load) is kept as a shift, so a cold front never deepens it.
"""

from . import checks
from .checks import merged
from .outdoor import lag_step
from .units import clamp

DEFAULTS = {
    "enabled": True,
    "target_c": 18.5,
    "floor_c": 18.0,
    "statistic": "group",  # "group" or "percentile"
    "percentile": 10.0,
    "outlier_k": 1.5,
    "max_age_s": 3600.0,
    "plausible_min_c": 5.0,
    "plausible_max_c": 35.0,
    "gain_k_per_k": 10.0,  # K of supply per K of room error per integral_time_s (see the module doc)
    "integral_time_s": 14400.0,  # 4 h: rooms answer over hours
    "deadband_k": 0.2,
    "raise_factor": 3.0,
    "trim_min_k": -8.0,
    "trim_max_k": 20.0,  # with scale_with_load: 30 % of a 65 K lift (edge flats on a common curve)
    "decay_s": 21600.0,
    "scale_with_load": True,  # the trim scales with the curve's lift above the room setpoint
    "min_lift_k": 10.0,  # lifts below this count as this (mild weather, summer)
    "trend_horizon_s": 3600.0,  # act on the low statistic this far ahead on its trend (0 = off)
    "trend_tau_s": 3600.0,  # smoothing of the trend (K/s) over the collector readings
    "shortage_margin_k": 0.5,  # target raised this much after the station ran short of heat
    "shortage_hold_s": 86400.0,  # ... for this long after the last shortage
    "floor_release_k": 0.5,  # a summer cut-out held by cold rooms is released at floor_c + this
}

RANGES = {
    "statistic": ("group", "percentile"),
    "target_c": (16.0, 24.0, "degC"),
    "floor_c": (10.0, 22.0, "degC"),
    "percentile": (0.0, 50.0, "%"),
    "outlier_k": (0.2, 10.0, "K"),
    "max_age_s": (60.0, 86400.0, "s"),
    "plausible_min_c": (-10.0, 15.0, "degC"),
    "plausible_max_c": (25.0, 50.0, "degC"),
    "gain_k_per_k": (0.0, 20.0, "K/K"),
    "integral_time_s": (60.0, 604800.0, "s"),
    "deadband_k": (0.0, 2.0, "K"),
    "raise_factor": (1.0, 10.0, ""),
    "trim_min_k": (-30.0, 0.0, "K"),
    "trim_max_k": (0.0, 30.0, "K"),
    "decay_s": (60.0, 604800.0, "s"),
    "min_lift_k": (1.0, 100.0, "K"),
    "trend_horizon_s": (0.0, 21600.0, "s"),
    "trend_tau_s": (300.0, 86400.0, "s"),
    "shortage_margin_k": (0.0, 3.0, "K"),
    "shortage_hold_s": (0.0, 604800.0, "s"),
    "floor_release_k": (0.1, 3.0, "K"),
}

MAX_COLLECTORS = 4096


def validate(section) -> list:
    """Every problem of a `room_feedback` settings section."""
    problems = checks.section("room_feedback", section, DEFAULTS, RANGES)
    if not isinstance(section, dict) or problems:
        return problems
    s = merged(DEFAULTS, section)
    if s["target_c"] < s["floor_c"]:
        problems.append("room_feedback.target_c=%r degC: must not be below room_feedback.floor_c=%r degC"
                        % (s["target_c"], s["floor_c"]))
    return problems


class RoomFeedback:
    """Many collectors in, one bounded supply trim (K) out."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.enabled = bool(s["enabled"])
        self.target_c = float(s["target_c"])
        self.floor_c = float(s["floor_c"])
        self.by_group = s["statistic"] == "group"
        self.percentile = float(s["percentile"])
        self.outlier_k = float(s["outlier_k"])
        self.max_age_s = float(s["max_age_s"])
        self.plausible_min_c = float(s["plausible_min_c"])
        self.plausible_max_c = float(s["plausible_max_c"])
        self.rate_per_k_s = float(s["gain_k_per_k"]) / float(s["integral_time_s"])
        self.deadband_k = float(s["deadband_k"])
        self.raise_factor = float(s["raise_factor"])
        self.trim_min_k = float(s["trim_min_k"])
        self.trim_max_k = float(s["trim_max_k"])
        self.decay_s = float(s["decay_s"])
        self.scale_with_load = bool(s["scale_with_load"])
        self.min_lift_k = float(s["min_lift_k"])
        self.lift_k = 0.0  # the last lift seen by follow_load (0: none yet)
        self.useful_min_k = -1e9  # trims below this leave the supply at its minimum (set by the chain)
        self.trend_horizon_s = float(s["trend_horizon_s"])
        self.trend_tau_s = float(s["trend_tau_s"])
        self.trend_k_per_s = 0.0  # smoothed slope of the low statistic
        self.trend_low_c = 0.0
        self.trend_s = -1.0  # when trend_low_c was taken (< 0: none)
        self.shortage_margin_k = float(s["shortage_margin_k"])
        self.shortage_hold_s = float(s["shortage_hold_s"])
        self.floor_release_k = float(s["floor_release_k"])
        self.short_until_s = -1e18  # the raised target holds until then
        self.margin_k = 0.0  # the target's present raise (K)
        self.readings = {}  # type: dict  # collector -> [temp_c, read_s]
        self.trim_k = 0.0
        self.lag_dt_s = 0.0
        self.lag_gain = 0.0
        self.low_c = 0.0
        self.n_fresh = 0
        self.n_ignored = 0
        self.n_below_floor = 0
        self.n_groups = 0
        self.n_outliers = 0
        self.rejected = 0  # malformed readings refused by set_readings (cumulative)
        self.next_check_s = -1.0  # when a fresh reading next turns stale

    def set_readings(self, readings, now_s: float):
        """Merge collector readings [{"collector", "group", "temp_c", "age_s"}, ...] (by collector).

        A malformed entry is counted in `rejected` and skipped; the others are kept.
        """
        if not isinstance(readings, (list, tuple)):
            self.rejected += 1
            return
        for r in readings:
            try:
                cid = r["collector"]
                temp_c = float(r["temp_c"])
                age_s = float(r.get("age_s", 0.0))
                group = r.get("group")
            except (TypeError, ValueError, KeyError, AttributeError):
                self.rejected += 1
                continue
            self._keep(cid, temp_c, age_s, group, now_s)
        self.evaluate(now_s)
        self.update_trend(now_s)

    def set_temps(self, ids, groups, temps, now_s: float):
        """set_readings for readings taken now (age 0) given as parallel sequences: collector
        `ids[i]` of group `groups[i]` reads `temps[i]` (degC). The same checks and the same
        state as set_readings([{"collector": ids[i], "group": groups[i], "temp_c": temps[i],
        "age_s": 0.0}, ...]), without a dict per reading (a compiled simulation loop)."""
        checks.parallel_readings("set_temps", ids, groups, temps)
        n = len(ids)
        i = 0
        while i < n:
            self._keep(ids[i], temps[i], 0.0, groups[i], now_s)
            i += 1
        self.evaluate(now_s)
        self.update_trend(now_s)

    def _keep(self, cid, temp_c: float, age_s: float, group, now_s: float):
        """Store one reading (a malformed one is counted in `rejected`)."""
        if temp_c != temp_c or age_s != age_s or age_s < 0.0 or not isinstance(cid, (str, int)):
            self.rejected += 1
            return
        r = self.readings.get(cid)
        if r is None and len(self.readings) >= MAX_COLLECTORS:
            self.rejected += 1
            return
        if not isinstance(group, (str, int)):
            group = cid
        if r is None:
            self.readings[cid] = [temp_c, now_s - age_s, group]
        else:  # a known collector: its entry in place (one list per collector, not one per reading)
            r[0] = temp_c
            r[1] = now_s - age_s
            r[2] = group

    def update_trend(self, now_s: float):
        """Smooth the slope of the low statistic (K/s) from one set of readings to the next."""
        if self.n_fresh == 0:
            self.trend_k_per_s = 0.0
            self.trend_s = -1.0
            return
        dt_s = now_s - self.trend_s
        if self.trend_s < 0.0 or dt_s > 4.0 * self.trend_tau_s or dt_s < 0.0:
            self.trend_low_c = self.low_c
            self.trend_s = now_s
            self.trend_k_per_s = 0.0
            return
        if dt_s < 60.0:
            return
        raw = (self.low_c - self.trend_low_c) / dt_s
        self.trend_k_per_s = lag_step(self.trend_k_per_s, raw, dt_s, self.trend_tau_s)
        self.trend_low_c = self.low_c
        self.trend_s = now_s

    def evaluate(self, now_s: float):
        """Recompute the low statistic from the stored readings (drops long-dead collectors)."""
        temps = []
        groups = {}  # type: dict
        ignored = 0
        below = 0
        next_check = -1.0
        dead = []
        for cid in self.readings:
            r = self.readings[cid]
            temp_c = r[0]
            at_s = r[1]  # a C double compiled: the sum below without a float object
            expiry_s = at_s + self.max_age_s
            if now_s > expiry_s:
                ignored += 1
                if now_s > expiry_s + 10.0 * self.max_age_s:
                    dead.append(cid)
                continue
            if temp_c < self.plausible_min_c or temp_c > self.plausible_max_c:
                ignored += 1
                continue
            # the stored float itself, not temp_c again (compiled: no new float object per reading)
            temps.append(r[0])
            if self.by_group:
                members = groups.get(r[2])
                if members is None:
                    groups[r[2]] = [r[0]]
                else:
                    members.append(r[0])
            if temp_c < self.floor_c:
                below += 1
            if next_check < 0.0 or expiry_s < next_check:
                next_check = expiry_s
        for cid in dead:
            del self.readings[cid]
        self.n_fresh = len(temps)
        self.n_ignored = ignored
        self.n_below_floor = below
        self.next_check_s = next_check
        self.n_groups = len(groups)
        if temps and self.by_group:
            self.low_c = self.coldest_group_c(groups)
        elif temps:
            temps.sort()
            n = len(temps)
            k = int(self.percentile / 100.0 * (n - 1))
            if n >= 3 and k < 1:
                k = 1
            self.low_c = temps[k]

    def coldest_group_c(self, groups: dict) -> float:
        """The coldest group median, a lone collector far below the next group not trusted alone."""
        low_c = 1e9
        low_n = 0
        second_c = 1e9
        for key in groups:
            members = groups[key]
            members.sort()
            n = len(members)
            if n % 2 == 1:
                value = members[n // 2]
            else:
                value = 0.5 * (members[n // 2 - 1] + members[n // 2])
            if value < low_c:
                second_c = low_c
                low_c = value
                low_n = n
            elif value < second_c:
                second_c = value
        if low_n == 1 and second_c < 1e8 and second_c - low_c > self.outlier_k:
            self.n_outliers = 1
            return second_c
        self.n_outliers = 0
        return low_c

    def follow_load(self, lift_k: float):
        """Rescale the trim to the curve's new lift above the room setpoint (K); see the module doc."""
        if not self.scale_with_load or lift_k != lift_k:
            return
        if lift_k < self.min_lift_k:
            lift_k = self.min_lift_k
        if self.lift_k > 0.0 and lift_k != self.lift_k and self.trim_k > 0.0:
            self.trim_k = clamp(self.trim_k * lift_k / self.lift_k, self.trim_min_k, self.trim_max_k)
        self.lift_k = lift_k

    def holds_heating(self, now_s: float, holding: bool) -> bool:
        """The rooms forbid the summer cut-out now (`holding`: they did last cycle); see the module doc."""
        if self.next_check_s >= 0.0 and now_s > self.next_check_s:
            self.evaluate(now_s)
        if not self.enabled or self.n_fresh == 0:
            return False
        if self.low_c < self.floor_c:
            return True
        return holding and self.low_c < self.floor_c + self.floor_release_k

    def note_shortage(self, now_s: float):
        """The station is short of heat this cycle: hold the raised target (see the module doc)."""
        self.short_until_s = now_s + self.shortage_hold_s

    def step(self, now_s: float, dt_s: float) -> float:
        """Advance the trim by dt_s; returns it (K)."""
        if self.next_check_s >= 0.0 and now_s > self.next_check_s:
            self.evaluate(now_s)
        self.margin_k = self.shortage_margin_k if now_s < self.short_until_s else 0.0
        if not self.enabled or self.n_fresh == 0:
            if dt_s != self.lag_dt_s:
                self.lag_dt_s = dt_s
                self.lag_gain = lag_step(0.0, 1.0, dt_s, self.decay_s)
            self.trim_k -= self.lag_gain * self.trim_k
            return self.trim_k
        err_k = self.target_c + self.margin_k - self.low_c - self.trend_horizon_s * self.trend_k_per_s
        if abs(err_k) < self.deadband_k:
            return self.trim_k
        rate = self.rate_per_k_s * err_k * dt_s
        if err_k > 0.0:
            rate *= self.raise_factor
        trim = self.trim_k + rate
        if self.low_c < self.floor_c and trim < self.trim_k:
            trim = self.trim_k  # below the floor the trim may only rise
        if trim < self.useful_min_k and trim < self.trim_k:
            # anti-windup: the supply already sits at its minimum; a deeper trim would only
            # delay the heat when the free gains end
            trim = self.trim_k if self.trim_k < self.useful_min_k else self.useful_min_k
        self.trim_k = clamp(trim, self.trim_min_k, self.trim_max_k)
        return self.trim_k

    def snapshot(self, now_s: float) -> dict:
        out = []
        for cid in self.readings:
            r = self.readings[cid]
            out.append([cid, r[0], now_s - r[1], r[2]])
        short_left_s = self.short_until_s - now_s
        return {"trim_k": self.trim_k, "lift_k": self.lift_k, "readings": out,
                "short_left_s": short_left_s if short_left_s > 0.0 else 0.0}

    def restore(self, d: dict, now_s: float):
        try:
            trim = float(d.get("trim_k", 0.0))
        except (TypeError, ValueError):
            trim = 0.0
        if trim != trim:
            trim = 0.0
        self.trim_k = min(self.trim_max_k, max(self.trim_min_k, trim))
        try:
            lift = float(d.get("lift_k", 0.0))
        except (TypeError, ValueError):
            lift = 0.0
        self.lift_k = lift if lift == lift and self.min_lift_k <= lift <= 1000.0 else 0.0
        try:
            left = float(d.get("short_left_s", 0.0))
        except (TypeError, ValueError):
            left = 0.0
        if left == left and 0.0 < left <= self.shortage_hold_s:
            self.short_until_s = now_s + left
        self.readings.clear()
        items = d.get("readings", [])
        if isinstance(items, list):
            self.set_readings([{"collector": r[0], "temp_c": r[1], "age_s": r[2], "group": r[3]}
                               for r in items if isinstance(r, list) and len(r) == 4], now_s)
        self.evaluate(now_s)
