"""The supervisor's own alarms: rules over what the supervisor knows of each station (its live
state from the ingest, the room collectors' readings, the heating season), raised into the same
alarm list as the stations' own alarms and acknowledged on the supervisor.

Rules (codes and default priorities in fleet_alarm_settings.CODES; thresholds there too):
    station_offline          no uplink for offline_after_s (never heard: since the supervisor started)
    station_clock_off        the station's sample time this far from the receive time (clock_offset_s)
    collector_stale / _dead  collectors of the station silent over collector_stale_s / collector_dead_s
    collector_coverage_low   live collectors below coverage_min_pct of the station's households
                             (the household register's count, else [[station]] households)
    group_without_collector  a building group of the station with no live collector
    comfort_below_floor      a building group's coldest live reading below the floor (the station's
                             floor_c, else compliance.floor_c) for floor_delay_s
    comfort_overheating      a group's coldest live reading above overheat_c while the outdoor is below
                             overheat_outdoor_c, for overheat_delay_s
    heating_outage           no heat delivered (heat meter at or below outage_power_kw; without a meter
                             reading: pumps stopped or supply under 30 degC) for outage_delay_s, in season
    notify_channel_failed    a notification channel reported failing (`raise_channel_failure`), on the
                             site-wide pseudo station SITE_ID; nothing reported since the start: held
    inspection_missed        a station with an inspection checklist has had no round within its interval
                             (inspections.overdue: the newest round, else when the checklist was set)
    uplink_quarantined       uplinks of the station kept in the quarantine (quarantine.py) within the
                             last quarantine_clear_s (any ingest process, also before a restart)
    sequence_regression      ... of them, ones whose seq was already stored with other content

Each (station, code) runs the station alarms' state machine (core.alarms), without latching:
    none -> active    condition held for the on-delay              recorded "active" with value, limit
    active -> none    condition gone for the off-delay (clear_delay_s)  recorded "cleared"
A condition is true, false or unknown (no fresh data): unknown holds the state and restarts the
delay that was running, so missing data neither raises nor clears anything. Temperature rules
clear only hysteresis_k back inside their limit; the clock rule at half its limit. A transition
takes effect once it is recorded: a database failure retries it at the next evaluation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from . import channel_failures, inspections
from . import fleet_alarm_settings as fas
from .channel_failures import CHANNELS, ChannelFailures, clear_channel_failure, raise_channel_failure
from .quarantine import alarm_code
from .reports import OUTAGE_SUPPLY_C
from .storage.base import Storage

CODES = fas.CODES  # the codes raised here (acknowledged on the supervisor, never sent to a station)
__all__ = ["CHANNELS", "CODES", "SITE_ID", "ChannelFailures", "Condition", "FleetAlarms", "clear_channel_failure",
           "is_supervisor_alarm", "raise_channel_failure"]

log = logging.getLogger(__name__)

SITE_ID = "supervisor"  # the pseudo station of alarms about the supervisor itself (as the notifier names it)
# code -> (on-delay setting, off-delay setting); None: immediate
DELAYS: dict[str, tuple[str | None, str | None]] = {
    "station_offline": (None, None),
    "station_clock_off": ("clock_delay_s", "clear_delay_s"),
    "collector_stale": (None, None),
    "collector_dead": (None, None),
    "collector_coverage_low": (None, None),
    "group_without_collector": (None, None),
    "comfort_below_floor": ("floor_delay_s", "clear_delay_s"),
    "comfort_overheating": ("overheat_delay_s", "clear_delay_s"),
    "heating_outage": ("outage_delay_s", "clear_delay_s"),
    "notify_channel_failed": (None, None),
    "inspection_missed": (None, None),
    "uplink_quarantined": (None, None),  # the rule's own window (quarantine_clear_s) is its off-delay
    "sequence_regression": (None, None),
}


def is_supervisor_alarm(code: str) -> bool:
    """Whether `code` is one of the supervisor's own alarms: acknowledged on the supervisor alone,
    never sent to a station (which does not know the code and would refuse the acknowledgement)."""
    return code in CODES


class Condition(NamedTuple):
    """One rule's verdict on one station: `state` True, False or None (unknown), with evidence."""

    state: bool | None
    value: float | None = None
    limit: float | None = None
    text: str = ""
    evidence: Any = None  # recorded as the alarm's value instead of `value` when more than a number


class _Track:
    __slots__ = ("active", "on_since", "off_since")

    def __init__(self, active: bool = False) -> None:
        self.active = active
        self.on_since: float | None = None
        self.off_since: float | None = None


def _hours(seconds: float) -> str:
    return "%.1f h" % (seconds / 3600.0)


def _minutes(seconds: float) -> str:
    return "%.0f min" % (seconds / 60.0) if seconds >= 60 else "%.0f s" % seconds


class FleetAlarms:
    """The rules, their settings (the file's `[fleet_alarms]`, overridden by the dashboard's) and
    the state of every (station, code)."""

    def __init__(self, storage: Storage, config: dict[str, Any], states: dict[str, dict[str, Any]],
                 collectors: Any, wall_clock: Callable[[], float] = time.time,
                 channels: ChannelFailures | None = None) -> None:
        self.storage = storage
        self.config = config
        self.stations = {s["id"]: s for s in config.get("stations", [])}
        self.states = states  # the ingest's live state per station
        self.collectors = collectors  # the CollectorHub: collector map and latest readings
        self.clock = wall_clock
        self.channels = channels if channels is not None else channel_failures.CHANNELS
        self.file_settings: dict[str, Any] = {**fas.DEFAULTS, **config.get("fleet_alarms", {})}
        self.overrides: dict[str, Any] = {}
        self.settings: dict[str, Any] = dict(self.file_settings)
        self.season: dict[str, str] = dict(config.get("season", fas.SEASON_DEFAULTS))
        self.tracks: dict[tuple[str, str], _Track] = {}
        self.started_ts: float | None = None
        self._collector_seen: dict[str, float] = {}
        self.registered: dict[str, int] = {}  # households per station in the register (coverage)
        self._wake = asyncio.Event()
        self._quarantined: list[tuple[str, str, int, float]] = []  # storage.quarantine_cases of this evaluation
        self.evaluations = 0
        self.inspections: dict[str, dict[str, Any]] = {}  # inspections.overdue, read at each evaluation

    # --- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the dashboard's settings, the alarms still active from before a restart and the
        collectors' last readings."""
        if self.started_ts is not None:
            return
        now = self.clock()
        clean, problems = fas.validate(await self.storage.fleet_alarm_settings(), "stored fleet_alarms")
        for problem in problems:
            log.error("ignored a stored alarm setting: %s", problem)
        self.overrides = clean
        self.settings = {**self.file_settings, **clean}
        for row in await self.storage.alarm_rows(None, True):
            if row["code"] in fas.CODES:
                self.tracks[(row["station_id"], row["code"])] = _Track(active=True)
        self._collector_seen = await self.storage.collector_last_seen(now - 2 * self.settings["collector_dead_s"])
        self.channels.listeners.append(self._wake.set)
        self.started_ts = now

    async def run(self) -> None:
        """Evaluate every `interval_s` (at once when a channel reports), forever."""
        await self.start()
        try:
            while True:
                try:
                    if self.settings["enabled"]:
                        await self.evaluate()
                    else:
                        await self.clear_all("the supervisor's alarm rules are switched off")
                except Exception:  # noqa: BLE001 - task boundary: retried at the next evaluation
                    log.exception("evaluating the supervisor's alarms failed")
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings["interval_s"])
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            if self._wake.set in self.channels.listeners:
                self.channels.listeners.remove(self._wake.set)

    def wake(self) -> None:
        """Evaluate now instead of at the next interval (something the rules read changed)."""
        self._wake.set()

    # --- settings -----------------------------------------------------------------------------
    async def change_settings(self, changes: dict[str, Any], user: str) -> dict[str, Any]:
        """Store an admin's changes ({key: value, or None to go back to the file's value}) and
        apply them now. Raises ValueError listing every problem; nothing is stored then."""
        await self.start()
        kept = {k: v for k, v in changes.items() if v is not None}
        clean, problems = fas.validate(kept)
        for key in changes:
            if changes[key] is None and key not in fas.DEFAULTS:
                problems.append("fleet_alarms.%s: unknown key" % key)
        overrides = {k: v for k, v in self.overrides.items() if k not in changes}
        overrides.update(clean)
        merged = {**self.file_settings, **overrides}
        if not problems and merged["collector_dead_s"] <= merged["collector_stale_s"]:
            problems.append("fleet_alarms.collector_dead_s=%g s: must be above collector_stale_s=%g s"
                            % (merged["collector_dead_s"], merged["collector_stale_s"]))
        if problems:
            raise ValueError("; ".join(problems))
        await self.storage.save_fleet_alarm_settings({**{k: None for k in changes}, **clean}, user, self.clock())
        self.overrides = overrides
        self.settings = merged
        self._wake.set()
        return dict(self.settings)

    # --- evaluation ---------------------------------------------------------------------------
    def _active(self, sid: str, code: str) -> bool:
        track = self.tracks.get((sid, code))
        return track is not None and track.active

    async def evaluate(self) -> list[tuple[str, str, bool]]:
        """One pass over every rule and station; returns the (station, code, active) recorded."""
        await self.start()
        now = self.clock()
        self.registered = await self.storage.household_counts()
        self.inspections = inspections.overdue(await self.storage.checklists(), await self.storage.last_rounds(), now,
                                               set(self.stations))
        self._quarantined = await self.storage.quarantine_cases(now - self.settings["quarantine_clear_s"])
        conditions = self.conditions(now)
        for key, track in self.tracks.items():  # a rule that no longer applies (station gone, season over)
            if track.active and key not in conditions:
                conditions[key] = Condition(False, text="no longer applies")
        done = []
        for (sid, code), cond in sorted(conditions.items()):
            track = self.tracks.setdefault((sid, code), _Track())
            change = self._step(track, code, cond.state, now)
            if change is None:
                continue
            priority = self.settings[code + "_priority"]
            await self.storage.record_alarm(sid, code, priority, change, now, cond.text[:400],
                                            cond.value if cond.evidence is None else cond.evidence, limit=cond.limit)
            track.active = change
            track.on_since = track.off_since = None
            done.append((sid, code, change))
            log.warning("supervisor alarm %s %s at %s: %s", code, "raised" if change else "cleared", sid, cond.text)
        self.evaluations += 1
        return done

    async def clear_all(self, text: str) -> list[tuple[str, str, bool]]:
        """Clear every active alarm of the rules at once (the rules switched off)."""
        await self.start()
        now = self.clock()
        done = []
        for (sid, code), track in sorted(self.tracks.items()):
            if track.active:
                await self.storage.record_alarm(sid, code, self.settings[code + "_priority"], False, now, text, None)
                track.active = False
                done.append((sid, code, False))
            track.on_since = track.off_since = None
        return done

    def _step(self, track: _Track, code: str, state: bool | None, now: float) -> bool | None:
        """The new `active` when the delays say so, else None (timers advanced)."""
        on_key, off_key = DELAYS[code]
        if state is None:
            track.on_since = track.off_since = None
            return None
        if not track.active:
            track.off_since = None
            if not state:
                track.on_since = None
                return None
            if track.on_since is None:
                track.on_since = now
            return True if now - track.on_since >= (self.settings[on_key] if on_key else 0.0) else None
        track.on_since = None
        if state:
            track.off_since = None
            return None
        if track.off_since is None:
            track.off_since = now
        return False if now - track.off_since >= (self.settings[off_key] if off_key else 0.0) else None

    def conditions(self, now: float) -> dict[tuple[str, str], Condition]:
        """Every rule's verdict on every station now."""
        out: dict[tuple[str, str], Condition] = {}
        by_station: dict[str, list[tuple[str, str]]] = {}
        for cid, info in self.collectors.collectors.items():
            by_station.setdefault(info["station"], []).append((cid, info["group"]))
        for sid, station in self.stations.items():
            state = self.states.get(sid) or {}
            out[(sid, "station_offline")] = self._offline(sid, state, now)
            out[(sid, "station_clock_off")] = self._clock_off(sid, state, now)
            group_min = self._collector_rules(sid, station, by_station.get(sid, []), now, out)
            if group_min is not None and not group_min:  # collectors, none live: the rooms are unknown
                out[(sid, "comfort_below_floor")] = out[(sid, "comfort_overheating")] = Condition(None)
            elif group_min is not None:
                out[(sid, "comfort_below_floor")] = self._below_floor(sid, station, group_min)
                out[(sid, "comfort_overheating")] = self._overheating(sid, state, group_min, now)
            out[(sid, "heating_outage")] = self._outage(state, now)
            if sid in self.inspections:
                out[(sid, "inspection_missed")] = self._inspection(self.inspections[sid])
        self._quarantine_rules(out)
        failing = self.channels.failing
        # nothing reported since the start: unknown (an alarm from before a restart stands until
        # a channel reports again; the notifier reports the channels it still knows failing)
        out[(SITE_ID, "notify_channel_failed")] = Condition(
            bool(failing) if self.channels.reported else None, float(len(failing)), None,
            "; ".join("%s: %s" % (ch, text) for ch, text in sorted(failing.items())) or "every channel delivers",
            {"channels": sorted(failing)})
        return out

    def _inspection(self, status: dict[str, Any]) -> Condition:
        interval_s = status["interval_h"] * 3600.0
        return Condition(bool(status["missed"]), status["overdue_s"], interval_s,
                         "no inspection round for %s (every %s)" % (
                             _hours(status["overdue_s"] + interval_s), _hours(interval_s)) if status["missed"]
                         else "")
    def _quarantine_rules(self, out: dict[tuple[str, str], Condition]) -> None:
        """uplink_quarantined / sequence_regression of every configured station (and of any other
        station id uplinks were quarantined under) from the rows of the last quarantine_clear_s."""
        window = _minutes(self.settings["quarantine_clear_s"])
        cases: dict[tuple[str, str], list[tuple[int, float, str]]] = {}
        for sid, reason, count, last_ts in self._quarantined:
            cases.setdefault((sid, alarm_code(reason)), []).append((count, last_ts, reason))
        for sid in sorted(set(self.stations) | {sid for sid, _code in cases}):
            for code in ("uplink_quarantined", "sequence_regression"):
                mine = sorted(cases.get((sid, code), []), key=lambda c: -c[1])
                total = sum(c[0] for c in mine)
                out[(sid, code)] = Condition(
                    total > 0, float(total), None,
                    "%d uplink(s) quarantined in the last %s: %s" % (
                        total, window, ", ".join("%s %d" % (reason, n) for n, _ts, reason in mine))
                    if mine else "nothing quarantined in the last %s" % window)

    def _fresh_values(self, state: dict[str, Any], now: float) -> dict[str, Any] | None:
        received = state.get("values_received_ts")
        if received is None or now - float(received) > self.settings["offline_after_s"]:
            return None
        return dict(state.get("values") or {})

    def _offline(self, sid: str, state: dict[str, Any], now: float) -> Condition:
        last = state.get("last_seen_ts") or self.started_ts or now
        silent_s = max(0.0, now - float(last))
        limit = self.settings["offline_after_s"]
        if state.get("last_seen_ts"):
            return Condition(silent_s > limit, silent_s, limit, "no uplink for %s (limit %s)" % (
                _minutes(silent_s), _minutes(limit)))
        # never heard (since the supervisor started): an offline alarm from before a restart stands
        return Condition(silent_s > limit or self._active(sid, "station_offline"), silent_s, limit,
                         "nothing heard since the supervisor started %s ago (limit %s)" % (
                             _minutes(silent_s), _minutes(limit)))

    def _clock_off(self, sid: str, state: dict[str, Any], now: float) -> Condition:
        received, ts = state.get("values_received_ts"), state.get("values_ts")
        limit = self.settings["clock_offset_s"]
        if received is None or ts is None or now - float(received) > self.settings["offline_after_s"]:
            return Condition(None)
        offset_s = float(ts) - float(received)
        bound = limit / 2.0 if self._active(sid, "station_clock_off") else limit
        return Condition(abs(offset_s) > bound, offset_s, limit, "station clock %+.0f s from the receive time "
                         "(limit +-%.0f s)" % (offset_s, limit))

    def _collector_rules(self, sid: str, station: dict[str, Any], collectors: list[tuple[str, str]], now: float,
                         out: dict[tuple[str, str], Condition]) -> dict[str, float] | None:
        """The collector rules of one station into `out`; returns {group: coldest live reading}
        (empty when no reading is live; None when the station has no collectors)."""
        s = self.settings
        households = self.registered.get(sid) or int(station.get("households") or 0)
        if not collectors:
            if households > 0:
                out[(sid, "collector_coverage_low")] = Condition(True, 0.0, s["coverage_min_pct"],
                                                                 "no room collector for %d households" % households)
            return None
        latest = self.collectors.latest
        stale: list[tuple[float, str]] = []
        dead: list[tuple[float, str]] = []
        live_groups: dict[str, float] = {}
        groups: set[str] = set()
        live = 0
        for cid, group in collectors:
            groups.add(group)
            reading = latest.get(cid)
            last = max(reading[0] if reading else 0.0, self._collector_seen.get(cid, 0.0)) or self.started_ts or now
            age_s = max(0.0, now - last)
            if age_s > s["collector_dead_s"]:
                dead.append((age_s, cid))
            elif age_s > s["collector_stale_s"]:
                stale.append((age_s, cid))
            else:
                live += 1
                if reading is not None and now - reading[0] <= s["collector_stale_s"]:
                    live_groups[group] = min(live_groups.get(group, reading[1]), reading[1])
                else:
                    live_groups.setdefault(group, float("nan"))  # heard (before a restart): no reading held
        for code, items, limit in (("collector_stale", stale, s["collector_stale_s"]),
                                   ("collector_dead", dead, s["collector_dead_s"])):
            items.sort(reverse=True)
            out[(sid, code)] = Condition(bool(items), items[0][0] if items else None, limit,
                                         "%d of %d collectors silent over %s: %s" % (
                                             len(items), len(collectors), _minutes(limit),
                                             ", ".join(c for _a, c in items[:10])) if items else "")
        if households > 0:
            pct = 100.0 * live / households
            out[(sid, "collector_coverage_low")] = Condition(
                pct < s["coverage_min_pct"], pct, s["coverage_min_pct"],
                "%d live collectors for %d households: %.1f %% (at least %g %%)" % (live, households, pct,
                                                                                    s["coverage_min_pct"]))
        without = sorted(groups - set(live_groups))
        out[(sid, "group_without_collector")] = Condition(
            bool(without), float(len(without)), None,
            "building groups without a live collector: %s" % ", ".join(without[:20]) if without else "")
        return {g: t for g, t in live_groups.items() if t == t}

    def _floor_c(self, station: dict[str, Any]) -> float:
        floor = station.get("floor_c")
        return float(floor) if floor is not None else float(self.config["compliance"]["floor_c"])

    def _below_floor(self, sid: str, station: dict[str, Any], group_min: dict[str, float]) -> Condition:
        floor = self._floor_c(station)
        bound = floor + self.settings["hysteresis_k"] if self._active(sid, "comfort_below_floor") else floor
        low = sorted((t, g) for g, t in group_min.items() if t < bound)
        coldest = min(group_min.values())
        return Condition(bool(low), coldest, floor, "below the %g degC floor: %s" % (
            floor, ", ".join("%s %.1f degC" % (g, t) for t, g in low[:10])) if low else "every group at the floor")

    def _overheating(self, sid: str, state: dict[str, Any], group_min: dict[str, float], now: float) -> Condition:
        s = self.settings
        values = self._fresh_values(state, now)
        outdoor = values.get("outdoor_temp_c") if values is not None else None
        if outdoor is None:
            return Condition(None)
        hyst = s["hysteresis_k"] if self._active(sid, "comfort_overheating") else 0.0
        hot = sorted(((t, g) for g, t in group_min.items() if t > s["overheat_c"] - hyst), reverse=True)
        cold_outside = float(outdoor) < s["overheat_outdoor_c"] + hyst
        warmest = max(group_min.values())
        return Condition(bool(hot) and cold_outside, warmest, s["overheat_c"],
                         "above %g degC with %.1f degC outdoors (below %g degC): %s" % (
                             s["overheat_c"], float(outdoor), s["overheat_outdoor_c"],
                             ", ".join("%s %.1f degC" % (g, t) for t, g in hot[:10])) if hot else "")

    def _outage(self, state: dict[str, Any], now: float) -> Condition:
        s = self.settings
        if not fas.in_season(now, self.season, float(self.config["supervisor"]["utc_offset_h"])):
            return Condition(False, text="outside the heating season")
        values = self._fresh_values(state, now)
        if values is None:
            return Condition(None)
        power = values.get("heat_power_kw")
        if power is not None:
            return Condition(float(power) <= s["outage_power_kw"], float(power), s["outage_power_kw"],
                             "heat meter %.1f kW (no heat at or below %g kW)" % (float(power), s["outage_power_kw"]))
        pumps = [float(values[f]) for f in ("pump1_running", "pump2_running") if values.get(f) is not None]
        supply = values.get("secondary_supply_temp_c")
        if not pumps and supply is None:
            return Condition(None)
        stopped = bool(pumps) and max(pumps) < 0.5
        cold = supply is not None and float(supply) < OUTAGE_SUPPLY_C
        return Condition(stopped or cold, float(supply) if supply is not None else None, OUTAGE_SUPPLY_C,
                         "no heat meter reading; %s, supply %s" % (
                             "circulation pumps stopped" if stopped else "pumps running",
                             "%.1f degC" % float(supply) if supply is not None else "unknown"))
