"""Storage of staged settings rollouts, commands to many stations and operation tickets (mixed
into both backends).

- `settings_rollouts`: one row per push of a settings version to a set of stations: the
  version, its profile, the stations and the pilots among them (JSON lists), the watch time,
  its state ("pilot", "hold", "halted", "released", "rolled_back") with the reason, who pushed
  it and when, who released it and when, and the rollout it rolls back (or NULL).
- `command_batches`: one row per command to many stations: kind, args (JSON), lease, the target
  as the person chose it (text), the stations (JSON list) and the command sent to each (JSON
  {station: command id}), state ("draft": shown, not yet confirmed; "awaiting_approval": an
  operation ticket waits; "sent"; "cancelled"), who drafted and who confirmed it, and when.
- `operation_tickets`: one row per risky operation that needs a second person (操作票): the
  operation, a summary in words, the payload (JSON: what goes out on approval), its state
  ("awaiting", "done", "failed", "rejected", "cancelled"), who asked and when, who decided and
  when, and the result in words.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

ROLLOUT_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS settings_rollouts (
        rollout_id {bigint} PRIMARY KEY, version {bigint} NOT NULL, profile {text} NOT NULL, stations {text} NOT NULL,
        pilots {text} NOT NULL, watch_s {real} NOT NULL, state {text} NOT NULL, reason {text} NOT NULL DEFAULT '',
        created_by {text} NOT NULL, created_ts {real} NOT NULL, state_ts {real} NOT NULL, released_by {text},
        released_ts {real}, rollback_of {bigint})""",
    """CREATE TABLE IF NOT EXISTS command_batches (
        batch_id {bigint} PRIMARY KEY, kind {text} NOT NULL, args {text} NOT NULL, lease_s {real},
        target {text} NOT NULL, stations {text} NOT NULL, commands {text} NOT NULL, state {text} NOT NULL,
        created_by {text} NOT NULL, created_ts {real} NOT NULL, confirmed_by {text}, confirmed_ts {real},
        ticket_id {bigint})""",
    """CREATE TABLE IF NOT EXISTS operation_tickets (
        ticket_id {bigint} PRIMARY KEY, operation {text} NOT NULL, summary {text} NOT NULL, payload {text} NOT NULL,
        state {text} NOT NULL, requested_by {text} NOT NULL, requested_ts {real} NOT NULL, decided_by {text},
        decided_ts {real}, result {text} NOT NULL DEFAULT '')""",
]

ROLLOUT_COLS = ("rollout_id", "version", "profile", "stations", "pilots", "watch_s", "state", "reason", "created_by",
                "created_ts", "state_ts", "released_by", "released_ts", "rollback_of")
BATCH_COLS = ("batch_id", "kind", "args", "lease_s", "target", "stations", "commands", "state", "created_by",
              "created_ts", "confirmed_by", "confirmed_ts", "ticket_id")
TICKET_COLS = ("ticket_id", "operation", "summary", "payload", "state", "requested_by", "requested_ts", "decided_by",
               "decided_ts", "result")
_JSON = {"stations", "pilots", "args", "commands", "payload"}
_INTS = {"rollout_id", "version", "rollback_of", "batch_id", "ticket_id"}


def _row(cols: Sequence[str], r: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(cols, r, strict=True))
    for k in cols:
        if k in _JSON:
            item[k] = json.loads(item[k])
        elif k in _INTS and item[k] is not None:
            item[k] = int(item[k])
    return item


def _params(cols: Sequence[str], item: dict[str, Any]) -> list[Any]:
    return [json.dumps(item[k], sort_keys=True) if k in _JSON else item[k] for k in cols]


class RolloutStorage:
    """The rollout, group command and ticket queries; needs the backend's `execute` and `fetch`."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def _next_id(self, table: str, col: str) -> int:
        rows = await self.fetch("SELECT COALESCE(MAX(%s), 0) FROM %s" % (col, table))
        return int(rows[0][0]) + 1

    async def _upsert(self, table: str, cols: Sequence[str], item: dict[str, Any]) -> None:
        marks = ", ".join("?" for _ in cols)
        updates = ", ".join("%s = excluded.%s" % (k, k) for k in cols[1:])
        await self.execute("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s"
                           % (table, ", ".join(cols), marks, cols[0], updates), _params(cols, item))

    async def _rows(self, table: str, cols: Sequence[str], where: str = "", params: Sequence[Any] = (),
                    limit: int = 200) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM %s %s ORDER BY %s DESC LIMIT %d"
                                % (", ".join(cols), table, where, cols[0], int(limit)), params)
        return [_row(cols, r) for r in rows]

    # --- rollouts ----------------------------------------------------------------------------
    async def add_rollout(self, item: dict[str, Any]) -> int:
        """Store a new rollout (its `rollout_id` is filled in and returned)."""
        item["rollout_id"] = await self._next_id("settings_rollouts", "rollout_id")
        await self._upsert("settings_rollouts", ROLLOUT_COLS, item)
        return int(item["rollout_id"])

    async def save_rollout(self, item: dict[str, Any]) -> None:
        await self._upsert("settings_rollouts", ROLLOUT_COLS, item)

    async def rollout(self, rollout_id: int) -> dict[str, Any] | None:
        rows = await self._rows("settings_rollouts", ROLLOUT_COLS, "WHERE rollout_id = ?", (rollout_id,), 1)
        return rows[0] if rows else None

    async def rollouts(self, states: Sequence[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Rollouts, newest first (in one of `states`, or all)."""
        if states:
            return await self._rows("settings_rollouts", ROLLOUT_COLS,
                                    "WHERE state IN (%s)" % ", ".join("?" for _ in states), list(states), limit)
        return await self._rows("settings_rollouts", ROLLOUT_COLS, limit=limit)

    async def latest_event(self, station_id: str, kind: str) -> tuple[float, dict[str, Any]] | None:
        """(ts, body) of the station's newest stored event of `kind` (e.g. "local_settings"), or None."""
        rows = await self.fetch("SELECT ts, payload FROM uplinks WHERE station_id = ? AND kind = 'event' AND "
                                "payload LIKE ? ORDER BY ts DESC LIMIT 20", (station_id, "%" + kind + "%"))
        for ts, payload in rows:
            body = json.loads(payload).get("body")
            if isinstance(body, dict) and body.get("kind") == kind:
                return float(ts), body
        return None

    # --- command batches ---------------------------------------------------------------------
    async def add_command_batch(self, item: dict[str, Any]) -> int:
        item["batch_id"] = await self._next_id("command_batches", "batch_id")
        await self._upsert("command_batches", BATCH_COLS, item)
        return int(item["batch_id"])

    async def save_command_batch(self, item: dict[str, Any]) -> None:
        await self._upsert("command_batches", BATCH_COLS, item)

    async def command_batch(self, batch_id: int) -> dict[str, Any] | None:
        rows = await self._rows("command_batches", BATCH_COLS, "WHERE batch_id = ?", (batch_id,), 1)
        return rows[0] if rows else None

    async def command_batches(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self._rows("command_batches", BATCH_COLS, limit=limit)

    # --- operation tickets -------------------------------------------------------------------
    async def add_ticket(self, item: dict[str, Any]) -> int:
        item["ticket_id"] = await self._next_id("operation_tickets", "ticket_id")
        await self._upsert("operation_tickets", TICKET_COLS, item)
        return int(item["ticket_id"])

    async def save_ticket(self, item: dict[str, Any]) -> None:
        await self._upsert("operation_tickets", TICKET_COLS, item)

    async def ticket(self, ticket_id: int) -> dict[str, Any] | None:
        rows = await self._rows("operation_tickets", TICKET_COLS, "WHERE ticket_id = ?", (ticket_id,), 1)
        return rows[0] if rows else None

    async def tickets(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if state is not None:
            return await self._rows("operation_tickets", TICKET_COLS, "WHERE state = ?", (state,), limit)
        return await self._rows("operation_tickets", TICKET_COLS, limit=limit)
