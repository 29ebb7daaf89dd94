"""Remote commands: publish, track each one's fate from the station's ack, audit everything.

A command is published once with QoS 1, never retained, with an id and an expiry (issued +
timeout). States (Rule: a command leaves "sent" exactly once):
    sent -> applied | rejected | expired     on the station's ack (result, reason, detail)
    sent -> timed_out                         when no ack came by the expiry
    (never sent) -> rejected, reason "not_sent"  when the broker could not take it
An ack for an unknown, foreign or already-finished command is counted and ignored.

Every command is signed with its station's key (supervisor/command_keys.py) before it is
stored or sent; a station without a usable key file gets nothing: the command is refused here
with reason "no_command_key" (audited), since the station would refuse it unsigned anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from heatkeeper.core import codec

from .command_keys import CommandKeyError, CommandKeys, sign
from .storage.base import Storage

log = logging.getLogger(__name__)

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]
Auditor = Callable[..., Awaitable[None]]

# kind -> (required numeric args, optional numeric args, required text args). The station's
# core does the range and mode checks and answers with a reason; this is only the shape.
COMMAND_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "set_room_setpoint": (("room_setpoint_c",), ("lease_s",), ()),
    "set_supply_setpoint": (("supply_setpoint_c",), ("lease_s",), ()),
    "set_dp_setpoint": (("dp_setpoint_kpa",), ("lease_s",), ()),
    "set_makeup_pressure": (("pressure_setpoint_kpa",), ("lease_s",), ()),
    "set_mode": ((), ("duration_s",), ("mode",)),  # duration_s: a remote summer or safe is a lease
    "ack_alarm": ((), (), ("code",)),
    "boost": (("boost_k", "duration_s"), (), ()),
    "set_valve_manual": (("valve_pct",), (), ()),
    "clear_lease": ((), (), ("what",)),
    "set_heat_cap": (("heat_cap_kw",), ("lease_s",), ()),  # the allocation's share of a short source
}
LEASED = ("set_room_setpoint", "set_supply_setpoint", "set_dp_setpoint", "set_makeup_pressure", "set_heat_cap")
FINAL_STATES = ("applied", "rejected", "timed_out", "expired")


class CommandError(ValueError):
    """A command refused before sending; `reason` is a short code."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__("%s: %s" % (reason, text))
        self.reason = reason
        self.text = text


# Kinds whose args are not flat numbers and texts: kind -> the check of their shape.
STRUCTURED_KINDS: dict[str, Callable[[dict[str, Any]], None]] = {}


def check_command(kind: str, args: dict[str, Any]) -> None:
    """Raise CommandError unless `kind` is known and `args` has the right shape."""
    if kind in STRUCTURED_KINDS and isinstance(args, dict):
        STRUCTURED_KINDS[kind](args)
        return
    spec = COMMAND_KINDS.get(kind)
    if spec is None:
        raise CommandError("unknown_kind", "kind=%r: must be one of %s" % (kind, ", ".join(COMMAND_KINDS)))
    if not isinstance(args, dict):
        raise CommandError("bad_args", "args must be an object")
    required, optional, texts = spec
    for name in required + optional:
        if name not in args and name in optional:
            continue
        value = args.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise CommandError("bad_args", "%s=%r: must be a number" % (name, value))
    for name in texts:
        value = args.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            raise CommandError("bad_args", "%s=%r: must be text of 1-64 characters" % (name, value))
    unknown = set(args) - set(required + optional + texts)
    if unknown:
        raise CommandError("bad_args", "unknown argument(s) %s for %s" % (", ".join(sorted(unknown)), kind))


class CommandTracker:
    """Sends commands and follows them to a final state."""

    def __init__(self, storage: Storage, publish: Publisher, audit: Auditor, timeout_s: float = 60.0,
                 wall_clock: Callable[[], float] = time.time, keys: CommandKeys | None = None) -> None:
        self.storage = storage
        self.keys = keys
        self.publish = publish
        self.audit = audit
        self.timeout_s = timeout_s
        self.clock = wall_clock
        self.pending: dict[str, dict[str, Any]] = {}
        self.round_trips_s: list[float] = []
        self.stray_acks = 0
        self._tasks: set[asyncio.Task[None]] = set()
        # called with each command once it reaches its final state (after it is stored)
        self.on_final: list[Callable[[dict[str, Any]], Awaitable[None]]] = []

    async def send(self, station_id: str, kind: str, args: dict[str, Any], user: str,
                   lease_s: float | None = None, timeout_s: float | None = None) -> str:
        """Publish a command; returns its id. Raises CommandError when it is malformed."""
        args = dict(args)
        if lease_s is not None:
            if kind not in LEASED:
                raise CommandError("bad_args", "lease_s applies only to %s" % ", ".join(LEASED))
            args["lease_s"] = lease_s
        check_command(kind, args)
        if self.keys is None:
            raise CommandError("no_command_key", "this supervisor has no command keys configured: commands cannot be signed")
        try:
            key = self.keys.key(station_id)
        except CommandKeyError as exc:
            raise CommandError("no_command_key", "%s (the supervisor creates missing keys when it starts; install "
                               "the key on the station too)" % exc) from None
        command_id = "c" + uuid.uuid4().hex[:20]
        issued = self.clock()
        expires = issued + (timeout_s or self.timeout_s)
        cmd = {"command_id": command_id, "station_id": station_id, "kind": kind, "args": args, "user": user,
               "issued_ts": issued, "expires_ts": expires, "state": "sent",
               "reason": "", "detail": "", "done_ts": None, "sent_mono": time.monotonic()}
        sig = sign(key, station_id, command_id, kind, args, user, expires)
        try:
            topic, payload = codec.encode_command(station_id, command_id, kind, args, user, issued, expires, sig=sig)
        except codec.CodecError as exc:
            raise CommandError(exc.reason, exc.text) from None
        await self.storage.insert_command(cmd)
        self.pending[command_id] = cmd
        try:
            await self.publish(topic, payload, 1, False)
        except Exception as exc:  # noqa: BLE001 - any transport failure: the command is recorded as not sent
            self.pending.pop(command_id, None)
            await self._finish(cmd, "rejected", "not_sent", "broker did not take the command: %s" % exc)
            await self.audit(user=user, action="command:" + kind, station_id=station_id,
                             detail="%s %s" % (command_id, args), result="not_sent")
            return command_id
        await self.audit(user=user, action="command:" + kind, station_id=station_id,
                         detail="%s %s" % (command_id, args), result="sent")
        return command_id

    def on_ack(self, station_id: str, body: dict[str, Any], now_ts: float) -> None:
        """Called by ingest for each ack (possibly twice for a resent one)."""
        cmd = self.pending.get(str(body.get("command_id")))
        if cmd is None or cmd["station_id"] != station_id:
            self.stray_acks += 1
            return
        del self.pending[cmd["command_id"]]
        self.round_trips_s.append(time.monotonic() - cmd["sent_mono"])
        if len(self.round_trips_s) > 100000:
            del self.round_trips_s[:50000]
        result = str(body["result"])
        task = asyncio.get_running_loop().create_task(
            self._acked(cmd, result, str(body.get("reason", "")), str(body.get("detail", ""))))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acked(self, cmd: dict[str, Any], result: str, reason: str, detail: str) -> None:
        try:
            await self._finish(cmd, result, reason, detail)
            await self.audit(user=cmd["user"], action="ack:" + cmd["kind"], station_id=cmd["station_id"],
                             detail="%s %s %s" % (cmd["command_id"], reason, detail), result=result)
        except Exception:  # noqa: BLE001 - task boundary: log, the command stays visible in memory
            log.exception("recording the ack of %s failed", cmd["command_id"])

    async def _finish(self, cmd: dict[str, Any], state: str, reason: str, detail: str) -> None:
        cmd.update(state=state, reason=reason, detail=detail, done_ts=self.clock())
        await self.storage.update_command(cmd["command_id"], state, reason, detail, cmd["done_ts"])
        for listener in self.on_final:
            await listener(cmd)

    async def sweep(self) -> int:
        """Time out commands past their expiry; returns how many."""
        now = self.clock()
        late = [c for c in self.pending.values() if c["expires_ts"] <= now]
        for cmd in late:
            self.pending.pop(cmd["command_id"], None)
            await self._finish(cmd, "timed_out", "no_ack", "no ack from the station within %.0f s"
                               % (cmd["expires_ts"] - cmd["issued_ts"]))
            await self.audit(user=cmd["user"], action="timeout:" + cmd["kind"], station_id=cmd["station_id"],
                             detail=cmd["command_id"], result="timed_out")
        return len(late)

    async def load_pending(self) -> None:
        """After a restart, resume tracking commands still "sent"."""
        for cmd in await self.storage.commands(None, 10000, state="sent"):
            cmd["sent_mono"] = time.monotonic()
            self.pending[cmd["command_id"]] = cmd

    async def run_sweeper(self, period_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - task boundary
                log.exception("command sweep failed")

    async def status(self, command_id: str) -> dict[str, Any] | None:
        cmd = self.pending.get(command_id)
        if cmd is not None:
            return {k: v for k, v in cmd.items() if k != "sent_mono"}
        return await self.storage.command(command_id)
