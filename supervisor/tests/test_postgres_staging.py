"""PostgreSQL stores uplinks through a staging table of each connection's own (binary COPY, then
INSERT ... ON CONFLICT DO NOTHING RETURNING): batches stored at once on several connections each
get exactly their new keys, and a staging table dropped under the storage (a pooler's DISCARD,
a reset) is made again instead of failing every later batch. Real PostgreSQL on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

from heatkeeper.supervisor.storage.postgres import PostgresStorage


def batch(first_seq: int, count: int, stations: int = 5) -> list[tuple[Any, ...]]:
    return [("st-%d" % (i % stations), first_seq + i // stations, 1.8e9 + i, "telemetry", '{"v":1,"i":%d}' % i,
             1.8e9 + i, 7) for i in range(count)]


async def test_batches_stored_at_once_on_several_connections_each_get_their_new_keys(postgres_server: Any) -> None:
    st = PostgresStorage(await postgres_server.create_database(), pool_size=3)
    await st.open()
    try:
        # six batches at once, each overlapping the next by half: every key new exactly once
        batches = [batch(1 + 100 * k, 1000) for k in range(6)]
        got = await asyncio.gather(*(st.store_uplinks(b) for b in batches))
        every = [key for keys in got for key in keys]
        assert len(every) == len(set(every))
        assert set(every) == {(r[0], r[1]) for b in batches for r in b}
        assert await st.count_uplinks() == len(set(every)) == 5 * 700  # seqs 1..700 of 5 stations
        again = await asyncio.gather(*(st.store_uplinks(b) for b in batches))
        assert again == [[]] * 6  # all stored before: nothing new, nothing left staged
    finally:
        await st.close()


async def test_a_staging_table_dropped_under_the_storage_is_made_again(postgres_server: Any) -> None:
    st = PostgresStorage(await postgres_server.create_database(), pool_size=1)
    await st.open()
    try:
        assert len(await st.store_uplinks(batch(1, 50))) == 50
        await st.execute("DISCARD TEMP")  # the pool's one connection loses its staging table
        assert sorted(await st.store_uplinks(batch(11, 50))) == sorted((r[0], r[1]) for r in batch(11, 50))
        assert await st.count_uplinks() == 100
    finally:
        await st.close()
