"""A virtual line on a real pty, driven by pymodbus' own RTU client (real frames both ways):
dispatch by unit id, silence for absent and dead devices, corrupted and dropped replies,
wire timing, the adapter unplugged and put back."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator

import pytest
from heatkeeper.tools.sim import rtu
from heatkeeper.tools.sim.line import VirtualLine
from heatkeeper.tools.sim.transport import PtyTransport, SerialTransport, TcpTransport
from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class Registers:
    """A minimal device for exercising the line: 10 holding registers, all writable."""

    def __init__(self, name: str, unit_id: int, base: int) -> None:
        self.name, self.unit_id = name, unit_id
        self.regs = [base + i for i in range(10)]

    def handle(self, request: rtu.Request) -> bytes | None:
        if request.function_code == 3:
            if request.address + request.count > len(self.regs):
                return rtu.exception_response(self.unit_id, 3, rtu.EXC_ILLEGAL_ADDRESS)
            return rtu.read_response(self.unit_id, 3, self.regs[request.address:request.address + request.count])
        if request.function_code == 6 and request.values:
            self.regs[request.address] = request.values[0]
            return rtu.write_single_response(self.unit_id, request.address, request.values[0])
        return rtu.exception_response(self.unit_id, request.function_code, rtu.EXC_ILLEGAL_FUNCTION)


@pytest.fixture
async def bus(tmp_path) -> AsyncIterator[tuple[VirtualLine, AsyncModbusSerialClient, str]]:
    link = str(tmp_path / "bus.tty")
    line = VirtualLine("rs485-1", PtyTransport(link), baudrate=19200, throttle=False, turnaround_s=0.0)
    line.add(Registers("a", 1, 100))
    line.add(Registers("b", 2, 200))
    await line.start()
    client = AsyncModbusSerialClient(link, framer=FramerType.RTU, baudrate=19200, timeout=0.2, retries=0,
                                     reconnect_delay=0.1, reconnect_delay_max=0.2)
    assert await client.connect()
    try:
        yield line, client, link
    finally:
        client.close()
        await line.stop()


async def test_devices_answer_by_unit_id_and_writes_land(bus) -> None:
    line, client, _ = bus
    rr = await client.read_holding_registers(0, count=3, device_id=1)
    assert rr.registers == [100, 101, 102]
    rr = await client.read_holding_registers(5, count=2, device_id=2)
    assert rr.registers == [205, 206]
    wr = await client.write_register(4, 777, device_id=2)
    assert not wr.isError()
    assert (await client.read_holding_registers(4, count=1, device_id=2)).registers == [777]
    rr = await client.read_holding_registers(8, count=5, device_id=1)
    assert rr.isError() and rr.exception_code == 2
    assert line.stats["exceptions"] == 1


async def test_absent_and_dead_devices_stay_silent_and_others_keep_answering(bus) -> None:
    line, client, _ = bus
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=1, device_id=9)
    line.dead.add(2)
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=1, device_id=2)
    assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [100]
    line.dead.discard(2)
    assert (await client.read_holding_registers(0, count=1, device_id=2)).registers == [200]
    assert line.stats["no_device"] == 1 and line.stats["dead_silent"] == 1


async def test_corrupted_and_dropped_replies_are_lost_to_the_master(bus) -> None:
    line, client, _ = bus
    line.corrupt_rate = 1.0
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=1, device_id=1)
    line.corrupt_rate, line.drop_rate = 0.0, 1.0
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=1, device_id=1)
    line.drop_rate = 0.0
    await asyncio.sleep(0.05)
    assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [100]
    assert line.stats["corrupted"] == 1 and line.stats["dropped"] == 1


async def test_partial_rate_corrupts_about_that_share(bus) -> None:
    line, client, _ = bus
    line.corrupt_rate = 0.2
    errors = 0
    for _ in range(60):
        try:
            rr = await client.read_holding_registers(0, count=1, device_id=1)
            assert rr.registers == [100]
        except ModbusException:
            errors += 1
            await asyncio.sleep(0.02)
    assert errors == line.stats["corrupted"]
    assert 2 <= errors <= 30


async def test_slow_device_misses_a_short_timeout(bus) -> None:
    line, client, _ = bus
    line.slow_s[1] = 0.5
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=1, device_id=1)
    await asyncio.sleep(0.5)
    line.slow_s.clear()
    assert (await client.read_holding_registers(0, count=1, device_id=2)).registers == [200]


async def test_wire_time_is_enforced_at_the_baud_rate(tmp_path) -> None:
    link = str(tmp_path / "slow.tty")
    line = VirtualLine("rs485-1", PtyTransport(link), baudrate=1200, throttle=True, turnaround_s=0.0)
    line.add(Registers("a", 1, 0))
    await line.start()
    client = AsyncModbusSerialClient(link, framer=FramerType.RTU, baudrate=1200, timeout=2.0, retries=0)
    try:
        assert await client.connect()
        t0 = time.monotonic()
        rr = await client.read_holding_registers(0, count=10, device_id=1)
        elapsed = time.monotonic() - t0
        assert rr.registers == list(range(10))
        # 8-byte request + 25-byte reply at 1200 baud, 11 bits per character: at least 0.30 s.
        assert elapsed >= 33 * 11 / 1200 * 0.95
    finally:
        client.close()
        await line.stop()


async def test_unplug_removes_the_port_and_plug_brings_it_back(bus) -> None:
    line, client, link = bus
    await line.unplug()
    assert not os.path.lexists(link)
    with pytest.raises(ModbusException):
        await client.read_holding_registers(0, count=1, device_id=1)
    await line.plug()
    assert os.path.islink(link)
    client.close()
    assert await client.connect()
    assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [100]


async def test_rtu_over_tcp() -> None:
    transport = TcpTransport("127.0.0.1", 0)
    line = VirtualLine("gw", transport, throttle=False)
    line.add(Registers("a", 3, 30))
    await line.start()
    client = AsyncModbusSerialClient("socket://127.0.0.1:%d" % transport.port, framer=FramerType.RTU, timeout=0.5, retries=0)
    try:
        assert await client.connect()
        assert (await client.read_holding_registers(1, count=2, device_id=3)).registers == [31, 32]
    finally:
        client.close()
        await line.stop()


async def test_serial_transport_on_a_socat_pty_pair(tmp_path) -> None:
    """The serial-port transport (pyserial) on one end of a socat null-modem, the client on the other."""
    import shutil
    import subprocess

    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat not installed")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    proc = subprocess.Popen([socat, "pty,raw,echo=0,link=%s" % a, "pty,raw,echo=0,link=%s" % b],
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(a) and os.path.exists(b):
                break
            await asyncio.sleep(0.02)
        line = VirtualLine("rs485-1", SerialTransport(a, 19200, "N", 1), throttle=False)
        line.add(Registers("a", 7, 70))
        await line.start()
        client = AsyncModbusSerialClient(b, framer=FramerType.RTU, baudrate=19200, timeout=0.5, retries=0)
        try:
            assert await client.connect()
            assert (await client.read_holding_registers(2, count=2, device_id=7)).registers == [72, 73]
            assert not (await client.write_register(0, 5, device_id=7)).isError()
        finally:
            client.close()
            await line.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=5)


async def test_strict_gap_ignores_requests_that_follow_too_closely(tmp_path) -> None:
    link = str(tmp_path / "gap.tty")
    line = VirtualLine("rs485-1", PtyTransport(link), baudrate=1200, throttle=False, turnaround_s=0.0, strict_gap=True)
    line.add(Registers("a", 1, 0))
    await line.start()
    client = AsyncModbusSerialClient(link, framer=FramerType.RTU, baudrate=1200, timeout=0.3, retries=0)
    try:
        assert await client.connect()
        await client.read_holding_registers(0, count=1, device_id=1)
        # pymodbus sends the next request at once: inside t3.5 (32 ms at 1200 baud) it is ignored.
        with pytest.raises(ModbusException):
            await client.read_holding_registers(0, count=1, device_id=1)
        assert line.stats["gap_violations"] >= 1
        await asyncio.sleep(0.1)
        assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [0]
    finally:
        client.close()
        await line.stop()
