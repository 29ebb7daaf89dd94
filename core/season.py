"""The legal heating season a station holds: when it starts, when it ends, when it may pre-heat.

A city decides its heating season (e.g. 15 October to 15 April, extended in a cold spring); the
flats must be at 18 degC from 00:00 of the first day. The calendar comes from two places:

- the box's `[season]` settings section (the firmware's `[control.season]`), the bootstrap
  (`SeasonCalendar(section)`): the first and last day as local dates written YYYYMMDD (numbers,
  like every core setting: `start_date = 20261115`; the firmware's station file also takes
  `2026-11-15`), the pre-heat window before the first day
  in hours and the local UTC offset in hours; both dates 0 (the default) means no calendar;
- the supervisor's season message (`core.codec.decode_season`, retained beside the forecast),
  `accept(msg, wall_s)`: {"city", "version" (int >= 1, grows with every change), "issued_s",
  "start_s" (unix time of 00:00 local of the first day), "end_s" (24:00 local of the last day,
  extensions included), "preheat_s" (seconds before start_s the station may pre-heat)}. A pushed
  calendar replaces the bootstrap and is kept in the snapshot, so it survives restarts; a message
  with a lower version than the one held is refused (the held one stays).

Times are wall-clock unix seconds (a season is about calendar days; the controller's own clock
is monotonic), so every query takes the wall clock. With no calendar, `known()` is False and the
station behaves as without one (core.station: heating as today).

    cal = SeasonCalendar(settings["season"])
    cal.accept(msg, wall_s)       # "" kept, else the reason (the held calendar stays)
    cal.in_season(wall_s)         # start_s <= wall_s < end_s
    cal.in_preheat(wall_s)        # start_s - preheat_s <= wall_s < start_s
    cal.first_day_s(wall_s)       # start_s of the current or next season, -1.0 unknown
    cal.telemetry(wall_s)         # {"season_version", "in_season"}
    cal.snapshot(); cal.restore(d)

MicroPython-compatible, no I/O (dates are converted by arithmetic, not by a time module).
"""

from . import checks
from .schedule import days_from_civil

DEFAULTS = {
    "start_date": 0,  # first heating day, local YYYYMMDD (0 with end_date 0: no calendar)
    "end_date": 0,  # last heating day, local YYYYMMDD (inclusive)
    "preheat_h": 72.0,  # before 00:00 of the first day the station may pre-heat (core.preheat)
    "utc_offset_h": 8.0,  # local time = UTC + this (China Standard Time)
}
RANGES = {
    "start_date": (0, 99991231, ""),
    "end_date": (0, 99991231, ""),
    "preheat_h": (0.0, 720.0, "h"),
    "utc_offset_h": (-12.0, 14.0, "h"),
}

MAX_PREHEAT_S = 720 * 3600.0  # 30 days
MAX_SEASON_S = 366 * 86400.0
MAX_FUTURE_S = 3600.0  # how far ahead of the station's clock an issue time may be


def parse_date(value) -> int:
    """Days since 1970-01-01 of a date written YYYYMMDD (an integer), or -1 when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value != int(value):
        return -1
    value = int(value)
    year = value // 10000
    month = value // 100 % 100
    day = value % 100
    if year < 1970 or not 1 <= month <= 12 or day < 1:
        return -1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if day > last:
        return -1
    return days_from_civil(year, month, day)


def validate(section) -> list:
    """Every problem of a `[season]` section (both dates or neither, each a real date, the last
    on or after the first, a season of at most a year)."""
    problems = checks.section("season", section, DEFAULTS, RANGES)
    if problems:
        return problems
    s = checks.merged(DEFAULTS, section)
    start = s["start_date"]
    end = s["end_date"]
    if start == 0 and end == 0:
        return problems
    for key in ("start_date", "end_date"):
        if parse_date(s[key]) < 0:
            problems.append("season.%s=%r: must be a date YYYYMMDD, e.g. 20261115 (both dates, or both 0 for no calendar)"
                            % (key, s[key]))
    if not problems:
        first = parse_date(start)
        last = parse_date(end)
        if last < first:
            problems.append("season.end_date=%r: must be on or after season.start_date=%r" % (end, start))
        elif (last - first + 1) * 86400.0 > MAX_SEASON_S:
            problems.append("season.end_date=%r: a season of %d days, at most 366" % (end, last - first + 1))
    return problems


def check(msg) -> str:
    """"" when `msg` has the season message's shape and sense, else the first problem."""
    if not isinstance(msg, dict):
        return "season: must be an object"
    city = msg.get("city")
    if not isinstance(city, str) or len(city) > 64:
        return "city=%r: must be text of at most 64 characters" % (city,)
    version = msg.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= checks.EXACT_INT_MAX:
        return "version=%r: must be an integer >= 1" % (version,)
    for key in ("issued_s", "start_s", "end_s"):
        value = msg.get(key)
        if not checks.is_exact_number(value) or value < 0:  # type: ignore[operator]
            return "%s=%r: must be unix seconds" % (key, value)
    start = float(msg["start_s"])
    end = float(msg["end_s"])
    if not start < end <= start + MAX_SEASON_S:
        return "end_s=%r: must be after start_s=%r, by at most %g days" % (end, start, MAX_SEASON_S / 86400.0)
    pre = msg.get("preheat_s")
    if not checks.is_exact_number(pre) or not 0.0 <= pre <= MAX_PREHEAT_S:  # type: ignore[operator]
        return "preheat_s=%r s: must be in [0, %g]" % (pre, MAX_PREHEAT_S)
    return ""


class SeasonCalendar:
    """The calendar held (see the module docstring)."""

    def __init__(self, section=None) -> None:
        self.city = ""
        self.version = 0  # 0: the bootstrap (settings) or none; >= 1: pushed
        self.issued_s = -1.0
        self.start_s = -1.0  # < 0: no calendar
        self.end_s = -1.0
        self.preheat_s = 0.0
        self.accepted = 0
        self.refused = 0
        self.last_problem = ""
        if isinstance(section, dict) and not validate(section):
            s = checks.merged(DEFAULTS, section)
            first = parse_date(s["start_date"])
            last = parse_date(s["end_date"])
            if first >= 0 and last >= first:
                offset_s = float(s["utc_offset_h"]) * 3600.0
                self.start_s = first * 86400.0 - offset_s
                self.end_s = (last + 1) * 86400.0 - offset_s
                self.preheat_s = float(s["preheat_h"]) * 3600.0

    def known(self) -> bool:
        """A calendar is held (from the settings or pushed)."""
        return self.start_s >= 0.0

    def accept(self, msg, wall_s: float) -> str:
        """Keep a pushed calendar unless it is malformed, issued in the future, or older (by
        version) than the one held; "" or the reason (the held calendar stays). The same
        version again (a retained message delivered anew) is kept as it is."""
        problem = check(msg)
        if not problem:
            version = int(msg["version"])
            issued = float(msg["issued_s"])
            if wall_s > 0.0 and issued > wall_s + MAX_FUTURE_S:
                problem = "issued_s=%r: %.0f s ahead of the station's clock (at most %g s)" % (
                    issued, issued - wall_s, MAX_FUTURE_S)
            elif version < self.version:
                problem = "version=%r: older than the calendar held (version %d)" % (version, self.version)
            elif version == self.version and (float(msg["start_s"]) != self.start_s or float(msg["end_s"]) != self.end_s
                                              or float(msg["preheat_s"]) != self.preheat_s):
                problem = "version=%r: the version held, with other dates (a change must raise the version)" % version
        if problem:
            self.refused += 1
            self.last_problem = problem
            return problem
        self._take(msg)
        self.accepted += 1
        self.last_problem = ""
        return ""

    def _take(self, msg) -> None:
        self.city = str(msg["city"])
        self.version = int(msg["version"])
        self.issued_s = float(msg["issued_s"])
        self.start_s = float(msg["start_s"])
        self.end_s = float(msg["end_s"])
        self.preheat_s = float(msg["preheat_s"])

    # --- queries ---------------------------------------------------------------------------
    def in_season(self, wall_s: float) -> bool:
        """Inside the legal season (00:00 of the first day to 24:00 of the last)."""
        return self.start_s >= 0.0 and self.start_s <= wall_s < self.end_s

    def in_preheat(self, wall_s: float) -> bool:
        """In the pre-heat window just before the first day."""
        return self.start_s >= 0.0 and self.start_s - self.preheat_s <= wall_s < self.start_s

    def heating_allowed(self, wall_s: float) -> bool:
        """Heating is the station's own to decide: no calendar, the pre-heat window or the season."""
        return self.start_s < 0.0 or self.start_s - self.preheat_s <= wall_s < self.end_s

    def first_day_s(self, wall_s: float) -> float:
        """start_s of the current or next season; -1.0 when none is known (or it is over)."""
        if self.start_s < 0.0 or wall_s >= self.end_s:
            return -1.0
        return self.start_s

    def telemetry(self, wall_s: float) -> dict:
        """{"season_version": the version held (0 the settings'), "in_season": 1/0}; both None
        without a calendar (in_season also None without a wall clock, wall_s <= 0)."""
        if self.start_s < 0.0:
            return {"season_version": None, "in_season": None}
        return {"season_version": self.version,
                "in_season": (1 if self.in_season(wall_s) else 0) if wall_s > 0.0 else None}

    # --- persistence -----------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The pushed calendar (the settings' one is the settings' again after a restart); {} when none."""
        if self.version < 1:
            return {}
        return {"city": self.city, "version": self.version, "issued_s": self.issued_s, "start_s": self.start_s,
                "end_s": self.end_s, "preheat_s": self.preheat_s}

    def restore(self, d) -> bool:
        """Resume a pushed calendar from `snapshot()`; anything malformed is ignored."""
        if not isinstance(d, dict) or not d or check(d) or int(d["version"]) < self.version:
            return False
        self._take(d)
        return True
