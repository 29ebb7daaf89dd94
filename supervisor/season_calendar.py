"""The heating-season calendar of each city: its configuration and the dates as unix times.

    [season]  start="11-15"  end="03-15"          (the legal season, local month-day, both included;
                                                   also the season of refunds and the fleet's alarms)
              timezone="Asia/Shanghai"  preheat_h=72   (defaults of the cities below)
    [season.cities.arxan]   start="10-15"  end="04-30"  timezone="Asia/Shanghai"  preheat_h=96
    [season.cities.hailar]  {}                     (every key optional: [season]'s values)

Only the cities under [season.cities] get a calendar pushed to their stations (supervisor/season.py);
without any, stations keep today's behaviour. A season is named by the year it starts in: season
2025 of 11-15 .. 03-15 runs from 2025-11-15 00:00 to 2026-03-15 24:00 local time. The city may
extend a season (a later last day, with a reason: supervisor/season.py records it); the
calendar then carries the extended end.

Pure: no I/O, times are unix seconds, dates `datetime.date`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .fleet_alarm_settings import parse_month_day, validate_season

CITY_KEYS = ("start", "end", "timezone", "preheat_h")
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_PREHEAT_H = 72.0
PREHEAT_RANGE_H = (0.0, 720.0)  # up to 30 days (codec.SEASON_MAX_PREHEAT_S)
MAX_EXTENSION_DAYS = 120  # an extension moves the last day by at most this much past the legal one


def _timezone(value: Any, where: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not value:
        problems.append("%s=%r: must be an IANA time zone name such as 'Asia/Shanghai'" % (where, value))
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append("%s=%r: must be an IANA time zone name such as 'Asia/Shanghai'" % (where, value))
        return None
    return value


def _preheat(value: Any, where: str, problems: list[str]) -> float | None:
    low, high = PREHEAT_RANGE_H
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        problems.append("%s=%r h: must be a number in [%g, %g]" % (where, value, low, high))
        return None
    return float(value)


def validate_config(values: Any) -> tuple[dict[str, str], dict[str, dict[str, Any]], list[str]]:
    """([season] start and end as before, {city: {start, end, timezone, preheat_h}}, every problem)."""
    problems: list[str] = []
    if not isinstance(values, dict):
        season, found = validate_season({})
        return season, {}, ["[season]: must be a table"]
    season, found = validate_season({k: v for k, v in values.items() if k in ("start", "end")})
    problems.extend(found)
    for key in sorted(set(values) - {"start", "end", "timezone", "preheat_h", "cities"}):
        problems.append("season.%s: unknown key; known: start, end, timezone, preheat_h, cities" % key)
    base: dict[str, Any] = {"start": season["start"], "end": season["end"], "timezone": DEFAULT_TIMEZONE,
                            "preheat_h": DEFAULT_PREHEAT_H}
    if "timezone" in values:
        base["timezone"] = _timezone(values["timezone"], "season.timezone", problems) or DEFAULT_TIMEZONE
    if "preheat_h" in values:
        got = _preheat(values["preheat_h"], "season.preheat_h", problems)
        base["preheat_h"] = DEFAULT_PREHEAT_H if got is None else got
    cities_raw = values.get("cities", {})
    cities: dict[str, dict[str, Any]] = {}
    if not isinstance(cities_raw, dict):
        problems.append("season.cities: must be a table of [season.cities.NAME] tables")
        cities_raw = {}
    for city, item in cities_raw.items():
        where = "season.cities.%s" % city
        if not city or len(city) > 64:
            problems.append("%s: a city name must be 1-64 characters" % where)
            continue
        if not isinstance(item, dict):
            problems.append("%s: must be a table (start, end, timezone, preheat_h)" % where)
            continue
        entry = dict(base)
        bad = False
        for key in sorted(set(item) - set(CITY_KEYS)):
            problems.append("%s.%s: unknown key; known: %s" % (where, key, ", ".join(CITY_KEYS)))
            bad = True
        for key in ("start", "end"):
            if key in item:
                if parse_month_day(item[key]) is None:
                    problems.append("%s.%s=%r: must be a month and day as \"MM-DD\" (e.g. \"11-15\")"
                                    % (where, key, item[key]))
                    bad = True
                else:
                    entry[key] = str(item[key])
        if "timezone" in item:
            zone = _timezone(item["timezone"], where + ".timezone", problems)
            bad = bad or zone is None
            entry["timezone"] = zone or entry["timezone"]
        if "preheat_h" in item:
            hours = _preheat(item["preheat_h"], where + ".preheat_h", problems)
            bad = bad or hours is None
            entry["preheat_h"] = entry["preheat_h"] if hours is None else hours
        if entry["start"] == entry["end"]:
            problems.append("%s: start=%r, end=%r: must differ" % (where, entry["start"], entry["end"]))
            bad = True
        if not bad:
            cities[city] = entry
    return season, cities, problems


# --- dates -------------------------------------------------------------------------------------
def legal_dates(city_cfg: dict[str, Any], year: int) -> tuple[dt.date, dt.date]:
    """(first, last day) of the city's legal season that starts in `year`."""
    start, end = parse_month_day(city_cfg["start"]), parse_month_day(city_cfg["end"])
    assert start is not None and end is not None, "validated by validate_config"
    first = _date(year, start)
    last = _date(year + 1 if end <= start else year, end)
    return first, last


def _date(year: int, month_day: tuple[int, int]) -> dt.date:
    try:
        return dt.date(year, *month_day)
    except ValueError:  # 02-29 in a common year: the 28th
        return dt.date(year, month_day[0], 28)


def midnight_s(day: dt.date, timezone: str) -> float:
    """Unix time of 00:00 local of `day` in `timezone`."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).timestamp()


def local_date(ts: float, timezone: str) -> dt.date:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(timezone)).date()


def season_times(city_cfg: dict[str, Any], year: int, end_day: dt.date | None = None) -> dict[str, Any]:
    """The season of `year`: {season_year, first_day, last_day, legal_last_day, start_s (00:00 local
    of the first day), end_s (24:00 local of the last day, `end_day` when extended), preheat_s}."""
    first, last = legal_dates(city_cfg, year)
    final = end_day or last
    zone = city_cfg["timezone"]
    return {"season_year": year, "first_day": first.isoformat(), "last_day": final.isoformat(),
            "legal_last_day": last.isoformat(), "start_s": midnight_s(first, zone),
            "end_s": midnight_s(final + dt.timedelta(days=1), zone),
            "preheat_s": float(city_cfg["preheat_h"]) * 3600.0}


def current_season(city_cfg: dict[str, Any], now_s: float, extensions: dict[int, dt.date]) -> dict[str, Any]:
    """The season in progress at `now_s`, else the next one (`extensions`: season year -> last day)."""
    year = local_date(now_s, city_cfg["timezone"]).year
    for y in (year - 1, year, year + 1):
        times = season_times(city_cfg, y, extensions.get(y))
        if times["end_s"] > now_s:
            return times
    return season_times(city_cfg, year + 1, extensions.get(year + 1))  # not reached: a season spans < 1 year


def check_extension(city_cfg: dict[str, Any], season: dict[str, Any], new_last_day: Any, now_s: float) -> list[str]:
    """Problems with extending `season` (as current_season gives it) to end on `new_last_day`
    ("YYYY-MM-DD"), every one listed."""
    try:
        day = dt.date.fromisoformat(new_last_day) if isinstance(new_last_day, str) else None
    except ValueError:
        day = None
    if day is None:
        return ["end=%.40r: must be a date as YYYY-MM-DD" % (new_last_day,)]
    problems = []
    legal = dt.date.fromisoformat(season["legal_last_day"])
    if day <= legal:
        problems.append("end=%s: must be after the legal last day %s of season %d" % (day, legal, season["season_year"]))
    elif (day - legal).days > MAX_EXTENSION_DAYS:
        problems.append("end=%s: at most %d days after the legal last day %s" % (day, MAX_EXTENSION_DAYS, legal))
    else:
        next_first, _ = legal_dates(city_cfg, season["season_year"] + 1)
        if day >= next_first:
            problems.append("end=%s: must be before the next season's first day %s" % (day, next_first))
    if midnight_s(day + dt.timedelta(days=1), city_cfg["timezone"]) <= now_s:
        problems.append("end=%s: already over (local time in %s)" % (day, city_cfg["timezone"]))
    return problems
