"""The MQTT link of the ingest: subscribe, feed every delivery to `Ingest.handle`, acknowledge
QoS 1 deliveries to the broker only once stored, clear retained data, reconnect with back-off.

aiomqtt is pinned <3, where `Client._client` is the paho client underneath: `paho_of` is the
one place in heatkeeper that reaches for it (manual acks, direct delivery, the protocol
version); the station's uplink extends aiomqtt.Client instead (firmware/uplink.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .ingest import Acker, Ingest

log = logging.getLogger(__name__)


def paho_of(client: Any) -> Any:
    """The paho client under one aiomqtt.Client, or None."""
    return getattr(client, "_client", None)


async def run_mqtt(ingest: Ingest, client_factory: Callable[[], Any], filters: list[str],
                   on_connect: Callable[[Any], Awaitable[None]] | None = None,
                   on_disconnect: Callable[[], None] | None = None) -> None:
    """Subscribe to `filters` and feed `ingest` forever, reconnecting with back-off.

    `client_factory()` returns an aiomqtt.Client with a fixed identifier and a persistent
    session, so messages published while the supervisor is away are queued by the broker.
    QoS 1 deliveries are acknowledged to the broker only once stored (paho's manual acks): a
    supervisor killed with messages in memory gets them again from the broker when it comes
    back, and the (station, seq) key stores them once."""
    import aiomqtt
    from paho.mqtt.subscribeoptions import SubscribeOptions

    client = client_factory()
    link = _Link(client)
    # Before connecting: a persistent session's queued and resent messages arrive right after
    # CONNACK, and must take the same path as the rest, or they would be handled out of order.
    link.direct_delivery(ingest)
    # v5: retainAsPublished flags a retained uplink on live delivery too (v3.1.1 flags only
    # the stored copy a subscription replays), so it is cleared at once.
    paho = paho_of(client)
    v5 = paho is not None and paho.protocol == 5  # paho-mqtt 2: MQTTProtocolVersion, an int enum
    delay_s = 0.5
    while True:
        try:
            async with client:
                link.generation += 1
                delay_s = 0.5
                for flt in filters:
                    if v5:
                        await client.subscribe(flt, options=SubscribeOptions(qos=1, retainAsPublished=True))
                    else:
                        await client.subscribe(flt, qos=1)
                log.info("MQTT connected; subscribed to %s", ", ".join(filters))
                if on_connect is not None:
                    await on_connect(client)
                async for message in client.messages:
                    payload = message.payload
                    if not isinstance(payload, (bytes, bytearray)):
                        payload = str(payload).encode() if payload is not None else b""
                    if not link.refuse_retained(ingest, message.topic.value, bytes(payload), message.retain,
                                                message.mid, message.qos):
                        ingest.handle(message.topic.value, bytes(payload), link.acker(message.mid, message.qos))
        except aiomqtt.MqttError as exc:
            if on_disconnect is not None:
                on_disconnect()
            log.warning("MQTT connection lost (%s); reconnecting in %.1f s", exc, delay_s)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, 10.0)


class _Link:
    """The paho client under one aiomqtt.Client (aiomqtt is pinned <3, where `_client` is it):
    manual QoS 1 acks, tied to the connection they belong to, and direct delivery."""

    def __init__(self, client: Any) -> None:
        self.paho = paho_of(client)
        self.generation = 0
        if self.paho is not None and hasattr(self.paho, "manual_ack_set"):
            self.paho.manual_ack_set(True)
        else:
            self.paho = None
            log.warning("MQTT client without manual acks: deliveries are acknowledged on receipt")

    def acker(self, mid: int, qos: int) -> Acker | None:
        """The PUBACK of delivery `mid` as a call, or None (QoS 0, or no manual acks). After a
        reconnect the old connection's acks are void (packet ids restart; the broker resends
        what was never acknowledged)."""
        paho = self.paho
        if paho is None or qos == 0:
            return None
        generation = self.generation

        def ack() -> None:
            if self.generation == generation:
                paho.ack(mid, qos)

        return ack

    def direct_delivery(self, ingest: Ingest) -> None:
        """Hand each message from paho straight to `ingest.handle` (on the event loop thread,
        where aiomqtt runs paho's reads), skipping aiomqtt's per-message queue, task and Message
        object: that path cost more than the validation at thousands of messages per second.
        The `messages` iterator then only serves to notice a lost connection (and to deliver
        anything aiomqtt queued when there is no paho client to hook)."""
        paho = self.paho
        if paho is None or not hasattr(paho, "on_message"):
            return

        handle = ingest.handle

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            topic = message.topic  # paho decodes it on every access
            payload = message.payload
            # a live, non-empty delivery (nearly all) skips the retained check altogether
            if (message.retain or not payload) and self.refuse_retained(ingest, topic, payload, message.retain,
                                                                        message.mid, message.qos):
                return
            handle(topic, payload, self.acker(message.mid, message.qos))

        paho.on_message = on_message

    def refuse_retained(self, ingest: Ingest, topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> bool:
        """`refuse_retained` (below) on this link's acks and publish."""
        paho = self.paho
        clear = None if paho is None else (lambda t: paho.publish(t, b"", qos=1, retain=True))
        return refuse_retained(ingest, topic, payload, retain, self.acker(mid, qos), clear)


def refuse_retained(ingest: Ingest, topic: str, payload: bytes, retain: bool, ack: Acker | None,
                    clear: Callable[[str], None] | None) -> bool:
    """True if this is a retained message other than a station status: stations and
    collector platforms never retain data, and a retained copy would park up to a packet on
    the broker and replay to every new subscriber. It is not ingested; it is counted
    (reason "retained") and cleared with an empty retained message (`clear(topic)`). An empty
    payload is such a clear (ours, coming back: flagged retained in v5, not in v3.1.1) and is
    only acknowledged. Shared by both readers (this link and mqtt_reader)."""
    if topic.endswith("/status") or (not retain and payload):
        return False
    if payload:
        ingest.rejects.reject("retained", "retained message on %r: not ingested, cleared" % topic[:200])
        if clear is not None:
            clear(topic)
    if ack is not None:
        ack()
    return True
