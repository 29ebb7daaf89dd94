"""The station's electricity meter on the wire: an Eastron SDM72D-M (core.device_profiles
"eastron_sdm72d": function code 04, IEEE floats, Modicon 3X numbering) simulated from the plant's
pump energy, read by the firmware's own bus layer on a real pty into the `electricity_kwh` input,
which the station's telemetry carries to the supervisor's energy figures."""

from __future__ import annotations

import asyncio
import logging

import pytest
from heatkeeper.core import device_profiles as dp
from heatkeeper.core import signals as S
from heatkeeper.tools.plant import Plant

from .bus_rig import sim_on_pty

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

METER = {"name": "elec_meter", "bus": "rs485-1", "unit_id": 30, "profile": "eastron_sdm72d",
         "points": {S.ELECTRICITY_KWH: "import_kwh"}}


def test_the_profile_follows_the_manuals_numbering() -> None:
    prof = dp.PROFILES["eastron_sdm72d"]
    # the manual's start addresses (hex) beside its register numbers: 30053 = 0x0034, 30073 = 0x0048, 30343 = 0x0156
    assert {name: (p["address"], p["function_code"], p["type"]) for name, p in prof["points"].items()} == {
        "power_w": (0x34, 4, "float32"), "import_kwh": (0x48, 4, "float32"), "export_kwh": (0x4A, 4, "float32"),
        "total_kwh": (0x156, 4, "float32")}
    assert dp.check_profile("eastron_sdm72d") == []
    regs = dp.encode_raw("eastron_sdm72d", "import_kwh", 1234.5)
    assert dp.decode_point("eastron_sdm72d", "import_kwh", regs) == (1234.5, True)
    assert dp.decode_point("eastron_sdm72d", "import_kwh", dp.encode_raw("eastron_sdm72d", "import_kwh", -3.0))[1] is False


@pytest.fixture
async def bench(tmp_path):
    plant = Plant(seed=3)
    plant.apply({S.PUMP1_RUN: 1.0, S.PUMP1_SPEED_CMD_PCT: 80.0, S.VALVE_CMD_PCT: 40.0})
    plant.advance(3600.0)  # an hour of pumping: the meter has counted something
    async with sim_on_pty(tmp_path, plant, [METER]) as pair:
        yield pair


async def test_the_meter_is_read_into_the_stations_electricity_input(bench) -> None:
    sim, io = bench
    sim.time_scale = 1e-6  # the plant stands still while the register is compared
    await asyncio.sleep(0.2)
    truth = sim.plant.readings()[S.ELECTRICITY_KWH]
    assert truth > 0.5  # the pump ran for an hour
    got = {}
    for cycle in range(3):
        got.update({k: v for k, v in (await io.read_cycle(float(cycle))).items() if v[1]})
    value, ok = got[S.ELECTRICITY_KWH]
    assert ok and value == pytest.approx(truth, abs=0.01)
