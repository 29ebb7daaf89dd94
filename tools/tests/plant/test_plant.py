"""Plant physics sanity: heat exchanger balance, valve, emitters, buildings, water, faults."""

from __future__ import annotations

import math

import numpy as np
import pytest
from heatkeeper.core import signals
from heatkeeper.tools.plant import Plant, Weather
from heatkeeper.tools.plant.model import emitter_heat
from heatkeeper.tools.plant.plant import building_matrices


def constant_weather(temp_c: float = -10.0, ghi: float = 0.0) -> Weather:
    return Weather([temp_c] * 48, [ghi] * 48, name="constant")


def run(plant: Plant, seconds: float, actuators: dict | None = None) -> None:
    if actuators:
        plant.apply(actuators)
    plant.advance(seconds)


def test_readings_cover_every_input_signal() -> None:
    plant = Plant()
    assert set(plant.readings()) == set(signals.INPUTS)
    image = plant.process_image()
    assert image["now_s"] == plant.time_s
    assert all(image[name][1] for name in signals.INPUTS)


def test_heat_exchanger_energy_balance_in_steady_state() -> None:
    plant = Plant(weather=constant_weather(-15.0), params={"primary_dp_variation": 0.0})
    run(plant, 4 * 3600.0, {signals.VALVE_CMD_PCT: 70.0})
    primary = plant.q_meter_kw
    secondary = plant.q_sec_kw
    assert primary > 500.0
    assert secondary == pytest.approx(primary, rel=0.03)
    # the secondary side never ends hotter than the primary supply (second law)
    assert plant.ts_hx < plant.tp_in


def test_valve_equal_percentage_characteristic() -> None:
    # authority 1: the valve takes all the pressure, flow follows Kv(h) = Kvs R^(h-1)
    plant = Plant(params={"valve_authority": 1.0, "valve_leakage": 0.0, "primary_dp_variation": 0.0})
    flows = {}
    for pct in (100.0, 50.0):
        plant.stem = pct / 100.0
        plant.motor = pct / 100.0
        plant.valve_cmd = pct / 100.0
        run(plant, 1.0)
        flows[pct] = plant.flow1
    assert flows[100.0] == pytest.approx(160.0, rel=1e-3)  # Kvs at 1 bar
    assert flows[100.0] / flows[50.0] == pytest.approx(math.sqrt(30.0), rel=1e-3)
    # authority 0.5: half the pressure across the open valve -> Kvs sqrt(0.5)
    plant2 = Plant(params={"valve_authority": 0.5, "primary_dp_variation": 0.0})
    plant2.stem = plant2.motor = plant2.valve_cmd = 1.0
    run(plant2, 1.0)
    assert plant2.flow1 == pytest.approx(160.0 * math.sqrt(0.5), rel=0.01)


def test_actuator_run_time_backlash_and_three_point_pulses() -> None:
    plant = Plant(params={"initial_valve_pct": 0.0})
    run(plant, 60.0, {signals.VALVE_CMD_PCT: 100.0})
    assert plant.readings()[signals.VALVE_POSITION_PCT] == pytest.approx(50.0 - 0.25, abs=0.5)  # 120 s run time
    run(plant, 120.0)
    assert plant.stem == 1.0
    travel = plant.valve_travel
    run(plant, 10.0, {signals.VALVE_CMD_PCT: 99.8})  # below the positioner's minimum step: no move
    assert plant.valve_travel == travel
    three = Plant(params={"initial_valve_pct": 50.0, "actuator_three_point": 1.0, "actuator_backlash_pct": 0.0})
    three.apply({signals.VALVE_OPEN_PULSE_S: 12.2})
    three.advance(20.0)
    assert three.stem == pytest.approx(0.6, abs=1e-6)  # 12 s effective of a 120 s stroke
    three.apply({signals.VALVE_CLOSE_PULSE_S: 0.1})  # shorter than the start delay: lost
    three.advance(5.0)
    assert three.stem == pytest.approx(0.6, abs=1e-6)


def test_emitter_follows_en442_exponent() -> None:
    # at very high flow the emitter sees ts everywhere: Q ~ (ts - ti)^n
    k = 100.0 / 43.3**1.3
    q1 = emitter_heat(k, 1.3, 1e6, 60.0, 20.0, 0.0)
    q2 = emitter_heat(k, 1.3, 1e6, 100.0, 20.0, 0.0)
    assert q2 / q1 == pytest.approx(2.0**1.3, rel=1e-3)
    # at the design point 75/50/18 the design flow gives the design heat and a 50 degC return
    c = 100.0 / 25.0
    q = emitter_heat(k, 1.3, c, 75.0, 18.0, 0.0)
    assert q == pytest.approx(100.0, rel=0.01)
    assert 75.0 - q / c == pytest.approx(50.0, abs=0.3)


def test_building_steady_state_matches_heat_loss() -> None:
    h = 0.9
    h_ao, h_mo = 0.35 * h, 0.65 * h
    ad, bd = building_matrices(20e3, 260e3, 10.0, h_ao, h_mo, 3600.0)
    x = np.array([20.0, 10.0])
    u = np.array([-10.0, 30.0, 5.0])  # outdoor, heat to air, heat to mass (W/m2)
    for _ in range(5000):
        x = ad @ x + bd @ u
    ta, tm = x
    assert h_ao * (ta - u[0]) + h_mo * (tm - u[0]) == pytest.approx(u[1] + u[2], rel=1e-6)
    assert ta > tm > u[0]


def test_leak_lowers_pressure_and_make_up_refills_from_tank() -> None:
    plant = Plant(weather=constant_weather())
    p0 = plant.readings()[signals.SECONDARY_RETURN_PRESSURE_KPA]
    plant.inject("leak", m3h=2.0)
    run(plant, 600.0)
    p1 = plant.readings()[signals.SECONDARY_RETURN_PRESSURE_KPA]
    assert p1 < p0 - 100.0
    tank0 = plant.readings()[signals.TANK_LEVEL_PCT]
    run(plant, 600.0, {signals.MAKEUP_PUMP_RUN: 1, signals.MAKEUP_PUMP_SPEED_CMD_PCT: 100.0})
    r = plant.readings()
    assert r[signals.MAKEUP_PUMP_RUNNING] == 1.0
    assert r[signals.MAKEUP_VOLUME_M3] == pytest.approx(0.5, abs=0.01)  # 3 m3/h for 10 min
    assert r[signals.TANK_LEVEL_PCT] < tank0
    assert r[signals.SECONDARY_RETURN_PRESSURE_KPA] > p1
    plant.clear("leak")
    assert plant.leak_m3h == 0.0


def test_pump_trip_and_standby() -> None:
    plant = Plant(weather=constant_weather())
    run(plant, 10.0)
    assert plant.flow2 > 200.0
    plant.inject("pump_trip", pump=1)
    run(plant, 5.0)
    r = plant.readings()
    assert r[signals.PUMP1_FAULT] == 1.0 and r[signals.PUMP1_RUNNING] == 0.0
    assert plant.flow2 == 0.0
    run(plant, 30.0, {signals.PUMP2_RUN: 1, signals.PUMP2_SPEED_CMD_PCT: 80.0})
    r = plant.readings()
    assert r[signals.PUMP2_RUNNING] == 1.0 and r[signals.PUMP2_SPEED_PCT] == pytest.approx(80.0)
    assert plant.flow2 == pytest.approx(0.8 * 260.0, rel=1e-3)  # affinity: flow ~ speed on H = K Q^2
    plant.clear("pump_trip", pump=1)
    run(plant, 30.0)
    assert plant.readings()[signals.PUMP1_RUNNING] == 1.0


def test_sensor_open_stuck_valve_cold_snap_primary_drop() -> None:
    plant = Plant(weather=constant_weather(-10.0))
    plant.inject("sensor_open", signal=signals.SECONDARY_SUPPLY_TEMP_C)
    assert plant.open_sensors == {signals.SECONDARY_SUPPLY_TEMP_C}
    assert plant.readings()[signals.SECONDARY_SUPPLY_TEMP_C] == 850.0
    assert plant.process_image()[signals.SECONDARY_SUPPLY_TEMP_C][1] is False
    plant.clear("sensor_open")
    assert plant.readings()[signals.SECONDARY_SUPPLY_TEMP_C] < 200.0
    plant.inject("stuck_valve")
    pos = plant.stem
    run(plant, 60.0, {signals.VALVE_CMD_PCT: 100.0})
    assert plant.stem == pos
    plant.clear("stuck_valve")
    run(plant, 60.0)
    assert plant.stem > pos
    plant.inject("cold_snap", delta_k=8.0, duration_s=3600.0)
    run(plant, 120.0)
    assert plant.outdoor_c == pytest.approx(-18.0)
    run(plant, 3600.0)
    assert plant.outdoor_c == pytest.approx(-10.0)
    tp = plant.tp_in
    plant.inject("primary_supply_drop", delta_k=20.0)
    run(plant, 1.0)
    assert plant.tp_in == pytest.approx(tp - 20.0, abs=0.5)


@pytest.mark.parametrize(
    "fault,kwargs",
    [("flood", {}), ("pump_trip", {"pump": 3}), ("sensor_open", {"signal": "nope"}), ("leak", {"m3h": -1})],
)
def test_bad_fault_requests_are_rejected(fault: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Plant().inject(fault, **kwargs)


def test_bad_params_list_every_problem() -> None:
    with pytest.raises(ValueError) as err:
        Plant(params={"h_tot_w_m2k": 99.0, "nonsense": 1, "valve_kvs_m3h": "big"})
    text = str(err.value)
    assert "h_tot_w_m2k=99.0" in text and "nonsense" in text and "valve_kvs_m3h" in text


def test_building_groups_differ_and_collectors_sample_them() -> None:
    plant = Plant(weather=constant_weather(-25.0))
    run(plant, 6 * 3600.0, {signals.VALVE_CMD_PCT: 80.0})
    temps = plant.room_temps_c
    assert len(temps) == len(plant.group_names) >= 10
    assert temps[plant.group_names.index("cold-edge")] < min(temps[:8])  # the critical flats are colder
    readings = plant.collector_readings()
    assert {group for _, group, _ in readings} == set(plant.group_names)
    for _cid, group, temp in readings:
        assert abs(temp - temps[plant.group_names.index(group)]) < 2.0


def test_same_seed_same_run() -> None:
    a, b = Plant(seed=5), Plant(seed=5)
    for plant in (a, b):
        run(plant, 3600.0, {signals.VALVE_CMD_PCT: 55.0})
    assert a.readings() == b.readings()
    assert a.room_temps_c == b.room_temps_c


def test_arrays_from_outside_are_checked_before_the_compiled_loops_index_them() -> None:
    # The compiled model indexes without per-access checks: arrays it is handed, and a weather
    # year set after construction, are checked for length first (a clear IndexError, nothing
    # written, no memory overrun).
    from array import array

    plant = Plant(seed=3)
    n = len(signals.INPUTS)
    for values, oks in ((array("d", [0.0] * (n - 1)), array("b", [1] * n)),
                        (array("d", [0.0] * n), array("b", [1] * (n - 1)))):
        with pytest.raises(IndexError, match="fill_image: values and oks need %d entries" % n):
            plant.fill_image(values, oks)
    groups = plant.n_groups
    offsets = array("d", [0.0, 0.1])
    short = array("d", [7.0] * (2 * groups - 1))
    full = array("d", [0.0] * (2 * groups))
    for bias, out, window in ((short, full, array("d")), (full, short, array("d")),
                              (full, full, array("d", [0.0] * (groups - 1)))):
        with pytest.raises(IndexError, match="collector_temps: bias_k and out need %d entries" % (2 * groups)):
            plant.collector_temps(offsets, bias, window, out)
    assert list(short) == [7.0] * (2 * groups - 1)
    plant.collector_temps(offsets, full, array("d"), full)  # the right lengths: fine
    plant.n_hours = len(plant.weather_temp) + 1
    with pytest.raises(IndexError, match="plant weather: n_hours"):
        plant.advance(3600.0)


def test_bound_image_arrays_fill_like_fill_image_and_are_checked_when_bound() -> None:
    # bind_image/fill_bound (the season loop's arrays handed over once) give the same readings
    # as fill_image on twin plants, open circuits included; a short array is refused by name when
    # bound; fill_image on other arrays leaves the binding as it was.
    from array import array

    n = len(signals.INPUTS)
    a, b = Plant(seed=9), Plant(seed=9)
    for plant in (a, b):
        run(plant, 600.0, {signals.VALVE_CMD_PCT: 40.0})
        plant.inject("sensor_open", signal=signals.SECONDARY_SUPPLY_TEMP_C)
    for values, oks in ((array("d", [0.0] * (n - 1)), array("b", [1] * n)),
                        (array("d", [0.0] * n), array("b", [1] * (n - 1)))):
        with pytest.raises(IndexError, match="bind_image: values and oks need %d entries" % n):
            b.bind_image(values, oks)
    va, oa = array("d", [0.0] * n), array("b", [1] * n)
    vb, ob = array("d", [0.0] * n), array("b", [1] * n)
    b.bind_image(vb, ob)
    other_v, other_o = array("d", [0.0] * n), array("b", [1] * n)
    for _ in range(3):
        a.fill_image(va, oa)
        b.fill_bound()
        assert list(va) == list(vb) and list(oa) == list(ob)
        a.fill_image(other_v, other_o)
        b.fill_image(other_v, other_o)  # other arrays: vb and ob stay bound
    assert ob[signals.INPUTS.index(signals.SECONDARY_SUPPLY_TEMP_C)] == 0
    b.clear("sensor_open")
    b.fill_bound()
    assert list(ob) == [1] * n
