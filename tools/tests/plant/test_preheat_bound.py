"""The pre-heat bound (bounds.preheat_bound) and the pre-season state it starts from.

The bound's solver is checked against a closed form (one first-order building heated at its
full power for the last stretch of the window) and, on a tiny plant, against a direct
optimisation: every vertex of the LP (each step's heat at 0 or at the cap, at most one in
between), each simulated with the plant's own building matrices.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from heatkeeper.tools.plant import Plant, Weather
from heatkeeper.tools.plant import params as plant_params
from heatkeeper.tools.plant.bounds import least_heat_to_reach, preheat_bound
from heatkeeper.tools.plant.plant import building_matrices


def test_least_heat_matches_the_closed_form_of_a_first_order_building() -> None:
    # C dT/dt = -H (T - To) + u, 0 <= u <= U: the least heat to reach Tf at tau is full power
    # for the last s seconds, U (1 - e^(-s/theta)) / H = Tf - To - (T0 - To) e^(-tau/theta)
    c_j, h, to, t0, tf, cap_w = 1.0e5, 2.0, 0.0, 12.0, 18.0, 100.0
    theta = c_j / h
    tau = 2 * 86400.0
    dt = 60.0
    a = np.array([[math.exp(-dt / theta)]])
    b_u = np.array([(1.0 - a[0, 0]) / h])
    steps = int(tau / dt)
    drive = np.full((steps, 1), (1.0 - a[0, 0]) * to)
    u, feasible = least_heat_to_reach(a, b_u, np.array([t0]), drive, np.full(steps, cap_w), tf)
    assert feasible
    free_end = to + (t0 - to) * math.exp(-tau / theta)
    s = -theta * math.log(1.0 - h * (tf - free_end) / cap_w)
    assert float(u.sum()) * dt == pytest.approx(cap_w * s, rel=2e-3)
    # full power on the last steps only, nothing before them
    used = np.nonzero(u)[0]
    assert used[-1] == steps - 1
    assert np.all(u[used[1:]] == cap_w)
    assert np.all(np.diff(used) == 1)


def test_least_heat_says_when_the_cap_cannot_reach_the_target() -> None:
    a = np.array([[0.9]])
    b_u = np.array([0.01])
    u, feasible = least_heat_to_reach(a, b_u, np.array([12.0]), np.zeros((5, 1)), np.full(5, 10.0), 18.0)
    assert not feasible
    assert np.all(u == 10.0)  # every cap used: the most the emitters can do
    u, feasible = least_heat_to_reach(a, b_u, np.array([19.0]), np.full((5, 1), 1.9), np.full(5, 10.0), 18.0)
    assert feasible and float(u.sum()) == 0.0  # already warm enough: no heat


def tiny_plant(preseason_c: float = 12.0, outdoor_c: float = -10.0) -> Plant:
    groups = [dict(g) for g in plant_params.GROUPS if g["name"] in ("block-01", "cold-edge")]
    weather = Weather([outdoor_c] * 24, [0.0] * 24, name="constant")
    return Plant(params={"groups": groups, "initial_room_c": preseason_c, "initial_preseason": 1.0}, weather=weather)


def direct_least_heat(plant: Plant, j: int, steps: int, dt_s: float, cap_w_m2: float, floor_c: float) -> float:
    """The LP's optimum by brute force: every vertex (each step's heat 0 or the cap, one step
    possibly in between), each simulated step by step with the plant's own matrices (W s/m2)."""
    p = plant.params
    h = plant.group_h[j]
    a, b = building_matrices(p["c_air_kj_m2k"] * 1000.0, p["c_mass_kj_m2k"] * 1000.0, p["h_am_w_m2k"],
                             p["h_ao_share"] * h, h - p["h_ao_share"] * h, dt_s)
    rs = plant.g_radiant[j]
    to = plant.outdoor_c
    g = 0.5 * p["internal_gain_w_m2"]

    def end_air(u: list[float]) -> float:
        x = np.array([plant.g_ta[j], plant.g_tm[j]])
        for uk in u:
            x = a @ x + b @ np.array([to, g + (1.0 - rs) * uk, g + rs * uk])
        return float(x[0])

    best = math.inf
    for full in itertools.product((0.0, cap_w_m2), repeat=steps):
        if end_air(list(full)) >= floor_c:
            best = min(best, sum(full))
            continue
        for k in range(steps):  # one step in between: the end is linear in its heat
            if full[k] != 0.0:
                continue
            top = list(full)
            top[k] = cap_w_m2
            lo, hi = end_air(list(full)), end_air(top)
            if hi >= floor_c > lo:
                best = min(best, sum(full) + cap_w_m2 * (floor_c - lo) / (hi - lo))
    return best * dt_s


def test_preheat_bound_equals_the_direct_optimisation_on_a_tiny_plant() -> None:
    plant = tiny_plant()
    dt_s, steps = 1080.0, 10  # three hours before 00:00
    bound = preheat_bound(plant, steps * dt_s / 86400.0, 18.0, dt_s=dt_s)
    assert bound["feasible"], bound
    for j in range(plant.n_groups):
        direct = direct_least_heat(plant, j, steps, dt_s, bound["group_cap_w_m2"][j], 18.0)
        assert bound["group_kwh_per_m2"][j] * 3.6e6 == pytest.approx(direct, rel=1e-9), plant.group_names[j]
    area = np.asarray(plant.g_area)
    assert bound["kwh"] == pytest.approx(float((np.asarray(bound["group_kwh_per_m2"]) * area).sum()))
    # the cold edge, with its weaker radiators and higher loss, needs more heat per m2
    assert bound["group_kwh_per_m2"][1] > bound["group_kwh_per_m2"][0] > 0.0
    # the supply cap is the heat source's compensated primary supply at -10 degC outdoor
    p = plant.params
    frac = (5.0 + 10.0) / (5.0 - p["design_outdoor_c"])
    assert bound["supply_cap_c"] == pytest.approx(
        max(plant.tp_comp_c, p["primary_min_supply_c"] + (p["primary_design_supply_c"] - p["primary_min_supply_c"]) * frac))


def test_preheat_bound_grows_with_the_cold_and_names_groups_that_cannot_make_it() -> None:
    colder = preheat_bound(tiny_plant(preseason_c=8.0), 1.0)
    warmer = preheat_bound(tiny_plant(preseason_c=14.0), 1.0)
    assert colder["kwh_per_m2"] > warmer["kwh_per_m2"] > 0.0
    assert preheat_bound(tiny_plant(preseason_c=18.5, outdoor_c=17.0), 0.25)["kwh_per_m2"] == 0.0
    short = preheat_bound(tiny_plant(preseason_c=2.0, outdoor_c=-30.0), 600.0 / 86400.0, dt_s=60.0)
    assert not short["feasible"]
    assert "cold-edge" in short["short_groups"]


def test_preseason_state_is_cold_everywhere_and_the_default_state_is_unchanged() -> None:
    cold = tiny_plant(preseason_c=12.0)
    assert list(cold.g_ta) == [12.0, 12.0] and list(cold.g_tm) == [12.0, 12.0]
    assert list(cold.g_q_emit) == [0.0, 0.0]
    assert list(cold.g_supply) == [12.0, 12.0] and cold.ts_station == 12.0 and cold.tr_station == 12.0
    assert cold.stem == cold.valve_cmd == 0.0
    assert cold.running1 == 1  # the pumps circulate: fill and cold circulation are done
    found = Plant(weather=Weather([-10.0] * 24, [0.0] * 24))
    assert found.g_ta[0] == 20.0 and found.g_tm[0] < 20.0 and found.g_q_emit[0] > 0.0
    assert found.ts_station == 55.0 and found.stem == pytest.approx(0.30)
    with pytest.raises(ValueError, match=r"initial_preseason=2: must be in \[0, 1\]"):
        Plant(params={"initial_preseason": 2})
