"""`serve()` runs the scheduler of the reports to the authority when [authority_reports] enabled
= true: a period left pending in the database (the supervisor stopped before sending it) is
delivered to a real loopback HTTP endpoint by the first pass after the start."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from heatkeeper.supervisor import authority_reports_schedule as schedule
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.notify.webhook import verify
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until

from .notify.conftest import Receiver, receiver  # noqa: F401 - the loopback HTTP server fixture

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


async def test_serve_delivers_a_pending_report(tmp_path: Any, receiver: Receiver) -> None:  # noqa: F811
    port = free_port()
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": port},
        "mqtt": {"port": port},
        "web": {"enabled": False},
        "station": [{"id": "st-a"}],
        "authority_reports": {"enabled": True, "http_url": receiver.url("/push"), "http_secret": "s-1",
                              "poll_s": 0.5},
    })
    now = time.time()
    (start, end), = schedule.recent(cfg["authority_reports"], "hourly", now, 1)
    storage = open_storage("sqlite", path=cfg["storage"]["path"])
    await storage.open()
    try:
        await storage.resend_report("hourly", end, ["http"], start, now)
    finally:
        await storage.close()
    ready: list[SupervisorService] = []
    task = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    try:
        await wait_until(lambda: bool(receiver.seen) or task.done(), timeout_s=20, what="the report pushed")
        assert not task.done()
        seen = receiver.seen[0]
        assert verify("s-1", seen.headers["X-Heatkeeper-Timestamp"], seen.body, seen.headers["X-Heatkeeper-Signature"])
        body = json.loads(seen.body)
        assert body["report"] == "hourly" and body["rows"][0][:3] == ["", body["rows"][0][1], "st-a"]

        async def delivered() -> bool:
            return [d["state"] for d in await ready[0].storage.report_deliveries()] == ["delivered"]

        await wait_until(delivered, timeout_s=10, what="the delivery recorded")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
