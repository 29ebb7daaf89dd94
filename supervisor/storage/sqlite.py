"""SQLite storage: the zero-set-up default (one file, WAL journal).

sqlite3 is synchronous, so every statement runs on one dedicated worker thread that owns the
connection; the event loop only awaits it. WAL lets readers (dashboard) proceed while the
ingest writes, and `synchronous=NORMAL` keeps a committed batch durable across a process
crash (a power cut may lose the last batch, which the stations resend: they keep their
outbox until the broker acknowledged, and the (station, seq) key makes the resend harmless).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .base import SCHEMA, Row, Storage, StorageError, UplinkRow

T = TypeVar("T")

_TYPES = {"real": "REAL", "int": "INTEGER", "bigint": "INTEGER", "text": "TEXT", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"}


class SQLiteStorage(Storage):
    """Storage in one SQLite file (`path`; ":memory:" for a throw-away database)."""

    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._pool: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None or self._conn is None:
            raise StorageError("SQLite storage %s is not open" % self.path)
        conn = self._conn
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, conn)
        except sqlite3.Error as exc:
            raise StorageError("SQLite %s: %s" % (self.path, exc)) from exc

    async def open(self) -> None:
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            for stmt in SCHEMA:
                conn.execute(stmt.format(**_TYPES))
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._pool, connect)
        except sqlite3.Error as exc:
            raise StorageError("cannot open SQLite database %s: %s" % (self.path, exc)) from exc

    async def close(self) -> None:
        if self._conn is not None and self._pool is not None:
            conn = self._conn
            await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)
        self._conn = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._run(lambda c: c.execute(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        data = [tuple(r) for r in rows]

        def work(c: sqlite3.Connection) -> None:
            c.execute("BEGIN")
            try:
                c.executemany(sql, data)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

        await self._run(work)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._run(lambda c: c.execute(sql, tuple(params)).fetchall())

    async def store_uplinks(self, rows: Sequence[UplinkRow]) -> list[tuple[str, int]]:
        data = list(rows)

        def work(c: sqlite3.Connection) -> list[tuple[str, int]]:
            # executemany into a temp table runs the row loop in C; one INSERT ... SELECT ...
            # RETURNING then reports exactly the rows that were new.
            c.execute("BEGIN")
            try:
                c.execute("CREATE TEMP TABLE IF NOT EXISTS uplinks_in (station_id TEXT, seq INTEGER, ts REAL, "
                          "kind TEXT, payload TEXT, received_ts REAL)")
                c.executemany("INSERT INTO uplinks_in VALUES (?, ?, ?, ?, ?, ?)", data)
                new = c.execute("INSERT INTO uplinks (station_id, seq, ts, kind, payload, received_ts) "
                                "SELECT * FROM uplinks_in WHERE true ON CONFLICT (station_id, seq) DO NOTHING "
                                "RETURNING station_id, seq").fetchall()
                c.execute("DELETE FROM uplinks_in")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return [(r[0], int(r[1])) for r in new]

        return await self._run(work)
