"""Opening the SQLite storage while other connections hold the file: several processes creating
one fresh database at the same instant all succeed; a lock held a while is waited out; a lock
held past `lock_wait_s` fails with an error that names the file."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from typing import Any

import pytest
from heatkeeper.supervisor.storage import StorageError
from heatkeeper.supervisor.storage.sqlite import SQLiteStorage
from heatkeeper.supervisor.tests.sqlite_contender import open_rounds


def test_processes_create_one_fresh_database_at_the_same_instant(tmp_path: Any) -> None:
    # Without the retried switch to WAL, 2 x 80 rounds saw "database is locked" in every run.
    processes, rounds = 2, 80
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    workers = [ctx.Process(target=open_rounds, args=(str(tmp_path), rounds, barrier, results))
               for _ in range(processes)]
    for w in workers:
        w.start()
    try:
        reports = [results.get(timeout=120) for _ in workers]
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.kill()
                w.join(10)
    assert [w.exitcode for w in workers] == [0] * processes
    errors = [e for _pid, errs in reports for e in errs]
    assert errors == [], errors
    for n in range(rounds):
        db = sqlite3.connect(str(tmp_path / ("round-%d.db" % n)))
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'uplinks'").fetchone()[0] == 1
        finally:
            db.close()


async def test_a_lock_held_a_while_is_waited_out(tmp_path: Any) -> None:
    path = str(tmp_path / "sup.db")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE other (x INTEGER)")
    conn.execute("BEGIN IMMEDIATE")  # SQLite refuses the switch to WAL at once while this is held
    conn.execute("INSERT INTO other VALUES (1)")
    release = threading.Timer(0.5, lambda: conn.execute("COMMIT"))
    storage = SQLiteStorage(path, lock_wait_s=20.0)
    release.start()
    try:
        await storage.open()
        assert await storage.fetch("SELECT COUNT(*) FROM uplinks") == [(0,)]
        await storage.close()
    finally:
        release.join()
        conn.close()


async def test_a_lock_held_too_long_names_the_file(tmp_path: Any) -> None:
    path = str(tmp_path / "sup.db")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE other (x INTEGER)")
    conn.execute("BEGIN IMMEDIATE")
    try:
        storage = SQLiteStorage(path, lock_wait_s=0.5)
        with pytest.raises(StorageError) as err:
            await storage.open()
        assert path in str(err.value) and "still locked" in str(err.value), str(err.value)
        assert os.path.exists(path)
    finally:
        conn.execute("ROLLBACK")
        conn.close()
