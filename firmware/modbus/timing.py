"""Modbus RTU wire timing: character time, the t3.5 gap and frame sizes.

Source: MODBUS over Serial Line Specification and Implementation Guide V1.02, 2.5.1: a
character is 11 bits (start, 8 data, parity or second stop, stop); frames are separated by
3.5 character times, fixed at 1.750 ms above 19200 baud.
"""

from __future__ import annotations

FIXED_T35_S = 0.00175


def char_time_s(baudrate: int, bits_per_char: int = 11) -> float:
    """Time one character occupies on the wire."""
    return bits_per_char / float(baudrate)


def t35_s(baudrate: int, bits_per_char: int = 11) -> float:
    """The silent interval that ends a frame (fixed 1.75 ms above 19200 baud)."""
    if baudrate > 19200:
        return FIXED_T35_S
    return 3.5 * char_time_s(baudrate, bits_per_char)


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
