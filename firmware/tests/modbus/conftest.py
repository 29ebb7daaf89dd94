"""Rigs for the bus-layer tests: a real pty pair and real pymodbus RTU servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from heatkeeper.tools.commissioning.devsim import serve, sim_device
from heatkeeper.tools.commissioning.ptyline import PtyLine
from heatkeeper.tools.sim.rtu import with_crc

DEMO_VALUES = {
    1: ("generic_rtd8_ai4", {"temp_1": -5.0, "temp_2": 95.0, "temp_3": 55.0, "temp_4": 60.0, "temp_5": 45.0,
                             "pressure_1": 800.0, "pressure_2": 500.0, "pressure_3": 450.0, "pressure_4": 300.0}),
    2: ("danfoss_fc", {"status_running": 1.0, "status_bus_control": 1.0, "actual_speed": 50.0, "control_word": 0.0}),
    3: ("abb_acs580", {"status_running": 1.0, "status_remote": 1.0, "actual_1": 40.0, "control_word": 0.0}),
    4: ("belimo_mod", {"relative_position": 33.0, "min_limit": 0.0, "max_limit": 100.0}),
    5: ("kamstrup_multical_603", {"power": 800.0, "flow_v1": 12.0, "energy_e1": 123456.0, "t1": 95.0, "t2": 55.0}),
    6: ("makeup_io", {"tank_level": 70.0, "water_volume": 12.5}),
}


@dataclass
class Rig:
    line: PtyLine
    server: object
    drop_ids: set[int] = field(default_factory=set)  # requests to these ids vanish (a dead device)
    mangle: dict[int, str] = field(default_factory=dict)  # replies from id -> "crc" | "truncate" | "garbage" | "fc4"

    def tamper(self, direction: str, data: bytes) -> bytes | None:
        if direction == "a2b":
            return None if data and data[0] in self.drop_ids else data
        kind = self.mangle.get(data[0]) if data else None
        if kind == "crc":
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if kind == "truncate":
            return data[: len(data) // 2]
        if kind == "garbage":
            return b"\x00\xff\x13\x37" + data[4:]
        if kind == "fc4" and len(data) > 4 and not data[1] & 0x80:
            return with_crc(bytes([data[0], 4]) + data[2:-2])  # a well-formed reply to another request
        return data


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    holder: dict[str, Rig] = {}
    line = PtyLine(tamper=lambda d, b: holder["rig"].tamper(d, b)).start()
    devices = [sim_device(uid, prof, vals) for uid, (prof, vals) in DEMO_VALUES.items()]
    server = await serve(line.port_b, devices)
    holder["rig"] = Rig(line, server)
    try:
        yield holder["rig"]
    finally:
        await server.shutdown()  # type: ignore[attr-defined]
        line.close()
