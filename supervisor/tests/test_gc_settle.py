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
