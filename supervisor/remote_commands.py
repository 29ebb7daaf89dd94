"""Remote commands as the dashboard gives them: one command to one configured station, checked
and attributed; a malformed one is refused with its reason and written to the audit log. The
command tracker (commands.py) signs, publishes and follows each command to its ack or expiry."""

from __future__ import annotations

from typing import Any

from .audit_log import AuditLog
from .commands import CommandError, CommandTracker
from .service_errors import ServiceError, known_station
from .storage.base import Storage


class RemoteCommands:
    """Send a command, look one up, list the recent ones."""

    def __init__(self, storage: Storage, stations_cfg: dict[str, dict[str, Any]], tracker: CommandTracker,
                 audit: AuditLog) -> None:
        self.storage = storage
        self.stations_cfg = stations_cfg
        self.tracker = tracker
        self.audit = audit

    async def send_command(self, station_id: str, kind: str, args: dict[str, Any], user: str,
                           lease_s: float | None = None) -> str:
        """Publish a command (QoS 1, not retained, with expiry); returns its id. Malformed
        commands raise ServiceError and are audited as refused."""
        known_station(self.stations_cfg, station_id)
        try:
            return await self.tracker.send(station_id, kind, args, user, lease_s)
        except CommandError as exc:
            await self.audit.record(user=user, action="command:" + str(kind), station_id=station_id,
                                    detail="%s %s" % (args, exc.text), result="refused:" + exc.reason)
            raise ServiceError(exc.reason, exc.text) from exc

    async def command_status(self, command_id: str) -> dict[str, Any]:
        """The command's state, reason and detail; ServiceError("unknown_command") when there is none."""
        cmd = await self.tracker.status(command_id)
        if cmd is None:
            raise ServiceError("unknown_command", "no command %r" % command_id)
        return cmd

    async def recent_commands(self, station_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return await self.storage.commands(station_id, limit)
