"""A process that opens SQLite storages at the same instant as its siblings (for
test_sqlite_open.py). Imported by its `heatkeeper.` name so `spawn` children can load it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from heatkeeper.supervisor.storage.sqlite import SQLiteStorage


def open_rounds(directory: str, rounds: int, barrier: Any, results: Any) -> None:
    """For each round: wait at `barrier` with the siblings, open and close the storage of a fresh
    file `round-N.db`; put (pid, [error text per failed round]) on `results`."""

    async def run() -> list[str]:
        errors: list[str] = []
        for n in range(rounds):
            storage = SQLiteStorage(os.path.join(directory, "round-%d.db" % n))
            barrier.wait(30)  # the event loop is idle here: blocking it is harmless
            try:
                await storage.open()
                await storage.close()
            except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
                errors.append("round %d: %s" % (n, exc))
        return errors

    results.put((os.getpid(), asyncio.run(run())))
