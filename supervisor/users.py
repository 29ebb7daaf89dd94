"""Users and roles. Passwords are stored as salted scrypt hashes, compared in constant time.

Format: "scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>" so the cost can be raised later while old
hashes still verify (and are re-hashed at the next login, `needs_rehash`). Roles, weakest
first: viewer (read), operator (commands, alarm acks), admin (users, settings).

The stored text may start with account flags, as /etc/shadow marks a locked account with "!":
DISABLED ("!") means the account may not log in; MUST_CHANGE ("~") means the password was
given to the user (the initial admin's) and must be changed at the next login. A flagged text
never verifies as a password by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

ROLES = ("viewer", "operator", "admin")
# OWASP's scrypt guidance (2023): N=2^17, r=8, p=1: 128 MiB and ~0.4 s of one core per hash.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
# A stored hash asking for more memory than this is refused rather than tried (a damaged or
# planted row must not exhaust the supervisor's memory).
MAX_MEM_BYTES = 512 * 1024 * 1024
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
DISABLED = "!"
MUST_CHANGE = "~"
_dummy: dict[tuple[int, int, int], str] = {}


def _maxmem(n: int, r: int, p: int) -> int:
    """What OpenSSL needs for these parameters (128*r*(n+p) bytes) plus headroom."""
    return 128 * r * (n + p) + 16 * 1024 * 1024


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    n, r, p = SCRYPT_N, SCRYPT_R, SCRYPT_P
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=_maxmem(n, r, p))
    return "scrypt$%d$%d$%d$%s$%s" % (n, r, p, salt.hex(), digest.hex())


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the bare hash `stored` (a flagged text never matches)."""
    try:
        scheme, n_text, r_text, p_text, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        n, r, p = int(n_text), int(r_text), int(p_text)
        if n < 2 or r < 1 or p < 1 or _maxmem(n, r, p) > MAX_MEM_BYTES:
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=n, r=r, p=p,
                                dklen=len(hash_hex) // 2, maxmem=_maxmem(n, r, p))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def needs_rehash(stored: str) -> bool:
    """True when the bare hash `stored` was made with other parameters than today's."""
    parts = stored.split("$")
    return len(parts) != 6 or parts[0] != "scrypt" or parts[1:4] != [str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P)]


def dummy_hash() -> str:
    """A hash of a random password with today's parameters, made once: verifying against it
    for unknown user names costs what a real check costs, so timing does not tell names apart."""
    key = (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    if key not in _dummy:
        _dummy[key] = hash_password(os.urandom(16).hex())
    return _dummy[key]


def split_flags(stored: str) -> tuple[str, bool, bool]:
    """(bare hash, disabled, must_change) of a stored password text."""
    disabled = must_change = False
    while stored[:1] in (DISABLED, MUST_CHANGE) and stored:
        disabled = disabled or stored[0] == DISABLED
        must_change = must_change or stored[0] == MUST_CHANGE
        stored = stored[1:]
    return stored, disabled, must_change


def join_flags(bare: str, disabled: bool, must_change: bool) -> str:
    """The stored text of a bare hash with its account flags."""
    return (DISABLED if disabled else "") + (MUST_CHANGE if must_change else "") + bare


def role_at_least(role: str, needed: str) -> bool:
    """True when `role` may do what `needed` may."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_password(password: object) -> list[str]:
    if not isinstance(password, str) or len(password) < 8:
        return ["password: must be at least 8 characters"]
    if len(password) > 1024:
        return ["password: at most 1024 characters"]
    return []


def check_new_user(username: str, password: str, role: str) -> list[str]:
    problems = []
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        problems.append("username=%r: must be 1-64 of A-Z a-z 0-9 _ . @ -" % (username,))
    problems += check_password(password)
    if role not in ROLES:
        problems.append("role=%r: must be one of %s" % (role, ", ".join(ROLES)))
    return problems
