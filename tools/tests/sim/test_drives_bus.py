"""The firmware's bus layer against the simulated drives (heatkeeper.tools.sim.drives, modelled
from the Danfoss and ABB manuals) on a real pty: power cycles, trips, resets over the bus,
local Hand/Off. Cycle by cycle, as the station runs them: read, then write."""

from __future__ import annotations

import asyncio
import logging
import os
import tomllib
from typing import Any

import pytest
import tomli_w
from heatkeeper.core import signals as S
from heatkeeper.firmware.modbus import ProcessImageIO, validate_bus_config
from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML
from heatkeeper.tools.sim import config as sim_config
from heatkeeper.tools.sim.runner import Simulation

from .test_firmware_bus import VALUES, ConstantPlant

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

# Example bus: pump1_drive = Danfoss FC (unit 2), pump2_drive = ABB ACS580 (unit 3).
HEALTHY = dict(VALUES, **{S.PUMP2_FAULT: 0.0, S.PUMP1_RUNNING: 0.0, S.PUMP2_RUNNING: 0.0})
RUN_BOTH = {S.PUMP1_RUN: 1.0, S.PUMP1_SPEED_CMD_PCT: 60.0, S.PUMP2_RUN: 1.0, S.PUMP2_SPEED_CMD_PCT: 60.0}


class Plant(ConstantPlant):
    def readings(self) -> dict[str, float]:
        return dict(HEALTHY)


class Station:
    """The bus side of the station's cycle: read, then write, `now_s` one second per cycle."""

    def __init__(self, sim: Simulation, io: ProcessImageIO) -> None:
        self.sim, self.io, self.now_s = sim, io, 0.0
        self.messages: list[tuple[str, dict]] = []
        self.inputs: dict[str, tuple[float, bool]] = {}

    async def cycle(self, outputs: dict[str, float] = RUN_BOTH) -> dict[str, tuple[float, bool]]:
        self.now_s += 1.0
        self.inputs = await self.io.read_cycle(self.now_s)
        await self.io.write_outputs(outputs, self.now_s)
        self.messages.extend(self.io.take_messages())
        await asyncio.sleep(0.02)  # the simulator's clock ticks on
        return self.inputs

    def drive(self, name: str) -> Any:
        drive = self.sim.devices[name].drive
        assert drive is not None
        return drive

    async def until(self, what: str, predicate: Any, cycles: int = 20) -> int:
        for n in range(1, cycles + 1):
            await self.cycle()
            if predicate():
                return n
        raise AssertionError("%s: not within %d cycles (messages %r)" % (what, cycles, self.messages[-6:]))

    def events(self, pump: int, reason: str) -> list[dict]:
        return [b for k, b in self.messages if k == "event" and b.get("pump") == pump and b["reason"] == reason]

    def alarms(self, code: str, state: str = "active") -> list[dict]:
        return [b for k, b in self.messages if k == "alarm" and b["code"] == code and b["state"] == state]

    def control_writes(self, name: str) -> list[int]:
        return [int(v) for p, v in self.sim.devices[name].writes if p == "control_word"]


@pytest.fixture
async def station(tmp_path):
    tty = str(tmp_path / "bus.tty")
    raw = tomllib.loads(EXAMPLE_BUS_TOML)
    raw["bus"][0].update(port=tty, timeout_s=0.1, low_blocks_per_cycle=3, backoff_base_s=0.2, backoff_max_s=1.0,
                         refresh_s=600.0)
    (tmp_path / "station.toml").write_bytes(tomli_w.dumps(raw).encode())
    sim_path = tmp_path / "sim.toml"
    sim_path.write_text('[sim]\nstation_config = "station.toml"\ntick_s = 0.02\n[[line]]\nbus = "rs485-1"\nthrottle = false\n')
    sim = Simulation(sim_config.load(str(sim_path)), plant=Plant())
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        if os.path.exists(tty):
            break
        await asyncio.sleep(0.02)
    cfg, problems = validate_bus_config(raw)
    assert cfg is not None, problems
    io = ProcessImageIO(cfg)
    await io.start()
    st = Station(sim, io)
    try:
        # From power-up (the plant's pumps stand): both drives brought to running by their state.
        await st.until("both drives running", lambda: st.drive("pump1_drive").running() and st.drive("pump2_drive").running())
        yield st
    finally:
        await io.close()
        sim.stop()
        await asyncio.wait_for(task, 5)


async def test_abb_power_up_ready_word_then_run_word(station: Station) -> None:
    # The first cycle found the ABB switch-on inhibited: 0x0476 first, then 0x047F.
    assert station.control_writes("pump2_drive")[:2] == [0x0476, 0x047F]


async def test_abb_mains_blip_is_brought_back_to_running(station: Station) -> None:
    abb = station.drive("pump2_drive")
    seen = len(station.events(2, "state"))
    writes_before = len(station.control_writes("pump2_drive"))
    await station.sim.handle("inject drive_power_cycle pump2_drive 0.3")
    assert not abb.running()
    await station.until("the ABB answering again", lambda: abb.powered, 60)
    # back SWITCH-ON INHIBITED: 0x0476 (ready), then 0x047F (run), within a few cycles
    await station.until("the ABB running again", abb.running, 8)
    assert station.control_writes("pump2_drive")[writes_before:] == [0x0476, 0x047F]
    assert [e["to"] for e in station.events(2, "state")[seen:]] == ["inhibited", "ready"]


async def test_abb_off2_from_another_source_is_brought_back(station: Station) -> None:
    abb = station.drive("pump2_drive")
    await station.sim.handle("inject drive_off2 pump2_drive")
    assert not abb.running()
    await station.until("the ABB running again after OFF2", abb.running, 8)


async def test_danfoss_mains_blip_gets_a_fresh_start_word(station: Station) -> None:
    fc = station.drive("pump1_drive")
    await station.sim.handle("inject drive_power_cycle pump1_drive 0.3")
    await station.until("the FC answering again", lambda: fc.powered, 60)
    assert fc.cw == 0 and not fc.running()  # stands until a valid start word
    # Our memory says 0x047C is confirmed (refresh_s is 600 s); the drive's status says stopped.
    await station.until("the FC running again", fc.running, 8)
    assert fc.cw == 0x047C


async def test_transient_trip_is_reset_over_the_bus(station: Station) -> None:
    abb = station.drive("pump2_drive")
    await station.sim.handle("inject drive_trip pump2_drive code=0x3210")
    # the trip is the pump's fault input (core changes over meanwhile) in the cycle it is seen
    await station.until("the trip seen", lambda: station.inputs.get(S.PUMP2_FAULT) == (1.0, True), 5)
    await station.until("the ABB reset", lambda: not abb.tripped, 8)
    assert abb.resets == 1
    assert 0x04F6 in station.control_writes("pump2_drive")  # ready word with the reset bit (rising edge)
    await station.cycle()
    assert [e["fault_code"] for e in station.events(2, "reset")] == [0x3210]
    assert station.events(2, "reset_ok")
    await station.until("the fault input clear", lambda: station.inputs.get(S.PUMP2_FAULT) == (0.0, True), 5)
    await station.until("the ABB running again", abb.running, 8)


async def test_repeated_trips_stop_after_three_resets_and_call_for_a_visit(station: Station) -> None:
    abb = station.drive("pump2_drive")
    for _ in range(4):
        await station.sim.handle("inject drive_trip pump2_drive code=0x3210")
        await station.until("tripped, reset or latched", lambda: not abb.tripped or station.alarms("pump2_needs_visit"), 15)
    assert abb.resets == 3 and abb.tripped
    alarm = station.alarms("pump2_needs_visit")
    assert alarm and "reset limit" in alarm[0]["text"] and "pump 2" in alarm[0]["text"], alarm
    for _ in range(5):
        await station.cycle()
    assert abb.resets == 3
    assert station.io.drive_telemetry()["pump2_drive_reset_latched"] == 1


async def test_short_circuit_is_never_reset(station: Station) -> None:
    abb = station.drive("pump2_drive")
    await station.sim.handle("inject drive_trip pump2_drive code=0x2340")
    for _ in range(15):
        await station.cycle()
    assert abb.resets == 0 and abb.tripped
    assert 0x04F6 not in station.control_writes("pump2_drive")
    assert "0x2340" in station.alarms("pump2_needs_visit")[0]["text"]
    assert station.inputs[S.PUMP2_FAULT] == (1.0, True)
    await station.sim.handle("clear drive_trip pump2_drive")  # Reset pressed on site
    await station.until("the latch cleared", lambda: station.alarms("pump2_needs_visit", "cleared"), 5)
    await station.until("the ABB running again", abb.running, 8)


async def test_danfoss_trip_lock_is_never_reset(station: Station) -> None:
    fc = station.drive("pump1_drive")
    await station.sim.handle("inject drive_trip pump1_drive resettable=0")
    for _ in range(15):
        await station.cycle()
    assert fc.resets == 0 and 0x04BC not in station.control_writes("pump1_drive")
    assert "not resettable" in station.alarms("pump1_needs_visit")[0]["text"]


async def test_danfoss_in_local_off_is_a_fault_and_an_alarm_naming_the_pump(station: Station) -> None:
    fc = station.drive("pump1_drive")
    await station.sim.handle("inject drive_local pump1_drive off")
    await station.until("the fault input set", lambda: station.inputs.get(S.PUMP1_FAULT) == (1.0, True), 5)
    alarm = station.alarms("pump1_local")
    assert alarm and "pump 1" in alarm[0]["text"] and "local control" in alarm[0]["text"], alarm
    writes = len(station.control_writes("pump1_drive"))
    for _ in range(6):
        await station.cycle()
    assert len(station.control_writes("pump1_drive")) == writes  # no word gets through: none sent again
    telemetry = station.io.drive_telemetry()
    assert telemetry["pump1_local"] == 1 and telemetry["pump2_local"] == 0
    await station.sim.handle("clear drive_local pump1_drive")
    await station.until("back under bus control", lambda: station.alarms("pump1_local", "cleared"), 3)
    await station.until("the FC running again", fc.running, 8)


async def test_warning_and_error_without_trip_are_alarmed(station: Station) -> None:
    await station.sim.handle("inject drive_warning pump1_drive")
    await station.cycle()
    assert "warning" in station.alarms("pump1_drive_warning")[0]["text"]
    assert station.io.drive_telemetry()["pump1_drive_warning"] == 1
    await station.sim.handle("clear drive_warning pump1_drive")
    await station.sim.handle("inject drive_error pump1_drive")
    await station.cycle()
    assert station.io.drive_telemetry()["pump1_drive_error"] == 1
    await station.sim.handle("inject drive_warning pump2_drive")
    await station.cycle()
    assert station.alarms("pump2_drive_warning")
