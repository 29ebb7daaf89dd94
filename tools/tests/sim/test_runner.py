"""The simulation end to end on a pty with pymodbus' client: configuration checks, plant
values served through the profiles, writes reaching the plant, scenarios at simulated time,
and the control channel over real TCP.

The plant here is a small stand-in with the Plant interface, so these tests pin the
simulator's own behaviour; tools/tests/sim/test_with_plant.py runs the real plant model."""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
from typing import Any

import pytest
from heatkeeper.core import device_profiles as dp
from heatkeeper.tools.sim import config as sim_config
from heatkeeper.tools.sim.control import SimControl, SimControlError
from heatkeeper.tools.sim.runner import Simulation
from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class StandInPlant:
    """Outdoor temperature that a cold snap lowers; valve position follows the command."""

    def __init__(self) -> None:
        self.time_s = 0.0
        self.applied: list[dict[str, float]] = []
        self.faults: dict[str, dict[str, Any]] = {}
        self.valve_pct = 0.0

    def apply(self, actuators: dict[str, float]) -> None:
        self.applied.append(dict(actuators))
        self.valve_pct = actuators["valve_cmd_pct"]

    def advance(self, dt_s: float) -> None:
        self.time_s += dt_s

    def readings(self) -> dict[str, float]:
        outdoor = -5.0 - self.faults.get("cold_snap", {}).get("delta_k", 0.0)
        return {"outdoor_temp_c": outdoor, "valve_position_pct": self.valve_pct, "secondary_supply_temp_c": 50.0}

    def collector_readings(self) -> list[tuple[str, str, float]]:
        return [("c-101", "north", 19.5)]

    def inject(self, fault: str, **params: Any) -> None:
        if fault not in ("cold_snap", "leak"):
            raise ValueError("fault=%r: unknown" % fault)
        self.faults[fault] = params

    def clear(self, fault: str) -> None:
        self.faults.pop(fault, None)


def write_config(tmp_path, extra: str = "") -> str:
    text = textwrap.dedent("""
        [sim]
        time_scale = 100.0
        tick_s = 0.02
        control = "127.0.0.1:0"
        control_file = "ctl.addr"

        [[bus]]
        name = "rs485-1"
        port = "{tty}"
        baudrate = 19200

        [[line]]
        bus = "rs485-1"
        throttle = false

        [[device]]
        name = "inputs"
        bus = "rs485-1"
        unit_id = 2
        profile = "generic_rtd8_ai4"
        [device.points]
        outdoor_temp_c = "temp_1"
        secondary_supply_temp_c = "temp_2"

        [[device]]
        name = "valve"
        bus = "rs485-1"
        unit_id = 3
        profile = "belimo_mod"
        [device.points]
        valve_cmd_pct = "setpoint"
        valve_position_pct = "relative_position"
        """).format(tty=tmp_path / "bus.tty") + textwrap.dedent(extra)
    path = tmp_path / "sim.toml"
    path.write_text(text)
    return str(path)


def test_bad_config_lists_every_problem(tmp_path) -> None:
    path = write_config(tmp_path, """
        [[device]]
        name = "meter"
        bus = "rs485-9"
        unit_id = 300
        profile = 5

        [[scenario]]
        at_s = -4
        command = ""
        """)
    text = open(path).read().replace("time_scale = 100.0", "time_scale = -1\ncollector_prefix = \"st/#\"")
    open(path, "w").write(text)
    with pytest.raises(sim_config.SimConfigError) as err:
        sim_config.load(path)
    joined = "\n".join(err.value.problems)
    for needle in ("sim.time_scale=-1", "sim.collector_prefix='st/#'", "bus='rs485-9'", "unit_id=300", "profile=5", "scenario[0].at_s=-4",
                   "scenario[0].command=''"):
        assert needle in joined, joined
    with pytest.raises(sim_config.SimConfigError, match="file not found"):
        sim_config.load(str(tmp_path / "missing.toml"))


async def test_served_values_writes_scenarios_and_control(tmp_path) -> None:
    path = write_config(tmp_path, """
        [[scenario]]
        at_s = 30.0
        command = "inject cold_snap delta_k=10"
        """)
    cfg = sim_config.load(path)
    plant = StandInPlant()
    sim = Simulation(cfg, plant=plant)
    task = asyncio.create_task(sim.run())
    tty = str(tmp_path / "bus.tty")
    for _ in range(100):
        if os.path.exists(str(tmp_path / "ctl.addr")):
            break
        await asyncio.sleep(0.02)
    host, port = open(tmp_path / "ctl.addr").read().strip().split(":")
    client = AsyncModbusSerialClient(tty, framer=FramerType.RTU, baudrate=19200, timeout=0.3, retries=0)
    control = SimControl(host, int(port))
    try:
        assert await client.connect()
        temp_1 = dp.PROFILES["generic_rtd8_ai4"]["points"]["temp_1"]
        rr = await client.read_input_registers(temp_1["address"], count=1, device_id=2)
        assert dp.decode_point("generic_rtd8_ai4", "temp_1", rr.registers) == pytest.approx((-5.0, True))

        setpoint = dp.PROFILES["belimo_mod"]["points"]["setpoint"]["address"]
        wr = await client.write_register(setpoint, 6150, device_id=3)
        assert not wr.isError()
        assert plant.applied[-1]["valve_cmd_pct"] == pytest.approx(61.5)
        reply = await asyncio.to_thread(control.command, "actuators")
        assert reply["actuators"]["valve_cmd_pct"] == pytest.approx(61.5)

        # The scheduled cold snap fires at simulated t = 30 s (0.3 s of wall time at 100x).
        for _ in range(200):
            if "cold_snap" in plant.faults:
                break
            await asyncio.sleep(0.02)
        assert plant.faults["cold_snap"] == {"delta_k": 10}
        await asyncio.sleep(0.1)
        rr = await client.read_input_registers(temp_1["address"], count=1, device_id=2)
        assert dp.decode_point("generic_rtd8_ai4", "temp_1", rr.registers) == pytest.approx((-15.0, True))

        extremes = (await asyncio.to_thread(control.command, "extremes"))["extremes"]
        assert extremes["outdoor_temp_c"] == [-15.0, -5.0]

        # Control channel: open circuit, dead device, bad commands rejected with a reason.
        await asyncio.to_thread(control.command, "inject sensor_open outdoor_temp_c")
        rr = await client.read_input_registers(temp_1["address"], count=1, device_id=2)
        assert dp.decode_point("generic_rtd8_ai4", "temp_1", rr.registers)[1] is False
        await asyncio.to_thread(control.command, "dead valve")
        with pytest.raises(ModbusException):
            await client.read_holding_registers(setpoint, count=1, device_id=3)
        status = await asyncio.to_thread(control.command, "status")
        assert status["lines"]["rs485-1"]["dead"] == [3]
        assert status["stats"]["scenarios_run"] == 1
        for bad in ("inject", "dead nobody", "corrupt 2.0", "frobnicate", "inject volcano"):
            with pytest.raises(SimControlError):
                await asyncio.to_thread(control.command, bad)
        await asyncio.to_thread(control.command, "stop")
        await asyncio.wait_for(task, 5.0)
    finally:
        control.close()
        client.close()
        sim.stop()
        if not task.done():
            await asyncio.wait_for(task, 5.0)
    assert not os.path.lexists(tty)
