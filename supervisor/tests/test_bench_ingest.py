"""The ingest benchmark end to end at small scale (Mosquitto, worker processes, both backends):
nothing lost, nothing stored twice, every command acked. No timing is asserted."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
from typing import Any

import pytest
from heatkeeper.supervisor import broker_config
from heatkeeper.tools.bench import ingest as bench
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.slow
def test_bench_small(capsys: Any) -> None:
    """Every message the stations published is stored exactly once (resends dropped), the
    supervisor refuses none of them, every command is acked, and each process's CPU is named."""
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--stations", "20", "--duration-s", "6", "--json", "--commands-per-s", "2",
                              "--dup-pct", "10"])
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out)
    for r in result["runs"]:
        assert r["lost"] == 0 and r["duplicates_stored"] == 0
        assert r["stored_rows"] == r["published_unique"] >= 20 * 5
        assert r["duplicates_sent"] == r["duplicates_dropped"] > 0
        assert r["broker_acked"] == r["published_unique"] + r["duplicates_sent"] and r["unacked_by_broker"] == 0
        assert r["rejected"] == {} and r["stations_disconnected"] == 0
        assert r["commands_acked"] == r["commands_sent"] > 0
        assert r["publisher_cpu_us_per_msg"] > 0 and r["broker_cpu_s"] >= 0
        assert (r["database_cpu_s"] is None) == (r["backend"] == "sqlite")
        assert 0 < r["supervisor_event_loop_cpu_s"] <= r["supervisor_cpu_s"]
        assert len(r["supervisor_gc_passes"]) == 3 and r["supervisor_gc_cpu_s"] >= 0
        assert (r["batch_interval_s"], r["batch_max"]) == (bench.BATCH_INTERVAL_S, bench.BATCH_MAX)


@settings(deadline=None)
@given(fields=st.integers(1, 80), seq=st.integers(1, 2**53), ts=st.floats(0.0, 4e9),
       picks=st.lists(st.integers(0, len(bench.VALUE_TEXTS) - 1), min_size=80, max_size=80))
def test_simulated_telemetry_is_the_codecs_own_bytes(fields: int, seq: int, ts: float, picks: list[int]) -> None:
    """The stations' payload template, numbers formatted in, is byte for byte what core's codec
    encodes for the same values, and the codec decodes it to those values."""
    from heatkeeper.core import codec

    sid = "bench-%05d" % (seq % 100000)
    names = bench.field_names(fields)
    texts = [bench.VALUE_TEXTS[i] for i in picks[:len(names)]]
    values = {}
    it = iter(texts)
    for name in names:
        values[name] = 1.0 if name == bench.PUMP_RUNNING else float(next(it))
    payload = bench.telemetry_template(sid, names) % (seq, repr(ts).encode(), *texts[:len(names) - 1])
    assert payload == codec.encode_uplink(sid, seq, codec.UP_TELEMETRY, ts, {"values": values, "mode_name": "auto"})[1]
    msg = codec.decode_uplink(codec.up_topic(sid, codec.UP_TELEMETRY), payload)
    assert (msg["seq"], msg["ts"], msg["body"]["values"]) == (seq, ts, values)


def test_stations_that_cannot_connect_are_reported_with_the_reason(tmp_path: Any, capsys: Any) -> None:
    """A station the production broker refuses (wrong password), or no broker at all: the worker
    says how many of its stations did not connect and why, instead of a traceback or a hang."""
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    sids = ["bench-%05d" % i for i in range(5)]
    port = free_port()
    mq = str(tmp_path / "mq")
    broker_config.write(mq, sids, port=port, as_root=os.geteuid() == 0)
    creds = os.path.join(mq, "credentials")
    with open(os.path.join(creds, "bench-00003.password"), "w", encoding="utf-8") as fh:
        fh.write("not-its-password\n")
    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, str(tmp_path / "mosquitto.out")).start()
    try:
        asyncio.run(bench._worker(port, creds, sids, 20, 0.0, 5.0, 2))
    finally:
        server.stop()
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"not ready: 1 of 5 stations did not connect \(first: bench-00003: CONNACK return code [45]\)",
                        out), out
    asyncio.run(bench._worker(free_port(), creds, sids[:2], 20, 0.0, 5.0, 2))  # nothing listens there
    out = capsys.readouterr().out.strip()
    assert out.startswith("not ready: 2 of 2 stations did not connect (first: bench-00000: ConnectionRefusedError: "), out


def test_a_run_whose_stations_cannot_all_connect_says_so_and_stops_everything(capsys: Any, monkeypatch: Any) -> None:
    """One station's credential is wrong (as if its password file were stale): the run stops
    before measuring, says which station and why, exits 3, and leaves no process behind."""
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    write = broker_config.write
    started: list[Any] = []

    def stale_password(out: str, stations: list[str], *a: Any, **kw: Any) -> Any:
        users = write(out, stations, *a, **kw)
        with open(os.path.join(out, "credentials", "bench-00002.password"), "w", encoding="utf-8") as fh:
            fh.write("stale\n")
        return users

    import heatkeeper.tools.testing.mosquitto as mosquitto_module

    server_start = mosquitto_module.MosquittoServer.start

    def start(self: Any, *a: Any, **kw: Any) -> Any:
        started.append(self)
        return server_start(self, *a, **kw)

    monkeypatch.setattr(broker_config, "write", stale_password)
    monkeypatch.setattr(mosquitto_module.MosquittoServer, "start", start)
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--stations", "6", "--duration-s", "5", "--backend", "sqlite", "--reader", "lean",
                              "--publishers", "2"])
    assert bench.run(args) == 3
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"bench ingest: --stations=6 could not all connect: publisher worker 1 of 2: not ready: 1 of 3 "
                        r"stations did not connect \(first: bench-00002: CONNACK return code [45]\)", err), err
    assert started and started[0].process is None  # the broker was stopped


@pytest.mark.slow
def test_a_low_file_descriptor_limit_is_raised_for_the_stations_and_their_broker(capsys: Any) -> None:
    """With a soft RLIMIT_NOFILE of 64 (a shell's default is often 1,024, below a city's stations),
    300 stations still connect through the bench's Mosquitto and every message is stored once."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 300 + 256:
        pytest.skip("hard RLIMIT_NOFILE %d: too low to raise" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    try:
        parser = argparse.ArgumentParser()
        bench.add_arguments(parser)
        args = parser.parse_args(["--stations", "300", "--duration-s", "5", "--backend", "sqlite", "--reader", "lean",
                                  "--json", "--commands-per-s", "1"])
        assert bench.run(args) == 0
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    (r,) = json.loads(capsys.readouterr().out)["runs"]
    assert r["stored_rows"] == r["published_unique"] >= 300 * 4 and r["duplicates_stored"] == 0
    assert r["stations_disconnected"] == 0


def test_a_file_descriptor_limit_it_cannot_raise_is_named() -> None:
    with open("/proc/sys/fs/nr_open", encoding="ascii") as fh:
        beyond = int(fh.read()) + 1  # no process may hold more, root or not
    problem = bench._raise_nofile(beyond)
    assert problem.startswith("needs %d file descriptors, the hard limit (RLIMIT_NOFILE) is " % beyond), problem
    assert bench._raise_nofile(16) == ""


def test_bad_arguments_are_all_listed_and_nothing_runs(capsys: Any) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--stations", "0", "--duration-s", "nan", "--dup-pct", "300", "--publishers", "-1",
                              "--fields", "0", "--commands-per-s", "-2", "--ingest-procs", "0",
                              "--batch-interval-s", "inf", "--batch-max", "40000"])
    assert bench.run(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    expected = ["--stations=0: must be at least 1", "--publishers=-1: must be at least 1", "--fields=0: must be at least 1",
                "--ingest-procs=0: must be at least 1", "--duration-s=nan: must be at least 5",
                "--dup-pct=300.0: must be in [0, 100]", "--batch-interval-s=inf: must be in [0.01, 60]",
                "--batch-max=40000: must be in [1, 30000] (twice it are deliveries waiting for their ack, and MQTT "
                "numbers at most 65535)", "--commands-per-s=-2.0: must be >= 0"]
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
    assert (stages["batch_interval_s"], stages["batch_max"]) == (bench.BATCH_INTERVAL_S, bench.BATCH_MAX)  # as the live run
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
