"""Fixtures for the supervisor tests: a real PostgreSQL on loopback, storages of both backends,
real MQTT brokers (embedded amqtt, Mosquitto) on free ports.

`postgres_server` (session scope) runs Debian's initdb + pg_ctl into a temp dir, as the
`postgres` system user when the tests run as root, listening on 127.0.0.1 on a free port
with its unix socket in the temp dir; it is stopped (and the dir removed) at the end. The
tests skip with the reason when the PostgreSQL binaries are not installed.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

PG_BIN_DIRS = ["/usr/lib/postgresql/%d/bin" % v for v in (17, 16, 15, 14, 13)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout_s))


def pg_bin() -> str | None:
    for d in PG_BIN_DIRS:
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


class PostgresServer:
    """A throw-away PostgreSQL cluster; `dsn(db)` for a database in it."""

    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found in %s" % PG_BIN_DIRS)
        self.bindir = bindir
        self.tmp = tempfile.mkdtemp(prefix="hk-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.port = free_port()
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run([os.path.join(bindir, "initdb"), "-D", self.data, "-U", self.user, "-A", "trust", "-E", "UTF8",
                   "--no-sync"])
        opts = "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off " \
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50" % (self.port, self.tmp)
        self._run([os.path.join(bindir, "pg_ctl"), "-D", self.data, "-o", opts, "-l",
                   os.path.join(self.tmp, "pg.log"), "-w", "-t", "60", "start"])

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(self._as + cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%d): %s %s" % (cmd[0], proc.returncode, proc.stdout[-2000:],
                                                          proc.stderr[-2000:]))

    def dsn(self, db: str = "postgres") -> str:
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, db)

    async def create_database(self) -> str:
        import asyncpg

        name = "hk_" + uuid.uuid4().hex[:12]
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute("CREATE DATABASE %s" % name)
        finally:
            await conn.close()
        return self.dsn(name)

    def stop(self) -> None:
        try:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


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
