"""SQLite storage: the zero-set-up default (one file, WAL journal).

sqlite3 is synchronous, so statements run on worker threads that own the connections; the
event loop only awaits them. Two connections, each with its own thread:
- the ingest writer (`store_uplinks`, `transaction`): batches of uplinks and the epoch
  closes that write aggregates, equipment and station state;
- the general connection: commands, audit, alarms, users, collector readings and every read.
So a command or an acknowledgement never queues behind a batch of uplinks; it waits at most
for the write lock of the one ingest transaction in progress (WAL: one writer at a time,
readers never wait), and the ingest keeps those transactions short.
`synchronous=NORMAL` keeps a committed batch durable across a process crash (a power cut may
lose the last batch, which the stations resend: they keep their outbox until the broker
acknowledged, and the (station, seq) key makes the resend harmless).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .base import SCHEMA, SCHEMA_LATE, Row, Step, Storage, StorageError, UplinkRow

T = TypeVar("T")

_TYPES = {"real": "REAL", "int": "INTEGER", "bigint": "INTEGER", "text": "TEXT", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}
BUSY_TIMEOUT_MS = 30000


class SQLiteStorage(Storage):
    """Storage in one SQLite file (`path`; ":memory:" for a throw-away database)."""

    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._ingest_pool: ThreadPoolExecutor | None = None
        self._ingest_conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T], ingest: bool = False) -> T:
        pool, conn = (self._ingest_pool, self._ingest_conn) if ingest else (self._pool, self._conn)
        if pool is None or conn is None:
            raise StorageError("SQLite storage %s is not open" % self.path)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, conn)
        except sqlite3.Error as exc:
            raise StorageError("SQLite %s: %s" % (self.path, exc)) from exc

    def _connect(self, create: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=%d" % BUSY_TIMEOUT_MS)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if create:
            for stmt in SCHEMA:
                conn.execute(stmt.format(**_TYPES))
            columns = {r[1] for r in conn.execute("PRAGMA table_info(uplinks)")}
            if "agg_epoch" not in columns:  # a database from before aggregation epochs
                conn.execute("ALTER TABLE uplinks ADD COLUMN agg_epoch INTEGER")
            for stmt in SCHEMA_LATE:
                conn.execute(stmt)
        return conn

    async def open(self) -> None:
        if self.path == ":memory:":
            raise StorageError("SQLite storage needs a file (two connections share it), not :memory:")
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-ingest")
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._pool, self._connect, True)
            self._ingest_conn = await loop.run_in_executor(self._ingest_pool, self._connect, False)
        except sqlite3.Error as exc:
            await self.close()
            raise StorageError("cannot open SQLite database %s: %s" % (self.path, exc)) from exc

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pool, conn in ((self._ingest_pool, self._ingest_conn), (self._pool, self._conn)):
            if pool is not None:
                if conn is not None:
                    await loop.run_in_executor(pool, conn.close)
                pool.shutdown(wait=True)
        self._conn = self._ingest_conn = None
        self._pool = self._ingest_pool = None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._run(lambda c: c.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._run(_work_transaction([(sql, [tuple(r) for r in rows])]))

    async def transaction(self, steps: Sequence[Step]) -> None:
        await self._run(_work_transaction([(sql, [tuple(r) for r in rows]) for sql, rows in steps]), ingest=True)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._run(lambda c: c.execute(sql, tuple(params)).fetchall())

    async def store_uplinks(self, rows: Sequence[UplinkRow]) -> list[tuple[str, int]]:
        data = list(rows)

        def work(c: sqlite3.Connection) -> list[tuple[str, int]]:
            # executemany into a temp table runs the row loop in C; one INSERT ... SELECT ...
            # RETURNING then reports exactly the rows that were new.
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute("CREATE TEMP TABLE IF NOT EXISTS uplinks_in (station_id TEXT, seq INTEGER, ts REAL, "
                          "kind TEXT, payload TEXT, received_ts REAL, agg_epoch INTEGER)")
                c.executemany("INSERT INTO uplinks_in VALUES (?, ?, ?, ?, ?, ?, ?)", data)
                new = c.execute("INSERT INTO uplinks (station_id, seq, ts, kind, payload, received_ts, agg_epoch) "
                                "SELECT * FROM uplinks_in WHERE true ON CONFLICT (station_id, seq) DO NOTHING "
                                "RETURNING station_id, seq").fetchall()
                c.execute("DELETE FROM uplinks_in")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return [(r[0], int(r[1])) for r in new]

        return await self._run(work, ingest=True)


def _work_transaction(steps: list[tuple[str, list[tuple[Any, ...]]]]) -> Callable[[sqlite3.Connection], None]:
    def work(c: sqlite3.Connection) -> None:
        c.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading a read
        try:
            for sql, rows in steps:
                if rows:
                    c.executemany(sql, rows)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    return work
