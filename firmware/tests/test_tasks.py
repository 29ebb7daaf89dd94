"""TaskSupervisor on a real event loop: crashed tasks restarted with back-off, reported, and
the watchdog refused while an essential task stays dead; a Station in-process whose uplink
task dies is no longer fed to systemd's watchdog."""

from __future__ import annotations

import asyncio
import socket

import pytest
from heatkeeper.firmware.tasks import TaskSupervisor
from heatkeeper.tools.testing.mqtt_listener import wait_until


async def test_crashing_task_is_restarted_with_back_off_and_alarmed_then_cleared() -> None:
    events: list[tuple[str, dict]] = []
    sup = TaskSupervisor(lambda kind, body: events.append((kind, body)), min_backoff_s=0.02, max_backoff_s=0.08,
                         healthy_after_s=0.3, dead_limit_s=60.0, alarm_after=3)
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky() -> None:
        runs.append(loop.time())
        if len(runs) <= 4:
            raise OSError("injected failure %d" % len(runs))
        await asyncio.sleep(3600)

    sup.start("flaky", flaky, essential=True)
    try:
        await wait_until(lambda: len(runs) >= 5, what="five starts")
        gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
        assert gaps[-1] > gaps[0] * 1.5, gaps  # the back-off grows
        crashed = [b for k, b in events if b.get("kind") == "task_crashed"]
        assert [b["streak"] for b in crashed] == [1, 2, 3, 4] and crashed[0]["task"] == "flaky"
        raised = [b for k, b in events if k == "alarm" and b["code"] == "task_failing"]
        assert len(raised) == 1 and raised[0]["state"] == "active" and raised[0]["severity"] == "major"
        assert sup.check() and sup.restarts == 4
        await asyncio.sleep(0.35)  # the fifth run stays up past healthy_after_s
        assert sup.check()
        cleared = [b for k, b in events if k == "alarm" and b["state"] == "cleared"]
        assert cleared and any(b.get("kind") == "task_recovered" for _k, b in events)
    finally:
        await sup.stop()


async def test_essential_task_dead_past_the_limit_starves_the_watchdog_other_tasks_do_not() -> None:
    events: list[tuple[str, dict]] = []
    sup = TaskSupervisor(lambda kind, body: events.append((kind, body)), min_backoff_s=0.02, max_backoff_s=0.05,
                         healthy_after_s=10.0, dead_limit_s=0.3)

    async def always_fails() -> None:
        raise RuntimeError("a defect")

    async def done_at_once() -> None:
        return None  # finished its job: not restarted, not dead

    sup.start("panel", always_fails, essential=False)
    sup.start("once", done_at_once, essential=False)
    await asyncio.sleep(0.5)
    assert sup.check(), "a non-essential task never stops the watchdog"
    sup.start("uplink", always_fails, essential=True)
    await asyncio.sleep(0.1)
    assert sup.check(), "not yet past the limit"
    await asyncio.sleep(0.4)
    assert not sup.check() and not sup.check()
    starved = [b for _k, b in events if b.get("kind") == "watchdog_starved"]
    assert len(starved) == 1 and "uplink" in starved[0]["detail"]
    await sup.stop()
    assert all(t.done() for t in sup.tasks())


async def test_station_whose_uplink_task_dies_stops_feeding_the_watchdog(tmp_path, mosquitto) -> None:
    pytest.importorskip("heatkeeper.core.station")
    from heatkeeper.firmware.config import load_config
    from heatkeeper.firmware.runtime import Station
    from heatkeeper.firmware.tasks import TaskSupervisor as Supervisor
    from heatkeeper.firmware.watchdog import Notifier

    from .station_setup import station_toml

    path, _raw = station_toml(tmp_path, mosquitto.port)
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.setblocking(False)
    got: list[bytes] = []

    def drain() -> list[bytes]:
        while True:
            try:
                got.append(sock.recv(4096))
            except BlockingIOError:
                return got

    station = Station(load_config(path))
    station.notifier = Notifier(sock_path)
    station.supervisor = Supervisor(station.emit, min_backoff_s=0.05, max_backoff_s=0.1, dead_limit_s=1.0)
    assert station.uplink is not None

    async def broken_uplink() -> None:  # a defect that escapes the uplink's own loop
        raise RuntimeError("injected uplink defect")

    station.uplink.run = broken_uplink  # type: ignore[method-assign]
    task = asyncio.create_task(station.run())
    try:
        await wait_until(lambda: drain().count(b"WATCHDOG=1") >= 3, what="watchdog fed at first")
        await wait_until(lambda: station.supervisor.starving, timeout_s=10, what="the dead uplink noticed")
        await asyncio.sleep(0.3)
        fed = drain().count(b"WATCHDOG=1")
        cycles = station.cycles
        await asyncio.sleep(1.0)
        assert drain().count(b"WATCHDOG=1") == fed, "watchdog still fed with the uplink dead"
        assert station.cycles >= cycles + 3, "control must go on regardless"
        kinds = [b.get("kind") for _k, b, _ts in station._pending] + \
            [__import__("json").loads(p)["body"].get("kind") for _s, _t, p in station.outbox.peek(10000)]
        assert "task_crashed" in kinds and "watchdog_starved" in kinds
        assert station.telemetry_values({}, station.last_out)["task_restarts"] >= 3
    finally:
        station.stop()
        await asyncio.wait_for(task, 20)
        sock.close()


async def test_stop_ends_a_task_whose_wait_for_dropped_the_cancel() -> None:
    """Python 3.11's wait_for returns its inner result when the cancel arrives as that result
    does (the uplink's publish awaiting its PUBACK): the cancel is gone and the task loops on.
    stop() cancels it again until it ends, so the station's stop still ends."""
    sup = TaskSupervisor(lambda kind, body: None)
    inner: list[asyncio.Future] = []
    rounds = [0]

    async def publishing() -> None:
        while True:
            fut = asyncio.get_running_loop().create_future()
            inner.append(fut)
            await asyncio.wait_for(fut, 30.0)
            rounds[0] += 1

    sup.start("uplink", publishing, essential=True)
    await wait_until(lambda: inner, what="the first wait")
    inner[-1].set_result(None)  # the PUBACK, in the same turn of the loop as the cancel below
    stopping = asyncio.ensure_future(sup.stop())
    await asyncio.wait([stopping], timeout=10.0)  # a guard against a hang, not a timing
    for task in [stopping, *sup.tasks()]:
        task.cancel()  # (only a stop that hung leaves anything to cancel)
    assert stopping.done() and not stopping.cancelled(), "the stop hung on the task that lost its cancel"
    assert rounds[0] == 1, "the cancel was dropped once (the case under test), then repeated"
    assert all(t.done() for t in sup.tasks())
