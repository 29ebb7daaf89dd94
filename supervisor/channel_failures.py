"""Notification channels reported failing, for the supervisor alarm `notify_channel_failed`
(fleet_alarms.py): the notification code calls `raise_channel_failure(channel, text)` when a
channel fails every retry and `clear_channel_failure(channel)` when it delivers again; the alarm
engine listening is woken at once. Process memory only: after a restart the alarm stands until
a channel reports again.
"""

from __future__ import annotations

from collections.abc import Callable


class ChannelFailures:
    """Notification channels reported failing, for the `notify_channel_failed` alarm. The
    notification code calls `raise_channel_failure` / `clear_channel_failure`; the alarm engine
    listening is woken at once."""

    def __init__(self) -> None:
        self.failing: dict[str, str] = {}
        self.listeners: list[Callable[[], None]] = []
        self.reported = False  # whether anything was reported since the process started

    def raise_failure(self, channel: str, text: str) -> None:
        self.failing[str(channel)] = str(text)[:300]
        self.reported = True
        self._wake()

    def clear_failure(self, channel: str) -> None:
        self.failing.pop(str(channel), None)
        self.reported = True
        self._wake()

    def _wake(self) -> None:
        for listener in list(self.listeners):
            listener()


CHANNELS = ChannelFailures()  # the process's channels (the notification code and the engine share it)


def raise_channel_failure(channel: str, text: str) -> None:
    """Raise `notify_channel_failed` for `channel` (e.g. "wecom", "smtp") with what went wrong."""
    CHANNELS.raise_failure(channel, text)


def clear_channel_failure(channel: str) -> None:
    """`channel` delivers again; the alarm clears when no channel is failing."""
    CHANNELS.clear_failure(channel)
