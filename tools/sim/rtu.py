"""Modbus RTU framing for a slave (sans-I/O): bytes in, request frames out, response bytes back.

Why our own framing rather than pymodbus' server: one simulated line carries several devices
and must stay *silent* for an absent or dead unit id (pymodbus' simulator answers unknown ids
with exception 4), and the fault layer has to act on whole frames (corrupt a CRC, drop a
reply). The frame format follows "MODBUS over Serial Line V1.02" section 2.5: address, PDU,
CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF, low byte first). The CRC and the
character-time rules are the station's own (heatkeeper.firmware.modbus.timing): one copy.

Invariants: `RequestFramer.feed` never raises on garbage; a frame with a bad CRC is counted
and discarded, never answered (a real slave stays silent too).
"""

from __future__ import annotations

import struct

# The wire rules, one copy (the line and the tests use them as rtu.crc16, rtu.t35_s, ...).
from heatkeeper.firmware.modbus.timing import char_time_s, crc16, crc_ok, t15_s, t35_s, with_crc  # noqa: F401

FC_READ_HOLDING = 3
FC_READ_INPUT = 4
FC_WRITE_SINGLE = 6
FC_WRITE_MULTIPLE = 16
SUPPORTED_FCS = (FC_READ_HOLDING, FC_READ_INPUT, FC_WRITE_SINGLE, FC_WRITE_MULTIPLE)

EXC_ILLEGAL_FUNCTION = 1
EXC_ILLEGAL_ADDRESS = 2
EXC_ILLEGAL_VALUE = 3
EXC_DEVICE_FAILURE = 4

MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123
MAX_FRAME_BYTES = 256


def request_length(buf: bytes) -> int | None:
    """Length of the request frame at the start of `buf`, or None when more bytes are needed.

    Request sizes are fixed by function code (spec section 6): FC 1-6 are 8 bytes, FC 15/16
    carry a byte count at offset 6. An unknown function code returns 0: frame it by silence.
    """
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        if len(buf) < 7:
            return None
        return 9 + buf[6]
    return 0


class Request:
    """One well-formed request frame (CRC checked)."""

    __slots__ = ("unit_id", "function_code", "address", "count", "values", "raw")

    def __init__(self, unit_id: int, function_code: int, address: int, count: int,
                 values: list[int] | None, raw: bytes) -> None:
        self.unit_id = unit_id
        self.function_code = function_code
        self.address = address
        self.count = count
        self.values = values
        self.raw = raw

    def __repr__(self) -> str:
        return "Request(unit=%d fc=%d addr=%d count=%d values=%r)" % (
            self.unit_id, self.function_code, self.address, self.count, self.values)


def parse_request(frame: bytes) -> Request:
    """Decode a CRC-checked frame. Malformed PDUs keep address/count at -1 so the slave can
    answer "illegal value" the way devices do."""
    unit, fc = frame[0], frame[1]
    address, count, values = -1, -1, None
    if fc in (FC_READ_HOLDING, FC_READ_INPUT) and len(frame) == 8:
        address, count = struct.unpack(">HH", frame[2:6])
    elif fc == FC_WRITE_SINGLE and len(frame) == 8:
        address, value = struct.unpack(">HH", frame[2:6])
        count, values = 1, [value]
    elif fc == FC_WRITE_MULTIPLE and len(frame) >= 9:
        address, count = struct.unpack(">HH", frame[2:6])
        nbytes = frame[6]
        data = frame[7:7 + nbytes]
        if nbytes == 2 * count and len(data) == nbytes:
            values = list(struct.unpack(">%dH" % count, data))
        else:
            count = -1
    return Request(unit, fc, address, count, values, bytes(frame))


class RequestFramer:
    """Splits the byte stream of a line into request frames.

    Framing is by content (the request length follows from the function code) with silence as
    the backstop: `gap()` tells the framer that the line was quiet for t3.5, which ends any
    partial frame (spec section 2.5.1.1). Counters: `frames`, `crc_errors`, `discarded_bytes`.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.crc_errors = 0
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> list[Request]:
        """Append received bytes; return the complete, CRC-valid requests now available."""
        self._buf.extend(data)
        out: list[Request] = []
        while self._buf:
            n = request_length(bytes(self._buf[:7]))
            if n is None:
                break
            if n == 0 or n > MAX_FRAME_BYTES:
                # Unknown function code: only silence can delimit it; wait for gap().
                if len(self._buf) > MAX_FRAME_BYTES:
                    self._discard(len(self._buf))
                break
            if len(self._buf) < n:
                break
            frame = bytes(self._buf[:n])
            if crc_ok(frame):
                del self._buf[:n]
                self.frames += 1
                out.append(parse_request(frame))
            else:
                # Out of sync or corrupted: drop everything buffered, as a slave does on a bad frame.
                self.crc_errors += 1
                self._discard(len(self._buf))
        return out

    def gap(self) -> Request | None:
        """The line went quiet: whatever is buffered is one frame (or garbage)."""
        if not self._buf:
            return None
        frame = bytes(self._buf)
        self._buf.clear()
        if len(frame) >= 4 and crc_ok(frame):
            self.frames += 1
            return parse_request(frame)
        self.crc_errors += 1
        self.discarded_bytes += len(frame)
        return None

    def pending(self) -> int:
        return len(self._buf)

    def _discard(self, n: int) -> None:
        self.discarded_bytes += n
        del self._buf[:n]


def exception_response(unit_id: int, function_code: int, code: int) -> bytes:
    return with_crc(bytes((unit_id, function_code | 0x80, code)))


def read_response(unit_id: int, function_code: int, registers: list[int]) -> bytes:
    body = bytes((unit_id, function_code, 2 * len(registers))) + struct.pack(">%dH" % len(registers), *registers)
    return with_crc(body)


def write_single_response(unit_id: int, address: int, value: int) -> bytes:
    return with_crc(struct.pack(">BBHH", unit_id, FC_WRITE_SINGLE, address, value))


def write_multiple_response(unit_id: int, address: int, count: int) -> bytes:
    return with_crc(struct.pack(">BBHH", unit_id, FC_WRITE_MULTIPLE, address, count))


def corrupt(frame: bytes) -> bytes:
    """The same frame with its CRC broken (what line noise does to a reply)."""
    if not frame:
        return frame
    return frame[:-1] + bytes(((frame[-1] ^ 0x5A) or 0x01,))
