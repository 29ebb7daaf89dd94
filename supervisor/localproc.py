"""Throw-away PostgreSQL and Mosquitto servers on loopback, for tests and the ingest benchmark.

Both pick a free port, keep everything in a temp dir (sockets, data, logs) and are stopped
by the object that started them (by process id, never by name). When run as root,
PostgreSQL runs as the `postgres` system user (initdb refuses root) and Mosquitto gets
`user root` so it can read its root-owned files.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

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


class MosquittoServer:
    """Mosquitto started on a config file; stopped by its pid."""

    def __init__(self, conf_path: str, port: int, log_path: str) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            raise FileNotFoundError("mosquitto not installed (apt-get install mosquitto)")
        self.port = port
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([exe, "-c", conf_path], stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_port(port)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
