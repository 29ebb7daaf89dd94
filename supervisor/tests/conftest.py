"""Fixtures for the supervisor tests: a real PostgreSQL on loopback, storages of both backends,
real MQTT brokers (embedded amqtt, Mosquitto) on free ports.

`postgres_server` (session scope) runs Debian's initdb + pg_ctl into a temp dir, as the
`postgres` system user when the tests run as root, listening on 127.0.0.1 on a free port
with its unix socket in the temp dir; it is stopped (and the dir removed) at the end. The
tests skip with the reason when the PostgreSQL binaries are not installed.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.postgres import PG_BIN_DIRS, PostgresServer, pg_bin


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed (looked in %s); apt-get install postgresql"
                    % ", ".join(PG_BIN_DIRS))
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Any]:
    """An opened storage of each backend, empty."""
    from heatkeeper.supervisor.storage import open_storage

    if request.param == "sqlite":
        st = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    else:
        server = request.getfixturevalue("postgres_server")
        st = open_storage("postgres", dsn=await server.create_database())
    await st.open()
    try:
        yield st
    finally:
        await st.close()


@pytest.fixture
async def amqtt_broker() -> AsyncIterator[dict[str, Any]]:
    """Embedded amqtt broker on a free port with two users: supervisor/suppass1, st-a/stapass1."""
    from heatkeeper.supervisor.broker import EmbeddedBroker

    tmp = tempfile.mkdtemp(prefix="hk-amqtt-")
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp, {"supervisor": "suppass1", "st-a": "stapass1",
                                                          "st-b": "stbpass1"}, supervisor_user="supervisor")
    await broker.start()
    try:
        yield {"host": "127.0.0.1", "port": broker.port, "broker": broker}
    finally:
        await broker.stop()
        await asyncio.sleep(0)
        shutil.rmtree(tmp, ignore_errors=True)
