"""The ingest's lean MQTT v5 reader (supervisor/mqtt_reader.py).

The codec: round trips, and any byte string in gives packets or `PacketError`, nothing else
(Hypothesis). The connection, against real Mosquitto (tools/testing): credentials and TLS, a
persistent session redelivering what a crashed reader never acknowledged (none lost), a
shared subscription split between two readers, keep-alive, retained uplinks refused and
cleared. A scripted server stands in for a broken broker only where Mosquitto cannot be made to
misbehave (a malformed packet, a silent peer)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import pytest
from heatkeeper.supervisor import mqtt_reader as mr
from heatkeeper.supervisor.ingest import RejectCounter
from heatkeeper.tools.testing.mosquitto import Mosquitto, mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until
from heatkeeper.tools.testing.pki import make_test_pki
from hypothesis import example, given
from hypothesis import strategies as st

needs_mosquitto = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())
TOPIC = "heatkeeper/v1/stations/st-a/up/telemetry"
FILTER = "heatkeeper/v1/stations/+/up/telemetry"


# --- codec -------------------------------------------------------------------------------

@given(st.integers(0, 268_435_455))
def test_varint_round_trip(n: int) -> None:
    data = mr.encode_varint(n)
    assert len(data) <= 4
    assert mr.decode_varint(data + b"\xff", 0) == (n, len(data))


topics = st.text(st.characters(min_codepoint=1, max_codepoint=0xD7FF, blacklist_characters="+#"), min_size=1, max_size=80)


@given(topics, st.binary(max_size=300), st.integers(0, 1), st.booleans(), st.booleans(), st.integers(1, 65535))
def test_publish_round_trip(topic: str, payload: bytes, qos: int, retain: bool, dup: bool, pid: int) -> None:
    packet = mr.encode_publish(topic, payload, qos=qos, retain=retain, packet_id=pid, dup=dup and qos > 0)
    packets, used = mr.split_packets(packet + packet[:3])  # a second packet cut short waits
    assert used == len(packet) and len(packets) == 1
    kind, flags, body = packets[0]
    assert kind == mr.PUBLISH
    msg = mr.decode_publish(flags, body)
    assert (msg.topic, msg.payload, msg.qos, msg.retain, msg.dup) == (topic, payload, qos, retain, dup and qos > 0)
    assert msg.packet_id == (pid if qos else 0)


@given(st.lists(st.integers(1, 65535), min_size=1, max_size=50))
def test_pubacks_are_one_write_of_four_byte_packets(pids: list[int]) -> None:
    packets, used = mr.split_packets(mr.encode_pubacks(pids))
    assert used == 4 * len(pids)
    assert [mr.decode_ack(k, f, b)[0] for k, f, b in packets] == pids


def test_properties_round_trip() -> None:
    props = [(mr.SESSION_EXPIRY, 3600), (mr.RECEIVE_MAX, 20), (mr.REASON_STRING, "nope"), (mr.SUBSCRIPTION_ID, 7),
             (mr.USER_PROPERTY, ("k", "v")), (mr.USER_PROPERTY, ("k", "w")), (0x09, b"\x00\x01"), (mr.MAXIMUM_QOS, 1)]
    data = mr.encode_properties(props)
    decoded, pos = mr.decode_properties(data, 0, len(data))
    assert pos == len(data)
    assert decoded == {mr.SESSION_EXPIRY: 3600, mr.RECEIVE_MAX: 20, mr.REASON_STRING: "nope",
                       mr.SUBSCRIPTION_ID: [7], mr.USER_PROPERTY: [("k", "v"), ("k", "w")], 0x09: b"\x00\x01",
                       mr.MAXIMUM_QOS: 1}


def _decode_all(data: bytes) -> None:
    packets, _used = mr.split_packets(data)
    for kind, flags, body in packets:
        if kind == mr.PUBLISH:
            mr.decode_publish(flags, body)
        elif kind == mr.CONNACK:
            mr.decode_connack(flags, body)
        elif kind in (mr.PUBACK, mr.SUBACK):
            mr.decode_ack(kind, flags, body)
        elif kind == mr.DISCONNECT:
            mr.decode_disconnect(flags, body)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_packet_error_only(data: bytes) -> None:
    with contextlib.suppress(mr.PacketError):
        _decode_all(data)


@given(st.sampled_from([mr.PUBLISH << 4 | 2, mr.CONNACK << 4, mr.SUBACK << 4, mr.DISCONNECT << 4, mr.PUBACK << 4]),
       st.binary(max_size=120))
def test_any_body_of_a_known_type_decodes_or_raises_packet_error_only(first: int, body: bytes) -> None:
    with contextlib.suppress(mr.PacketError):
        _decode_all(bytes([first]) + mr.encode_varint(len(body)) + body)


@pytest.mark.parametrize("data, reason", [
    (b"\x30\xff\xff\xff\xff\x01", mr.MALFORMED),  # remaining length in 5 bytes (1.5.5)
    (b"\x36\x05\x00\x01a\x00\x01", mr.MALFORMED),  # QoS 3 (3.3.1.2)
    (b"\x32\x06\x00\x01#\x00\x01\x00", mr.MALFORMED),  # wildcard in a topic name (3.3.2.1)
    (b"\x32\x06\x00\x01\xff\x00\x01\x00", mr.MALFORMED),  # topic not UTF-8 (1.5.4)
    (b"\x32\x06\x00\x01a\x00\x00\x00", mr.MALFORMED),  # packet id 0 (2.2.1)
    (b"\x32\x08\x00\x01a\x00\x01\x02\x23\x00", mr.MALFORMED),  # property runs past its length
    (b"\x32\x09\x00\x01a\x00\x01\x03\x23\x00\x01", mr.TOPIC_ALIAS_INVALID),  # alias, maximum 0 (3.3.2.3.4)
    (b"\x32\x08\x00\x01a\x00\x01\x02\x7f\x00", mr.PROTOCOL_ERROR),  # unknown property (2.2.2.2)
    (b"\x20\x07\x00\x00\x04\x21\x00\x01\x21", mr.MALFORMED),  # runs past the end
    (b"\x20\x08\x00\x00\x05\x24\x01\x24\x01\x00", mr.PROTOCOL_ERROR),  # a property twice
    (b"\x21\x03\x00\x00\x00", mr.MALFORMED),  # CONNACK flags (3.2.1)
    (b"\x00\x00", mr.MALFORMED),  # reserved type 0
    (b"\x30" + mr.encode_varint(mr.MAX_PACKET_BYTES), mr.PACKET_TOO_LARGE),  # over our Maximum Packet Size
])
def test_malformed_packets_have_their_reason(data: bytes, reason: int) -> None:
    with pytest.raises(mr.PacketError) as exc:
        _decode_all(data)
    assert exc.value.reason == reason


def test_ingest_reader_setting_is_checked() -> None:
    from heatkeeper.supervisor import config as sup_config

    assert sup_config.validate({})["mqtt"]["ingest_reader"] == "lean"
    assert sup_config.validate({"mqtt": {"ingest_reader": "aiomqtt"}})["mqtt"]["ingest_reader"] == "aiomqtt"
    with pytest.raises(sup_config.ConfigError) as exc:
        sup_config.validate({"mqtt": {"ingest_reader": "paho"}})
    assert any("mqtt.ingest_reader" in p and "paho" in p and "lean" in p for p in exc.value.problems), exc.value.problems


# --- against a broker ---------------------------------------------------------------------

class Recorder:
    """What the reader hands the ingest: every delivery in order, its ack held until `ack_all`."""

    def __init__(self) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.acks: list[Callable[[], None] | None] = []
        self.rejects = RejectCounter()

    def handle(self, topic: str, payload: bytes, ack: Callable[[], None] | None = None) -> str:
        self.got.append((topic, payload))
        self.acks.append(ack)
        return "stored"

    def ack_all(self) -> None:
        acks, self.acks = self.acks, []
        for ack in acks:
            if ack is not None:
                ack()


@contextlib.asynccontextmanager
async def reader(ingest: Any, settings: mr.ReaderSettings, filters: list[str]) -> AsyncIterator[list[Any]]:
    """`run_reader` in a task; yields the list of its connections (appended on each connect)."""
    conns: list[Any] = []
    task = asyncio.ensure_future(mr.run_reader(ingest, settings, filters, conns.append))
    try:
        await wait_until(lambda: conns or task.done(), 10, "reader connected")
        yield conns
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(port: int, messages: list[tuple[str, bytes]], retain: bool = False, **kw: Any) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="pub", timeout=5, **kw) as pub:
        for topic, payload in messages:
            await pub.publish(topic, payload, qos=1, retain=retain)


@pytest.fixture
def broker(tmp_path: Any) -> Any:
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    pki = make_test_pki(str(tmp_path / "pki"))
    server = Mosquitto(str(tmp_path / "mq"), users={"sup": "sup-pass", "pub": "pub-pass"}, tls=pki).start()
    server.pki = pki
    try:
        yield server
    finally:
        server.stop()


def _settings(broker: Any, client_id: str = "sup", password: str = "sup-pass", tls: bool = False,
              keepalive_s: int = 30) -> mr.ReaderSettings:
    ctx = ssl.create_default_context(cafile=broker.pki["ca"]) if tls else None
    return mr.ReaderSettings("127.0.0.1", broker.tls_port if tls else broker.port, client_id, "sup", password, ctx,
                             keepalive_s, 3600, connect_timeout_s=5)


def _messages(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [(TOPIC, b'{"seq": %d}' % i) for i in range(start, start + n)]


PUB: dict[str, Any] = {"username": "pub", "password": "pub-pass"}


@needs_mosquitto
async def test_connects_with_credentials_over_tls_and_receives(broker: Any) -> None:
    rec = Recorder()
    async with reader(rec, _settings(broker, tls=True), [FILTER]) as conns:
        assert conns, "no connection over TLS"
        assert isinstance(conns[0].transport.get_extra_info("ssl_object"), ssl.SSLObject)
        await publish(broker.port, _messages(5), **PUB)
        await wait_until(lambda: len(rec.got) == 5, 10, "5 deliveries")
    assert rec.got == _messages(5)


@needs_mosquitto
async def test_wrong_password_is_refused_with_the_reason(broker: Any) -> None:
    with pytest.raises(mr.ConnectRefused, match="0x8[67]"):  # Bad User Name or Password / Not authorized (3.2.2.2)
        await mr.connect(Recorder(), _settings(broker, password="wrong"), [FILTER])


@needs_mosquitto
async def test_unacked_messages_come_back_after_a_crash_none_lost(broker: Any) -> None:
    first = Recorder()
    conn, present = await mr.connect(first, _settings(broker), [FILTER])
    assert not present
    await publish(broker.port, _messages(30), **PUB)
    await wait_until(lambda: len(first.got) == 30, 10, "30 deliveries")
    for ack in first.acks[:10]:  # the first 10 stored and acked, then the reader dies
        assert ack is not None
        ack()
    await asyncio.sleep(0)  # the acks go out together at the end of the loop turn
    await asyncio.sleep(0.3)
    conn.transport.abort()  # no DISCONNECT: a crash
    await publish(broker.port, _messages(5, 30), **PUB)  # while no reader is connected

    second = Recorder()
    conn2, present = await mr.connect(second, _settings(broker), [FILTER])
    try:
        assert present, "the broker lost the persistent session"
        await wait_until(lambda: len(second.got) >= 25, 10, "redelivery")
        await asyncio.sleep(0.5)
        assert sorted(second.got) == sorted(_messages(20, 10) + _messages(5, 30))  # all unacked, nothing twice
        second.ack_all()
        await asyncio.sleep(0.3)
    finally:
        conn2.send(mr.encode_disconnect())
        conn2.transport.close()
    third = Recorder()
    conn3, present = await mr.connect(third, _settings(broker), [FILTER])
    await asyncio.sleep(1.0)
    conn3.transport.close()
    assert present and third.got == []  # every ack reached the broker


@needs_mosquitto
async def test_reading_pauses_while_too_much_waits_for_acks_and_resumes(broker: Any) -> None:
    # Mosquitto 2.0.11 overshoots our Receive Maximum once acks flow (10 asked, 30 out after one
    # round): the reader neither disconnects over it nor lets the backlog pile up in memory.
    rec = Recorder()
    settings = _settings(broker)
    settings.receive_maximum, settings.max_unacked = 10, 20
    async with reader(rec, settings, [FILTER]) as conns:
        await publish(broker.port, _messages(100), **PUB)
        await asyncio.sleep(0.5)
        for _ in range(50):
            assert len(conns[0].unacked) < 20 + 30, "reading did not pause"
            rec.ack_all()
            await asyncio.sleep(0.1)
            if len(rec.got) == 100:
                break
        rec.ack_all()
        assert len(conns) == 1, "the reader reconnected"
    assert sorted(rec.got) == sorted(_messages(100))


@needs_mosquitto
async def test_shared_subscription_splits_between_two_readers(broker: Any) -> None:
    a, b = Recorder(), Recorder()
    shared = ["$share/ingest/" + FILTER]
    async with reader(a, _settings(broker, "sup-1"), shared), reader(b, _settings(broker, "sup-2"), shared):
        await publish(broker.port, _messages(200), **PUB)
        await wait_until(lambda: len(a.got) + len(b.got) >= 200, 10, "200 deliveries")
        a.ack_all()
        b.ack_all()
        await asyncio.sleep(0.3)
    assert a.got and b.got, "one reader got everything"
    assert sorted(a.got + b.got) == sorted(_messages(200))


@needs_mosquitto
async def test_keep_alive_pings_keep_an_idle_connection(broker: Any) -> None:
    rec = Recorder()
    async with reader(rec, _settings(broker, keepalive_s=2), [FILTER]) as conns:
        await asyncio.sleep(4.0)  # twice the keep-alive: the broker drops a client silent for 1.5 of it
        assert len(conns) == 1 and conns[0].transport is not None and conns[0].pongs >= 2
        await publish(broker.port, _messages(1), **PUB)
        await wait_until(lambda: rec.got, 5, "a delivery after idling")


@needs_mosquitto
async def test_retained_uplink_is_refused_counted_and_cleared(broker: Any) -> None:
    await publish(broker.port, [(TOPIC, b'{"seq": 1}')], retain=True, **PUB)
    rec = Recorder()
    async with reader(rec, _settings(broker), [FILTER]):
        await wait_until(lambda: rec.rejects.counts.get("retained") == 1, 10, "retained refused")
        await asyncio.sleep(0.5)
    assert [p for _t, p in rec.got] == []
    got: list[bytes] = []
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="late", timeout=5, **PUB) as late:
        await late.subscribe(FILTER, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                async for m in late.messages:
                    got.append(bytes(m.payload))  # type: ignore[arg-type]
    assert got == [], "the retained uplink was not cleared"


# --- a scripted broken server ---------------------------------------------------------------

@contextlib.asynccontextmanager
async def scripted(after_subscribe: bytes) -> AsyncIterator[dict[str, Any]]:
    """A TCP server that answers CONNECT and SUBSCRIBE correctly, then sends `after_subscribe`
    and nothing else (no PINGRESP). Records every connection and what the client sent."""
    seen: dict[str, Any] = {"connections": 0, "received": []}

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        data = b""
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            data += await r.read(4096)  # CONNECT
            w.write(bytes([0x20, 3, 0, 0, 0]))
            data += await r.read(4096)  # SUBSCRIBE
            packets, _ = mr.split_packets(data)
            sub = next(body for kind, _f, body in packets if kind == mr.SUBSCRIBE)
            w.write(bytes([0x90, 4]) + sub[:2] + b"\x00\x01")
            w.write(after_subscribe)
            while chunk := await r.read(4096):
                data += chunk
        seen["received"].append(data)
        w.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    seen["port"] = server.sockets[0].getsockname()[1]
    try:
        yield seen
    finally:
        server.close()


async def test_malformed_packet_disconnects_with_reason_and_reconnects() -> None:
    bad = b"\x36\x05\x00\x01a\x00\x01"  # QoS 3
    rec = Recorder()
    async with scripted(mr.encode_publish(TOPIC, b"ok", qos=1, packet_id=1) + bad) as srv:
        settings = mr.ReaderSettings("127.0.0.1", srv["port"], "sup", keepalive_s=30, connect_timeout_s=5)
        async with reader(rec, settings, [FILTER]):
            await wait_until(lambda: len(srv["received"]) >= 1 and srv["connections"] >= 2, 10, "a reconnect")
    assert rec.got[0] == (TOPIC, b"ok")
    assert mr.encode_disconnect(mr.MALFORMED) in srv["received"][0]  # 3.14: DISCONNECT 0x81


async def test_a_silent_peer_is_dropped_after_the_keep_alive() -> None:
    async with scripted(b"") as srv:
        settings = mr.ReaderSettings("127.0.0.1", srv["port"], "sup", keepalive_s=1, connect_timeout_s=5)
        async with reader(Recorder(), settings, [FILTER]):
            await wait_until(lambda: srv["connections"] >= 2, 10, "a reconnect after no PINGRESP")
    assert mr.PINGREQ_PACKET in srv["received"][0]


def test_connect_packet_carries_the_session() -> None:
    data = mr.encode_connect("sup", "sup", "pw", 30, 86400)
    (kind, flags, body), = mr.split_packets(data)[0]
    assert kind == mr.CONNECT and body[:7] == b"\x00\x04MQTT\x05"
    assert body[7] == 0x80 | 0x40  # user name and password, clean start off (3.1.2.4)
    assert struct.unpack("!H", body[8:10])[0] == 30
    props, pos = mr.decode_properties(body, 10, len(body))
    assert props == {mr.SESSION_EXPIRY: 86400, mr.RECEIVE_MAX: 65535, mr.MAXIMUM_PACKET_SIZE: mr.MAX_PACKET_BYTES}
    assert body[pos:] == b"\x00\x03sup\x00\x03sup\x00\x02pw"


async def test_a_cancel_swallowed_while_connecting_still_stops_the_reader(monkeypatch: Any) -> None:
    """asyncio.wait_for (Python 3.11) may return a result that arrived together with a cancel and
    drop the cancel; the reader must stop all the same, not run on after shutdown (a CI run once
    hung here for 300 s)."""
    loop = asyncio.get_running_loop()
    sent: list[bytes] = []

    class Transport:
        closed = False

        def close(self) -> None:
            self.closed = True

    class Conn:
        transport = Transport()
        connack: asyncio.Future[Any] = loop.create_future()
        closed: asyncio.Future[str] = loop.create_future()  # never resolves: the broker stays

        def send(self, data: bytes) -> None:
            sent.append(data)

        async def keep_alive(self, _s: float) -> None:
            await asyncio.sleep(3600)

    Conn.connack.set_result((False, {}))
    entered = asyncio.Event()

    async def connect_swallowing_the_cancel(*_args: Any) -> tuple[Any, bool]:
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        return Conn(), False

    monkeypatch.setattr(mr, "connect", connect_swallowing_the_cancel)
    task = asyncio.ensure_future(mr.run_reader(Recorder(), mr.ReaderSettings("127.0.0.1", 1, "sup"), [FILTER]))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert Conn.transport.closed and sent == [mr.encode_disconnect(mr.NORMAL)]


# --- the connection's one-pass parse against the codec ---------------------------------------

class _Wire:
    """The transport end of a _Connection fed by hand: what the reader writes, and whether it closed."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass


def _packet_by_packet(conn: Any, stream: bytes) -> None:
    """`stream` into `conn` the plain way, one packet at a time: `split_packets`, then
    `decode_publish` for a PUBLISH, the connection's `_control` for the rest; the first broken
    packet fails the connection."""
    rest = stream
    try:
        while len(rest) >= 2:
            length, p = mr._remaining_length(rest, 0)
            if p < 0:
                break  # cut short inside the Remaining Length: waits for more
            if p + length > len(rest):
                mr.split_packets(rest)  # a bad type or size is known already; else it waits for more
                break
            (kind, flags, body), = mr.split_packets(rest[:p + length])[0]
            rest = rest[p + length:]
            if kind == mr.PUBLISH:
                conn._publish(mr.decode_publish(flags, body))
            else:
                conn._control(kind, flags, body)
            if conn.transport is None:
                break
    except mr.PacketError as exc:
        conn.fail(exc.reason, str(exc))


_topics = st.one_of(st.just(TOPIC), st.text(max_size=12), st.sampled_from(["a/+", "a/#", "a\x00b", ""]))
_properties = st.one_of(st.just(b"\x00"), st.just(mr.encode_properties([(mr.USER_PROPERTY, ("k", "v"))])),
                        st.just(b"\x03\x23\x00\x01"), st.binary(max_size=4))


def _raw_publish(flags: int, topic: bytes, packet_id: int | None, properties: bytes, payload: bytes,
                 topic_len: int | None = None) -> bytes:
    """A PUBLISH as bytes, right or wrong: packet id only if given, topic length as told."""
    body = struct.pack(">H", len(topic) if topic_len is None else topic_len) + topic
    if packet_id is not None:
        body += struct.pack(">H", packet_id)
    body += properties + payload
    return bytes([mr.PUBLISH << 4 | flags]) + mr.encode_varint(len(body)) + body


@st.composite
def _publish_packets(draw: Any) -> bytes:
    flags = draw(st.sampled_from([0, 2, 2, 2, 1, 3, 8, 10, 4, 6]))
    topic = draw(_topics).encode()
    if draw(st.integers(0, 9)) == 0:
        topic = draw(st.binary(max_size=6))  # not UTF-8, perhaps
    topic_len = None if draw(st.integers(0, 9)) else draw(st.integers(0, 70))  # sometimes a lie
    packet_id = draw(st.sampled_from([1, 7, 65535, 0])) if flags & 6 else None
    return _raw_publish(flags, topic, packet_id, draw(_properties), draw(st.binary(max_size=30)), topic_len)


_GOOD = mr.encode_publish(TOPIC, b"ok", qos=1, packet_id=1)


@given(st.lists(st.one_of(_publish_packets(), _publish_packets(), st.just(b"\xd0\x00"), st.binary(max_size=6)),
                max_size=8),
       st.lists(st.integers(1, 80), max_size=6))
@example([_GOOD, _raw_publish(2, b"a/+", 1, b"\x00", b"x"), _GOOD], [])  # each way off the shortcut
@example([_GOOD, _raw_publish(0, b"a/#", None, b"\x00", b"x")], [])
@example([_GOOD, _raw_publish(2, b"a\x00", 1, b"\x00", b"x")], [])
@example([_GOOD, _raw_publish(2, b"\xff", 1, b"\x00", b"x")], [])
@example([_GOOD, _raw_publish(2, b"", 1, b"\x00", b"x")], [])
@example([_GOOD, _raw_publish(2, b"a", 0, b"\x00", b"x")], [])
@example([_GOOD, _raw_publish(2, b"a", 1, b"\x03\x23\x00\x01", b"x")], [])
@example([_GOOD, _raw_publish(3, b"a", 1, b"\x00", b"x"), _raw_publish(2, b"a", 1, b"\x00", b"")], [])
@example([_GOOD, _raw_publish(2, b"a", 1, b"\x00", b"x", topic_len=9), _GOOD], [5, 1])
@example([_GOOD, _raw_publish(0, b"a", None, b"\x00", b"", topic_len=2)], [])
def test_the_connection_hands_over_what_the_codec_reads(packets: list[bytes], cuts: list[int]) -> None:
    """However the stream is cut into reads, the connection's one pass (with its shortcut for
    the usual PUBLISH) gives the ingest what the codec gives read packet by packet, with the
    same acks, and writes the same (clears of retained messages, the DISCONNECT of the first
    broken packet with its reason)."""
    stream = b"".join(packets)

    async def feed(in_reads: bool) -> tuple[list[tuple[str, bytes, bool]], bytes]:
        rec = Recorder()
        conn = mr._Connection(rec, mr.ReaderSettings("127.0.0.1", 1, "sup"))  # type: ignore[arg-type]
        wire = _Wire()
        conn.transport = wire  # type: ignore[assignment]
        if in_reads:
            pos = 0
            for size in [*cuts, len(stream)]:
                if conn.transport is None or pos >= len(stream):
                    break
                conn.data_received(stream[pos:pos + size])
                pos += size
        else:
            _packet_by_packet(conn, stream)
        got = [(topic, payload, ack is not None) for (topic, payload), ack in zip(rec.got, rec.acks, strict=True)]
        return got, wire.written

    got, written = asyncio.run(feed(True))
    expected, expected_written = asyncio.run(feed(False))
    assert got == expected
    assert written == expected_written  # the same clears of retained messages, the same DISCONNECT reason
