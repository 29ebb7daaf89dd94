"""Room temperatures POSTed over HTTP by a collector platform (the web's /api/collectors/readings):
each reading checked and either stored by the collector hub or refused with its reason (counted
by the ingest's rejects, so nothing is dropped silently); and the collector map with each
collector's latest reading."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .collectors import CollectorHub, in_scope, parse_http_readings, rejection_text
from .ingest import Ingest


class CollectorIntake:
    """Readings from collector platforms over HTTP, and the collector map."""

    def __init__(self, collectors: CollectorHub, ingest: Ingest, wall_clock: Callable[[], float]) -> None:
        self.collectors = collectors
        self.ingest = ingest
        self.clock = wall_clock

    async def ingest_collector_http(self, payload: Any, source: str,
                                    scope: Sequence[str] | None = None) -> dict[str, Any]:
        """Readings POSTed over HTTP: {"collector","temp_c","ts"} or {"readings":[...]}, by the
        platform `source` whose token may write the collectors in `scope` (None: all).
        Returns {"accepted": n, "rejected": [{"collector", "reason", "detail"}...], "problems": [...]}."""
        good, problems = parse_http_readings(payload)
        for p in problems:
            self.ingest.rejects.reject("bad_http_reading", "%s from %s" % (p, source))
        rejected = []
        accepted = 0
        for cid, temp, ts in good:
            if scope is not None and not in_scope(cid, scope):
                result = "not_in_scope"
            else:
                result = self.collectors.accept(cid, temp, ts, "http:" + source)
            if result == "stored":
                accepted += 1
            else:
                detail = rejection_text(result, cid, temp, ts, self.clock(), self.collectors.max_age_s, source)
                self.ingest.rejects.reject(result, "%s from %s" % (detail, source))
                rejected.append({"collector": cid, "reason": result, "detail": detail})
        if accepted:
            await self.collectors.flush()
        return {"accepted": accepted, "rejected": rejected, "problems": problems}

    async def collector_map(self) -> list[dict[str, Any]]:
        """[{collector, station_id, group, temp_c, ts}] by collector id (temp_c, ts: the latest reading)."""
        out = []
        for cid, info in sorted(self.collectors.collectors.items()):
            latest = self.collectors.latest.get(cid)
            out.append({"collector": cid, "station_id": info["station"], "group": info["group"],
                        "temp_c": latest[1] if latest else None, "ts": latest[0] if latest else None})
        return out
