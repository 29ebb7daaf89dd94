"""Static pymodbus device simulators serving heatkeeper's device profiles.

For the bus bench and the tests of the bus layer and commissioning commands: each device's
registers are laid out from its profile's documented blocks (coalesced reads inside a block
work; other addresses answer exception 2 like a real device), values are written with `device_profiles.encode_raw`. Writes land in the registers
(so read-back confirms them). The plant-driven simulators are `heatkeeper sim`.
"""

from __future__ import annotations

from heatkeeper.core.device_profiles import PROFILES, encode_raw
from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simdevice import SimAction


def profile_ranges(profile: str) -> list[tuple[int, int]]:
    """(start, count) register ranges a device of `profile` serves: its documented blocks
    (shared FC3/FC4 memory), so a read across undocumented registers answers exception 2."""
    spans = sorted((b["address"], b["address"] + b["count"]) for b in PROFILES[profile]["blocks"])
    ranges: list[list[int]] = []
    for start, end in spans:
        if ranges and start <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([start, end])
    return [(s, e - s) for s, e in ranges]


def profile_registers(profile: str, values: dict[str, float]) -> dict[int, int]:
    """{address: register} holding `values` (engineering units by point name); bit points OR together."""
    regs: dict[int, int] = {}
    prof = PROFILES[profile]
    for point, value in values.items():
        pt = prof["points"][point]
        words = encode_raw(profile, point, value)
        for i, w in enumerate(words):
            addr = pt["address"] + i
            regs[addr] = (regs.get(addr, 0) | w) if "bit" in pt else w
    return regs


def sim_device(unit_id: int, profile: str, values: dict[str, float] | None = None,
               action: SimAction | None = None) -> SimDevice:
    """A SimDevice with the profile's registers, holding `values`."""
    regs = profile_registers(profile, values or {})
    blocks = []
    for start, count in profile_ranges(profile):
        blocks.append(SimData(start, count=1, values=[regs.get(a, 0) for a in range(start, start + count)],
                              datatype=DataType.REGISTERS))
    return SimDevice(id=unit_id, simdata=blocks, action=action)


async def serve(port: str, devices: list[SimDevice], baudrate: int = 19200) -> ModbusSerialServer:
    """Start a serial RTU server (pty path or socket:// URL) in the background."""
    server = ModbusSerialServer(devices, port=port, framer=FramerType.RTU, baudrate=baudrate, parity="N")
    await server.serve_forever(background=True)
    return server
