"""A throw-away PostgreSQL cluster on loopback, for the tests and the ingest benchmark.

It picks a free port, keeps everything in a temp dir (socket, data, log) and is stopped by
the object that started it (pg_ctl on its own data dir, never by name). When run as root,
PostgreSQL runs as the `postgres` system user (initdb refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

from heatkeeper.tools.procs import free_port

PG_BIN_DIRS = ["/usr/lib/postgresql/%d/bin" % v for v in (17, 16, 15, 14, 13)]


def pg_bin() -> str | None:
    for d in PG_BIN_DIRS:
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust auth on 127.0.0.1 only); `dsn(db)` for a database."""

    def __init__(self, durable: bool = False) -> None:
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
        opts = "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c max_connections=50" % (
            self.port, self.tmp)
        if not durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
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
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
