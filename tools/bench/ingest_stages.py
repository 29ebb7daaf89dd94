"""`heatkeeper bench ingest --stages`: where the supervisor's CPU goes per stored message.

A recorded workload of the live benchmark's shape (`--stations` at 1 Hz for `--duration-s`,
`--fields` values, `--dup-pct` resends, the same field names) is replayed through a fresh
`Ingest` into the backend, without broker or publishers, flushed as the live supervisor
flushes (`--batch-interval-s` of station time a flush, at most `--batch-max` messages; one
aggregation slice written every 5 s of it):
- once as it is: CPU per message of the whole process and of the event loop thread;
- once with a CPU timer (thread time) around each stage. The timers cost about a microsecond a
  stage, so the stages add up to a little more than the plain pass.
Stages: `decode` (supervisor/uplink_decode.py, its shortcut and core's codec where it sends a
message: JSON parse and validation), `handle` (the rest of Ingest.handle: topic, field names, queueing),
`live_state`, `aggregates`, `equipment`, `derive` (the rest of deriving a stored message), `store`
(the rest of a flush in the event loop thread: batching, rows, acks, slice writes; asyncpg's own
work is here), `database_thread` (SQLite's writer thread).
CPU time, not wall time: other work on the machine slows it less, but it still shares the caches.
Beside them, `decoders_us_per_msg`: the same payloads decoded by core's codec alone (the code
before the supervisor's decoder) and by the supervisor's decoder, alternated in this process.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STAGES = ("decode", "handle", "live_state", "aggregates", "equipment", "derive", "store", "database_thread")


def recorded_workload(stations: int, seconds: int, fields: int, dup_pct: float, seed: int = 1) -> list[tuple[str, bytes]]:
    """(topic, payload) of `stations` publishing telemetry at 1 Hz for `seconds`, in arrival
    order, as the live benchmark's stations send it (a resend repeats the previous message)."""
    rnd = random.Random(seed)
    names = ["f%02d_value" % i for i in range(fields - 3)] + ["secondary_supply_temp_c", "pump1_running", "outdoor_temp_c"]
    t0 = time.time() - seconds - 5.0
    last: dict[str, bytes] = {}
    out: list[tuple[str, bytes]] = []
    for second in range(seconds):
        for i in range(stations):
            sid = "bench-%05d" % i
            topic = "heatkeeper/v1/stations/%s/up/telemetry" % sid
            if sid in last and rnd.random() * 100.0 < dup_pct:
                out.append((topic, last[sid]))
            values = {f: round(rnd.uniform(0, 100), 2) for f in names}
            values["pump1_running"] = 1.0
            msg = {"v": 1, "station": sid, "seq": second + 1, "ts": t0 + second + i / stations, "kind": "telemetry",
                   "body": {"values": values, "mode_name": "auto"}}
            last[sid] = json.dumps(msg, separators=(",", ":")).encode()
            out.append((topic, last[sid]))
    return out


class _Timers:
    """Thread CPU seconds spent inside each wrapped call (inclusive)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._inside: set[str] = set()  # labels being timed (a call inside another of its label counts once)

    def wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        spent, inside = self.spent, self._inside
        spent.setdefault(label, 0.0)
        clock = time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            if label in inside:
                return fn(*args, **kwargs)
            inside.add(label)
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += clock() - t
                inside.discard(label)

        return timed


@contextmanager
def _timed(ingest: Any, timers: _Timers) -> Iterator[None]:
    """Timers around the stages of `ingest` (the decoder and live_state functions it calls are
    module attributes: swapped for the replay, put back after)."""
    from heatkeeper.supervisor import live_state, uplink_decode

    saved = (uplink_decode.decode_uplink_of, uplink_decode.usual_telemetry, live_state.take_values)
    uplink_decode.decode_uplink_of = timers.wrap(uplink_decode.decode_uplink_of, "decode")  # type: ignore[assignment]
    uplink_decode.usual_telemetry = timers.wrap(uplink_decode.usual_telemetry, "decode")  # type: ignore[assignment]
    live_state.take_values = timers.wrap(live_state.take_values, "live_state")  # type: ignore[assignment]
    ingest._handle = timers.wrap(ingest._handle, "handle_total")
    ingest._derive = timers.wrap(ingest._derive, "derive_total")
    ingest.aggregates.add_row = timers.wrap(ingest.aggregates.add_row, "aggregates")
    ingest.equipment.telemetry = timers.wrap(ingest.equipment.telemetry, "equipment")
    try:
        yield
    finally:
        uplink_decode.decode_uplink_of, uplink_decode.usual_telemetry, live_state.take_values = saved  # type: ignore[assignment]


async def _replay(storage: Any, messages: list[tuple[str, bytes]], stations: int, timers: _Timers | None,
                  batch_interval_s: float, batch_max: int) -> dict[str, float]:
    from heatkeeper.supervisor.ingest import Ingest
    from heatkeeper.supervisor.main import settle_gc

    sids = {"bench-%05d" % i for i in range(stations)}
    await storage.open()
    try:
        for sid in sorted(sids):
            await storage.upsert_station(sid, sid, "")
        ingest = Ingest(storage, sids, batch_max=batch_max, agg_flush_s=float("inf"))
        await ingest.load_state()
        restore_gc = settle_gc()  # as the supervisor does once started
        acked = [0]

        def ack() -> None:
            acked[0] += 1

        # what the live supervisor flushes at once: batch_interval_s of station time, at most batch_max
        per_flush = max(1, min(batch_max, round(stations * batch_interval_s)))
        per_slice = 5 * stations  # one slice of the aggregates every 5 s of station time (60 s / 12)
        with _timed(ingest, timers) if timers is not None else _nothing():
            cpu0, loop0 = time.process_time(), time.thread_time()
            for i, (topic, payload) in enumerate(messages, 1):
                ingest.handle(topic, payload, ack)
                if i % per_flush == 0 or i == len(messages):
                    ingest.agg_flush_s = 0.0 if i % per_slice < per_flush else float("inf")
                    await ingest.flush()
            ingest.agg_flush_s = float("inf")
            await ingest.flush(force_aggregates=True)
            cpu_s, loop_s = time.process_time() - cpu0, time.thread_time() - loop0
        restore_gc()
        if acked[0] != len(messages) or ingest.stored + ingest.duplicates != len(messages):
            raise RuntimeError("replay: %d messages, %d acked, %d stored, %d duplicates"
                               % (len(messages), acked[0], ingest.stored, ingest.duplicates))
        return {"cpu_s": cpu_s, "loop_s": loop_s}
    finally:
        await storage.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def decoder_comparison(messages: list[tuple[str, bytes]], rounds: int = 3) -> dict[str, float]:
    """CPU µs per message of decoding `messages` with core's codec alone (orjson first, as the
    ingest called it before) and with the supervisor's decoder; the best of `rounds`, alternated."""
    from heatkeeper.core import codec
    from heatkeeper.supervisor import uplink_decode

    parsed = [(codec.parse_topic(topic), payload) for topic, payload in messages]
    now = time.time()
    max_age_s = 90 * 86400.0
    loads = uplink_decode.fast_loads

    def with_codec() -> None:
        for (_area, sid, kind), payload in parsed:
            codec.decode_uplink_of(sid, kind, payload, now, max_age_s, loads)

    def with_supervisor() -> None:
        for (_area, sid, kind), payload in parsed:
            uplink_decode.decode_uplink_of(sid, kind, payload, now, max_age_s)

    with_supervisor()  # the field names learnt, as after each station's first message
    best = {"codec": math.inf, "supervisor": math.inf}
    for _ in range(rounds):
        for label, fn in (("codec", with_codec), ("supervisor", with_supervisor)):
            t = time.thread_time()
            fn()
            best[label] = min(best[label], time.thread_time() - t)
    return {k: round(1e6 * v / max(1, len(parsed)), 2) for k, v in best.items()}


async def stage_breakdown(backend: str, dsn_factory: Callable[[], Any] | None, stations: int, seconds: int,
                          fields: int, dup_pct: float, batch_interval_s: float, batch_max: int) -> dict[str, Any]:
    """The replay's figures for `backend` (`dsn_factory`: awaitable giving a fresh PostgreSQL
    database; unused for SQLite)."""
    from heatkeeper.supervisor.storage import open_storage

    messages = recorded_workload(stations, seconds, fields, dup_pct)
    tmp = tempfile.mkdtemp(prefix="hk-stages-")
    try:
        async def fresh(name: str) -> Any:
            dsn = await dsn_factory() if backend == "postgres" and dsn_factory is not None else ""
            return open_storage(backend, path=os.path.join(tmp, name + ".db"), dsn=dsn)

        plain = await _replay(await fresh("plain"), messages, stations, None, batch_interval_s, batch_max)
        timers = _Timers()
        timed = await _replay(await fresh("timed"), messages, stations, timers, batch_interval_s, batch_max)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(messages)
    spent = timers.spent
    stages = {
        "decode": spent["decode"],
        "handle": spent["handle_total"] - spent["decode"],
        "live_state": spent["live_state"],
        "aggregates": spent["aggregates"],
        "equipment": spent["equipment"],
        "derive": spent["derive_total"] - spent["live_state"] - spent["aggregates"] - spent["equipment"],
        "store": timed["loop_s"] - spent["handle_total"] - spent["derive_total"],
        "database_thread": timed["cpu_s"] - timed["loop_s"],
    }
    return {"backend": backend, "messages": n, "stations": stations, "fields": fields,
            "batch_interval_s": batch_interval_s, "batch_max": batch_max,
            "cpu_us_per_msg": round(1e6 * plain["cpu_s"] / n, 1),
            "event_loop_thread_us_per_msg": round(1e6 * plain["loop_s"] / n, 1),
            "timed_cpu_us_per_msg": round(1e6 * timed["cpu_s"] / n, 1),
            "stages_us_per_msg": {k: round(1e6 * stages[k] / n, 1) for k in STAGES},
            "decoders_us_per_msg": decoder_comparison(messages)}


def describe(result: dict[str, Any]) -> str:
    """One line of the breakdown."""
    stages = "  ".join("%s %.1f" % (k, v) for k, v in result["stages_us_per_msg"].items())
    decoders = result["decoders_us_per_msg"]
    return ("%-8s replay %d msgs (batches %s s / %d): %.1f us/msg CPU (event loop thread %.1f); with timers %.1f: "
            "%s; decode alone: core codec %.2f, supervisor decoder %.2f us/msg"
            % (result["backend"], result["messages"], result["batch_interval_s"], result["batch_max"],
               result["cpu_us_per_msg"], result["event_loop_thread_us_per_msg"],
               result["timed_cpu_us_per_msg"], stages, decoders["codec"], decoders["supervisor"]))
