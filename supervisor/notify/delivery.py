"""Delivery policy: per-channel rate limit and the retry back-off (pure; the notifier applies it)."""

from __future__ import annotations

from collections import deque

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
