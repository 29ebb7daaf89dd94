"""`heatkeeper bench step --callgrind`: the season loop's instructions per cycle, counted by
valgrind (present on the development machine; skipped where it is not). No figure is asserted
beyond being a count of the loop itself."""

from __future__ import annotations

import argparse
import shutil

import pytest
from heatkeeper.tools.bench import step


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_callgrind_counts_the_compiled_season_loop_only() -> None:
    counted = step.run_callgrind(1000)
    assert "error" not in counted, counted
    assert counted["cycles"] == 1000
    assert counted["instructions"] == pytest.approx(counted["per_cycle"] * 1000)
    # the loop itself: thousands of instructions per cycle, not the interpreter's start-up (billions)
    assert 1000 < counted["per_cycle"] < 100000
    # the same run as in this process: the count is of the real loop, warm-up and all
    assert counted["heat_kwh"] == step.callgrind_target(1000)


def test_callgrind_option_refuses_a_tiny_run(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    step.add_arguments(parser)
    assert step.run(parser.parse_args(["--callgrind", "10"])) == 2
    assert "--callgrind needs >= 1000 cycles" in capsys.readouterr().err


def test_callgrind_without_valgrind_says_so() -> None:
    counted = step.run_callgrind(1000, valgrind="no-such-valgrind-here")
    assert counted == {"error": "valgrind not found (apt-get install valgrind)"}
