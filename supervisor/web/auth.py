"""Users' sessions, roles and CSRF tokens of the dashboard.

Invariants:
- A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the server
  keeps the session (user, role, CSRF token, language) so logging out or a role change takes
  effect at once. Sessions expire after an idle time and after an absolute lifetime.
- Every state-changing request of a logged-in user carries the session's CSRF token (header
  `X-CSRF-Token` or form field `csrf`), compared in constant time.
- Roles are ranked viewer < operator < admin; a handler names the least role it needs.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable

ROLES = ("viewer", "operator", "admin")
ROLE_RANK = {name: rank for rank, name in enumerate(ROLES)}

SESSION_COOKIE = "hk_session"
PRELOGIN_COOKIE = "hk_prelogin"  # CSRF token of the login form, before any session exists
LANG_COOKIE = "hk_lang"


def role_allows(role: str, needed: str) -> bool:
    """True when `role` ranks at least as high as `needed` (unknown roles allow nothing)."""
    if role not in ROLE_RANK:
        return False
    return ROLE_RANK[role] >= ROLE_RANK[needed]


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (empty tokens never match)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


class Session:
    """One logged-in user's session."""

    __slots__ = ("token", "username", "role", "csrf", "lang", "created_s", "last_s")

    def __init__(self, token: str, username: str, role: str, csrf: str, lang: str, now_s: float) -> None:
        self.token = token
        self.username = username
        self.role = role
        self.csrf = csrf
        self.lang = lang
        self.created_s = now_s
        self.last_s = now_s

    def allows(self, needed: str) -> bool:
        return role_allows(self.role, needed)


class SessionStore:
    """In-memory sessions keyed by token, with idle and absolute expiry (monotonic clock)."""

    def __init__(self, idle_s: float = 8 * 3600.0, max_age_s: float = 24 * 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def create(self, username: str, role: str, lang: str) -> Session:
        now_s = self._clock()
        self._expire(now_s)
        session = Session(secrets.token_urlsafe(32), username, role, secrets.token_urlsafe(32), lang, now_s)
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of `token`, touched; None when unknown or expired."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now_s = self._clock()
        if now_s - session.last_s > self.idle_s or now_s - session.created_s > self.max_age_s:
            del self._sessions[token]
            return None
        session.last_s = now_s
        return session

    def drop(self, token: str) -> None:
        self._sessions.pop(token, None)

    def drop_user(self, username: str) -> int:
        """End every session of `username` (after a role or password change); returns how many."""
        tokens = [t for t, s in self._sessions.items() if s.username == username]
        for token in tokens:
            del self._sessions[token]
        return len(tokens)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now_s: float) -> None:
        dead = [t for t, s in self._sessions.items()
                if now_s - s.last_s > self.idle_s or now_s - s.created_s > self.max_age_s]
        for token in dead:
            del self._sessions[token]


class LoginThrottle:
    """Refuses further attempts for a name after `limit` failures within `window_s`."""

    def __init__(self, limit: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, list[float]] = {}

    def blocked(self, key: str) -> bool:
        now_s = self._clock()
        recent = [t for t in self._failures.get(key, []) if now_s - t < self.window_s]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return len(recent) >= self.limit

    def failed(self, key: str) -> None:
        self._failures.setdefault(key, []).append(self._clock())
        if len(self._failures) > 10000:  # bound memory against name spraying
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
