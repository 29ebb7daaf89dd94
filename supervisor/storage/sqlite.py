"""SQLite storage: the zero-set-up default (one file, WAL journal).

sqlite3 is synchronous, so statements run on worker threads that own the connections; the
event loop only awaits them. Two connections:
- the writer, on one thread that takes jobs by priority: commands, audit, alarms, users and
  collector readings first, then the ingest's batches of uplinks and its epoch closes. Every
  write of the process goes through it, so SQLite's own lock is never contended inside the
  process (its busy handler polls with sleeps of up to 100 ms, which starved commands behind
  back-to-back ingest batches); a command waits at most for the one ingest transaction in
  progress, and the ingest keeps those short;
- the reader, on its own thread: WAL lets it read while the writer writes.
Opening is safe while other processes open the same file (extra ingest processes started
with the supervisor): the switch to WAL, which SQLite answers with "database is locked" at once
instead of waiting in its busy handler, is retried with a bounded back-off, and the schema is
created in one IMMEDIATE transaction (it waits for the write lock, so a column migration checks
and alters atomically).
`synchronous=FULL`: every commit syncs the WAL before it returns, so what the ingest acked to the
broker (after its commit) survives a power cut too; no station would send it again beyond the
last two minutes, since each station's outbox keeps what the broker acknowledged only that long. (`NORMAL` synced only at checkpoints; measured at 10,000
stations, the sync at each commit costs nothing visible: README, "Power cuts".) What the broker
still holds is as safe as Mosquitto's own persistence (`autosave_interval 60` in broker_config.py);
what it took after its last save the stations send again after they reconnect or start
(firmware/outbox.py, firmware/uplink.py, `resend_after_reconnect_s`).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .allocation import ALLOCATION_SCHEMA
from .authority_reports import AUTHORITY_REPORTS_SCHEMA
from .base import (
    AGG_UPSERT_SQL,
    ALARM_EVIDENCE_COLUMNS,
    EQUIPMENT_COLUMNS,
    SCHEMA,
    SCHEMA_LATE,
    UPLINKS_FROM_STAGING_SQL,
    Row,
    Step,
    Storage,
    StorageError,
    UplinkRow,
    uplink_keys,
)
from .forecast import FORECAST_SCHEMA
from .households import HOUSEHOLD_SCHEMA
from .maintenance import MAINTENANCE_SCHEMA
from .notify import NOTIFY_SCHEMA
from .profiles import PROFILES_SCHEMA
from .rollout import ROLLOUT_SCHEMA
from .season import SEASON_SCHEMA

T = TypeVar("T")

_TYPES = {"real": "REAL", "int": "INTEGER", "bigint": "INTEGER", "text": "TEXT", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
LOCK_WAIT_S = 30.0  # how long a statement waits for another connection's lock (busy handler, open retries)
URGENT = 0  # interactive writes: commands, acks, audit, alarms
BULK = 1  # the ingest's batches


class _PriorityWriter:
    """One thread owning one connection, running jobs most urgent first (FIFO within a level)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._jobs: queue.PriorityQueue[tuple[int, int, Any, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[sqlite3.Connection], T], priority: int) -> Future[T]:
        fut: Future[T] = Future()
        self._jobs.put((priority, next(self._order), fn, fut))
        return fut

    def _loop(self) -> None:
        while True:
            _prio, _n, fn, fut = self._jobs.get()
            if fn is None:
                self.conn.close()
                fut.set_result(None)
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(self.conn))
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                fut.set_exception(exc)

    def close(self) -> Future[None]:
        fut: Future[None] = Future()
        self._jobs.put((BULK + 1, next(self._order), None, fut))  # after everything queued
        return fut


class SQLiteStorage(Storage):
    """Storage in one SQLite file (`path`); a statement waits up to `lock_wait_s` for another
    connection's lock before it fails."""

    backend = "sqlite"

    def __init__(self, path: str, lock_wait_s: float = LOCK_WAIT_S) -> None:
        self.path = path
        self.lock_wait_s = lock_wait_s
        self._reader_pool: ThreadPoolExecutor | None = None
        self._reader: sqlite3.Connection | None = None
        self._writer: _PriorityWriter | None = None

    async def _write(self, fn: Callable[[sqlite3.Connection], T], priority: int = URGENT) -> T:
        if self._writer is None:
            raise StorageError("SQLite storage %s is not open" % self.path)
        try:
            return await asyncio.wrap_future(self._writer.submit(fn, priority))
        except sqlite3.Error as exc:
            raise StorageError("SQLite %s: %s" % (self.path, exc)) from exc

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader_pool is None or self._reader is None:
            raise StorageError("SQLite storage %s is not open" % self.path)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader_pool, fn, self._reader)
        except sqlite3.Error as exc:
            raise StorageError("SQLite %s: %s" % (self.path, exc)) from exc

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create:
            _create_private(self.path)
        conn = sqlite3.connect(self.path, timeout=self.lock_wait_s, check_same_thread=False, isolation_level=None)
        try:
            deadline = time.monotonic() + self.lock_wait_s
            self._retry_locked(conn, lambda c: c.execute("PRAGMA journal_mode=WAL"), deadline)
            conn.execute("PRAGMA synchronous=FULL")  # see the module docstring
            # a statement's own journal (undoing one statement of many uplink rows inside its
            # transaction) in memory, not spilled to a temporary file: nothing durable is in it
            conn.execute("PRAGMA temp_store=MEMORY")
            if create:
                self._retry_locked(conn, lambda c: _immediate(c, _create_schema), deadline)
        except BaseException:
            conn.close()
            raise
        return conn

    def _retry_locked(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], object],
                      deadline: float) -> None:
        """`fn(conn)`, again after a growing, jittered pause while SQLite says the file is locked,
        until `deadline` (monotonic s); then a StorageError naming the file."""
        pause_s = 0.01
        while True:
            try:
                fn(conn)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                if time.monotonic() + pause_s > deadline:
                    raise StorageError("cannot open SQLite database %s: still locked by another connection after "
                                       "%g s of retries (%s)" % (self.path, self.lock_wait_s, exc)) from exc
            time.sleep(pause_s * random.uniform(0.5, 1.5))  # jitter: contenders do not retry in step
            pause_s = min(pause_s * 2.0, 0.5)

    async def open(self) -> None:
        if self.path == ":memory:":
            raise StorageError("SQLite storage needs a file (two connections share it), not :memory:")
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._reader_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        loop = asyncio.get_running_loop()
        try:
            writer_conn = await loop.run_in_executor(self._reader_pool, self._connect, True)
            self._writer = _PriorityWriter(writer_conn)
            self._reader = await loop.run_in_executor(self._reader_pool, self._connect, False)
        except StorageError:
            await self.close()
            raise
        except sqlite3.Error as exc:
            await self.close()
            raise StorageError("cannot open SQLite database %s: %s" % (self.path, exc)) from exc

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.wrap_future(self._writer.close())
            self._writer = None
        if self._reader_pool is not None:
            if self._reader is not None:
                await asyncio.get_running_loop().run_in_executor(self._reader_pool, self._reader.close)
            self._reader_pool.shutdown(wait=True)
        self._reader = None
        self._reader_pool = None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._write(lambda c: c.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._write(_work_transaction([(sql, [tuple(r) for r in rows])]))

    async def transaction(self, steps: Sequence[Step]) -> None:
        await self._write(_work_transaction([(sql, [tuple(r) for r in rows]) for sql, rows in steps]), BULK)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._read(lambda c: c.execute(sql, tuple(params)).fetchall())

    async def store_uplinks(self, rows: Sequence[UplinkRow]) -> list[tuple[str, int]]:
        data = list(rows)

        def work(c: sqlite3.Connection) -> list[tuple[str, int]]:
            # the rows go in C, several per statement, straight into the table. The rows that were new
            # are the rows counted as changed, all of them in the usual chunk; when some were
            # not (a resend), those above the highest rowid before the insert, which SQLite gives
            # new rows (max + 1) unless the rowids ran out (then it picks free ones at random: a
            # temp table and INSERT ... RETURNING say which).
            top = c.execute("SELECT max(rowid) FROM uplinks").fetchone()[0] or 0
            if top >= _ROWID_MAX - len(data):
                return _store_returning(c, data)
            before = c.total_changes
            _insert_uplinks(c, data)
            new = c.total_changes - before
            if new == len(data):
                return uplink_keys(data)
            if (len(data) - new) * _BISECT_PER_SKIP < new:  # a few resends among many new rows
                return _new_keys_bisected(c, data, top, new)
            return uplink_keys(c.execute("SELECT station_id, seq FROM uplinks WHERE rowid > ?", (top,)))

        return await self._write(lambda c: _immediate(c, work), BULK)


_ROWID_MAX = 2**63 - 1
_UPLINK_INSERT = ("INSERT INTO uplinks (station_id, seq, ts, kind, payload, received_ts, agg_epoch) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (station_id, seq) DO NOTHING")
BLOCK_ROWS = (64, 8)  # rows per statement of _insert_many, then one at a time


def _insert_uplinks(c: sqlite3.Connection, data: Sequence[UplinkRow]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of `data`, in its order (so new rows get consecutive
    rowids in that order)."""
    _insert_many(c, _UPLINK_INSERT, data)


def _insert_many(c: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`c.executemany(sql, rows)` of an INSERT of one row `VALUES (?, ...)`, with 64 (then 8)
    rows per statement: the same rows in the same order, each meeting the rows before it as it
    would one statement per row (a conflict, an upsert), in much less CPU for many rows (a
    statement per row costs about as much again as an uplink row: opening the table and its
    indexes, the statement's own journal). An error fails the whole call, as executemany's does
    (the caller's transaction is rolled back)."""
    done = 0
    for n in BLOCK_ROWS:
        blocks = (len(rows) - done) // n
        if blocks:
            flat = list(itertools.chain.from_iterable(rows[done:done + blocks * n]))
            width = len(flat) // (blocks * n) * n
            c.executemany(_block_sql(sql, n), [flat[i:i + width] for i in range(0, len(flat), width)])
            done += blocks * n
    if done < len(rows):
        c.executemany(sql, rows[done:])


@functools.lru_cache(maxsize=32)
def _block_sql(sql: str, rows: int) -> str:
    """`sql` (an INSERT of one row: `VALUES (?, ...)`) inserting `rows` rows."""
    head, values, tail = sql.partition(" VALUES ")
    one, close, rest = tail.partition(")")
    if not values or not close or set(one) - set("(?, "):
        raise ValueError("not an INSERT of one row of placeholders: %r" % sql[:120])
    return head + values + ", ".join([one + close] * rows) + rest


_BISECT_PER_SKIP = 16  # rows read per resend by _new_keys_bisected (about log2 of a chunk), at most


def _new_keys_bisected(c: sqlite3.Connection, data: Sequence[UplinkRow], top: int, new: int) -> list[tuple[str, int]]:
    """The keys of `data` that its insert just stored, `new` of them, as rows top + 1 ..
    top + new in the order of `data` (SQLite gives each new row max(rowid) + 1, and the insert
    ran alone in its transaction), found by reading a few of those rows instead of all of them:
    from a row of `data` on, the rows are stored at consecutive rowids up to the first one that
    was not stored (a resend), and from there on no row of `data` is found at its position
    (a stored row is never a key met before it); so each resend is found by bisection."""
    def stored_at(rowid: int, row: UplinkRow) -> bool:
        got = c.execute("SELECT station_id, seq FROM uplinks WHERE rowid = ?", (rowid,)).fetchone()
        return got is not None and got[0] == row[0] and got[1] == row[1]

    keys: list[tuple[str, int]] = []
    i, rowid = 0, top + 1  # the next row of `data`, and where it is if it was stored
    while len(keys) < new:
        lo, hi = 0, min(len(data) - i, new - len(keys))  # rows i .. i + lo - 1 are stored in order
        while lo < hi:
            mid = (lo + hi) // 2
            if stored_at(rowid + mid, data[i + mid]):
                lo = mid + 1
            else:
                hi = mid
        keys += uplink_keys(data[i:i + lo])
        i, rowid = i + lo + 1, rowid + lo  # data[i + lo] was not stored (or the last was found)
    return keys


def _store_returning(c: sqlite3.Connection, data: list[UplinkRow]) -> list[tuple[str, int]]:
    """Insert uplink rows, returning the keys that were new, by way of a temp table (one INSERT
    ... SELECT ... RETURNING; executemany cannot return rows)."""
    c.execute("CREATE TEMP TABLE IF NOT EXISTS uplinks_in (station_id TEXT, seq INTEGER, ts REAL, "
              "kind TEXT, payload TEXT, received_ts REAL, agg_epoch INTEGER)")
    c.executemany("INSERT INTO uplinks_in VALUES (?, ?, ?, ?, ?, ?, ?)", data)
    new = c.execute(UPLINKS_FROM_STAGING_SQL).fetchall()
    c.execute("DELETE FROM uplinks_in")
    return uplink_keys(new)


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (0600: it holds password hashes and
    the audit log); SQLite gives its -wal and -shm files the same mode. An existing file keeps
    its mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StorageError("cannot create SQLite database %s: %s" % (path, exc.strerror)) from exc


def _immediate(c: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    """`body(c)` in one BEGIN IMMEDIATE transaction: committed, or rolled back if it raises."""
    c.execute("BEGIN IMMEDIATE")
    try:
        result = body(c)
    except BaseException:
        if c.in_transaction:  # some errors have rolled it back already
            c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
    return result


def _create_schema(c: sqlite3.Connection) -> None:
    for stmt in SCHEMA:
        c.execute(stmt.format(**_TYPES))
    if "agg_epoch" not in {r[1] for r in c.execute("PRAGMA table_info(uplinks)")}:  # from before aggregation epochs
        c.execute("ALTER TABLE uplinks ADD COLUMN agg_epoch INTEGER")
    if "seq" not in {r[1] for r in c.execute("PRAGMA table_info(alarm_log)")}:
        c.execute("ALTER TABLE alarm_log ADD COLUMN seq INTEGER")
    for table, column, kind in ALARM_EVIDENCE_COLUMNS:  # from before alarm evidence
        if column not in {r[1] for r in c.execute("PRAGMA table_info(%s)" % table)}:
            c.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, _TYPES[kind]))
    have = {r[1] for r in c.execute("PRAGMA table_info(equipment)")}
    for column, kind, rest in EQUIPMENT_COLUMNS:  # from before rotations and exercises were counted
        if column not in have:
            c.execute("ALTER TABLE equipment ADD COLUMN %s %s %s" % (column, _TYPES[kind], rest))
    for stmt in SCHEMA_LATE:
        c.execute(stmt)
    for stmt in (*NOTIFY_SCHEMA, *FORECAST_SCHEMA, *PROFILES_SCHEMA, *HOUSEHOLD_SCHEMA, *ROLLOUT_SCHEMA):
        c.execute(stmt.format(**_TYPES))
    for stmt in AUTHORITY_REPORTS_SCHEMA:
        c.execute(stmt.format(**_TYPES))
    for stmt in MAINTENANCE_SCHEMA:
        c.execute(stmt.format(**_TYPES))
    for stmt in ALLOCATION_SCHEMA:
        c.execute(stmt.format(**_TYPES))
    for stmt in SEASON_SCHEMA:
        c.execute(stmt.format(**_TYPES))


def _work_transaction(steps: list[tuple[str, list[tuple[Any, ...]]]]) -> Callable[[sqlite3.Connection], None]:
    def work(c: sqlite3.Connection) -> None:
        for sql, rows in steps:
            if sql is AGG_UPSERT_SQL and len(rows) >= BLOCK_ROWS[-1]:  # the ingest's aggregates: many rows
                _insert_many(c, sql, rows)
            elif rows:
                c.executemany(sql, rows)

    return lambda c: _immediate(c, work)
