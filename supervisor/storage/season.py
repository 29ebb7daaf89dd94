"""Storage of the heating-season calendars and the scheduled season start-ups (mixed into both backends).

- `season_calendars`: one row per city: the calendar its stations are sent (version, issued,
  season year, start, end, pre-heat window, first, last and legal last day). The version grows by
  one with every change (a new season, an extension, a changed [season] file).
- `season_extensions`: every extension the city decided: city, season year, new last day, reason,
  who and when, and the calendar version it made. Never changed or deleted (the record of what
  was decided); the newest of a city's season counts.
- `season_startups`: one row per scheduled season start-up of a group of stations: the target as
  the person chose it, the stations (JSON list), when it fires, its state ("scheduled", "fired",
  "cancelled"), who scheduled it and when, who cancelled it, and each station's fate (JSON
  {station: {...}}: the command sent, its step, when).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Row = tuple[Any, ...]
Step = tuple[str, Sequence[Sequence[Any]]]  # as base.Step

SEASON_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS season_calendars (
        city {text} PRIMARY KEY, version {bigint} NOT NULL, issued_s {real} NOT NULL, season_year {bigint} NOT NULL,
        start_s {real} NOT NULL, end_s {real} NOT NULL, preheat_s {real} NOT NULL, first_day {text} NOT NULL,
        last_day {text} NOT NULL, legal_last_day {text} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS season_extensions (
        city {text} NOT NULL, season_year {bigint} NOT NULL, last_day {text} NOT NULL, reason {text} NOT NULL,
        decided_by {text} NOT NULL, decided_ts {real} NOT NULL, version {bigint} NOT NULL,
        PRIMARY KEY (city, version))""",
    """CREATE TABLE IF NOT EXISTS season_startups (
        startup_id {bigint} PRIMARY KEY, target {text} NOT NULL, stations {text} NOT NULL, fire_s {real} NOT NULL,
        state {text} NOT NULL, created_by {text} NOT NULL, created_ts {real} NOT NULL, cancelled_by {text},
        cancelled_ts {real}, fates {text} NOT NULL)""",
]

CALENDAR_COLS = ("city", "version", "issued_s", "season_year", "start_s", "end_s", "preheat_s", "first_day",
                 "last_day", "legal_last_day")
EXTENSION_COLS = ("city", "season_year", "last_day", "reason", "decided_by", "decided_ts", "version")
STARTUP_COLS = ("startup_id", "target", "stations", "fire_s", "state", "created_by", "created_ts", "cancelled_by",
                "cancelled_ts", "fates")
_INTS = {"version", "season_year", "startup_id"}
_FLOATS = {"issued_s", "start_s", "end_s", "preheat_s", "decided_ts", "fire_s", "created_ts", "cancelled_ts"}
_JSON = {"stations", "fates"}

_UPSERT_CALENDAR = "INSERT INTO season_calendars (%s) VALUES (%s) ON CONFLICT (city) DO UPDATE SET %s" % (
    ", ".join(CALENDAR_COLS), ", ".join("?" for _ in CALENDAR_COLS),
    ", ".join("%s = excluded.%s" % (c, c) for c in CALENDAR_COLS[1:]))
_INSERT_EXTENSION = "INSERT INTO season_extensions (%s) VALUES (%s)" % (
    ", ".join(EXTENSION_COLS), ", ".join("?" for _ in EXTENSION_COLS))


def _item(cols: Sequence[str], r: Row) -> dict[str, Any]:
    item = dict(zip(cols, r, strict=True))
    for k in cols:
        if item[k] is None:
            continue
        if k in _INTS:
            item[k] = int(item[k])
        elif k in _FLOATS:
            item[k] = float(item[k])
        elif k in _JSON:
            item[k] = json.loads(item[k])
    return item


class SeasonStorage:
    """The season calendar and start-up queries; needs the backend's `execute`, `fetch` and `transaction`."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def transaction(self, steps: Sequence[Step]) -> None:
        raise NotImplementedError

    # --- calendars -------------------------------------------------------------------------------
    async def season_calendars(self) -> dict[str, dict[str, Any]]:
        """{city: calendar row} of every city with a calendar."""
        rows = await self.fetch("SELECT %s FROM season_calendars ORDER BY city" % ", ".join(CALENDAR_COLS))
        return {str(r[0]): _item(CALENDAR_COLS, r) for r in rows}

    async def save_season_calendar(self, calendar: dict[str, Any],
                                   extension: dict[str, Any] | None = None) -> None:
        """Keep a city's new calendar (and the extension that made it, in the same transaction)."""
        steps: list[Step] = [(_UPSERT_CALENDAR, [[calendar[k] for k in CALENDAR_COLS]])]
        if extension is not None:
            steps.append((_INSERT_EXTENSION, [[extension[k] for k in EXTENSION_COLS]]))
        await self.transaction(steps)

    async def season_extensions(self, city: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Extensions, newest first (of one city, or all)."""
        where, params = ("WHERE city = ?", [city]) if city is not None else ("", [])
        rows = await self.fetch("SELECT %s FROM season_extensions %s ORDER BY decided_ts DESC, version DESC LIMIT %d"
                                % (", ".join(EXTENSION_COLS), where, int(limit)), params)
        return [_item(EXTENSION_COLS, r) for r in rows]

    # --- start-ups ---------------------------------------------------------------------------------
    async def add_season_startup(self, item: dict[str, Any]) -> int:
        """Store a new scheduled start-up; its `startup_id` is filled in and returned."""
        rows = await self.fetch("SELECT COALESCE(MAX(startup_id), 0) FROM season_startups")
        item["startup_id"] = int(rows[0][0]) + 1
        await self.save_season_startup(item)
        return int(item["startup_id"])

    async def save_season_startup(self, item: dict[str, Any]) -> None:
        params = [json.dumps(item[k], sort_keys=True) if k in _JSON else item[k] for k in STARTUP_COLS]
        await self.execute("INSERT INTO season_startups (%s) VALUES (%s) ON CONFLICT (startup_id) DO UPDATE SET %s" % (
            ", ".join(STARTUP_COLS), ", ".join("?" for _ in STARTUP_COLS),
            ", ".join("%s = excluded.%s" % (c, c) for c in STARTUP_COLS[1:])), params)

    async def season_startup(self, startup_id: int) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM season_startups WHERE startup_id = ?" % ", ".join(STARTUP_COLS),
                                (startup_id,))
        return _item(STARTUP_COLS, rows[0]) if rows else None

    async def season_startups(self, states: Sequence[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Start-ups, newest first (in one of `states`, or all)."""
        where = "WHERE state IN (%s)" % ", ".join("?" for _ in states) if states else ""
        rows = await self.fetch("SELECT %s FROM season_startups %s ORDER BY startup_id DESC LIMIT %d"
                                % (", ".join(STARTUP_COLS), where, int(limit)), list(states or ()))
        return [_item(STARTUP_COLS, r) for r in rows]
