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
    await service.fleet_alarms.evaluate()  # the supervisor's alarm engine, as `serve` runs it
    alarms = json.loads(await (await client.get("/api/alarms")).text())
    assert any(a["station_id"] == "st-a" and a["code"] == "uplink_quarantined" for a in alarms["alarms"])


async def test_the_supervisors_own_alarm_is_acknowledged_without_a_command(client: TestClient,
                                                                          service: SupervisorService) -> None:
    """uplink_quarantined exists only on the supervisor: acknowledging it records and audits it
    there and sends the station nothing (it would refuse an unknown code; with no broker the
    acknowledgement used to fail with 503)."""
    now = time.time()
    hostile = json.dumps({"v": 1, "station": "st-a", "seq": 2 ** 63, "ts": now, "kind": "event", "body": {}}).encode()
    service.ingest.handle(codec.up_topic("st-a", codec.UP_EVENT), hostile)
    await service.ingest.flush()
    await service.fleet_alarms.evaluate()  # the supervisor's alarm engine, as `serve` runs it
    csrf = await login(client, "oli")
    resp = await client.post("/api/alarms/ack", headers={"X-CSRF-Token": csrf},
                             json={"station_id": "st-a", "code": "uplink_quarantined"})
    assert resp.status == 200, await resp.text()
    result = json.loads(await resp.text())["result"]
    assert result["command_id"] is None and result["recorded"]
    alarms = json.loads(await (await client.get("/api/alarms?station=st-a")).text())["alarms"]
    quarantined = next(a for a in alarms if a["code"] == "uplink_quarantined")
    assert quarantined["acked_by"] == "oli", quarantined
    assert await service.remote.recent_commands("st-a") == []
    audit = await service.audit_log.rows(limit=10)
    assert any(r["action"] == "ack_alarm" and r["user"] == "oli" and r["detail"] == "uplink_quarantined" for r in audit)
