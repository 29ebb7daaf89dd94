"""Recorder: the tracking error leaves out cycles with the valve seated and the supply above the
setpoint (no heat delivered, nothing to track), counts them, and keeps them in hist_all."""

from __future__ import annotations

from heatkeeper.tools.plant import Plant
from heatkeeper.tools.plant.local_control import Recorder


def test_seated_valve_above_the_setpoint_is_not_tracking() -> None:
    plant = Plant(seed=1)
    rec = Recorder(plant.time_s)
    # (valve stem 0..1, true supply degC, setpoint degC): seated and 3 K above -> left out;
    # seated and below the setpoint, or open and above it -> counted; setpoint 0 (off) -> neither.
    cases = [(0.0, 23.0, 20.0), (0.0, 19.0, 20.0), (0.2, 23.0, 20.0), (0.2, 40.0, 0.0)]
    for stem, supply_c, setpoint_c in cases:
        plant.stem = stem
        plant.ts_station = supply_c
        rec.record(plant, setpoint_c)
    assert rec.n_seated == 1
    assert rec.n_err == 2
    assert abs(rec.rms_k() - ((1.0 + 9.0) / 2.0) ** 0.5) < 1e-9
    assert abs(rec.percentile_k(1.0) - 3.02) < 1e-9  # histogram bins of 0.02 K: upper edge
    assert abs(rec.percentile_k(0.5) - 1.02) < 1e-9
    # every cycle with a setpoint: 1, 3 and 3 K
    assert abs(rec.percentile_all_k(0.5) - 3.02) < 1e-9
    empty = Recorder(plant.time_s)
    assert empty.percentile_k(0.95) == 0.0 and empty.percentile_all_k(0.95) == 0.0
