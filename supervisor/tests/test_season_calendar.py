"""The [season] calendars per city: every problem listed; the dates as unix times (00:00 local
of the first day, 24:00 local of the last), the season in progress or next, extensions checked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import season_calendar as sc
from heatkeeper.supervisor.fleet_alarm_settings import parse_month_day
from hypothesis import given
from hypothesis import strategies as st

STATIONS = [{"id": "a-1", "city": "arxan"}, {"id": "h-1", "city": "hailar"}]
ARXAN = {"start": "10-15", "end": "04-30", "timezone": "Asia/Shanghai", "preheat_h": 96.0}


def test_calendars_filled_from_the_season_defaults() -> None:
    cfg = sup_config.validate({"season": {"start": "11-01", "end": "03-31", "preheat_h": 48,
                                          "cities": {"arxan": {"start": "10-15", "end": "04-30", "preheat_h": 96},
                                                     "hailar": {}}},
                               "station": STATIONS})
    assert cfg["season"] == {"start": "11-01", "end": "03-31"}  # refunds and alarms read it as before
    assert cfg["season_calendars"] == {
        "arxan": {"start": "10-15", "end": "04-30", "timezone": "Asia/Shanghai", "preheat_h": 96.0},
        "hailar": {"start": "11-01", "end": "03-31", "timezone": "Asia/Shanghai", "preheat_h": 48.0}}
    assert sup_config.validate({})["season_calendars"] == {}


def test_every_problem_listed() -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"season": {"start": "13-01", "timezone": "Mars/Olympus", "preheat_h": -1, "x": 1,
                                        "cities": {"arxan": {"start": "02-30", "end": 4, "timezone": "",
                                                             "preheat_h": 1000, "colour": "red"},
                                                   "hailar": {"start": "03-15", "end": "03-15"},
                                                   "nowhere": {}, "bad": 5}},
                             "station": STATIONS})
    problems = "\n".join(err.value.problems)
    for part in ("season.start='13-01': must be a month and day",
                 "season.timezone='Mars/Olympus': must be an IANA time zone name",
                 "season.preheat_h=-1 h: must be a number in [0, 720]",
                 "season.x: unknown key",
                 "season.cities.arxan.start='02-30': must be a month and day",
                 "season.cities.arxan.end=4: must be a month and day",
                 "season.cities.arxan.timezone='': must be an IANA time zone name",
                 "season.cities.arxan.preheat_h=1000 h: must be a number in [0, 720]",
                 "season.cities.arxan.colour: unknown key; known: start, end, timezone, preheat_h",
                 "season.cities.hailar: start='03-15', end='03-15': must differ",
                 "season.cities.bad: must be a table",
                 "season.cities.nowhere: no [[station]] has city='nowhere'"):
        assert part in problems, part


def test_dates_are_local_midnights() -> None:
    t = sc.season_times(ARXAN, 2025)
    assert t["first_day"] == "2025-10-15" and t["last_day"] == "2026-04-30"
    # 00:00 of 15 Oct in UTC+8 is 16:00 UTC the day before; 24:00 of 30 Apr is 1 May 00:00 local
    assert t["start_s"] == dt.datetime(2025, 10, 14, 16, tzinfo=dt.UTC).timestamp()
    assert t["end_s"] == dt.datetime(2026, 4, 30, 16, tzinfo=dt.UTC).timestamp()
    assert t["preheat_s"] == 96 * 3600.0
    berlin = dict(ARXAN, timezone="Europe/Berlin", start="03-01", end="10-31")  # over both DST changes
    t = sc.season_times(berlin, 2026)
    assert t["start_s"] == dt.datetime(2026, 2, 28, 23, tzinfo=dt.UTC).timestamp()
    assert t["end_s"] == dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC).timestamp()


def test_current_or_next_season_and_extensions() -> None:
    mid_winter = dt.datetime(2026, 1, 10, tzinfo=dt.UTC).timestamp()
    assert sc.current_season(ARXAN, mid_winter, {})["season_year"] == 2025
    summer = dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp()
    assert sc.current_season(ARXAN, summer, {})["season_year"] == 2026
    late_april = dt.datetime(2026, 5, 3, tzinfo=dt.UTC).timestamp()  # after the legal end
    assert sc.current_season(ARXAN, late_april, {})["season_year"] == 2026
    extended = sc.current_season(ARXAN, late_april, {2025: dt.date(2026, 5, 10)})
    assert extended["season_year"] == 2025 and extended["last_day"] == "2026-05-10"
    assert extended["legal_last_day"] == "2026-04-30"


def test_extension_checks_list_every_problem() -> None:
    now = dt.datetime(2026, 4, 20, tzinfo=dt.UTC).timestamp()
    season = sc.current_season(ARXAN, now, {})
    assert sc.check_extension(ARXAN, season, "2026-05-10", now) == []
    assert sc.check_extension(ARXAN, season, "10 May", now) == ["end='10 May': must be a date as YYYY-MM-DD"]
    assert sc.check_extension(ARXAN, season, "2026-04-30", now) == [
        "end=2026-04-30: must be after the legal last day 2026-04-30 of season 2025"]
    assert "at most 120 days" in sc.check_extension(ARXAN, season, "2026-09-30", now)[0]
    short = dict(ARXAN, start="06-01", end="04-30")
    assert "before the next season's first day 2026-06-01" in sc.check_extension(
        short, sc.current_season(short, now, {}), "2026-06-05", now)[0]
    later = dt.datetime(2026, 5, 20, tzinfo=dt.UTC).timestamp()
    assert "already over" in sc.check_extension(ARXAN, season, "2026-05-10", later)[-1]


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                    st.sampled_from(["11-15", "02-29", "03-15", "Asia/Shanghai", "UTC", "Mars/Olympus", "a\x00b"]))


@given(st.dictionaries(st.sampled_from(["start", "end", "timezone", "preheat_h", "cities", "x"]),
                       st.one_of(_values, st.dictionaries(st.text(max_size=8), st.one_of(
                           _values, st.dictionaries(st.sampled_from(list(sc.CITY_KEYS) + ["y"]), _values))))))
def test_any_season_table_gives_problems_never_an_exception(values: dict[str, Any]) -> None:
    season, cities, problems = sc.validate_config(values)
    assert all(isinstance(p, str) for p in problems)
    for city in cities.values():  # what is accepted gives dates
        times = sc.current_season(city, 1.76e9, {})
        assert times["start_s"] < times["end_s"]
    assert parse_month_day(season["start"]) is not None
