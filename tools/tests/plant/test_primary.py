"""The primary network (tools/plant/primary.py) and the fleet bound (primary_bounds.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from heatkeeper.tools.plant import Plant
from heatkeeper.tools.plant.bounds import season_bounds
from heatkeeper.tools.plant.primary import PrimaryNetwork, network_problems, series
from heatkeeper.tools.plant.primary_bounds import StationBound, fleet_bound


def test_one_station_by_hand() -> None:
    # one station: dp = source - r q^2 and q = g sqrt(dp) -> q = g sqrt(source / (1 + r g^2))
    net = PrimaryNetwork(["residential"], source_dp_kpa=200.0, far_dp_kpa=50.0, design_flow_m3h=73.0)
    r = 150.0 / 73.0**2
    assert net.r[0] == pytest.approx(r)
    g = 73.0 / math.sqrt(50.0)  # at design: 73 m3/h with 50 kPa across the station
    dp, q = net.hydraulics([g])
    assert q[0] == pytest.approx(73.0)
    assert dp[0] == pytest.approx(50.0)
    assert series(g, r) * math.sqrt(200.0) == pytest.approx(73.0)


def test_far_stations_get_less_dp_and_flow_at_the_same_opening() -> None:
    net = PrimaryNetwork(["residential", "public", "commercial", "industrial"], source_dp_kpa=200.0, far_dp_kpa=60.0)
    g = [73.0 / math.sqrt(100.0)] * 4
    dp, q = net.hydraulics(g)
    assert dp[0] > dp[1] > dp[2] > dp[3] > 0.0
    assert q[0] > q[1] > q[2] > q[3]
    # the balance of the line: each segment's drop is r times the square of what it carries
    through = sum(q)
    p = 200.0
    for i in range(4):
        p -= net.r[i] * through**2
        assert dp[i] == pytest.approx(p, rel=1e-12)
        through -= q[i]
    # every station at its design flow: the far end sees far_dp_kpa (the segments' sizing)
    pressures = [200.0]
    for i in range(4):
        pressures.append(pressures[-1] - net.r[i] * ((4 - i) * 73.0) ** 2)
    design_g = [73.0 / math.sqrt(p_i) for p_i in pressures[1:]]
    dp_d, q_d = net.hydraulics(design_g)
    assert q_d == pytest.approx([73.0] * 4)
    assert dp_d[3] == pytest.approx(60.0)


def test_a_near_station_opening_up_takes_pressure_from_the_far_one() -> None:
    net = PrimaryNetwork(["residential"] * 3)
    g = [7.0, 7.0, 7.0]
    dp, q = net.hydraulics(g)
    dp2, q2 = net.hydraulics([20.0, 7.0, 7.0])
    assert q2[0] > q[0]
    assert dp2[2] < dp[2] and q2[2] < q[2]
    dp3, q3 = net.hydraulics([0.0, 7.0, 7.0])  # a station shut: the others get more
    assert q3[0] == 0.0 and q3[2] > q[2]


def test_the_source_pump_holds_the_far_station_at_its_dp() -> None:
    net = PrimaryNetwork(["residential"] * 4, source_dp_kpa=300.0, far_dp_kpa=100.0, source_max_dp_kpa=500.0)
    small = [5.0] * 4  # little flow: the far end sees more than 100 kPa at the least source dp
    dp, _q, head = net.controlled(small)
    assert head == 300.0 and dp[-1] > 100.0
    big = [8.0] * 4  # more flow: the pump raises the source dp until the far end has 100 kPa
    dp, q, head = net.controlled(big)
    assert 300.0 < head < 500.0
    assert dp[-1] == pytest.approx(100.0)
    assert dp == pytest.approx(net.hydraulics(big, head)[0]) and q == pytest.approx(net.hydraulics(big, head)[1])
    huge = [40.0] * 4  # beyond the pump: the source at its most, the far end short
    dp, _q, head = net.controlled(huge)
    assert head == 500.0 and dp[-1] < 100.0
    out = net.solve(90.0, [40.0 * 10.0] * 4, [100.0] * 4, [50.0] * 4)
    assert out["source_dp_kpa"] == 500.0


def test_capacity_lowers_the_supply_for_everyone() -> None:
    net = PrimaryNetwork(["residential", "industrial"], capacity_kw=5000.0, relax=1.0)
    flows, returns = [60.0, 60.0], [50.0, 50.0]
    # 120 m3/h from 50 degC: 5000 kW hold t_ret + 5000 * 3600 / (rho c 120)
    ceiling = 50.0 + 5000.0 * 3600.0 / (4180.0 * 0.975 * 120.0)
    out = net.solve(100.0, flows, [100.0, 80.0], returns)
    assert out["supply_c"] == pytest.approx(ceiling)
    assert out["short"] is True
    assert out["heat_kw"] == pytest.approx(5000.0)
    roomy = PrimaryNetwork(["residential", "industrial"], capacity_kw=50000.0, relax=1.0)
    out = roomy.solve(100.0, flows, [100.0, 80.0], returns)
    assert out["supply_c"] == 100.0 and out["short"] is False
    # relax 0.5: half way from the target towards the held temperature per solve
    slow = PrimaryNetwork(["residential", "industrial"], capacity_kw=5000.0, relax=0.5)
    assert slow.solve(100.0, flows, [100.0, 80.0], returns)["supply_c"] == pytest.approx(100.0 + 0.5 * (ceiling - 100.0))


@pytest.mark.parametrize("classes, capacity, options, expect", [
    ([], 1.0, {}, "classes=[]"),
    (["residential", "school"], 1.0, {}, "unknown ['school']"),
    (["residential"], 0.0, {}, "capacity_kw=0.0"),
    (["residential"], 1.0, {"far_dp_kpa": 400.0}, "far_dp_kpa=400.0: must be below source_dp_kpa=300.0"),
    (["residential"], 1.0, {"relax": 2.0}, "relax=2.0"),
    (["residential"], 1.0, {"pump": 1.0}, "unknown option(s) ['pump']"),
    (["residential"], 1.0, {"source_max_dp_kpa": 250.0}, "source_max_dp_kpa=250.0: must be at least source_dp_kpa=300.0"),
    (["residential"], 1.0, {"source_dp_kpa": float("nan")}, "source_dp_kpa=nan"),
])
def test_bad_network_descriptions_are_named(classes, capacity, options, expect) -> None:
    problems = network_problems(classes, capacity, options)
    assert any(expect in p for p in problems), problems
    with pytest.raises(ValueError, match=".+"):
        PrimaryNetwork(classes, capacity, **options)


def test_station_trace_is_the_station_bound() -> None:
    plant = Plant(seed=0)
    b = season_bounds(plant, 2.0, 18.0, dt_s=600.0)
    heat, supply = StationBound(plant, 18.0, 600.0).trace(int(2 * 86400 / 600))
    assert float(heat.sum()) * 600.0 / 3600.0 == pytest.approx(b["station_kwh"], rel=1e-12)
    assert np.allclose(supply, b["supply_c"], equal_nan=True)


def _search(sb: StationBound, grid1: np.ndarray, grid2: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Every (step-1 heat, step-2 heat, ts1, ts2) of the grids that keeps every group at the floor."""
    out = []
    for ts1 in grid1:
        h1, ta, tm = sb.advance(0, sb.ta0, sb.tm0, float(ts1))
        if (ta < sb.floor_c - 1e-9).any():
            continue
        for ts2 in grid2:
            h2, ta2, _tm2 = sb.advance(1, ta, tm, float(ts2))
            if (ta2 >= sb.floor_c - 1e-9).all():
                out.append((h1, h2, float(ts1), float(ts2)))
    return out


def test_fleet_bound_against_a_direct_search() -> None:
    # two stations (a residential one at 18 degC, an industrial one at a 12 degC frost floor),
    # two one-hour steps; the search tries every supply temperature of a 0.25 K grid in both
    # steps (pre-heating in the first step included) and keeps the floors
    a = Plant(seed=0)
    b = Plant(seed=1)
    b.g_ta[0] -= 0.5  # the second station's buildings start a little colder
    floors = [18.0, 12.0]
    fb = fleet_bound([a, b], 2 * 3600.0 / 86400.0, floors, dt_s=3600.0, classes=["residential", "industrial"])
    coarse = np.append(np.arange(20.0, 95.0, 1.0), np.nan)  # NaN: no heat in that step
    best = 0.0
    pairs = []
    for plant, floor in zip((a, b), floors, strict=True):
        sb = StationBound(plant, floor, 3600.0)
        found = _search(sb, coarse, coarse)
        assert found
        h1, h2, ts1, ts2 = min(found, key=lambda f: f[0] + f[1])
        # then 0.05 K steps within 1 K of the best coarse point
        def fine(ts: float) -> np.ndarray:
            return np.array([np.nan]) if math.isnan(ts) else np.arange(ts - 1.0, ts + 1.0, 0.05)

        found += _search(sb, fine(ts1), fine(ts2))
        pairs.append(np.array(found))
        best += min(f[0] + f[1] for f in found)
    kwh = fb["kwh"]  # 1 h steps: kW = kWh per step
    assert kwh <= best + 1e-9  # nothing the search found beats the bound
    assert best <= kwh * 1.005  # and the search comes within its resolution of it
    assert fb["kwh_by_class"]["industrial"] < fb["kwh_by_class"]["residential"]
    # a capacity just under the bound's first step: no pair of the search fits under it
    first = float(fb["heat_kw"][0])
    short = fleet_bound([a, b], 2 * 3600.0 / 86400.0, floors, capacity_kw=first * 0.99, dt_s=3600.0)
    assert short["short_steps"] >= 1 and short["short_kwh"] >= first * 0.01 - 1e-6
    fits = (pairs[0][:, 0][:, None] + pairs[1][:, 0][None, :]) <= first * 0.99
    assert not fits.any()
    # with room to spare nothing is short
    assert fleet_bound([a, b], 2 * 3600.0 / 86400.0, floors, capacity_kw=first * 10.0, dt_s=3600.0)["short_steps"] == 0


def test_the_same_plant_for_many_stations_is_computed_once() -> None:
    plant = Plant(seed=0)
    one = fleet_bound([plant], 1.0)
    three = fleet_bound([plant] * 3, 1.0)
    assert three["kwh"] == pytest.approx(3 * one["kwh"])
    assert three["peak_day_kw"] == pytest.approx(3 * one["peak_day_kw"])
    with pytest.raises(ValueError, match="2 floors for 3 stations"):
        fleet_bound([plant] * 3, 1.0, [18.0, 18.0])
