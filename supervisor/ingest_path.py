# cython: annotation_typing=False
"""The ingest's per-message path: everything `Ingest` does for one MQTT message in the event loop,
synchronously (check, queue, rows for the database, derive what a stored message says), as
`MessagePath`, the base class of `ingest.Ingest`, which adds batching, storage and recovery (the
coroutines). This module is Cython-compiled (setup.py's CYTHON_MODULES) and holds no coroutine;
it runs as plain Python too (HEATKEEPER_DISABLE_CEXT=1), with the same results.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from heatkeeper.core import _cext, codec

from . import live_state, uplink_decode
from .storage.base import AGG_BUCKET_S, UplinkRow

if TYPE_CHECKING:
    import asyncio

    from .aggregates import Aggregates
    from .equipment import EquipmentTracker
    from .quarantine import Quarantine

log = logging.getLogger("heatkeeper.supervisor.ingest")  # the ingest's own log

AckHandler = Callable[[str, dict[str, Any], float], None]
Acker = Callable[[], None]
ReadingHandler = Callable[[str, float, float, str], str]

TOPICS_MAX = 65536  # parsed topics remembered (a station has a few; forgotten all at once beyond)

_TELEMETRY = codec.UP_TELEMETRY

MAX_STATION_FIELDS = 512  # distinct telemetry field names per station (each is an aggregate row per bucket)
NAME_SETS_MAX = 4096  # distinct sets of field names shared between stations (a fleet sends a few)
_NO_NAMES: frozenset[str] = frozenset()


class StationSlots:
    """What the per-message path reads of one configured station, found once per message (from
    its topic) instead of once per table: at 10,000 stations each table lookup is a cache miss
    or more. Made at the station's first message."""

    __slots__ = ("sid", "state", "slice")

    def __init__(self, sid: str, state: dict[str, Any], slice_k: int) -> None:
        self.sid = sid
        self.state = state  # Ingest.state[sid], the same dict
        self.slice = slice_k  # its aggregation slice (Aggregates.slice_of)


# (message, receive time, payload, the broker's ack or None, the station's slots)
Entry = tuple[dict[str, Any], float, bytes, "Acker | None", StationSlots]


class MessagePath:
    """The synchronous per-message part of `ingest.Ingest` (which sets every attribute below)."""

    station_ids: set[str]
    max_payload_bytes: int
    max_age_s: float
    clock: Callable[[], float]
    rejects: Any  # ingest.RejectCounter
    on_ack: AckHandler | None
    on_reading: ReadingHandler | None
    hold_reading_ack: Callable[[Acker], None] | None
    state: dict[str, dict[str, Any]]
    equipment: EquipmentTracker
    aggregates: Aggregates
    quarantine: Quarantine
    received: int
    stored_by_kind: dict[str, int]
    batch_max: int
    _pending: list[Entry]
    _held: list[Entry] | None  # during a flush: entries whose ack waits for its end (ingest._flush_locked)
    _pending_alarms: list[tuple[str, dict[str, Any]]]
    _kept_now: bool
    _fields: dict[str, frozenset[str]]
    _name_sets: dict[frozenset[str], frozenset[str]]
    _dirty: set[str]
    _wake: asyncio.Event
    _topics: dict[str, tuple[str, str, str, StationSlots | None]]
    _slots: dict[str, StationSlots]

    def slots(self, station_id: str) -> StationSlots:
        """The per-message slots of a configured station (KeyError for another)."""
        slots = self._slots.get(station_id)
        if slots is None:
            slots = self._slots[station_id] = StationSlots(station_id, self.state[station_id],
                                                           self.aggregates.slice_of(station_id))
        return slots

    def handle(self, topic: str, payload: bytes, ack: Acker | None = None) -> str:
        """Validate one MQTT message and queue it. Returns "queued", "status", "reading" or
        "rejected:<reason>". Never raises. `ack` (the broker's PUBACK of a QoS 1 delivery) is
        called once the message is stored; for anything not stored, at once."""
        self._kept_now = False
        result = self._handle(topic, payload, ack)
        if ack is not None and result != "queued":
            if self._kept_now:  # kept: the broker may forget it once the row is written
                self.quarantine.hold_ack(ack)
            elif result == "reading" and self.hold_reading_ack is not None:
                self.hold_reading_ack(ack)
            else:
                ack()
        return result

    def _handle(self, topic: str, payload: bytes, ack: Acker | None = None) -> str:
        self.received += 1
        station = None  # a configured station whose uplink topic this is: its rejects are quarantined
        try:
            parsed = self._topics.get(topic)
            if parsed is None:
                parsed = (*codec.parse_topic(topic), None)  # raises for a bad topic: never remembered
                if len(self._topics) >= TOPICS_MAX:
                    self._topics.clear()
                self._topics[topic] = parsed
            area, ident, leaf, slots = parsed
            if area == "up" and ident in self.station_ids:
                station = ident
                if slots is None:
                    slots = self.slots(ident)
                    self._topics[topic] = (area, ident, leaf, slots)
            if len(payload) > self.max_payload_bytes:
                raise codec.CodecError("too_large", "%d bytes on %s" % (len(payload), topic))
            if area == "up":
                if station is None or slots is None:  # slots: made for each configured station
                    raise codec.CodecError("unknown_station", "station %r on %s" % (ident, topic))
                now = self.clock()
                # the usual sample: checked in one pass, its field names among those this station
                # has sent (so within MAX_STATION_FIELDS), queued at once
                known = self._fields.get(ident) if leaf == _TELEMETRY else None
                if known is not None:
                    msg = uplink_decode.usual_telemetry(ident, payload, now, self.max_age_s, known)
                    if msg is not None:
                        self._queue(msg, payload, ack, now, slots)
                        return "queued"
                msg = uplink_decode.decode_uplink_of(ident, leaf, payload, now, self.max_age_s)  # topic parsed once
                if msg["kind"] == codec.UP_TELEMETRY:
                    self._check_field_names(ident, msg["body"]["values"])
                self._queue(msg, payload, ack, now, slots)
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
            if station is not None and self.quarantine.may_keep(station):
                self._keep(station, exc.reason, exc.text, topic, payload, None)
            return "rejected:" + exc.reason
        except Exception as exc:  # noqa: BLE001 - a bad message must never end ingest; counted and logged
            self.rejects.reject("internal", "%s: %s (topic %r)" % (type(exc).__name__, exc, topic[:200]))
            if station is not None and self.quarantine.may_keep(station):
                self._keep(station, "internal", "%s: %s" % (type(exc).__name__, exc), topic, payload, None)
            return "rejected:internal"

    def _check_field_names(self, station_id: str, values: dict[str, Any]) -> None:
        """At most MAX_STATION_FIELDS distinct field names per station (since this process
        started): each name is an aggregate row per 5-minute bucket, for years."""
        known = self._fields.get(station_id, _NO_NAMES)
        if values.keys() <= known:  # the usual case, one set operation in C
            return
        new = [name for name in values if name not in known]
        if new:
            if len(known) + len(new) > MAX_STATION_FIELDS:
                raise codec.CodecError("too_many_fields", "%d new field names (%s...) beyond the %d this station has "
                                       "sent: at most %d per station" % (len(new), new[0], len(known),
                                                                         MAX_STATION_FIELDS))
            self._fields[station_id] = self._shared_names(known.union(new))

    def _shared_names(self, names: frozenset[str]) -> frozenset[str]:
        """One frozenset object for every station that has sent the same field names: the
        usual sample's check (`usual_telemetry`) then reads one set the whole fleet keeps in
        the CPU cache, instead of a set of its own per station (10,000 of them, a cache miss
        or more per message)."""
        shared = self._name_sets.get(names)
        if shared is None:
            if len(self._name_sets) >= NAME_SETS_MAX:
                self._name_sets.clear()  # forgotten all at once: only sharing is lost, never a name
            shared = self._name_sets[names] = names
        return shared

    def _keep(self, station_id: str, reason: str, text: str, topic: str, payload: bytes | str, seq: Any,
              ack: Acker | None = None) -> None:
        """One dead letter for the quarantine (written by the next flush; the station's alarm follows)."""
        self._kept_now = self.quarantine.keep(station_id, reason, text, topic, payload, seq, ack)

    def _status(self, station_id: str, payload: bytes) -> None:
        online = live_state.parse_status(payload)
        if online is None:
            return  # a cleared retained status: nothing to say
        st = self.state[station_id]
        st["online"] = online
        st["status_ts"] = self.clock()
        self._dirty.add(station_id)

    def _queue(self, msg: dict[str, Any], payload: bytes, ack: Acker | None, now: float, slots: StationSlots) -> None:
        if msg["kind"] == codec.UP_ACK:
            # the ack's seq, at once: samples numbered above it were taken after the command, even
            # while older ones are still on their way to the database (see season_startup)
            if msg["seq"] > slots.state["ack_seq"]:
                slots.state["ack_seq"] = msg["seq"]
            if self.on_ack is not None:
                self.on_ack(msg["station"], msg["body"], now)
        slots.state["last_seen_ts"] = now
        self._pending.append((msg, now, payload, ack, slots))
        if len(self._pending) >= self.batch_max:
            self._wake.set()

    def _row(self, entry: Entry) -> UplinkRow:
        return self._rows([entry])[0]

    def _rows(self, entries: list[Entry]) -> list[UplinkRow]:
        epochs = self.aggregates.epochs
        # stored verbatim (validated UTF-8 JSON): no re-encoding on the hot path
        return [(msg["station"], msg["seq"], msg["ts"], msg["kind"], payload.decode(), received, epochs[slots.slice])
                for msg, received, payload, _ack, slots in entries]

    def _derive_guarded(self, msg: dict[str, Any], received: float, payload: bytes | str,
                        slots: StationSlots | None = None) -> None:
        """`_derive`, and a message it cannot fold is kept in the quarantine (it is stored, but
        not derived) instead of stopping the rest of the batch."""
        try:
            self._derive(msg, received, slots)
        except Exception as exc:  # noqa: BLE001 - one message must not stop the batch; quarantined and alarmed
            self._underived(msg, payload, exc)

    def _underived(self, msg: dict[str, Any], payload: bytes | str, exc: Exception) -> None:
        """A stored message `_derive` could not fold: logged, quarantined, alarmed."""
        log.error("uplink %s seq %s stored but not derived", msg.get("station"), msg.get("seq"), exc_info=exc)
        self._keep(msg["station"], "derive_failed", "%s: %s" % (type(exc).__name__, exc),
                   codec.up_topic(msg["station"], msg["kind"]), payload, msg.get("seq"))

    def _derive(self, msg: dict[str, Any], received: float, slots: StationSlots | None = None) -> None:
        """Fold one newly stored message (of the station whose `slots` they are, if given) into
        state, aggregates, equipment and alarms."""
        seq, kind, body, ts = msg["seq"], msg["kind"], msg["body"], msg["ts"]
        if slots is None:
            slots = self.slots(msg["station"])
        sid, st = slots.sid, slots.state
        if seq > st["last_seq"]:
            st["last_seq"] = seq
        self._dirty.add(sid)
        if kind == _TELEMETRY:
            values = body["values"]
            # every number and the bucket first, before anything changes: a message that gets
            # past the codec with a value no float can hold fails alone (quarantined by
            # _derive_guarded) instead of poisoning the aggregates of its whole slice
            fields, numbers = _numbers(values, ts)
            k = (sid, int(ts // AGG_BUCKET_S) * AGG_BUCKET_S)  # storage.base.bucket_of, inline
            live_state.take_values(st, seq, ts, body, received)
            self.aggregates.add_row(k, fields, numbers, slots.slice)
            self.equipment.telemetry(sid, ts, values)
        elif kind == codec.UP_ALARM:
            # recorded by seq: replaying an unfinished epoch after a crash records what the
            # crash left out and nothing twice
            self._pending_alarms.append((sid, {**body, "_ts": ts, "_seq": msg["seq"]}))
        elif kind == codec.UP_EVENT:
            self.equipment.event(sid, ts, body)

    def _settle(self, first: dict[tuple[str, int], Entry], new_keys: set[tuple[str, int]],
                refused_ids: set[int]) -> list[Entry]:
        """After a chunk was stored: derive and acknowledge the new entries of `first` (in the order
        received: RETURNING's order is arbitrary); returns the ones already stored before (neither
        new nor refused by the database), to compare with what is stored."""
        old: list[Entry] = []
        by_kind = self.stored_by_kind
        derive = self._derive
        for key, entry in first.items():
            if key in new_keys:
                msg = entry[0]
                kind = msg["kind"]
                by_kind[kind] = by_kind.get(kind, 0) + 1
                try:
                    derive(msg, entry[1], entry[4])
                except Exception as exc:  # noqa: BLE001 - see _derive_guarded
                    self._underived(msg, entry[2], exc)
                self._ack(entry)  # stored: now the broker may forget it
            elif id(entry) not in refused_ids:
                old.append(entry)
        return old

    def _ack(self, entry: Entry) -> None:
        """Acknowledge a stored (or already stored) delivery to the broker: at once, or during
        a flush at its end, in the order received (`_held`)."""
        if entry[3] is not None:
            if self._held is None:
                entry[3]()
            else:
                self._held.append(entry)


def first_of(batch: list[Entry]) -> tuple[dict[tuple[str, int], Entry], list[Entry]]:
    """The first entry of each (station, seq) in `batch`, in the order received, and the repeats
    (a (station, seq) seen earlier in this batch)."""
    first: dict[tuple[str, int], Entry] = {}
    repeats: list[Entry] = []
    for entry in batch:
        msg = entry[0]
        if first.setdefault((msg["station"], msg["seq"]), entry) is not entry:
            repeats.append(entry)
    return first, repeats


def _numbers_by_map(values: dict[str, Any], ts: float) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """A telemetry sample's field names and their values as floats (a null, no reading, left
    out); ValueError when a value or `ts` is not finite. In C builtins: the faster way interpreted."""
    try:  # the usual sample, converted in C
        fields, numbers = tuple(values), tuple(map(float, values.values()))
    except TypeError:  # a null (no reading) among them: that field is left out
        kept = {field: float(value) for field, value in values.items() if value is not None}
        fields, numbers = tuple(kept), tuple(kept.values())
    # bounded finite values have a finite sum; one NaN or infinity makes it non-finite
    if not math.isfinite(sum(numbers, ts)):
        raise ValueError("a value or ts is not finite")
    return fields, numbers


def _numbers_by_loop(values: dict[str, Any], ts: float) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """`_numbers_by_map` as one loop over C doubles (ingest_path.pxd types it): the faster way
    compiled."""
    total = ts
    numbers = []
    for v in values.values():
        if v is None:  # a null (no reading): that field is left out, as the other way does
            return _numbers_by_map(values, ts)
        if type(v) is float:
            x = v
            numbers.append(v)
        else:
            x = float(v)
            numbers.append(x)
        total += x
    # bounded finite values have a finite sum; one NaN or infinity makes it non-finite
    if not total - total == 0.0:
        raise ValueError("a value or ts is not finite")
    return tuple(values), tuple(numbers)


# compiled, the loop runs on C doubles; interpreted, the builtins are faster
_numbers = _numbers_by_loop if _cext.compiled(sys.modules[__name__]) else _numbers_by_map
