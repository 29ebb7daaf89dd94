"""When the reports to the authority are due, in the site's time zone (pure functions).

- "hourly": due at each of `hourly_times` (local, e.g. 09:00 and 17:00); a period runs from the
  report time before it to it (17:00 the day before to 09:00, then 09:00 to 17:00).
- "weekly": due every `weekly_day` at `weekly_time` (local); a period is the week before it (from
  the same local time seven days earlier).
A period is named by its end (unix s). Local times that a daylight-saving change skips or
repeats are taken as zoneinfo resolves them (fold=0); China has no such change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from .authority_reports_config import WEEKDAYS

REPORTS = ("hourly", "weekly")


def _times(ar: dict[str, Any], report: str) -> list[tuple[int, int]]:
    texts = ar["hourly_times"] if report == "hourly" else [ar["weekly_time"]]
    return [(int(t[:2]), int(t[3:])) for t in texts]


def due_between(ar: dict[str, Any], report: str, after_ts: float, until_ts: float) -> list[float]:
    """Ends of `report`'s periods in (after_ts, until_ts], oldest first."""
    if report not in REPORTS:
        raise ValueError("report=%r: must be one of %s" % (report, ", ".join(REPORTS)))
    zone = ZoneInfo(ar["timezone"])
    day = dt.datetime.fromtimestamp(after_ts, zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(until_ts, zone).date() + dt.timedelta(days=1)
    weekday = WEEKDAYS.index(ar["weekly_day"]) if report == "weekly" else -1
    out: list[float] = []
    while day <= last:
        if weekday < 0 or day.weekday() == weekday:
            for hour, minute in _times(ar, report):
                ts = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp()
                if after_ts < ts <= until_ts:
                    out.append(ts)
        day += dt.timedelta(days=1)
    return sorted(out)


def period_start(ar: dict[str, Any], report: str, end_ts: float) -> float:
    """The start of the period that ends at `end_ts` (one of `report`'s due instants)."""
    if report == "weekly":
        zone = ZoneInfo(ar["timezone"])
        end = dt.datetime.fromtimestamp(end_ts, zone)
        week_before = (end.replace(tzinfo=None) - dt.timedelta(days=7)).replace(tzinfo=zone)
        return week_before.timestamp()
    before = due_between(ar, report, end_ts - 2 * 86400.0, end_ts - 1.0)
    return before[-1]


def is_due(ar: dict[str, Any], report: str, end_ts: float) -> bool:
    """Whether `end_ts` is one of `report`'s due instants (a period's name from a request)."""
    return report in REPORTS and end_ts in due_between(ar, report, end_ts - 1.0, end_ts)


def next_due(ar: dict[str, Any], report: str, now_ts: float) -> float:
    return due_between(ar, report, now_ts, now_ts + 8 * 86400.0)[0]


def recent(ar: dict[str, Any], report: str, now_ts: float, count: int) -> list[tuple[float, float]]:
    """The last `count` periods (start, end) ended by `now_ts`, newest first."""
    span = (1.0 if report == "hourly" else 7.0) * 86400.0 * (count + 1)
    ends = due_between(ar, report, now_ts - span, now_ts)[-count:]
    return [(period_start(ar, report, e), e) for e in reversed(ends)]
