"""The supervisor and a database it cannot reach at start (a box after a power cut: the
supervisor's unit may come up before PostgreSQL, or the network to the database server after
it): it waits, saying so at each try, and starts once the database answers; a stop while it
waits ends it cleanly; a database that refuses it (a wrong database name) is one line with the
reason and exit status 1, not a traceback.

The database is the real PostgreSQL of the session; "not reachable yet" is a port with nothing
behind it until a TCP relay to that PostgreSQL opens on it."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until
from heatkeeper.tools.testing.tcp_relay import tcp_relay

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


def _cfg(tmp_path: Path, dsn: str) -> dict[str, Any]:
    port = free_port()
    return sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": port, "ingest_processes": 1},
        "mqtt": {"port": port},
        "storage": {"backend": "postgres", "dsn": dsn},
        "web": {"enabled": False},
        "station": [{"id": "st-a"}],
    })


async def test_the_supervisor_waits_for_a_database_that_comes_up_later(
        tmp_path: Path, postgres_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    dsn = await postgres_server.create_database()
    late_port = free_port()
    cfg = _cfg(tmp_path, dsn.replace(":%d/" % postgres_server.port, ":%d/" % late_port))
    ready: list[SupervisorService] = []
    relay: asyncio.Server | None = None
    with caplog.at_level(logging.WARNING, logger="heatkeeper.supervisor"):
        task = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
        try:
            waits = lambda: [r.getMessage() for r in caplog.records if "trying again in" in r.getMessage()]  # noqa: E731
            await wait_until(lambda: len(waits()) >= 2 or task.done(), timeout_s=20, what="two tries logged")
            assert not task.done() and not ready  # waiting, not started, not dead
            assert waits()[0].startswith("cannot connect to PostgreSQL (postgresql://postgres@127.0.0.1:%d/" % late_port)
            assert "trying again in 1 s" in waits()[0] and "trying again in 2 s" in waits()[1], waits()
            relay = await tcp_relay(late_port, postgres_server.port)  # the database is reachable now
            await wait_until(lambda: ready or task.done(), timeout_s=20, what="supervisor ready")
            assert ready and not task.done()
            service = ready[0]
            assert [s["station_id"] for s in await service.storage.stations()] == ["st-a"]
            await wait_until(lambda: service.link.connected(), what="supervisor connected to its broker")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if relay is not None:
                relay.close()


def _supervisor(tmp_path: Path, dsn: str) -> subprocess.Popen[str]:
    cfg_path = tmp_path / "supervisor.toml"
    port = free_port()
    cfg_path.write_text('[supervisor]\ndata_dir = "%s"\n[broker]\nembedded = true\nport = %d\n[mqtt]\nport = %d\n'
                        '[storage]\nbackend = "postgres"\ndsn = "%s"\n[web]\nenabled = false\n[[station]]\nid = "st-a"\n'
                        % (tmp_path / "sup", port, port, dsn), encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(cfg_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_a_stop_while_waiting_for_the_database_ends_it_cleanly(tmp_path: Path) -> None:
    proc = _supervisor(tmp_path, "postgresql://heatkeeper@127.0.0.1:%d/heatkeeper" % free_port())
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "trying again in" in line:
                break
        assert "trying again in 1 s" in lines[-1], lines
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, rest
    assert "stopped while waiting for the database" in rest and "Traceback" not in rest, rest
    broker_left = subprocess.run(["pgrep", "-f", str(tmp_path / "sup")], capture_output=True, text=True).stdout.split()
    assert broker_left == [], broker_left  # the embedded broker went with it


async def test_a_database_that_refuses_the_supervisor_is_one_line_and_status_1(tmp_path: Path,
                                                                            postgres_server: Any) -> None:
    proc = _supervisor(tmp_path, postgres_server.dsn("no_such_database"))
    out = await asyncio.get_running_loop().run_in_executor(None, lambda: proc.communicate(timeout=60)[0])
    assert proc.returncode == 1, out
    assert "Traceback" not in out and "trying again" not in out, out
    assert ('supervisor: cannot connect to PostgreSQL (postgresql://postgres@127.0.0.1:%d/no_such_database): '
            'database "no_such_database" does not exist' % postgres_server.port) in out, out
    # the one-shot commands on the same file say the same, in one line
    cfg_path = tmp_path / "supervisor.toml"
    made = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(cfg_path),
                           "--create-user", "olga", "--role", "operator"], input="a-long-password-1\n",
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 1 and "Traceback" not in made.stderr, made.stderr
    assert made.stderr.startswith("supervisor: cannot connect to PostgreSQL ("), made.stderr
