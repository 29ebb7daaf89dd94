"""`heatkeeper sim` with the real plant model: the firmware's bus layer reads the plant's
values, its writes move the plant, scenarios change the physics, and room-collector
readings reach a real Mosquitto as core.codec collector messages."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tomllib

import aiomqtt
import pytest
import tomli_w
from heatkeeper.core import codec
from heatkeeper.core import signals as S
from heatkeeper.firmware.modbus import ProcessImageIO, validate_bus_config
from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML
from heatkeeper.tools.sim import config as sim_config
from heatkeeper.tools.sim.runner import Simulation
from heatkeeper.tools.testing.mosquitto import Mosquitto

pytest.importorskip("heatkeeper.tools.plant")
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


async def start(tmp_path, extra: str = "") -> tuple[Simulation, asyncio.Task[None], ProcessImageIO]:
    tty = str(tmp_path / "bus.tty")
    station = tomllib.loads(EXAMPLE_BUS_TOML)
    station["bus"][0].update(port=tty, timeout_s=0.2, low_blocks_per_cycle=3)
    (tmp_path / "station.toml").write_bytes(tomli_w.dumps(station).encode())
    (tmp_path / "sim.toml").write_text('[sim]\nstation_config = "station.toml"\ntime_scale = 60.0\ntick_s = 0.05\n'
                                       'collector_interval_s = 60.0\n[[line]]\nbus = "rs485-1"\nthrottle = false\n' + extra)
    sim = Simulation(sim_config.load(str(tmp_path / "sim.toml")))
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        if os.path.exists(tty):
            break
        await asyncio.sleep(0.02)
    cfg, problems = validate_bus_config(station)
    assert cfg is not None, problems
    io = ProcessImageIO(cfg)
    await io.start()
    return sim, task, io


async def stop(sim: Simulation, task: asyncio.Task[None], io: ProcessImageIO) -> None:
    await io.close()
    sim.stop()
    await asyncio.wait_for(task, 5)


async def test_bus_reads_the_plant_and_writes_move_it(tmp_path) -> None:
    sim, task, io = await start(tmp_path)
    try:
        inputs = await io.read_cycle(0.0)
        truth = sim.plant.readings()
        assert inputs[S.SECONDARY_SUPPLY_TEMP_C][1]
        assert inputs[S.SECONDARY_SUPPLY_TEMP_C][0] == pytest.approx(truth[S.SECONDARY_SUPPLY_TEMP_C], abs=1.0)
        assert inputs[S.OUTDOOR_TEMP_C][0] == pytest.approx(truth[S.OUTDOOR_TEMP_C], abs=0.5)
        start_pos = inputs[S.VALVE_POSITION_PCT][0]
        target = 90.0 if start_pos < 50.0 else 10.0
        await io.write_outputs({S.VALVE_CMD_PCT: target, S.PUMP1_RUN: 1.0, S.PUMP1_SPEED_CMD_PCT: 80.0}, 1.0)
        # 120 s actuator run time at 60x: two wall seconds to travel.
        await asyncio.sleep(3.0)
        inputs = await io.read_cycle(2.0)
        assert inputs[S.VALVE_POSITION_PCT] == pytest.approx((target, True), abs=2.0)
        # A leak pulls the network pressure down (simulated minutes pass in wall seconds).
        p0 = sim.plant.readings()[S.SECONDARY_RETURN_PRESSURE_KPA]
        await sim.handle("inject leak 20")
        await asyncio.sleep(2.0)
        inputs = await io.read_cycle(3.0)
        assert inputs[S.SECONDARY_RETURN_PRESSURE_KPA][0] < p0 - 5.0
    finally:
        await stop(sim, task, io)


async def test_collectors_publish_codec_messages(tmp_path) -> None:
    broker = Mosquitto(str(tmp_path / "broker"), long_running=True)
    broker.start()
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="collector-check") as client:
            await client.subscribe(codec.COLLECTOR_FILTER, qos=1)
            sim, task, io = await start(tmp_path, '[mqtt]\nhost = "127.0.0.1"\nport = %d\n' % broker.port)
            try:
                got = {}
                async with asyncio.timeout(15):
                    async for msg in client.messages:
                        area, cid, _ = codec.parse_topic(str(msg.topic))
                        assert area == "collector"
                        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                        got[cid] = json.loads(payload)
                        if len(got) >= len(sim.plant.collector_readings()):
                            break
                assert all(10.0 < body["temp_c"] < 30.0 for body in got.values())
                assert all(body["v"] == codec.VERSION for body in got.values())
            finally:
                await stop(sim, task, io)
    finally:
        broker.stop()
