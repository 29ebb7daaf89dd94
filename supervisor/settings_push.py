"""Settings profiles pushed to stations: versions, assignments, each station's fate, convergence.

A profile is a name and a series of versions; each version is a set of partial core settings
sections (curve, limiters, schedule, room feedback, pumps, make-up, alarm thresholds, ...).
Saving makes a new version (numbers run in one sequence over every profile, so the version a
station reports in telemetry, `settings_version`, names one profile's version) with its diff
against the profile's previous version. Nothing is ever changed in place.

Checked here before anything is stored or sent: each pushed section against its core table
and its module's rules (core.settings.check_sections: the same validators the station runs),
every problem listed. The rules across sections depend on the station's own settings file,
which the supervisor does not hold: the station checks the whole (TOML + push) and answers
with every problem, recorded as the station's fate.

Assigning a version to stations (a list, or every station of a city) records for each the
version it should run, state "pending"; a station online is sent the signed `apply_settings`
command at once (CommandTracker: signed with the station's key, tracked to its ack). Fate:
    pending -> sent -> applied (running_version) | rejected (the station's reasons)
    sent -> pending      no ack in time, expired, or the broker did not take it
    applied -> pending   the station's telemetry reports another version (it fell back)
`converge()` (every `period_s` by `run`) sends to each pending station that is online: a
station offline for days gets its version when it comes back. Rolling back is assigning an
earlier version. Every save, assignment, send and fate is in the audit log. Staged pushes
(pilots, hold point, release, rollback of a push) are supervisor/rollout.py's, on top of this.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from heatkeeper.core import settings as core_settings

from .commands import STRUCTURED_KINDS, CommandError

log = logging.getLogger(__name__)

KIND = "apply_settings"
MAX_SECTIONS_BYTES = 48000  # the command, signed, must fit one message (codec.MAX_PAYLOAD_BYTES)
PROFILE_CHARS = 64
# a station's telemetry this much newer than the fate before a different version counts as drift
DRIFT_GRACE_S = 10.0


class SettingsPushError(ValueError):
    """A refused save or assignment; `problems` lists every problem."""

    def __init__(self, reason: str, problems: list[str]) -> None:
        super().__init__("%s: %s" % (reason, "; ".join(problems)))
        self.reason = reason
        self.problems = problems


def check_args(args: dict[str, Any]) -> None:
    """The shape of an apply_settings command's args (CommandTracker runs it before sending)."""
    version = args.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise CommandError("bad_args", "version=%r: must be a whole number >= 0" % (version,))
    if not isinstance(args.get("sections"), dict):
        raise CommandError("bad_args", "sections: must be an object of settings sections")
    unknown = set(args) - {"version", "sections"}
    if unknown:
        raise CommandError("bad_args", "unknown argument(s) %s for %s" % (", ".join(sorted(unknown)), KIND))


STRUCTURED_KINDS[KIND] = check_args


def check_sections(sections: Any) -> list[str]:
    """Every problem of a profile's sections the supervisor can see (see the module docstring)."""
    if not isinstance(sections, dict) or not sections:
        return ["sections: must be a non-empty object of settings sections, e.g. {\"curve\": {\"shift_k\": 2}}"]
    problems = core_settings.check_sections(sections)
    if not problems and len(json.dumps(sections)) > MAX_SECTIONS_BYTES:
        problems.append("sections: %d bytes of JSON, at most %d" % (len(json.dumps(sections)), MAX_SECTIONS_BYTES))
    return problems


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"key": "section.key", "old": value or None, "new": value or None}] sorted by key; a
    key only in `old` is one the new version no longer sets (the station's own value returns)."""
    rows = []
    old = old or {}
    keys = {(s, k) for s in old for k in old[s]} | {(s, k) for s in new for k in new[s]}
    for sec, key in sorted(keys):
        a = old.get(sec, {}).get(key)
        b = new.get(sec, {}).get(key)
        if a != b or (sec in old and key in old[sec]) != (sec in new and key in new[sec]):
            rows.append({"key": "%s.%s" % (sec, key), "old": a, "new": b})
    return rows


def _plain(value: Any) -> Any:
    """A settings value as JSON has it (core keeps some as arrays)."""
    if isinstance(value, (str, bytes, dict)) or value is None:
        return value
    if hasattr(value, "__iter__"):
        return [_plain(v) for v in value]
    return value


class SettingsPush:
    """Profiles, assignments and their delivery for one supervisor (see the module docstring)."""

    def __init__(self, service: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.storage = service.storage
        self.tracker = service.commands
        self.audit = service.audit_log.record
        self.clock = wall_clock
        self._lock = asyncio.Lock()
        self.tracker.on_final.append(self._command_final)
        # called after each convergence pass (supervisor/rollout.py watches its pilots there)
        self.on_pass: list[Callable[[], Awaitable[None]]] = []

    # --- profiles and versions -----------------------------------------------------------
    async def save_version(self, profile: Any, sections: Any, user: str, note: Any = "") -> dict[str, Any]:
        """Store a new version of `profile` (SettingsPushError listing every problem)."""
        problems = []
        if not isinstance(profile, str) or not 0 < len(profile.strip()) <= PROFILE_CHARS:
            problems.append("profile=%r: must be a name of 1-%d characters" % (profile, PROFILE_CHARS))
        if not isinstance(note, str) or len(note) > 500:
            problems.append("note: must be text of at most 500 characters")
        problems.extend(check_sections(sections))
        if problems:
            await self.audit(user=user, action="settings:save", detail="%s: %s" % (profile, "; ".join(problems)),
                             result="refused")
            raise SettingsPushError("invalid_settings", problems)
        profile = profile.strip()
        version = await self.storage.add_settings_version(profile, sections, note, user, self.clock())
        saved = await self.version(version)
        await self.audit(user=user, action="settings:save", detail="%s version %d: %s" % (
            profile, version, "; ".join("%s %r -> %r" % (d["key"], d["old"], d["new"]) for d in saved["diff"])),
            result="ok")
        return saved

    async def version(self, version: int) -> dict[str, Any]:
        """One version with `previous` (the profile's version before it, or None) and `diff` against it."""
        item = await self.storage.settings_version(version)
        if item is None:
            raise SettingsPushError("unknown_version", ["no settings version %r" % (version,)])
        prev = await self.storage.previous_settings_version(version, item["profile"])
        item["previous"] = prev["version"] if prev else None
        item["diff"] = diff(prev["sections"] if prev else None, item["sections"])
        return item

    async def profiles(self) -> list[dict[str, Any]]:
        """[{"profile", "versions": [version dicts, newest first]}] by name."""
        out: dict[str, list[dict[str, Any]]] = {}
        for v in await self.storage.settings_versions():
            out.setdefault(v["profile"], []).append(v)
        return [{"profile": name, "versions": out[name]} for name in sorted(out)]

    # --- assignment and delivery ---------------------------------------------------------
    def resolve(self, stations: Sequence[str] | None = None, city: str | None = None) -> list[str]:
        """Station ids from a list and/or every station of a city (SettingsPushError for unknown ones)."""
        known = self.service.stations_cfg
        out: list[str] = []
        problems = []
        for sid in stations or ():
            if sid not in known:
                problems.append("station %r: not configured" % (sid,))
            elif sid not in out:
                out.append(sid)
        if city:
            members = [sid for sid, cfg in sorted(known.items()) if cfg.get("city") == city]
            if not members:
                problems.append("city %r: no station" % (city,))
            out.extend(sid for sid in members if sid not in out)
        if not problems and not out:
            problems.append("no station chosen: give stations or a city")
        if problems:
            raise SettingsPushError("bad_target", problems)
        return out

    async def assign(self, version: int, station_ids: Sequence[str], user: str) -> list[dict[str, Any]]:
        """Make `version` the one each station should run (rolling back is assigning an earlier
        one); sent at once to stations online. Returns their states."""
        item = await self.version(version)
        now = self.clock()
        for sid in station_ids:
            prev = await self.storage.assignment(sid)  # what the station last acknowledged running stays known
            await self.storage.save_assignment({"station_id": sid, "version": version, "assigned_by": user,
                                                "assigned_ts": now, "state": "pending", "command_id": None,
                                                "reason": "", "detail": "", "state_ts": now,
                                                "running_version": prev["running_version"] if prev else None})
            await self.audit(user=user, action="settings:assign", station_id=sid,
                             detail="%s version %d" % (item["profile"], version), result="pending")
        for sid in station_ids:
            await self.deliver(sid)
        return [await self.station_state(sid) for sid in station_ids]

    def _online(self, sid: str) -> bool:
        st = self.service.ingest.state.get(sid)
        return bool(st) and self.service.link.connected() and self.service.fleet.online(st, self.clock())

    async def deliver(self, sid: str) -> bool:
        """Send a pending station its version if it is online; True when sent."""
        async with self._lock:
            a = await self.storage.assignment(sid)
            if a is None or a["state"] != "pending" or not self._online(sid):
                return False
            item = await self.storage.settings_version(a["version"])
            if item is None:
                return False
            try:
                cid = await self.tracker.send(sid, KIND, {"version": a["version"], "sections": item["sections"]},
                                              a["assigned_by"])
            except CommandError as exc:
                await self._set(a, "rejected", exc.reason, exc.text)
                await self.audit(user=a["assigned_by"], action="settings:send", station_id=sid,
                                 detail="version %d: %s" % (a["version"], exc.text), result="refused:" + exc.reason)
                return False
            a["command_id"] = cid
            await self._set(a, "sent", "", "")
            cmd = await self.tracker.status(cid)
        if cmd is not None and cmd.get("state") != "sent":
            await self._command_final(cmd)  # finished before it was recorded (the broker refused it)
        return True

    async def _set(self, a: dict[str, Any], state: str, reason: str, detail: str,
                   running: int | None = None) -> None:
        a.update(state=state, reason=reason, detail=detail[:2000], state_ts=self.clock())
        if running is not None:
            a["running_version"] = running
        await self.storage.save_assignment(a)

    async def _command_final(self, cmd: dict[str, Any]) -> None:
        """The fate of a sent apply_settings (CommandTracker.on_final)."""
        if cmd.get("kind") != KIND:
            return
        a = await self.storage.assignment_by_command(cmd["command_id"])
        if a is None or a["state"] != "sent":
            return
        state, reason, detail = cmd["state"], cmd.get("reason", ""), cmd.get("detail", "")
        if state == "applied":
            await self._set(a, "applied", reason, detail, running=a["version"])
        elif state == "rejected" and reason not in ("not_sent",):
            await self._set(a, "rejected", reason, detail)
        else:  # timed out, expired, not sent: again when the station is online
            await self._set(a, "pending", reason, detail)
        await self.audit(user=a["assigned_by"], action="settings:fate", station_id=a["station_id"],
                         detail="version %d: %s %s" % (a["version"], reason, detail), result=a["state"])

    async def converge(self) -> int:
        """One pass: drift back to pending, then send every pending station that is online."""
        sent = 0
        for a in await self.storage.assignments():
            if a["state"] == "applied":
                await self._check_drift(a)
            if a["state"] == "pending" and await self.deliver(a["station_id"]):
                sent += 1
        for listener in self.on_pass:
            await listener()
        return sent

    async def _check_drift(self, a: dict[str, Any]) -> None:
        st = self.service.ingest.state.get(a["station_id"])
        if not st:
            return
        reported = st["values"].get("settings_version")
        received = st.get("values_received_ts")
        if reported is None or received is None or received < a["state_ts"] + DRIFT_GRACE_S:
            return
        if int(reported) != a["version"]:
            await self._set(a, "pending", "drift", "the station reports settings version %d" % int(reported))
            await self.audit(user=a["assigned_by"], action="settings:fate", station_id=a["station_id"],
                             detail="version %d: station reports %d" % (a["version"], int(reported)), result="pending")

    async def run(self, period_s: float = 5.0) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.converge()
            except Exception:  # noqa: BLE001 - task boundary: retried next period
                log.exception("settings convergence pass failed")

    # --- views ---------------------------------------------------------------------------
    async def station_state(self, sid: str) -> dict[str, Any]:
        """What a station should run, its fate, and what its telemetry says it runs."""
        a = await self.storage.assignment(sid)
        st = self.service.ingest.state.get(sid)
        reported = st["values"].get("settings_version") if st else None
        out: dict[str, Any] = {"station_id": sid, "reported_version": reported, "online": self._online(sid)}
        if a is not None:
            out.update(a)
        return out

    async def local_settings(self, sid: str) -> dict[str, Any]:
        """The station's settings file against the pushed version, key by key: {"reported_ts",
        "reason", "sha256" (None when the station never reported its file's settings), "version"
        (the pushed version compared: the one it acknowledged running, else the one assigned),
        "rows": [{"key", "local" (the file's value, or the default where the file sets none),
        "pushed" (None: not pushed, the file's value runs), "in_file", "differs"}]} for every key
        the file sets or the version pushes."""
        out: dict[str, Any] = {"reported_ts": None, "reason": "", "sha256": None, "version": None, "rows": []}
        event = await self.storage.latest_event(sid, "local_settings")
        a = await self.storage.assignment(sid)
        version = (a["running_version"] if a["running_version"] is not None else a["version"]) if a else None
        item = await self.storage.settings_version(version) if version else None
        pushed: dict[str, Any] = item["sections"] if item else {}
        out["version"] = version if item else None
        local: dict[str, Any] = {}
        full: dict[str, Any] = {}
        if event is not None:
            out["reported_ts"], body = event
            out["reason"], out["sha256"] = str(body.get("reason", "")), body.get("sha256")
            local = body.get("sections") if isinstance(body.get("sections"), dict) else {}
            try:
                full = core_settings.load(local)
            except core_settings.SettingsError:
                full = {}
        keys = {(s, k) for s in local if isinstance(local[s], dict) for k in local[s]}
        keys |= {(s, k) for s in pushed for k in pushed[s]}
        for sec, key in sorted(keys):
            in_file = isinstance(local.get(sec), dict) and key in local[sec]
            value = local[sec][key] if in_file else _plain(full.get(sec, {}).get(key))
            new = pushed.get(sec, {}).get(key)
            out["rows"].append({"key": "%s.%s" % (sec, key), "local": value if event else None, "pushed": new,
                                "in_file": in_file, "differs": bool(event) and key in pushed.get(sec, {})
                                and value != new})
        return out

    async def station_states(self) -> list[dict[str, Any]]:
        return [await self.station_state(sid) for sid in sorted(self.service.stations_cfg)]
