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
