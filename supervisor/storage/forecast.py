"""Storage of the weather forecasts (mixed into both backends): one row per city.

- `forecasts`: the city's last good forecast (source, when it was fetched, first hour, step, the
  hourly series as JSON) and the state of its fetches (last attempt, last error and since when,
  failures in a row), so the dashboard shows a failing source and a restart resumes with the
  last good forecast. A failed fetch never overwrites the good forecast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

FORECAST_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS forecasts (
        city {text} PRIMARY KEY, source {text} NOT NULL, fetched_ts {real}, start_ts {real}, step_s {real},
        series {text}, attempt_ts {real}, error {text} NOT NULL DEFAULT '', error_ts {real},
        failures {bigint} NOT NULL DEFAULT 0)""",
]

COLS = ("city", "source", "fetched_ts", "start_ts", "step_s", "series", "attempt_ts", "error", "error_ts", "failures")


class ForecastStorage:
    """The forecast fetcher's queries; needs the backend's `execute` and `fetch` (see base.Storage)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def store_forecast(self, city: str, source: str, fetched_ts: float, start_ts: float, step_s: float,
                             series: dict[str, list[float]]) -> None:
        """Keep a city's new good forecast (clears its error state)."""
        await self.execute(
            "INSERT INTO forecasts (city, source, fetched_ts, start_ts, step_s, series, attempt_ts, error, error_ts, "
            "failures) VALUES (?, ?, ?, ?, ?, ?, ?, '', NULL, 0) ON CONFLICT (city) DO UPDATE SET "
            "source = excluded.source, fetched_ts = excluded.fetched_ts, start_ts = excluded.start_ts, "
            "step_s = excluded.step_s, series = excluded.series, attempt_ts = excluded.attempt_ts, error = '', "
            "error_ts = NULL, failures = 0",
            (city, source, fetched_ts, start_ts, step_s, json.dumps(series, separators=(",", ":")), fetched_ts))

    async def store_forecast_error(self, city: str, source: str, ts: float, error: str) -> None:
        """Record a failed fetch of a city's forecast; the good forecast held is left as it is."""
        await self.execute(
            "INSERT INTO forecasts (city, source, attempt_ts, error, error_ts, failures) VALUES (?, ?, ?, ?, ?, 1) "
            "ON CONFLICT (city) DO UPDATE SET source = excluded.source, attempt_ts = excluded.attempt_ts, "
            "error = excluded.error, error_ts = CASE WHEN forecasts.failures > 0 THEN forecasts.error_ts "
            "ELSE excluded.error_ts END, failures = forecasts.failures + 1",
            (city, source, ts, error[:1000], ts))

    async def forecast_rows(self) -> dict[str, dict[str, Any]]:
        """{city: {source, fetched_ts, start_ts, step_s, series (dict or None), attempt_ts, error,
        error_ts, failures}} of every city with a forecast or a failed fetch."""
        rows = await self.fetch("SELECT %s FROM forecasts ORDER BY city" % ", ".join(COLS))
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            d = dict(zip(COLS, r, strict=True))
            try:
                d["series"] = json.loads(d["series"]) if d["series"] else None
            except ValueError:
                d["series"] = None
            out[str(d.pop("city"))] = d
        return out
