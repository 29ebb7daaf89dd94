"""A power cut at the control centre while the database is down: the supervisor's embedded broker
(Mosquitto on `heatkeeper broker-config`'s settings: `autosave_interval 60`) has acknowledged a
station's messages and queued them for the supervisor's session, unsaved, when the machine dies.
The station's outbox had let them go at the acknowledgement; after the restart the station sends
what the broker acknowledged in its last `resend_after_reconnect_s` once more, and the database
ends up with every seq, each once.

Real processes and servers: `heatkeeper supervisor` (embedded Mosquitto, PostgreSQL behind a TCP
relay that is closed for the outage), SIGKILL of the broker and the supervisor, and the station's
own uplink (firmware/uplink.py) with its outbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.firmware.outbox import Outbox
from heatkeeper.firmware.tests.test_uplink import make_uplink, mqtt_cfg
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until
from heatkeeper.tools.testing.tcp_relay import tcp_relay

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


def _start(cfg_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the child writes it; closed with the test's tmp_path
    return subprocess.Popen([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(cfg_path)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def _stop(proc: subprocess.Popen[bytes], sig: int) -> int:
    """Signal the supervisor's process group and wait for it without blocking the loop (the
    database relay runs on it: a clean stop still writes through it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    return await asyncio.get_running_loop().run_in_executor(None, lambda: proc.wait(timeout=30))


async def test_a_control_centre_power_cut_during_a_database_outage_loses_nothing(
        tmp_path: Path, postgres_server: Any) -> None:
    dsn = await postgres_server.create_database()
    db_port = free_port()  # the supervisor's way to the database: a relay, closed for the outage
    mqtt_port = free_port()
    cfg_path = tmp_path / "supervisor.toml"
    cfg_path.write_text('[supervisor]\ndata_dir = "%s"\n[broker]\nembedded = true\nport = %d\n[mqtt]\nport = %d\n'
                        '[storage]\nbackend = "postgres"\ndsn = "%s"\nbatch_interval_s = 0.05\n[web]\nenabled = false\n'
                        '[[station]]\nid = "st-a"\n'
                        % (tmp_path / "sup", mqtt_port, mqtt_port, dsn.replace(":%d/" % postgres_server.port,
                                                                                  ":%d/" % db_port)), encoding="utf-8")
    log_path = tmp_path / "supervisor.log"
    storage = open_storage("postgres", dsn=dsn)
    box = Outbox(str(tmp_path / "outbox.sqlite"), "st-a")
    relay = await tcp_relay(db_port, postgres_server.port)
    proc = _start(cfg_path, log_path)
    link_task: asyncio.Task | None = None

    async def stored() -> list[int]:
        with contextlib.suppress(Exception):  # the schema appears with the supervisor's first start
            return [int(r[0]) for r in await storage.fetch("SELECT seq FROM uplinks WHERE station_id = 'st-a' "
                                                            "ORDER BY seq")]
        return []

    try:
        password = tmp_path / "sup" / "credentials" / "st-a.password"
        await wait_until(password.exists, timeout_s=30, what="the station's MQTT password written")
        await storage.open()
        link = make_uplink(box, mqtt_cfg(mqtt_port, username="st-a", password_file=str(password)), [])
        link_task = asyncio.create_task(link.run())
        box.put_many([("event", {"kind": "before", "i": i}, time.time()) for i in range(5)])  # seqs 1-5
        link.wake()

        async def first_five() -> bool:
            return await stored() == [1, 2, 3, 4, 5]

        await wait_until(first_five, timeout_s=30, what="the first five stored")
        # A clean stop (the broker saves the supervisor's session), then the database goes away and
        # the supervisor comes back without it: it waits, its broker takes the station's messages.
        assert await _stop(proc, signal.SIGTERM) == 0
        relay.close()
        await relay.wait_closed()
        proc = _start(cfg_path, log_path)
        await wait_until(lambda: "trying again in" in log_path.read_text(errors="replace"), timeout_s=30,
                         what="the supervisor waiting for its database")
        await wait_until(lambda: link.connected, timeout_s=30, what="the station back on the broker")
        box.put_many([("event", {"kind": "during", "i": i}, time.time()) for i in range(20)])  # seqs 6-25
        link.wake()
        await wait_until(lambda: len(box) == 0, timeout_s=30, what="the broker acknowledging all twenty")
        # The power cut: the broker and the supervisor die at once, the broker's queue unsaved (a
        # supervisor killed alone would have its broker stopped cleanly, which saves the queue).
        broker_pid = int(re.findall(r"embedded MQTT broker \(Mosquitto, pid (\d+)\)", log_path.read_text())[-1])
        os.kill(broker_pid, signal.SIGKILL)
        await _stop(proc, signal.SIGKILL)
        await wait_until(lambda: not link.connected, timeout_s=30, what="the station noticing")
        relay = await tcp_relay(db_port, postgres_server.port)  # power back, the database with it
        proc = _start(cfg_path, log_path)

        async def all_25() -> bool:
            return await stored() == list(range(1, 26))

        await wait_until(all_25, timeout_s=60, what="every seq stored after the restart")
        # (the station counts its resend once the broker has acknowledged all of it, which may be
        # after the supervisor has stored it)
        await wait_until(lambda: link.resent >= 5 + 25, what="the resends counted")  # after each drop
        count = await storage.fetchone("SELECT COUNT(*) FROM uplinks WHERE station_id = 'st-a'")
        assert count is not None and int(count[0]) == 25  # each once
    finally:
        if link_task is not None:
            link_task.cancel()
            await asyncio.gather(link_task, return_exceptions=True)
        if proc.poll() is None:
            await _stop(proc, signal.SIGTERM)
        relay.close()
        box.close()
        with contextlib.suppress(Exception):
            await storage.close()
