"""The ingest benchmark end to end at small scale (Mosquitto, worker processes, both backends):
nothing lost, nothing stored twice, every command acked. No timing is asserted."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from heatkeeper.tools.bench import ingest as bench


@pytest.mark.slow
def test_bench_small(capsys: Any) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--stations", "20", "--duration-s", "6", "--json", "--commands-per-s", "2"])
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    for r in result["runs"]:
        assert r["lost"] == 0 and r["duplicates_stored"] == 0
        assert r["commands_acked"] == r["commands_sent"] > 0


def test_bad_arguments_are_all_listed_and_nothing_runs(capsys: Any) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--stations", "0", "--duration-s", "nan", "--dup-pct", "300", "--publishers", "-1",
                              "--fields", "0", "--commands-per-s", "-2", "--ingest-procs", "0"])
    assert bench.run(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    expected = ["--stations=0: must be at least 1", "--publishers=-1: must be at least 1", "--fields=0: must be at least 1",
                "--ingest-procs=0: must be at least 1", "--duration-s=nan: must be at least 5",
                "--dup-pct=300.0: must be in [0, 100]", "--commands-per-s=-2.0: must be >= 0"]
    assert lines == ["bench ingest: %s" % e for e in expected]
