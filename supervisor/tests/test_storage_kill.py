"""A supervisor killed (SIGKILL) in the middle of the ingest loses no batch it had acked and, when
the stations resend, stores none twice: on both backends, each through its own storage, in a
process of its own. On SQLite the batches committed since the last checkpoint are only in the log
(WAL, synchronous=FULL), replayed at the next open: a guard for anything that changes the log's
checkpoint policy or the durability settings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import pytest
from heatkeeper.supervisor.storage import open_storage

STATIONS = 2000
BATCH_ROWS = 1000
KILL_AFTER = 12  # batches acked before the kill


def _batch(n: int) -> list[tuple[Any, ...]]:
    """Batch `n` of the run: BATCH_ROWS uplinks, each station's seq rising by one per pass."""
    rows = []
    for i in range(n * BATCH_ROWS, (n + 1) * BATCH_ROWS):
        sid, seq = "st-%04d" % (i % STATIONS), i // STATIONS + 1
        ts = 1_700_000_000.0 + seq
        payload = json.dumps({"v": 1, "station": sid, "seq": seq, "ts": ts, "kind": "telemetry",
                              "body": {"values": {"supply_c": 70.0 + i % 7, "return_c": 45.5}}})
        rows.append((sid, seq, ts, "telemetry", payload, ts + 0.2, 1))
    return rows


# the ingest's side of a batch: store it, then ack it (here: say so on stdout), the next one
_WRITER = """
import asyncio, sys
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.tests.test_storage_kill import _batch

async def main():
    storage = open_storage(sys.argv[1], path=sys.argv[2], dsn=sys.argv[2])
    await storage.open()
    n = 0
    while True:
        await storage.store_uplinks(_batch(n))
        print("acked", n, flush=True)
        n += 1

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_kill_mid_run_loses_no_acked_batch_and_stores_none_twice(backend: str, tmp_path: Any,
                                                                        request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        where = str(tmp_path / "sup.db")
    else:
        where = await request.getfixturevalue("postgres_server").create_database()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _WRITER, backend, where,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    acked = -1
    try:
        while acked < KILL_AFTER - 1:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.startswith(b"acked "), line
            acked = int(line.split()[1])
        if backend == "sqlite":  # in WAL mode with the log open (a clean close would remove it)
            assert os.path.getsize(where + "-wal") > 0
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: the next batch may be half written
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    storage = open_storage(backend, path=where, dsn=where)
    await storage.open()
    try:
        stored = await storage.count_uplinks()
        batches = stored // BATCH_ROWS  # it may have gone on past the last ack it printed
        assert stored % BATCH_ROWS == 0 and batches > acked, (stored, acked)  # whole batches, every acked one
        for n in range(batches + 1):  # the stations resend what was not acked, and some that was
            new = await storage.store_uplinks(_batch(n))
            assert sorted(new) == ([] if n < batches else sorted((r[0], r[1]) for r in _batch(n))), n
        assert await storage.count_uplinks() == (batches + 1) * BATCH_ROWS
        for sid in ("st-0000", "st-1999"):
            seqs = [seq for _ts, seq, _body in await storage.uplinks(sid, "telemetry", 0.0, 2e9)]
            assert sorted(seqs) == [r[1] for n in range(batches + 1) for r in _batch(n) if r[0] == sid], sid
        if backend == "sqlite":
            rows = await storage.fetch("PRAGMA integrity_check")
            assert [tuple(r) for r in rows] == [("ok",)]
    finally:
        await storage.close()
