"""Secondary balancing on the RS-485 line: the real station process with Belimo Energy Valves
(core.device_profiles "belimo_energy_valve", simulated by tools/sim on the plant's secondary
network) as building branch valves, the room collectors relayed to it over MQTT as the
supervisor does.

A warm group's valve, found open, is closed down; the cold group is never let below its floor;
a valve that stops answering is alarmed (branch_valve_unreachable) and its command is held
while the others are still steered. Time runs 10x on both sides."""

from __future__ import annotations

import time
import tomllib
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.core.balancing import MODES
from heatkeeper.tools.sim.rig import default_station_template, wait_for

SCALE = 10.0
FLOOR_C = 18.0
# The balancing acts much faster than its defaults (every 2 simulated minutes instead of every
# hour, 30 %/K, steps up to 20 %) so that minutes show what a season does; the logic is the same.
BALANCING = {"period_s": 120.0, "gain_pct_per_k": 30.0, "max_step_pct": 20.0, "smooth_s": 0.0, "deadband_k": 0.1,
             "guard_period_s": 60.0, "lost_s": 60.0, "min_pct": 20.0}
ROOM_PERIOD_S = 60.0  # the collectors relayed every simulated minute


def energy_valve(group: str, unit_id: int) -> dict[str, Any]:
    return {"name": "ev_" + group.replace("-", "_"), "bus": "rs485-1", "unit_id": unit_id, "profile": "belimo_energy_valve",
            "branch": group, "points": {"branch_valve_cmd_pct": "setpoint", "branch_valve_position_pct": "relative_position",
                                        "branch_return_temp_c": "t2_return", "branch_supply_temp_c": "t1_supply",
                                        "branch_flow_m3h": "flow"}}


def field(group: str, what: str) -> str:
    return "branch_%s_%s" % (group.replace("-", "_"), what)


def relay_rooms(rig: Any) -> None:
    """The collectors' readings to the station, as the supervisor forwards them."""
    now = rig.station_now_s()
    readings = [dict(r, ts=now) for r in rig.sim_cmd("collectors")["collectors"]]
    topic, payload = codec.encode_rooms(rig.station_id, readings, now)
    rig.recorder.publish(topic, payload)


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 2 simulated hours at 10x; more on a loaded machine
def test_branch_valves_are_balanced_and_a_silent_one_is_held_and_alarmed(make_rig) -> None:
    with open(default_station_template(), "rb") as fh:
        devices = tomllib.load(fh)["device"]
    # The plant's most over-supplied group (radiators x1.20, flow x1.10: tools/plant/params.py),
    # its cold edge (heat loss x1.5, radiators x0.72) and an ordinary block.
    warm, cold, other = "block-03", "cold-edge", "block-07"
    groups = [warm, cold, other]
    branches = [energy_valve(g, 40 + k) for k, g in enumerate(groups)]  # 30 is the electricity meter
    rig = make_rig(time_scale=SCALE, plant={"secondary_network": {}},
                   station_overrides={"device": devices + branches, "control": {"balancing": BALANCING}})
    # The station reads every energy valve and reports each branch.
    relay_rooms(rig)
    values = rig.wait_telemetry(lambda v: all(v.get(field(g, "valve_pct")) is not None for g in groups), 120,
                                "every branch valve in telemetry")
    assert values[field(warm, "valve_pct")] == 100.0  # found open
    assert values[field(warm, "return_c")] is not None

    # A collector reading every simulated minute; the warm group is closed down, the cold one
    # never falls below the floor.
    coldest = []
    start_s = rig.sim_time_s()
    while rig.sim_time_s() < start_s + 3600.0:
        relay_rooms(rig)
        state = rig.sim_cmd("branches")
        coldest.append(state["room_c"][cold])
        commands = {row["group"]: row["valve_cmd_pct"] for row in state["branches"]}
        if commands[warm] <= 80.0:
            break
        time.sleep(ROOM_PERIOD_S / SCALE)
    assert commands[warm] <= 80.0, commands  # what the station wrote over Modbus, as the valve holds it
    assert commands[cold] >= commands[warm] + 10.0, commands  # the coldest stays open: it binds the supply
    assert min(coldest) >= FLOOR_C, coldest
    values = rig.wait_telemetry(lambda v: (v.get(field(warm, "cmd_pct")) or 100.0) <= 80.0, 60,
                                "the warm group's command in telemetry", after_seq=0)
    assert values[field(warm, "mode")] in (MODES.index("room"), MODES.index("guard"))
    assert "branch_valve_unreachable" not in rig.alarm_codes()

    # The third group's energy valve stops answering: alarmed, its command held, the others steered.
    silent = branches[2]["name"]
    held = rig.sim_cmd("branches")["branches"]
    held_cmd = {row["group"]: row["valve_cmd_pct"] for row in held}[other]
    rig.sim_cmd("dead %s" % silent)
    deadline = time.monotonic() + 120.0
    while "branch_valve_unreachable" not in rig.alarm_codes() and time.monotonic() < deadline:
        relay_rooms(rig)
        time.sleep(ROOM_PERIOD_S / SCALE)
    assert "branch_valve_unreachable" in rig.alarm_codes()
    alarm = [a for a in rig.alarms() if a.get("code") == "branch_valve_unreachable"][-1]
    assert alarm.get("value") == 1.0
    values = rig.wait_telemetry(lambda v: v.get(field(other, "mode")) == MODES.index("lost"), 60,
                                "the silent valve's branch reported lost", after_seq=0)
    assert abs(values[field(other, "cmd_pct")] - held_cmd) <= 0.01  # held (the plant reports 0.01 %)
    assert values["branches_lost"] == 1
    assert values[field(warm, "mode")] != MODES.index("lost")
    # the station keeps heating and keeps the cold group above its floor meanwhile
    t0 = rig.sim_time_s()
    while rig.sim_time_s() < t0 + 300.0:
        relay_rooms(rig)
        assert rig.sim_cmd("branches")["room_c"][cold] >= FLOOR_C
        time.sleep(ROOM_PERIOD_S / SCALE)
    rig.sim_cmd("alive %s" % silent)
    def back() -> bool:
        relay_rooms(rig)
        return rig.latest("branches_lost") == 0

    wait_for(back, 120, "the valve back", 60.0 / SCALE)
