"""A real station process and a real supervisor (in-process `serve`, SQLite) on a Mosquitto
configured by `broker-config` (credentials and ACLs as in production): after a power cut in
which the station's outbox is lost and its trend ring damaged, the supervisor keeps storing what
the station sends (nothing discarded as duplicates) and shows the `storage_corrupt` alarm."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
from typing import Any

import pytest

pytest.importorskip("heatkeeper.core.station")
pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"),
                                reason="mosquitto not installed (apt-get install mosquitto)")

from heatkeeper.supervisor import broker_config  # noqa: E402
from heatkeeper.supervisor import config as sup_config  # noqa: E402
from heatkeeper.supervisor.main import serve  # noqa: E402
from heatkeeper.supervisor.service import SupervisorService  # noqa: E402
from heatkeeper.tools.procs import Process, free_port  # noqa: E402
from heatkeeper.tools.testing.mosquitto import MosquittoServer  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import wait_until  # noqa: E402

from .station_setup import station_toml  # noqa: E402
from .test_station_process import start_station  # noqa: E402

SID = "test-st"


async def test_supervisor_stores_and_alarms_after_outbox_lost_and_trends_damaged(tmp_path: Any) -> None:
    port = free_port()
    mq = str(tmp_path / "mq")
    creds = broker_config.write(mq, [SID], port=port, as_root=os.geteuid() == 0)
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": False},
        "mqtt": {"port": port, "protocol": "5",
                 "password_file": os.path.join(mq, "credentials", "supervisor.password")},
        "storage": {"batch_interval_s": 0.05},
        "web": {"enabled": False},
        "station": [{"id": SID, "city": "Arxan"}],
    })
    pw = tmp_path / "station.password"
    pw.write_text(creds[SID])
    path, raw = station_toml(tmp_path, port, mqtt={"username": SID, "password_file": str(pw)})
    data_dir = raw["station"]["data_dir"]
    log_path = str(tmp_path / "station.log")
    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()
    ready: list[SupervisorService] = []
    sup = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    station: Process | None = None
    try:
        await wait_until(lambda: bool(ready) and ready[0].link.connected(), what="supervisor connected")
        service = ready[0]
        station = start_station(path, log_path)
        await wait_until(lambda: service.ingest.stored >= 8, timeout_s=30, what="first run stored")
        await wait_until(lambda: os.path.exists(os.path.join(data_dir, "state.a.json")), what="a first snapshot")
        station.kill()  # power cut; the card loses the outbox and damages the trend ring
        await asyncio.sleep(0.5)
        await service.ingest.flush()
        stored, duplicates = service.ingest.stored, service.ingest.duplicates
        for name in glob.glob(os.path.join(data_dir, "outbox.sqlite*")) + glob.glob(os.path.join(data_dir, "trends.sqlite*")):
            os.unlink(name)
        with open(os.path.join(data_dir, "trends.sqlite"), "wb") as fh:
            fh.write(os.urandom(4096))
        station = start_station(path, log_path)

        async def alarm_shown() -> bool:
            return any(a["code"] == "storage_corrupt" and a["active"] for a in await service.alarm_desk.alarms(SID))

        await wait_until(alarm_shown, timeout_s=30, what="storage_corrupt among the supervisor's active alarms")
        await wait_until(lambda: service.ingest.stored >= stored + 8, timeout_s=30, what="the new run stored")
        await service.ingest.flush()
        assert service.ingest.duplicates == duplicates, "messages of the new run were discarded as duplicates"
        alarm = next(a for a in await service.alarm_desk.alarms(SID) if a["code"] == "storage_corrupt")
        assert "trends.sqlite.corrupt-" in alarm["text"], alarm
        assert station.proc.poll() is None
        assert station.stop() == 0
        station = None
    finally:
        if station is not None:
            station.kill()
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
        server.stop()
    with open(log_path, "rb") as log_file:
        text = log_file.read().decode("utf-8", "replace")
    assert "Traceback" not in text, text[-3000:]
