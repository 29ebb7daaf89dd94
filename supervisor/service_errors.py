"""What the supervisor's service jobs refuse, as the web shows it: `ServiceError` (a short
`reason` code for the UI and a text for people; reasons starting "unknown_" are 404s) and the
known-station check every job that takes a station id shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ServiceError(ValueError):
    """A request the service refuses; `reason` is a short code for the UI."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__("%s: %s" % (reason, text))
        self.reason = reason
        self.text = text


def known_station(stations_cfg: Mapping[str, dict[str, Any]], station_id: str) -> dict[str, Any]:
    """The configured station `station_id`; ServiceError("unknown_station") when there is none."""
    if station_id not in stations_cfg:
        raise ServiceError("unknown_station", "no station %r" % station_id)
    return stations_cfg[station_id]
