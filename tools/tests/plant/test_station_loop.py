"""StationLoop (arrays through step_image) closes the same loop as the dict path
(process_image -> StationController.step -> apply): the same plant trajectory, bit for bit."""

from __future__ import annotations

from typing import Any

from heatkeeper.core.station import StationController
from heatkeeper.tools.plant import Plant
from heatkeeper.tools.plant.local_control import Recorder, StationLoop

ROOM_PERIOD_S = 300.0


def _dict_loop(plant: Any, rec: Any, ctl: Any, n: int) -> None:
    next_room_s = plant.time_s
    for _ in range(n):
        if plant.time_s >= next_room_s:
            ctl.set_room_readings([{"collector": cid, "group": group, "temp_c": temp, "age_s": 0.0}
                                   for cid, group, temp in plant.collector_readings()], plant.time_s)
            next_room_s += ROOM_PERIOD_S
        out = ctl.step(plant.process_image())
        plant.apply(out)
        plant.advance(1.0)
        rec.record(plant, out["supply_setpoint_c"])


def test_station_loop_matches_the_dict_loop() -> None:
    settings = {"room_feedback": {"percentile": 0.0, "target_c": 19.0}}
    plant_a, plant_b = Plant(seed=3), Plant(seed=3)
    rec_a, rec_b = Recorder(plant_a.time_s), Recorder(plant_b.time_s)
    ctl_a = StationController(settings)
    ctl_b = StationController(settings)
    plant_a.inject("pump_trip", pump=1)
    plant_b.inject("pump_trip", pump=1)
    StationLoop(ctl_a, plant_a, ROOM_PERIOD_S).run(plant_a, rec_a, 1800, 1.0)
    _dict_loop(plant_b, rec_b, ctl_b, 1800)
    plant_a.clear("pump_trip")
    plant_b.clear("pump_trip")
    plant_a.inject("sensor_open", signal="outdoor_temp_c")
    plant_b.inject("sensor_open", signal="outdoor_temp_c")
    loop = StationLoop(ctl_a, plant_a, ROOM_PERIOD_S)
    loop.next_room_s = plant_a.time_s
    loop.run(plant_a, rec_a, 5400, 1.0)
    _dict_loop(plant_b, rec_b, ctl_b, 5400)
    assert plant_a.time_s == plant_b.time_s
    assert plant_a.heat_kwh == plant_b.heat_kwh
    assert plant_a.ts_station == plant_b.ts_station
    assert plant_a.valve_travel == plant_b.valve_travel
    assert list(plant_a.g_ta) == list(plant_b.g_ta)
    assert rec_a.trace == rec_b.trace
    assert ctl_a.modes.mode == ctl_b.modes.mode
    codes = [row["code"] for row in ctl_a.alarms.listing_now()]
    assert codes == [row["code"] for row in ctl_b.alarms.listing_now()]
    assert "sensor_outdoor_temp_c" in codes
