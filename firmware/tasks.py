"""Supervision of the station's background tasks (uplink, local panel): none may die silently.

Rules:
- A task that ends with an exception is logged with its traceback, reported (event
  `task_crashed`), and restarted after a back-off that doubles from `min_backoff_s` up to
  `max_backoff_s`. A task that returns normally has finished its job and is not restarted.
- A task is "failing" from its first crash until a restart has run `healthy_after_s` without
  crashing again. After `alarm_after` crashes in one failing streak the alarm `task_failing` is
  raised (cleared when every task is healthy again).
- `check()` is asked once per control cycle whether the watchdog may be fed: not when an
  essential task (the uplink) has been failing for longer than `dead_limit_s`. A station that
  can no longer talk is then restarted by systemd (WatchdogSec) instead of heating on mute
  until someone notices; control itself is never touched by a task failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("heatkeeper.tasks")

TaskFactory = Callable[[], Awaitable[Any]]
EventSink = Callable[[str, dict], None]  # (uplink kind: event|alarm, body)
RECANCEL_S = 2.0  # a task still running this long after its cancel at the stop is cancelled again


class _Supervised:
    def __init__(self, name: str, factory: TaskFactory, essential: bool) -> None:
        self.name, self.factory, self.essential = name, factory, essential
        self.task: asyncio.Task | None = None
        self.crashes = 0  # over the station's life
        self.streak = 0  # crashes in the current failing streak
        self.failing_since: float | None = None
        self.started_at = 0.0
        self.running = False
        self.finished = False
        self.last_error = ""


class TaskSupervisor:
    """Starts background tasks and keeps them running (see the module docstring)."""

    def __init__(self, on_event: EventSink, min_backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 healthy_after_s: float = 60.0, dead_limit_s: float = 300.0, alarm_after: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.on_event = on_event
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.healthy_after_s, self.dead_limit_s, self.alarm_after = healthy_after_s, dead_limit_s, alarm_after
        self.clock = clock
        self.specs: list[_Supervised] = []
        self.alarm_active = False
        self.starving = False

    def start(self, name: str, factory: TaskFactory, essential: bool = False) -> None:
        """Run `factory()` as a supervised task named `name`."""
        spec = _Supervised(name, factory, essential)
        self.specs.append(spec)
        spec.task = asyncio.create_task(self._supervise(spec), name=name)

    @property
    def restarts(self) -> int:
        """Crashes (and so restarts) of every task so far."""
        return sum(s.crashes for s in self.specs)

    def tasks(self) -> list[asyncio.Task]:
        """The asyncio tasks, for cancelling at shutdown."""
        return [s.task for s in self.specs if s.task is not None]

    async def _supervise(self, spec: _Supervised) -> None:
        backoff_s = self.min_backoff_s
        while True:
            spec.started_at, spec.running = self.clock(), True
            try:
                await spec.factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - task boundary: every failure is logged, reported, retried
                spec.running = False
                now = self.clock()
                if spec.failing_since is not None and now - spec.started_at >= self.healthy_after_s:
                    self._recovered(spec)  # it had run long enough: this is a new streak
                    backoff_s = self.min_backoff_s
                spec.crashes += 1
                spec.streak += 1
                if spec.failing_since is None:
                    spec.failing_since = now
                spec.last_error = "%s: %s" % (type(exc).__name__, exc)
                log.error("task %s crashed (%d in a row): %s; restarting in %.1f s", spec.name, spec.streak,
                          spec.last_error, backoff_s, exc_info=exc)
                self.on_event("event", {"kind": "task_crashed", "reason": type(exc).__name__, "task": spec.name,
                                        "streak": spec.streak, "restart_in_s": round(backoff_s, 1),
                                        "detail": str(exc)[:200]})
                if spec.streak >= self.alarm_after and not self.alarm_active:
                    self.alarm_active = True
                    self.on_event("alarm", {"code": "task_failing", "state": "active", "reason": "raised",
                                            "severity": "major" if spec.essential else "warning",
                                            "text": "station task %s crashed %d times in a row: %s"
                                            % (spec.name, spec.streak, spec.last_error[:200])})
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2.0, self.max_backoff_s)
                continue
            spec.running, spec.finished = False, True
            return

    def _recovered(self, spec: _Supervised) -> None:
        log.warning("task %s runs again after %d crash(es)", spec.name, spec.streak)
        self.on_event("event", {"kind": "task_recovered", "reason": "running", "task": spec.name,
                                "crashes": spec.streak})
        spec.failing_since, spec.streak = None, 0

    def check(self) -> bool:
        """Once per control cycle: settle recoveries; False while an essential task has been
        failing longer than `dead_limit_s` (the watchdog must then not be fed)."""
        now = self.clock()
        starving = False
        for spec in self.specs:
            if spec.failing_since is None:
                continue
            if spec.running and now - spec.started_at >= self.healthy_after_s:
                self._recovered(spec)
                continue
            if spec.essential and now - spec.failing_since > self.dead_limit_s:
                starving = True
        if self.alarm_active and all(s.failing_since is None for s in self.specs):
            self.alarm_active = False
            self.on_event("alarm", {"code": "task_failing", "state": "cleared", "reason": "cleared",
                                    "severity": "warning", "text": "every station task runs again"})
        if starving and not self.starving:
            names = [s.name for s in self.specs if s.essential and s.failing_since is not None]
            log.critical("essential task(s) %s failing for over %.0f s: no longer feeding the watchdog", names,
                         self.dead_limit_s)
            self.on_event("event", {"kind": "watchdog_starved", "reason": "essential_task_dead",
                                    "detail": "%s failing for over %.0f s" % (", ".join(names), self.dead_limit_s)})
        self.starving = starving
        return not starving

    async def stop(self) -> None:
        """Cancel every task and wait for it (cancelled again while it runs: cancel_and_wait)."""
        await cancel_and_wait(self.tasks())


async def cancel_and_wait(tasks: list[asyncio.Task] | list[asyncio.Future[Any]], again_s: float = RECANCEL_S) -> None:
    """Cancel `tasks` and wait until every one has ended; one still running `again_s` after its
    cancel is cancelled again. Python 3.11's `asyncio.wait_for` drops a cancel that arrives as its
    inner wait completes (the MQTT client's publish and subscribe wait that way): a task looping
    around such a wait would run on (the uplink), and the station's stop never end. Results and
    failures are retrieved, not raised. tools' simulators and the tests stop their tasks with it
    too; the supervisor has its own (supervisor/main.py `_cancel_all`: the two rooms share no code)."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=again_s)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a failure at the stop is not news
