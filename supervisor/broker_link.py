"""The supervisor's publishing side of the broker: the MQTT link installs its publish function
when connected and removes it when the link drops; commands, room temperatures, outdoor and
forecast feeds publish through here and get `NotConnected` while there is no link."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]


class NotConnected(ConnectionError):
    """The supervisor has no broker connection right now."""


class BrokerLink:
    """The publish function of the current broker connection, if any."""

    def __init__(self) -> None:
        self._publisher: Publisher | None = None

    def set_publisher(self, publisher: Publisher | None) -> None:
        """Installed by the MQTT link when connected (None when the link is down)."""
        self._publisher = publisher

    def connected(self) -> bool:
        return self._publisher is not None

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self._publisher is None:
            raise NotConnected("no broker connection")
        await self._publisher(topic, payload, qos, retain)
