"""Storage of the reports that reach the authority and of the hotline complaints (mixed into
both backends).

- `authority_report_state`: per report kind ("hourly", "weekly"), the instant up to which the
  scheduler has registered every due period (`done_until_ts`). Written once at the first start
  (so a period due while the supervisor was down is still found at the next start) and moved
  forward by each scheduler pass.
- `authority_report_deliveries`: one row per report, period (its end, unix s) and channel
  ("email", "http"): the period's start, state ("pending", "delivered"), attempts so far, the
  next attempt, the last error, when it was delivered. A row is never deleted: a failing
  channel is retried with back-off for as long as it fails.
- `authority_report_attempts`: every attempt (report, period, channel, attempt number, status
  "ok"/"failed", error, time).
- `complaints`: hotline complaints (投诉): the hotline's ticket number, household, received /
  answered / closed (unix s) with the answer's and the closing's notes, the official measurement
  it is linked to (that household's measurement at `measurement_ts`), who recorded it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Row = tuple[Any, ...]

AUTHORITY_REPORTS_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS authority_report_state (
        report {text} PRIMARY KEY, done_until_ts {real} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS authority_report_deliveries (
        report {text} NOT NULL, period_end_ts {real} NOT NULL, channel {text} NOT NULL, period_start_ts {real} NOT NULL,
        state {text} NOT NULL, attempts {bigint} NOT NULL DEFAULT 0, next_ts {real} NOT NULL,
        last_error {text} NOT NULL DEFAULT '', delivered_ts {real}, created_ts {real} NOT NULL,
        PRIMARY KEY (report, period_end_ts, channel))""",
    "CREATE INDEX IF NOT EXISTS authority_report_deliveries_due ON authority_report_deliveries (state, next_ts)",
    """CREATE TABLE IF NOT EXISTS authority_report_attempts (
        report {text} NOT NULL, period_end_ts {real} NOT NULL, channel {text} NOT NULL, attempt {bigint} NOT NULL,
        status {text} NOT NULL, error {text} NOT NULL DEFAULT '', ts {real} NOT NULL,
        PRIMARY KEY (report, period_end_ts, channel, attempt))""",
    """CREATE TABLE IF NOT EXISTS complaints (
        hotline_no {text} PRIMARY KEY, household_id {text} NOT NULL, received_ts {real} NOT NULL,
        summary {text} NOT NULL, measurement_ts {real}, answered_ts {real}, answer {text} NOT NULL DEFAULT '',
        closed_ts {real}, closing {text} NOT NULL DEFAULT '', recorded_by {text} NOT NULL,
        recorded_ts {real} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS complaints_household ON complaints (household_id, received_ts)",
]

DELIVERY_COLS = ("report", "period_end_ts", "channel", "period_start_ts", "state", "attempts", "next_ts", "last_error",
                 "delivered_ts", "created_ts")
ATTEMPT_COLS = ("report", "period_end_ts", "channel", "attempt", "status", "error", "ts")
COMPLAINT_COLS = ("hotline_no", "household_id", "received_ts", "summary", "measurement_ts", "answered_ts", "answer",
                  "closed_ts", "closing", "recorded_by", "recorded_ts")


class AuthorityReportStorage:
    """The report scheduler's and the complaints' queries; needs the backend's `execute`,
    `fetch` and `transaction` (see base.Storage)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def transaction(self, steps: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        raise NotImplementedError

    # --- the scheduler's watermark ---------------------------------------------------------------
    async def report_done_until(self, report: str, first_ts: float) -> float:
        """The instant up to which `report`'s periods are registered; `first_ts` is kept the first
        time (a new install starts from then and does not back-fill history)."""
        await self.execute("INSERT INTO authority_report_state (report, done_until_ts) VALUES (?, ?) "
                           "ON CONFLICT (report) DO NOTHING", (report, first_ts))
        rows = await self.fetch("SELECT done_until_ts FROM authority_report_state WHERE report = ?", (report,))
        return float(rows[0][0])

    async def register_report_periods(self, report: str, done_until_ts: float,
                                      deliveries: Sequence[tuple[float, float, str, float]], now_ts: float) -> None:
        """In one transaction: pending deliveries (period_start, period_end, channel, first attempt
        time; one already registered is left as it is) and the watermark moved to `done_until_ts`."""
        await self.transaction([
            ("INSERT INTO authority_report_deliveries (report, period_end_ts, channel, period_start_ts, state, attempts, "
             "next_ts, last_error, delivered_ts, created_ts) VALUES (?, ?, ?, ?, 'pending', 0, ?, '', NULL, ?) "
             "ON CONFLICT (report, period_end_ts, channel) DO NOTHING",
             [(report, end, channel, start, first, now_ts) for start, end, channel, first in deliveries]),
            ("UPDATE authority_report_state SET done_until_ts = ? WHERE report = ? AND done_until_ts < ?",
             [(done_until_ts, report, done_until_ts)]),
        ])

    # --- deliveries ----------------------------------------------------------------------------
    async def report_deliveries(self, due_before_ts: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Deliveries, newest period first; with `due_before_ts` only the pending ones due by then
        (oldest first, the order they are sent in)."""
        sql = "SELECT %s FROM authority_report_deliveries" % ", ".join(DELIVERY_COLS)
        params: tuple[Any, ...] = ()
        if due_before_ts is not None:
            sql += " WHERE state = 'pending' AND next_ts <= ? ORDER BY period_end_ts, report, channel"
            params = (due_before_ts,)
        else:
            sql += " ORDER BY period_end_ts DESC, report, channel"
        rows = await self.fetch(sql + " LIMIT %d" % int(limit), params)
        return [dict(zip(DELIVERY_COLS, r, strict=True)) for r in rows]

    async def record_report_attempt(self, report: str, period_end_ts: float, channel: str, attempt: int, ok: bool,
                                    error: str, ts: float, next_ts: float) -> None:
        """One attempt, and the delivery's new state (delivered, or pending again at `next_ts`)."""
        error = error[:1000]
        update = ("UPDATE authority_report_deliveries SET state = 'delivered', attempts = ?, last_error = '', "
                  "delivered_ts = ? WHERE report = ? AND period_end_ts = ? AND channel = ?",
                  [(attempt, ts, report, period_end_ts, channel)]) if ok else (
                  "UPDATE authority_report_deliveries SET attempts = ?, last_error = ?, next_ts = ? "
                  "WHERE report = ? AND period_end_ts = ? AND channel = ?",
                  [(attempt, error, next_ts, report, period_end_ts, channel)])
        await self.transaction([
            ("INSERT INTO authority_report_attempts (%s) VALUES (?, ?, ?, ?, ?, ?, ?)" % ", ".join(ATTEMPT_COLS),
             [(report, period_end_ts, channel, attempt, "ok" if ok else "failed", error, ts)]),
            update,
        ])

    async def resend_report(self, report: str, period_end_ts: float, channels: Sequence[str],
                            period_start_ts: float, now_ts: float) -> None:
        """Send a period again on `channels` at the next pass (a delivered one too: the authority
        asked for it again); a period never registered is registered now."""
        await self.transaction([
            ("INSERT INTO authority_report_deliveries (report, period_end_ts, channel, period_start_ts, state, attempts, "
             "next_ts, last_error, delivered_ts, created_ts) VALUES (?, ?, ?, ?, 'pending', 0, ?, '', NULL, ?) "
             "ON CONFLICT (report, period_end_ts, channel) DO UPDATE SET state = 'pending', next_ts = excluded.next_ts",
             [(report, period_end_ts, c, period_start_ts, now_ts, now_ts) for c in channels]),
        ])

    async def report_attempts(self, limit: int = 500) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM authority_report_attempts ORDER BY ts DESC, attempt DESC LIMIT %d"
                                % (", ".join(ATTEMPT_COLS), int(limit)))
        return [dict(zip(ATTEMPT_COLS, r, strict=True)) for r in rows]

    # --- complaints ----------------------------------------------------------------------------
    async def add_complaint(self, row: dict[str, Any]) -> None:
        """A new complaint (dict with COMPLAINT_COLS); the same hotline number twice is refused
        (StorageError)."""
        await self.execute("INSERT INTO complaints (%s) VALUES (%s)" % (", ".join(COMPLAINT_COLS),
                                                                       ", ".join("?" for _ in COMPLAINT_COLS)),
                            [row.get(c, "" if c in ("answer", "closing") else None) for c in COMPLAINT_COLS])

    async def update_complaint(self, hotline_no: str, **values: Any) -> None:
        """Set answered_ts/answer or closed_ts/closing of one complaint."""
        keys = [k for k in values if k in ("answered_ts", "answer", "closed_ts", "closing")]
        if keys:
            await self.execute("UPDATE complaints SET %s WHERE hotline_no = ?" % ", ".join("%s = ?" % k for k in keys),
                               [values[k] for k in keys] + [hotline_no])

    async def complaints(self, hotline_no: str | None = None) -> list[dict[str, Any]]:
        """Complaints, newest first, each with its household's station and residential area."""
        sql = ("SELECT %s, h.station_id, h.residential_area, h.building FROM complaints c "
               "LEFT JOIN households h ON h.household_id = c.household_id"
               % ", ".join("c." + col for col in COMPLAINT_COLS))
        params: tuple[Any, ...] = ()
        if hotline_no is not None:
            sql += " WHERE c.hotline_no = ?"
            params = (hotline_no,)
        rows = await self.fetch(sql + " ORDER BY c.received_ts DESC, c.hotline_no", params)
        return [dict(zip((*COMPLAINT_COLS, "station_id", "residential_area", "building"), r, strict=True)) for r in rows]
