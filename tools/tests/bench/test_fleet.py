"""`heatkeeper bench fleet`: bad input refused with every problem named, and a short real run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import pytest
from heatkeeper.tools.bench import fleet


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    fleet.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("argv, message", [
    (["--stations", "0"], "--stations=0: must be in [1, 200]"),
    (["--stations", "201"], "--stations=201: must be in [1, 200]"),
    (["--source-shortfall-pct", "-5"], "--source-shortfall-pct=-5.0: must be in [0, 90)"),
    (["--source-shortfall-pct", "nan"], "--source-shortfall-pct=nan: must be in [0, 90)"),
    (["--days", "0"], "--days=0.0: must be > 0"),
    (["--jobs", "0"], "--jobs=0: must be at least 1"),
    (["--seed", "-1"], "--seed=-1: must be >= 0"),
    (["--allocation-period-min", "7"], "--allocation-period-min=7.0: must be a whole multiple of 5 min"),
    (["--city", "atlantis"], "atlantis"),
    (["--start-day", "999"], "--start-day=999"),
])
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet.run(parse(argv + ["--json"])) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_every_problem_is_listed_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert fleet.run(parse(["--stations", "0", "--jobs", "0", "--days", "-1", "--json"])) == 2
    err = capsys.readouterr().err
    assert err.count("heatkeeper bench fleet: ") == 3


def test_the_command_exits_2_on_bad_input() -> None:
    proc = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "bench", "fleet", "--stations", "-3"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "--stations=-3" in proc.stderr


def test_short_fleet_run_keeps_residential_warm_and_reports_per_class(capsys: pytest.CaptureFixture[str]) -> None:
    # 4 stations (2 residential, public, commercial), one cold day, the source 15 % short
    assert fleet.run(parse(["--stations", "4", "--days", "1", "--source-shortfall-pct", "15", "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["classes"]) == {"residential", "public", "commercial"}
    assert out["classes"]["residential"]["stations"] == 2
    assert out["source_capacity_kw"] == pytest.approx(0.85 * out["coldest_day_demand_kw"])
    assert out["allocation_decisions"]
    assert out["leases_refused"] == 0
    assert out["fleet_bound_mwh"] > 0 and out["heat_mwh"] > 0
    assert out["classes"]["residential"]["kh_below_18_worst"] <= out["classes"]["commercial"]["kh_below_18_worst"]
    # the CPU seconds of the parent and of each worker (the wall time also counts others' work)
    assert len(out["cpu_s"]["workers"]) == out["jobs"] and min(out["cpu_s"]["workers"]) > 0.0
    assert out["cpu_s"]["total"] == pytest.approx(out["cpu_s"]["parent"] + sum(out["cpu_s"]["workers"]), abs=0.2)


def _station_alone(index: int, start_day: int, days: float, dp_kpa: float = 200.0) -> Any:
    """Fleet station `index` (its own collectors' errors) on its own: a steady dp, the source's
    full supply temperature, no cap; the plant after `days` of the fleet's station settings."""
    from heatkeeper.core.station import StationController
    from heatkeeper.tools.plant.local_control import Recorder, StationLoop

    spec = fleet.spec_of(argparse.Namespace(city="arxan", days=days, start_day=start_day, seed=0))
    plant = fleet.make_station(spec, index)
    loop = StationLoop(StationController(spec["settings"]), plant, 300.0)
    rec = Recorder(plant.time_s)
    order = {"dp_kpa": dp_kpa, "supply_c": 200.0, "cap_kw": None, "lease_s": 2700.0, "rooms": False}
    for _k in range(int(round(days * 86400.0 / fleet.NETWORK_STEP_S))):
        fleet._run_step(plant, loop, rec, order)
    return plant


def test_a_station_whose_collectors_read_high_still_keeps_every_group_at_18() -> None:
    # Station 13 of the 20-station fleet: both collectors of its cold-edge group read high
    # (biases +0.37 and +0.48 K), so its room feedback sees that group about 0.3 K warmer than it
    # is. With the season benchmark's 18.6 degC target it fell below 18 degC on every fast evening
    # cold front (0.72 K.h in the whole Arxan season with no shortfall, 0.42 K.h in these two days
    # alone at a steady dp: its own control, not the network or the allocation). The fleet's
    # station target covers the collector error of every station it runs.
    plant = _station_alone(13, start_day=170, days=2.0)
    j = plant.group_names.index("cold-edge")
    assert min(plant._collector_bias[j]) > 0.3  # the cause: both collectors of the cold group read high
    assert max(plant.comfort()["kh_below_18"]) == 0.0
