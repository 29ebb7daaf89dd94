"""What SQLite commits is on disk before the store returns: the ingest acks an uplink to the broker
after its commit, and nothing resends it after that (a station's outbox ends at the broker's
PUBACK), so a power cut must not take back a committed batch. Checked on the system calls: each
uplink batch stored is followed by a sync of the database's files before the next one starts
(strace, following the storage's writer thread). With `synchronous=NORMAL` the WAL was synced only
at checkpoints, and a power cut could lose what was acked since the last one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import asyncio, os, sys
from heatkeeper.supervisor.storage import open_storage

async def main(path, marks):
    st = open_storage("sqlite", path=path)
    await st.open()
    try:
        for k in range(3):
            os.stat(os.path.join(marks, "batch-%d" % k))  # a mark in the trace
            rows = [("st-%d" % (i % 5), 1 + k * 100 + i // 5, 1.8e9 + i, "telemetry", '{"v":1}', 1.8e9 + i, 7)
                    for i in range(200)]
            assert len(await st.store_uplinks(rows)) == 200
        os.stat(os.path.join(marks, "end"))
    finally:
        await st.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed (apt-get install strace)")
def test_each_stored_uplink_batch_is_synced_to_disk_before_the_next(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    for name in ("batch-0", "batch-1", "batch-2", "end"):
        (marks / name).touch()
    log = tmp_path / "strace.log"
    subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,%stat,%fstat", "-o", str(log),
                    sys.executable, "-c", SCRIPT, str(tmp_path / "sup.db"), str(marks)],
                   check=True, timeout=120, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    calls = [line for line in log.read_text().splitlines() if "fsync(" in line or "fdatasync(" in line
             or "/marks/" in line]
    # the syncs between one batch's mark and the next (the batch's commit)
    spans: list[int] = []
    for line in calls:
        mark = re.search(r"/marks/(batch-\d|end)", line)
        if mark:
            spans.append(0)
        elif spans:
            spans[-1] += 1
    assert len(spans) == 4, calls
    assert all(n >= 1 for n in spans[:3]), "batches committed without a sync to disk: %s" % spans
