"""One command to many stations (a mode lease to a group, a city, a station class), confirmed twice.

1. `draft(kind, args, lease_s, targets, user)`: the command is checked (the same shape check
   as every command) and the stations resolved; nothing is sent. The draft is stored: it is
   exactly what will go out, and the page shows it (what, to whom, who is online) and asks again.
2. `confirm(batch_id, user)`: the same person confirms the draft they saw, within
   DRAFT_TTL_S; then each station is sent the command (signed with its own key and tracked to
   its ack by the CommandTracker; a station refused before sending, e.g. for want of a key,
   keeps the reason and the rest still go), or, with `group_command` in [tickets] require, an operation
   ticket waits for a second person (supervisor/tickets.py) and the commands go out on approval.
   A draft is confirmed once.

`progress(batch_id)`: each station's fate: waiting (not confirmed or approved yet), sent,
applied, rejected (with the station's reason), timed_out, expired, not sent (the broker or the
key refused it), and whether the station is online. Everything is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .commands import CommandError, check_command
from .tickets import GROUP_COMMAND

DRAFT_TTL_S = 600.0
MAX_STATIONS = 5000


class GroupCommandError(ValueError):
    """A refused draft or confirmation; `problems` lists every problem."""

    def __init__(self, reason: str, problems: list[str]) -> None:
        super().__init__("%s: %s" % (reason, "; ".join(problems)))
        self.reason = reason
        self.problems = problems


class GroupCommands:
    """Drafts, confirmations and the fate of each command (see the module docstring)."""

    def __init__(self, service: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.storage = service.storage
        self.tracker = service.commands
        self.audit = service.audit_log.record
        self.tickets = service.tickets
        self.clock = wall_clock
        self.tickets.executors[GROUP_COMMAND] = self._approved

    def resolve(self, stations: Sequence[str] = (), city: str = "", station_class: str = "") -> list[str]:
        """Station ids from a list, every station of a city and/or of a class."""
        known = self.service.stations_cfg
        out: list[str] = []
        problems = []
        for sid in stations:
            if sid not in known:
                problems.append("station %r: not configured" % (sid,))
            elif sid not in out:
                out.append(sid)
        for key, value in (("city", city), ("class", station_class)):
            if not value:
                continue
            members = [sid for sid, cfg in sorted(known.items()) if str(cfg.get(key, "")).lower() == value.lower()]
            if not members:
                problems.append("%s %r: no station" % (key, value))
            out.extend(sid for sid in members if sid not in out)
        if not problems and not out:
            problems.append("no station chosen: give stations, a city or a class")
        if len(out) > MAX_STATIONS:
            problems.append("%d stations: at most %d in one command" % (len(out), MAX_STATIONS))
        if problems:
            raise GroupCommandError("bad_target", problems)
        return out

    async def draft(self, kind: str, args: dict[str, Any], lease_s: float | None, stations: Sequence[str],
                    target: str, user: str) -> dict[str, Any]:
        """Store what would go out, unsent, for the person to see and confirm."""
        full = dict(args)
        if lease_s is not None:
            full["lease_s"] = lease_s
        try:
            check_command(kind, full)
        except CommandError as exc:
            raise GroupCommandError(exc.reason, [exc.text]) from None
        item = {"kind": kind, "args": dict(args), "lease_s": lease_s, "target": target[:300], "stations": list(stations),
                "commands": {}, "state": "draft", "created_by": user, "created_ts": self.clock(),
                "confirmed_by": None, "confirmed_ts": None, "ticket_id": None}
        bid = await self.storage.add_command_batch(item)
        await self.audit(user=user, action="group:draft", detail="#%d %s %s to %s (%d stations)" % (
            bid, kind, full, target, len(stations)), result="draft")
        return item

    async def get(self, batch_id: int) -> dict[str, Any]:
        item = await self.storage.command_batch(batch_id)
        if item is None:
            raise GroupCommandError("unknown_batch", ["no command batch #%r" % (batch_id,)])
        return item

    async def confirm(self, batch_id: int, user: str) -> dict[str, Any]:
        """The second confirmation: sends now, or asks for an operation ticket."""
        item = await self.get(batch_id)
        problems = []
        if item["state"] != "draft":
            problems.append("command batch #%d is %s: confirmed once" % (batch_id, item["state"]))
        elif item["created_by"] != user:
            problems.append("command batch #%d was drafted by %s: they confirm what they saw" % (
                batch_id, item["created_by"]))
        elif self.clock() - item["created_ts"] > DRAFT_TTL_S:
            problems.append("command batch #%d was drafted more than %g s ago: draft it again" % (batch_id, DRAFT_TTL_S))
        if problems:
            await self.audit(user=user, action="group:confirm", detail="; ".join(problems), result="refused")
            raise GroupCommandError("not_confirmable", problems)
        item.update(confirmed_by=user, confirmed_ts=self.clock())
        if self.tickets.required(GROUP_COMMAND):
            summary = "%s %s%s to %s (%d stations: %s)" % (
                item["kind"], item["args"], " lease %g s" % item["lease_s"] if item["lease_s"] is not None else "",
                item["target"], len(item["stations"]), ", ".join(item["stations"][:20]))
            ticket = await self.tickets.request(GROUP_COMMAND, {"batch_id": batch_id}, summary, user)
            item.update(state="awaiting_approval", ticket_id=ticket["ticket_id"])
            await self.storage.save_command_batch(item)
            return item
        return await self.send(item, user)

    async def _approved(self, payload: dict[str, Any], ticket: dict[str, Any]) -> str:
        item = await self.get(int(payload["batch_id"]))
        if item["state"] != "awaiting_approval":
            raise GroupCommandError("not_confirmable", ["command batch #%d is %s" % (item["batch_id"], item["state"])])
        item = await self.send(item, item["created_by"], approved_by=ticket["decided_by"] or "")
        sent = [c for c in item["commands"].values() if isinstance(c, str)]
        return "command batch #%d sent to %d of %d stations" % (item["batch_id"], len(sent), len(item["stations"]))

    async def send(self, item: dict[str, Any], user: str, approved_by: str = "") -> dict[str, Any]:
        item["state"] = "sent"
        await self.storage.save_command_batch(item)  # sent once, even if this pass is interrupted
        refused = []
        for sid in item["stations"]:
            try:
                cid = await self.tracker.send(sid, item["kind"], item["args"], user, item["lease_s"])
            except CommandError as exc:  # e.g. no command key for this station: the rest still go
                refused.append("%s: %s" % (sid, exc.text))
                item["commands"][sid] = {"refused": exc.reason, "detail": exc.text}
                continue
            item["commands"][sid] = cid
        await self.storage.save_command_batch(item)
        await self.audit(user=user, action="group:send", detail="#%d %s to %d stations%s%s" % (
            item["batch_id"], item["kind"], len(item["commands"]) - len(refused),
            "; approved by %s" % approved_by if approved_by else "",
            "; refused: %s" % "; ".join(refused) if refused else ""), result="sent")
        return item

    async def cancel(self, batch_id: int, user: str) -> dict[str, Any]:
        item = await self.get(batch_id)
        if item["state"] != "draft":
            raise GroupCommandError("not_confirmable", ["command batch #%d is %s" % (batch_id, item["state"])])
        item["state"] = "cancelled"
        await self.storage.save_command_batch(item)
        await self.audit(user=user, action="group:cancel", detail="#%d" % batch_id, result="cancelled")
        return item

    # --- views -------------------------------------------------------------------------------------
    def _online(self, sid: str) -> bool:
        st = self.service.ingest.state.get(sid)
        return bool(st) and self.service.fleet.online(st, self.clock())

    async def progress(self, batch_id: int) -> dict[str, Any]:
        item = await self.get(batch_id)
        rows = []
        for sid in item["stations"]:
            row: dict[str, Any] = {"station_id": sid, "online": self._online(sid), "fate": "waiting",
                                   "command_id": None, "reason": "", "detail": ""}
            cid = item["commands"].get(sid)
            if isinstance(cid, dict):  # refused before sending
                row.update(fate="not_sent", reason=cid.get("refused", ""), detail=cid.get("detail", ""))
            elif cid is not None:
                cmd = await self.tracker.status(cid) or {}
                row.update(command_id=cid, fate=cmd.get("state", "sent"), reason=cmd.get("reason", ""),
                           detail=cmd.get("detail", ""))
            elif item["state"] == "sent":
                row["fate"] = "not_sent"
            rows.append(row)
        item["progress"] = rows
        return item

    async def list(self) -> list[dict[str, Any]]:
        return await self.storage.command_batches()
