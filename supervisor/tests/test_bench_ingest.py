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
