"""End to end on a real Mosquitto (config from `broker_config`) and both storage backends: one
station sends every hostile uplink of the security review while another station's messages are
all stored and acknowledged within seconds, and the hostile ones end in the quarantine with an
alarm for the station that sent them. The acknowledgement is checked the way the broker sees it:
a second supervisor with the same persistent session receives nothing again."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer
from heatkeeper.tools.testing.mqtt_listener import wait_until

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"),
                                reason="mosquitto not installed (apt-get install mosquitto)")

GOOD_MESSAGES = 60  # from st-b


def up(sid: str, seq: Any, kind: str, ts: Any, body: dict[str, Any]) -> tuple[str, bytes]:
    return codec.up_topic(sid, kind), json.dumps({"v": 1, "station": sid, "seq": seq, "ts": ts, "kind": kind,
                                                  "body": body}).encode()


def sample(sid: str, seq: Any, ts: Any, supply_c: Any, **more: Any) -> tuple[str, bytes]:
    return up(sid, seq, codec.UP_TELEMETRY, ts, {"values": {"secondary_supply_temp_c": supply_c, **more}})


def hostile(now: float) -> list[tuple[tuple[str, bytes], str]]:
    """(uplink from st-a, the reason it is quarantined under); st-a's seq 1 is an ordinary sample."""
    return [
        (sample("st-a", 2 ** 63, now, 51.0), "bad_field"),
        (up("st-a", 2, codec.UP_ALARM, now, {"code": "x\u0000y", "state": "active"}), "bad_text"),
        (up("st-a", 3, codec.UP_TELEMETRY, now, {"values": {"a\u0000b": 1.0}}), "bad_field_name"),
        (sample("st-a", 4, now, float("nan")), "bad_number"),
        (sample("st-a", 5, 1e300, 51.0), "bad_field"),
        (sample("st-a", 6, float("inf"), 51.0), "bad_field"),
        (sample("st-a", 7, now, 10 ** 400), "bad_number"),
        (sample("st-a", 8, 4_102_444_800.0, -30.0, outdoor_temp_c=-30.0), "ts_out_of_window"),
        (up("st-a", 9, codec.UP_TELEMETRY, now, {"values": {"f%04d" % i: 1.0 for i in range(4000)}}),
         "too_many_fields"),
        ((codec.up_topic("st-a", codec.UP_TELEMETRY), b"\x00\xff not json"), "bad_json"),
        (up("st-a", 1, codec.UP_ALARM, now + 1, {"code": "secondary_overtemp", "state": "active"}),
         "sequence_regression"),  # an outbox recreated: seq 1 again, other content
    ]


async def _run_until_ready(cfg: dict[str, Any]) -> tuple[asyncio.Future[Any], SupervisorService]:
    ready: list[SupervisorService] = []
    task = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    await wait_until(lambda: task.done() or (bool(ready) and ready[0].link.connected()),
                     what="supervisor connected")
    if task.done():
        task.result()  # raises what stopped it
    return task, ready[0]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_hostile_station_holds_back_no_other(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    dsn = ""
    if backend == "postgres":
        dsn = await request.getfixturevalue("postgres_server").create_database()
    port = free_port()
    mq = str(tmp_path / "mq")
    creds = broker_config.write(mq, ["st-a", "st-b"], port=port, as_root=os.geteuid() == 0)
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": False},
        "mqtt": {"port": port, "protocol": "5", "client_id": "sup-isolation",
                 "password_file": os.path.join(mq, "credentials", "supervisor.password")},
        "storage": {"backend": backend, "dsn": dsn, "batch_interval_s": 0.05},
        "outdoor": {"enabled": False},
        "web": {"enabled": False},
        "station": [{"id": "st-a", "city": "Arxan"}, {"id": "st-b", "city": "Arxan"}],
    })
    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()
    sup: asyncio.Future[Any] | None = None
    try:
        sup, svc = await _run_until_ready(cfg)
        now = time.time()
        bad = hostile(now)
        async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"], identifier="st-a",
                                  protocol=aiomqtt.ProtocolVersion.V5) as a, \
                aiomqtt.Client("127.0.0.1", port, username="st-b", password=creds["st-b"], identifier="st-b",
                               protocol=aiomqtt.ProtocolVersion.V5) as b:
            await a.publish(*sample("st-a", 1, now - 1, 50.0), qos=1)  # an earlier sample in the bucket
            t_start = asyncio.get_running_loop().time()
            for seq in range(1, GOOD_MESSAGES + 1):
                if seq <= len(bad):
                    await a.publish(*bad[seq - 1][0], qos=1)
                if seq % 10 == 0:
                    await b.publish(*up("st-b", seq, codec.UP_ALARM, now + seq * 0.01,
                                        {"code": "leak", "severity": "critical", "state": "active"}), qos=1)
                else:
                    await b.publish(*sample("st-b", seq, now + seq * 0.01, 60.0 + seq), qos=1)
            await a.publish(*sample("st-a", 20, now + 1, 52.0), qos=1)  # and st-a carries on as usual

        async def all_of_b_stored() -> bool:
            return await svc.storage.count_uplinks("st-b") == GOOD_MESSAGES

        await wait_until(all_of_b_stored, timeout_s=10.0, what="every uplink of st-b stored")
        took_s = asyncio.get_running_loop().time() - t_start
        assert took_s < 10.0

        async def all_of_a_kept() -> bool:
            return len(await svc.storage.quarantine_rows("st-a", 100)) == len(bad)

        await wait_until(all_of_a_kept, timeout_s=10.0, what="every hostile uplink of st-a quarantined")
        await wait_until(lambda: svc.ingest.stats()["pending"] == 0 and svc.ingest.stats()["quarantine_pending"] == 0,
                         what="nothing left queued")
        rows = await svc.storage.quarantine_rows("st-a", 100)
        assert sorted(r["reason"] for r in rows) == sorted(reason for _msg, reason in bad)

        async def both_of_a_stored() -> bool:  # its last sample may still be on its way (published
            return await svc.storage.count_uplinks("st-a") == 2  # returns at the broker's ack)

        await wait_until(both_of_a_stored, timeout_s=10.0, what="st-a's two good uplinks stored")
        detail_b = await svc.fleet.station_detail("st-b")
        assert detail_b["values"]["secondary_supply_temp_c"] == 60.0 + GOOD_MESSAGES - 1
        assert (await svc.fleet.station_detail("st-a"))["values"]["secondary_supply_temp_c"] == 52.0
        active = {(x["station_id"], x["code"]) for x in await svc.alarm_desk.alarms()}
        assert {("st-b", "leak"), ("st-a", "uplink_quarantined"), ("st-a", "sequence_regression")} <= active
        await svc.ingest.flush(force_aggregates=True)
        aggs = await svc.storage.aggregates("st-b", ["secondary_supply_temp_c"], now - 600, now + 600)
        assert sum(r[2] for r in aggs) == GOOD_MESSAGES - GOOD_MESSAGES // 10
        # acknowledged to the broker: the same persistent session, reopened, gets nothing again
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
        sup, svc2 = await _run_until_ready(cfg)
        await asyncio.sleep(2.0)
        assert svc2.ingest.received == 0
        assert await svc2.storage.count_uplinks("st-b") == GOOD_MESSAGES
    finally:
        if sup is not None:
            sup.cancel()
            await asyncio.gather(sup, return_exceptions=True)
        server.stop()
