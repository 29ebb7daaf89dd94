"""Table tests of the primary allocation (supervisor/allocation.py): known answers."""

from __future__ import annotations

import pytest
from heatkeeper.supervisor.allocation import (
    NeedTracker,
    StationNeed,
    allocate,
    estimate_need_kw,
    settings_problems,
    step_caps,
)

NO_RESERVE = {"residential_reserve": 0.0}
FLEET = [StationNeed("r1", "residential", 1000.0), StationNeed("r2", "residential", 3000.0),
         StationNeed("p1", "public", 1000.0), StationNeed("c1", "commercial", 1000.0),
         StationNeed("i1", "industrial", 1000.0), StationNeed("i2", "industrial", 2000.0)]
# needs: residential 4000, public 1000, commercial 1000, industrial 3000 -> 9000 kW
# minimums (defaults): public 50 % -> 500, commercial 40 % -> 400, industrial 30 % -> 300 + 600


def caps(decision: dict) -> dict[str, float]:
    return {r["station_id"]: round(r["cap_kw"], 6) for r in decision["stations"]}


@pytest.mark.parametrize("capacity, state, expect", [
    # enough: need plus headroom in proportion (10 % spare over 9000)
    (9900.0, "enough", {"r1": 1100.0, "r2": 3300.0, "p1": 1100.0, "c1": 1100.0, "i1": 1100.0, "i2": 2200.0}),
    (9000.0, "enough", {"r1": 1000.0, "r2": 3000.0, "p1": 1000.0, "c1": 1000.0, "i1": 1000.0, "i2": 2000.0}),
    # 1050 short: industry can give 2100, so it gives half of it; nobody else is cut
    (7950.0, "non_residential_cut", {"r1": 1000.0, "r2": 3000.0, "p1": 1000.0, "c1": 1000.0,
                                     "i1": 650.0, "i2": 1300.0}),
    # 2400 short: industry all 2100 (to its minimum), commercial 300 of its 600
    (6600.0, "non_residential_cut", {"r1": 1000.0, "r2": 3000.0, "p1": 1000.0, "c1": 700.0,
                                     "i1": 300.0, "i2": 600.0}),
    # 3300 short: industry 2100, commercial 600, public 500 of 500, then 100 left
    # from the residential, shared in proportion: 3900 of 4000 = 97.5 % each
    (5700.0, "residential_short", {"r1": 975.0, "r2": 2925.0, "p1": 500.0, "c1": 400.0,
                                   "i1": 300.0, "i2": 600.0}),
])
def test_known_answers(capacity, state, expect) -> None:
    d = allocate(capacity, FLEET, NO_RESERVE)
    assert d["state"] == state
    assert caps(d) == pytest.approx(expect)
    assert sum(caps(d).values()) == pytest.approx(max(capacity, 9000.0) if state == "enough" else capacity)
    assert d["demand_kw"] == pytest.approx(9000.0)
    assert d["shortage_kw"] == pytest.approx(max(0.0, 9000.0 - capacity))
    assert all(r["reason"] for r in d["stations"])


def test_residential_reserve_and_class_minimum_settings() -> None:
    d = allocate(10000.0, FLEET, {"residential_reserve": 0.1, "min_share": {"industrial": 0.0}})
    # residential 4000 + 10 % = 4400; demand 9400; 600 spare shared in proportion
    assert d["demand_kw"] == pytest.approx(9400.0)
    d = allocate(6000.0, FLEET, {"residential_reserve": 0.0, "min_share": {"industrial": 0.0}})
    # 3000 short: industry gives all 3000, the rest whole
    assert caps(d) == pytest.approx({"r1": 1000.0, "r2": 3000.0, "p1": 1000.0, "c1": 1000.0, "i1": 0.0, "i2": 0.0})
    assert d["cut_kw"]["industrial"] == pytest.approx(3000.0)


def test_only_residential_share_alike() -> None:
    d = allocate(2000.0, [StationNeed("a", "residential", 1000.0), StationNeed("b", "residential", 3000.0)], NO_RESERVE)
    assert d["state"] == "residential_short"
    assert d["residential_fraction"] == pytest.approx(0.5)
    assert caps(d) == pytest.approx({"a": 500.0, "b": 1500.0})


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="capacity_kw=0"):
        allocate(0, FLEET)
    with pytest.raises(ValueError, match="station x: class 'school'"):
        allocate(1000.0, [StationNeed("x", "school", 1.0)])
    problems = settings_problems({"period_s": 5, "min_share": {"residential": 0.5, "public": 2.0}, "colour": 1})
    text = "; ".join(problems)
    assert "allocation.colour: unknown setting" in text
    assert "allocation.period_s=5: must be a number in [60, 86400] s" in text
    assert "allocation.min_share.residential: unknown class" in text
    assert "allocation.min_share.public=2.0: must be a share in [0, 1]" in text
    assert settings_problems({"period_s": 1800, "lease_s": 900}) == [
        "allocation.lease_s=900: must be at least period_s=1800 (a lease must outlive the period)"]
    assert settings_problems({}) == []


def test_caps_fall_at_once_and_non_residential_rise_stepwise() -> None:
    cut = allocate(6600.0, FLEET, NO_RESERVE)
    first = step_caps(cut, None, NO_RESERVE)
    assert first["i1"] == pytest.approx(300.0)
    back = allocate(9900.0, FLEET, NO_RESERVE)
    second = step_caps(back, first, NO_RESERVE)
    assert second["i1"] == pytest.approx(300.0 + 0.25 * 1000.0)  # a quarter of its need per period
    assert second["c1"] == pytest.approx(700.0 + 250.0)
    assert second["r1"] == pytest.approx(1100.0)  # residential: at once
    third = step_caps(back, second, NO_RESERVE)
    assert third["i1"] == pytest.approx(800.0)
    # a cut is never delayed
    assert step_caps(cut, third, NO_RESERVE)["i1"] == pytest.approx(300.0)
    # core refuses caps under 1 kW: a station cut to nothing is leased 1 kW
    zero = allocate(4000.0, FLEET, {"residential_reserve": 0.0, "min_share": {"industrial": 0.0, "commercial": 0.0,
                                                                             "public": 0.0}})
    assert step_caps(zero, None)["i1"] == 1.0


@pytest.mark.parametrize("design, outdoor, measured, room, expect", [
    (5100.0, -33.0, None, None, 5100.0),  # design conditions: the design load
    (5100.0, -7.5, None, None, 2550.0),  # half the degree difference
    (5100.0, -7.5, 3000.0, None, 3000.0),  # drawing more than the model: the meter
    (5100.0, -7.5, 1000.0, 17.5, 2550.0 * 1.1),  # 1 K under the 18.5 target: +10 %
    (5100.0, 25.0, None, None, 0.0),
])
def test_need_estimate(design, outdoor, measured, room, expect) -> None:
    assert estimate_need_kw(design, outdoor, measured, room) == pytest.approx(expect)


def test_need_tracker_learns_the_ratio_only_while_not_held() -> None:
    t = NeedTracker()
    # model at -7.5 degC: 2550 kW; the station draws 1700 while free: ratio 2/3
    assert t.need_kw("a", 5100.0, -7.5, 1700.0, 18.6, None) == pytest.approx(1700.0)
    assert t.ratio["a"] == pytest.approx(2.0 / 3.0)
    # colder: the model scales with the ratio
    assert t.need_kw("a", 5100.0, -33.0, None, None, None) == pytest.approx(3400.0)
    # held by a 1000 kW cap, drawing 1000 with rooms 0.5 K under target: the ratio stays
    assert t.need_kw("a", 5100.0, -7.5, 1000.0, 18.0, 1000.0) == pytest.approx(1700.0 * 1.05)
    assert t.ratio["a"] == pytest.approx(2.0 / 3.0)
    # free again, drawing 2040: the ratio moves a tenth of the way to 0.8
    t.need_kw("a", 5100.0, -7.5, 2040.0, 18.6, 4000.0)
    assert t.ratio["a"] == pytest.approx(2.0 / 3.0 + 0.1 * (0.8 - 2.0 / 3.0))


def test_cold_rooms_raise_the_need_of_residential_stations_only() -> None:
    t = NeedTracker()
    t.need_kw("r", 5100.0, -7.5, 1700.0, 18.6, None, "residential")
    t.need_kw("i", 5100.0, -7.5, 1700.0, 18.6, None, "industrial")
    # both held by their caps with rooms at 12.5 degC (6 K under the target)
    assert t.need_kw("r", 5100.0, -7.5, 1000.0, 12.5, 1000.0, "residential") == pytest.approx(1700.0 * 1.6)
    # a cut industrial station is cold on purpose: its need (and so its minimum) stays
    assert t.need_kw("i", 5100.0, -7.5, 1000.0, 12.5, 1000.0, "industrial") == pytest.approx(1700.0)
