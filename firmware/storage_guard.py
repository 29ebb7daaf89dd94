"""Keeping the station's SQLite stores usable: a damaged file is set aside, never fatal.

Invariants:
- Control never waits for a disk. A store that cannot be opened is retried once as a fresh
  file after the damaged one has been renamed `<name>.corrupt-<UTC time>` (with its -wal/-shm
  companions, kept for a post-mortem); when even a fresh file cannot be made (read-only or
  dead card, data directory gone), the store runs in memory (`:memory:`): the station heats and
  reports on, and only loses what a power cut takes.
- Only corruption (SQLITE_CORRUPT, SQLITE_NOTADB) moves a file. A disk that is full, read-only
  or failing gives other codes; renaming a sound file then would only lose data, so those go
  straight to memory at start-up, and are retried (messages held in memory) during a run.
- Every fallback is described by a plain dict for the caller's event and alarm
  (`storage_corrupt`, `storage_memory_only`); this module never logs to the uplink itself.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from .errors import StorageError

log = logging.getLogger("heatkeeper.storage")

MEMORY = ":memory:"
CORRUPT_MARK = ".corrupt-"
COMPANIONS = ("", "-wal", "-shm", "-journal")

SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # primary result codes (sqlite.org/rescode.html)

T = TypeVar("T")


class StorageCorrupt(StorageError):
    """A store's file is damaged (not a database, malformed pages): set it aside and start anew."""


def is_corruption(exc: BaseException) -> bool:
    """True for SQLite errors that mean a damaged file (SQLITE_CORRUPT "database disk image is
    malformed", SQLITE_NOTADB "file is not a database"); False for an unusable disk (full,
    read-only, I/O error) or a misuse, where moving the file would help nothing."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


def storage_error(what: str, path: str, exc: sqlite3.Error) -> StorageError:
    """The firmware error for an SQLite failure on `path`: StorageCorrupt when the file is damaged."""
    cls = StorageCorrupt if is_corruption(exc) else StorageError
    return cls("%s %s: %s" % (what, path, exc))


def set_aside(path: str, now_ts: float | None = None) -> str:
    """Rename `path` (and its -wal/-shm/-journal) to `<path>.corrupt-<UTC time>`; returns the
    new name of the main file. OSError when the main file cannot be moved."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now_ts is None else now_ts))
    target = path + CORRUPT_MARK + stamp
    n = 1
    while os.path.exists(target):  # two set-asides within one second
        n += 1
        target = "%s%s%s-%d" % (path, CORRUPT_MARK, stamp, n)
    for suffix in COMPANIONS:
        src = path + suffix
        if suffix and not os.path.exists(src):
            continue
        try:
            os.replace(src, target + suffix)
        except FileNotFoundError:
            if not suffix:
                raise
    return target


def corrupt_files(folder: str) -> list[str]:
    """Names of the set-aside damaged files in `folder` (main files only), sorted."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if CORRUPT_MARK in n and not n.endswith(("-wal", "-shm", "-journal")))


def open_store(opener: Callable[[str], T], path: str, label: str) -> tuple[T, dict | None]:
    """(store, fallback or None): `opener(path)`, else a fresh file after setting the damaged one
    aside, else `opener(":memory:")`. `fallback` says what happened: {"file", "store",
    "set_aside", "memory_only", "detail"}. Raises only if even the in-memory store cannot be made."""
    try:
        return opener(path), None
    except StorageError as exc:
        if isinstance(exc, StorageCorrupt):
            return replace_store(opener, path, label, exc)
        info = _fallback(path, label, exc)
    return _in_memory(opener, path, label, info), info


def replace_store(opener: Callable[[str], T], path: str, label: str, why: BaseException) -> tuple[T, dict]:
    """(fresh store, fallback): set the damaged `path` aside and open a new one there, else in memory."""
    info = _fallback(path, label, why)
    if path != MEMORY:
        try:
            info["set_aside"] = set_aside(path)
            log.error("%s: %s is damaged (%s): set aside as %s, starting a fresh one", label, path, why,
                      info["set_aside"])
            return opener(path), info
        except OSError as exc:
            info["detail"] += "; cannot set it aside: %s" % exc
        except StorageError as exc:
            info["detail"] += "; a fresh file fails too: %s" % exc
    return _in_memory(opener, path, label, info), info


def _fallback(path: str, label: str, why: BaseException) -> dict:
    return {"file": os.path.basename(path), "store": label, "set_aside": None, "memory_only": False,
            "detail": str(why)[:300]}


def _in_memory(opener: Callable[[str], T], path: str, label: str, info: dict) -> T:
    info["memory_only"] = True
    log.error("%s: cannot use %s (%s): running in memory; a power cut loses what it holds", label, path,
              info["detail"])
    return opener(MEMORY)
