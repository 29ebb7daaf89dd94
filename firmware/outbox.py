"""The uplink outbox: every message the station means to send, on disk until the broker has it,
and for a while after.

Invariants:
- One per-station sequence counter over all kinds, starting at 1, assigned here (the payload
  is encoded with core.codec.encode_uplink at insertion, so a resend is byte-identical and the
  supervisor can store each seq exactly once).
- A message stops being pending only through `acknowledge(seqs)`, which the uplink calls after
  `publish(qos=1)` returned, i.e. after the broker's PUBACK.
- What the broker acknowledged is kept on disk for `keep_s` more seconds (the uplink passes its
  `[mqtt] resend_after_reconnect_s`): a broker that loses power loses what it acknowledged since
  its last save, so after a dropped link (or a restart of the station) the uplink sends those
  again (`kept_since`). The kept rows are the oldest ones: every row up to `acked_through` (a
  meta value, in the same transaction) is acknowledged, every row above it pending, and the
  `acks` table holds when each acknowledged batch was acknowledged (wall clock; a resend that
  the broker acknowledged again renews it, `renew_kept`, and it never falls as the seq rises, which
  the range deletes and `kept_since` rely on). Keeping costs
  no extra write: an acknowledgement moves the mark instead of deleting rows, and the rows go in
  one range delete once older than `keep_s`. Kept rows are bounded (`keep_max`: a quarter of
  `max_messages` on disk, KEEP_MAX_MEMORY rows for an outbox in memory) and are the first to go
  when the outbox is full: they were delivered, the pending ones were not.
- The counter never goes backwards, also across crashes: it lives in the same transaction as
  the rows. With `synchronous=FULL` (the default) a commit is on disk before the uplink can
  read the row, so a sequence number that reached the broker can never be reissued for other
  content after a power cut. `normal` (WAL) survives a process crash but may lose the last
  commits on power loss, so a seq could be reused; choose it only for flash that cannot take
  an fsync per cycle. The station commits at most once per control cycle.
- The counter survives the file: `raise_seq_floor(seq)` lifts it (never lowers it), so a
  recreated outbox (deleted, set aside as damaged, a swapped card) continues above every seq
  the supervisor may already hold instead of restarting at 1. `created` tells the caller that
  this file was new, so it knows the counter has to be restored from elsewhere.
- Bounded: when `max_messages` is reached, the oldest half of the telemetry is thinned by
  decimation (every second sample removed), so old history gets coarser instead of the newest
  data being dropped. Thinned samples are counted (`thinned_total`), and the caller raises an
  event for each thinning. Alarms, events and acks have their own hard cap (`other_max`, half of
  `max_messages`): past it the oldest events go first, then acks, alarms last, down to 90 % of
  the cap; dropped rows are counted (`dropped_total`) and reported once per capping.
- Every SQLite failure surfaces as StorageError (StorageCorrupt when the file is damaged), never
  as a raw sqlite3 error, so the uplink and the runtime can tell "retry" from "set aside".
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence

from heatkeeper.core import codec

from .errors import StorageError
from .storage_guard import MEMORY, storage_error

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind_seq ON outbox(kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS acks (through_seq INTEGER PRIMARY KEY, acked_ts REAL NOT NULL);
"""
KEEP_MAX_MEMORY = 250  # acknowledged rows kept by an outbox in memory: about 1.1 MB of telemetry (4.6 kB a record)


class Outbox:
    """SQLite-backed, crash-safe, bounded store-and-forward queue for one station."""

    def __init__(self, path: str, station_id: str, max_messages: int = 200000, synchronous: str = "full",
                 other_max: int | None = None, keep_max: int | None = None) -> None:
        self.path = path
        self.station_id = station_id
        self.max_messages = max_messages
        self.other_max = max(10, max_messages // 2) if other_max is None else other_max
        self.memory_only = path == MEMORY
        if keep_max is None:
            keep_max = KEEP_MAX_MEMORY if self.memory_only else max(100, max_messages // 4)
        self.keep_max = keep_max
        db: sqlite3.Connection | None = None
        try:
            if not self.memory_only:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db = db
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=%s" % ("FULL" if synchronous == "full" else "NORMAL"))
            self.db.executescript(_SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
            self.created = row is None
            if row is None:
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('last_seq', 0), ('thinned_total', 0)")
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('thinned_total', 0), ('dropped_total', 0), "
                            "('acked_through', 0)")
            self._last_seq = self._meta("last_seq")
            self.thinned_total = self._meta("thinned_total")
            self.dropped_total = self._meta("dropped_total")
            self._acked_through = self._meta("acked_through")
            self._count = int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE seq > ?",
                                              (self._acked_through,)).fetchone()[0])
            self._kept = int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE seq <= ?",
                                             (self._acked_through,)).fetchone()[0])
            self._other = int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE kind != ? AND seq > ?",
                                              (codec.UP_TELEMETRY, self._acked_through)).fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            if db is not None:
                db.close()
            if isinstance(exc, OSError):
                raise StorageError("outbox %s: %s" % (path, exc)) from exc
            raise storage_error("outbox", path, exc) from exc
        self.sent_total = 0
        self.last_thinning: dict | None = None
        self.last_capping: dict | None = None

    def _meta(self, key: str) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    @property
    def last_seq(self) -> int:
        """The highest sequence number ever assigned."""
        return self._last_seq

    def __len__(self) -> int:
        """Messages pending (not yet acknowledged by the broker)."""
        return self._count

    @property
    def kept(self) -> int:
        """Acknowledged messages still kept for a resend."""
        return self._kept

    def raise_seq_floor(self, seq: int) -> bool:
        """Make the next sequence number at least `seq + 1` (never lowers it); True if it moved."""
        if seq <= self._last_seq:
            return False
        try:
            self.db.execute("UPDATE meta SET value=? WHERE key='last_seq' AND value < ?", (seq, seq))
        except sqlite3.Error as exc:
            raise storage_error("outbox", self.path, exc) from exc
        self._last_seq = seq
        return True

    def put(self, kind: str, body: dict, ts_s: float) -> int:
        """Store one message; returns its sequence number."""
        return self.put_many([(kind, body, ts_s)])[0]

    def put_many(self, items: Sequence[tuple[str, dict, float]],
                 refused: Callable[[int, codec.CodecError], tuple[str, dict, float]] | None = None) -> list[int]:
        """Store several messages in one transaction (one fsync); returns their sequence numbers.

        Each message is encoded once, here. A body that cannot be encoded (codec.CodecError,
        e.g. too large) raises before anything is stored, so one bad message never takes good
        ones with it; or, with `refused`, `refused(i, error)` gives the message stored in place
        of items[i] (its own encoding error raises)."""
        rows = []
        seq = self._last_seq
        for i, (kind, body, ts_s) in enumerate(items):
            seq += 1
            try:
                topic, payload = codec.encode_uplink(self.station_id, seq, kind, ts_s, body)
            except codec.CodecError as exc:
                if refused is None:
                    raise
                kind, body, ts_s = refused(i, exc)
                topic, payload = codec.encode_uplink(self.station_id, seq, kind, ts_s, body)
            rows.append((seq, kind, topic, payload, ts_s))
        if not rows:
            return []
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?)", rows)
            self.db.execute("UPDATE meta SET value=? WHERE key='last_seq'", (seq,))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error("outbox", self.path, exc) from exc
        self._last_seq = seq
        self._count += len(rows)
        self._other += sum(1 for r in rows if r[1] != codec.UP_TELEMETRY)
        if self._kept and self._count + self._kept > self.max_messages:
            self.forget_kept()  # delivered copies go before any pending message is thinned
        if self._count > self.max_messages:
            self._thin()
        if self._other > self.other_max:
            self._cap_other()
        return [r[0] for r in rows]

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open: nothing to undo

    def _thin(self) -> None:
        """Decimate the oldest half of the telemetry: keep every other sample."""
        seqs = [r[0] for r in self.db.execute(
            "SELECT seq FROM outbox WHERE kind=? AND seq > ? ORDER BY seq", (codec.UP_TELEMETRY, self._acked_through))]
        oldest = seqs[: len(seqs) // 2]
        victims = oldest[1::2]
        if not victims:
            self.last_thinning = None
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM outbox WHERE seq=?", [(s,) for s in victims])
            self.db.execute("UPDATE meta SET value=value+? WHERE key='thinned_total'", (len(victims),))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error("outbox", self.path, exc) from exc
        self.thinned_total += len(victims)
        self._count -= len(victims)
        self.last_thinning = {"thinned": len(victims), "first_seq": victims[0], "last_seq": victims[-1],
                              "thinned_total": self.thinned_total}

    def _cap_other(self) -> None:
        """Hard cap on alarms, events and acks (a flood of local writes, a stuck alarm): drop the
        oldest events first, then acks, alarms last, down to 90 % of `other_max`."""
        excess = self._other - int(self.other_max * 0.9)
        victims: list[int] = []
        by_kind: dict[str, int] = {}
        for kind in (codec.UP_EVENT, codec.UP_ACK, codec.UP_ALARM):
            if len(victims) >= excess:
                break
            rows = [int(r[0]) for r in self.db.execute(
                "SELECT seq FROM outbox WHERE kind=? AND seq > ? ORDER BY seq LIMIT ?",
                (kind, self._acked_through, excess - len(victims)))]
            if rows:
                by_kind[kind] = len(rows)
                victims.extend(rows)
        if not victims:
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM outbox WHERE seq=?", [(s,) for s in victims])
            self.db.execute("UPDATE meta SET value=value+? WHERE key='dropped_total'", (len(victims),))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error("outbox", self.path, exc) from exc
        self.dropped_total += len(victims)
        self._count -= len(victims)
        self._other -= len(victims)
        self.last_capping = {"dropped": len(victims), "dropped_by_kind": by_kind, "first_seq": min(victims),
                             "last_seq": max(victims), "dropped_total": self.dropped_total, "cap": self.other_max}

    def take_thinning(self) -> dict | None:
        """The last thinning not yet reported (then forgotten), for the caller's event."""
        info, self.last_thinning = self.last_thinning, None
        return info

    def take_capping(self) -> dict | None:
        """The last capping of alarms/events/acks not yet reported (then forgotten)."""
        info, self.last_capping = self.last_capping, None
        return info

    def peek(self, limit: int = 100) -> list[tuple[int, str, bytes]]:
        """The oldest `limit` pending messages as (seq, topic, payload), in sequence order."""
        try:
            return [(int(s), str(t), bytes(p)) for s, t, p in self.db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._acked_through, limit))]
        except sqlite3.Error as exc:
            raise storage_error("outbox", self.path, exc) from exc

    def acknowledge(self, seqs: list[int], keep_s: float = 0.0, now_ts: float | None = None) -> None:
        """The broker acknowledged these (PUBACK received): they are no longer pending. With
        `keep_s` > 0 they are kept `keep_s` seconds more for `kept_since` (when they are the
        oldest pending ones, as the uplink sends them; any others are removed at once); kept
        rows older than that are removed now."""
        if not seqs:
            return
        now = time.time() if now_ts is None else now_ts
        through = self._acked_through
        wanted = sorted(set(seqs))
        try:
            self.db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" for _ in wanted)
            present, other, top = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(kind != ?), 0), MAX(seq) FROM outbox WHERE seq > ? AND seq IN (%s)"
                % marks, (codec.UP_TELEMETRY, through, *wanted)).fetchone()
            present, other = int(present), int(other)
            # the oldest pending ones: every pending row up to the highest of them is among them
            # (thinning may have taken some of them meanwhile; seqs not in the outbox move nothing)
            oldest = keep_s > 0.0 and present > 0 and present == int(self.db.execute(
                "SELECT COUNT(*) FROM outbox WHERE seq > ? AND seq <= ?", (through, top)).fetchone()[0])
            if oldest:
                self.db.execute("UPDATE meta SET value=? WHERE key='acked_through'", (top,))
                self.db.execute("INSERT OR REPLACE INTO acks VALUES (?, ?)", (top, now))
                through = top
                kept = present
            else:
                self.db.executemany("DELETE FROM outbox WHERE seq=? AND seq > ?", [(s, through) for s in wanted])
                kept = 0
            forgotten = self._prune(through, now - keep_s if keep_s > 0.0 else None, self._kept + kept)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error("outbox", self.path, exc) from exc
        self._acked_through = through
        self._kept += kept - forgotten
        self._count -= present
        self._other -= other
        self.sent_total += present

    def _prune(self, through: int, before_ts: float | None, kept: int) -> int:
        """Inside a transaction: of the `kept` rows up to `through`, remove those acknowledged
        before `before_ts` (all with None) and the oldest beyond keep_max; returns how many went."""
        if before_ts is None:
            cut = through
        else:
            row = self.db.execute("SELECT MAX(through_seq) FROM acks WHERE acked_ts < ?", (before_ts,)).fetchone()
            cut = int(row[0]) if row[0] is not None else 0
        removed = 0
        if cut:
            removed = self.db.execute("DELETE FROM outbox WHERE seq <= ?", (cut,)).rowcount
            self.db.execute("DELETE FROM acks WHERE through_seq <= ?", (cut,))
        over = kept - removed - self.keep_max
        if over > 0:
            row = self.db.execute("SELECT seq FROM outbox WHERE seq <= ? ORDER BY seq LIMIT 1 OFFSET ?",
                                  (through, over - 1)).fetchone()
            if row is not None:
                removed += self.db.execute("DELETE FROM outbox WHERE seq <= ?", (int(row[0]),)).rowcount
                self.db.execute("DELETE FROM acks WHERE through_seq <= ?", (int(row[0]),))
        return max(0, removed)

    def forget_kept(self) -> None:
        """Remove every kept acknowledged row (when the outbox is full: pending rows need the room)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            removed = self._prune(self._acked_through, None, self._kept)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error("outbox", self.path, exc) from exc
        self._kept = max(0, self._kept - removed)

    def renew_kept(self, from_seq: int, now_ts: float | None = None) -> None:
        """The kept rows from `from_seq` on were acknowledged again now (a resend): they are kept
        (and sent again after a drop) as if acknowledged at `now_ts`."""
        now = time.time() if now_ts is None else now_ts
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE acks SET acked_ts=? WHERE through_seq >= ? AND acked_ts < ?", (now, from_seq, now))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise storage_error("outbox", self.path, exc) from exc

    def kept_since(self, since_ts: float, after_seq: int = 0, limit: int = 200) -> list[tuple[int, str, bytes]]:
        """Up to `limit` kept (acknowledged) messages that the broker acknowledged at or after
        `since_ts` (wall clock) and whose seq is above `after_seq`, as (seq, topic, payload) in
        sequence order: what a resend after a drop sends again."""
        try:
            row = self.db.execute("SELECT MAX(through_seq) FROM acks WHERE acked_ts < ?", (since_ts,)).fetchone()
            low = max(after_seq, int(row[0]) if row[0] is not None else 0)
            return [(int(s), str(t), bytes(p)) for s, t, p in self.db.execute(
                "SELECT seq, topic, payload FROM outbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (low, self._acked_through, limit))]
        except sqlite3.Error as exc:
            raise storage_error("outbox", self.path, exc) from exc

    def oldest_age_s(self, now_ts: float | None = None) -> float:
        """Wall-clock age of the oldest pending message (0 when empty)."""
        try:
            row = self.db.execute("SELECT MIN(created_ts) FROM outbox WHERE seq > ?", (self._acked_through,)).fetchone()
        except sqlite3.Error as exc:
            raise storage_error("outbox", self.path, exc) from exc
        if row is None or row[0] is None:
            return 0.0
        return max(0.0, (time.time() if now_ts is None else now_ts) - float(row[0]))

    def stats(self) -> dict[str, float]:
        """Fill level for telemetry: pending count, fill percent, thinned and sent totals."""
        return {
            "outbox_pending": float(self._count),
            "outbox_fill_pct": round(100.0 * self._count / self.max_messages, 2),
            "outbox_thinned_total": float(self.thinned_total),
            "outbox_last_seq": float(self._last_seq),
            "outbox_dropped_total": float(self.dropped_total),
        }

    def close(self) -> None:
        """Checkpoint and close the database."""
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
        except sqlite3.Error:
            pass  # closing after a storage failure: the data on disk is what it is
