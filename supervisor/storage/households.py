"""Storage of who is heated (mixed into both backends): households and official measurements,
and the stations' heating outages read back from the alarm log.

- `households`: one row per household (its id is the heating company's account number):
  company > branch > residential area (小区) > station > building, heated area (m2), tariff (CNY
  per m2 per season), heating type (radiator, floor), metering (metered, area), who changed it
  last and when. Area and tariff are kept as decimal text, so a fee is exact to the cent on both
  backends.
- `household_measurements`: official indoor measurements (入户测温): household, time (unix s),
  temperature, inspector, who recorded it and when; one per household and instant.
- Outages recorded by hand (`add_recorded_outages`: from the company's own log, before
  heatkeeper watched the station or while it could not) go into the alarm log as a raise and a
  clear of the heating-outage alarm, so refunds see them like any other; the station's current
  alarm state is not touched.
Imports are one transaction each (`transaction`): a file is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Row = tuple[Any, ...]
Step = tuple[str, Sequence[Sequence[Any]]]  # as base.Step (base imports this module)

HOUSEHOLD_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS households (
        household_id {text} PRIMARY KEY, company {text} NOT NULL DEFAULT '', branch {text} NOT NULL DEFAULT '',
        residential_area {text} NOT NULL, station_id {text} NOT NULL, building {text} NOT NULL,
        area_m2 {text} NOT NULL, tariff_cny_per_m2 {text} NOT NULL, heating_type {text} NOT NULL,
        metering {text} NOT NULL, changed_by {text} NOT NULL, changed_ts {real} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS households_station ON households (station_id, building)",
    """CREATE TABLE IF NOT EXISTS household_measurements (
        household_id {text} NOT NULL, ts {real} NOT NULL, temperature_c {real} NOT NULL, inspector {text} NOT NULL,
        recorded_by {text} NOT NULL, recorded_ts {real} NOT NULL, PRIMARY KEY (household_id, ts))""",
]

HOUSEHOLD_COLS = ("household_id", "company", "branch", "residential_area", "station_id", "building", "area_m2",
                  "tariff_cny_per_m2", "heating_type", "metering")
MEASUREMENT_COLS = ("household_id", "ts", "temperature_c", "inspector", "recorded_by", "recorded_ts")
_SEARCHED = ("household_id", "company", "branch", "residential_area", "station_id", "building")
OUTAGE_CODE = "heating_outage"  # the supervisor's own alarm (fleet_alarms.py): no heat delivered, in season

_UPSERT = ("INSERT INTO households (%s, changed_by, changed_ts) VALUES (%s, ?, ?) ON CONFLICT (household_id) DO UPDATE "
           "SET %s, changed_by = excluded.changed_by, changed_ts = excluded.changed_ts"
           % (", ".join(HOUSEHOLD_COLS), ", ".join("?" for _ in HOUSEHOLD_COLS),
              ", ".join("%s = excluded.%s" % (c, c) for c in HOUSEHOLD_COLS[1:])))
_INSERT_MEASUREMENT = "INSERT INTO household_measurements (%s) VALUES (%s)" % (
    ", ".join(MEASUREMENT_COLS), ", ".join("?" for _ in MEASUREMENT_COLS))


class HouseholdStorage:
    """Households, measurements, outages; needs the backend's `fetch` and `transaction`."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def transaction(self, steps: Sequence[Step]) -> None:
        raise NotImplementedError

    async def save_households(self, rows: Sequence[dict[str, Any]], user: str, ts: float) -> None:
        """Insert or replace households (dicts with HOUSEHOLD_COLS, amounts as decimal text), all
        in one transaction."""
        await self.transaction([(_UPSERT, [[str(r[c]) for c in HOUSEHOLD_COLS] + [user, ts] for r in rows])])

    async def households(self, station_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT %s, changed_by, changed_ts FROM households" % ", ".join(HOUSEHOLD_COLS)
        params: tuple[Any, ...] = ()
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params = (station_id,)
        rows = await self.fetch(sql + " ORDER BY household_id", params)
        return [dict(zip((*HOUSEHOLD_COLS, "changed_by", "changed_ts"), r, strict=True)) for r in rows]

    async def households_page(self, query: str = "", station_id: str | None = None, limit: int = 100,
                              offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """(one page of the register in household order, how many match in all): `query` is found
        anywhere in the household id, company, branch, residential area, station or building (any
        case; `%` and `_` are plain characters), `station_id` narrows to one station."""
        where: list[str] = []
        params: list[Any] = []
        if query:
            pattern = "%" + "".join("!" + ch if ch in "!%_" else ch for ch in query.lower()) + "%"
            where.append("(" + " OR ".join("LOWER(%s) LIKE ? ESCAPE '!'" % c for c in _SEARCHED) + ")")
            params.extend([pattern] * len(_SEARCHED))
        if station_id is not None:
            where.append("station_id = ?")
            params.append(station_id)
        cond = " WHERE " + " AND ".join(where) if where else ""
        total = int((await self.fetch("SELECT COUNT(*) FROM households" + cond, params))[0][0])
        rows = await self.fetch("SELECT %s, changed_by, changed_ts FROM households%s ORDER BY household_id "
                                "LIMIT %d OFFSET %d" % (", ".join(HOUSEHOLD_COLS), cond, int(limit), int(offset)),
                                params)
        return [dict(zip((*HOUSEHOLD_COLS, "changed_by", "changed_ts"), r, strict=True)) for r in rows], total

    async def household_counts(self) -> dict[str, int]:
        """{station_id: registered households}."""
        return {str(sid): int(n) for sid, n in await self.fetch(
            "SELECT station_id, COUNT(*) FROM households GROUP BY station_id")}

    async def household(self, household_id: str) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s, changed_by, changed_ts FROM households WHERE household_id = ?"
                                % ", ".join(HOUSEHOLD_COLS), (household_id,))
        return dict(zip((*HOUSEHOLD_COLS, "changed_by", "changed_ts"), rows[0], strict=True)) if rows else None

    async def add_measurements(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert official measurements (dicts with MEASUREMENT_COLS), all in one transaction; the
        same household at the same instant twice is refused (StorageError) and nothing is stored."""
        await self.transaction([(_INSERT_MEASUREMENT, [[r[c] for c in MEASUREMENT_COLS] for r in rows])])

    async def measurements(self, household_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT %s FROM household_measurements" % ", ".join(MEASUREMENT_COLS)
        params: tuple[Any, ...] = ()
        if household_id is not None:
            sql += " WHERE household_id = ?"
            params = (household_id,)
        rows = await self.fetch(sql + " ORDER BY ts, household_id", params)
        return [dict(zip(MEASUREMENT_COLS, r, strict=True)) for r in rows]

    async def add_recorded_outages(self, rows: Sequence[tuple[str, float, float, str]]) -> int:
        """Store past outages (station_id, start_ts, end_ts, text) as heating-outage episodes of the
        alarm log, in one transaction; an episode already in the log (same station, start and end)
        is skipped. Returns the number stored."""
        known = {(str(sid), float(raised), float(cleared)) for sid, raised, cleared in await self.fetch(
            "SELECT station_id, raised_ts, ts FROM alarm_log WHERE code = ? AND active = 0 AND raised_ts IS NOT NULL",
            (OUTAGE_CODE,))}
        new = [r for r in dict.fromkeys(rows) if (r[0], float(r[1]), float(r[2])) not in known]
        sql = ("INSERT INTO alarm_log (station_id, code, severity, active, ts, text, value, seq, value_num, limit_num, "
               "raised_ts) VALUES (?, ?, 'critical', ?, ?, ?, 'null', NULL, NULL, NULL, ?)")
        steps = [(sql, [(sid, OUTAGE_CODE, active, ts, text, float(t0)) for sid, t0, t1, text in new
                        for active, ts in ((1, float(t0)), (0, float(t1)))])]
        if new:
            await self.transaction(steps)
        return len(new)

    async def outage_episodes(self, code: str = OUTAGE_CODE) -> list[tuple[str, float, float | None]]:
        """(station_id, raised_ts, cleared_ts or None while it stands) of every episode of the alarm
        `code` the alarm log keeps: a clear row carries its episode's raise time (`raised_ts`); a
        standing alarm is in `alarms` with the time it was raised."""
        out: list[tuple[str, float, float | None]] = []
        for sid, raised, cleared in await self.fetch(
                "SELECT station_id, raised_ts, ts FROM alarm_log WHERE code = ? AND active = 0 AND raised_ts IS NOT NULL "
                "ORDER BY station_id, raised_ts", (code,)):
            out.append((str(sid), float(raised), float(cleared)))
        for sid, since in await self.fetch("SELECT station_id, since_ts FROM alarms WHERE code = ? AND active = 1",
                                           (code,)):
            out.append((str(sid), float(since), None))
        return out
