"""The supervisor's stop ends its background tasks even when one drops its cancel: Python
3.11's `asyncio.wait_for` returns its inner result when the cancel arrives as that result does
(aiomqtt's publish awaiting its PUBACK, the flusher's wake-up), and the task then loops on.
Seen once in CI: the collectors' forwarder kept retrying for five minutes after the stop. The
same for the station's (firmware/tasks.py `cancel_and_wait`), which the simulators and the
tests use too."""

from __future__ import annotations

import asyncio

import pytest
from heatkeeper.firmware.tasks import cancel_and_wait
from heatkeeper.supervisor.main import _cancel_all


@pytest.mark.parametrize("stop_all", [_cancel_all, cancel_and_wait], ids=["supervisor", "station"])
async def test_a_task_that_dropped_its_cancel_is_cancelled_again(stop_all) -> None:
    inner: list[asyncio.Future[None]] = []
    rounds = [0]

    async def forwarding() -> None:
        while True:
            fut = asyncio.get_running_loop().create_future()
            inner.append(fut)
            await asyncio.wait_for(fut, 30.0)
            rounds[0] += 1

    async def failing() -> None:
        raise RuntimeError("failed before the stop")

    tasks = [asyncio.ensure_future(forwarding()), asyncio.ensure_future(failing()),
             asyncio.ensure_future(asyncio.sleep(3600))]
    while not inner:
        await asyncio.sleep(0)
    inner[-1].set_result(None)  # the PUBACK, in the same turn of the loop as the cancel
    stopping = asyncio.ensure_future(stop_all(tasks))
    await asyncio.wait([stopping], timeout=10.0)  # a guard against a hang, not a timing
    for task in [stopping, *tasks]:
        task.cancel()  # (only a stop that hung leaves anything to cancel)
    assert stopping.done() and not stopping.cancelled(), "the stop hung on the task that lost its cancel"
    assert stopping.exception() is None  # the failed task's error does not escape the stop
    assert rounds[0] == 1, "the cancel was dropped once (the case under test), then repeated"
    assert all(t.done() for t in tasks)
