"""Operation tickets (操作票): a risky remote operation goes out only once a second person approves.

Which operations need a ticket is set in the supervisor config, checked when it loads:

    [tickets]  require = ["set_mode", "set_valve_manual", "group_command", "settings_push"]

An operation is a station command kind (`set_mode`: mode changes, `set_valve_manual`: the
manual valve, any other kind of supervisor/commands.py but ack_alarm), `group_command` (a command to many
stations, supervisor/group_commands.py) or `settings_push` (a settings version pushed to
stations, supervisor/rollout.py). With no [tickets] nothing needs one.

A ticket holds what would go out (the payload) and a summary in words. States:
    awaiting -> done (approved, went out; result says what) | failed (approved, refused on the way out)
    awaiting -> rejected (by another person) | cancelled (by the requester)
The requester can never approve their own ticket; a ticket is decided once. The operation's
module registers how it goes out (`executors[operation]`), and runs as the requester approved by
the approver. Every request, decision and result is in the audit log.

Releasing a rollout that a ticket let out and rolling back go out without a ticket: the
release continues an approved push, a rollback restores a version the stations already ran.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .commands import COMMAND_KINDS

GROUP_COMMAND = "group_command"
SETTINGS_PUSH = "settings_push"
# acknowledging an alarm only records that someone saw it: never a ticket
OPERATIONS = (*(k for k in COMMAND_KINDS if k != "ack_alarm"), GROUP_COMMAND, SETTINGS_PUSH)
DEFAULTS: dict[str, Any] = {"require": []}
STATES = ("awaiting", "done", "failed", "rejected", "cancelled")

Executor = Callable[[dict[str, Any], dict[str, Any]], Awaitable[str]]


def validate_config(values: Any) -> tuple[dict[str, Any], list[str]]:
    """[tickets] -> (clean section, problems)."""
    problems: list[str] = []
    clean: dict[str, Any] = {"require": []}
    for key in values:
        if key not in DEFAULTS:
            problems.append("tickets.%s: unknown key; known: %s" % (key, ", ".join(DEFAULTS)))
    require = values.get("require", [])
    if not isinstance(require, list):
        problems.append("tickets.require=%r: must be a list of operations (%s)" % (require, ", ".join(OPERATIONS)))
        return clean, problems
    for op in require:
        if op not in OPERATIONS:
            problems.append("tickets.require: %r is not an operation; known: %s" % (op, ", ".join(OPERATIONS)))
        elif op not in clean["require"]:
            clean["require"].append(op)
    return clean, problems


class TicketError(ValueError):
    """A refused request or decision; `reason` is a short code."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__("%s: %s" % (reason, text))
        self.reason = reason
        self.text = text


class Tickets:
    """Requests, decisions and the execution of approved operations (see the module docstring)."""

    def __init__(self, service: Any, wall_clock: Callable[[], float] = time.time) -> None:
        self.storage = service.storage
        self.audit = service.audit_log.record
        self.require = set(service.config.get("tickets", DEFAULTS)["require"])
        self.clock = wall_clock
        self.executors: dict[str, Executor] = {kind: self._send_command for kind in OPERATIONS if kind in COMMAND_KINDS}
        self._send = service.remote.send_command
        self._status = service.remote.command_status
        self._lock = asyncio.Lock()

    async def _send_command(self, payload: dict[str, Any], ticket: dict[str, Any]) -> str:
        """A single station command approved: sent as the requester (the audit names the approver)."""
        cid = await self._send(payload["station_id"], payload["kind"], payload["args"], ticket["requested_by"],
                               payload.get("lease_s"))
        status = await self._status(cid)
        if status["state"] == "rejected" and status["reason"] == "not_sent":
            raise ValueError("command %s to %s not sent: %s" % (cid, payload["station_id"], status["detail"]))
        return "command %s sent to %s" % (cid, payload["station_id"])

    def required(self, operation: str) -> bool:
        return operation in self.require

    async def request(self, operation: str, payload: dict[str, Any], summary: str, user: str) -> dict[str, Any]:
        """Record a ticket awaiting a second person's approval."""
        if operation not in OPERATIONS:
            raise TicketError("unknown_operation", "operation=%r: must be one of %s" % (operation, ", ".join(OPERATIONS)))
        item = {"operation": operation, "summary": summary[:500], "payload": payload, "state": "awaiting",
                "requested_by": user, "requested_ts": self.clock(), "decided_by": None, "decided_ts": None,
                "result": ""}
        tid = await self.storage.add_ticket(item)
        await self.audit(user=user, action="ticket:request", station_id=payload.get("station_id"),
                         detail="#%d %s: %s" % (tid, operation, item["summary"]), result="awaiting")
        return item

    async def get(self, ticket_id: int) -> dict[str, Any]:
        item = await self.storage.ticket(ticket_id)
        if item is None:
            raise TicketError("unknown_ticket", "no ticket #%r" % (ticket_id,))
        return item

    async def _open(self, ticket_id: int) -> dict[str, Any]:
        item = await self.get(ticket_id)
        if item["state"] != "awaiting":
            raise TicketError("decided", "ticket #%d is %s (by %s): decided once" % (
                ticket_id, item["state"], item["decided_by"] or item["requested_by"]))
        return item

    async def _decide(self, item: dict[str, Any], state: str, user: str, result: str) -> dict[str, Any]:
        item.update(state=state, decided_by=user, decided_ts=self.clock(), result=result[:2000])
        await self.storage.save_ticket(item)
        await self.audit(user=user, action="ticket:" + state, station_id=item["payload"].get("station_id"),
                         detail="#%d %s: %s%s" % (item["ticket_id"], item["operation"], item["summary"],
                                                  (" -> " + result) if result else ""), result=state)
        return item

    async def approve(self, ticket_id: int, user: str) -> dict[str, Any]:
        """The second person's approval: the operation goes out now (as the requester, approved by `user`)."""
        async with self._lock:
            item = await self._open(ticket_id)
            if user == item["requested_by"]:
                await self.audit(user=user, action="ticket:approve", detail="#%d: own ticket" % ticket_id,
                                 result="refused:own_ticket")
                raise TicketError("own_ticket", "ticket #%d was requested by %s: another person must approve it"
                                  % (ticket_id, user))
            executor = self.executors.get(item["operation"])
            if executor is None:
                return await self._decide(item, "failed", user, "no way to send %s" % item["operation"])
            try:
                result = await executor(item["payload"], item)
            except (ValueError, LookupError) as exc:  # the operation refused on the way out (e.g. no key)
                return await self._decide(item, "failed", user, str(exc))
            return await self._decide(item, "done", user, result)

    async def reject(self, ticket_id: int, user: str, note: str = "") -> dict[str, Any]:
        """Refused by another person, or withdrawn by the requester (state "cancelled")."""
        async with self._lock:
            item = await self._open(ticket_id)
            state = "cancelled" if user == item["requested_by"] else "rejected"
            return await self._decide(item, state, user, note)

    async def list(self, state: str | None = None) -> list[dict[str, Any]]:
        return await self.storage.tickets(state)
