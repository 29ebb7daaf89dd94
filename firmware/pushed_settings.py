"""The settings the supervisor pushed, kept beside the state snapshots so a restart runs them.

`pushed_settings.json` holds {"version", "sections", "saved_ts", "sha256"} (sha256 over the
canonical JSON of version and sections): written atomically (temp, fsync, rename, fsync dir:
persistence.atomic_write) each time an `apply_settings` command is applied. At start the
station builds its controller from the TOML (the bootstrap, always), then lays this file over
it through the same core command (`apply_settings`, so the same checks); a file that is
damaged, or whose sections no longer fit the TOML (the TOML was edited since), is not used:
the station runs on its TOML and raises the alarm `pushed_settings_invalid` saying why, until
a push is applied again.

The settings file's own settings (what the TOML sets, before any push) are reported to the
supervisor as the event `local_settings` (`local_settings_event`): at start and after each
applied push, so the station page shows, key by key, the TOML's value against the pushed one.
Its `sha256` (over the canonical JSON, as the file's) tells at a glance whether two stations'
files agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from .persistence import atomic_write

FILE_NAME = "pushed_settings.json"
ALARM = "pushed_settings_invalid"


def _digest(version: Any, sections: Any) -> str:
    text = json.dumps([version, sections], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def local_settings_event(settings: dict, reason: str) -> dict:
    """The event reporting the settings file's own settings (see the module docstring)."""
    return {"kind": "local_settings", "reason": reason, "sections": settings, "sha256": _digest(0, settings)}


class PushedSettingsFile:
    """One data directory's pushed settings file."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, FILE_NAME)

    def save(self, version: int, sections: dict) -> None:
        """Write atomically; raises StorageError (the running settings stay in effect)."""
        doc = {"version": version, "sections": sections, "saved_ts": time.time(),
               "sha256": _digest(version, sections)}
        atomic_write(self.path, json.dumps(doc, sort_keys=True).encode())

    def load(self) -> tuple[dict | None, str]:
        """({"version", "sections"}, "") when there is a good file; (None, "") when there is
        none; (None, why) when it cannot be used."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return None, ""
        except OSError as exc:
            return None, "%s unreadable: %s" % (self.path, exc)
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            return None, "%s is not JSON: %s" % (self.path, exc)
        if not isinstance(doc, dict) or doc.get("sha256") != _digest(doc.get("version"), doc.get("sections")):
            return None, "%s is damaged (checksum does not match)" % self.path
        return {"version": doc["version"], "sections": doc["sections"]}, ""
