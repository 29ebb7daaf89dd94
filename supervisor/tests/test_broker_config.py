"""`heatkeeper broker-config` against a real Mosquitto: the password file is accepted, bad
passwords refused, and the ACL really confines each station. ACL denials are silent, so the
checks subscribe as the supervisor (or the other station) and see that nothing arrives."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor.localproc import MosquittoServer, free_port

pytestmark = pytest.mark.skipif(shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"),
                                reason="mosquitto not installed (apt-get install mosquitto)")


def test_cli_rejects_bad_stations(tmp_path: Any, capsys: Any) -> None:
    parser = argparse.ArgumentParser()
    broker_config.add_arguments(parser)
    args = parser.parse_args(["--stations", "ok-1,bad/id,supervisor,ok-1", "--out", str(tmp_path)])
    assert broker_config.run(args) == 2
    err = capsys.readouterr().err
    assert "bad/id" in err and "reserved" in err and "repeat" in err
    assert not os.path.exists(tmp_path / "mosquitto.conf")


def test_hash_format_is_stable() -> None:
    h = broker_config.mosquitto_hash("secret", salt=b"0123456789ab")
    assert h.startswith("$7$101$") and h == broker_config.mosquitto_hash("secret", salt=b"0123456789ab")


async def _collect(client: aiomqtt.Client, into: list[tuple[str, bytes]], stop: asyncio.Event) -> None:
    async for message in client.messages:
        into.append((message.topic.value, bytes(message.payload)))  # type: ignore[arg-type]
        if message.topic.value.endswith("/marker") or b"marker" in bytes(message.payload):  # type: ignore[arg-type]
            stop.set()


async def test_mosquitto_acl_confines_stations(tmp_path: Any) -> None:
    port = free_port()
    out = str(tmp_path / "mq")
    creds = broker_config.write(out, ["st-a", "st-b"], port=port, as_root=os.geteuid() == 0)
    text = open(os.path.join(out, "mosquitto.conf")).read()
    for line in ("per_listener_settings false", "allow_anonymous false", "persistence true"):
        assert line in text
    server = MosquittoServer(os.path.join(out, "mosquitto.conf"), port, os.path.join(out, "stdout.log"))
    try:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, username="st-a", password="wrong", identifier="x1"):
                pass
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, identifier="anon"):
                pass
        sup_seen: list[tuple[str, bytes]] = []
        b_seen: list[tuple[str, bytes]] = []
        sup_done, b_done = asyncio.Event(), asyncio.Event()
        async with aiomqtt.Client("127.0.0.1", port, username="supervisor", password=creds["supervisor"],
                                  identifier="sup", protocol=aiomqtt.ProtocolVersion.V5) as sup, \
                aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"], identifier="st-a") as sa, \
                aiomqtt.Client("127.0.0.1", port, username="st-b", password=creds["st-b"], identifier="st-b") as sb:
            await sup.subscribe("heatkeeper/v1/#", qos=1)
            await sb.subscribe(codec.PREFIX + "stations/st-b/down/#", qos=1)
            # st-a tries to read st-b's commands: the SUBACK says granted, nothing will arrive
            await sa.subscribe(codec.PREFIX + "stations/st-b/down/#", qos=1)
            a_seen: list[tuple[str, bytes]] = []
            a_done = asyncio.Event()
            tasks = [asyncio.ensure_future(_collect(sup, sup_seen, sup_done)),
                     asyncio.ensure_future(_collect(sb, b_seen, b_done)),
                     asyncio.ensure_future(_collect(sa, a_seen, a_done))]
            # spoofs by st-a: as st-b on uplink and status, a command to st-b, a collector reading
            spoof_topic, spoof = codec.encode_uplink("st-b", 1, codec.UP_TELEMETRY, 1.0, {"values": {}})
            await sa.publish(spoof_topic, spoof, qos=1)
            await sa.publish(codec.status_topic("st-b"), b"offline", qos=1, retain=True)
            await sa.publish(codec.command_topic("st-b"), b"spoofed-command", qos=1)
            await sa.publish(codec.collector_topic("c1"), b"spoofed-reading", qos=1)
            # st-a's own message, then the supervisor's command to st-b (markers)
            own_topic, own = codec.encode_uplink("st-a", 1, codec.UP_TELEMETRY, 1.0, {"values": {"marker": 1}})
            await sa.publish(own_topic, own, qos=1)
            await asyncio.wait_for(sup_done.wait(), 5)
            await sup.publish(codec.command_topic("st-b"), b"real-command marker", qos=1)
            await asyncio.wait_for(b_done.wait(), 5)
            await asyncio.sleep(0.3)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        topics = [t for t, _p in sup_seen]
        assert own_topic in topics
        assert spoof_topic not in topics and codec.status_topic("st-b") not in topics
        assert codec.collector_topic("c1") not in topics
        assert all(p != b"spoofed-command" for _t, p in sup_seen + b_seen)
        assert [p for _t, p in b_seen] == [b"real-command marker"]
        assert a_seen == []
    finally:
        server.stop()
