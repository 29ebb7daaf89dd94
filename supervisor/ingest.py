"""Ingest: MQTT messages in, validated rows stored exactly once, what they say derived.

The MQTT link that feeds `handle` is mqtt_link.py; the live station state it keeps is
live_state.py; the 5-minute aggregates it derives are aggregates.py (equipment records:
equipment.py; dead letters: quarantine.py).

`Ingest.handle(topic, payload)` is synchronous and cheap: it validates with core's codec and
queues; `flush()` writes one batch. Invariants:
- A payload that is oversized, malformed, from an unknown station or collector, or on an
  unknown topic is counted under its reason, logged at most once per reason per minute, and
  never stored as data. Nothing here raises out of `handle`.
- One station's message never stops, delays or drops another's. The codec accepts only what
  storage can hold, and `ts` only within [received - max_age_s, received + 5 min]. A refused
  uplink on a configured station's topic goes to the quarantine (dead-letter) table with its
  reason, and the station gets a supervisor alarm (`uplink_quarantined`; see quarantine.py). A chunk the database
  refuses is stored row by row; a row it still refuses (a data error, not an outage) is
  quarantined, never retried at the head of the queue. A message reusing a stored (station,
  seq) with other content (an outbox that was recreated) is quarantined with a
  `sequence_regression` alarm instead of being dropped as a duplicate. The broker's ack of a
  quarantined message waits until the quarantine row is written.
- Live values follow the station's own order (seq) and the RECEIVE time, never its clock (see
  live_state.py).
- Uplinks are stored by (station, seq) with ON CONFLICT DO NOTHING; only rows the database
  reports as new feed the 5-minute aggregates, the equipment records and the alarm state, so
  duplicate deliveries (QoS 1 resends, outbox replays) count once.
- Command acks are passed to the command tracker at once (its transitions are idempotent) so
  the round-trip does not wait for the batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from heatkeeper.core import codec

from . import aggregates, live_state
from .aggregates import AGG_SLICES, Aggregates
from .equipment import EquipmentTracker
from .ingest_path import MAX_STATION_FIELDS as MAX_STATION_FIELDS
from .ingest_path import Acker as Acker
from .ingest_path import AckHandler, Entry, MessagePath, ReadingHandler, first_of
from .ingest_path import StationSlots as StationSlots
from .live_state import EQUIPMENT_KEY
from .quarantine import ALARM_SEQ_REGRESSION, Quarantine
from .storage.base import AggRow, Storage, refuses_row
from .uplink_decode import fast_loads as fast_loads  # the parser the decoder uses (None without orjson)

log = logging.getLogger(__name__)

STORE_CHUNK = 1000  # uplinks per insert transaction

CLEARED_STATES = ("cleared", "clear", "inactive", "ok", "normal", "off", "resolved")


def _station_of(entry: Entry) -> str:
    return entry[4].sid


class _Unstored(Exception):
    """The database failed part-way through a chunk stored row by row: `entries` are the ones
    neither stored nor quarantined (to be queued again)."""

    def __init__(self, entries: list[Entry]) -> None:
        super().__init__("%d uplinks not stored" % len(entries))
        self.entries = entries


class RejectCounter:
    """Bad input counted per reason; each reason logged at most once per `period_s`."""

    def __init__(self, period_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.counts: dict[str, int] = {}
        self.period_s = period_s
        self._clock = clock
        self._logged: dict[str, float] = {}

    def reject(self, reason: str, text: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = self._clock()
        last = self._logged.get(reason)
        if last is None or now - last >= self.period_s:
            self._logged[reason] = now
            log.warning("ingest rejected input (%s, %d so far): %s", reason, self.counts[reason], text[:300])

    def total(self) -> int:
        return sum(self.counts.values())


class Ingest(MessagePath):
    """Validate, batch and store uplinks; keep each station's latest state in memory (the
    per-message part: ingest_path.MessagePath)."""

    def __init__(self, storage: Storage, station_ids: set[str], *, max_payload_bytes: int = codec.MAX_PAYLOAD_BYTES,
                 batch_max: int = 2000, batch_interval_s: float = 0.25, agg_flush_s: float = 60.0,
                 agg_slices: int = AGG_SLICES, owner: str = "supervisor",
                 wall_clock: Callable[[], float] = time.time, max_age_s: float = 90 * 86400.0) -> None:
        self.storage = storage
        self.station_ids = set(station_ids)
        self.max_payload_bytes = max_payload_bytes
        self.batch_max = batch_max
        self.batch_interval_s = batch_interval_s
        self.agg_flush_s = agg_flush_s
        self.agg_slices = max(1, int(agg_slices))
        self.owner = owner
        self.clock = wall_clock
        self.max_age_s = max_age_s  # oldest uplink ts accepted, seconds before its receive time
        self.rejects = RejectCounter()
        self.on_ack: AckHandler | None = None
        self.on_reading: ReadingHandler | None = None
        self.hold_reading_ack: Callable[[Acker], None] | None = None
        self.state: dict[str, dict[str, Any]] = {sid: live_state.blank_state() for sid in station_ids}
        self.equipment = EquipmentTracker()
        self.stored = 0
        self.duplicates = 0
        self.received = 0
        self.recovered = 0
        self.regressions = 0
        self.stored_by_kind: dict[str, int] = {}  # new rows per uplink kind (metrics.py)
        self.on_flush: Callable[[asyncio.Future[int]], None] | None = None  # times each flush (metrics.py)
        self._pending: list[Entry] = []
        self._held: list[Entry] | None = None  # entries whose ack waits for the flush's end (_flush_locked)
        self._pending_alarms: list[tuple[str, dict[str, Any]]] = []
        self.quarantine = Quarantine(storage, wall_clock, self.rejects.reject)
        self._kept_now = False  # the message being handled went to the quarantine
        self._fields: dict[str, frozenset[str]] = {}  # field names each station has sent (shared objects)
        self._name_sets: dict[frozenset[str], frozenset[str]] = {}  # the distinct ones, for _shared_names
        self.aggregates = Aggregates(self.agg_slices)
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._last_slice_close = time.monotonic()
        self._next_slice = 0
        self._flush_lock = asyncio.Lock()
        # topic -> codec.parse_topic(topic) and the station's slots (an uplink topic of a configured station)
        self._topics: dict[str, tuple[str, str, str, StationSlots | None]] = {}
        self._slots: dict[str, StationSlots] = {}

    def add_station(self, station_id: str) -> None:
        self.station_ids.add(station_id)
        self.state.setdefault(station_id, live_state.blank_state())

    async def load_state(self) -> None:
        """Restore the persisted latest state and equipment counters (after a restart), re-derive
        what a crash left unwritten (the open epochs of this process), open fresh epochs."""
        for row in await self.storage.stations():
            if row["station_id"] in self.state and row["state"]:
                merged = live_state.blank_state()
                merged.update(row["state"])
                self.equipment.restore_tracking(row["station_id"], merged.pop(EQUIPMENT_KEY, None))
                st = self.state[row["station_id"]]  # in place: the station's slots hold this dict
                st.clear()
                st.update(merged)
        self.equipment.load(await self.storage.equipment(None))
        async with self._flush_lock:
            stale = await self.storage.open_epochs(self.owner)
            for epoch in stale:
                for sid, seq, ts, kind, payload, received in await self.storage.epoch_uplinks(epoch):
                    if sid not in self.state:
                        continue  # a station removed from the configuration since
                    try:
                        body = json.loads(payload)["body"]
                    except (ValueError, KeyError, TypeError):
                        continue  # stored rows were validated; nothing else can be derived here
                    self._derive_guarded({"station": sid, "seq": int(seq), "ts": float(ts), "kind": kind, "body": body},
                                         float(received), str(payload))
                    self.recovered += 1
            await self._write_alarms()
            if stale:
                log.warning("re-derived %d uplinks of %d unfinished aggregation epochs (a crash or kill)",
                            self.recovered, len(stale))
            await self._close_slices(list(range(self.agg_slices)), also_close=stale, first=True)

    async def refresh_from_storage(self) -> int:
        """Take newer station state written by other ingest processes (shared subscriptions:
        each process sees only its share of the uplinks). Returns how many stations changed."""
        changed = 0
        for row in await self.storage.stations():
            sid, theirs = row["station_id"], row["state"]
            mine = self.state.get(sid)
            if mine is None or not theirs:
                continue
            if live_state.take_newer(mine, theirs):
                changed += 1
        return changed

    # --- the asynchronous part --------------------------------------------------------------
    async def run_flusher(self) -> None:
        """Flush batches every `batch_interval_s` or when `batch_max` is reached; forever."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.batch_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - keep the batch and retry: an outage delays data, never drops it
                log.exception("ingest flush failed; %d messages kept for retry", len(self._pending))
                await asyncio.sleep(1.0)

    async def flush(self, force_aggregates: bool = False, final: bool = False) -> int:
        """Store the queued messages; returns how many were new. On a storage error the batch
        stays queued and the error propagates. `force_aggregates` writes every slice's
        aggregates now; `final` (at a clean stop) also leaves no epoch open."""
        # Not cancellable half-way: a batch the database committed but whose answer never came
        # back would be stored and never derived. A cancelled caller waits for the write to end.
        task = asyncio.ensure_future(self._flush_locked(force_aggregates, final))
        if self.on_flush is not None:
            self.on_flush(task)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: a failure is logged by whoever retries the batch
            raise

    async def _flush_locked(self, force_aggregates: bool, final: bool) -> int:
        async with self._flush_lock:
            await self.quarantine.write()
            received, self._pending = self._pending, []
            # Stored station by station (sorted stably: each station's rows in the order
            # received): a flush holding several messages of a station then changes that
            # station's last page of each station-first index once, not once per message
            # (SQLite's WAL writes every changed page whole, at every commit). The acks wait
            # for the flush's end and go out in the order the broker sent the messages:
            # Mosquitto looks each one up from the oldest end of its in-flight list, so an
            # ack out of order costs it a walk over every older delivery.
            self._held = []
            try:
                new = await self._store_all(sorted(received, key=_station_of), received)
            finally:
                held, self._held = self._held, None
                if held:
                    done = {id(e) for e in held}
                    for entry in received:
                        if id(entry) in done:
                            entry[3]()  # type: ignore[misc]  # only entries with an ack are held
            await self._write_alarms()  # and the quarantine
            if force_aggregates or final:
                await self._close_slices(list(range(self.agg_slices)), reopen=not final)
            elif time.monotonic() - self._last_slice_close >= self.agg_flush_s / self.agg_slices:
                await self._close_slices([self._next_slice])
                self._next_slice = (self._next_slice + 1) % self.agg_slices
            return new

    async def _store_all(self, todo: list[Entry], received: list[Entry]) -> int:
        """Store `todo` chunk by chunk; returns how many were new. On a failure what is not
        stored goes back to the front of the queue, in the order `received`, and the error
        propagates."""
        new = 0
        while todo:
            # chunks of at most STORE_CHUNK rows: one short transaction each, so a command
            # or an ack waiting for the database gets its turn between them
            batch, todo = todo[:STORE_CHUNK], todo[STORE_CHUNK:]
            try:
                new += await self._store(batch)
            except _Unstored as exc:
                self._requeue(exc.entries + todo, received)
                raise exc.__cause__ or exc from None
            except BaseException:
                self._requeue(batch + todo, received)
                raise
        return new

    def _requeue(self, unstored: list[Entry], received: list[Entry]) -> None:
        """`unstored` back to the front of the queue in the order received (each is one of
        `received`; were one not, the list would go back as it is: never dropped)."""
        ids = {id(e) for e in unstored}
        back = [e for e in received if id(e) in ids]
        self._pending = (back if len(back) == len(unstored) else unstored) + self._pending

    async def _store(self, batch: list[Entry]) -> int:
        """Store one chunk; derive what is new; quarantine regressions and rows the database
        refuses; acknowledge the rest. Raises on a database failure (nothing of the chunk was
        stored), or _Unstored with what is left when it failed part-way through row by row."""
        first, repeats = first_of(batch)
        entries = list(first.values()) if repeats else batch
        refused: list[tuple[Entry, BaseException]] = []
        try:
            new_keys = set(await self.storage.store_uplinks(self._rows(entries)))
        except Exception as exc:  # noqa: BLE001 - sorted: a row the database refuses, or the database failing
            if not refuses_row(exc):
                raise
            new_keys, refused = await self._store_one_by_one(entries)
        self.stored += len(new_keys)
        old = self._settle(first, new_keys, {id(e) for e, _x in refused})
        for entry, err in refused:
            self._keep_refused(entry, err)
        try:
            stored = await self.storage.stored_uplinks([(e[0]["station"], e[0]["seq"]) for e in old]) if old else {}
        except Exception as exc:  # noqa: BLE001 - the new rows are done; only the repeats wait
            raise _Unstored(old + repeats) from exc
        for entry in old:
            msg = entry[0]
            have = stored.get((msg["station"], msg["seq"]))
            if have is None:  # gone since (retention): nothing to compare with
                self._duplicate(entry)
            else:
                self._compare(entry, have[0], have[1], "stored")
        for entry in repeats:
            other = first[(entry[0]["station"], entry[0]["seq"])]
            self._compare(entry, other[0]["ts"], other[0]["kind"], "received just before")
        return len(new_keys)

    def _duplicate(self, entry: Entry) -> None:
        self.duplicates += 1
        self._ack(entry)

    def _compare(self, entry: Entry, ts: float, kind: str, where: str) -> None:
        """A (station, seq) met again: a duplicate delivery when the content is the same, else a
        sequence regression (a recreated outbox reusing seqs): quarantined, with an alarm."""
        msg = entry[0]
        if _same_message(msg, ts, kind):
            self._duplicate(entry)
            return
        self.regressions += 1
        self._keep(msg["station"], ALARM_SEQ_REGRESSION,
                   "seq %d already %s with other content (ts %r, %s; this one ts %r, %s): the station's sequence "
                   "went back (outbox recreated?)" % (msg["seq"], where, ts, kind, msg["ts"], msg["kind"]),
                   codec.up_topic(msg["station"], msg["kind"]), entry[2], msg["seq"], entry[3])

    def _keep_refused(self, entry: Entry, exc: BaseException) -> None:
        msg = entry[0]
        self._keep(msg["station"], "storage_refused", "%s: %s" % (type(exc).__name__, exc),
                   codec.up_topic(msg["station"], msg["kind"]), entry[2], msg["seq"], entry[3])

    async def _store_one_by_one(self, entries: list[Entry]) -> tuple[set[tuple[str, int]],
                                                                       list[tuple[Entry, BaseException]]]:
        """After the database refused a chunk: each row alone. Returns (new keys, refused entries
        with their error). Raises _Unstored when the database itself fails meanwhile (what was
        stored alone by then is derived, acknowledged or quarantined first)."""
        new_keys: set[tuple[str, int]] = set()
        refused: list[tuple[Entry, BaseException]] = []
        for i, entry in enumerate(entries):
            try:
                new_keys.update(await self.storage.store_uplinks([self._row(entry)]))
            except Exception as exc:  # noqa: BLE001 - sorted: a refused row, or the database failing
                if refuses_row(exc):
                    log.warning("uplink %s seq %s refused by the database (%s): quarantined",
                                entry[0]["station"], entry[0]["seq"], exc)
                    refused.append((entry, exc))
                    continue
                self.stored += len(new_keys)
                for e in entries[:i]:
                    if (e[0]["station"], e[0]["seq"]) in new_keys:
                        self._derive_guarded(e[0], e[1], e[2], e[4])
                        self._ack(e)
                for e, x in refused:
                    self._keep_refused(e, x)
                done = {id(e) for e in entries[:i]}
                rest = [e for e in entries if id(e) not in done]
                # an earlier duplicate (not new, not refused) is simply queued again with the rest
                rest = [e for e in entries[:i] if (e[0]["station"], e[0]["seq"]) not in new_keys
                        and all(e is not r for r, _x in refused)] + rest
                raise _Unstored(rest) from exc
        return new_keys, refused

    async def _store_alarm(self, sid: str, body: dict[str, Any]) -> None:
        state = str(body.get("state", "active")).lower()
        active = state not in CLEARED_STATES
        await self.storage.record_alarm(sid, str(body["code"]), str(body.get("severity", "warning")), active,
                                        float(body["_ts"]), str(body.get("text", "")), body.get("value"),
                                        body.get("_seq"), limit=body.get("limit"))

    async def _write_alarms(self) -> None:
        while self._pending_alarms:  # one at a time: a failure keeps the rest for the retry
            sid, body = self._pending_alarms[0]
            try:
                await self._store_alarm(sid, body)
            except Exception as exc:  # noqa: BLE001 - a refused alarm is quarantined, an outage retried
                if not refuses_row(exc):
                    raise  # the database is away: this alarm and the rest wait for the retry
                log.error("alarm %r of %s refused by the database (%s): quarantined", body.get("code"), sid, exc)
                text = json.dumps({k: v for k, v in body.items() if not k.startswith("_")}, default=str)
                self._keep(sid, "alarm_refused", "%s: %s" % (type(exc).__name__, exc), codec.up_topic(sid, codec.UP_ALARM),
                           text, body.get("_seq"))
            self._pending_alarms.pop(0)
        await self.quarantine.write()

    async def _close_slices(self, slices: list[int], also_close: list[int] | None = None, first: bool = False,
                            reopen: bool = True) -> None:
        """Write the aggregates, equipment records and station state derived in `slices` and
        close their epochs (plus `also_close`), all in one transaction; then store new rows
        under fresh epochs. On a failure everything stays in memory for the next try."""
        self._last_slice_close = time.monotonic()
        now_ts = self.clock()
        taken = self.aggregates.take(slices)
        chosen = set(slices)
        dirty = {sid for sid in self._dirty if self.aggregates.slice_of(sid) in chosen}
        fresh = {k: aggregates.new_epoch_id() for k in slices} if reopen else {}
        try:  # the rows are built inside: a failure merges the aggregates back, never loses them
            agg_rows: list[AggRow] = aggregates.rows(taken)
            states = [(sid, {**{k: v for k, v in self.state[sid].items() if k != "body"},
                             EQUIPMENT_KEY: self.equipment.tracking(sid)}) for sid in dirty]
            closing = [self.aggregates.epochs[k] for k in slices if not first] + list(also_close or ())
            await self.storage.write_derived(agg_rows, self.equipment.rows(dirty), states, closing,
                                             list(fresh.values()), self.owner, now_ts)
        except BaseException:
            self.aggregates.give_back(taken)  # so nothing is lost on a failed write
            raise
        self._dirty -= dirty
        for k, epoch in fresh.items():
            self.aggregates.epochs[k] = epoch

    def stats(self) -> dict[str, Any]:
        """Counters for the dashboard and the benchmark."""
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "pending": len(self._pending), "rejected": dict(self.rejects.counts), "quarantined": self.quarantine.written,
                "quarantine_pending": len(self.quarantine), "sequence_regressions": self.regressions}


def _same_message(msg: dict[str, Any], ts: float, kind: str) -> bool:
    """Whether a message is a resend of the one stored as (ts, kind). A resend carries the
    sample time it was made with (the outbox encodes once); a recreated outbox reusing the seq
    has another time (or kind)."""
    return bool(msg["ts"] == ts and msg["kind"] == kind)
