"""The supervisor's figures in Prometheus' text exposition format (version 0.0.4, written by
core/exposition.py, as the station's are), for the monitoring the operator already runs;
served by the dashboard at `GET /metrics` (web/metrics.py says who may read it).

Everything is read from what the ingest, the quarantine and the service already count;
the only figures kept here are the storage flush times and failures (`FlushMetrics`, fed by
the ingest's `on_flush` hook). Rates are counters: the monitoring takes `rate(...)`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from heatkeeper.core.exposition import CONTENT_TYPE, Exposition, number

__all__ = ["CONTENT_TYPE", "FlushMetrics", "render"]

# storage flush time buckets, seconds (a flush of up to 2,000 uplinks takes ~10-100 ms)
FLUSH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FlushMetrics:
    """Duration of every ingest flush (a histogram) and how many failed (database errors)."""

    def __init__(self, buckets: tuple[float, ...] = FLUSH_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)  # per bucket, not cumulative (made cumulative when written)
        self.count = 0
        self.sum_s = 0.0
        self.errors = 0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.sum_s += seconds
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[i] += 1
                break

    def watch(self, task: asyncio.Future[Any]) -> None:
        """Time one flush (the ingest's `on_flush`): from now until `task` ends; a flush that
        raised counts as a database error (a cancelled one counts as neither)."""
        start = time.perf_counter()

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                return
            self.observe(time.perf_counter() - start)
            if fut.exception() is not None:  # retrieved here too; the caller still gets it
                self.errors += 1

        task.add_done_callback(done)


def render(service: Any) -> str:
    """The exposition of a running SupervisorService."""
    ingest = service.ingest
    stats = ingest.stats()
    out = Exposition()
    out.family("heatkeeper_ingest_received_total", "counter",
               "MQTT messages handed to the ingest (uplinks, statuses, collector readings, refused ones).",
               [("", {}, stats["received"])])
    out.family("heatkeeper_uplinks_stored_total", "counter",
               "Uplinks stored as new rows, by kind (telemetry, alarm, event, ack); the ingest rate is its rate().",
               [("", {"kind": kind}, n) for kind, n in sorted(ingest.stored_by_kind.items())])
    out.family("heatkeeper_uplinks_duplicate_total", "counter",
               "Uplinks already stored with the same content (QoS 1 resends, outbox replays): counted once.",
               [("", {}, stats["duplicates"])])
    out.family("heatkeeper_sequence_regressions_total", "counter",
               "Uplinks reusing a stored (station, seq) with other content (quarantined).",
               [("", {}, stats["sequence_regressions"])])
    out.family("heatkeeper_ingest_rejected_total", "counter",
               "Messages refused by the ingest, by reason (never stored as data).",
               [("", {"reason": reason}, n) for reason, n in sorted(stats["rejected"].items())])
    out.family("heatkeeper_uplinks_quarantined_total", "counter",
               "Refused uplinks of configured stations kept in the quarantine table, by reason.",
               [("", {"reason": reason}, n) for reason, n in sorted(ingest.quarantine.kept.items())])
    out.family("heatkeeper_quarantine_written_total", "counter",
               "Quarantine rows written to the database.", [("", {}, stats["quarantined"])])
    out.family("heatkeeper_ingest_queue_depth", "gauge",
               "Uplinks received and waiting in memory for the next storage flush.", [("", {}, stats["pending"])])
    out.family("heatkeeper_quarantine_queue_depth", "gauge",
               "Quarantine rows waiting in memory for the next storage flush.",
               [("", {}, stats["quarantine_pending"])])
    flush: FlushMetrics = service.flush_metrics
    cumulative = 0
    samples: list[tuple[str, dict[str, str], float]] = []
    for bound, n in zip(flush.buckets, flush.counts, strict=True):
        cumulative += n
        samples.append(("_bucket", {"le": number(bound)}, cumulative))
    samples += [("_bucket", {"le": "+Inf"}, flush.count), ("_sum", {}, flush.sum_s), ("_count", {}, flush.count)]
    out.family("heatkeeper_storage_flush_seconds", "histogram",
               "Time of each ingest flush (uplinks, quarantine, alarms and aggregates written to the database).",
               samples)
    out.family("heatkeeper_database_errors_total", "counter",
               "Ingest flushes the database failed (the batch is kept in memory and retried).",
               [("", {}, flush.errors)])
    online = service.fleet.stations_online()
    out.family("heatkeeper_stations", "gauge", "Configured stations, by whether they are online now.",
               [("", {"state": "online"}, online), ("", {"state": "offline"}, len(service.stations_cfg) - online)])
    out.family("heatkeeper_broker_connected", "gauge", "1 while the supervisor is connected to the MQTT broker.",
               [("", {}, 1 if service.link.connected() else 0)])
    return out.text()
