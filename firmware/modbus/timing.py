"""Modbus RTU wire rules, shared by the station and the device simulators: CRC-16/MODBUS,
character time, the t1.5 and t3.5 silences and frame sizes.

Pure Python without pymodbus (the simulators and benchmarks import it without the station's
Modbus stack): `from heatkeeper.firmware.modbus.timing import crc16, t35_s`.

Source: MODBUS over Serial Line Specification and Implementation Guide V1.02. 2.5.1: a
character is 11 bits (start, 8 data, parity or second stop, stop). 2.5.1.1: frames are
separated by 3.5 character times and a frame's characters by at most 1.5; above 19200 baud both
are fixed, at 1.750 ms and 750 us. 2.5.1.2 and 6.2.2: the CRC is CRC-16 (polynomial 0xA001
reflected, initial 0xFFFF), sent low byte first.
"""

from __future__ import annotations

FIXED_T35_S = 0.00175
FIXED_T15_S = 0.00075
FIXED_ABOVE_BAUD = 19200


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS of `data` (its low byte goes first on the wire)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    """`body` followed by its CRC, low byte first: a complete RTU frame."""
    crc = crc16(body)
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


def crc_ok(frame: bytes) -> bool:
    """True when `frame` (address, PDU, CRC) is at least 4 bytes and its CRC matches."""
    return len(frame) >= 4 and crc16(frame[:-2]) == frame[-2] | (frame[-1] << 8)


def char_time_s(baudrate: int, bits_per_char: int = 11) -> float:
    """Time one character occupies on the wire."""
    return bits_per_char / float(baudrate)


def t35_s(baudrate: int, bits_per_char: int = 11) -> float:
    """The silent interval that ends a frame (fixed 1.75 ms above 19200 baud)."""
    if baudrate > FIXED_ABOVE_BAUD:
        return FIXED_T35_S
    return 3.5 * char_time_s(baudrate, bits_per_char)


def t15_s(baudrate: int, bits_per_char: int = 11) -> float:
    """The longest silence allowed between two characters of one frame (fixed 750 us above
    19200 baud); a longer one makes the frame incomplete."""
    if baudrate > FIXED_ABOVE_BAUD:
        return FIXED_T15_S
    return 1.5 * char_time_s(baudrate, bits_per_char)


def frame_bytes(function_code: int, count: int) -> tuple[int, int]:
    """(request bytes, response bytes) of one transaction, address and CRC included."""
    if function_code in (3, 4):
        return 8, 5 + 2 * count
    if function_code == 6:
        return 8, 8
    if function_code == 16:
        return 9 + 2 * count, 8
    raise ValueError("function_code=%r: must be 3, 4, 6 or 16" % function_code)


def wire_minimum_s(transactions: list[tuple[int, int]], baudrate: int, bits_per_char: int = 11) -> float:
    """Least time a list of (function code, register count) transactions can take on the wire.

    Each transaction is request + response characters plus two t3.5 gaps (the slave must see
    t3.5 of silence before it answers, the master before its next request); zero turnaround.
    """
    tc = char_time_s(baudrate, bits_per_char)
    gap = t35_s(baudrate, bits_per_char)
    total = 0.0
    for fc, count in transactions:
        req, resp = frame_bytes(fc, count)
        total += (req + resp) * tc + 2.0 * gap
    return total
