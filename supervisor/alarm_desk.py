"""Alarms as the dashboard handles them: the current and past alarm rows of the stations and of
the supervisor itself, their acknowledgement, and the quarantine of refused uplinks behind the
supervisor's `uplink_quarantined` alarms.

A station's alarm is acknowledged by an `ack_alarm` command to the station first and recorded
only once the broker took the command (else NotConnected: it stays unacknowledged on the
dashboard, as it is on the station). The supervisor's own alarms (its alarm model:
fleet_alarms.py, quarantine.py) are acknowledged on the supervisor alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .audit_log import AuditLog
from .broker_link import NotConnected
from .fleet_alarms import SITE_ID, is_supervisor_alarm
from .ingest import Ingest
from .remote_commands import RemoteCommands
from .service_errors import known_station
from .storage.base import Storage


class AlarmDesk:
    """Read, acknowledge and trace alarms; read the quarantine."""

    def __init__(self, storage: Storage, stations_cfg: dict[str, dict[str, Any]], ingest: Ingest,
                 remote: RemoteCommands, audit: AuditLog, wall_clock: Callable[[], float]) -> None:
        self.storage = storage
        self.stations_cfg = stations_cfg
        self.ingest = ingest
        self.remote = remote
        self.audit = audit
        self.clock = wall_clock

    async def alarms(self, station_id: str | None = None, active_only: bool = True) -> list[dict[str, Any]]:
        """Current alarm state per (station, code); with active_only False, cleared ones too."""
        await self.ingest.flush()
        return await self.storage.alarm_rows(station_id, active_only)

    async def alarm_history(self, station_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        return await self.storage.alarm_history(station_id, limit)

    async def quarantine(self, station_id: str | None = None, limit: int = 200) -> dict[str, Any]:
        """Uplinks kept in the quarantine (newest first, payloads cut short) and the count per reason."""
        if station_id is not None:
            known_station(self.stations_cfg, station_id)
        await self.ingest.flush()
        return {"rows": await self.storage.quarantine_rows(station_id, max(1, min(int(limit), 1000))),
                "counts": await self.storage.quarantine_counts()}

    async def ack_alarm(self, station_id: str, code: str, user: str) -> dict[str, Any]:
        """Send ack_alarm to the station, then record the acknowledgement. When the broker did
        not take the command nothing is recorded (NotConnected): the alarm stays unacknowledged
        on the dashboard, as it is on the station. The supervisor's own alarms (quarantine,
        sequence regression, the fleet rules) are acknowledged here alone."""
        if station_id != SITE_ID:  # the site's own alarms have no station
            known_station(self.stations_cfg, station_id)
        if is_supervisor_alarm(code):
            # the supervisor's own alarm: nothing to tell the station
            recorded = await self.storage.mark_alarm_acked(station_id, code, user, self.clock())
            await self.audit.record(user=user, action="ack_alarm", station_id=station_id, detail=code,
                                    result="recorded" if recorded else "not_active")
            return {"command_id": None, "recorded": recorded, "state": "recorded"}
        command_id = await self.remote.send_command(station_id, "ack_alarm", {"code": code}, user)
        status = await self.remote.command_status(command_id)
        if status["state"] == "rejected" and status["reason"] == "not_sent":
            raise NotConnected("the acknowledgement of %s at %s was not sent: %s" % (code, station_id, status["detail"]))
        recorded = await self.storage.mark_alarm_acked(station_id, code, user, self.clock())
        return {"command_id": command_id, "recorded": recorded, "state": status["state"]}
