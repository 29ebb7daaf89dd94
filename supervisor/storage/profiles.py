"""Storage of the settings profiles pushed to stations (mixed into both backends).

- `settings_versions`: one row per saved version of a profile: the version number (one
  sequence over every profile, so the number a station reports names one profile's version),
  the profile's name, its sections (JSON text: partial core settings), a note, who saved it
  and when. Rows are never changed: an edit is a new version.
- `settings_assignments`: one row per station: the version it should run, who assigned it and
  when, and its fate: state ("pending": not sent yet, e.g. the station is offline; "sent": the
  command is out, `command_id`; "applied"; "rejected" with the station's reason and detail),
  when the state last changed, and the version the station acknowledged running.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

PROFILES_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS settings_versions (
        version {bigint} PRIMARY KEY, profile {text} NOT NULL, sections {text} NOT NULL,
        note {text} NOT NULL DEFAULT '', created_by {text} NOT NULL, created_ts {real} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS settings_versions_profile ON settings_versions (profile, version)",
    """CREATE TABLE IF NOT EXISTS settings_assignments (
        station_id {text} PRIMARY KEY, version {bigint} NOT NULL, assigned_by {text} NOT NULL,
        assigned_ts {real} NOT NULL, state {text} NOT NULL, command_id {text}, reason {text} NOT NULL DEFAULT '',
        detail {text} NOT NULL DEFAULT '', state_ts {real} NOT NULL, running_version {bigint})""",
]

VERSION_COLS = ("version", "profile", "sections", "note", "created_by", "created_ts")
ASSIGNMENT_COLS = ("station_id", "version", "assigned_by", "assigned_ts", "state", "command_id", "reason", "detail",
                   "state_ts", "running_version")


def _version(r: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(VERSION_COLS, r, strict=True))
    item["version"] = int(item["version"])
    item["sections"] = json.loads(item["sections"])
    return item


def _assignment(r: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(ASSIGNMENT_COLS, r, strict=True))
    item["version"] = int(item["version"])
    if item["running_version"] is not None:
        item["running_version"] = int(item["running_version"])
    return item


class ProfilesStorage:
    """The settings push's queries; needs the backend's `execute` and `fetch` (see base.Storage)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # --- versions ----------------------------------------------------------------------------
    async def add_settings_version(self, profile: str, sections: dict[str, Any], note: str, user: str,
                                   ts: float) -> int:
        """Store a new version of `profile`; returns its number (the next of the one sequence)."""
        rows = await self.fetch("SELECT COALESCE(MAX(version), 0) FROM settings_versions")
        version = int(rows[0][0]) + 1
        await self.execute("INSERT INTO settings_versions (version, profile, sections, note, created_by, created_ts) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (version, profile, json.dumps(sections, sort_keys=True), note, user, ts))
        return version

    async def settings_version(self, version: int) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM settings_versions WHERE version = ?" % ", ".join(VERSION_COLS),
                                (version,))
        return _version(rows[0]) if rows else None

    async def settings_versions(self, profile: str | None = None) -> list[dict[str, Any]]:
        """Versions, newest first (of one profile, or of all)."""
        where, params = ("WHERE profile = ? ", (profile,)) if profile is not None else ("", ())
        rows = await self.fetch("SELECT %s FROM settings_versions %sORDER BY version DESC"
                                % (", ".join(VERSION_COLS), where), params)
        return [_version(r) for r in rows]

    async def previous_settings_version(self, version: int, profile: str) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM settings_versions WHERE profile = ? AND version < ? "
                                "ORDER BY version DESC LIMIT 1" % ", ".join(VERSION_COLS), (profile, version))
        return _version(rows[0]) if rows else None

    # --- assignments -------------------------------------------------------------------------
    async def save_assignment(self, a: dict[str, Any]) -> None:
        marks = ", ".join("?" for _ in ASSIGNMENT_COLS)
        updates = ", ".join("%s = excluded.%s" % (k, k) for k in ASSIGNMENT_COLS[1:])
        await self.execute("INSERT INTO settings_assignments (%s) VALUES (%s) ON CONFLICT (station_id) DO UPDATE "
                           "SET %s" % (", ".join(ASSIGNMENT_COLS), marks, updates), [a[k] for k in ASSIGNMENT_COLS])

    async def assignment(self, station_id: str) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM settings_assignments WHERE station_id = ?"
                                % ", ".join(ASSIGNMENT_COLS), (station_id,))
        return _assignment(rows[0]) if rows else None

    async def assignments(self) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM settings_assignments ORDER BY station_id" % ", ".join(ASSIGNMENT_COLS))
        return [_assignment(r) for r in rows]

    async def assignment_by_command(self, command_id: str) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM settings_assignments WHERE command_id = ?"
                                % ", ".join(ASSIGNMENT_COLS), (command_id,))
        return _assignment(rows[0]) if rows else None
