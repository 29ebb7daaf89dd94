"""`Storage.write_derived`, the one write of what the ingest derived from a slice of the fleet
(5-minute aggregates, equipment records, station states) with the closing and opening of its
aggregation epochs: everything lands, or nothing does (both backends)."""

from __future__ import annotations

from typing import Any

import pytest


async def _epochs(storage: Any) -> dict[int, Any]:
    return {int(e): c for e, c in await storage.fetch("SELECT epoch, closed_ts FROM agg_epochs")}


async def test_write_derived_writes_everything_in_one_go(storage: Any) -> None:
    await storage.upsert_station("st-1", "One", "Arxan")
    await storage.write_derived([], [], [], [], [11], "sup", 100.0)
    await storage.write_derived([("st-1", 300, "supply_c", 2, 150.0, 70.0, 80.0)],
                                [("st-1", "pump1", 60.0, 1, None, 0, None, 350.0, 0, 0, None)],
                                [("st-1", {"online": True, "last_seen_ts": 350.0, "values": {"supply_c": 80.0}})],
                                [11], [12], "sup", 400.0)
    await storage.write_derived([("st-1", 300, "supply_c", 1, 60.0, 60.0, 60.0)], [], [], [], [], "sup", 410.0)
    assert await storage.aggregates("st-1", ["supply_c"], 300.0, 600.0) == [("supply_c", 300, 3, 210.0, 60.0, 80.0)]
    assert [(e["device"], e["run_s"], e["starts"]) for e in await storage.equipment("st-1")] == [("pump1", 60.0, 1)]
    assert (await storage.stations())[0]["state"]["values"] == {"supply_c": 80.0}
    assert await _epochs(storage) == {11: 400.0, 12: None}
    assert await storage.open_epochs("sup") == [12]


async def test_write_derived_is_all_or_nothing(storage: Any) -> None:
    await storage.upsert_station("st-1", "One", "Arxan")
    await storage.write_derived([], [], [], [], [21, 22], "sup", 100.0)
    with pytest.raises(Exception):  # noqa: B017 - the backend's own error: epoch 22 exists (primary key)
        await storage.write_derived([("st-1", 300, "supply_c", 1, 70.0, 70.0, 70.0)],
                                    [("st-1", "pump1", 5.0, 1, None, 0, None, 300.0)],
                                    [("st-1", {"online": True, "values": {"supply_c": 70.0}})],
                                    [21], [22], "sup", 400.0)
    assert await storage.aggregates("st-1", ["supply_c"], 0.0, 1000.0) == []
    assert await storage.equipment("st-1") == []
    assert (await storage.stations())[0]["state"] == {}
    assert await _epochs(storage) == {21: None, 22: None}


async def test_stored_uplinks_finds_resends_by_key(storage: Any) -> None:
    rows = [("st-%d" % (i % 50), i, 1000.0 + i, "telemetry", '{"v":1}', 2000.0 + i, 7) for i in range(1, 3001)]
    await storage.store_uplinks(rows)
    keys = [("st-5", 5), ("st-7", 107), ("st-8", 7), ("st-9", 10 ** 12), ("st-5", 5)]
    assert await storage.stored_uplinks(keys) == {("st-5", 5): (1005.0, "telemetry"),
                                                  ("st-7", 107): (1107.0, "telemetry")}
    assert await storage.stored_uplinks([]) == {}


async def test_stored_uplinks_looks_keys_up_instead_of_scanning_the_table(tmp_path: Any) -> None:
    """SQLite: the resend check of an ingest batch reads a few index pages, not every stored
    uplink (it runs for nearly every batch; the table holds months of raw messages)."""
    from heatkeeper.supervisor.storage import open_storage

    storage = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    await storage.open()
    try:
        await storage.store_uplinks([("st-%d" % (i % 50), i, float(i), "telemetry", '{"v":1}', float(i), 7)
                                     for i in range(1, 20001)])
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0

        storage._reader.set_progress_handler(count, 100)  # every 100 virtual machine instructions
        assert len(await storage.stored_uplinks([("st-5", 5), ("st-7", 107), ("st-1", 9)])) == 2
        assert steps[0] < 50, "%d00 instructions for 3 keys: the table is scanned" % steps[0]
    finally:
        await storage.close()


async def test_store_uplinks_returns_exactly_the_new_keys(storage: Any) -> None:
    """A chunk of new rows says all of them are new; a chunk with resends among new rows says
    which were new, and the resends keep what was stored first (both backends)."""
    first = [("st-%d" % (i % 7), i, 1000.0 + i, "telemetry", '{"v":1}', 2000.0 + i, 7) for i in range(1, 101)]
    assert sorted(await storage.store_uplinks(first)) == sorted((r[0], r[1]) for r in first)
    resent = [(sid, seq, ts, kind, '{"v":2}', rx + 1.0, 8) for sid, seq, ts, kind, _p, rx, _e in first[::10]]
    fresh = [("st-%d" % (i % 7), i, 1000.0 + i, "telemetry", '{"v":1}', 2000.0 + i, 8) for i in range(101, 151)]
    mixed = fresh[:25] + resent + fresh[25:]
    assert sorted(await storage.store_uplinks(mixed)) == sorted((r[0], r[1]) for r in fresh)
    assert await storage.store_uplinks(resent) == []
    assert await storage.count_uplinks() == 150
    assert await storage.fetchone("SELECT payload, agg_epoch FROM uplinks WHERE station_id = ? AND seq = ?",
                                  ("st-1", 1)) == ('{"v":1}', 7)


async def test_sqlite_store_uplinks_when_the_rowids_have_run_out(tmp_path: Any) -> None:
    """SQLite gives a new row max(rowid) + 1 until the largest rowid is taken; then it picks free
    ones at random, and the new keys of a chunk are found another way."""
    from heatkeeper.supervisor.storage import open_storage

    storage = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    await storage.open()
    try:
        await storage.execute("INSERT INTO uplinks (rowid, station_id, seq, ts, kind, payload, received_ts) "
                              "VALUES (?, 'st-0', 1, 1.0, 'telemetry', '{}', 1.0)", (2**63 - 1,))
        rows = [("st-0", i, float(i), "telemetry", '{"v":1}', float(i), 3) for i in range(1, 41)]
        assert sorted(await storage.store_uplinks(rows)) == [("st-0", i) for i in range(2, 41)]
        assert await storage.count_uplinks() == 40
    finally:
        await storage.close()


@pytest.mark.parametrize("seed", range(12))
async def test_sqlite_store_uplinks_finds_the_few_resends_of_a_chunk(tmp_path: Any, seed: int) -> None:
    """SQLite: a chunk with a few resends among new rows (the usual chunk under QoS 1) says
    exactly which rows were new, reading a few rows by rowid instead of every new row back;
    resends anywhere (first, last, side by side, twice in the chunk)."""
    import random

    from heatkeeper.supervisor.storage import open_storage

    rnd = random.Random(seed)
    storage = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    await storage.open()
    try:
        def row(sid: str, seq: int) -> tuple[Any, ...]:
            return (sid, seq, float(seq), "telemetry", '{"v":1}', float(seq), 3)

        old = [row("st-%d" % (i % 9), i) for i in range(1, 301)]
        await storage.store_uplinks(old)
        chunk = [row("st-%d" % (i % 9), i) for i in range(301, 301 + rnd.randint(1, 400))]
        resends = rnd.sample(old, rnd.randint(1, max(1, len(chunk) // 20)))
        resends += rnd.sample(resends, rnd.randint(0, len(resends)))  # some twice
        for r in resends:
            chunk.insert(rnd.choice([0, len(chunk), rnd.randint(0, len(chunk))]), r)
        reads: list[str] = []
        writer = storage._writer.conn
        writer.set_trace_callback(reads.append)
        try:
            got = await storage.store_uplinks(chunk)
        finally:
            writer.set_trace_callback(None)
        assert sorted(got) == sorted((r[0], r[1]) for r in chunk if r[1] > 300)
        assert len(got) == len(set(got))
        assert await storage.count_uplinks() == 300 + sum(1 for r in chunk if r[1] > 300)
        by_rowid = sum("WHERE rowid = " in sql for sql in reads)
        read_back = sum("WHERE rowid > " in sql for sql in reads)
        if len(resends) * 16 < len(got):  # a few among many: bisected
            assert 0 < by_rowid <= 16 * len(resends) and read_back == 0, reads[:5]
        else:  # many: every new row read back at once
            assert by_rowid == 0 and read_back == 1, reads[:5]
    finally:
        await storage.close()


@pytest.mark.parametrize("extra", [{}, {"note": "\u00e9t\u00e9 \u4f9b\u6696"}, {"note": "\ud800"}, {"big": 2 ** 70},
                                   {"small": 5e-324, "huge": 1.7976931348623157e308, "neg": -0.0}])
def test_a_station_state_reads_back_as_it_was(extra: dict[str, Any]) -> None:
    """The state written with each slice (orjson when installed; the json module for what
    orjson cannot encode) reads back the same, numbers to the last bit."""
    import json
    import math

    from heatkeeper.supervisor.storage.base import state_row

    state = {"online": True, "status_ts": None, "last_seen_ts": 1796266591.8633506, "last_seq": 2 ** 63 - 1,
             "values": {"supply_c": 61.25, "pump1_running": 1.0, "f": 0.1 + 0.2, "n": 3}, "mode": "auto", "leases": {},
             "_equipment": {"window": [[1796265851.5724196, {"pump1_running": 1.0}]]}, **extra}
    text, last_seen, online, sid = state_row("st-1", state)
    back = json.loads(text)
    assert back == state and (sid, last_seen, online) == ("st-1", 1796266591.8633506, 1)
    if "neg" in extra:
        assert math.copysign(1.0, back["neg"]) == -1.0


@pytest.mark.parametrize("bad_at", [0, 37, 64, 70, 72, 99])
async def test_a_chunk_with_a_row_the_database_refuses_stores_nothing(storage: Any, bad_at: int) -> None:
    """A row the database refuses (a seq beyond 64 bits) anywhere in a chunk (SQLite stores a
    chunk several rows per statement) fails the whole chunk with an error the ingest reads as a
    refused row (it then stores the chunk row by row), and nothing of it is stored (both backends)."""
    from heatkeeper.supervisor.storage.base import refuses_row

    rows: list[tuple[Any, ...]] = [("st-%d" % (i % 7), i, float(i), "telemetry", '{"v":1}', float(i), 3) for i in range(1, 101)]
    rows[bad_at] = ("st-0", 2 ** 63, 1.0, "telemetry", '{"v":1}', 1.0, 3)
    with pytest.raises(Exception) as caught:  # noqa: B017 - the backend's own error
        await storage.store_uplinks(rows)
    assert refuses_row(caught.value)
    assert await storage.count_uplinks() == 0
    good = rows[:bad_at] + rows[bad_at + 1:]
    assert sorted(await storage.store_uplinks(good)) == sorted((r[0], r[1]) for r in good)


@pytest.mark.parametrize("count", [1, 7, 8, 9, 64, 65, 200])
async def test_aggregate_rows_add_up_however_many_in_one_write(storage: Any, count: int) -> None:
    """The 5-minute aggregates of one write (SQLite upserts them many rows per statement) add up
    as they would one row at a time, a key met twice in the same write included (both backends)."""
    rows = [("st-%d" % (i % 5), 300 * (i % 3), "f%d" % (i % 4), 1 + i % 2, float(i), float(-i), float(2 * i))
            for i in range(count)]
    rows += rows[: count // 3]  # the same keys again, later in the same write
    await storage.write_derived(rows, [], [], [], [], "sup", 1.0)
    await storage.write_derived(rows[:5], [], [], [], [], "sup", 2.0)
    want: dict[tuple[str, int, str], list[float]] = {}
    for sid, bucket, field, n, total, low, high in rows + rows[:5]:
        a = want.setdefault((sid, bucket, field), [0, 0.0, low, high])
        a[0] += n
        a[1] += total
        a[2], a[3] = min(a[2], low), max(a[3], high)
    got = {(r[0], int(r[1]), r[2]): [int(r[3]), float(r[4]), float(r[5]), float(r[6])]
           for r in await storage.fetch("SELECT station_id, bucket_ts, field, n, sum, min, max FROM agg_5m")}
    assert got == want


async def test_sqlite_keeps_a_statements_journal_in_memory(tmp_path: Any) -> None:
    """SQLite: an INSERT of many uplink rows keeps its own statement journal (to undo that
    statement alone) in memory; spilled to a temporary file it doubled the writes per chunk."""
    from heatkeeper.supervisor.storage import open_storage

    storage = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    await storage.open()
    try:
        assert storage._writer.conn.execute("PRAGMA temp_store").fetchone() == (2,)  # MEMORY
        assert storage._writer.conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL (test_sqlite_durable.py)
    finally:
        await storage.close()
