"""Staged rollout of a settings version: pilot stations first, a hold point, then the rest.

A push names a version and its stations (a list, a city, a station class) and the pilots among
them: chosen in the push, else the stations marked `pilot = true` in [[station]]. The pilots
are assigned at once (supervisor/settings_push.py sends and tracks each); the rest wait. States:

    pilot     the pilots have the version; watching them
    hold      every pilot applied it and ran `watch_s` without an alarm: waits for an admin
    halted    a pilot rejected it, or raised an alarm within the watch: held, the rest untouched
    released  an admin released it to the rest (or there were no pilots): every station assigned
    rolled_back  an earlier version was assigned to every station this push had reached

`tick()` (each convergence pass of the settings push) moves "pilot" to "hold" or "halted".
Release is refused before the hold point and after a halt (roll back, or push a corrected
version). Rolling back is one action: `rollback(rollout, to_version)` assigns the earlier version
to every station the push reached, as a new rollout without pilots, and marks this one
rolled back. A station offline for days keeps its assignment pending and converges when it
returns (SettingsPush.converge). With `settings_push` in [tickets] require, a push waits for a
second person's approval (supervisor/tickets.py) before anything is assigned.

Each station's fate in a push (`progress`): waiting (behind the hold point), offline (pending,
the station is not online), pending, sent, applied (running the version), rejected (with the
station's reasons), superseded (a later push gave it another version). Everything is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .settings_push import SettingsPushError
from .tickets import SETTINGS_PUSH

DEFAULTS: dict[str, Any] = {"watch_s": 600.0}
WATCH_RANGE_S = (0.0, 7 * 86400.0)


class Rollouts:
    """Staged pushes for one supervisor (see the module docstring)."""

    def __init__(self, service: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.push_ = service.settings_push
        self.storage = service.storage
        self.audit = service.audit_log.record
        self.tickets = service.tickets
        self.clock = wall_clock
        self.default_watch_s = float(service.config.get("rollout", DEFAULTS)["watch_s"])
        self.tickets.executors[SETTINGS_PUSH] = self._approved
        self.push_.on_pass.append(self.tick)

    # --- targets -------------------------------------------------------------------------------
    def resolve(self, stations: Sequence[str] | None = None, city: str | None = None,
                station_class: str | None = None) -> list[str]:
        """Station ids from a list, a city and/or a station class (SettingsPushError for unknown ones)."""
        out = self.push_.resolve(stations, city) if (stations or city) else []
        if station_class:
            members = [sid for sid, cfg in sorted(self.service.stations_cfg.items())
                       if cfg.get("class") == station_class]
            if not members:
                raise SettingsPushError("bad_target", ["class %r: no station" % (station_class,)])
            out.extend(sid for sid in members if sid not in out)
        if not out:
            raise SettingsPushError("bad_target", ["no station chosen: give stations, a city or a class"])
        return out

    async def plan(self, version: int, stations: Sequence[str], pilots: Sequence[str] | None = None,
                   watch_s: float | None = None) -> dict[str, Any]:
        """The push checked: {version, profile, stations, pilots, watch_s} (SettingsPushError)."""
        item = await self.push_.version(version)
        problems = []
        if pilots is None:
            pilots = [sid for sid in stations if self.service.stations_cfg.get(sid, {}).get("pilot")]
        for sid in pilots:
            if sid not in stations:
                problems.append("pilot %r: not one of the stations pushed to" % (sid,))
        watch = self.default_watch_s if watch_s is None else watch_s
        if isinstance(watch, bool) or not isinstance(watch, (int, float)) or not (
                WATCH_RANGE_S[0] <= watch <= WATCH_RANGE_S[1]):
            problems.append("watch_s=%r s: must be a number in [%g, %g]" % (watch, *WATCH_RANGE_S))
        if problems:
            raise SettingsPushError("bad_target", problems)
        return {"version": version, "profile": item["profile"], "stations": list(stations),
                "pilots": [sid for sid in stations if sid in pilots], "watch_s": float(watch)}

    # --- push, release, rollback -----------------------------------------------------------------
    async def push(self, version: int, stations: Sequence[str], user: str, pilots: Sequence[str] | None = None,
                   watch_s: float | None = None) -> dict[str, Any]:
        """Start a staged push, or, when pushes need a ticket, ask for one. Returns
        {"rollout": ...} or {"ticket": ...}."""
        plan = await self.plan(version, stations, pilots, watch_s)
        if self.tickets.required(SETTINGS_PUSH):
            summary = "settings version %d (%s) to %s%s" % (
                version, plan["profile"], ", ".join(plan["stations"]),
                "; pilots %s" % ", ".join(plan["pilots"]) if plan["pilots"] else "")
            return {"ticket": await self.tickets.request(SETTINGS_PUSH, plan, summary, user)}
        return {"rollout": await self.start(plan, user)}

    async def _approved(self, payload: dict[str, Any], ticket: dict[str, Any]) -> str:
        plan = await self.plan(payload["version"], payload["stations"], payload["pilots"], payload["watch_s"])
        rollout = await self.start(plan, ticket["requested_by"], approved_by=ticket["decided_by"] or "")
        return "rollout %d started" % rollout["rollout_id"]

    async def start(self, plan: dict[str, Any], user: str, rollback_of: int | None = None,
                    approved_by: str = "") -> dict[str, Any]:
        now = self.clock()
        staged = bool(plan["pilots"])
        item = {"version": plan["version"], "profile": plan["profile"], "stations": plan["stations"],
                "pilots": plan["pilots"], "watch_s": plan["watch_s"], "state": "pilot" if staged else "released",
                "reason": "", "created_by": user, "created_ts": now, "state_ts": now,
                "released_by": None if staged else user, "released_ts": None if staged else now,
                "rollback_of": rollback_of}
        rid = await self.storage.add_rollout(item)
        first = plan["pilots"] if staged else plan["stations"]
        await self.audit(user=user, action="settings:rollout", detail="#%d version %d to %s%s%s" % (
            rid, plan["version"], ", ".join(plan["stations"]),
            "; pilots %s, watch %g s" % (", ".join(plan["pilots"]), plan["watch_s"]) if staged else "",
            "; approved by %s" % approved_by if approved_by else ""), result=item["state"])
        await self.push_.assign(plan["version"], first, user)
        return item

    async def get(self, rollout_id: int) -> dict[str, Any]:
        item = await self.storage.rollout(rollout_id)
        if item is None:
            raise SettingsPushError("unknown_rollout", ["no rollout #%r" % (rollout_id,)])
        return item

    async def release(self, rollout_id: int, user: str) -> dict[str, Any]:
        """Past the hold point: the version to the rest of the stations."""
        item = await self.get(rollout_id)
        await self.tick()
        item = await self.get(rollout_id)
        if item["state"] != "hold":
            why = {"pilot": "the pilots are still being watched (every pilot applied, then %g s without an alarm)"
                            % item["watch_s"],
                   "halted": "it was held: %s; roll back or push a corrected version" % item["reason"]}.get(
                       item["state"], "it is %s" % item["state"])
            await self.audit(user=user, action="settings:release", detail="#%d: %s" % (rollout_id, why),
                             result="refused")
            raise SettingsPushError("not_at_hold_point", ["rollout #%d cannot be released: %s" % (rollout_id, why)])
        now = self.clock()
        item.update(state="released", released_by=user, released_ts=now, state_ts=now)
        await self.storage.save_rollout(item)
        rest = [sid for sid in item["stations"] if sid not in item["pilots"]]
        await self.audit(user=user, action="settings:release", detail="#%d version %d to %s" % (
            rollout_id, item["version"], ", ".join(rest)), result="released")
        if rest:
            await self.push_.assign(item["version"], rest, user)
        return item

    def reached(self, item: dict[str, Any]) -> list[str]:
        """The stations a rollout assigned its version to so far."""
        return list(item["stations"]) if item["released_ts"] is not None else list(item["pilots"])

    async def rollback(self, rollout_id: int, to_version: int, user: str) -> dict[str, Any]:
        """One action: `to_version` (earlier than the pushed one) to every station the push reached."""
        item = await self.get(rollout_id)
        target = await self.push_.version(to_version)
        if to_version >= item["version"]:
            raise SettingsPushError("not_earlier", ["version %d: a rollback goes to a version earlier than %d"
                                                    % (to_version, item["version"])])
        if item["state"] == "rolled_back":
            raise SettingsPushError("decided", ["rollout #%d was already rolled back" % rollout_id])
        now = self.clock()
        item.update(state="rolled_back", reason="rolled back to version %d by %s" % (to_version, user), state_ts=now)
        await self.storage.save_rollout(item)
        plan = {"version": to_version, "profile": target["profile"], "stations": self.reached(item), "pilots": [],
                "watch_s": 0.0}
        await self.audit(user=user, action="settings:rollback", detail="#%d version %d -> %d on %s" % (
            rollout_id, item["version"], to_version, ", ".join(plan["stations"])), result="rolled_back")
        return await self.start(plan, user, rollback_of=rollout_id)

    # --- watching the pilots ---------------------------------------------------------------------
    async def tick(self) -> None:
        """Move every rollout in "pilot" to "hold" or "halted" when its pilots say so."""
        for item in await self.storage.rollouts(["pilot"]):
            await self._watch(item)

    async def _watch(self, item: dict[str, Any]) -> None:
        now = self.clock()
        applied_at: list[float] = []
        trouble = ""
        for sid in item["pilots"]:
            a = await self.storage.assignment(sid)
            if a is None or a["version"] != item["version"] or a["assigned_ts"] < item["created_ts"]:
                trouble = trouble or "pilot %s was given another version" % sid
                continue
            if a["state"] == "rejected":
                trouble = trouble or "pilot %s rejected it: %s %s" % (sid, a["reason"], a["detail"])
            elif a["state"] == "applied":
                applied_at.append(a["state_ts"])
                for alarm in await self.storage.alarm_rows(sid, active_only=False):
                    since = alarm["since_ts"]
                    if since is not None and item["created_ts"] <= since <= a["state_ts"] + item["watch_s"]:
                        trouble = trouble or "pilot %s raised alarm %s: %s" % (sid, alarm["code"], alarm["text"])
        if trouble:
            state, reason = "halted", trouble
        elif len(applied_at) == len(item["pilots"]) and now >= max(applied_at) + item["watch_s"]:
            state, reason = "hold", "every pilot applied version %d and ran %g s without an alarm" % (
                item["version"], item["watch_s"])
        else:
            return
        item.update(state=state, reason=reason[:2000], state_ts=now)
        await self.storage.save_rollout(item)
        await self.audit(user=item["created_by"], action="settings:rollout", detail="#%d: %s" % (
            item["rollout_id"], reason), result=state)

    # --- views -------------------------------------------------------------------------------------
    async def progress(self, rollout_id: int) -> dict[str, Any]:
        """The rollout with each station's fate (see the module docstring)."""
        item = await self.get(rollout_id)
        reached = set(self.reached(item))
        rows = []
        for sid in item["stations"]:
            state = await self.push_.station_state(sid)
            row = {"station_id": sid, "pilot": sid in item["pilots"], "online": state["online"],
                   "reported_version": state["reported_version"], "running_version": state.get("running_version"),
                   "reason": "", "detail": ""}
            if sid not in reached:
                row["fate"] = "waiting"
            elif state.get("version") != item["version"] or state.get("assigned_ts", 0) < item["created_ts"]:
                row["fate"] = "superseded"
                row["detail"] = "version %s assigned later" % state.get("version")
            else:
                fate = state["state"]
                row["fate"] = "offline" if fate == "pending" and not state["online"] else fate
                row["reason"], row["detail"] = state["reason"], state["detail"]
            rows.append(row)
        item["progress"] = rows
        return item

    async def list(self) -> list[dict[str, Any]]:
        return [await self.progress(r["rollout_id"]) for r in await self.storage.rollouts(limit=30)]
