"""Local trend history: a SQLite ring of telemetry samples for when the supervisor is unreachable.

One row per sample (wall-clock `ts` and the flat telemetry values as JSON). The ring keeps the
newest `max_rows`; older rows are deleted in batches so a write stays cheap. Losing the last
samples on power loss is acceptable here (the outbox is the durable path), so the ring runs
with synchronous=NORMAL. The ring is not essential: a damaged file raises StorageCorrupt (the
runtime sets it aside and starts a fresh one), and path ":memory:" keeps the ring in memory.
"""

from __future__ import annotations

import json
import os
import sqlite3

from .errors import StorageError
from .storage_guard import MEMORY, storage_error


class TrendStore:
    """Ring buffer of (ts, values) samples."""

    def __init__(self, path: str, max_rows: int = 100000) -> None:
        self.path, self.max_rows = path, max_rows
        self.memory_only = path == MEMORY
        db: sqlite3.Connection | None = None
        try:
            if not self.memory_only:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db = db
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS trend (id INTEGER PRIMARY KEY, ts REAL NOT NULL, values_json TEXT NOT NULL)")
            self.db.execute("SELECT MAX(id) FROM trend").fetchone()
        except OSError as exc:
            raise StorageError("trend store %s: %s" % (path, exc)) from exc
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise storage_error("trend store", path, exc) from exc

    def add(self, ts_s: float, values: dict) -> None:
        """Append one sample; trim the ring when it grew 1 % past its size."""
        try:
            cur = self.db.execute("INSERT INTO trend (ts, values_json) VALUES (?, ?)", (ts_s, json.dumps(values)))
            row_id = int(cur.lastrowid or 0)
            slack = max(1, self.max_rows // 100)
            if row_id % slack == 0:
                self.db.execute("DELETE FROM trend WHERE id <= ?", (row_id - self.max_rows,))
        except sqlite3.Error as exc:
            raise storage_error("trend store", self.path, exc) from exc

    def since(self, ts_s: float, limit: int = 10000) -> list[tuple[float, dict]]:
        """Samples with ts >= ts_s, oldest first."""
        rows = self.db.execute("SELECT ts, values_json FROM trend WHERE ts >= ? ORDER BY id LIMIT ?", (ts_s, limit))
        return [(float(ts), json.loads(v)) for ts, v in rows]

    def count(self) -> int:
        """Rows currently held."""
        return int(self.db.execute("SELECT COUNT(*) FROM trend").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        try:
            self.db.close()
        except sqlite3.Error:
            pass  # closing after a storage failure: the data on disk is what it is
