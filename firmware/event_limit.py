"""Coalescing of repeated local events (writes from the local Modbus panel, say), so a chatty
or hostile client cannot flood the outbox and the journal.

Per key (the event's kind, result, command and reason) at most `burst` events pass within a
window of `window_s` (wall seconds); the rest are counted, and when the window closes one
`events_coalesced` event says how many of which kind were held back, with the last one's
detail. Nothing is lost silently: every suppressed event is counted (`suppressed_total`).
"""

from __future__ import annotations

from typing import Any

LIMITED_KINDS = frozenset({"local_write"})


class EventLimiter:
    """Rate limit on event bodies whose "kind" is in `kinds`."""

    def __init__(self, kinds: frozenset[str] = LIMITED_KINDS, burst: int = 10, window_s: float = 60.0) -> None:
        self.kinds, self.burst, self.window_s = kinds, burst, window_s
        self._windows: dict[tuple, list[Any]] = {}  # key -> [window start, passed, suppressed, last body]
        self._due: list[dict] = []
        self.suppressed_total = 0

    @staticmethod
    def _key(body: dict) -> tuple:
        return (body.get("kind"), body.get("result"), body.get("command"), body.get("reason"))

    def admit(self, body: dict, now_s: float) -> bool:
        """True when this event may be sent now; False when it is counted instead."""
        if body.get("kind") not in self.kinds:
            return True
        key = self._key(body)
        win = self._windows.get(key)
        if win is None or now_s - win[0] >= self.window_s:
            if win is not None:
                self._close(key, win)
            self._windows[key] = [now_s, 1, 0, None]
            return True
        if win[1] < self.burst:
            win[1] += 1
            return True
        win[2] += 1
        win[3] = body
        self.suppressed_total += 1
        return False

    def _close(self, key: tuple, win: list[Any]) -> None:
        if win[2]:
            last = win[3] or {}
            self._due.append({"kind": "events_coalesced", "reason": "rate_limited", "for_kind": key[0],
                              "for_result": key[1], "for_command": key[2], "for_reason": key[3],
                              "suppressed": win[2], "passed": win[1], "window_s": self.window_s,
                              "detail": str(last.get("detail", ""))[:200]})

    def summaries(self, now_s: float) -> list[dict]:
        """Events for the windows that closed with suppressed events (each reported once)."""
        for key, win in list(self._windows.items()):
            if now_s - win[0] >= self.window_s:
                del self._windows[key]
                self._close(key, win)
        out, self._due = self._due, []
        return out
