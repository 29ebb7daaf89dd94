"""Local persistence: the controller snapshot (atomic, two generations) and the event journal.

State file: two slots, `state.a.json` and `state.b.json`. Each save writes the slot NOT holding
the newest good copy: temp file, fsync, rename over the slot, fsync the directory. Each slot
carries a generation counter and a SHA-256 of its data, so a torn, truncated or hand-edited
file is recognised. `load()` picks the newest slot whose checksum holds; when the newest is
damaged it falls back to the other and says so (an event for the caller), and when none is
usable it returns nothing: the station starts from its settings. It never raises on bad files.

Journal: append-only JSON lines (`events.jsonl`), flushed per line, rotated at `max_bytes`
into `events.jsonl.1` ... `.N` (oldest dropped: the uplink carries the durable copy). A failed
write raises StorageError and the file is reopened on the next append (a disk that comes back
is used again); `Journal(None)` keeps the last records in memory only, for a station whose data
directory is unusable.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import time
from typing import Any

from .errors import StorageError

STATE_FORMAT = 1


def fsync_dir(path: str) -> None:
    """fsync a directory so a rename inside it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably (temp, fsync, rename, fsync dir)."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(folder)
    except OSError as exc:
        raise StorageError("cannot write %s: %s" % (path, exc)) from exc


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class StateStore:
    """Two-generation, checksummed, atomically written JSON state."""

    def __init__(self, folder: str, name: str = "state") -> None:
        self.folder = folder
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            pass  # an unusable data directory: load() finds nothing, save() raises StorageError
        self.slots = [os.path.join(folder, "%s.%s.json" % (name, s)) for s in ("a", "b")]
        self.generation = 0
        self._newest_slot = -1

    def _read(self, path: str) -> tuple[dict | None, str]:
        """(document, "") when good, else (None, reason)."""
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return None, "missing"
        except OSError as exc:
            return None, "unreadable (%s)" % exc
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeError) as exc:
            return None, "not JSON (%s)" % exc
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT or not isinstance(doc.get("generation"), int):
            return None, "unknown format"
        if doc.get("sha256") != _digest(doc.get("data")):
            return None, "checksum mismatch"
        return doc, ""

    def load(self) -> tuple[dict | None, list[dict]]:
        """(data of the newest good slot or None, events describing any fallback)."""
        found = [self._read(p) for p in self.slots]
        events: list[dict] = []
        good = [(doc["generation"], i, doc) for i, (doc, _r) in enumerate(found) if doc is not None]
        bad = [(i, reason) for i, (doc, reason) in enumerate(found) if doc is None and reason != "missing"]
        if not good:
            for i, reason in bad:
                events.append({"kind": "state_unusable", "reason": "corrupt", "file": self.slots[i], "detail": reason})
            if bad:
                events.append({"kind": "state_fresh_start", "reason": "no_good_copy",
                               "detail": "no usable state file: starting from the configured settings"})
            return None, events
        generation, index, doc = max(good)
        self.generation, self._newest_slot = generation, index
        for i, reason in bad:
            # A damaged slot newer than the one used means we fell back to the previous copy.
            events.append({"kind": "state_fallback", "reason": "corrupt", "file": self.slots[i], "detail": reason,
                           "used": self.slots[index], "generation": generation})
        return doc["data"], events

    def save(self, data: dict) -> None:
        """Write `data` as the next generation into the older slot."""
        self.generation += 1
        target = 1 - self._newest_slot if self._newest_slot in (0, 1) else 0
        doc = {"format": STATE_FORMAT, "generation": self.generation, "saved_ts": time.time(),
               "sha256": _digest(data), "data": data}
        atomic_write(self.slots[target], json.dumps(doc, separators=(",", ":")).encode())
        self._newest_slot = target


class Journal:
    """Append-only, rotated JSON-lines event journal."""

    MEMORY_RECORDS = 1000

    def __init__(self, path: str | None, max_bytes: int = 1000000, files: int = 5) -> None:
        self.path, self.max_bytes, self.files = path, max_bytes, files
        self.memory: collections.deque[dict] | None = None
        self._fh: Any = None
        if path is None:
            self.memory = collections.deque(maxlen=self.MEMORY_RECORDS)
            return
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._fh = open(path, "ab")
        except OSError as exc:
            raise StorageError("cannot open journal %s: %s" % (path, exc)) from exc

    def append(self, record: dict) -> None:
        """Write one record (a JSON object on one line) and flush it to the OS."""
        if self.memory is not None:
            self.memory.append(record)
            return
        line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
        try:
            if self._fh is None:
                self._fh = open(str(self.path), "ab")
            self._fh.write(line)
            self._fh.flush()
            if self._fh.tell() >= self.max_bytes:
                self._rotate()
        except (OSError, ValueError) as exc:  # ValueError: a file left closed by a failed rotation
            self._drop_handle()
            raise StorageError("cannot write journal %s: %s" % (self.path, exc)) from exc

    def _drop_handle(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except (OSError, ValueError):
                pass  # the write already failed; the next append reopens the file

    def _rotate(self) -> None:
        assert self.path is not None
        os.fsync(self._fh.fileno())
        self._fh.close()
        for i in range(self.files - 1, 0, -1):
            src = self.path if i == 1 else "%s.%d" % (self.path, i - 1)
            if os.path.exists(src):
                os.replace(src, "%s.%d" % (self.path, i))
        if self.files <= 1:
            os.replace(self.path, self.path + ".1")
        self._fh = open(self.path, "ab")

    def read_all(self) -> list[dict]:
        """Every record still on disk, oldest first (for tests and local inspection)."""
        if self.memory is not None or self.path is None:
            return list(self.memory or ())
        paths = ["%s.%d" % (self.path, i) for i in range(self.files, 0, -1)] + [self.path]
        out: list[dict] = []
        for p in paths:
            if not os.path.exists(p):
                continue
            with open(p, "rb") as fh:
                for line in fh:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        continue  # a torn last line after a power cut
        return out

    def close(self) -> None:
        """Flush and close (best effort after a failure: what is on disk is what it is)."""
        if self._fh is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except (OSError, ValueError):
            pass  # a full or failing disk at shutdown: nothing more can be saved
        finally:
            self._drop_handle()
