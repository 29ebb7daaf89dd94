"""The heating-season calendar of each city, kept by the supervisor and pushed to the city's stations.

The cities and their legal dates are [season.cities] (season_calendar.py). For each, the
calendar of the season in progress (or the next one) is stored with a version
(storage/season.py) and sent to every station of the city on its retained season topic
(`codec.encode_season`): at start, after every change, and again to a station that is online
but reports another `season_version` in its telemetry (a broker that lost its retained
messages, a station restored from an old snapshot), at most every RESEND_S per station.

Every change bumps the city's version by one: a season that ended (the next one is sent), a
changed [season] file, an extension. An extension is decided by the city: an admin enters the
new last day and the reason on the dashboard (`extend`); it is checked (after the legal last day,
at most MAX_EXTENSION_DAYS later, before the next season, not over yet: every problem listed),
stored with the new calendar in one transaction, audited and pushed at once.

The station keeps the calendar (core.season) through outages and restarts; a refused one is
reported by the station as a `season_rejected` event. Nothing here raises out of the task.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from heatkeeper.core import codec

from . import season_calendar as sc

log = logging.getLogger(__name__)

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]
TICK_S = 30.0  # how often the calendars are checked (a season ending, stations to resend to)
UNSENT_RETRY_S = 3.0  # a send the broker link refused (not connected yet, an outage) is tried again this soon
RESEND_S = 600.0  # a station online with another version is sent the calendar again at most this often
MAX_REASON_CHARS = 300


class SeasonError(ValueError):
    """A refused change of a calendar; `problems` lists every problem."""

    def __init__(self, reason: str, problems: list[str]) -> None:
        super().__init__("%s: %s" % (reason, "; ".join(problems)))
        self.reason = reason
        self.problems = problems


def message(calendar: dict[str, Any]) -> dict[str, Any]:
    """The six fields the stations get (codec.SEASON_KEYS) of a stored calendar."""
    return {k: calendar[k] for k in codec.SEASON_KEYS}


class SeasonCalendars:
    """The cities' calendars: kept, versioned, extended, pushed (see the module docstring)."""

    def __init__(self, service: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.storage = service.storage
        self.audit = service.audit_log.record
        self.clock = wall_clock
        self.cities: dict[str, dict[str, Any]] = dict(service.config.get("season_calendars", {}))
        self.stations: dict[str, list[str]] = {
            city: sorted(sid for sid, s in service.stations_cfg.items() if str(s.get("city", "")) == city)
            for city in self.cities}
        self.calendars: dict[str, dict[str, Any]] = {}
        self.unsent: set[str] = set()
        self.sent_ts: dict[str, tuple[int, float]] = {}  # station -> (version, when) last sent
        self.loaded = False
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def city_of(self, station_id: str) -> str | None:
        for city, sids in self.stations.items():
            if station_id in sids:
                return city
        return None

    async def load(self) -> None:
        """The stored calendars, then each city brought up to date (a new version where needed)."""
        async with self._lock:
            stored = await self.storage.season_calendars()
            self.calendars = {c: cal for c, cal in stored.items() if c in self.cities}
            self.loaded = True
        for city in self.cities:
            await self.reconcile(city)
        self.unsent.update(self.cities)

    async def _extensions(self, city: str) -> dict[int, dt.date]:
        """{season year: last day} of the city's newest extension of each season."""
        out: dict[int, dt.date] = {}
        for ext in reversed(await self.storage.season_extensions(city)):  # oldest first: the newest wins
            out[int(ext["season_year"])] = dt.date.fromisoformat(ext["last_day"])
        return out

    def _calendar(self, city: str, season: dict[str, Any], version: int, now: float) -> dict[str, Any]:
        return {"city": city, "version": version, "issued_s": now, "season_year": season["season_year"],
                "start_s": season["start_s"], "end_s": season["end_s"], "preheat_s": season["preheat_s"],
                "first_day": season["first_day"], "last_day": season["last_day"],
                "legal_last_day": season["legal_last_day"]}

    async def reconcile(self, city: str) -> bool:
        """Store a new version of the city's calendar when the season in force changed (one ended,
        the file's dates changed); True when it did (and the city is then to be sent)."""
        async with self._lock:
            now = self.clock()
            season = sc.current_season(self.cities[city], now, await self._extensions(city))
            old = self.calendars.get(city)
            same = old is not None and all(old[k] == season[k] for k in (
                "season_year", "start_s", "end_s", "preheat_s", "first_day", "last_day", "legal_last_day"))
            if same:
                return False
            cal = self._calendar(city, season, (old["version"] if old else 0) + 1, now)
            await self.storage.save_season_calendar(cal)
            self.calendars[city] = cal
        await self.audit(user="system", action="season:calendar", detail="%s v%d: %s .. %s, pre-heat %g h" % (
            city, cal["version"], cal["first_day"], cal["last_day"], cal["preheat_s"] / 3600.0), result="saved")
        self.unsent.add(city)
        self._wake.set()
        return True

    async def extend(self, city: str, last_day: Any, reason: Any, user: str) -> dict[str, Any]:
        """The city's decision to extend its season in force to `last_day` ("YYYY-MM-DD"), with
        `reason`: a new version, stored, audited and sent. Raises SeasonError listing every problem."""
        if city not in self.cities:
            raise SeasonError("unknown_city", ["city %r: has no [season.cities] calendar" % (city,)])
        await self.reconcile(city)
        problems = []
        text = reason.strip() if isinstance(reason, str) else ""
        if not 0 < len(text) <= MAX_REASON_CHARS:
            problems.append("reason: must be text of 1-%d characters (the city's decision)" % MAX_REASON_CHARS)
        async with self._lock:
            now = self.clock()
            cal = self.calendars[city]
            season = sc.current_season(self.cities[city], now, await self._extensions(city))
            problems = sc.check_extension(self.cities[city], season, last_day, now) + problems
            if problems:
                await self.audit(user=user, action="season:extend", detail="%s to %.40r: %s" % (
                    city, last_day, "; ".join(problems)), result="refused")
                raise SeasonError("bad_extension", problems)
            day = dt.date.fromisoformat(str(last_day))
            season = sc.season_times(self.cities[city], season["season_year"], day)
            new = self._calendar(city, season, cal["version"] + 1, now)
            ext = {"city": city, "season_year": season["season_year"], "last_day": day.isoformat(), "reason": text,
                   "decided_by": user, "decided_ts": now, "version": new["version"]}
            await self.storage.save_season_calendar(new, ext)
            self.calendars[city] = new
        await self.audit(user=user, action="season:extend", detail="%s season %d to %s (v%d): %s" % (
            city, season["season_year"], day.isoformat(), new["version"], text), result="saved")
        self.unsent.add(city)
        self._wake.set()
        return new

    async def send_city(self, city: str, publish: Publisher) -> int:
        """Send the city's calendar to each of its stations (retained); returns how many."""
        cal = self.calendars.get(city)
        if cal is None:
            return 0
        now = self.clock()
        for sid in self.stations[city]:
            await self._send(sid, cal, publish, now)
        return len(self.stations[city])

    async def _send(self, sid: str, cal: dict[str, Any], publish: Publisher, now: float) -> None:
        topic, payload = codec.encode_season(sid, now, message(cal))
        await publish(topic, payload, 1, True)
        self.sent_ts[sid] = (int(cal["version"]), now)

    def station_version(self, sid: str) -> tuple[int | None, bool | None]:
        """(season_version, in_season) the station last reported (None, None: not reported)."""
        st = self.service.ingest.state.get(sid) or {}
        values = st.get("values") or {}
        version, inside = values.get("season_version"), values.get("in_season")
        return (int(version) if isinstance(version, (int, float)) and not isinstance(version, bool) else None,
                bool(inside) if isinstance(inside, (int, float, bool)) else None)

    def _online(self, sid: str, now: float) -> bool:
        st = self.service.ingest.state.get(sid)
        return bool(st) and bool(self.service.fleet.online(st, now))

    async def tick(self, publish: Publisher) -> None:
        """One pass: each city up to date, the unsent ones sent, stations online that run another
        version sent theirs again (at most every RESEND_S). A send the link refused is retried."""
        if not self.loaded:
            await self.load()
        for city in self.cities:
            await self.reconcile(city)
        for city in sorted(self.unsent):
            try:
                await self.send_city(city, publish)
                self.unsent.discard(city)
            except Exception as exc:  # noqa: BLE001 - broker outage: resent next tick
                log.info("season calendar of %s: sending failed (%s); retrying", city, exc)
        now = self.clock()
        for city, sids in self.stations.items():
            cal = self.calendars.get(city)
            if cal is None or city in self.unsent:
                continue
            for sid in sids:
                version, _ = self.station_version(sid)
                last = self.sent_ts.get(sid)
                if (version is None or version == cal["version"] or not self._online(sid, now)
                        or (last is not None and last[0] == cal["version"] and now - last[1] < RESEND_S)):
                    continue
                try:
                    await self._send(sid, cal, publish, now)
                except Exception as exc:  # noqa: BLE001 - broker outage: next tick
                    log.info("season calendar to %s: sending failed (%s)", sid, exc)

    async def run(self, publish: Publisher) -> None:
        """Every TICK_S (at once after a change, every UNSENT_RETRY_S while a send is refused), a
        tick. Nothing raises out of here."""
        while True:
            try:
                await self.tick(publish)
            except Exception:  # noqa: BLE001 - task boundary: the next tick tries again
                log.exception("season calendars: tick failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), UNSENT_RETRY_S if self.unsent else TICK_S)
            except TimeoutError:
                pass

    # --- views -------------------------------------------------------------------------------------
    async def status(self) -> list[dict[str, Any]]:
        """For the dashboard: per city its calendar, extensions and each station's version."""
        now = self.clock()
        out = []
        for city, cfg in self.cities.items():
            cal = self.calendars.get(city)
            rows = []
            for sid in self.stations[city]:
                version, inside = self.station_version(sid)
                rows.append({"station_id": sid, "online": self._online(sid, now), "season_version": version,
                             "in_season": inside, "current": cal is not None and version == cal["version"]})
            out.append({"city": city, "config": cfg, "calendar": cal, "stations": rows,
                        "extensions": await self.storage.season_extensions(city, 20),
                        "in_season": cal is not None and cal["start_s"] <= now < cal["end_s"]})
        return out
