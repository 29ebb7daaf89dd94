"""The real `heatkeeper station` process: SIGKILL mid-run, restart from the snapshot, outbox
loses nothing across a broker outage and a power cut; the last will says "offline"."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.core import codec  # noqa: E402
from heatkeeper.tools.procs import Process  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until  # noqa: E402

from .station_setup import signed_command, station_toml  # noqa: E402

SID = "test-st"


def start_station(path: str, log_path: str) -> Process:
    """`heatkeeper station --config PATH` as a child process, its output appended to log_path."""
    return Process("station", [sys.executable, "-m", "heatkeeper.tools.cli", "station", "--config", path], log_path)


class StationRun:
    """A test's station process (`process`; `restart()` after a kill, same config and log) and
    the listener on the station's topics."""

    def __init__(self, path: str, data_dir: str, log_path: str, listener: Listener, raw: dict | None = None) -> None:
        self.path, self.data_dir, self.log_path, self.listener = path, data_dir, log_path, listener
        self.raw: dict = raw or {}  # the station config as written (signed_command needs its key)
        self.process = start_station(path, log_path)

    def restart(self) -> None:
        self.process = start_station(self.path, self.log_path)

    def log_text(self) -> str:
        with open(self.log_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")


@contextlib.asynccontextmanager
async def station_run(tmp_path: Any, mosquitto: Any, **sections: dict) -> AsyncIterator[StationRun]:
    """The station of `station_toml(tmp_path, mosquitto.port, **sections)` running, from its first
    telemetry on. Leaving normally, SIGTERM must stop it with status 0 and its log (of every
    start) must hold no Traceback; leaving on an error kills it."""
    path, raw = station_toml(tmp_path, mosquitto.port, **sections)
    async with Listener(mosquitto.port, codec.PREFIX + "stations/%s/#" % SID) as listener:
        run = StationRun(path, raw["station"]["data_dir"], str(tmp_path / "station.log"), listener, raw)
        try:
            await wait_until(lambda: listener.uplinks("telemetry"), timeout_s=30, what="first telemetry")
            yield run
            assert run.process.stop(timeout_s=20) == 0
        finally:
            run.process.kill()
    log_text = run.log_text()
    assert "Traceback" not in log_text, log_text[-3000:]


def pending(data_dir: str) -> tuple[int, int]:
    """(rows pending in the outbox, last assigned seq), read from the file the dead process left
    (rows up to `acked_through` were acknowledged and are only kept for a resend)."""
    db = sqlite3.connect(os.path.join(data_dir, "outbox.sqlite"))
    try:
        count = db.execute("SELECT COUNT(*) FROM outbox WHERE seq > (SELECT value FROM meta WHERE key='acked_through')"
                           ).fetchone()[0]
        last = db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0]
        return int(count), int(last)
    finally:
        db.close()


async def test_sigkill_restart_restores_snapshot_and_loses_nothing(tmp_path, mosquitto) -> None:
    async with station_run(tmp_path, mosquitto) as run:
        listener, data_dir = run.listener, run.data_dir
        now = time.time()
        topic, payload = signed_command(run.raw, "lease-1", "set_room_setpoint",
                                        {"room_setpoint_c": 20.0, "lease_s": 3600}, "operator", now, now + 600)
        await listener.publish(topic, payload)
        await wait_until(lambda: listener.uplinks("ack"), what="ack")
        assert listener.uplinks("ack")[0]["body"]["result"] == "applied"
        await asyncio.sleep(0.6)  # the applied command is saved at the end of the next cycle
        # 1. power cut while the broker is up: the last will says offline
        run.process.kill()
        await wait_until(lambda: any(t.endswith("/status") and p == b"offline" for t, p, _r in listener.messages),
                         what="last will 'offline'")
        run.restart()
        await wait_until(lambda: any(m["body"].get("kind") == "state_restored" for m in listener.uplinks("event")),
                         timeout_s=30, what="state_restored event")
        await wait_until(lambda: [t for t, p, _r in listener.messages if t.endswith("/status")][-1:] and
                         [p for t, p, _r in listener.messages if t.endswith("/status")][-1] == b"online",
                         what="online again")
        # the lease survived the power cut (restored from the snapshot)
        await wait_until(lambda: (listener.uplinks("telemetry")[-1]["body"]["values"].get("room_setpoint_lease_s") or 0) > 3000,
                         what="lease restored in telemetry")
        # 2. broker outage, then a power cut with a full outbox
        mosquitto.kill()
        await asyncio.sleep(2.5)
        run.process.kill()
        rows, last_seq = pending(data_dir)
        assert rows >= 2, "telemetry should have piled up during the outage"
        mosquitto.start()
        run.restart()
        await wait_until(lambda: pending(data_dir)[0] == 0, timeout_s=30, what="outbox drained after restart")
        await wait_until(lambda: {m["seq"] for m in listener.uplinks()} >= set(range(1, last_seq + 1)),
                         timeout_s=30, what="every seq up to %d at the listener" % last_seq)
        seen: dict[int, bytes] = {}
        for seq, body in listener.raw_uplinks():
            assert seen.setdefault(seq, body) == body, "seq %d resent with other content" % seq
        top = max(seen)
        assert sorted(seen) == list(range(1, top + 1)), "gaps in the sequence"


async def test_systemd_notify_ready_watchdog_stopping(tmp_path, mosquitto) -> None:
    """Type=notify: READY=1 once running, WATCHDOG=1 per cycle that made progress, STOPPING=1."""
    import socket

    path, _raw = station_toml(tmp_path, mosquitto.port)
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="3000000")
    log = open(tmp_path / "station.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "heatkeeper.tools.cli", "station", "--config", path],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    got: list[bytes] = []

    def drain() -> list[bytes]:
        while True:
            try:
                got.append(sock.recv(4096))
            except BlockingIOError:
                return got

    try:
        await wait_until(lambda: drain().count(b"WATCHDOG=1") >= 5, timeout_s=30, what="five watchdog feeds")
        assert got[0].startswith(b"READY=1")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        drain()
        assert got[-1] == b"STOPPING=1"
        # the journal's last word: stopped, its state saved, what waits in the outbox
        last = (tmp_path / "station.log").read_text(encoding="utf-8").strip().splitlines()[-1]
        assert re.search(r"station \S+ stopped after \d+ cycles: state saved, \d+ message\(s\) kept in the outbox", last), last
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        sock.close()


async def test_local_panel_port_taken_the_station_runs_on(tmp_path, mosquitto) -> None:
    """The local Modbus TCP port is held by another program: the station still controls and
    reports, says once that its local panel is unavailable, and stops cleanly."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        async with station_run(tmp_path, mosquitto, modbus_slave={"port": holder.getsockname()[1]}) as run:
            listener = run.listener
            await wait_until(lambda: [m for m in listener.uplinks("event") if m["body"].get("kind") == "local_panel_unavailable"],
                             timeout_s=30, what="local_panel_unavailable event")
            await wait_until(lambda: len(listener.uplinks("telemetry")) >= 3, timeout_s=30, what="telemetry goes on")
            assert run.process.proc.poll() is None, "the station died with its local panel"
            events = [m["body"] for m in listener.uplinks("event") if m["body"].get("kind") == "local_panel_unavailable"]
            assert len(events) == 1 and events[0]["reason"] == "bind_failed", events


async def test_supervisor_outdoor_replaces_a_dead_outdoor_sensor(tmp_path, mosquitto) -> None:
    """Every device is unreachable here, so the outdoor sensor is faulty: the city value the
    supervisor sends on .../down/outdoor becomes the controller's outdoor temperature."""
    async with station_run(tmp_path, mosquitto) as run:
        listener = run.listener
        first = listener.uplinks("telemetry")[-1]["body"]["values"]
        assert first.get("outdoor_source") != 1, first
        topic, payload = codec.encode_outdoor(SID, -23.5, time.time(), "fleet_median", 4)
        await listener.publish(topic, payload)

        def on_supervisor() -> bool:
            values = listener.uplinks("telemetry")[-1]["body"]["values"]
            return values.get("outdoor_source") == 1 and abs((values.get("outdoor_used_c") or 0.0) + 23.5) < 3.0

        await wait_until(on_supervisor, timeout_s=30, what="telemetry on the supervisor's outdoor value")
