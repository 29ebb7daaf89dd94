"""`heatkeeper bench bus` runs end to end on a wire-speed pty line (figures are not asserted)."""

from __future__ import annotations

import argparse

from heatkeeper.tools.bench import bus


async def test_bench_measures_both_modes() -> None:
    report = await bus._bench([38400], 1)
    by_mode = {r["mode"]: r for r in report["results"]}
    # coalesced: one read per documented block (Danfoss STW and MAV apart), the valve's No. 105-107
    # diagnostics, the meter's info code and the ABB's fault code (04.01, read every cycle for the
    # drive reset policy) included; point by point also the two drives' whole status words
    assert by_mode["coalesced"]["transactions_per_scan"] == 11
    assert by_mode["point_by_point"]["transactions_per_scan"] == 35
    for r in report["results"]:
        assert r["gap_violations"] == 0 and r["not_ok_values"] == 0
        assert r["wire_minimum_s"] > 0 and r["ratio_to_wire_minimum"] > 0
    assert set(report["point_by_point_over_coalesced"]) == {"38400"}


def test_bad_arguments_are_refused(capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    bus.add_arguments(parser)
    assert bus.run(parser.parse_args(["--baud", "12345"])) == 2
    assert bus.run(parser.parse_args(["--scans", "0"])) == 2
    assert "each must be one of" in capsys.readouterr().out
