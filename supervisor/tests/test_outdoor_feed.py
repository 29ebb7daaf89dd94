"""The city outdoor temperature end to end on a real Mosquitto: stations report their sensors,
the supervisor sends each station of the city the median of the healthy ones, the station's
uplink (the firmware's own `Uplink`) hands it to a real `StationController`, which uses it
while its own sensor has failed. Stale values are ignored; garbage is rejected with a reason."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.core.station import StationController
from heatkeeper.firmware.config import MqttSection
from heatkeeper.firmware.outbox import Outbox
from heatkeeper.firmware.uplink import CommandGate, RecentAcks, Uplink
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.outdoor import OutdoorFeed
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())

SOURCE_SUPERVISOR = 1  # core.outdoor: the supervisor's value is in use


def test_median_of_healthy_fresh_sensors_per_city() -> None:
    now = 1_800_000_000.0
    stations = {s: {"city": c} for s, c in (("a", "arxan"), ("b", "arxan"), ("c", "arxan"), ("d", "arxan"),
                                            ("e", "arxan"), ("f", "hailar"))}
    state = {
        "a": {"values_received_ts": now - 10, "values": {"outdoor_temp_c": -20.0}},
        "b": {"values_received_ts": now - 10, "values": {"outdoor_temp_c": -22.0}},
        "c": {"values_received_ts": now - 10, "values": {"outdoor_temp_c": 5.0}},  # sun on the sensor: outvoted
        "d": {"values_received_ts": now - 5000, "values": {"outdoor_temp_c": -40.0}},  # too old
        "e": {"values_received_ts": now - 10, "values": {"outdoor_temp_c": -30.0, "outdoor_sensor_fault": 1}},
        "f": {"values_received_ts": now - 10, "values": {"outdoor_temp_c": -25.0}},  # alone in its city
    }
    feed = OutdoorFeed(stations, state, min_stations=2, max_sample_age_s=900.0, wall_clock=lambda: now)
    assert feed.city_values() == {"arxan": {"temp_c": -20.0, "stations": 3, "ts": now}}
    state["e"]["values"] = {"outdoor_temp_c": None}
    state["b"]["values"] = {"outdoor_temp_c": "cold"}
    assert feed.city_values()["arxan"]["stations"] == 2


async def test_city_outdoor_reaches_a_station_with_a_failed_sensor(tmp_path: Any) -> None:
    port = free_port()
    mq = str(tmp_path / "mq")
    sids = ["st-a", "st-b", "st-c", "st-x", "st-far"]
    creds = broker_config.write(mq, sids, port=port, as_root=os.geteuid() == 0)
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": False},
        "mqtt": {"port": port, "protocol": "5",
                 "password_file": os.path.join(mq, "credentials", "supervisor.password")},
        "storage": {"batch_interval_s": 0.05},
        "outdoor": {"interval_s": 1.0, "min_stations": 2},
        "web": {"enabled": False},
        "station": [{"id": s, "city": "Hailar" if s == "st-far" else "Arxan"} for s in sids],
    })
    ready: list[SupervisorService] = []
    # the station with the failed sensor: the firmware's uplink feeding a real controller
    ctl = StationController()
    ctl.step({"now_s": 0.0})
    t_mono0 = time.monotonic()
    events: list[dict[str, Any]] = []
    received: list[tuple[float, float]] = []

    def on_outdoor(temp_c: float, age_s: float) -> None:
        received.append((temp_c, age_s))
        ctl.set_supervisor_outdoor(temp_c, time.monotonic() - t_mono0 - age_s)

    pw = tmp_path / "st-x.password"
    pw.write_text(creds["st-x"])
    mcfg = MqttSection(enabled=True, host="127.0.0.1", port=port, protocol="5", username="st-x",
                       password_file=str(pw), tls_ca="", tls_cert="", tls_key="", keepalive_s=20,
                       session_expiry_s=3600, reconnect_min_s=0.1, reconnect_max_s=1.0, publish_timeout_s=10.0,
                       max_command_ttl_s=3600.0, command_users=(), require_subscriber=False)
    box = Outbox(str(tmp_path / "st-x-outbox.sqlite"), "st-x", max_messages=1000)
    gate = CommandGate("st-x", lambda cmd: {"result": "rejected", "reason": "test", "detail": ""}, mcfg, RecentAcks())
    link = Uplink("st-x", mcfg, box, gate, lambda readings: None, lambda kind, body: events.append(body),
                  on_outdoor=on_outdoor)
    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()
    sup = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    station_task = asyncio.ensure_future(link.run())
    try:
        await wait_until(lambda: bool(ready) and ready[0].link.connected(), what="supervisor connected")
        service = ready[0]
        now = time.time()
        fleet = {"st-a": -20.0, "st-b": -22.0, "st-c": -35.0, "st-x": None, "st-far": -25.0}
        for sid, temp in fleet.items():
            async with aiomqtt.Client("127.0.0.1", port, username=sid, password=creds[sid], identifier=sid + "-t",
                                      protocol=aiomqtt.ProtocolVersion.V5) as st:
                topic, payload = codec.encode_uplink(sid, 1, codec.UP_TELEMETRY, now, {"values": {"outdoor_temp_c": temp}})
                await st.publish(topic, payload, qos=1)
        await wait_until(lambda: received, what="outdoor value at the station")
        temp_c, age_s = received[-1]
        assert temp_c == -22.0 and 0.0 <= age_s < 10.0
        assert service.outdoor.last["Arxan"]["stations"] == 3 and "Hailar" not in service.outdoor.last
        ctl.step({"now_s": time.monotonic() - t_mono0})  # no outdoor reading: the sensor has failed
        assert ctl.chain.outdoor.source == SOURCE_SUPERVISOR
        assert ctl.chain.outdoor.supervisor_c == -22.0
        # stale and garbage values, sent as the supervisor would (the supervisor itself stopped)
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
        await asyncio.sleep(0.5)
        fresh = StationController()
        fresh.step({"now_s": 0.0})
        ctl = fresh
        t_mono0 = time.monotonic()
        n_before = len(received)
        async with aiomqtt.Client("127.0.0.1", port, username="supervisor",
                                  password=open(cfg["mqtt"]["password_file"]).read().strip(),
                                  identifier="sup-t", protocol=aiomqtt.ProtocolVersion.V5) as sup_client:
            topic, payload = codec.encode_outdoor("st-x", -18.0, time.time() - 5 * 3600, "fleet_median", 3)
            await sup_client.publish(topic, payload, qos=1)
            await sup_client.publish(codec.outdoor_topic("st-x"), b'{"v": 1, "ts": 1, "temp_c": "cold"}', qos=1)
        await wait_until(lambda: any(e.get("kind") == "outdoor_rejected" for e in events), what="outdoor_rejected event")
        rejected = next(e for e in events if e.get("kind") == "outdoor_rejected")
        assert rejected["reason"] == "bad_field"
        stale = [r for r in received[n_before:] if r[0] == -18.0]
        assert stale and stale[0][1] > 4 * 3600
        ctl.step({"now_s": time.monotonic() - t_mono0 + 1.0})
        assert ctl.chain.outdoor.source != SOURCE_SUPERVISOR  # older than supervisor_max_age_s: ignored
    finally:
        station_task.cancel()
        sup.cancel()
        await asyncio.gather(station_task, sup, return_exceptions=True)
        box.close()
        server.stop()
