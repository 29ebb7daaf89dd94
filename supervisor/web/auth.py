"""Users' sessions, roles and CSRF tokens of the dashboard.

Invariants:
- A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the server
  keeps the session (user, role, CSRF token, language) so logging out or a role change takes
  effect at once. Sessions expire after an idle time and after an absolute lifetime.
- Every state-changing request of a logged-in user carries the session's CSRF token (header
  `X-CSRF-Token` or form field `csrf`), compared in constant time.
- Roles are ranked viewer < operator < admin; a handler names the least role it needs.
- Changing your password ends every other session of yours and replaces the current token.
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

    __slots__ = ("token", "username", "role", "csrf", "lang", "created_s", "last_s", "must_change")

    def __init__(self, token: str, username: str, role: str, csrf: str, lang: str, now_s: float,
                 must_change: bool = False) -> None:
        self.token = token
        self.username = username
        self.role = role
        self.csrf = csrf
        self.lang = lang
        self.created_s = now_s
        self.last_s = now_s
        self.must_change = must_change  # the password must be changed before anything else

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

    def create(self, username: str, role: str, lang: str, must_change: bool = False) -> Session:
        now_s = self._clock()
        self._expire(now_s)
        session = Session(secrets.token_urlsafe(32), username, role, secrets.token_urlsafe(32), lang, now_s,
                          must_change)
        self._sessions[session.token] = session
        return session

    def rotate(self, session: Session) -> Session:
        """End every session of the user and start a fresh one (new token, new CSRF token) in
        place of `session`: after a password change, a stolen cookie or another tab is dead."""
        self.drop_user(session.username)
        return self.create(session.username, session.role, session.lang)

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


class TokenBucket:
    """`capacity` tokens refilled at `rate_per_s`; `take()` spends one when there is one."""

    __slots__ = ("capacity", "rate_per_s", "tokens", "last_s")

    def __init__(self, capacity: float, rate_per_s: float, now_s: float) -> None:
        self.capacity = capacity
        self.rate_per_s = rate_per_s
        self.tokens = capacity
        self.last_s = now_s

    def _refill(self, now_s: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now_s - self.last_s) * self.rate_per_s)
        self.last_s = now_s

    def take(self, now_s: float) -> bool:
        self._refill(now_s)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def give_back(self, now_s: float) -> None:
        self._refill(now_s)
        self.tokens = min(self.capacity, self.tokens + 1.0)

    def wait_s(self, now_s: float) -> float:
        """Seconds until the next token."""
        self._refill(now_s)
        return max(0.0, (1.0 - self.tokens) / self.rate_per_s)


class Verdict:
    """What the throttle says about one login attempt: refused (with `retry_after_s`), or let
    through after `delay_s`."""

    __slots__ = ("refused", "why", "retry_after_s", "delay_s")

    def __init__(self, refused: bool, why: str = "", retry_after_s: float = 0.0, delay_s: float = 0.0) -> None:
        self.refused = refused
        self.why = why
        self.retry_after_s = retry_after_s
        self.delay_s = delay_s


class LoginThrottle:
    """Limits password guessing without letting anyone lock a real user out.

    Rule 1: `attempt()` runs before anything is awaited and records the attempt at once, so
    concurrent guesses are all counted (a success takes its record back).
    Rule 2: each client address has a token bucket (`ip_burst` attempts, refilled at
    `ip_rate_per_s`); an empty bucket refuses that address only.
    Rule 3: a global bucket (`global_burst`, `global_rate_per_s`) bounds the password checks
    (each one costs ~0.4 s of CPU and 128 MiB) whatever the number of addresses.
    Rule 4: failures for a user name never block it: after `free_failures` recent ones, each
    attempt for that name waits `base_delay_s` * 2^(failures - free_failures), at most
    `max_delay_s`. The right password from an address that is not throttled still logs in.
    Records are forgotten `window_s` after the last failure; at most `max_keys` of each are
    kept (evicting one only shortens a delay, never unblocks a refused address for long).
    """

    def __init__(self, ip_burst: int = 10, ip_rate_per_s: float = 0.1, global_burst: int = 30,
                 global_rate_per_s: float = 1.0, free_failures: int = 3, base_delay_s: float = 0.5,
                 max_delay_s: float = 8.0, window_s: float = 900.0, max_keys: int = 10000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ip_burst = ip_burst
        self.ip_rate_per_s = ip_rate_per_s
        self.free_failures = free_failures
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._global = TokenBucket(global_burst, global_rate_per_s, clock())
        self._ips: dict[str, TokenBucket] = {}
        self._names: dict[str, tuple[int, float]] = {}  # name -> (recent failures, time of the last)

    def failures(self, name: str) -> int:
        count, last_s = self._names.get(name, (0, 0.0))
        return count if self._clock() - last_s < self.window_s else 0

    def attempt(self, name: str, ip: str) -> Verdict:
        """Record one attempt for `name` from `ip` (as a failure until `succeeded`)."""
        now_s = self._clock()
        bucket = self._ips.get(ip)
        if bucket is None:
            if len(self._ips) >= self.max_keys:
                del self._ips[min(self._ips, key=lambda k: self._ips[k].last_s)]
            bucket = self._ips[ip] = TokenBucket(self.ip_burst, self.ip_rate_per_s, now_s)
        if not bucket.take(now_s):
            return Verdict(True, "address", retry_after_s=bucket.wait_s(now_s))
        if not self._global.take(now_s):
            bucket.give_back(now_s)
            return Verdict(True, "global", retry_after_s=self._global.wait_s(now_s))
        failures = self.failures(name)
        if name not in self._names and len(self._names) >= self.max_keys:
            del self._names[min(self._names, key=lambda k: self._names[k][1])]
        self._names[name] = (failures + 1, now_s)
        over = failures - self.free_failures
        delay_s = 0.0 if over < 0 else min(self.max_delay_s, self.base_delay_s * 2.0 ** min(over, 30))
        return Verdict(False, delay_s=delay_s)

    def succeeded(self, name: str, ip: str) -> None:
        """The attempt was right: forget the name's failures and give the address its token back."""
        self._names.pop(name, None)
        bucket = self._ips.get(ip)
        if bucket is not None:
            bucket.give_back(self._clock())


class AuditBudget:
    """At most `limit` audit rows per `window_s` for refused logins; the rest are counted.

    Unauthenticated clients must not be able to fill the audit log (rows are kept for years).
    `take()` says whether to write this row and how many were left out before it (to be
    written as one summary row), and whether this row starts a run of left-out rows.
    """

    def __init__(self, limit: int = 30, window_s: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._start_s = clock()
        self._used = 0
        self.left_out = 0  # not yet summarised
        self.left_out_total = 0

    def take(self) -> tuple[bool, int]:
        """(write this row?, rows left out since the last summary, to summarise now)."""
        now_s = self._clock()
        if now_s - self._start_s >= self.window_s:
            self._start_s = now_s
            self._used = 0
        if self._used < self.limit:
            self._used += 1
            summary, self.left_out = self.left_out, 0
            return True, summary
        self.left_out += 1
        self.left_out_total += 1
        return False, 0
