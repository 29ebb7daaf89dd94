"""The shortened soak in the default run: 2 simulated days with random faults (the same
harness as `make soak`, which runs 30 days)."""

from __future__ import annotations

from heatkeeper.tools.sim.soak import Soak, format_table, passed


def test_two_day_soak(make_rig, tmp_path) -> None:
    # make_rig only checks that the station, plant and broker are available; Soak builds its own rig.
    result = Soak(days=2.0, time_scale=900.0, cycle_s=60.0, seed=7, workdir=str(tmp_path / "soak")).run()
    print(format_table(result))
    assert passed(result), format_table(result)
    assert result["restarts_survived"] >= 1 or result["commands_sent"] >= 1
