"""Ingest: MQTT messages in, validated rows stored exactly once, live station state kept.

`Ingest.handle(topic, payload)` is synchronous and cheap: it validates with core's codec and
queues; `flush()` writes one batch. Invariants:
- A payload that is oversized, malformed, from an unknown station or collector, or on an
  unknown topic is counted under its reason, logged at most once per reason per minute, and
  never stored. Nothing here raises out of `handle`.
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
import secrets
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from heatkeeper.core import codec
from heatkeeper.core.modes import MODE_NAMES

from .equipment import EquipmentTracker
from .storage.base import (
    AGG_UPSERT_SQL,
    EPOCH_CLOSE_SQL,
    EPOCH_OPEN_SQL,
    EQUIPMENT_UPSERT_SQL,
    STATE_UPDATE_SQL,
    AggRow,
    Step,
    Storage,
    UplinkRow,
    bucket_of,
    state_row,
)

log = logging.getLogger(__name__)

AckHandler = Callable[[str, dict[str, Any], float], None]
Acker = Callable[[], None]
ReadingHandler = Callable[[str, float, float, str], str]

# Aggregates are written per slice of the fleet, one slice every agg_flush_s / AGG_SLICES:
# each write (one transaction) stays short, so commands never wait long for the write lock.
AGG_SLICES = 12
STORE_CHUNK = 1000  # uplinks per insert transaction
EQUIPMENT_KEY = "_equipment"  # the equipment tracker's state, saved inside the station state

CLEARED_STATES = ("cleared", "clear", "inactive", "ok", "normal", "off", "resolved")


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


class Ingest:
    """Validate, batch and store uplinks; keep each station's latest state in memory."""

    def __init__(self, storage: Storage, station_ids: set[str], *, max_payload_bytes: int = codec.MAX_PAYLOAD_BYTES,
                 batch_max: int = 2000, batch_interval_s: float = 0.25, agg_flush_s: float = 60.0,
                 agg_slices: int = AGG_SLICES, owner: str = "supervisor",
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.station_ids = set(station_ids)
        self.max_payload_bytes = max_payload_bytes
        self.batch_max = batch_max
        self.batch_interval_s = batch_interval_s
        self.agg_flush_s = agg_flush_s
        self.agg_slices = max(1, int(agg_slices))
        self.owner = owner
        self.clock = wall_clock
        self.rejects = RejectCounter()
        self.on_ack: AckHandler | None = None
        self.on_reading: ReadingHandler | None = None
        self.hold_reading_ack: Callable[[Acker], None] | None = None
        self.state: dict[str, dict[str, Any]] = {sid: self._blank_state() for sid in station_ids}
        self.equipment = EquipmentTracker()
        self.stored = 0
        self.duplicates = 0
        self.received = 0
        self.recovered = 0
        self._pending: list[tuple[dict[str, Any], float, bytes, Acker | None]] = []
        self._pending_alarms: list[tuple[str, dict[str, Any]]] = []
        # per slice: {(station, bucket): {field: [n, sum, min, max]}}, and the open epoch
        self._agg: list[dict[tuple[str, int], dict[str, list[float]]]] = [{} for _ in range(self.agg_slices)]
        self._epoch: list[int] = [0] * self.agg_slices
        self._slice: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._last_slice_close = time.monotonic()
        self._next_slice = 0
        self._flush_lock = asyncio.Lock()

    def slice_of(self, station_id: str) -> int:
        """The aggregation slice of a station (stable: crc32 of its id)."""
        k = self._slice.get(station_id)
        if k is None:
            k = self._slice[station_id] = zlib.crc32(station_id.encode()) % self.agg_slices
        return k

    @staticmethod
    def _blank_state() -> dict[str, Any]:
        return {"online": False, "status_ts": None, "last_seen_ts": None, "last_seq": 0, "values": {},
                "values_ts": None, "mode": None, "leases": {}, "devices": {}, "body": {}}

    def add_station(self, station_id: str) -> None:
        self.station_ids.add(station_id)
        self.state.setdefault(station_id, self._blank_state())

    async def load_state(self) -> None:
        """Restore the persisted latest state and equipment counters (after a restart), re-derive
        what a crash left unwritten (the open epochs of this process), open fresh epochs."""
        for row in await self.storage.stations():
            if row["station_id"] in self.state and row["state"]:
                merged = self._blank_state()
                merged.update(row["state"])
                self.equipment.restore_tracking(row["station_id"], merged.pop(EQUIPMENT_KEY, None))
                self.state[row["station_id"]] = merged
        self.equipment.load(await self.storage.equipment(None))
        async with self._flush_lock:
            stale = await self.storage.open_epochs(self.owner)
            for epoch in stale:
                for sid, seq, ts, kind, payload in await self.storage.epoch_uplinks(epoch):
                    if sid not in self.state:
                        continue  # a station removed from the configuration since
                    try:
                        body = json.loads(payload)["body"]
                    except (ValueError, KeyError, TypeError):
                        continue  # stored rows were validated; nothing else can be derived here
                    self._derive({"station": sid, "seq": int(seq), "ts": float(ts), "kind": kind, "body": body},
                                 replay=True)
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
            if (theirs.get("values_ts") or 0) > (mine["values_ts"] or 0):
                for key in ("values", "values_ts", "mode", "leases", "devices", "last_seq"):
                    if key in theirs:
                        mine[key] = theirs[key]
                if (theirs.get("last_seen_ts") or 0) > (mine["last_seen_ts"] or 0):
                    mine["last_seen_ts"] = theirs["last_seen_ts"]
                changed += 1
        return changed

    # --- the synchronous, cheap part ------------------------------------------------------
    def handle(self, topic: str, payload: bytes, ack: Acker | None = None) -> str:
        """Validate one MQTT message and queue it. Returns "queued", "status", "reading" or
        "rejected:<reason>". Never raises. `ack` (the broker's PUBACK of a QoS 1 delivery) is
        called once the message is stored; for anything not stored, at once."""
        result = self._handle(topic, payload)
        if ack is not None:
            if result == "queued":
                self._pending[-1] = self._pending[-1][:3] + (ack,)
            elif result == "reading" and self.hold_reading_ack is not None:
                self.hold_reading_ack(ack)
            else:
                ack()
        return result

    def _handle(self, topic: str, payload: bytes) -> str:
        self.received += 1
        try:
            if len(payload) > self.max_payload_bytes:
                raise codec.CodecError("too_large", "%d bytes on %s" % (len(payload), topic))
            area, ident, _leaf = codec.parse_topic(topic)
            if area == "up":
                if ident not in self.station_ids:
                    raise codec.CodecError("unknown_station", "station %r on %s" % (ident, topic))
                msg = codec.decode_uplink(topic, payload)
                self._queue(msg, payload)
                return "queued"
            if area == "status":
                if ident not in self.station_ids:
                    raise codec.CodecError("unknown_station", "status of station %r" % ident)
                self._status(ident, payload)
                return "status"
            if area == "collector":
                reading = codec.decode_collector_reading(topic, payload)
                if self.on_reading is None:
                    raise codec.CodecError("no_collectors", "collector readings are not handled")
                result = self.on_reading(reading["collector"], reading["temp_c"], reading["ts"], "mqtt")
                if result != "stored":
                    raise codec.CodecError(result, "collector %r temp_c=%r" % (reading["collector"], reading["temp_c"]))
                return "reading"
            raise codec.CodecError("not_ingested", "topic %s is not for the supervisor" % topic)
        except codec.CodecError as exc:
            self.rejects.reject(exc.reason, "%s (topic %r)" % (exc.text, topic[:200]))
            return "rejected:" + exc.reason
        except Exception as exc:  # noqa: BLE001 - a bad message must never end ingest; counted and logged
            self.rejects.reject("internal", "%s: %s (topic %r)" % (type(exc).__name__, exc, topic[:200]))
            return "rejected:internal"

    def _status(self, station_id: str, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace").strip()
        online: bool | None = None
        if text in (codec.STATUS_ONLINE, codec.STATUS_OFFLINE):
            online = text == codec.STATUS_ONLINE
        else:
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                if isinstance(obj.get("online"), bool):
                    online = obj["online"]
                elif obj.get("status") in (codec.STATUS_ONLINE, codec.STATUS_OFFLINE):
                    online = obj["status"] == codec.STATUS_ONLINE
        if online is None:
            if text == "":
                return  # a cleared retained status: nothing to say
            raise codec.CodecError("bad_status", "status payload %r" % text[:80])
        st = self.state[station_id]
        st["online"] = online
        st["status_ts"] = self.clock()
        self._dirty.add(station_id)

    def _queue(self, msg: dict[str, Any], payload: bytes) -> None:
        now = self.clock()
        if msg["kind"] == codec.UP_ACK and self.on_ack is not None:
            self.on_ack(msg["station"], msg["body"], now)
        st = self.state[msg["station"]]
        st["last_seen_ts"] = now
        self._pending.append((msg, now, payload, None))
        if len(self._pending) >= self.batch_max:
            self._wake.set()

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
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: a failure is logged by whoever retries the batch
            raise

    async def _flush_locked(self, force_aggregates: bool, final: bool) -> int:
        async with self._flush_lock:
            new = 0
            todo, self._pending = self._pending, []
            while todo:
                # chunks of at most STORE_CHUNK rows: one short transaction each, so a command
                # or an ack waiting for the database gets its turn between them
                batch, todo = todo[:STORE_CHUNK], todo[STORE_CHUNK:]
                try:
                    new += await self._store(batch)
                except BaseException:
                    self._pending = batch + todo + self._pending
                    raise
                for entry in batch:  # stored: now the broker may forget them
                    if entry[3] is not None:
                        entry[3]()
            if force_aggregates or final:
                await self._close_slices(list(range(self.agg_slices)), reopen=not final)
            elif time.monotonic() - self._last_slice_close >= self.agg_flush_s / self.agg_slices:
                await self._close_slices([self._next_slice])
                self._next_slice = (self._next_slice + 1) % self.agg_slices
            return new

    async def _store(self, batch: list[tuple[dict[str, Any], float, bytes, Acker | None]]) -> int:
        rows: list[UplinkRow] = []
        seen: set[tuple[str, int]] = set()
        by_key: dict[tuple[str, int], dict[str, Any]] = {}
        for msg, received, payload, _ack in batch:
            key = (msg["station"], msg["seq"])
            if key in seen:
                self.duplicates += 1
                continue
            seen.add(key)
            by_key[key] = msg
            # stored verbatim (validated UTF-8 JSON): no re-encoding on the hot path
            rows.append((msg["station"], msg["seq"], msg["ts"], msg["kind"], payload.decode(), received,
                         self._epoch[self.slice_of(msg["station"])]))
        new_keys = await self.storage.store_uplinks(rows)
        self.duplicates += len(rows) - len(new_keys)
        self.stored += len(new_keys)
        new = set(new_keys)
        for key, msg in by_key.items():  # in the order received: RETURNING's order is arbitrary
            if key in new:
                self._derive(msg)
        await self._write_alarms()
        return len(new_keys)

    def _derive(self, msg: dict[str, Any], replay: bool = False) -> None:
        """Fold one newly stored message into state, aggregates, equipment and alarms."""
        sid, kind, body, ts = msg["station"], msg["kind"], msg["body"], msg["ts"]
        st = self.state[sid]
        if msg["seq"] > st["last_seq"]:
            st["last_seq"] = msg["seq"]
        self._dirty.add(sid)
        if kind == codec.UP_TELEMETRY:
            values = body["values"]
            if st["values_ts"] is None or ts >= st["values_ts"]:
                st["values"] = values
                st["values_ts"] = ts
                for key in ("mode", "mode_name", "leases", "devices", "active_alarms"):
                    if key in body:
                        st["mode" if key == "mode_name" else key] = body[key]
                if "mode" not in body and "mode_name" not in body:
                    st["mode"] = _mode_name(values.get("mode"))
                if "leases" not in body:
                    st["leases"] = {k: v for k, v in values.items() if "lease" in k and v}
                if "devices" not in body and "devices_total" in values:
                    st["devices"] = {"total": values.get("devices_total"), "available": values.get("devices_available")}
            k = (sid, bucket_of(ts))
            slice_agg = self._agg[self.slice_of(sid)]
            agg = slice_agg.get(k)
            if agg is None:
                agg = slice_agg[k] = {}
            for field, value in values.items():
                if value is None:
                    continue
                a = agg.get(field)
                if a is None:
                    agg[field] = [1, value, value, value]
                else:
                    a[0] += 1
                    a[1] += value
                    if value < a[2]:
                        a[2] = value
                    if value > a[3]:
                        a[3] = value
            self.equipment.telemetry(sid, ts, values)
        elif kind == codec.UP_ALARM:
            # recorded by seq: replaying an unfinished epoch after a crash records what the
            # crash left out and nothing twice
            self._pending_alarms.append((sid, {**body, "_ts": ts, "_seq": msg["seq"]}))
        elif kind == codec.UP_EVENT:
            self.equipment.event(sid, ts, body)

    async def _store_alarm(self, sid: str, body: dict[str, Any]) -> None:
        state = str(body.get("state", "active")).lower()
        active = state not in CLEARED_STATES
        await self.storage.record_alarm(sid, str(body["code"]), str(body.get("severity", "warning")), active,
                                        float(body["_ts"]), str(body.get("text", "")), body.get("value"),
                                        body.get("_seq"))

    async def _write_alarms(self) -> None:
        while self._pending_alarms:  # one at a time: a failure keeps the rest for the retry
            sid, body = self._pending_alarms[0]
            await self._store_alarm(sid, body)
            self._pending_alarms.pop(0)

    async def _close_slices(self, slices: list[int], also_close: list[int] | None = None, first: bool = False,
                            reopen: bool = True) -> None:
        """Write the aggregates, equipment records and station state derived in `slices` and
        close their epochs (plus `also_close`), all in one transaction; then store new rows
        under fresh epochs. On a failure everything stays in memory for the next try."""
        self._last_slice_close = time.monotonic()
        now_ts = self.clock()
        taken = {k: self._agg[k] for k in slices}
        for k in slices:
            self._agg[k] = {}
        agg_rows: list[AggRow] = [(key[0], key[1], field, int(a[0]), float(a[1]), float(a[2]), float(a[3]))
                                  for agg in taken.values() for key, fields in agg.items() for field, a in fields.items()]
        chosen = set(slices)
        dirty = {sid for sid in self._dirty if self.slice_of(sid) in chosen}
        states = [state_row(sid, {**{k: v for k, v in self.state[sid].items() if k != "body"},
                                  EQUIPMENT_KEY: self.equipment.tracking(sid)}) for sid in dirty]
        fresh = {k: new_epoch_id() for k in slices} if reopen else {}
        closing = [(now_ts, self._epoch[k]) for k in slices if not first] + [(now_ts, e) for e in also_close or ()]
        steps: list[Step] = [(AGG_UPSERT_SQL, agg_rows), (EQUIPMENT_UPSERT_SQL, self.equipment.rows(dirty)),
                             (STATE_UPDATE_SQL, states), (EPOCH_CLOSE_SQL, closing),
                             (EPOCH_OPEN_SQL, [(e, self.owner, now_ts) for e in fresh.values()])]
        try:
            await self.storage.transaction(steps)
        except BaseException:
            for k, agg in taken.items():  # merge back so nothing is lost on a failed write
                _merge_into(self._agg[k], agg)
            raise
        self._dirty -= dirty
        for k, epoch in fresh.items():
            self._epoch[k] = epoch

    def stats(self) -> dict[str, Any]:
        """Counters for the dashboard and the benchmark."""
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates,
                "pending": len(self._pending), "rejected": dict(self.rejects.counts)}


async def run_mqtt(ingest: Ingest, client_factory: Callable[[], Any], filters: list[str],
                   on_connect: Callable[[Any], Awaitable[None]] | None = None,
                   on_disconnect: Callable[[], None] | None = None) -> None:
    """Subscribe to `filters` and feed `ingest` forever, reconnecting with back-off.

    `client_factory()` returns an aiomqtt.Client with a fixed identifier and a persistent
    session, so messages published while the supervisor is away are queued by the broker.
    QoS 1 deliveries are acknowledged to the broker only once stored (paho's manual acks): a
    supervisor killed with messages in memory gets them again from the broker when it comes
    back, and the (station, seq) key stores them once."""
    import aiomqtt
    from paho.mqtt.subscribeoptions import SubscribeOptions

    client = client_factory()
    link = _Link(client)
    # Before connecting: a persistent session's queued and resent messages arrive right after
    # CONNACK, and must take the same path as the rest, or they would be handled out of order.
    link.direct_delivery(ingest)
    # v5: retainAsPublished flags a retained uplink on live delivery too (v3.1.1 flags only
    # the stored copy a subscription replays), so it is cleared at once.
    v5 = getattr(client, "_client", None) is not None and getattr(client._client, "_protocol", 0) == 5
    delay_s = 0.5
    while True:
        try:
            async with client:
                link.generation += 1
                delay_s = 0.5
                for flt in filters:
                    if v5:
                        await client.subscribe(flt, options=SubscribeOptions(qos=1, retainAsPublished=True))
                    else:
                        await client.subscribe(flt, qos=1)
                log.info("MQTT connected; subscribed to %s", ", ".join(filters))
                if on_connect is not None:
                    await on_connect(client)
                async for message in client.messages:
                    payload = message.payload
                    if not isinstance(payload, (bytes, bytearray)):
                        payload = str(payload).encode() if payload is not None else b""
                    if not link.refuse_retained(ingest, message.topic.value, bytes(payload), message.retain,
                                                message.mid, message.qos):
                        ingest.handle(message.topic.value, bytes(payload), link.acker(message.mid, message.qos))
        except aiomqtt.MqttError as exc:
            if on_disconnect is not None:
                on_disconnect()
            log.warning("MQTT connection lost (%s); reconnecting in %.1f s", exc, delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, 10.0)


class _Link:
    """The paho client under one aiomqtt.Client (aiomqtt is pinned <3, where `_client` is it):
    manual QoS 1 acks, tied to the connection they belong to, and direct delivery."""

    def __init__(self, client: Any) -> None:
        self.paho = getattr(client, "_client", None)
        self.generation = 0
        if self.paho is not None and hasattr(self.paho, "manual_ack_set"):
            self.paho.manual_ack_set(True)
        else:
            self.paho = None
            log.warning("MQTT client without manual acks: deliveries are acknowledged on receipt")

    def acker(self, mid: int, qos: int) -> Acker | None:
        """The PUBACK of delivery `mid` as a call, or None (QoS 0, or no manual acks). After a
        reconnect the old connection's acks are void (packet ids restart; the broker resends
        what was never acknowledged)."""
        paho = self.paho
        if paho is None or qos == 0:
            return None
        generation = self.generation

        def ack() -> None:
            if self.generation == generation:
                paho.ack(mid, qos)

        return ack

    def direct_delivery(self, ingest: Ingest) -> None:
        """Hand each message from paho straight to `ingest.handle` (on the event loop thread,
        where aiomqtt runs paho's reads), skipping aiomqtt's per-message queue, task and Message
        object: that path cost more than the validation at thousands of messages per second.
        The `messages` iterator then only serves to notice a lost connection (and to deliver
        anything aiomqtt queued when there is no paho client to hook)."""
        paho = self.paho
        if paho is None or not hasattr(paho, "on_message"):
            return

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            if not self.refuse_retained(ingest, message.topic, message.payload, message.retain, message.mid,
                                        message.qos):
                ingest.handle(message.topic, message.payload, self.acker(message.mid, message.qos))

        paho.on_message = on_message

    def refuse_retained(self, ingest: Ingest, topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> bool:
        """True if this is a retained message other than a station status: stations and
        collector platforms never retain data, and a retained copy would park up to a packet on
        the broker and replay to every new subscriber. It is not ingested; it is counted
        (reason "retained") and cleared with an empty retained message. An empty payload is
        such a clear (ours, coming back: flagged retained in v5, not in v3.1.1) and is only
        acknowledged."""
        if topic.endswith("/status") or (not retain and payload):
            return False
        ack = self.acker(mid, qos)
        if payload:
            ingest.rejects.reject("retained", "retained message on %r: not ingested, cleared" % topic[:200])
            if self.paho is not None:
                self.paho.publish(topic, b"", qos=1, retain=True)
        if ack is not None:
            ack()
        return True


def new_epoch_id() -> int:
    """A unique aggregation epoch id: milliseconds since 2020 in the high 41 bits (index locality;
    enough until 2089), 22 random bits below (processes opening epochs in the same millisecond),
    within a signed 64-bit integer. A clash is refused by the primary key and retried."""
    return (max(0, int(time.time() * 1000) - 1_577_836_800_000) << 22) | secrets.randbits(22)


def _merge_into(into: dict[tuple[str, int], dict[str, list[float]]],
                other: dict[tuple[str, int], dict[str, list[float]]]) -> None:
    for k, fields in other.items():
        now_fields = into.setdefault(k, {})
        for field, a in fields.items():
            b = now_fields.get(field)
            now_fields[field] = a if b is None else [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3])]


def _mode_name(code: Any) -> Any:
    """The station's numeric mode as its name (core.modes.MODE_NAMES), else as sent."""
    if isinstance(code, (int, float)) and not isinstance(code, bool) and 0 <= int(code) < len(MODE_NAMES):
        return MODE_NAMES[int(code)]
    return code
