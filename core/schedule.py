"""Daily schedule of supply-setpoint offsets, with setback faded by the cold.

`periods` is a list of [start_s, end_s, offset_k] in seconds of the day (start > end wraps over
midnight); up to 8 periods a day (ECL and Siemens offer 3, Chinese 分时段 practice 4). Negative
offsets are setbacks, positive ones pre-heat. Outside every period the offset is 0.

Setback fading (ECL "auto saving"): the setback shrinks as it gets colder, by
(fade_start_c - T)/(fade_start_c - setback_disable_c), and is gone at or below
setback_disable_c (ECL 2000 default -15 degC), because a cold night setback is paid back with
a peak the network cannot deliver. After a setback ends, an optional boost of
boost_after_setback_k is added for boost_after_setback_s (ECL boost after saving period).

Time of day: the caller's "time_of_day_s" input when present, else (now_s + day_offset_s)
modulo 86400 (now_s is monotonic, so day_offset_s aligns it to local midnight).
"""

from . import checks
from .checks import merged

DEFAULTS = {
    "periods": [],  # [[start_s, end_s, offset_k], ...]
    "day_offset_s": 0.0,
    "setback_fade_start_c": 10.0,  # ECL auto saving reference 10 degC
    "setback_disable_c": -15.0,  # ECL 2000 "night setback disable at" -15 degC
    "boost_after_setback_k": 0.0,  # ECL120 boost 0..25 K; 0 = off
    "boost_after_setback_s": 3600.0,
}

RANGES = {
    "day_offset_s": (0.0, 86400.0, "s"),
    "setback_fade_start_c": (-20.0, 30.0, "degC"),
    "setback_disable_c": (-40.0, 10.0, "degC"),
    "boost_after_setback_k": (0.0, 25.0, "K"),
    "boost_after_setback_s": (0.0, 86400.0, "s"),
}

DAY_S = 86400.0
MAX_PERIODS = 8


def validate(section) -> list:
    """Every problem of a `schedule` settings section."""
    problems = checks.section("schedule", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return problems
    s = merged(DEFAULTS, section)
    periods = s["periods"]
    if not isinstance(periods, list) or len(periods) > MAX_PERIODS:
        problems.append("schedule.periods=%r: must be a list of at most %d [start_s, end_s, offset_k]"
                        % (periods, MAX_PERIODS))
        return problems
    for i in range(len(periods)):
        p = periods[i]
        if not isinstance(p, (list, tuple)) or len(p) != 3:
            problems.append("schedule.periods[%d]=%r: must be [start_s, end_s, offset_k]" % (i, p))
            continue
        for j in range(2):
            if not checks.is_number(p[j]) or p[j] < 0.0 or p[j] > DAY_S:
                problems.append("schedule.periods[%d][%d]=%r s: must be in [0, 86400]" % (i, j, p[j]))
        if checks.is_number(p[0]) and checks.is_number(p[1]) and p[0] == p[1]:
            problems.append("schedule.periods[%d]=%r: start_s must differ from end_s" % (i, p))
        if not checks.is_number(p[2]) or p[2] < -30.0 or p[2] > 30.0:
            problems.append("schedule.periods[%d][2]=%r K: must be in [-30, 30]" % (i, p[2]))
    fade = s["setback_fade_start_c"]
    off = s["setback_disable_c"]
    if checks.is_number(fade) and checks.is_number(off) and fade <= off:
        problems.append("schedule.setback_fade_start_c=%r degC: must be above schedule.setback_disable_c=%r degC"
                        % (fade, off))
    return problems


class Schedule:
    """Offset of the supply setpoint (K) by time of day and outdoor temperature."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.starts_s = [float(p[0]) for p in s["periods"]]
        self.ends_s = [float(p[1]) for p in s["periods"]]
        self.offsets_k = [float(p[2]) for p in s["periods"]]
        self.n_periods = len(self.starts_s)
        self.day_offset_s = float(s["day_offset_s"])
        self.fade_start_c = float(s["setback_fade_start_c"])
        self.disable_c = float(s["setback_disable_c"])
        self.boost_k = float(s["boost_after_setback_k"])
        self.boost_s = float(s["boost_after_setback_s"])
        self.in_setback = False
        self.boost_until_s = -1.0
        self.setback_k = 0.0  # the (faded) setback applied this cycle, <= 0
        self.boost_active_k = 0.0

    def time_of_day_s(self, now_s: float) -> float:
        t = (now_s + self.day_offset_s) % 86400.0
        return t if t >= 0.0 else t + 86400.0

    def raw_offset_k(self, tod_s: float) -> float:
        """The configured offset at this time of day (the first matching period wins)."""
        i = 0
        while i < self.n_periods:
            a = self.starts_s[i]
            b = self.ends_s[i]
            if (a < b and a <= tod_s < b) or (a > b and (tod_s >= a or tod_s < b)):
                return self.offsets_k[i]
            i += 1
        return 0.0

    def fade_factor(self, outdoor_c: float) -> float:
        """Share of a setback still applied at this outdoor temperature (1 mild .. 0 cold)."""
        if outdoor_c >= self.fade_start_c:
            return 1.0
        if outdoor_c <= self.disable_c:
            return 0.0
        return (outdoor_c - self.disable_c) / (self.fade_start_c - self.disable_c)

    def step(self, now_s: float, tod_s: float, outdoor_c: float) -> float:
        """Offset (K) for this cycle; tod_s < 0 means derive it from now_s."""
        if tod_s < 0.0:
            tod_s = self.time_of_day_s(now_s)
        offset_k = self.raw_offset_k(tod_s)
        if offset_k < 0.0:
            offset_k = offset_k * self.fade_factor(outdoor_c)
            self.in_setback = True
            self.boost_until_s = -1.0
            self.setback_k = offset_k
        else:
            if self.in_setback and self.boost_k > 0.0:
                self.boost_until_s = now_s + self.boost_s
            self.in_setback = False
            self.setback_k = 0.0
        self.boost_active_k = self.boost_k if now_s < self.boost_until_s else 0.0
        return offset_k + self.boost_active_k

    def snapshot(self, now_s: float) -> dict:
        return {"in_setback": self.in_setback,
                "boost_left_s": self.boost_until_s - now_s if self.boost_until_s > now_s else 0.0}

    def restore(self, d: dict, now_s: float):
        self.in_setback = bool(d.get("in_setback", False))
        left = float(d.get("boost_left_s", 0.0))
        self.boost_until_s = now_s + left if left > 0.0 else -1.0
