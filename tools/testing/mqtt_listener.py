"""A supervisor-like MQTT listener for tests: persistent v5 session, reconnect loop, records all."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterable

import aiomqtt
from heatkeeper.core import codec
from heatkeeper.firmware.tasks import cancel_and_wait
from heatkeeper.firmware.uplink import session_properties


def decode_uplinks(received: Iterable[tuple[str, bytes]], copies: bool = False,
                   skip_undecodable: bool = False) -> list[dict]:
    """The uplink messages among (topic, payload) pairs, decoded, in arrival order: each (station,
    seq) once, as the supervisor stores them (a station resends byte for byte what the broker may
    have lost: after a dropped link, at its start), or every copy with `copies`."""
    out = []
    seen: set[tuple[str, int]] = set()
    for topic, payload in received:
        if "/up/" not in topic:
            continue
        try:
            msg = codec.decode_uplink(topic, payload)
        except codec.CodecError:
            if skip_undecodable:
                continue
            raise
        if not copies:
            key = (msg["station"], msg["seq"])
            if key in seen:
                continue
            seen.add(key)
        out.append(msg)
    return out


class Listener:
    """Subscribes to `topic_filter` with QoS 1 and keeps (topic, payload, retain) in arrival order."""

    def __init__(self, port: int, topic_filter: str = codec.PREFIX + "#", identifier: str = "test-listener",
                 username: str | None = None, password: str | None = None) -> None:
        self.port, self.filter, self.identifier = port, topic_filter, identifier
        self.username, self.password = username, password
        self.messages: list[tuple[str, bytes, bool]] = []
        self.connected = asyncio.Event()
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await cancel_and_wait([self._task])

    async def _run(self) -> None:
        while True:
            client = aiomqtt.Client("127.0.0.1", self.port, identifier=self.identifier,
                                    username=self.username, password=self.password,
                                    protocol=aiomqtt.ProtocolVersion.V5, clean_start=False,
                                    properties=session_properties(3600), keepalive=5, timeout=5)
            try:
                async with client:
                    await client.subscribe(self.filter, qos=1)
                    self.client = client
                    self.connected.set()
                    async for msg in client.messages:
                        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                        self.messages.append((str(msg.topic), payload, bool(msg.retain)))
            except aiomqtt.MqttError:
                pass
            self.client = None
            self.connected.clear()
            await asyncio.sleep(0.2)

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        await asyncio.wait_for(self.connected.wait(), 10)
        assert self.client is not None
        await self.client.publish(topic, payload, qos=1, retain=retain)

    def uplinks(self, kind: str | None = None) -> list[dict]:
        """The uplink messages received, each (station, seq) once (decode_uplinks); raw_uplinks()
        has every copy."""
        return [m for m in decode_uplinks((t, p) for t, p, _r in self.messages) if kind is None or m["kind"] == kind]

    def raw_uplinks(self) -> list[tuple[int, bytes]]:
        return [(codec.decode_uplink(t, p)["seq"], p) for t, p, _r in self.messages if "/up/" in t]


async def wait_until(predicate: Callable[[], object], timeout_s: float = 20.0, what: str = "condition") -> None:
    """Poll `predicate()` every 20 ms until it is true; an awaitable it returns (a database query)
    is awaited first. AssertionError naming `what` after `timeout_s`. Shared by the firmware and
    supervisor tests."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("timed out after %g s waiting for %s" % (timeout_s, what))
        await asyncio.sleep(0.02)
