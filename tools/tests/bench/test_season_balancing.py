"""bench season --balancing: heatkeeper's station controller with its balancing piece
(core.balancing) on the secondary network's branch valves, side by side with the unbalanced
controller."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.core.balancing import DEFAULTS as BALANCING_DEFAULTS
from heatkeeper.core.station import StationController
from heatkeeper.tools.bench import season
from heatkeeper.tools.cli import main as cli_main
from heatkeeper.tools.plant.local_control import Recorder


def test_balanced_beside_heatkeeper_on_a_short_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["bench", "season", "--city", "arxan", "--days", "2", "--json", "--interpreted-days", "0",
                     "--controllers", "heatkeeper", "--balancing"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    rows = {r["name"]: r for r in out["controllers"]}
    assert list(rows) == ["heatkeeper", "balanced"]
    hk, bal = rows["heatkeeper"], rows["balanced"]
    building = out["building_bound_kwh_per_m2"]
    for row in (hk, bal):
        assert row["ratio_to_building_bound"] == pytest.approx(row["heat_kwh_per_m2"] / building, rel=1e-12)
        assert set(row["underheat_kh_below_18_by_group"]) == {"cold-edge", "top-floor", "block-01", "block-02", "block-03",
                                                              "block-04", "block-05", "block-06", "block-07", "block-08",
                                                              "floor-heated-09", "ground-floor", "block-13"}
        assert sum(row["underheat_kh_below_18_by_group"].values()) == row["underheat_kh_below_18_all_groups"] == 0.0
    # the over-supplied groups are throttled, the binding group's valve stays open, and the
    # station's supply can fall: the same buildings take less heat than without balancing
    valves = bal["branch_valves"]
    positions = valves["positions_pct"]
    assert max(positions.values()) == 100.0
    assert min(positions.values()) < 80.0
    assert all(10.0 <= p <= 100.0 for p in positions.values())
    assert valves["commands"] > 0 and valves["travel_strokes"] > 0.0
    assert bal["heat_kwh_per_m2"] < 0.9 * hk["heat_kwh_per_m2"]
    assert "branch_valves" not in hk
    assert out["targets"]["balanced_zero_underheat_all_groups"] is True
    assert "balanced_ratio_to_building_bound_le_1_10" in out["targets"]


def test_without_balancing_nothing_of_it_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["bench", "season", "--city", "arxan", "--days", "0.25", "--json", "--interpreted-days", "0",
                     "--controllers", "heatkeeper"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    assert [r["name"] for r in out["controllers"]] == ["heatkeeper"]
    row = out["controllers"][0]
    assert "underheat_kh_below_18_by_group" not in row and "branch_valves" not in row
    assert not any(key.startswith("balanced") for key in out["targets"])


def test_the_loop_gives_one_collector_reading_to_the_station_and_the_valves_follow_its_balancing() -> None:
    spec: dict[str, Any] = {"city": "arxan", "weather": None, "days": 1.0, "seed": 3, "settings": season.HEATKEEPER_SETTINGS,
                            "balancing": {}}
    plant, _days = season.make_plant(spec, network=True)
    settings = season.balanced_settings(season.HEATKEEPER_SETTINGS, {})
    assert settings["room_feedback"]["target_c"] == BALANCING_DEFAULTS["target_c"] and settings["balancing"] == {}
    controller = StationController(settings)
    balancer = controller.balancing  # the station's own piece
    loop = season.BalancedLoop(controller, plant, 300.0)
    rec = Recorder(plant.time_s)
    loop.run(plant, rec, 7 * 3600 + 17, 1.0)  # not a whole number of room periods
    assert plant.time_s == 7 * 3600 + 17
    assert loop.next_room_s == 7 * 3600 + 300  # 85 exchanges, the last at 7 h
    # the station's room feedback and its balancing saw the same reading of every collector
    seen = {cid: r[0] for cid, r in controller.chain.room.readings.items()}
    assert seen == {cid: r[0] for cid, r in balancer.collectors.items()}
    assert len(seen) == 2 * plant.n_groups
    # every valve is where the balancing last sent it
    assert plant.branch_valve_commands_pct() == pytest.approx([balancer.sent[g] for g in plant.group_names], abs=1e-12)
    assert controller.branch_commands() == balancer.sent
    assert balancer.groups == list(plant.group_names)
    assert loop.moves > 0
    assert sum(loop.modes.values()) == 85 * plant.n_groups


def test_balancing_with_the_season_start_phase(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["bench", "season", "--city", "arxan", "--days", "0.5", "--json", "--interpreted-days", "0",
                     "--controllers", "heatkeeper", "--balancing", "--season-start", "--preheat-days", "1"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    start = out["season_start"]
    assert set(start["coldest_group_c_at_first_0000"]) == {"heatkeeper", "balanced"}
    assert start["preheat_heat_kwh_per_m2"]["balanced"] > 0.0
