"""The quarantine on the dashboard: the JSON API and the page show what a station sent that was
kept aside, with its reason, to any logged-in user; markup in a payload is shown, never run."""

from __future__ import annotations

import json
import time

from aiohttp.test_utils import TestClient
from heatkeeper.core import codec
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login


async def test_quarantined_uplinks_are_listed_with_their_reason(client: TestClient, service: SupervisorService) -> None:
    assert (await client.get("/api/quarantine")).status == 401
    now = time.time()
    topic = codec.up_topic("st-a", codec.UP_ALARM)
    hostile = json.dumps({"v": 1, "station": "st-a", "seq": 1, "ts": now, "kind": "alarm",
                          "body": {"code": "<script>x\u0000</script>"}}).encode()
    assert service.ingest.handle(topic, hostile) == "rejected:bad_text"
    good = codec.encode_uplink("st-b", 1, codec.UP_TELEMETRY, now, {"values": {"outdoor_temp_c": -5.0}})
    assert service.ingest.handle(*good) == "queued"
    await login(client, "vic")
    resp = await client.get("/api/quarantine")
    assert resp.status == 200
    data = json.loads(await resp.text())
    assert [(r["station_id"], r["reason"], r["topic"]) for r in data["rows"]] == [("st-a", "bad_text", topic)]
    assert data["counts"] == {"bad_text": 1} and "<script>" in data["rows"][0]["payload"]
    assert json.loads(await (await client.get("/api/quarantine?station=st-b")).text())["rows"] == []
    assert (await client.get("/api/quarantine?station=no%20such")).status == 400
    assert (await client.get("/api/quarantine?limit=0")).status == 400
    assert (await client.get("/api/quarantine?station=zz")).status == 404
    page = await client.get("/quarantine")
    assert page.status == 200
    text = await page.text()
    assert "bad_text" in text and "&lt;script&gt;" in text and "<script>x" not in text
    alarms = json.loads(await (await client.get("/api/alarms")).text())
    assert any(a["station_id"] == "st-a" and a["code"] == "uplink_quarantined" for a in alarms["alarms"])
