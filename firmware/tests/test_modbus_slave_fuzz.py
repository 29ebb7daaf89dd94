"""Property-based tests of the local Modbus TCP write path: a real station (its controller, its
outbox) behind its real slave, written over TCP by a real pymodbus client with anything the
protocol can carry. Every answer is a normal response or a Modbus exception (1 illegal
function, 2 illegal address, 3 illegal value); the slave keeps serving; with writes disabled
nothing changes at all."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.firmware.config import load_config  # noqa: E402
from heatkeeper.firmware.modbus_slave import HR_SIZE, StationSlave  # noqa: E402
from heatkeeper.firmware.runtime import Station  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402

from .station_setup import station_toml  # noqa: E402

MODBUS_EXCEPTIONS = {1, 2, 3}

words = st.integers(min_value=0, max_value=0xFFFF) | st.integers(min_value=0, max_value=6)
plausible = st.floats(min_value=0.0, max_value=100.0, width=32) | st.sampled_from([19.5, 21.0, 60.0, 600.0, 3600.0])
floats_as_words = (st.floats(width=32, allow_nan=True, allow_infinity=True) | plausible).map(
    lambda v: list(struct.unpack(">HH", struct.pack(">f", v))))
SETTING_STARTS = [0, 2, 4, 6, 8, 10, 12, 14, 15, 16]


@st.composite
def writes(draw: st.DrawFn) -> tuple[str, int, Any]:
    """(function, address, values) within the holding-register block (outside it pymodbus answers
    itself), often aimed at the start of a setting so that some writes are accepted."""
    kind = draw(st.sampled_from(["registers", "register", "coil"]))
    if kind == "coil":
        return kind, 0, draw(st.booleans())
    address = draw(st.sampled_from(SETTING_STARTS) | st.integers(min_value=0, max_value=HR_SIZE - 1))
    if kind == "register":
        return kind, address, draw(words)
    count = draw(st.integers(min_value=1, max_value=HR_SIZE - address))
    values = draw(st.lists(words, min_size=count, max_size=count))
    for i in range(0, count - 1, 2):
        if draw(st.booleans()):
            values[i:i + 2] = draw(floats_as_words)
    return kind, address, values


class Bench:
    """A station (not cycling: its controller answers commands as it stands) and its slave on a loop."""

    def __init__(self, tmp_path: Any, writes_enabled: bool) -> None:
        path, raw = station_toml(tmp_path, 1, mqtt={"enabled": False}, modbus_slave={"writes_enabled": writes_enabled})
        self.loop = asyncio.new_event_loop()
        self.slave = self.loop.run_until_complete(self._start(path, raw["modbus_slave"]["port"]))

    async def _start(self, path: str, port: int) -> StationSlave:
        self.station = Station(load_config(path))
        slave = StationSlave(self.station, self.station.cfg.modbus_slave)
        await slave.start()
        self.client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=3, retries=0)
        await self.client.connect()
        return slave

    def send(self, kind: str, address: int, values: Any) -> Any:
        if kind == "coil":
            call = self.client.write_coil(address, values, device_id=1)
        elif kind == "register":
            call = self.client.write_register(address, values, device_id=1)
        else:
            call = self.client.write_registers(address, values, device_id=1)
        return self.loop.run_until_complete(call)

    def close(self) -> None:
        self.client.close()
        self.loop.run_until_complete(self.slave.stop())
        self.station.outbox.close()
        self.loop.close()


@pytest.fixture(params=[False, True], ids=["read-only", "writes-enabled"])
def bench(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Bench]:
    b = Bench(tmp_path, request.param)
    try:
        yield b
    finally:
        b.close()
    if request.param:
        assert b.slave.writes_ok > 0 and b.slave.writes_rejected > 0  # both paths were exercised


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(write=writes())
def test_any_write_gets_a_response_or_a_modbus_exception(bench: Bench, write: tuple[str, int, Any]) -> None:
    before = (list(bench.slave.hr), bench.station.ctl.snapshot())
    res = bench.send(*write)
    assert not res.isError() or res.exception_code in MODBUS_EXCEPTIONS, res
    if not bench.slave.cfg.writes_enabled:
        assert res.isError() and res.exception_code == 1
        assert (list(bench.slave.hr), bench.station.ctl.snapshot()) == before  # nothing changed
    if write[0] == "coil":
        assert res.isError() and res.exception_code == 1
    alive = bench.loop.run_until_complete(bench.client.read_input_registers(0, count=1, device_id=1))
    assert not alive.isError() and alive.registers == [1]  # still serving, map version 1
