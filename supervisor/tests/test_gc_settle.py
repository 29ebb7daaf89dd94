"""The supervisor's collector settings once started (main.settle_gc): what start-up made is frozen
out of the cyclic collector's passes and the young pass waits for more objects, so a full
collection no longer walks every station's state every second or two at 10,000 stations; cycles
made afterwards are still collected, at the event loop's own pace; `serve` applies the settings once started, on a real
Mosquitto and both backends, and puts the previous ones back when it stops."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import weakref
from typing import Any

import pytest
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import GC_YOUNG_OBJECTS, serve, settle_gc
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer
from heatkeeper.tools.testing.mqtt_listener import wait_until


class _Node:
    def __init__(self) -> None:
        self.other: Any = self


async def test_settle_freezes_start_up_and_collects_later_cycles_on_its_own_pace() -> None:
    before = gc.get_threshold()
    start_up = [_Node() for _ in range(100)]
    restore = settle_gc(pass_s=0.05)
    try:
        assert gc.get_freeze_count() >= len(start_up)
        assert not any(o is start_up[0] for o in gc.get_objects())  # frozen: outside every generation
        assert gc.get_threshold() == (GC_YOUNG_OBJECTS, *before[1:])
        # a cycle made after start-up, then dropped: no reference count frees it, and far fewer
        # than GC_YOUNG_OBJECTS objects follow it; the event loop's own pass collects it
        later = _Node()
        gone = weakref.ref(later)
        del later
        await wait_until(lambda: gone() is None, timeout_s=5.0, what="the cycle collected")
        # one that outlives a young and middle pass first is collected by a full one
        older = _Node()
        older_gone = weakref.ref(older)
        await asyncio.sleep(0.2)
        del older
        await wait_until(lambda: older_gone() is None, timeout_s=5.0, what="the older cycle collected")
    finally:
        restore()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.skipif(shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"),
                    reason="mosquitto not installed (apt-get install mosquitto)")
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_serve_settles_the_collector_once_started(backend: str, tmp_path: Any,
                                                        request: pytest.FixtureRequest) -> None:
    dsn = ""
    if backend == "postgres":
        dsn = await request.getfixturevalue("postgres_server").create_database()
    port = free_port()
    mq = str(tmp_path / "mq")
    broker_config.write(mq, ["st-a"], port=port, as_root=os.geteuid() == 0)
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": False},
        "mqtt": {"port": port, "protocol": "5", "client_id": "sup-gc",
                 "password_file": os.path.join(mq, "credentials", "supervisor.password")},
        "storage": {"backend": backend, "dsn": dsn},
        "outdoor": {"enabled": False},
        "web": {"enabled": False},
        "station": [{"id": "st-a", "city": "Arxan"}],
    })
    before = gc.get_threshold()
    seen: list[tuple[tuple[int, int, int], int, bool]] = []

    def ready(service: SupervisorService) -> None:
        state = service.ingest.state["st-a"]  # made at start-up: frozen, outside every generation
        seen.append((gc.get_threshold(), gc.get_freeze_count(), any(o is state for o in gc.get_objects())))

    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()
    sup = asyncio.ensure_future(serve(cfg, on_ready=ready))
    try:
        await wait_until(lambda: sup.done() or bool(seen), what="supervisor started")
        if sup.done():
            sup.result()  # raises what stopped it
        threshold, frozen, state_collectable = seen[0]
        assert threshold == (GC_YOUNG_OBJECTS, *before[1:])
        assert frozen > 0
        assert not state_collectable
    finally:
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
        server.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def _tracked_now() -> int:
    gc.collect()  # what a pass untracks (tuples of numbers and text) is left out of the count
    return len(gc.get_objects())


def test_the_samples_the_equipment_tracker_keeps_add_nothing_the_collector_walks() -> None:
    """A station's kept samples (WINDOW of them, for late arrivals) are times and flags side by
    side: the collector walks the same few objects per station whether one sample is kept or
    WINDOW. One (time, flags) pair per sample stayed in every pass for good (a pair that holds a
    dict is never untracked): 640,000 of them at 10,000 stations."""
    from heatkeeper.supervisor import equipment

    tracker = equipment.EquipmentTracker()
    stations = ["st-%d" % i for i in range(20)]
    for sid in stations:  # the records, plans and windows exist: one sample each
        tracker.telemetry(sid, 1000.0, {"pump1_running": 1.0, "pump1_run_h": 1.0})
    before = _tracked_now()
    for i in range(1, 2 * equipment.WINDOW):
        for sid in stations:  # the run-hour counter moves: a new flags dict, every sample
            tracker.telemetry(sid, 1000.0 + i, {"pump1_running": float(i % 2), "pump1_run_h": 1.0 + i / 3600.0})
    assert all(len(tracker._win[sid]) == equipment.WINDOW for sid in stations)
    assert _tracked_now() - before <= 4 * len(stations)


def test_the_aggregates_held_until_written_are_not_walked_by_every_pass() -> None:
    """The 5-minute aggregates of each field are a tuple of numbers (count, sum, min, max), which
    the collector stops walking once it has seen it; a list of them stayed in every pass until
    their slice was written (200,000 at 10,000 stations of 20 fields)."""
    from heatkeeper.supervisor.aggregates import FOLD_ROWS, Aggregates

    agg = Aggregates(slices=1)
    fields = tuple("f%02d" % j for j in range(20))
    for i in range(3 * FOLD_ROWS):  # folded more than once: the stats of each field replaced
        for s in range(20):
            agg.add_row(("st-%d" % s, 0), fields, tuple(float(i + j) for j in range(20)), 0)
    _tracked_now()
    stats = [a for bucket in agg._agg[0].values() for a in bucket.values()]
    assert len(stats) == 20 * 20 and not any(gc.is_tracked(a) for a in stats)
    taken = agg.take([0])
    assert taken[0][("st-3", 0)]["f05"][:3] == (3 * FOLD_ROWS, sum(float(i + 5) for i in range(3 * FOLD_ROWS)), 5.0)
