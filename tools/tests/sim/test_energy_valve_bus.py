"""Building branch valves on the wire: Belimo Energy Valves (core.device_profiles
"belimo_energy_valve") simulated on the plant's secondary network, read and written by the
firmware's own bus layer on a real pty; the readings become the station's branch readings and
its commands reach the plant's balancing valves. A valve that stops answering is reported not
ok, so the station's balancing holds it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from heatkeeper.core import signals as S
from heatkeeper.core.station import StationController
from heatkeeper.firmware import branches
from heatkeeper.tools.plant import Plant

from .bus_rig import sim_on_pty

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

GROUPS = ("block-03", "cold-edge")


def energy_valve(group: str, unit_id: int) -> dict:
    return {"name": "ev_" + group.replace("-", "_"), "bus": "rs485-1", "unit_id": unit_id, "profile": "belimo_energy_valve",
            "branch": group, "points": {S.BRANCH_VALVE_CMD_PCT: "setpoint", S.BRANCH_VALVE_POSITION_PCT: "relative_position",
                                        S.BRANCH_RETURN_TEMP_C: "t2_return", S.BRANCH_SUPPLY_TEMP_C: "t1_supply",
                                        S.BRANCH_FLOW_M3H: "flow", S.BRANCH_POWER_KW: "heating_power"}}


@pytest.fixture
async def bench(tmp_path):
    plant = Plant(params={"secondary_network": {}}, seed=2)
    plant.advance(600.0)  # water moving, temperatures settled a little
    async with sim_on_pty(tmp_path, plant, [energy_valve(g, 40 + k) for k, g in enumerate(GROUPS)]) as pair:
        yield pair


async def test_the_energy_valves_are_read_and_commanded_through_the_station(bench) -> None:
    sim, io = bench
    plant = sim.plant
    sim.time_scale = 1e-6  # the plant stands still while the registers are compared
    await asyncio.sleep(0.2)
    truth = {row["group"]: row for row in plant.branch_readings()}
    inputs = {}
    for cycle in range(4):
        inputs.update({k: v for k, v in (await io.read_cycle(float(cycle))).items() if v[1]})
    for group in GROUPS:
        assert inputs[branches.branch_key(group, S.BRANCH_VALVE_POSITION_PCT)] == pytest.approx(
            (truth[group]["valve_position_pct"], True), abs=0.01)
        assert inputs[branches.branch_key(group, S.BRANCH_RETURN_TEMP_C)] == pytest.approx(
            (truth[group]["return_temp_c"], True), abs=0.011)
        # flow in counts of 0.001 l/s (0.0036 m3/h)
        assert inputs[branches.branch_key(group, S.BRANCH_FLOW_M3H)][0] == pytest.approx(truth[group]["flow_m3h"], abs=0.004)
        supply = inputs[branches.branch_key(group, S.BRANCH_SUPPLY_TEMP_C)][0]
        assert supply == pytest.approx(plant.readings()[S.SECONDARY_SUPPLY_TEMP_C], abs=0.3)  # sensor noise per reading
    # the readings as the station takes them
    readings = branches.readings(inputs)
    assert [r["group"] for r in readings] == sorted(GROUPS)
    assert all(r["ok"] and r["valve_position_pct"] == pytest.approx(100.0) for r in readings)
    ctl = StationController({"balancing": {"smooth_s": 0.0}})
    ctl.set_branch_readings(readings, 10.0)
    assert ctl.branch_commands() == {g: pytest.approx(100.0) for g in GROUPS}
    # a command from the station reaches the plant's balancing valve of that group, and only it
    ctl.balancing.sent["block-03"] = 62.5
    await io.write_outputs(branches.commands(ctl), 11.0)
    commands = dict(zip(plant.group_names, plant.branch_valve_commands_pct(), strict=True))
    assert commands["block-03"] == pytest.approx(62.5)
    assert commands["cold-edge"] == 100.0


async def test_a_silent_energy_valve_reads_not_ok_and_the_other_goes_on(bench) -> None:
    sim, io = bench
    await sim.handle("dead ev_cold_edge")
    answered = 0
    for cycle in range(6):
        inputs = await io.read_cycle(20.0 + cycle)
        rows = {r["group"]: r for r in branches.readings(inputs)}
        assert rows["cold-edge"]["ok"] is False and rows["cold-edge"]["valve_position_pct"] is None
        answered += rows["block-03"]["ok"]
    assert answered >= 4  # the other valve is still polled (a cycle may lose a frame to the dead one's timeouts)
    rows["block-03"]["ok"] = True
    ctl = StationController({"balancing": {"lost_s": 60.0}})
    ctl.set_branch_readings(list(rows.values()), 0.0)
    ctl.set_branch_readings(list(rows.values()), 61.0)
    ctl.balancing.step(61.0, None)
    assert ctl.balancing.lost == {"block-03": False, "cold-edge": True}
