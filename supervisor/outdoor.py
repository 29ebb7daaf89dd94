"""City outdoor temperature for the stations: the median of the fleet's healthy sensors.

A station whose own outdoor sensor fails falls back on a value the supervisor sends
(`StationController.set_supervisor_outdoor`; the station ignores it while its own sensor is
good and once it is older than its `outdoor.supervisor_max_age_s`). Heating companies run
closed intranets, so the source here needs no internet: per city, the median of the latest
`outdoor_temp_c` of every station whose reading is fresh (received at most `max_sample_age_s`
ago, by the supervisor's clock: a station's own clock may be wrong) and
whose sensor is healthy (a value, not None, and no `outdoor_sensor_fault` flag). The median
ignores a minority of sun-lit or drifting sensors. A city with fewer than `min_stations` healthy
stations gets nothing (the stations then hold their last good value, then the fixed fallback).

Every `interval_s` each station of a city with a value gets it on its outdoor topic (QoS 1,
retained, so a station that reconnects has it at once; the timestamp tells the station its age).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from heatkeeper.core import codec

log = logging.getLogger(__name__)

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]
SOURCE = "fleet_median"


class OutdoorFeed:
    """Computes each city's outdoor value from station state and sends it to the city's stations."""

    def __init__(self, stations: dict[str, dict[str, Any]], state: dict[str, dict[str, Any]], min_stations: int = 2,
                 max_sample_age_s: float = 900.0, wall_clock: Callable[[], float] = time.time) -> None:
        self.stations = stations  # station id -> config (with "city")
        self.state = state  # the ingest's live station state (values, values_ts)
        self.min_stations = min_stations
        self.max_sample_age_s = max_sample_age_s
        self.clock = wall_clock
        self.sent = 0
        self.last: dict[str, dict[str, Any]] = {}  # city -> {"temp_c", "stations", "ts"}

    def _healthy(self, sid: str, now: float) -> float | None:
        st = self.state.get(sid)
        if st is None:
            return None
        # fresh by the time the supervisor RECEIVED the values: a station clock in the future (or
        # a state saved before receive times were kept) must not count as fresh for ever
        received = st.get("values_received_ts")
        if received is None or not 0 <= now - float(received) <= self.max_sample_age_s:
            return None
        values = st.get("values") or {}
        temp = values.get("outdoor_temp_c")
        if isinstance(temp, bool) or not isinstance(temp, (int, float)) or temp != temp:
            return None
        if values.get("outdoor_sensor_fault"):
            return None
        if not codec.OUTDOOR_MIN_C <= temp <= codec.OUTDOOR_MAX_C:
            return None
        return float(temp)

    def city_values(self) -> dict[str, dict[str, Any]]:
        """{city: {"temp_c", "stations", "ts"}} for every city with enough healthy stations."""
        now = self.clock()
        by_city: dict[str, list[float]] = {}
        for sid, cfg in self.stations.items():
            temp = self._healthy(sid, now)
            if temp is not None:
                by_city.setdefault(str(cfg.get("city", "")), []).append(temp)
        return {city: {"temp_c": round(statistics.median(temps), 2), "stations": len(temps), "ts": now}
                for city, temps in by_city.items() if len(temps) >= self.min_stations}

    async def send(self, publish: Publisher) -> int:
        """Send every station of a city with a value its city's value; returns how many got one."""
        values = self.city_values()
        self.last = values
        sent = 0
        for sid, cfg in sorted(self.stations.items()):
            city = values.get(str(cfg.get("city", "")))
            if city is None:
                continue
            topic, payload = codec.encode_outdoor(sid, city["temp_c"], city["ts"], SOURCE, city["stations"])
            await publish(topic, payload, 1, True)
            sent += 1
        self.sent += sent
        return sent

    async def run(self, publish: Publisher, interval_s: float) -> None:
        """Send forever; a broker outage only delays the next round."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.send(publish)
            except Exception as exc:  # noqa: BLE001 - task boundary: retried next period
                log.warning("sending outdoor temperatures failed (%s); retrying in %.0f s", exc, interval_s)
