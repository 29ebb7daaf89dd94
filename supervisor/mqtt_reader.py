# cython: annotation_typing=False
"""The ingest's own MQTT v5 subscriber for the uplink path (`[mqtt] ingest_reader = "lean"`).

The aiomqtt/paho link (mqtt_link.py) costs the supervisor ~16 us per message before the ingest
sees it: 3-4 socket reads per packet, one socket write per PUBACK plus paho's own wake-up
write. This reader is an asyncio Protocol: each chunk the kernel hands over is parsed for as
many packets as it holds, and the PUBACKs of a stored batch (the ingest acknowledges each
message only after its commit) go out in one `transport.write`. It does the subscriber side of
MQTT 5.0 that the ingest needs and nothing else: CONNECT (the same client id, credentials, TLS,
clean start off with a session expiry, keep-alive) / CONNACK, SUBSCRIBE QoS 1 / SUBACK,
PUBLISH in (QoS 0 and 1), PUBACK out, PINGREQ / PINGRESP, DISCONNECT both ways, and one
outgoing QoS 1 PUBLISH: the empty retained message that clears a retained uplink
(mqtt_link.refuse_retained). Commands, status and the firmware keep aiomqtt.

Section numbers below are the OASIS MQTT Version 5.0 standard (7 March 2019). The codec is
strict: anything malformed raises `PacketError` with the reason code the client sends in its
DISCONNECT (4.13), and the connection is dropped and made again; the ingest never sees it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .broker_config import MAX_PACKET_BYTES
from .ingest import Ingest
from .mqtt_link import refuse_retained

log = logging.getLogger(__name__)

# Control packet types (2.1.2, Table 2-1)
CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

# Reason codes (2.4, Table 2-6) the client sends in DISCONNECT
NORMAL = 0x00
MALFORMED = 0x81
PROTOCOL_ERROR = 0x82
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
KEEP_ALIVE_TIMEOUT = 0x8D  # used in logs only: the server sends it, the client just goes

RECEIVE_MAXIMUM = 65535  # the protocol's largest Receive Maximum (3.1.2.11.3)

# Properties (2.2.2.2, Table 2-4): identifier -> type
_BYTE, _TWO, _FOUR, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
PROPERTY_TYPES: dict[int, int] = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _UTF8, 0x08: _UTF8, 0x09: _BINARY, 0x0B: _VARINT, 0x11: _FOUR,
    0x12: _UTF8, 0x13: _TWO, 0x15: _UTF8, 0x16: _BINARY, 0x17: _BYTE, 0x18: _FOUR, 0x19: _BYTE,
    0x1A: _UTF8, 0x1C: _UTF8, 0x1F: _UTF8, 0x21: _TWO, 0x22: _TWO, 0x23: _TWO, 0x24: _BYTE,
    0x25: _BYTE, 0x26: _PAIR, 0x27: _FOUR, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}
SESSION_EXPIRY, ASSIGNED_CLIENT_ID, SERVER_KEEP_ALIVE, REASON_STRING = 0x11, 0x12, 0x13, 0x1F
RECEIVE_MAX, TOPIC_ALIAS_MAX, TOPIC_ALIAS, MAXIMUM_QOS, USER_PROPERTY = 0x21, 0x22, 0x23, 0x24, 0x26
MAXIMUM_PACKET_SIZE, SUBSCRIPTION_ID = 0x27, 0x0B
_REPEATABLE = (USER_PROPERTY, SUBSCRIPTION_ID)  # 3.3.2.3.8: a PUBLISH may carry several ids


class PacketError(Exception):
    """A packet that breaks MQTT 5.0: `reason` is the DISCONNECT reason code (4.13.1)."""

    def __init__(self, reason: int, text: str) -> None:
        super().__init__("%s (reason 0x%02X)" % (text, reason))
        self.reason = reason


class ConnectRefused(Exception):
    """CONNACK with a failure reason code (3.2.2.2), or SUBACK refusing a filter (3.9.3)."""


# --- encoding (2.1.4 Variable Byte Integer, 1.5.4 UTF-8 string, 1.5.6 binary data) ----------

def encode_varint(n: int) -> bytes:
    """1.5.5 Variable Byte Integer: 7 bits a byte, high bit = more follows, at most 4 bytes."""
    if not 0 <= n <= 268_435_455:
        raise ValueError("variable byte integer out of range: %d" % n)
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    """1.5.4 UTF-8 Encoded String: two-byte length, then the bytes."""
    data = text.encode("utf-8")
    if len(data) > 65535:
        raise ValueError("string longer than 65535 bytes")
    return struct.pack("!H", len(data)) + data


def _binary(data: bytes) -> bytes:
    """1.5.6 Binary Data: two-byte length, then the bytes."""
    if len(data) > 65535:
        raise ValueError("binary data longer than 65535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    """2.1.1 Fixed Header: type and flags, Remaining Length (a Variable Byte Integer), body."""
    return bytes([first]) + encode_varint(len(body)) + body


def encode_properties(props: list[tuple[int, Any]]) -> bytes:
    """2.2.2 Properties: a Variable Byte Integer length, then identifier + value each."""
    out = bytearray()
    for ident, value in props:
        kind = PROPERTY_TYPES[ident]
        out += encode_varint(ident)
        if kind == _BYTE:
            out.append(value)
        elif kind == _TWO:
            out += struct.pack("!H", value)
        elif kind == _FOUR:
            out += struct.pack("!I", value)
        elif kind == _VARINT:
            out += encode_varint(value)
        elif kind == _UTF8:
            out += _utf8(value)
        elif kind == _BINARY:
            out += _binary(value)
        else:
            out += _utf8(value[0]) + _utf8(value[1])
    return encode_varint(len(out)) + bytes(out)


def encode_connect(client_id: str, username: str = "", password: str = "", keepalive_s: int = 30,
                   session_expiry_s: int = 0, clean_start: bool = False,
                   receive_maximum: int = RECEIVE_MAXIMUM, maximum_packet_size: int = MAX_PACKET_BYTES) -> bytes:
    """3.1 CONNECT: protocol name "MQTT", level 5 (3.1.2.1-2), flags (3.1.2.3), keep alive
    (3.1.2.10), properties (3.1.2.11), then the payload: client id, user name, password (3.1.3)."""
    flags = (0x80 if username else 0) | (0x40 if password else 0) | (0x02 if clean_start else 0)
    props: list[tuple[int, Any]] = [(RECEIVE_MAX, receive_maximum), (MAXIMUM_PACKET_SIZE, maximum_packet_size)]
    if session_expiry_s:
        props.insert(0, (SESSION_EXPIRY, session_expiry_s))
    body = _utf8("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive_s) + encode_properties(props)
    body += _utf8(client_id)
    if username:
        body += _utf8(username)
    if password:
        body += _binary(password.encode("utf-8"))
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, filters: list[str], qos: int = 1, retain_as_published: bool = True) -> bytes:
    """3.8 SUBSCRIBE (fixed header flags 0010, 3.8.1): packet id, no properties, then each
    filter with its Subscription Options byte (3.8.3.1: QoS bits 0-1, Retain As Published bit 3)."""
    options = qos | (0x08 if retain_as_published else 0)
    body = struct.pack("!H", packet_id) + b"\x00" + b"".join(_utf8(f) + bytes([options]) for f in filters)
    return _packet(SUBSCRIBE << 4 | 0x02, body)


_PUBACK = struct.Struct("!BBH")


def encode_pubacks(packet_ids: list[int]) -> bytes:
    """3.4 PUBACK, one per packet id, back to back: reason Success with no properties may be
    left out (3.4.2.1), so each is 4 bytes."""
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, pid) for pid in packet_ids])


def encode_publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False, packet_id: int = 0,
                   dup: bool = False) -> bytes:
    """3.3 PUBLISH: flags DUP/QoS/RETAIN (3.3.1), topic name, packet id if QoS > 0 (3.3.2),
    empty properties, payload (3.3.3)."""
    first = PUBLISH << 4 | (0x08 if dup else 0) | qos << 1 | (0x01 if retain else 0)
    body = _utf8(topic) + (struct.pack("!H", packet_id) if qos else b"") + b"\x00" + payload
    return _packet(first, body)


def encode_disconnect(reason: int = NORMAL) -> bytes:
    """3.14 DISCONNECT with a reason code (3.14.2.1) and no properties."""
    return bytes([DISCONNECT << 4, 2, reason, 0]) if reason else bytes([DISCONNECT << 4, 0])


PINGREQ_PACKET = bytes([PINGREQ << 4, 0])  # 3.12


# --- decoding ----------------------------------------------------------------------------

def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """1.5.5 Variable Byte Integer at `pos` -> (value, position after it). More than four
    bytes, or running off the end, is a Malformed Packet."""
    value = 0
    for shift in (0, 7, 14, 21):
        if pos >= len(data):
            raise PacketError(MALFORMED, "variable byte integer runs past the end of the packet")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise PacketError(MALFORMED, "variable byte integer longer than 4 bytes")


def _decode_utf8(data: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    """1.5.4: length-prefixed, well-formed UTF-8, no U+0000."""
    if pos + 2 > end:
        raise PacketError(MALFORMED, "%s: length runs past the end" % what)
    n = data[pos] << 8 | data[pos + 1]
    if pos + 2 + n > end:
        raise PacketError(MALFORMED, "%s: %d bytes run past the end" % (what, n))
    try:
        text = bytes(data[pos + 2:pos + 2 + n]).decode("utf-8")
    except UnicodeDecodeError:
        raise PacketError(MALFORMED, "%s: not UTF-8" % what) from None
    if "\x00" in text:
        raise PacketError(MALFORMED, "%s: contains U+0000" % what)
    return text, pos + 2 + n


def decode_properties(data: bytes, pos: int, end: int) -> tuple[dict[int, Any], int]:
    """2.2.2: property length, then properties up to exactly that length. Unknown identifiers
    and single-valued properties given twice are Protocol Errors (2.2.2.2); values that run
    past the length are Malformed. Repeatable ones (user property, subscription id) are lists."""
    length, pos = decode_varint(data, pos)
    stop = pos + length
    if stop > end:
        raise PacketError(MALFORMED, "properties run past the end of the packet")
    props: dict[int, Any] = {}
    while pos < stop:
        ident, pos = decode_varint(data, pos)
        kind = PROPERTY_TYPES.get(ident)
        if kind is None:
            raise PacketError(PROTOCOL_ERROR, "unknown property identifier 0x%02X" % ident)
        value: Any
        if kind == _BYTE:
            if pos + 1 > stop:
                raise PacketError(MALFORMED, "property 0x%02X runs past the properties" % ident)
            value, pos = data[pos], pos + 1
        elif kind == _TWO:
            if pos + 2 > stop:
                raise PacketError(MALFORMED, "property 0x%02X runs past the properties" % ident)
            value, pos = data[pos] << 8 | data[pos + 1], pos + 2
        elif kind == _FOUR:
            if pos + 4 > stop:
                raise PacketError(MALFORMED, "property 0x%02X runs past the properties" % ident)
            value, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
        elif kind == _VARINT:
            value, pos = decode_varint(data, pos)
            if pos > stop:
                raise PacketError(MALFORMED, "property 0x%02X runs past the properties" % ident)
        elif kind == _UTF8:
            value, pos = _decode_utf8(data, pos, stop, "property 0x%02X" % ident)
        elif kind == _BINARY:
            if pos + 2 > stop or pos + 2 + (data[pos] << 8 | data[pos + 1]) > stop:
                raise PacketError(MALFORMED, "property 0x%02X runs past the properties" % ident)
            n = data[pos] << 8 | data[pos + 1]
            value, pos = bytes(data[pos + 2:pos + 2 + n]), pos + 2 + n
        else:
            key, pos = _decode_utf8(data, pos, stop, "user property name")
            val, pos = _decode_utf8(data, pos, stop, "user property value")
            value = (key, val)
        if ident in _REPEATABLE:
            props.setdefault(ident, []).append(value)
        elif ident in props:
            raise PacketError(PROTOCOL_ERROR, "property 0x%02X given twice" % ident)
        else:
            props[ident] = value
    return props, pos


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int
    properties: dict[int, Any]


def decode_publish(flags: int, body: bytes) -> Publish:
    """3.3 PUBLISH body: topic name (3.3.2.1: no wildcards), packet id when QoS > 0 (non-zero,
    2.2.1), properties (3.3.2.3), payload. QoS 3 is Malformed (3.3.1.2). A Topic Alias is a
    Protocol Error: we send Topic Alias Maximum 0 (3.1.2.11.5, 3.3.2.3.4)."""
    qos = flags >> 1 & 3
    if qos == 3:
        raise PacketError(MALFORMED, "PUBLISH with QoS 3")
    if qos == 0 and flags & 0x08:
        raise PacketError(MALFORMED, "PUBLISH QoS 0 with DUP set")  # 3.3.1.1
    end = len(body)
    topic, pos = _decode_utf8(body, 0, end, "topic name")
    if not topic or "+" in topic or "#" in topic:
        raise PacketError(PROTOCOL_ERROR if not topic else MALFORMED, "bad topic name %r" % topic[:200])
    packet_id = 0
    if qos:
        if pos + 2 > end:
            raise PacketError(MALFORMED, "PUBLISH packet id runs past the end")
        packet_id = body[pos] << 8 | body[pos + 1]
        pos += 2
        if not packet_id:
            raise PacketError(MALFORMED, "PUBLISH with packet id 0")
    if pos < end and body[pos] == 0:  # nearly always: no properties
        props: dict[int, Any] = {}
        pos += 1
    else:
        props, pos = decode_properties(body, pos, end)
        if TOPIC_ALIAS in props:
            raise PacketError(TOPIC_ALIAS_INVALID, "topic alias without Topic Alias Maximum")
    return Publish(topic, bytes(body[pos:]), qos, bool(flags & 1), bool(flags & 8), packet_id, props)


def _retrieved(fut: asyncio.Future[Any]) -> None:
    """Done callback: mark a failed future's exception as seen (its awaiter, if any, still gets it)."""
    if not fut.cancelled():
        fut.exception()


def decode_connack(flags: int, body: bytes) -> tuple[bool, int, dict[int, Any]]:
    """3.2 CONNACK: acknowledge flags (bit 0 Session Present, the rest reserved 0: 3.2.2.1),
    reason code (3.2.2.2), properties (3.2.2.3)."""
    if flags:
        raise PacketError(MALFORMED, "CONNACK fixed header flags must be 0")
    if len(body) < 3:
        raise PacketError(MALFORMED, "CONNACK shorter than 3 bytes")
    if body[0] & 0xFE:
        raise PacketError(MALFORMED, "CONNACK reserved acknowledge flags set")
    props, pos = decode_properties(body, 2, len(body))
    if pos != len(body):
        raise PacketError(MALFORMED, "CONNACK has bytes after its properties")
    return bool(body[0] & 1), body[1], props


def decode_ack(kind: int, flags: int, body: bytes) -> tuple[int, list[int], dict[int, Any]]:
    """3.4 PUBACK and 3.9 SUBACK: packet id, then (PUBACK) an optional reason code and
    properties (3.4.2.1), or (SUBACK) properties and one reason code per filter (3.9.3)."""
    if flags:
        raise PacketError(MALFORMED, "fixed header flags must be 0 (type %d)" % kind)
    if len(body) < 2:
        raise PacketError(MALFORMED, "acknowledgement without a packet id (type %d)" % kind)
    packet_id = body[0] << 8 | body[1]
    if kind == PUBACK:
        if len(body) == 2:
            return packet_id, [0], {}
        props, pos = decode_properties(body, 3, len(body)) if len(body) > 3 else ({}, 3)
        if pos != len(body):
            raise PacketError(MALFORMED, "PUBACK has bytes after its properties")
        return packet_id, [body[2]], props
    props, pos = decode_properties(body, 2, len(body))
    if pos == len(body):
        raise PacketError(PROTOCOL_ERROR, "SUBACK without reason codes")
    return packet_id, list(body[pos:]), props


def decode_disconnect(flags: int, body: bytes) -> tuple[int, dict[int, Any]]:
    """3.14 DISCONNECT: reason code (absent = 0, 3.14.2.1) and optional properties."""
    if flags:
        raise PacketError(MALFORMED, "DISCONNECT fixed header flags must be 0")
    if not body:
        return NORMAL, {}
    if len(body) == 1:
        return body[0], {}
    props, pos = decode_properties(body, 1, len(body))
    if pos != len(body):
        raise PacketError(MALFORMED, "DISCONNECT has bytes after its properties")
    return body[0], props


def _remaining_length(data: bytes, pos: int) -> tuple[int, int]:
    """2.1.4 Remaining Length of the packet at `pos` -> (length, position after it), or (0, -1)
    when the data ends inside it; more than four bytes is Malformed."""
    length, p, n = 0, pos + 1, len(data)
    for shift in (0, 7, 14, 21):
        if p >= n:
            return 0, -1
        byte = data[p]
        p += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return length, p
    raise PacketError(MALFORMED, "remaining length longer than 4 bytes")


def split_packets(data: bytes, max_size: int = MAX_PACKET_BYTES) -> tuple[list[tuple[int, int, bytes]], int]:
    """Every complete packet at the start of `data` as (type, flags, body), and how many bytes
    they took (the rest waits for more). 2.1.1 Fixed Header: byte 1 type and flags, then the
    Remaining Length; type 0 is reserved (Malformed); a packet longer than `max_size` (the
    Maximum Packet Size we sent, 3.1.2.11.4) is Packet Too Large."""
    out: list[tuple[int, int, bytes]] = []
    pos, n = 0, len(data)
    while pos + 2 <= n:
        first = data[pos]
        length, p = _remaining_length(data, pos)
        if p < 0:
            return out, pos
        if not first >> 4 or first >> 4 == 15:
            raise PacketError(MALFORMED if not first >> 4 else PROTOCOL_ERROR,
                              "packet type %d from the server" % (first >> 4))
        if p - pos + length > max_size:
            raise PacketError(PACKET_TOO_LARGE, "packet of %d bytes (maximum %d)" % (p - pos + length, max_size))
        if p + length > n:
            return out, pos
        out.append((first >> 4, first & 0x0F, data[p:p + length]))
        pos = p + length
    return out, pos


# --- the connection ------------------------------------------------------------------------

@dataclass
class ReaderSettings:
    """What the uplink connection needs: the same as the aiomqtt link's (main.mqtt_client_factory)."""
    host: str
    port: int
    client_id: str
    username: str = ""
    password: str = ""
    tls: ssl.SSLContext | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 86400
    connect_timeout_s: float = 10.0
    # Our Receive Maximum (3.1.2.11.3): how many QoS 1 deliveries the broker may have out to us
    # unacknowledged. The ingest acks a whole batch after its commit, so it must exceed a batch
    # comfortably; beyond that it is back-pressure: a supervisor behind (or a database down)
    # leaves the backlog queued on the broker, not in the supervisor's memory.
    receive_maximum: int = RECEIVE_MAXIMUM
    # Reading pauses at this many unacknowledged deliveries (until half of them are acked): the
    # ingest's in-memory backlog stays bounded even where the broker overshoots Receive Maximum.
    # The supervisor uses one batch (storage.batch_max): a full batch wakes the flusher, and a
    # backlog several batches deep only made each flush longer (the bench's command round trip
    # p50 went from 0.05 s to 0.6 s with 4 batches in memory).
    max_unacked: int = 2000


READ_CHUNK = 65536  # bytes a read takes at most: ~150 telemetry messages handled per loop turn


class _Connection(asyncio.BufferedProtocol):
    """One TCP (or TLS) connection: parses what arrives, feeds PUBLISHes to the ingest at once,
    and writes the acks of one event loop turn together. Reads are at most READ_CHUNK (asyncio's
    own 256 KiB held the event loop for ~600 messages at a time, delaying the command link)."""

    def __init__(self, ingest: Ingest, settings: ReaderSettings) -> None:
        self.ingest = ingest
        self.settings = settings
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.rbuf = memoryview(bytearray(READ_CHUNK))
        self.connack: asyncio.Future[tuple[bool, dict[int, Any]]] = self.loop.create_future()
        # its waiter may be gone (timed out through a shield, cancelled at a stop) when the
        # connection drops: the exception is then nobody's to retrieve, and asyncio would log it
        self.connack.add_done_callback(_retrieved)
        self.suback: dict[int, asyncio.Future[list[int]]] = {}
        self.closed: asyncio.Future[str] = self.loop.create_future()
        self.acks: list[int] = []
        self.unacked: set[int] = set()  # QoS 1 deliveries not yet acknowledged (our Receive Maximum)
        self.outgoing: set[int] = set()  # our QoS 1 publishes not yet acknowledged (server Receive Maximum)
        self.next_id = 0
        self.server_receive_max = 65535  # 3.2.2.3.3: absent = 65535
        self.server_max_packet = 268_435_460  # 3.2.2.3.6: absent = no limit beyond the protocol's
        self.last_sent = time.monotonic()
        self.last_received = time.monotonic()
        self.ping_sent_at = 0.0
        self.pongs = 0  # PINGRESPs received on this connection
        self.overrun = False  # the broker went over our Receive Maximum (logged once)
        self.paused = False  # reading paused: `max_unacked` deliveries wait for the database

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.connack.done():
            self.connack.set_exception(ConnectionError("connection closed before CONNACK (%s)" % (exc or "EOF")))
        for fut in self.suback.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed before SUBACK"))
        if not self.closed.done():
            self.closed.set_result("connection lost (%s)" % (exc or "closed by the broker"))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.rbuf

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.rbuf[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Every complete packet in `data` (after what an earlier read left), in one pass: the
        fixed header as `split_packets` reads it, and the usual PUBLISH (QoS 0 or 1, not retained,
        not a resend, no properties, a plain topic) taken straight from the buffer: two slices,
        no body copy and no `Publish`. Anything else goes through `decode_publish`, which has the
        last word on what is malformed."""
        self.last_received = time.monotonic()
        if self.buf:
            data = self.buf + data
        pos, n = 0, len(data)
        try:
            while pos + 2 <= n:
                first = data[pos]
                length = data[pos + 1]
                p = pos + 2
                if length & 0x80:
                    length, p = _remaining_length(data, pos)
                    if p < 0:
                        break  # the Remaining Length itself is cut short
                kind = first >> 4
                if not kind or kind == 15:
                    raise PacketError(MALFORMED if not kind else PROTOCOL_ERROR, "packet type %d from the server" % kind)
                if p - pos + length > MAX_PACKET_BYTES:
                    raise PacketError(PACKET_TOO_LARGE, "packet of %d bytes (maximum %d)"
                                      % (p - pos + length, MAX_PACKET_BYTES))
                end = p + length
                if end > n:
                    break
                pos = end
                flags = first & 0x0F
                if kind != PUBLISH:
                    self._control(kind, flags, data[p:end])
                elif (flags == 2 or not flags) and end - p >= 3:
                    t = p + 2 + (data[p] << 8 | data[p + 1])  # the end of the topic name
                    q = t + 2 if flags else t  # the properties' length
                    packet_id = data[t] << 8 | data[t + 1] if flags and q < end else 0
                    if q < end and not data[q] and (packet_id or not flags):
                        try:
                            topic = data[p + 2:t].decode("utf-8")
                        except UnicodeDecodeError:
                            topic = ""
                        if topic and "+" not in topic and "#" not in topic and "\x00" not in topic:
                            self._deliver(topic, data[q + 1:end], False, packet_id)
                        else:
                            self._publish(decode_publish(flags, data[p:end]))
                    else:
                        self._publish(decode_publish(flags, data[p:end]))
                else:
                    self._publish(decode_publish(flags, data[p:end]))
                if self.transport is None:
                    return
        except PacketError as exc:
            self.fail(exc.reason, str(exc))
            return
        self.buf = data[pos:]

    # packets
    def _publish(self, msg: Publish) -> None:
        self._deliver(msg.topic, msg.payload, msg.retain, msg.packet_id if msg.qos else 0)

    def _deliver(self, topic: str, payload: bytes, retain: bool, packet_id: int) -> None:
        """One PUBLISH to the ingest; `packet_id` 0 for QoS 0 (no ack)."""
        ack = None
        if packet_id:
            unacked = self.unacked
            unacked.add(packet_id)
            if len(unacked) > self.settings.receive_maximum and not self.overrun:
                # 3.3.4 says DISCONNECT 0x93; Mosquitto 2.0.11 overshoots our Receive Maximum
                # (by one per round of acks, and it adds up), and reconnecting over it would only
                # throw the batch away: noted once, and the reading pause below bounds it.
                self.overrun = True
                log.warning("MQTT reader: the broker sent more than our Receive Maximum (%d) unacknowledged",
                            self.settings.receive_maximum)
            if len(unacked) >= self.settings.max_unacked and not self.paused and self.transport is not None:
                self.paused = True  # back-pressure: the backlog stays queued on the broker
                self.transport.pause_reading()
            ack = self.acker(packet_id)
        if (retain or not payload) and refuse_retained(self.ingest, topic, payload, retain, ack, self.clear):
            return
        self.ingest.handle(topic, payload, ack)

    def _control(self, kind: int, flags: int, body: bytes) -> None:
        if kind == PUBACK:  # the broker's ack of one of our clears
            pid, _reasons, _props = decode_ack(kind, flags, body)
            self.outgoing.discard(pid)
        elif kind == PINGRESP:
            if flags or body:
                raise PacketError(MALFORMED, "PINGRESP with flags or a body")  # 3.13
            self.ping_sent_at = 0.0
            self.pongs += 1
        elif kind == CONNACK:
            if self.connack.done():
                raise PacketError(PROTOCOL_ERROR, "second CONNACK")  # 3.2
            present, reason, props = decode_connack(flags, body)
            if reason >= 0x80:
                self.connack.set_exception(ConnectRefused("broker refused the connection: reason 0x%02X%s"
                                                          % (reason, _reason_text(props))))
                return
            self.server_receive_max = props.get(RECEIVE_MAX, 65535)
            if self.server_receive_max == 0:
                raise PacketError(PROTOCOL_ERROR, "CONNACK Receive Maximum 0")  # 3.2.2.3.3
            self.server_max_packet = props.get(MAXIMUM_PACKET_SIZE, self.server_max_packet)
            self.connack.set_result((present, props))
        elif kind == SUBACK:
            pid, reasons, _props = decode_ack(kind, flags, body)
            fut = self.suback.pop(pid, None)
            if fut is None:
                raise PacketError(PROTOCOL_ERROR, "SUBACK for unknown packet id %d" % pid)
            fut.set_result(reasons)
        elif kind == DISCONNECT:
            reason, props = decode_disconnect(flags, body)
            text = "broker disconnected: reason 0x%02X%s" % (reason, _reason_text(props))
            if not self.closed.done():
                self.closed.set_result(text)
            if self.transport is not None:
                self.transport.close()
        else:
            raise PacketError(PROTOCOL_ERROR, "unexpected packet type %d from the server" % kind)

    # sending
    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_sent = time.monotonic()

    def packet_id(self) -> int:
        self.next_id = self.next_id % 65535 + 1  # 2.2.1: 1..65535
        return self.next_id

    def acker(self, packet_id: int) -> Callable[[], None]:
        """The PUBACK of one delivery, as a call: queued, and the queue written once at the end
        of this event loop turn (the ingest acks a whole stored batch in one turn). Acks of a
        closed connection are void: the broker resends on the next (packet ids restart)."""
        def ack() -> None:
            if self.transport is None:
                return
            if not self.acks:
                self.loop.call_soon(self.flush_acks)
            self.acks.append(packet_id)

        return ack

    def flush_acks(self) -> None:
        acks, self.acks = self.acks, []
        if acks and self.transport is not None:
            self.unacked.difference_update(acks)
            self.send(encode_pubacks(acks))
            if self.paused and len(self.unacked) < self.settings.max_unacked // 2:
                self.paused = False
                self.transport.resume_reading()

    def clear(self, topic: str) -> None:
        """The empty retained QoS 1 message that clears a retained uplink, if the server's
        Receive Maximum (3.3.4) and Maximum Packet Size (3.1.2.11.4) allow it now."""
        if len(self.outgoing) >= self.server_receive_max:
            log.warning("retained %r not cleared: %d clears await the broker's ack", topic[:200], len(self.outgoing))
            return
        pid = self.packet_id()
        packet = encode_publish(topic, b"", qos=1, retain=True, packet_id=pid)
        if len(packet) > self.server_max_packet:
            log.warning("retained %r not cleared: over the broker's maximum packet size", topic[:200])
            return
        self.outgoing.add(pid)
        self.send(packet)

    def fail(self, reason: int, text: str) -> None:
        """A broken packet: DISCONNECT with the reason (4.13.1), then close."""
        log.error("MQTT reader: %s; disconnecting", text)
        if not self.closed.done():
            self.closed.set_result(text)
        if self.transport is not None:
            self.send(encode_disconnect(reason))
            self.transport.close()
            self.transport = None

    async def subscribe(self, filters: list[str]) -> None:
        pid = self.packet_id()
        fut: asyncio.Future[list[int]] = self.loop.create_future()
        fut.add_done_callback(_retrieved)  # as connack's
        self.suback[pid] = fut
        self.send(encode_subscribe(pid, filters))
        reasons = await asyncio.wait_for(fut, self.settings.connect_timeout_s)
        if len(reasons) != len(filters):
            raise PacketError(PROTOCOL_ERROR, "SUBACK with %d reason codes for %d filters" % (len(reasons), len(filters)))
        refused = ["%s (0x%02X)" % (f, r) for f, r in zip(filters, reasons, strict=True) if r >= 0x80]
        if refused:
            raise ConnectRefused("broker refused the subscription(s): " + ", ".join(refused))
        if any(r == 0 for r in reasons):
            log.warning("broker granted QoS 0 on some uplink filters: those messages are not redelivered")

    async def keep_alive(self, keepalive_s: float) -> None:
        """3.1.2.10: send a packet at least every keep-alive (a PINGREQ when nothing else went);
        no PINGRESP within another keep-alive means the connection is dead (4.13)."""
        while self.transport is not None:
            await asyncio.sleep(max(0.5, keepalive_s / 4))
            now = time.monotonic()
            if self.ping_sent_at and now - self.ping_sent_at > keepalive_s:
                self.fail(NORMAL, "no PINGRESP within %.0f s" % keepalive_s)
                return
            if now - self.last_sent >= keepalive_s / 2 and not self.ping_sent_at:
                self.ping_sent_at = now
                self.send(PINGREQ_PACKET)


def _reason_text(props: dict[int, Any]) -> str:
    return ": %s" % props[REASON_STRING][:200] if REASON_STRING in props else ""


async def connect(ingest: Ingest, settings: ReaderSettings, filters: list[str]) -> tuple[_Connection, bool]:
    """Connect, CONNECT/CONNACK, subscribe: the live connection and whether the broker had our
    session. Deliveries start right after CONNACK (a persistent session's queue) and go to the
    ingest from then on."""
    loop = asyncio.get_running_loop()
    s = settings
    _transport, conn = await asyncio.wait_for(loop.create_connection(
        lambda: _Connection(ingest, s), s.host, s.port, ssl=s.tls,
        server_hostname=s.host if s.tls is not None else None), s.connect_timeout_s)
    try:
        conn.send(encode_connect(s.client_id, s.username, s.password, s.keepalive_s, s.session_expiry_s,
                                 receive_maximum=s.receive_maximum))
        present, _props = await asyncio.wait_for(asyncio.shield(conn.connack), s.connect_timeout_s)
        await conn.subscribe(filters)
    except BaseException:
        if conn.transport is not None:
            conn.transport.close()
        raise
    return conn, present


async def run_reader(ingest: Ingest, settings: ReaderSettings, filters: list[str],
                     on_connect: Callable[[_Connection], None] | None = None) -> None:
    """Subscribe to `filters` and feed `ingest` forever, reconnecting with back-off (0.5 s
    doubling to 10 s) after a refusal, a lost connection or a malformed packet."""
    delay_s = 0.5
    me = asyncio.current_task()
    while True:
        conn: _Connection | None = None
        try:
            conn, present = await connect(ingest, settings, filters)
            if me is not None and me.cancelling():
                # asyncio.wait_for (Python 3.11) returns a result that arrived together with a
                # cancel and swallows the cancel: the reader would go on forever after shutdown.
                raise asyncio.CancelledError
            delay_s = 0.5
            log.info("MQTT reader connected (session %s); subscribed to %s",
                     "resumed" if present else "new", ", ".join(filters))
            if on_connect is not None:
                on_connect(conn)
            keepalive_s = conn.connack.result()[1].get(SERVER_KEEP_ALIVE, settings.keepalive_s)  # 3.2.2.3.14
            pinger = asyncio.ensure_future(conn.keep_alive(keepalive_s)) if keepalive_s else None
            try:
                why = await conn.closed
            finally:
                if pinger is not None:
                    pinger.cancel()
            log.warning("MQTT reader: %s; reconnecting in %.1f s", why, delay_s)
        except asyncio.CancelledError:
            if conn is not None and conn.transport is not None:
                conn.send(encode_disconnect(NORMAL))  # 3.14.4: the session stays (expiry from CONNECT)
                conn.transport.close()
            raise
        except (TimeoutError, OSError, ConnectRefused, PacketError, ConnectionError, ssl.SSLError) as exc:
            log.warning("MQTT reader: cannot connect to %s:%d (%s); retrying in %.1f s",
                        settings.host, settings.port, exc, delay_s)
            if conn is not None and conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 10.0)
