"""The scheduler of the reports to the authority, run by the supervisor when
`[authority_reports] enabled = true`.

Each pass (`tick`, every `poll_s`):
1. For each report kind, every period that ended since the stored watermark
   (`authority_report_state`) is registered: one pending delivery per configured channel, first
   tried `delay_min` after the period's end. The watermark is kept in the database, so a period
   that ended while the supervisor was down is registered at the next start and produced for the
   period it covers (a new install starts from its first start; it does not back-fill history).
2. Every pending delivery that is due is built from the stored aggregates and sent, oldest
   first. Each attempt is recorded (report, period, channel, attempt, status, error, time). A
   failure is tried again after retry_base_s, 2x, 4x ... at most retry_max_s, for as long as it
   fails: nothing is dropped. After a failure the channel's other due deliveries wait for the next
   pass (a dead endpoint costs one timeout per pass, not one per period).
The clock is an input (`clock`: unix s), so a test leaps it across 09:00, 17:00, a week
boundary and an outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from . import authority_reports as ar
from . import authority_reports_schedule as schedule
from .authority_reports_delivery import deliver
from .notify.channels import DeliveryError, Http
from .storage import StorageError

log = logging.getLogger("heatkeeper.supervisor.authority_reports")


def backoff_s(settings: dict[str, Any], attempt: int) -> float:
    """Seconds before the try after failed attempt number `attempt` (1, 2, ...)."""
    return float(min(settings["retry_base_s"] * 2.0 ** max(0, attempt - 1), settings["retry_max_s"]))


class AuthorityReportScheduler:
    """Registers due periods and delivers them (see the module docstring)."""

    def __init__(self, storage: Any, config: dict[str, Any], clock: Callable[[], float],
                 http: Http | None = None) -> None:
        self.storage = storage
        self.config = config
        self.settings = config["authority_reports"]
        self.clock = clock
        self.http = http or Http()
        self._done: dict[str, float] = {}  # the stored watermarks, read once: a quiet pass writes nothing

    async def register_due(self) -> int:
        """Register the periods that ended since the watermark; the number registered."""
        now = self.clock()
        delay = self.settings["delay_min"] * 60.0
        count = 0
        for report in schedule.REPORTS:
            if report not in self._done:
                self._done[report] = await self.storage.report_done_until(report, now)
            ends = schedule.due_between(self.settings, report, self._done[report], now)
            rows = [(schedule.period_start(self.settings, report, end), end, channel, end + delay)
                    for end in ends for channel in self.settings["channels"]]
            if ends:
                await self.storage.register_report_periods(report, now, rows, now)
                self._done[report] = now
            count += len(ends)
        return count

    async def deliver_due(self) -> int:
        """Try every pending delivery that is due; the number delivered."""
        delivered = 0
        built: dict[tuple[str, float], dict[str, Any]] = {}
        failing: set[str] = set()
        for d in await self.storage.report_deliveries(due_before_ts=self.clock()):
            if d["channel"] in failing:
                continue  # one failed just now: the rest wait for the next pass, so a dead endpoint cannot stall it
            key = (d["report"], float(d["period_end_ts"]))
            attempt = int(d["attempts"]) + 1
            try:
                if key not in built:
                    built[key] = await ar.build(self.storage, self.config, d["report"], float(d["period_start_ts"]),
                                                key[1])
                answer = await deliver(self.config, built[key], d["channel"], self.http)
                ok, error = True, ""
                log.info("authority report %s %s on %s delivered (attempt %d): %s", d["report"],
                         ar.local_text(key[1], self.settings["timezone"]), d["channel"], attempt, answer)
            except (DeliveryError, StorageError, ValueError, OSError) as exc:  # this attempt's; retried
                ok, error = False, str(exc)
                failing.add(d["channel"])
                log.warning("authority report %s %s on %s: attempt %d failed: %s", d["report"],
                            ar.local_text(key[1], self.settings["timezone"]), d["channel"], attempt, error)
            now = self.clock()
            await self.storage.record_report_attempt(d["report"], key[1], d["channel"], attempt, ok, error, now,
                                                     now + backoff_s(self.settings, attempt))
            delivered += ok
        return delivered

    async def tick(self) -> None:
        await self.register_due()
        await self.deliver_due()

    async def run(self) -> None:
        """Until cancelled: a pass every poll_s; a failing pass (the database away) is logged and
        the next one runs."""
        try:
            while True:
                try:
                    await self.tick()
                except StorageError as exc:
                    log.error("authority reports: %s (next pass in %g s)", exc, self.settings["poll_s"])
                await asyncio.sleep(self.settings["poll_s"])
        finally:
            await self.http.close()
