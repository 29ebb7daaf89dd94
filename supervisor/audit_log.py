"""The audit log of who did what: every dashboard action, remote command, user change, import
and report is written here with the wall-clock time; read newest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .storage.base import Storage

DETAIL_MAX = 2000  # characters of detail kept per row
RESULT_MAX = 200


class AuditLog:
    """Write and read the audit rows {ts, user, action, station_id, detail, result}."""

    def __init__(self, storage: Storage, wall_clock: Callable[[], float]) -> None:
        self.storage = storage
        self.clock = wall_clock

    async def record(self, user: str, action: str, station_id: str | None = None, detail: str = "",
                     result: str = "") -> None:
        """One row now; detail and result are cut to DETAIL_MAX / RESULT_MAX characters."""
        await self.storage.audit_insert(self.clock(), user, action, station_id, detail[:DETAIL_MAX],
                                        result[:RESULT_MAX])

    async def rows(self, limit: int = 200, station_id: str | None = None) -> list[dict[str, Any]]:
        """Newest first: {ts, user, action, station_id, detail, result}; 1 <= limit <= 10000."""
        return await self.storage.audit_rows(max(1, min(int(limit), 10000)), station_id)
