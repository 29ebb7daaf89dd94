"""End to end over the embedded broker: `serve()` with amqtt, a station client with its
generated credentials publishing telemetry (with duplicates and garbage), status, and
answering a command; the station's ACL keeps it out of another station's topics."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from typing import Any

import aiomqtt
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mqtt_listener import wait_until


async def test_station_to_supervisor_over_embedded_broker(tmp_path: Any) -> None:
    port = free_port()
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": port},
        "mqtt": {"port": port},
        "storage": {"batch_interval_s": 0.05},
        "web": {"enabled": False},
        "commands": {"timeout_s": 5},
        "station": [{"id": "st-a"}, {"id": "st-b"}],
    })
    ready: list[SupervisorService] = []
    task = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    try:
        await wait_until(lambda: ready, what="supervisor ready")
        service = ready[0]
        await wait_until(lambda: service.link.connected(), what="supervisor connected")
        with open(os.path.join(cfg["supervisor"]["data_dir"], "credentials", "st-a.password")) as fh:
            password = fh.read().strip()
        async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=password, identifier="st-a",
                                  protocol=aiomqtt.ProtocolVersion.V311) as station:
            await station.subscribe(codec.command_topic("st-a"), qos=1)
            await station.publish(codec.status_topic("st-a"), b"online", qos=1, retain=True)
            now = time.time()
            for seq in (1, 2, 3, 2, 3):
                topic, payload = codec.encode_uplink("st-a", seq, codec.UP_TELEMETRY, now + seq,
                                                     {"values": {"secondary_supply_temp_c": 50.0 + seq}})
                await station.publish(topic, payload, qos=1)
            await station.publish(codec.up_topic("st-a", "telemetry"), b"garbage", qos=1)
            # spoofing st-b: the ACL drops it silently
            topic, payload = codec.encode_uplink("st-b", 1, codec.UP_TELEMETRY, now, {"values": {}})
            await station.publish(topic, payload, qos=1)
            await wait_until(lambda: _eq(service.storage.count_uplinks("st-a"), 3), what="3 uplinks stored")
            cid = await service.remote.send_command("st-a", "set_mode", {"mode": "summer"}, "olga")
            async for message in station.messages:
                cmd = codec.decode_command(message.topic.value, bytes(message.payload))  # type: ignore[arg-type]
                assert cmd["id"] == cid and message.retain is False
                # signed with st-a's key, which `serve` made beside st-a's MQTT password (0600)
                key_path = os.path.join(cfg["supervisor"]["data_dir"], "credentials", "st-a.cmdkey")
                assert os.stat(key_path).st_mode & 0o777 == 0o600
                key = codec.parse_command_key(open(key_path).read())
                signed = codec.command_signing_bytes("st-a", cid, cmd["kind"], cmd["args"], cmd["user"], cmd["expires_ts"])
                assert cmd["sig"] == hmac.new(key, signed, hashlib.sha256).hexdigest()
                topic, payload = codec.encode_uplink("st-a", 4, codec.UP_ACK, time.time(),
                                                     codec.ack_body(cid, "applied", "ok", ""))
                await station.publish(topic, payload, qos=1)
                break
            await wait_until(lambda: _eq(_state(service, cid), "applied"), what="command applied")
        await asyncio.sleep(0.3)
        assert await service.storage.count_uplinks("st-b") == 0
        assert service.ingest.stats()["rejected"].get("bad_json") == 1
        detail = await service.fleet.station_detail("st-a")
        assert detail["status_online"] is True and detail["last_seq"] == 4
        assert (await service.accounts.list_users())[0]["username"] == "admin"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _eq(aw: Any, expected: Any) -> bool:
    return bool(await aw == expected)


async def _state(service: SupervisorService, cid: str) -> str:
    return str((await service.remote.command_status(cid))["state"])


async def test_subscribing_while_messages_flow_loses_no_broadcast(tmp_path: Any) -> None:
    # amqtt walks its subscription table across awaits: clients subscribing while messages
    # flow killed broadcast tasks ("dictionary changed size during iteration", 27 in a run of
    # this test before the embedded broker iterated a copy): the subscribers after that point
    # of the table missed the message. The watcher, subscribed first, must see every one.
    from heatkeeper.supervisor.broker import EmbeddedBroker

    errors: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(str(ctx.get("exception") or ctx.get("message"))))
    port = free_port()
    broker = EmbeddedBroker("127.0.0.1", port, str(tmp_path / "broker"), {"supervisor": "pw"})
    await broker.start()
    topic = codec.PREFIX + "stations/a/up/telemetry"
    stop = asyncio.Event()
    published: list[int] = []

    def client(name: str) -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", port, username="supervisor", password="pw", identifier=name,
                              protocol=aiomqtt.ProtocolVersion.V311)

    async def publisher() -> None:
        async with client("pub") as c:
            while not stop.is_set():
                await c.publish(topic, b"%d" % len(published), qos=1)
                published.append(1)

    async def subscriber(i: int) -> None:
        async with client("sub-%d" % i) as c:
            for k in range(40):
                await c.subscribe(codec.PREFIX + "stations/%d-%d/up/#" % (i, k), qos=1)
                await c.subscribe(topic, qos=1)

    try:
        async with client("watch") as watcher:
            await watcher.subscribe(topic, qos=1)
            pub = asyncio.ensure_future(publisher())
            await wait_until(lambda: len(published) > 20, what="messages flowing")
            await asyncio.gather(*[subscriber(i) for i in range(20)])
            stop.set()
            await pub
            received = 0
            async with asyncio.timeout(20):
                async for _message in watcher.messages:
                    received += 1
                    if received == len(published):
                        break
        assert received == len(published)
        assert not [e for e in errors if "changed size" in e], errors[:3]
    finally:
        loop.set_exception_handler(None)
        await broker.stop()
