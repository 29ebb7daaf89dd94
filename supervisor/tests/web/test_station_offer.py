"""The command form follows what the station reports it accepts now: routes against the real
service and SQLite, fed with the telemetry a real StationController publishes (its record
plus core.command_handler.offer), through the real ingest."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from heatkeeper.core import codec, command_handler
from heatkeeper.core.station import StationController
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login


async def publish(service: SupervisorService, sid: str, seq: int, ctl: StationController | None,
                  **more: Any) -> None:
    """One telemetry sample of `ctl` (none: a station that reports no offer) through the ingest."""
    values: dict[str, Any] = {"secondary_supply_temp_c": 41.0, **more}
    if ctl is not None:
        values.update(ctl.telemetry({}, {"mode": ctl.modes.mode, "supply_setpoint_c": 39.0}))
        values.update(command_handler.offer(ctl))
    topic, payload = codec.encode_uplink(sid, seq, codec.UP_TELEMETRY, service.clock(), {"values": values})
    assert service.ingest.handle(topic, payload) == "queued"
    await service.ingest.flush(force_aggregates=True)


async def send(client: TestClient, csrf: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/stations/st-a/commands", headers={"X-CSRF-Token": csrf}, json=body)
    return resp.status, await resp.json()


async def test_the_offer_is_the_stations_mode_and_limits(client: TestClient, service: SupervisorService) -> None:
    ctl = StationController()  # auto, the default limits: room 16-24, supply 20-90 degC
    await publish(service, "st-a", 1, ctl)
    csrf = await login(client, "oli")
    offer = (await (await client.get("/api/stations/st-a")).json())["station"]["offer"]
    assert offer["reported"] is True and offer["mode"] == "auto"
    assert "set_supply_setpoint" not in offer["permitted"] and "set_room_setpoint" in offer["permitted"]
    assert offer["args"]["set_room_setpoint"]["room_setpoint_c"] == ["degC", 16.0, 24.0]
    assert offer["args"]["set_supply_setpoint"]["supply_setpoint_c"] == ["degC", 20.0, 90.0]
    assert offer["args"]["boost"]["boost_k"] == ["K", 0.0, 10.0]
    assert offer["lease_s"] == [60.0, 86400.0, 3600.0]
    assert "manual" not in offer["modes"] and "auto" not in offer["modes"] and "remote" in offer["modes"]
    assert offer["clearable"] == ["all"]

    # what the station would refuse is refused here, with the reason, and nothing is sent
    status, body = await send(client, csrf, {"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": 52},
                                             "lease_s": 1800})
    assert status == 400 and "not_permitted_in_mode" in body["reason"] and "auto" in body["reason"]
    status, body = await send(client, csrf, {"kind": "set_room_setpoint", "args": {"room_setpoint_c": 27},
                                             "lease_s": 1800})
    assert status == 400 and body["reason"] == "room_setpoint_c=27 degC: must be in [16, 24]"
    status, body = await send(client, csrf, {"kind": "set_room_setpoint", "args": {"room_setpoint_c": 21},
                                             "lease_s": 30 * 86400})
    assert status == 400 and "lease_s" in body["reason"] and "86400" in body["reason"]
    status, body = await send(client, csrf, {"kind": "set_mode", "args": {"mode": "manual"}})
    assert status == 400 and "local panel" in body["reason"]
    assert await service.remote.recent_commands("st-a") == []

    # in remote the supply setpoint is offered, up to the station's 90 degC
    assert ctl.handle_command({"kind": "set_mode", "args": {"mode": "remote"}}, 0.0)["result"] == "applied"
    await publish(service, "st-a", 2, ctl)
    offer = (await (await client.get("/api/stations/st-a")).json())["station"]["offer"]
    assert "set_supply_setpoint" in offer["permitted"] and offer["mode"] == "remote"
    status, body = await send(client, csrf, {"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": 95},
                                             "lease_s": 1800})
    assert status == 400 and body["reason"] == "supply_setpoint_c=95 degC: must be in [20, 90]"
    status, body = await send(client, csrf, {"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": 52},
                                             "lease_s": 1800})
    assert status == 202, body


async def test_a_lease_is_served_in_words_terms(client: TestClient, service: SupervisorService) -> None:
    ctl = StationController()
    ctl.handle_command({"kind": "set_mode", "args": {"mode": "remote"}}, 0.0)
    ctl.handle_command({"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": 52.0, "lease_s": 1800}}, 0.0)
    await publish(service, "st-a", 1, ctl)
    await login(client, "vic")
    station = (await (await client.get("/api/stations/st-a")).json())["station"]
    lease = station["leases"]["supply_setpoint"]
    assert list(station["leases"]) == ["supply_setpoint"]
    assert lease["value"] == 52.0 and lease["remaining_s"] == 1800.0 and lease["rate_k_per_h"] == 12.0
    assert lease["arrives"] is False and abs(lease["at_end_c"] - 45.0) < 1e-9
    assert abs(lease["arrival_s"] - 3900.0) < 1e-6
    assert station["offer"]["clearable"] == ["supply_setpoint", "all"]


async def test_a_station_that_reports_no_offer_gets_the_dashboards_bounds(client: TestClient,
                                                                          service: SupervisorService) -> None:
    await publish(service, "st-a", 1, None, mode=3)
    csrf = await login(client, "oli")
    offer = (await (await client.get("/api/stations/st-a")).json())["station"]["offer"]
    assert offer["reported"] is False and "set_supply_setpoint" in offer["permitted"]
    assert offer["args"]["set_room_setpoint"]["room_setpoint_c"] == ["degC", 10.0, 28.0]
    status, _ = await send(client, csrf, {"kind": "set_room_setpoint", "args": {"room_setpoint_c": 27}, "lease_s": 600})
    assert status == 202  # the station has the last word


async def test_the_fleet_row_names_its_alarms(client: TestClient, service: SupervisorService) -> None:
    now = service.clock()
    for seq, (code, severity) in enumerate((("makeup_leak_rate", "warning"), ("pump1_fault", "major")), start=1):
        topic, payload = codec.encode_uplink("st-a", seq, codec.UP_ALARM, now + seq, {
            "code": code, "severity": severity, "state": "active", "text": code, "value": 3.5})
        service.ingest.handle(topic, payload)
    await service.ingest.flush(force_aggregates=True)
    await login(client, "vic")
    fleet = (await (await client.get("/api/stations")).json())["stations"]
    row = [s for s in fleet if s["station_id"] == "st-a"][0]
    assert [a["code"] for a in row["alarms"]] == ["pump1_fault", "makeup_leak_rate"]  # worst first
    assert row["alarms"][0]["since_ts"] == now + 2 and row["active_alarms"] == 2
    assert [s["alarms"] for s in fleet if s["station_id"] == "st-b"] == [[]]
