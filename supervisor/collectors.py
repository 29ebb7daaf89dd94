"""Room-temperature collectors: readings in (MQTT or HTTP), stored, forwarded to each station.

Each collector belongs to one station and one building group (config [[collector]] or a
CSV). A reading from an unknown collector, outside [min_temp_c, max_temp_c], older than
`max_age_s` or more than MAX_FUTURE_S ahead is rejected with a reason and never stored (so
nobody can back-date readings into the compliance reports). An HTTP API token writes only the
collectors in its scope (`in_scope`). Every `forward_interval_s` each station receives the current
readings of its collectors (not older than `max_age_s`) on its rooms topic, which the
station's room feedback uses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from heatkeeper.core import codec

from .storage.base import Storage

log = logging.getLogger(__name__)

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]
MAX_FUTURE_S = 300.0  # a collector's clock may run this far ahead of ours


def in_scope(collector_id: str, scope: Sequence[str]) -> bool:
    """True when an API token limited to `scope` may write `collector_id`: an entry is one
    collector id, or a prefix ending in "*" ("vx-*" covers every id starting "vx-")."""
    for entry in scope:
        if entry.endswith("*"):
            if collector_id.startswith(entry[:-1]):
                return True
        elif collector_id == entry:
            return True
    return False


def rejection_text(reason: str, collector_id: str, temp_c: float, ts: float, now: float, max_age_s: float,
                   source: str) -> str:
    """What a collector platform is told about a refused reading."""
    if reason == "stale_ts":
        return ("collector %r ts=%r is %.0f s old: readings older than collectors.max_age_s=%g s are refused"
                % (collector_id, ts, now - ts, max_age_s))
    if reason == "future_ts":
        return "collector %r ts=%r is %.0f s ahead of the supervisor's clock (at most %g s)" % (
            collector_id, ts, ts - now, MAX_FUTURE_S)
    if reason == "not_in_scope":
        return "collector %r: the API token of %s may not write it" % (collector_id, source)
    if reason == "unknown_collector":
        return "collector %r: not configured ([[collector]])" % collector_id
    if reason == "implausible_temp":
        return "collector %r temp_c=%r: outside the plausible range" % (collector_id, temp_c)
    return "collector %r: %s" % (collector_id, reason)


class CollectorHub:
    """The collector map, the latest reading of each collector, and the batch to store."""

    def __init__(self, storage: Storage, collectors: dict[str, dict[str, str]], min_temp_c: float = -10.0,
                 max_temp_c: float = 45.0, max_age_s: float = 1800.0,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.collectors = dict(collectors)
        self.min_temp_c = min_temp_c
        self.max_temp_c = max_temp_c
        self.max_age_s = max_age_s
        self.clock = wall_clock
        self.latest: dict[str, tuple[float, float]] = {}  # collector -> (ts, temp_c)
        self._batch: list[tuple[str, float, float, str, str, str]] = []
        self._acks: list[Callable[[], None]] = []  # MQTT deliveries to acknowledge once stored
        self.accepted = 0
        self.forwarded = 0

    def accept(self, collector_id: str, temp_c: float, ts: float, source: str) -> str:
        """"stored" or a rejection reason; queues the reading for `flush`."""
        info = self.collectors.get(collector_id)
        if info is None:
            return "unknown_collector"
        if not self.min_temp_c <= temp_c <= self.max_temp_c:
            return "implausible_temp"
        now = self.clock()
        if ts > now + MAX_FUTURE_S:
            return "future_ts"
        if ts < now - self.max_age_s:
            return "stale_ts"  # back-dated readings would rewrite compliance history
        prev = self.latest.get(collector_id)
        if prev is None or ts >= prev[0]:
            self.latest[collector_id] = (ts, temp_c)
        self._batch.append((collector_id, ts, temp_c, info["station"], info["group"], source[:64]))
        self.accepted += 1
        return "stored"

    def hold_ack(self, ack: Callable[[], None]) -> None:
        """Acknowledge an accepted reading's MQTT delivery only once it is stored (`flush`)."""
        self._acks.append(ack)

    async def flush(self) -> int:
        batch, self._batch = self._batch, []
        acks, self._acks = self._acks, []
        try:
            await self.storage.store_readings(batch)
        except BaseException:
            self._batch = batch + self._batch
            self._acks = acks + self._acks
            raise
        for ack in acks:
            ack()
        return len(batch)

    async def run_store(self, period_s: float = 1.0) -> None:
        """Store accepted readings every `period_s`, forever (kept and retried on failure)."""
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - task boundary: kept and retried
                log.warning("storing collector readings failed (%s); retrying in %.0f s", exc, period_s)

    def current(self, station_id: str) -> list[dict[str, Any]]:
        """The fresh readings of one station's collectors."""
        now = self.clock()
        out = []
        for cid, info in self.collectors.items():
            if info["station"] != station_id:
                continue
            latest = self.latest.get(cid)
            if latest is None or now - latest[0] > self.max_age_s:
                continue
            out.append({"collector": cid, "group": info["group"], "temp_c": latest[1], "ts": latest[0]})
        return out

    def stations(self) -> list[str]:
        return sorted({info["station"] for info in self.collectors.values()})

    async def forward(self, publish: Publisher) -> int:
        """Publish each station's current readings once; returns the number of stations sent."""
        sent = 0
        now = self.clock()
        for sid in self.stations():
            readings = self.current(sid)
            if not readings:
                continue
            topic, payload = codec.encode_rooms(sid, readings, now)
            await publish(topic, payload, 1, False)
            sent += 1
        self.forwarded += sent
        return sent

    async def run(self, publish: Publisher, interval_s: float) -> None:
        """Store and forward forever; a broker outage only delays the next forward."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
                await self.forward(publish)
            except Exception as exc:  # noqa: BLE001 - task boundary: retried next period
                log.warning("collector store/forward failed (%s); retrying in %.0f s", exc, interval_s)


def parse_http_readings(payload: Any) -> tuple[list[tuple[str, float, float]], list[str]]:
    """Readings from an HTTP body: {"collector","temp_c","ts"} or {"readings": [...]}.
    Returns (good readings, problems); the problems name the item and the field."""
    items: Any
    if isinstance(payload, dict) and "readings" in payload:
        items = payload["readings"]
    else:
        items = [payload]
    if not isinstance(items, list):
        return [], ["readings: must be a list"]
    if len(items) > 10000:
        return [], ["readings: %d items, at most 10000 per request" % len(items)]
    good: list[tuple[str, float, float]] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append("readings[%d]: must be an object" % i)
            continue
        cid, temp, ts = item.get("collector"), item.get("temp_c"), item.get("ts")
        if not codec.valid_id(cid):
            problems.append("readings[%d].collector=%r: must be 1-64 of A-Z a-z 0-9 _ -" % (i, cid))
            continue
        # finite and within codec.MAX_ABS_NUMBER, as over MQTT (a 400-digit int is no float)
        if not (isinstance(temp, (int, float)) and codec.bounded_number(temp)):
            problems.append("readings[%d].temp_c=%.80r: must be a finite number (degC)" % (i, temp))
            continue
        if not (isinstance(ts, (int, float)) and codec.bounded_number(ts) and ts > 0):
            problems.append("readings[%d].ts=%.80r: must be unix seconds" % (i, ts))
            continue
        good.append((str(cid), float(temp), float(ts)))
    return good, problems
