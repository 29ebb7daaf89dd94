"""Scale-out through MQTT shared subscriptions on a real Mosquitto: a full supervisor and an
ingest-only process split the uplinks, store each exactly once in one database, and the
full supervisor still sees every command ack (acks are not shared)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve, serve_ingest_only
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


async def test_two_processes_share_the_uplinks(tmp_path: Any) -> None:
    port = free_port()
    mq = str(tmp_path / "mq")
    # users supervisor, supervisor-cmd, supervisor-ingest-1 and -2: one per connection
    creds = broker_config.write(mq, ["st-a"], port=port, as_root=os.geteuid() == 0, ingest_processes=2)
    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()

    def cfg() -> dict[str, Any]:
        return sup_config.validate({
            "supervisor": {"data_dir": str(tmp_path / "sup")},
            "broker": {"embedded": False},
            "mqtt": {"port": port, "protocol": "5", "shared_group": "hk",
                     "password_file": os.path.join(mq, "credentials", "supervisor.password")},
            "storage": {"batch_interval_s": 0.05},
            "web": {"enabled": False},
            "station": [{"id": "st-a"}],
        })

    full: list[SupervisorService] = []
    extra: list[SupervisorService] = []
    # Both at once: they create the one SQLite schema at the same instant.
    tasks = [asyncio.ensure_future(serve(cfg(), on_ready=full.append)),
             asyncio.ensure_future(serve_ingest_only(cfg(), 2, on_ready=extra.append))]
    try:
        await wait_until(lambda: full and extra, what="both processes ready")
        await wait_until(lambda: full[0].link.connected(), what="full supervisor connected")
        await asyncio.sleep(0.5)  # both subscriptions in place
        async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"], identifier="st-a") as st:
            await st.subscribe(codec.command_topic("st-a"), qos=1)
            now = time.time()
            for seq in range(1, 201):
                topic, payload = codec.encode_uplink("st-a", seq, codec.UP_TELEMETRY, now + seq,
                                                     {"values": {"outdoor_temp_c": -10.0}})
                await st.publish(topic, payload, qos=1)
            await wait_until(lambda: full[0].ingest.stored + extra[0].ingest.stored >= 200, what="200 uplinks stored")
            cid = await full[0].remote.send_command("st-a", "set_mode", {"mode": "auto"}, "olga")
            async for message in st.messages:
                cmd = codec.decode_command(message.topic.value, bytes(message.payload))  # type: ignore[arg-type]
                topic, payload = codec.encode_uplink("st-a", 201, codec.UP_ACK, time.time(),
                                                     codec.ack_body(cmd["id"], "applied", "ok", ""))
                await st.publish(topic, payload, qos=1)
                break
            await wait_until(lambda: _eq(full[0].remote.command_status(cid), "applied"), what="command applied")
        assert full[0].ingest.stored > 0 and extra[0].ingest.stored > 0
        await wait_until(lambda: _eq_value(full[0].storage.count_uplinks("st-a"), 201), what="201 uplinks in the database")
        await asyncio.sleep(0.3)
        assert await full[0].storage.count_uplinks("st-a") == 201
        assert extra[0].commands.stray_acks == 0  # ingest-only does not even receive acks
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.stop()


async def _eq(aw: Any, state: str) -> bool:
    return bool((await aw)["state"] == state)


async def _eq_value(aw: Any, expected: int) -> bool:
    return bool(await aw == expected)
