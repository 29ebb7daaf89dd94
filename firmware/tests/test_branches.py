"""Building branch valves in the station TOML ([[device]] branch = "<group>") and between the
process image and the station's balancing (firmware.branches)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from heatkeeper.core import signals as S
from heatkeeper.core.station import StationController
from heatkeeper.firmware import branches
from heatkeeper.firmware.modbus import validate_bus_config
from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML
from heatkeeper.firmware.modbus.io import DeviceState


def valve(name: str, unit_id: int, branch: Any = "block-01", **points: str) -> dict[str, Any]:
    return {"name": name, "bus": "rs485-1", "unit_id": unit_id, "profile": "belimo_energy_valve", "branch": branch,
            "points": points or {S.BRANCH_VALVE_CMD_PCT: "setpoint", S.BRANCH_VALVE_POSITION_PCT: "relative_position",
                                 S.BRANCH_RETURN_TEMP_C: "t2_return"}}


def config_with(*devices: dict[str, Any]) -> dict[str, Any]:
    cfg = tomllib.loads(EXAMPLE_BUS_TOML)
    cfg["device"] += list(devices)
    return cfg


def test_a_branch_valve_is_a_device_of_its_group() -> None:
    bus, problems = validate_bus_config(config_with(valve("ev1", 30), valve("ev2", 31, "cold-edge")))
    assert problems == [] and bus is not None
    ev1 = [d for d in bus.devices if d.name == "ev1"][0]
    assert ev1.branch == "block-01" and ev1.points[S.BRANCH_VALVE_POSITION_PCT] == "relative_position"
    assert [d.branch for d in bus.devices if d.name in ("valve", "heat_meter")] == ["", ""]
    # its signals go by group in the process image; they are not the station's own
    state = DeviceState(ev1, bus.buses[0])
    assert set(state.inputs) == {branches.branch_key("block-01", S.BRANCH_VALVE_POSITION_PCT),
                                 branches.branch_key("block-01", S.BRANCH_RETURN_TEMP_C)}
    assert set(state.outputs) == {branches.branch_key("block-01", S.BRANCH_VALVE_CMD_PCT)}


@pytest.mark.parametrize(("devices", "problem"), [
    ([valve("ev1", 30, "block 01")], "device[ev1].branch='block 01': must be the collectors' group name"),
    ([valve("ev1", 30, "")], "device[ev1].branch='': must be the collectors' group name"),
    ([valve("ev1", 30, 7)], "device[ev1].branch=7: must be the collectors' group name"),
    ([valve("ev1", 30), valve("ev2", 31)], "device[ev2].branch='block-01': already the branch of device 'ev1'"),
    ([valve("ev1", 30, outdoor_temp_c="t1_supply")], "device[ev1].points.outdoor_temp_c: unknown signal; must be one of "
                                                     "branch_valve_position_pct"),
    ([valve("ev1", 30, branch_return_temp_c="setpoint")], "device[ev1].points.branch_return_temp_c='setpoint': point "
                                                          "cannot serve branch_return_temp_c"),
    ([{"name": "ev1", "bus": "rs485-1", "unit_id": 30, "profile": "belimo_energy_valve",
       "points": {S.BRANCH_VALVE_CMD_PCT: "setpoint"}}],
     "device[ev1].points.branch_valve_cmd_pct: unknown signal; must be one of outdoor_temp_c"),
])
def test_bad_branch_devices_are_refused_with_key_value_and_choices(devices: list[dict[str, Any]], problem: str) -> None:
    bus, problems = validate_bus_config(config_with(*devices))
    assert bus is None
    assert any(p.startswith(problem) for p in problems), problems
    if "branch" not in devices[0]:
        assert "need branch = \"<group>\"" in problems[0]


def test_readings_from_the_process_image_and_commands_to_it() -> None:
    key = branches.branch_key
    inputs = {"outdoor_temp_c": (-5.0, True),
              key("b", S.BRANCH_VALVE_POSITION_PCT): (40.0, True), key("b", S.BRANCH_RETURN_TEMP_C): (38.5, True),
              key("a", S.BRANCH_VALVE_POSITION_PCT): (0.0, False), key("a", S.BRANCH_RETURN_TEMP_C): (0.0, False),
              key("c", S.BRANCH_VALVE_POSITION_PCT): (70.0, True), key("c", S.BRANCH_RETURN_TEMP_C): (0.0, False)}
    assert branches.readings(inputs) == [
        {"group": "a", "ok": False, "valve_position_pct": None, "return_temp_c": None},  # did not answer
        {"group": "b", "ok": True, "valve_position_pct": 40.0, "return_temp_c": 38.5},
        {"group": "c", "ok": True, "valve_position_pct": 70.0, "return_temp_c": None},  # its sensor is bad
    ]
    assert branches.readings({"outdoor_temp_c": (-5.0, True)}) == []
    ctl = StationController()
    ctl.set_branch_readings(branches.readings(inputs), 0.0)
    assert branches.commands(ctl) == {key("a", S.BRANCH_VALVE_CMD_PCT): 100.0, key("b", S.BRANCH_VALVE_CMD_PCT): 40.0,
                                      key("c", S.BRANCH_VALVE_CMD_PCT): 70.0}
