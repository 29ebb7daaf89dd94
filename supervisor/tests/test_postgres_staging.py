"""PostgreSQL stores uplinks through a staging table of each connection's own (binary COPY, then
INSERT ... ON CONFLICT DO NOTHING RETURNING): batches stored at once on several connections each
get exactly their new keys, a staging table dropped under the storage (a pooler's DISCARD, a
reset) is made again instead of failing every later batch, and a role that may not make
temporary tables stores by arrays instead of stopping the ingest. Real PostgreSQL on loopback."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import pytest
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


async def test_a_role_that_may_not_make_temporary_tables_stores_by_arrays(postgres_server: Any,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    admin_dsn = await postgres_server.create_database()
    db = admin_dsn.rsplit("/", 1)[1]
    role = "hk_role_" + uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(admin_dsn)
    try:  # the supervisor's role owns its database, as the README sets it up, but its DBA took TEMPORARY away
        await conn.execute("CREATE ROLE %s LOGIN" % role)
        await conn.execute("ALTER DATABASE %s OWNER TO %s" % (db, role))
        await conn.execute("ALTER SCHEMA public OWNER TO %s" % role)
        await conn.execute("REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC, %s" % (db, role))
    finally:
        await conn.close()
    st = PostgresStorage(admin_dsn.replace("://%s@" % postgres_server.user, "://%s@" % role, 1), pool_size=2)
    await st.open()
    try:
        with caplog.at_level(logging.WARNING, logger="heatkeeper.supervisor.storage.postgres"):
            assert len(await st.store_uplinks(batch(1, 100))) == 100
            assert sorted(await st.store_uplinks(batch(11, 100))) == sorted((r[0], r[1]) for r in batch(21, 50))
        assert await st.count_uplinks() == 150
        assert [r.message for r in caplog.records if "GRANT TEMPORARY" in r.message][:1], caplog.text
    finally:
        await st.close()


async def test_processes_opening_a_fresh_database_at_once_all_start(postgres_server: Any) -> None:
    """The supervisor and its ingest processes start together on a new (or newly upgraded)
    database: each creates the schema it finds missing. Concurrent `CREATE ... IF NOT EXISTS`
    makes PostgreSQL answer "type ... already exists" to all but one, so the creation runs one
    opener at a time (an advisory lock), and every opener starts."""
    for _round in range(3):
        dsn = await postgres_server.create_database()
        openers = [PostgresStorage(dsn, pool_size=1) for _ in range(4)]
        results = await asyncio.gather(*(st.open() for st in openers), return_exceptions=True)
        try:
            assert [r for r in results if isinstance(r, BaseException)] == []
            assert await openers[0].count_uplinks() == 0
        finally:
            for st, result in zip(openers, results, strict=True):
                if not isinstance(result, BaseException):
                    await st.close()
