"""The dashboard's user accounts: log-in, creating, changing and deleting users, and changing
one's own password. Passwords are scrypt hashes (users.py) checked on worker threads, at most
KDF_CONCURRENCY at a time; every change and every log-in is audited.

Invariants: at least one enabled admin always remains (nobody could manage users otherwise);
an unknown name costs the same one password check as a known one (timing reveals no names);
the file holding the initial admin's password goes once that password is changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from . import users
from .audit_log import AuditLog
from .service_errors import ServiceError
from .storage.base import Storage

log = logging.getLogger(__name__)

INITIAL_ADMIN = "admin"  # the user a fresh install creates, with its password in a file
KDF_CONCURRENCY = 2  # password checks at once (each takes 128 MiB and ~0.4 s of one core)


def initial_password_path(config: dict[str, Any]) -> str:
    """Where a fresh install writes the initial admin's password (deleted once it is changed)."""
    return os.path.join(config["supervisor"]["data_dir"], "initial-admin-password")


class Accounts:
    """Users, roles and passwords over the storage's users table."""

    def __init__(self, storage: Storage, config: dict[str, Any], wall_clock: Callable[[], float],
                 audit: AuditLog) -> None:
        self.storage = storage
        self.config = config
        self.clock = wall_clock
        self.audit = audit
        self._kdf_slots = asyncio.Semaphore(KDF_CONCURRENCY)

    async def _kdf(self, password: str, stored: str) -> bool:
        """One scrypt check on a worker thread; at most KDF_CONCURRENCY at a time (128 MiB each)."""
        async with self._kdf_slots:
            return await asyncio.to_thread(users.verify_password, password, stored)

    async def _hash(self, password: str) -> str:
        async with self._kdf_slots:
            return await asyncio.to_thread(users.hash_password, password)

    async def authenticate(self, username: str, password: str,
                           audit_failure: bool | Callable[[], Awaitable[bool]] = True) -> dict[str, Any] | None:
        """{"username", "role", "must_change"} when the password matches and the account is
        enabled, else None. Exactly one password check runs whether or not the name exists
        (an unknown name is checked against a dummy hash), so timing does not reveal names.
        Successes are audited; failures when `audit_failure` is true or, if a coroutine function,
        returns true (the web caps the rows unauthenticated clients can cause). A hash made with
        older parameters is replaced."""
        row = await self.storage.user(username) if isinstance(username, str) else None
        if row is not None:
            bare, disabled, must_change = users.split_flags(row["password_hash"])
        else:
            bare, disabled, must_change = await asyncio.to_thread(users.dummy_hash), False, False
        ok = await self._kdf(password if isinstance(password, str) else "", bare)
        result = "ok" if ok and row and not disabled else ("disabled" if ok and row else "denied")
        if result == "ok" or (await audit_failure() if callable(audit_failure) else audit_failure):
            await self.audit.record(user=str(username)[:64], action="login", station_id=None, detail="", result=result)
        if result != "ok" or row is None:
            return None
        if users.needs_rehash(bare):
            await self.storage.update_user(row["username"], None, users.join_flags(await self._hash(password), False,
                                                                                   must_change))
        return {"username": row["username"], "role": row["role"], "must_change": must_change}

    async def create_user(self, username: str, password: str, role: str, by: str = "system",
                          must_change: bool = False) -> dict[str, Any]:
        """Add a user; `must_change` makes them choose a new password at their first login."""
        problems = users.check_new_user(username, password, role)
        if not problems and await self.storage.user(username) is not None:
            problems.append("username=%r: already exists" % username)
        if problems:
            raise ServiceError("bad_user", "; ".join(problems))
        hashed = users.join_flags(await self._hash(password), False, must_change)
        await self.storage.insert_user(username, role, hashed, self.clock())
        await self.audit.record(user=by, action="create_user", station_id=None, detail="%s as %s" % (username, role),
                                result="ok")
        return {"username": username, "role": role}

    async def _account(self, username: str) -> tuple[dict[str, Any], str, bool, bool]:
        row = await self.storage.user(username)
        if row is None:
            raise ServiceError("unknown_user", "no user %r" % username)
        bare, disabled, must_change = users.split_flags(row["password_hash"])
        return row, bare, disabled, must_change

    async def _other_active_admins(self, username: str) -> int:
        count = 0
        for u in await self.list_users():
            if u["username"] != username and u["role"] == "admin" and not u["disabled"]:
                count += 1
        return count

    async def set_user(self, username: str, by: str, role: str | None = None, password: str | None = None,
                       disabled: bool | None = None) -> None:
        """An admin changes a user's role, password or enabled state. The last enabled admin
        can be neither demoted nor disabled (nobody could manage users any more)."""
        row, bare, was_disabled, must_change = await self._account(username)
        if role is not None and role not in users.ROLES:
            raise ServiceError("bad_user", "role=%r: must be one of %s" % (role, ", ".join(users.ROLES)))
        if password is not None and users.check_password(password):
            raise ServiceError("bad_user", "; ".join(users.check_password(password)))
        losing_admin = row["role"] == "admin" and not was_disabled and (
            (role is not None and role != "admin") or disabled is True)
        if losing_admin and not await self._other_active_admins(username):
            raise ServiceError("last_admin", "%s is the last enabled admin: make another user admin first" % username)
        if password is not None:
            bare = await self._hash(password)
        stored = None
        if password is not None or disabled is not None:
            stored = users.join_flags(bare, was_disabled if disabled is None else disabled, must_change)
        await self.storage.update_user(username, role, stored)
        detail = username + (" role=" + role if role else "") + (" password" if password else "")
        if disabled is not None:
            detail += " disabled" if disabled else " enabled"
        await self.audit.record(user=by, action="update_user", station_id=None, detail=detail, result="ok")
        if password is not None:
            self._forget_initial_password(username)

    async def change_own_password(self, username: str, current: str, new: str) -> None:
        """Self-service: any role, with the current password. Clears a pending forced change."""
        _row, bare, disabled, _must = await self._account(username)
        if not isinstance(current, str) or not await self._kdf(current, bare):
            await self.audit.record(user=username, action="change_password", detail="", result="denied")
            raise ServiceError("wrong_password", "the current password is wrong")
        problems = users.check_password(new)
        if not problems and new == current:
            problems.append("password: the new password must differ from the current one")
        if problems:
            raise ServiceError("bad_password", "; ".join(problems))
        await self.storage.update_user(username, None, users.join_flags(await self._hash(new), disabled, False))
        await self.audit.record(user=username, action="change_password", detail="", result="ok")
        self._forget_initial_password(username)

    async def delete_user(self, username: str, by: str) -> None:
        """Remove a user for good (the audit log keeps their name); never the last enabled admin."""
        row, _bare, disabled, _must = await self._account(username)
        if row["role"] == "admin" and not disabled and not await self._other_active_admins(username):
            raise ServiceError("last_admin", "%s is the last enabled admin: make another user admin first" % username)
        await self.storage.delete_user(username)
        await self.audit.record(user=by, action="delete_user", station_id=None, detail=username, result="ok")

    def _forget_initial_password(self, username: str) -> None:
        """Once the initial admin's password is changed, the file holding the old one goes."""
        if username != INITIAL_ADMIN:
            return
        path = initial_password_path(self.config)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("cannot delete %s (%s): delete it by hand, it holds an old password", path, exc.strerror)
            return
        log.warning("deleted %s: the initial admin password was changed", path)

    async def list_users(self) -> list[dict[str, Any]]:
        """[{username, role, created_ts, disabled, must_change}] by name."""
        out = []
        for u in await self.storage.users():
            row = await self.storage.user(u["username"])
            _bare, disabled, must_change = users.split_flags(row["password_hash"] if row else "")
            out.append({**u, "disabled": disabled, "must_change": must_change})
        return out
