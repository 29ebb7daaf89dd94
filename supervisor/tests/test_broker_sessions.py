"""No credential may take over another's session, and the broker keeps its limits: against real
Mosquitto from `broker-config`'s files ("generated") and against the supervisor's embedded
default ("embedded", the Mosquitto child `heatkeeper supervisor` starts itself), the same tests.

A takeover used to work: any station's credential could connect with the supervisor's client id,
kick it off and discard its persistent session (the queued uplinks, already deleted from the
stations' outboxes, were lost), and the same against another station dropped its commands."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor import config as sup_config
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())

STATIONS = ["st-a", "st-b"]


@pytest.fixture(params=["generated", "embedded"])
async def broker(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[dict[str, Any]]:
    """{"port", "creds"} of a running Mosquitto: broker-config's files, or the embedded default."""
    port = free_port()
    if request.param == "generated":
        out = str(tmp_path / "mq")
        creds = broker_config.write(out, STATIONS, port=port, as_root=os.geteuid() == 0)
        server = MosquittoServer(os.path.join(out, "mosquitto.conf"), port, os.path.join(out, "stdout.log")).start()
        try:
            yield {"port": port, "creds": creds}
        finally:
            server.stop()
    else:
        from heatkeeper.supervisor.embedded import EmbeddedMosquitto, mosquitto_binary

        cfg = sup_config.validate({"supervisor": {"data_dir": str(tmp_path / "sup")},
                                   "broker": {"embedded": True, "port": port}, "mqtt": {"port": port},
                                   "station": [{"id": s} for s in STATIONS]})
        embedded = EmbeddedMosquitto(str(mosquitto_binary()), cfg)
        await embedded.start()
        try:
            yield {"port": port, "creds": embedded.passwords}
        finally:
            await embedded.stop()


def _client(b: dict[str, Any], user: str, identifier: str, clean: bool = False) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", b["port"], username=user, password=b["creds"][user], identifier=identifier,
                          protocol=aiomqtt.ProtocolVersion.V311, clean_session=clean, timeout=5)


async def _receive(client: aiomqtt.Client, count: int, timeout_s: float = 10.0) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    try:
        async with asyncio.timeout(timeout_s):
            async for message in client.messages:
                got.append((message.topic.value, bytes(message.payload)))  # type: ignore[arg-type]
                if len(got) >= count:
                    break
    except TimeoutError:
        pass
    return got


async def _attack(b: dict[str, Any], user: str, identifiers: list[str]) -> None:
    """`user` connects with each of `identifiers` and a clean session (which would discard the
    holder's persistent session), then leaves."""
    for ident in identifiers:
        try:
            async with _client(b, user, ident, clean=True):
                await asyncio.sleep(0.1)
        except aiomqtt.MqttError:
            pass


def _uplink(sid: str, seq: int, **values: Any) -> tuple[str, bytes]:
    return codec.encode_uplink(sid, seq, codec.UP_TELEMETRY, time.time(), {"values": values or {"x": seq}})


async def test_a_station_cannot_take_over_the_supervisors_queued_session(broker: dict[str, Any]) -> None:
    sup = _client(broker, "supervisor", "supervisor")
    async with sup:
        await sup.subscribe(codec.PREFIX + "stations/+/up/telemetry", qos=1)
    # The supervisor is away; st-a's five uplinks are queued in its session (and st-a deletes
    # them from its outbox on the PUBACK).
    async with _client(broker, "st-a", "st-a") as st:
        for seq in range(1, 6):
            await st.publish(*_uplink("st-a", seq), qos=1)
    await _attack(broker, "st-a", ["supervisor", "heatkeeper-supervisor", "supervisor-cmd"])
    async with sup:  # back with the same id, without subscribing again
        got = await _receive(sup, 5)
    assert [codec.decode_uplink(t, p)["seq"] for t, p in got] == [1, 2, 3, 4, 5]


async def test_a_station_cannot_cut_off_the_live_supervisor(broker: dict[str, Any]) -> None:
    async with _client(broker, "supervisor", "supervisor") as sup:
        await sup.subscribe(codec.PREFIX + "stations/+/up/telemetry", qos=1)
        await _attack(broker, "st-a", ["supervisor"])
        async with _client(broker, "st-a", "st-a") as st:
            await st.publish(*_uplink("st-a", 7), qos=1)
        got = await _receive(sup, 1)  # the same connection: an aiomqtt.MqttError here = cut off
    assert [codec.decode_uplink(t, p)["seq"] for t, p in got] == [7]


async def test_a_station_cannot_take_over_another_stations_commands(broker: dict[str, Any]) -> None:
    victim = _client(broker, "st-b", "st-b")
    async with victim:
        await victim.subscribe(codec.command_topic("st-b"), qos=1)
    async with _client(broker, "supervisor", "supervisor") as sup:
        await sup.publish(codec.command_topic("st-b"), b"queued command", qos=1)
    await _attack(broker, "st-a", ["st-b"])
    async with victim:
        got = await _receive(victim, 1)
    assert got == [(codec.command_topic("st-b"), b"queued command")]


async def test_oversized_publish_is_refused(broker: dict[str, Any]) -> None:
    async with _client(broker, "supervisor", "supervisor") as sup:
        await sup.subscribe(codec.PREFIX + "stations/+/up/telemetry", qos=1)
        big_topic, big = codec.up_topic("st-a", codec.UP_TELEMETRY), b"x" * (codec.MAX_PAYLOAD_BYTES + 40_000)
        try:
            async with _client(broker, "st-a", "st-a") as st:
                await st.publish(big_topic, big, qos=1)
        except aiomqtt.MqttError:
            pass  # Mosquitto disconnects the sender of a packet above max_packet_size
        fits_topic, fits = _uplink("st-a", 2, blob="y" * (codec.MAX_PAYLOAD_BYTES - 200))
        assert len(fits) <= codec.MAX_PAYLOAD_BYTES
        async with _client(broker, "st-a", "st-a") as st:
            await st.publish(fits_topic, fits, qos=1)
        got = await _receive(sup, 2, timeout_s=2.0)
    assert [len(p) for _t, p in got] == [len(fits)]


async def test_stations_write_only_their_four_uplink_topics(broker: dict[str, Any]) -> None:
    """A station cannot park (retained) messages on topics of its choosing under its prefix."""
    async with _client(broker, "st-a", "st-a") as st:
        for leaf in ("up/blob", "up/telemetry/x", "anything"):
            await st.publish(codec.PREFIX + "stations/st-a/" + leaf, b"parked", qos=1, retain=True)
        await st.publish(codec.status_topic("st-a"), b"online", qos=1, retain=True)
    async with _client(broker, "supervisor", "sup-late", clean=True) as sup:
        await sup.subscribe(codec.PREFIX + "stations/st-a/#", qos=1)
        got = await _receive(sup, 4, timeout_s=1.0)
    assert got == [(codec.status_topic("st-a"), b"online")]


async def test_one_platform_per_collector_prefix(tmp_path: Any) -> None:
    port = free_port()
    out = str(tmp_path / "mq")
    creds = broker_config.write(out, STATIONS, port=port, as_root=os.geteuid() == 0,
                                platforms={"rooms-a": ["a-101", "a-102"], "rooms-b": ["b-201"]})
    assert "collectors" not in creds  # no shared collector account
    server = MosquittoServer(os.path.join(out, "mosquitto.conf"), port, os.path.join(out, "stdout.log")).start()
    b = {"port": port, "creds": creds}
    try:
        async with _client(b, "supervisor", "supervisor") as sup:
            await sup.subscribe(codec.COLLECTOR_FILTER, qos=1)
            async with _client(b, "rooms-a", "rooms-a") as pa:
                for cid in ("b-201", "a-999", "a-101"):  # another platform's, an unknown, its own
                    topic, payload = codec.encode_collector_reading(cid, 19.5, time.time())
                    await pa.publish(topic, payload, qos=1)
            got = await _receive(sup, 3, timeout_s=1.5)
        assert [t for t, _p in got] == [codec.collector_topic("a-101")]
    finally:
        server.stop()
