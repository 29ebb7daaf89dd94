"""Supervisor storage: one interface (`base.Storage`), SQLite by default, PostgreSQL for a city."""

from __future__ import annotations

from .base import Storage, StorageError, StorageUnavailable


def open_storage(backend: str, path: str = "", dsn: str = "") -> Storage:
    """A not-yet-opened storage of the named backend ("sqlite" with `path`, "postgres" with `dsn`)."""
    if backend == "sqlite":
        from .sqlite import SQLiteStorage

        return SQLiteStorage(path)
    if backend == "postgres":
        from .postgres import PostgresStorage

        return PostgresStorage(dsn)
    raise StorageError("storage.backend=%r: must be sqlite or postgres" % backend)


__all__ = ["Storage", "StorageError", "StorageUnavailable", "open_storage"]
