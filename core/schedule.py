"""Schedule of supply-setpoint offsets: a daily programme, or a week with holidays, with
setback faded by the cold, boost after setback and optimum start/stop.

`periods` is a list of [start_s, end_s, offset_k] in seconds of the day (start > end wraps over
midnight); up to 8 periods a day (ECL and Siemens offer 3, Chinese 分时段 practice 4). Negative
offsets are setbacks, positive ones pre-heat. Outside every period the offset is 0 (comfort).

Setback fading (ECL "auto saving"): the setback shrinks as it gets colder, by
(fade_start_c - T)/(fade_start_c - setback_disable_c), and is gone at or below
setback_disable_c (ECL 2000 default -15 degC), because a cold night setback is paid back with
a peak the network cannot deliver. After a setback ends, an optional boost of
boost_after_setback_k is added for boost_after_setback_s (ECL boost after saving period).

Time of day: the caller's "time_of_day_s" input when present, else (now_s + day_offset_s)
modulo 86400 (now_s is monotonic, so day_offset_s aligns it to local midnight).

Week programme (public buildings: offices, schools; ECL A230 week schedule, Siemens RVD/RVP
time switch, Samson TROVIS times-of-use): each weekday key (mon .. sun) holds that day's own
periods, or the name of another day whose periods it copies; a day left empty runs `periods`
(a day of comfort all day among setback days: [[0, 86400, 0]]).
`holidays` lists local dates "YYYY-MM-DD" or inclusive ranges ["YYYY-MM-DD", "YYYY-MM-DD"];
on them `holiday_programme` applies: "saving" (the whole day at holiday_offset_k, faded like any
setback), "frost" (the whole day at holiday_offset_k, not faded: the building is empty and the
interlocks' frost floor and the curve's minimum hold it), or a day's name (its periods). Each
day's periods are that local day's, midnight to midnight (a wrapping 22:00-05:00 period covers
its own day's 00:00-05:00 and 22:00-24:00, as the daily programme does every day). The local
date comes from the wall clock (`observe(wall_s, ...)`, unix seconds) plus utc_offset_s (China:
8 h, no daylight saving). Without a wall clock, or with neither week nor holidays configured,
the daily programme runs exactly as before.

Optimum start (Siemens RVD/RVP "optimum start control" with its learnt heat-up gradient, ECL
"optimiser", Samson EB 5573 16.2.9 "optimization": advance heating, max 8 h, stopping up to 1 h
early). Rule: while a setback runs and the programme's next comfort start (offset >= 0) is
t_occ seconds ahead, the setback is ended early, at

    t_occ <= min(optimum_max_advance_s, optimum_lag_s + 3600 x deficit_k / rate_k_per_h)  (deficit_k > 0)

and the comfort setpoint (plus the post-setback boost) heats until the occupancy starts, so the
rooms reach the comfort target just then, not hours before (the least heat). deficit_k is the
comfort target (the room feedback's target_c) less the room temperature expected at the
occupancy if the setback went on: the room feedback's low statistic (when fresh readings exist)
plus its smoothed trend, when falling, times t_occ (a heavy building is still cooling when the
heat-up must begin). Without room readings it is the faded setback times
optimum_deficit_share (the rooms' drop per kelvin of supply setback, a building figure).
optimum_lag_s is the time the rooms take to answer at all (the secondary network's delay, the
emitters' and the air's warm-up: about an hour on the reference plant). rate_k_per_h starts
at optimum_rate_k_per_h and is learnt from each heat-up the room collectors measure: the mean
rise (K/h) from the lag's end until the rooms reach the target (or the occupancy starts),
averaged in with weight optimum_learn_weight. A start that came late measures a slower
building and starts earlier next time; one that came early, later. Once taken, an early start
holds until the occupancy (no chatter as the deficit shrinks). The learnt rate and a heat-up in
progress are in the snapshot. Measured on the reference plant with one office group
(tools/tests/plant/test_optimum_start.py, an Arxan week in late November, setback -15 K): the
collectors at 19.93 to 20.13 degC at 07:00 on every working day for a 20 degC target, against
19.46 to 19.82 and the target 16 to 106 min late without, for 1.8 % more heat.
Optimum stop (optional, optimum_stop_s > 0): the setback that follows a comfort period starts
up to optimum_stop_s early while the rooms are at or above the comfort target (or, without
readings, always): the building's mass carries the last hour of occupancy.
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
    # The week programme: each day's periods, or the name of the day it copies; [] runs `periods`.
    "mon": [],
    "tue": [],
    "wed": [],
    "thu": [],
    "fri": [],
    "sat": [],
    "sun": [],
    "holidays": [],  # ["2026-10-01", ["2027-01-28", "2027-02-04"], ...] local dates, ranges inclusive
    "holiday_programme": "saving",  # "saving", "frost" or a day's name
    "holiday_offset_k": -8.0,
    "utc_offset_s": 28800.0,  # China Standard Time, UTC+8, no daylight saving
    "optimum_start": False,
    "optimum_max_advance_s": 28800.0,  # Samson EB 5573: advance heating max 8 h
    "optimum_rate_k_per_h": 1.0,  # the heat-up rate before any is learnt
    "optimum_lag_s": 3600.0,  # until the rooms answer a heat-up at all (distribution, emitters)
    "optimum_deficit_share": 0.4,  # without room readings: room K lost per K of supply setback
    "optimum_learn_weight": 0.5,
    "optimum_stop_s": 0.0,  # Samson: stops up to 1 h early; 0 = off
}

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RATE_MIN_K_PER_H = 0.05  # the learnt heat-up rate is held within the setting's range
RATE_MAX_K_PER_H = 10.0

RANGES = {
    "day_offset_s": (0.0, 86400.0, "s"),
    "setback_fade_start_c": (-20.0, 30.0, "degC"),
    "setback_disable_c": (-40.0, 10.0, "degC"),
    "boost_after_setback_k": (0.0, 25.0, "K"),
    "boost_after_setback_s": (0.0, 86400.0, "s"),
    "holiday_programme": ("saving", "frost") + DAY_NAMES,
    "holiday_offset_k": (-30.0, 0.0, "K"),
    "utc_offset_s": (-43200.0, 50400.0, "s"),
    "optimum_max_advance_s": (0.0, 43200.0, "s"),
    "optimum_rate_k_per_h": (RATE_MIN_K_PER_H, RATE_MAX_K_PER_H, "K/h"),
    "optimum_lag_s": (0.0, 14400.0, "s"),
    "optimum_deficit_share": (0.0, 2.0, ""),
    "optimum_learn_weight": (0.0, 1.0, ""),
    "optimum_stop_s": (0.0, 7200.0, "s"),
}

DAY_S = 86400.0
MAX_PERIODS = 8
MAX_HOLIDAYS = 64
HOLIDAY = 7  # programme index of the whole-day saving/frost holiday; 8 is `periods`
DAILY = 8
_HOLIDAY = HOLIDAY  # C ints in the compiled module (schedule.pxd): step() reads them every cycle
_DAILY = DAILY
_NAN = float("nan")


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_date(text) -> int:
    """Days since 1970-01-01 of "YYYY-MM-DD", or -100000 when it is not such a date."""
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return -100000
    digits = text[0:4] + text[5:7] + text[8:10]
    for ch in digits:
        if ch < "0" or ch > "9":
            return -100000
    y = int(text[0:4])
    m = int(text[5:7])
    d = int(text[8:10])
    if m < 1 or m > 12 or d < 1:
        return -100000
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if d > month_days[m - 1]:
        return -100000
    return days_from_civil(y, m, d)


def _period_problems(where: str, periods, problems: list) -> None:
    if not isinstance(periods, list) or len(periods) > MAX_PERIODS:
        problems.append("%s=%r: must be a list of at most %d [start_s, end_s, offset_k]"
                        % (where, periods, MAX_PERIODS))
        return
    for i in range(len(periods)):
        p = periods[i]
        if not isinstance(p, (list, tuple)) or len(p) != 3:
            problems.append("%s[%d]=%r: must be [start_s, end_s, offset_k]" % (where, i, p))
            continue
        for j in range(2):
            if not checks.is_number(p[j]) or p[j] < 0.0 or p[j] > DAY_S:
                problems.append("%s[%d][%d]=%r s: must be in [0, 86400]" % (where, i, j, p[j]))
        if checks.is_number(p[0]) and checks.is_number(p[1]) and p[0] == p[1]:
            problems.append("%s[%d]=%r: start_s must differ from end_s" % (where, i, p))
        if not checks.is_number(p[2]) or p[2] < -30.0 or p[2] > 30.0:
            problems.append("%s[%d][2]=%r K: must be in [-30, 30]" % (where, i, p[2]))


def _week_problems(s: dict, problems: list) -> None:
    for day in DAY_NAMES:
        value = s[day]
        if isinstance(value, str):
            if value not in DAY_NAMES:
                problems.append("schedule.%s=%r: must be periods or the name of a day (%s)"
                                % (day, value, ", ".join(DAY_NAMES)))
            elif isinstance(s[value], str):
                problems.append("schedule.%s=%r: copies schedule.%s, itself a copy: name a day with its own "
                                "periods" % (day, value, value))
        else:
            _period_problems("schedule." + day, value, problems)


def _holiday_problems(holidays, problems: list) -> None:
    if not isinstance(holidays, list) or len(holidays) > MAX_HOLIDAYS:
        problems.append("schedule.holidays=%r: must be a list of at most %d dates \"YYYY-MM-DD\" or "
                        "[\"YYYY-MM-DD\", \"YYYY-MM-DD\"] ranges" % (holidays, MAX_HOLIDAYS))
        return
    for i in range(len(holidays)):
        h = holidays[i]
        if isinstance(h, (list, tuple)) and len(h) == 2:
            first = parse_date(h[0])
            last = parse_date(h[1])
            if first == -100000 or last == -100000:
                problems.append("schedule.holidays[%d]=%r: both ends must be dates \"YYYY-MM-DD\" (quoted)" % (i, h))
            elif last < first:
                problems.append("schedule.holidays[%d]=%r: the range must not end before it starts" % (i, h))
        elif parse_date(h) == -100000:
            problems.append("schedule.holidays[%d]=%r: must be a date \"YYYY-MM-DD\" (quoted) or a range "
                            "[\"YYYY-MM-DD\", \"YYYY-MM-DD\"]" % (i, h))


def validate(section) -> list:
    """Every problem of a `schedule` settings section."""
    problems = checks.section("schedule", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return problems
    s = merged(DEFAULTS, section)
    _period_problems("schedule.periods", s["periods"], problems)
    _week_problems(s, problems)
    _holiday_problems(s["holidays"], problems)
    fade = s["setback_fade_start_c"]
    off = s["setback_disable_c"]
    if checks.is_number(fade) and checks.is_number(off) and fade <= off:
        problems.append("schedule.setback_fade_start_c=%r degC: must be above schedule.setback_disable_c=%r degC"
                        % (fade, off))
    return problems


def _number(value, default: float) -> float:
    """A finite number from a snapshot, else the default."""
    return float(value) if checks.is_number(value) else default


def _columns(periods) -> list:
    return [[float(p[0]) for p in periods], [float(p[1]) for p in periods], [float(p[2]) for p in periods]]


class Schedule:
    """Offset of the supply setpoint (K) by local time, day and outdoor temperature."""

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
        # The programmes: 0..6 the weekdays, HOLIDAY the whole-day saving/frost one, DAILY `periods`;
        # each [starts_s, ends_s, offsets_k].
        daily = [self.starts_s, self.ends_s, self.offsets_k]
        programmes = []
        weekly = False
        for name in DAY_NAMES:
            value = s[name]
            if isinstance(value, str):
                value = s[value]
            weekly = weekly or len(value) > 0
            programmes.append(_columns(value) if len(value) > 0 else daily)
        hol = s["holiday_programme"]
        self.holiday_frost = hol == "frost"
        programmes.append([[0.0], [DAY_S], [float(s["holiday_offset_k"])]])
        programmes.append(daily)
        self.programmes = programmes
        self.holiday_index = DAY_NAMES.index(hol) if hol in DAY_NAMES else HOLIDAY
        self.holiday_first = []  # type: list  # day numbers (days since 1970-01-01, local)
        self.holiday_last = []  # type: list
        for h in s["holidays"]:
            if isinstance(h, (list, tuple)):
                self.holiday_first.append(parse_date(h[0]))
                self.holiday_last.append(parse_date(h[1]))
            else:
                self.holiday_first.append(parse_date(h))
                self.holiday_last.append(parse_date(h))
        self.weekly = weekly or len(self.holiday_first) > 0
        self.utc_offset_s = float(s["utc_offset_s"])
        self.optimum = bool(s["optimum_start"])
        self.max_advance_s = float(s["optimum_max_advance_s"])
        self.default_rate_k_per_h = float(s["optimum_rate_k_per_h"])
        self.deficit_share = float(s["optimum_deficit_share"])
        self.lag_s = float(s["optimum_lag_s"])
        self.learn_weight = float(s["optimum_learn_weight"])
        self.stop_s = float(s["optimum_stop_s"])
        # What the station observes each cycle (observe()): the wall clock and the rooms.
        self.wall_s = 0.0
        self.wall_ok = False
        self.room_c = _NAN
        self.room_trend_k_per_s = 0.0
        self.target_c = 20.0
        # Optimum start/stop state: the learnt rate, the early start's end (monotonic), the
        # heat-up being measured (-1: none), the programme's next change found by look-ahead.
        self.rate_k_per_h = self.default_rate_k_per_h
        self.heatup_until_s = -1.0
        self.stop_until_s = -1.0
        self.learn_start_s = -1.0
        self.learn_start_c = 0.0
        self.advance_s = 0.0
        self.next_offset_k = 0.0
        self.day = 0
        self.programme = DAILY
        self.early_start = False
        self.early_stop = False

    def observe(self, wall_s: float, room_c: float, room_trend_k_per_s: float, target_c: float):
        """This cycle's wall clock (unix s; <= 0: none), the rooms' low statistic (NaN: no fresh
        reading), its smoothed trend (K/s) and their comfort target."""
        self.wall_ok = wall_s > 0.0
        self.wall_s = wall_s if wall_s > 0.0 else 0.0
        self.room_c = room_c
        self.room_trend_k_per_s = room_trend_k_per_s if room_trend_k_per_s < 0.0 else 0.0
        self.target_c = target_c

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

    def is_holiday(self, day) -> bool:
        i = 0
        n = len(self.holiday_first)
        while i < n:
            if self.holiday_first[i] <= day <= self.holiday_last[i]:
                return True
            i += 1
        return False

    def programme_of(self, day):
        """The programme a local day (days since 1970-01-01) runs."""
        if not self.weekly:
            return DAILY
        if self.is_holiday(day):
            return self.holiday_index
        return (day + 3) % 7  # 1970-01-01 was a Thursday

    def offset_in(self, programme, tod_s: float) -> float:
        """The configured offset of a programme at a time of day (the first matching period wins)."""
        cols = self.programmes[programme]
        starts = cols[0]
        ends = cols[1]
        i = 0
        n = len(starts)
        while i < n:
            a = starts[i]
            b = ends[i]
            if (a < b and a <= tod_s < b) or (a > b and (tod_s >= a or tod_s < b)):
                return cols[2][i]
            i += 1
        return 0.0

    def next_change_s(self, day, tod_s: float, horizon_s: float, to_setback: bool) -> float:
        """Seconds until the programme first turns to a setback (to_setback) or to comfort
        (offset >= 0), looking at most horizon_s (<= 1 day) ahead; -1 if not within it. The
        offset then is left in next_offset_k."""
        best = -1.0
        k = 0
        while k < 2:
            programme = self.programme_of(day + k) if self.weekly and self.wall_ok else DAILY
            cols = self.programmes[programme]
            base_s = k * DAY_S - tod_s
            n = len(cols[0])
            j = -1
            while j < 2 * n:
                t = 0.0 if j < 0 else (cols[0][j] if j < n else cols[1][j - n])
                dt = base_s + t
                j += 1
                if dt <= 0.0 or dt > horizon_s or t >= DAY_S or (best >= 0.0 and dt >= best):
                    continue
                offset_k = self.offset_in(programme, t)
                if (offset_k < 0.0) == to_setback:
                    best = dt
                    self.next_offset_k = offset_k
            k += 1
        return best

    def fade_factor(self, outdoor_c: float) -> float:
        """Share of a setback still applied at this outdoor temperature (1 mild .. 0 cold)."""
        if outdoor_c >= self.fade_start_c:
            return 1.0
        if outdoor_c <= self.disable_c:
            return 0.0
        return (outdoor_c - self.disable_c) / (self.fade_start_c - self.disable_c)

    def step(self, now_s: float, tod_s: float, outdoor_c: float) -> float:
        """Offset (K) for this cycle; tod_s < 0 means derive it from now_s."""
        if self.weekly and self.wall_ok:
            local_s = self.wall_s + self.utc_offset_s
            day = int(local_s // DAY_S)
            tod_s = local_s - day * DAY_S
            self.day = day
            self.programme = self.programme_of(day)
            offset_k = self.offset_in(self.programme, tod_s)
        else:
            if tod_s < 0.0:
                tod_s = self.time_of_day_s(now_s)
            self.day = 0
            self.programme = _DAILY
            offset_k = self.raw_offset_k(tod_s)
        if self.optimum:
            offset_k = self.optimise(now_s, tod_s, offset_k, outdoor_c)
        if offset_k < 0.0:
            if not (self.programme == _HOLIDAY and self.holiday_frost):
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

    def optimise(self, now_s: float, tod_s: float, offset_k: float, outdoor_c: float) -> float:
        """The programme's offset moved by optimum start (and stop): see the module docstring."""
        room_ok = self.room_c == self.room_c
        if offset_k >= 0.0:
            if self.learn_start_s >= 0.0:
                self.learn(now_s)  # the occupancy starts: the heat-up is measured as it stands
            self.heatup_until_s = -1.0
            self.early_start = False
            if now_s < self.stop_until_s:  # an early stop holds until the setback
                return self.next_offset_k
            self.early_stop = False
            if self.stop_s > 0.0 and (not room_ok or self.room_c >= self.target_c):
                to_setback_s = self.next_change_s(self.day, tod_s, self.stop_s, True)
                if to_setback_s >= 0.0:
                    self.early_stop = True
                    self.stop_until_s = now_s + to_setback_s
                    return self.next_offset_k
            return offset_k
        self.early_stop = False
        self.stop_until_s = -1.0
        if now_s < self.heatup_until_s:  # an early start holds until the occupancy
            if self.learn_start_s >= 0.0 and room_ok and self.room_c >= self.target_c:
                self.learn(now_s)
            self.early_start = True
            return 0.0
        self.early_start = False
        to_comfort_s = self.next_change_s(self.day, tod_s, self.max_advance_s, False)
        if to_comfort_s < 0.0:
            self.advance_s = 0.0
            return offset_k
        if room_ok:  # the rooms as they will be at the occupancy if the setback goes on
            deficit_k = self.target_c - (self.room_c + self.room_trend_k_per_s * to_comfort_s)
        else:
            deficit_k = -offset_k * self.fade_factor(outdoor_c) * self.deficit_share
        advance_s = self.lag_s + 3600.0 * deficit_k / self.rate_k_per_h if deficit_k > 0.0 else 0.0
        if advance_s > self.max_advance_s:
            advance_s = self.max_advance_s
        self.advance_s = advance_s
        if to_comfort_s > advance_s:
            return offset_k
        self.heatup_until_s = now_s + to_comfort_s
        self.early_start = True
        if room_ok:
            self.learn_start_s = now_s
            self.learn_start_c = self.room_c
        return 0.0

    def learn(self, now_s: float):
        """End a measured heat-up: average its mean rise (K/h) into the learnt rate."""
        elapsed_s = now_s - self.learn_start_s - self.lag_s
        self.learn_start_s = -1.0
        if elapsed_s < 900.0 or self.room_c != self.room_c:
            return
        measured = (self.room_c - self.learn_start_c) * 3600.0 / elapsed_s
        rate = self.rate_k_per_h + self.learn_weight * (measured - self.rate_k_per_h)
        self.rate_k_per_h = RATE_MIN_K_PER_H if rate < RATE_MIN_K_PER_H else (
            RATE_MAX_K_PER_H if rate > RATE_MAX_K_PER_H else rate)

    def snapshot(self, now_s: float) -> dict:
        return {"in_setback": self.in_setback,
                "boost_left_s": self.boost_until_s - now_s if self.boost_until_s > now_s else 0.0,
                "rate_k_per_h": self.rate_k_per_h,
                "heatup_left_s": self.heatup_until_s - now_s if self.heatup_until_s > now_s else 0.0,
                "learn_elapsed_s": now_s - self.learn_start_s if self.learn_start_s >= 0.0 else -1.0,
                "learn_start_c": self.learn_start_c}

    def restore(self, d: dict, now_s: float):
        self.in_setback = bool(d.get("in_setback", False))
        left = float(d.get("boost_left_s", 0.0))
        self.boost_until_s = now_s + left if left > 0.0 else -1.0
        rate = _number(d.get("rate_k_per_h"), -1.0)
        if RATE_MIN_K_PER_H <= rate <= RATE_MAX_K_PER_H:
            self.rate_k_per_h = rate
        heatup_left_s = _number(d.get("heatup_left_s"), 0.0)
        self.heatup_until_s = now_s + heatup_left_s if heatup_left_s > 0.0 else -1.0
        elapsed_s = _number(d.get("learn_elapsed_s"), -1.0)
        start_c = _number(d.get("learn_start_c"), _NAN)
        if elapsed_s >= 0.0 and start_c == start_c and self.heatup_until_s > 0.0:
            self.learn_start_s = now_s - elapsed_s
            self.learn_start_c = start_c
        else:
            self.learn_start_s = -1.0
