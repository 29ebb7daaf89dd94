"""The uplinks table is the ingest's hot insert: every index on it costs each stored message
(SQLite, callgrind: about 2,000 instructions for `uplinks_ts`, 4,000 for `uplinks_agg_epoch`, of
~34,500 per row). Each index must earn that by a query, and each query on the table must be
answered by an index, not a walk over every stored message: the SQL the storage really runs
(traced from the SQLite connections) under EXPLAIN QUERY PLAN."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from heatkeeper.supervisor.storage.sqlite import SQLiteStorage


def _row(sid: str, seq: int, kind: str, body: dict[str, Any], epoch: int) -> tuple[Any, ...]:
    ts = 1_000_000.0 + seq
    payload = json.dumps({"v": 1, "station": sid, "seq": seq, "ts": ts, "kind": kind, "body": body})
    return (sid, seq, ts, kind, payload, ts + 0.5, epoch)


async def _traced_uplink_queries(path: str) -> list[str]:
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        rows = [_row("st-%d" % s, q, "telemetry", {"values": {"supply_c": 70.0}}, 7) for s in range(3) for q in range(1, 40)]
        rows.append(_row("st-1", 40, "event", {"kind": "local_settings", "x": 1}, 8))
        await storage.store_uplinks(rows)
        seen: list[str] = []
        assert storage._reader is not None and storage._writer is not None
        storage._reader.set_trace_callback(seen.append)
        storage._writer.conn.set_trace_callback(seen.append)
        await storage.count_uplinks()
        await storage.count_uplinks("st-1")
        assert len(await storage.telemetry_bodies("st-1", 1_000_000.0, 1_000_020.0, 100)) == 20
        assert len(await storage.uplinks("st-1", "event", 0.0, 2e6)) == 1
        assert len(await storage.stored_uplinks([("st-1", 3), ("st-2", 99)])) == 1
        assert len(await storage.epoch_uplinks(8)) == 1
        assert await storage.latest_event("st-1", "local_settings") is not None
        await storage.apply_retention(1_000_010.0 + 86400.0, 1.0, 400.0, 400.0, 400.0)
        assert await storage.count_uplinks("st-1") == 31  # seq 1..9 are older than a day
        storage._reader.set_trace_callback(None)
        storage._writer.conn.set_trace_callback(None)
    finally:
        await storage.close()
    return [sql for sql in seen if re.search(r"\buplinks\b", sql) and re.match(r"\s*(SELECT|WITH|DELETE|UPDATE)", sql, re.I)]


async def test_every_query_on_uplinks_is_answered_by_an_index(tmp_path: Any) -> None:
    path = str(tmp_path / "sup.db")
    queries = await _traced_uplink_queries(path)
    assert len(queries) >= 8, queries
    conn = sqlite3.connect(path)
    used: set[str] = set()
    try:
        for sql in queries:
            plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            for step in plan:
                used.update(re.findall(r"INDEX (\w+)", step))
                # only the count of every stored message may walk (the narrowest index, by itself)
                walks = re.match(r"SCAN (uplinks|u)\b", step) and sql != "SELECT COUNT(*) FROM uplinks"
                assert not walks, "%s walks the table: %s" % (sql, plan)
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'uplinks'")}
    finally:
        conn.close()
    assert indexes - used == set(), "indexes on uplinks no query uses: %s" % sorted(indexes - used)
