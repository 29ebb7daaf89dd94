"""TimescaleDB "used when installed", on the real PostgreSQL of the tests.

Where the extension is available, the aggregates and collector readings must become
hypertables; where it is not (Debian 12's own archive has no TimescaleDB package), the storage
must say so in the log and work on plain tables. The same test checks whichever is true here."""

from __future__ import annotations

import logging
from typing import Any

from heatkeeper.supervisor.storage.postgres import PostgresStorage


async def test_timescale_detection(postgres_server: Any, caplog: Any) -> None:
    dsn = await postgres_server.create_database()
    storage = PostgresStorage(dsn, use_timescale=True)
    with caplog.at_level(logging.INFO, logger="heatkeeper.supervisor.storage.postgres"):
        await storage.open()
    try:
        row = await storage.fetchone("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
        available = bool(row and row[0])
        if available:
            assert storage.timescale is True
            tables = {r[0] for r in await storage.fetch(
                "SELECT hypertable_name FROM timescaledb_information.hypertables")}
            assert {"agg_5m", "collector_readings"} <= tables
        else:
            assert storage.timescale is False
            assert "TimescaleDB is not installed: using plain PostgreSQL tables" in caplog.text
        # either way the storage works: an aggregate goes in and comes out
        await storage.upsert_aggregates([("st-a", 1_800_000_000, "outdoor_temp_c", 2, -40.0, -21.0, -19.0)])
        await storage.upsert_aggregates([("st-a", 1_800_000_000, "outdoor_temp_c", 1, -22.0, -22.0, -22.0)])
        rows = await storage.aggregates("st-a", ["outdoor_temp_c"], 1_800_000_000, 1_800_000_299)
        assert [tuple(r[2:]) for r in rows] == [(3, -62.0, -22.0, -19.0)]
    finally:
        await storage.close()
    # with the extension turned off in the configuration it is never touched
    plain = PostgresStorage(dsn, use_timescale=False)
    await plain.open()
    try:
        assert plain.timescale is False
    finally:
        await plain.close()
