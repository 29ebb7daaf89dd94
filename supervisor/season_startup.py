"""The season start-up of a group of stations, scheduled by date, with each station's progress.

`schedule(stations, city, station_class, fire_s, user)`: the stations are resolved as for
commands to many stations (a list, a city, a class: group_commands.resolve) and the start-up is
stored (storage/season.py) and audited; nothing is sent yet. At `fire_s` each station is sent the
season start-up command (`set_mode` mode=startup: fill, cold circulation, warm-up, then auto),
signed with its own key and tracked to its ack (commands.CommandTracker). A station offline
then gets it when it returns, as long as its city's season has not started yet (the calendar's
start; a city without a calendar: up to MAX_WAIT_S after `fire_s`); after that its fate is
"missed". A command that found no ack (the station went away) is sent again when it is back,
at most MAX_ATTEMPTS times.

Each station's step, from its command and then its telemetry mode: scheduled, offline (waiting
for it), sent, filling (startup_fill), cold_circulation (startup_cold), warm_up
(startup_warmup), done (back in auto or remote after the sequence), failed (refused by the
station, or safe mode, with the reason), missed. The steps are stored on each tick, so the
progress view and a restart see them. `cancel` drops a start-up that has not fired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from .commands import CommandError
from .group_commands import GroupCommandError

log = logging.getLogger(__name__)

TICK_S = 5.0
MAX_WAIT_S = 7 * 86400.0
MAX_AHEAD_S = 366 * 86400.0
MAX_ATTEMPTS = 3
START_ARGS = {"mode": "startup"}
FINAL = ("done", "failed", "missed")
MODE_STEPS = {"startup_fill": "filling", "startup_cold": "cold_circulation", "startup_warmup": "warm_up"}
STEPS = ("scheduled", "offline", "sent", "filling", "cold_circulation", "warm_up", "done", "failed", "missed")


class StartupError(ValueError):
    """A refused schedule or cancellation; `problems` lists every problem."""

    def __init__(self, reason: str, problems: list[str]) -> None:
        super().__init__("%s: %s" % (reason, "; ".join(problems)))
        self.reason = reason
        self.problems = problems


class SeasonStartups:
    """Scheduled season start-ups and each station's fate (see the module docstring)."""

    def __init__(self, service: Any, calendars: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.storage = service.storage
        self.tracker = service.commands
        self.calendars = calendars
        self.audit = service.audit_log.record
        self.clock = wall_clock
        self._lock = asyncio.Lock()

    async def schedule(self, stations: Sequence[str], city: str, station_class: str, fire_s: Any,
                       user: str) -> dict[str, Any]:
        problems = []
        try:
            targets = self.service.group_commands.resolve(stations, city, station_class)
        except GroupCommandError as exc:
            problems.extend(exc.problems)
            targets = []
        now = self.clock()
        if isinstance(fire_s, bool) or not isinstance(fire_s, (int, float)) or fire_s != fire_s:
            problems.append("at=%.40r: must be a date and time" % (fire_s,))
        elif fire_s < now - 60.0:
            problems.append("at: %s is in the past" % _when(float(fire_s)))
        elif fire_s > now + MAX_AHEAD_S:
            problems.append("at: %s is more than a year ahead" % _when(float(fire_s)))
        if problems:
            await self.audit(user=user, action="season:startup_schedule", detail="; ".join(problems), result="refused")
            raise StartupError("bad_schedule", problems)
        parts = [", ".join(stations)] if stations else []
        parts += ["city " + city] if city else []
        parts += ["class " + station_class] if station_class else []
        item = {"target": "; ".join(parts)[:300], "stations": targets, "fire_s": float(fire_s), "state": "scheduled",
                "created_by": user, "created_ts": now, "cancelled_by": None, "cancelled_ts": None,
                "fates": {sid: {"step": "scheduled", "command_id": None, "attempts": 0, "reason": "", "ts": now}
                          for sid in targets}}
        sid_ = await self.storage.add_season_startup(item)
        await self.audit(user=user, action="season:startup_schedule", detail="#%d at %s to %s (%d stations)" % (
            sid_, _when(item["fire_s"]), item["target"], len(targets)), result="scheduled")
        return item

    async def get(self, startup_id: int) -> dict[str, Any]:
        item = await self.storage.season_startup(startup_id)
        if item is None:
            raise StartupError("unknown_startup", ["no season start-up #%r" % (startup_id,)])
        return item

    async def cancel(self, startup_id: int, user: str) -> dict[str, Any]:
        async with self._lock:
            item = await self.get(startup_id)
            if item["state"] != "scheduled":
                await self.audit(user=user, action="season:startup_cancel", detail="#%d is %s" % (
                    startup_id, item["state"]), result="refused")
                raise StartupError("not_cancellable", ["season start-up #%d is %s: only a scheduled one is "
                                                       "cancelled" % (startup_id, item["state"])])
            item.update(state="cancelled", cancelled_by=user, cancelled_ts=self.clock())
            await self.storage.save_season_startup(item)
        await self.audit(user=user, action="season:startup_cancel", detail="#%d" % startup_id, result="cancelled")
        return item

    # --- the schedule running ------------------------------------------------------------------
    def _deadline(self, sid: str, item: dict[str, Any]) -> float:
        """Until when a station offline may still get the command: its city's season start."""
        city = self.calendars.city_of(sid)
        cal = self.calendars.calendars.get(city) if city else None
        if cal is not None and cal["start_s"] > item["fire_s"]:
            return float(cal["start_s"])
        return item["fire_s"] + MAX_WAIT_S

    def _live(self, sid: str, now: float) -> tuple[bool, str | None]:
        st = self.service.ingest.state.get(sid)
        if not st:
            return False, None
        return bool(self.service.fleet.online(st, now)), st.get("mode")

    async def _step(self, sid: str, fate: dict[str, Any], item: dict[str, Any], now: float) -> None:
        """Move one station's fate on (sends the command when it is due)."""
        online, mode = self._live(sid, now)
        cid = fate.get("command_id")
        cmd = None
        if fate.get("command_state") == "applied":  # final: no need to look it up again every tick
            state: str | None = "applied"
        else:
            cmd = await self.tracker.status(cid) if cid else None
            state = (cmd or {}).get("state")
            if state == "applied":
                fate["command_state"] = state
        if state == "applied":
            # a sample sent after the ack (the station's seq counts every message) shows the mode
            # the command led to; an older one may still show the mode before it, and may reach the
            # live values only after the ack did (the ack is taken on receipt, samples once stored)
            live = self.service.ingest.state.get(sid) or {}
            seq = int(live.get("values_seq") or 0)
            fate.setdefault("applied_seq", max(seq, int(live.get("ack_seq") or 0)))
            after = seq > fate["applied_seq"] or fate.get("seen_startup", False)
            if mode in MODE_STEPS:
                fate.update(step=MODE_STEPS[mode], seen_startup=True)
            elif mode == "safe" and after:
                fate.update(step="failed", reason="the station went to safe mode during the start-up")
            elif mode in ("auto", "remote") and after:
                fate["step"] = "done"
            elif not online:
                fate["step"] = "offline"
            return
        if cmd is not None and state in ("rejected", "expired") and cmd.get("reason") != "not_sent":
            fate.update(step="failed", reason="%s: %s %s" % (state, cmd.get("reason", ""), cmd.get("detail", "")))
            return
        if state == "sent":
            fate["step"] = "sent"
            return
        # not sent yet, or sent and lost (timed out, not taken by the broker): send when it is online
        if now >= self._deadline(sid, item):
            fate.update(step="missed", reason="offline until the season started" if cid is None else
                        "no ack before the season started")
            return
        if not online:
            fate["step"] = "offline"
            return
        if fate.get("attempts", 0) >= MAX_ATTEMPTS:
            fate.update(step="failed", reason="no ack after %d attempts" % MAX_ATTEMPTS)
            return
        try:
            cid = await self.tracker.send(sid, "set_mode", dict(START_ARGS), item["created_by"])
        except CommandError as exc:  # e.g. no command key for this station
            fate.update(step="failed", reason="%s: %s" % (exc.reason, exc.text))
            return
        fate.update(step="sent", command_id=cid, attempts=fate.get("attempts", 0) + 1, sent_ts=now)

    async def tick(self) -> int:
        """Fire the start-ups that are due and move each station's fate on; returns how many
        start-ups were looked at."""
        async with self._lock:
            now = self.clock()
            items = await self.storage.season_startups(("scheduled", "fired"), 1000)
            for item in items:
                if item["state"] == "scheduled":
                    if item["fire_s"] > now:
                        continue
                    item["state"] = "fired"
                    await self.storage.save_season_startup(item)  # fired once, even if this pass is interrupted
                    await self.audit(user=item["created_by"], action="season:startup_fire", detail="#%d to %d stations"
                                     % (item["startup_id"], len(item["stations"])), result="fired")
                changed = False
                for sid in item["stations"]:
                    fate = item["fates"].setdefault(sid, {"step": "scheduled", "attempts": 0})
                    if fate.get("step") in FINAL:
                        continue
                    before = dict(fate)
                    await self._step(sid, fate, item, now)
                    if fate != before:
                        fate["ts"] = now
                        changed = True
                        if fate["step"] in FINAL:
                            await self.audit(user=item["created_by"], action="season:startup_" + fate["step"],
                                             station_id=sid, detail="#%d %s" % (item["startup_id"],
                                                                                fate.get("reason", "")),
                                             result=fate["step"])
                if all(item["fates"].get(s, {}).get("step") in FINAL for s in item["stations"]):
                    item["state"] = "finished"
                    changed = True
                if changed:
                    await self.storage.save_season_startup(item)
            return len(items)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - task boundary: the next tick tries again
                log.exception("season start-ups: tick failed")
            await asyncio.sleep(TICK_S)

    # --- views -------------------------------------------------------------------------------------
    async def progress(self, startup_id: int) -> dict[str, Any]:
        item = await self.get(startup_id)
        now = self.clock()
        rows = []
        counts = dict.fromkeys(STEPS, 0)
        for sid in item["stations"]:
            fate = item["fates"].get(sid, {})
            online, mode = self._live(sid, now)
            step = fate.get("step", "scheduled")
            counts[step] = counts.get(step, 0) + 1
            rows.append({"station_id": sid, "online": online, "mode": mode, "step": step,
                         "command_id": fate.get("command_id"), "attempts": fate.get("attempts", 0),
                         "reason": fate.get("reason", ""), "ts": fate.get("ts")})
        item["progress"] = rows
        item["counts"] = counts
        return item

    async def list(self) -> list[dict[str, Any]]:
        return await self.storage.season_startups(None, 50)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))
