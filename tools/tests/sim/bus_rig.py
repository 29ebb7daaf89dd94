"""The firmware's bus layer against the simulator on a real pty, shared by the bus tests: the
example bus (tests' timing) plus any extra devices, the simulator on a plant of the test's choice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import tomli_w
from heatkeeper.firmware.modbus import ProcessImageIO, validate_bus_config
from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML
from heatkeeper.tools.sim import config as sim_config
from heatkeeper.tools.sim.runner import Simulation


@contextlib.asynccontextmanager
async def sim_on_pty(tmp_path: Path, plant: Any, extra_devices: list[dict[str, Any]] | tuple = ()
                     ) -> AsyncIterator[tuple[Simulation, ProcessImageIO]]:
    """(the running simulation, the started bus layer); both stopped on exit."""
    tty = str(tmp_path / "bus.tty")
    station = tomllib.loads(EXAMPLE_BUS_TOML)
    station["bus"][0].update(port=tty, timeout_s=0.1, low_blocks_per_cycle=3, backoff_base_s=0.5)
    station["device"] += [dict(d) for d in extra_devices]
    (tmp_path / "station.toml").write_bytes(tomli_w.dumps(station).encode())
    sim_path = tmp_path / "sim.toml"
    sim_path.write_text('[sim]\nstation_config = "station.toml"\ntick_s = 0.05\n[[line]]\nbus = "rs485-1"\nthrottle = false\n')
    sim = Simulation(sim_config.load(str(sim_path)), plant=plant)
    task = asyncio.create_task(sim.run())
    for _ in range(100):
        if os.path.exists(tty):
            break
        await asyncio.sleep(0.02)
    cfg, problems = validate_bus_config(station)
    assert cfg is not None, problems
    io = ProcessImageIO(cfg)
    await io.start()
    try:
        yield sim, io
    finally:
        await io.close()
        sim.stop()
        await asyncio.wait_for(task, 5)
