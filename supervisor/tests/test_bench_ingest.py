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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_stage_breakdown_replays_everything_and_names_each_stage(backend: str, capsys: Any, request: Any) -> None:
    """`--stages-only`: the recorded workload goes through the ingest alone, every message stored
    or counted as a resend (the replay checks), and each stage gets its figure. No timing is asserted."""
    if backend == "postgres":
        request.getfixturevalue("postgres_server")  # skips where PostgreSQL is not installed
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--stations", "40", "--duration-s", "6", "--dup-pct", "20", "--backend", backend,
                              "--stages-only", "--json"])
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs"] == []
    (stages,) = result["stages"]
    assert stages["backend"] == backend and stages["messages"] > 40 * 6
    assert set(stages["stages_us_per_msg"]) == {"decode", "handle", "live_state", "aggregates", "equipment", "derive",
                                                "store", "database_thread"}
    assert all(v >= 0.0 for k, v in stages["stages_us_per_msg"].items() if k != "database_thread")
    assert set(stages["decoders_us_per_msg"]) == {"codec", "supervisor"}  # the decode alone, before and after


def test_recorded_workload_is_the_live_stations_telemetry() -> None:
    from heatkeeper.core import codec
    from heatkeeper.tools.bench.ingest_stages import recorded_workload

    messages = recorded_workload(5, 4, 12, 50.0)
    seqs: dict[str, set[int]] = {}
    for topic, payload in messages:
        area, sid, kind = codec.parse_topic(topic)
        msg = codec.decode_uplink_of(sid, kind, payload)
        assert (area, kind, len(msg["body"]["values"])) == ("up", codec.UP_TELEMETRY, 12)
        seqs.setdefault(sid, set()).add(msg["seq"])
    assert seqs == {"bench-%05d" % i: {1, 2, 3, 4} for i in range(5)}
    assert len(messages) > 20  # with resends
