"""Delivery of queued messages: a rate limit per channel, retries with back-off, every attempt
stored and audited. A channel whose message failed every retry is failing: it is reported to
the supervisor's alarm model (channel_failures.py), whose engine (fleet_alarms.py) raises
`notify_channel_failed` (station "supervisor") with its configured priority, and clears it when
every channel delivers again; the notifier sends that alarm over the other channels."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..channel_failures import ChannelFailures
from .channels import Channel, DeliveryError, Outgoing

log = logging.getLogger(__name__)

SUPERVISOR_STATION = "supervisor"
ALARM_CHANNEL_FAILED = "notify_channel_failed"
NOTIFY_ALARMS = (ALARM_CHANNEL_FAILED,)  # the notifier's own alarms (raised by the supervisor's alarm engine)
SEVERITY_RANK = {"info": 0, "minor": 1, "warning": 2, "major": 3, "alarm": 3, "critical": 4}

MAX_BACKOFF_S = 3600.0


def backoff_s(attempts: int, base_s: float) -> float:
    """Pause before the next attempt after `attempts` failed ones: base, 2 base, 4 base ... <= 1 h."""
    return min(base_s * 2.0 ** max(attempts - 1, 0), MAX_BACKOFF_S)


class RateLimit:
    """At most `per_min` sends per channel in any 60 s."""

    def __init__(self, per_min: int) -> None:
        self.per_min = per_min
        self._sent: dict[str, deque[float]] = {}

    def allows(self, channel: str, now: float) -> bool:
        q = self._sent.setdefault(channel, deque())
        while q and now - q[0] >= 60.0:
            q.popleft()
        return len(q) < self.per_min

    def take(self, channel: str, now: float) -> None:
        self._sent.setdefault(channel, deque()).append(now)


Audit = Callable[[float, str, "str | None", str, str], Awaitable[None]]


class Courier:
    """The messages still to deliver (`pending`, by id) and the channels failing now."""

    def __init__(self, storage: Any, channels: dict[str, Channel], people: dict[str, dict[str, Any]],
                 n: dict[str, Any], clock: Callable[[], float], audit: Audit,
                 on_sent: Callable[[dict[str, Any], float], Awaitable[None]], failures: ChannelFailures) -> None:
        self.storage = storage
        self.channels = channels
        self.people = people
        self.n = n
        self.clock = clock
        self._audit = audit
        self.on_sent = on_sent
        self.rate = RateLimit(int(n["rate_per_min"]))
        self.pending: dict[str, dict[str, Any]] = {}
        self.failures = failures  # the channels failing now, as the alarm model knows them
        self.counts = {"sent": 0, "failed": 0}

    @property
    def failing(self) -> dict[str, str]:
        """Channel -> what went wrong, for every channel failing now."""
        return self.failures.failing

    async def deliver_due(self) -> None:
        """Attempt every due message (most severe first) the rate limit allows."""
        now = self.clock()
        due = sorted((m for m in self.pending.values() if m["next_attempt_ts"] <= now),
                     key=lambda m: (-SEVERITY_RANK.get(m["severity"], 1), m["created_ts"]))
        batch = []
        for msg in due:
            if not self.rate.allows(msg["channel"], now):
                msg["last_error"] = "rate limited (notify.rate_per_min)"
                continue
            self.rate.take(msg["channel"], now)
            batch.append(msg)
        results = await asyncio.gather(*(self._attempt(m) for m in batch))
        for msg, (ok, detail, duration) in zip(batch, results, strict=True):
            await self._after_attempt(msg, ok, detail, duration)

    async def _attempt(self, msg: dict[str, Any]) -> tuple[bool, str, float]:
        body = json.loads(msg["body"])
        out = Outgoing(msg["message_id"], self.people[msg["person"]], msg["subject"], body["markdown"], body["text"],
                       body["fields"])
        t0 = time.monotonic()
        try:
            detail = await self.channels[msg["channel"]].send(out)
            return True, detail, time.monotonic() - t0
        except DeliveryError as exc:
            return False, str(exc), time.monotonic() - t0
        except Exception as exc:  # noqa: BLE001 - a channel's bug is a failed delivery, not a dead notifier
            log.exception("channel %s failed unexpectedly", msg["channel"])
            return False, "%s: %s" % (type(exc).__name__, exc), time.monotonic() - t0

    async def _after_attempt(self, msg: dict[str, Any], ok: bool, detail: str, duration: float) -> None:
        now = self.clock()
        msg["attempts"] += 1
        await self.storage.record_attempt(msg["message_id"], now, ok, detail, duration)
        what = "%s %s to %s via %s (message %s, attempt %d)" % (msg["kind"], msg["code"] or "", msg["person"],
                                                                 msg["channel"], msg["message_id"], msg["attempts"])
        if ok:
            msg.update(state="sent", sent_ts=now, next_attempt_ts=None, last_error="")
            self.counts["sent"] += 1
            del self.pending[msg["message_id"]]
            await self.on_sent(msg, now)
            await self._audit(now, "notify_sent", msg["station_id"], what + ": " + detail, "sent")
            if msg["channel"] in self.failing:
                self.failures.clear_failure(msg["channel"])
        elif msg["attempts"] > int(self.n["retries"]):
            msg.update(state="failed", next_attempt_ts=None, last_error=detail)
            self.counts["failed"] += 1
            del self.pending[msg["message_id"]]
            await self._audit(now, "notify_failed", msg["station_id"], what + ": " + detail, "failed")
            self.failures.raise_failure(msg["channel"], detail)
        else:
            msg.update(next_attempt_ts=now + backoff_s(msg["attempts"], float(self.n["retry_base_s"])),
                       last_error=detail)
            await self._audit(now, "notify_attempt", msg["station_id"], what + ": " + detail, "retry")
        await self.storage.save_message(msg)
