"""Property: whatever bytes come back on the wire, the reply path (transport, then
decode_point for every point of every profile) returns a Reply / (value, ok) and raises
nothing. Replies are real bytes on a pty, written by a responder that answers each request
with what Hypothesis drew: garbage, or well-framed replies with any function code, byte
count, payload and a valid CRC.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import tty
from collections.abc import Iterator

import pytest
from heatkeeper.core.device_profiles import PROFILES, WIDTH, decode_point
from heatkeeper.firmware.modbus.transport import Reply, RtuTransport
from heatkeeper.tools.sim.rtu import with_crc
from hypothesis import given
from hypothesis import strategies as st

ERRORS = {None, "timeout", "crc", "framing", "exception", "disconnected"}


class Responder:
    """Answers every 8-byte request on the pty with `self.reply`."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self._slave = slave
        self.port = os.ttyname(slave)
        self.reply = b""
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        while not self._stop:
            ready, _w, _x = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                buf += os.read(self.master, 256)
            except OSError:
                return
            while len(buf) >= 8:
                buf = buf[8:]
                if self.reply:
                    os.write(self.master, self.reply)

    def close(self) -> None:
        self._stop = True
        self._thread.join(1.0)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture(scope="module")
def wire() -> Iterator[tuple[Responder, RtuTransport, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    responder = Responder()
    async def opened() -> RtuTransport:
        transport = RtuTransport(responder.port, timeout_s=0.03, enforce_gap=False)
        assert await transport.open()
        return transport

    transport = loop.run_until_complete(opened())
    try:
        yield responder, transport, loop
    finally:
        transport.close()
        loop.run_until_complete(asyncio.sleep(0.01))
        loop.close()
        responder.close()


def framed(unit: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    """Replies with a valid CRC: any function code (exception bit too), any byte count, any payload."""
    return st.builds(lambda u, fc, n, data: with_crc(bytes([u, fc, n]) + data),
                     unit, st.sampled_from([3, 4, 6, 16, 0x83, 0x84, 1, 0x7F, 0xFF]),
                     st.integers(0, 255), st.binary(max_size=260))


replies = st.one_of(st.binary(max_size=300), framed(st.just(7)), framed(st.integers(0, 255)),
                    st.builds(lambda fc, code: with_crc(bytes([7, fc | 0x80, code])), st.sampled_from([3, 4]),
                              st.integers(0, 255)))


@given(reply=replies, fc=st.sampled_from([3, 4]), address=st.integers(0, 65535 - 125), count=st.integers(1, 125))
def test_no_reply_makes_the_read_path_raise(wire: tuple[Responder, RtuTransport, asyncio.AbstractEventLoop],
                                            reply: bytes, fc: int, address: int, count: int) -> None:
    responder, transport, loop = wire
    responder.reply = reply
    result = loop.run_until_complete(transport.read(7, fc, address, count))
    assert isinstance(result, Reply)
    assert result.error in ERRORS
    if result.ok:
        assert len(result.registers) == count and all(0 <= r <= 0xFFFF for r in result.registers)
        decode_all(result.registers)
    else:
        assert result.registers == []


def decode_all(registers: list[int]) -> None:
    for name, prof in PROFILES.items():
        for point, pt in prof["points"].items():
            for start in range(min(len(registers), 4)):
                value, ok = decode_point(name, point, registers[start:start + WIDTH[pt["type"]]])
                assert isinstance(value, float | int) and ok in (True, False)


@given(registers=st.one_of(st.none(), st.lists(st.integers(-(2**40), 2**40), max_size=4)))
def test_decode_point_never_raises_on_device_data(registers: list[int] | None) -> None:
    for name, prof in PROFILES.items():
        for point in prof["points"]:
            value, ok = decode_point(name, point, registers)
            assert ok in (True, False)
            if ok:
                assert value == value  # never NaN when ok
