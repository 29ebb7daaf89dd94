"""End to end: the real supervisor (`serve`: embedded broker, ingest, SQLite, web, notifier) and
a simulated station over MQTT whose pump trips. The station's alarm reaches the on-call
person's phone-like endpoint as the signed webhook; the person opens the link and acknowledges;
the acknowledgement travels to the station as its ack_alarm command, is recorded, and the
escalation is cancelled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from heatkeeper.firmware.tasks import cancel_and_wait
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.notify.webhook import verify
from heatkeeper.tools.procs import free_port

from ..web.station_responder import StationResponder
from .conftest import Receiver


async def wait_for(cond: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await cond() if asyncio.iscoroutinefunction(cond) else cond()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


async def test_station_alarm_reaches_the_webhook_and_the_link_acknowledges_it(tmp_path: Any,
                                                                             receiver: Receiver) -> None:
    import aiohttp

    broker_port, web_port = free_port(), free_port()
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": broker_port},
        "mqtt": {"port": broker_port},
        "storage": {"path": str(tmp_path / "sup.db"), "batch_interval_s": 0.05},
        "commands": {"timeout_s": 15.0},
        "web": {"port": web_port},
        "station": [{"id": "arxan-02", "name": "阿尔山 2 号站", "city": "Arxan"}],
        "notify": {"enabled": True, "base_url": "http://127.0.0.1:%d" % web_port, "poll_s": 0.3,
                   "escalate_min": {"major": 0.5, "critical": 0.5},
                   "channel": [{"name": "phone", "kind": "webhook", "url": receiver.url("/phone"), "secret": "k1"}],
                   "person": [{"id": "zhang", "name": "张工", "channels": ["phone"]},
                              {"id": "wang", "name": "王班长", "channels": ["phone"]}],
                   "rota": [{"area": "arxan", "stations": ["*"], "shifts": [["zhang"]], "leader": "wang"}]},
    })
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve(cfg, on_ready=ready.set_result))
    station = StationResponder("127.0.0.1", broker_port, "arxan-02", "", seed=2, faults=("pump_trip",))
    task = None
    try:
        service = await asyncio.wait_for(ready, 30)
        station.password = (tmp_path / "sup" / "credentials" / "arxan-02.password").read_text().strip()
        station.warm_up(2 * 3600.0)
        task = asyncio.ensure_future(station.run())
        await wait_for(lambda: receiver.seen, 30, "the alarm's webhook")
        req = receiver.seen[0]
        assert verify("k1", req.headers["X-Heatkeeper-Timestamp"], req.body, req.headers["X-Heatkeeper-Signature"])
        msg = req.json()
        assert msg["station_id"] == "arxan-02" and msg["person"]["id"] == "zhang" and msg["event"] == "raise"
        assert msg["station_name"] == "阿尔山 2 号站" and msg["ack_url"].startswith("http://127.0.0.1:%d/ack/" % web_port)
        code = msg["code"]
        async with aiohttp.ClientSession() as http:
            async with http.get(msg["ack_url"]) as page:
                assert page.status == 200 and 'id="ack-button"' in await page.text()
            async with http.post(msg["ack_url"]) as done:
                assert done.status == 200, await done.text()
                assert 'id="ack-done"' in await done.text()
        # the station got the acknowledgement as a command and applied it
        await wait_for(lambda: any(a["result"] == "applied" for a in station.applied), 15, "the station's ack")
        rows = {r["code"]: r for r in await service.storage.alarm_rows("arxan-02", False)}
        assert rows[code]["acked_by"] == "notify:zhang"
        # the escalation due 30 s after the alarm is cancelled (the fake-clock tests show it never comes)
        (inc,) = [i for i in await service.storage.incidents(20) if i["code"] == code]
        assert inc["acked_by"] == "notify:zhang" and inc["next_escalation_ts"] is None and inc["level"] == 0
        assert inc["acked_ts"] >= inc["since_ts"]
        assert [r.json()["code"] for r in receiver.seen].count(code) == 1
    finally:
        await cancel_and_wait([t for t in (task, server) if t is not None])  # a dropped cancel is repeated
