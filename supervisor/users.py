"""Users and roles. Passwords are stored as salted scrypt hashes, compared in constant time.

Format: "scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>" so the cost can be raised later while old
hashes still verify. Roles, weakest first: viewer (read), operator (commands, alarm acks),
admin (users, settings).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

ROLES = ("viewer", "operator", "admin")
_N, _R, _P = 2**14, 8, 1
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (_N, _R, _P, salt.hex(), digest.hex())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p),
                                dklen=len(hash_hex) // 2)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def role_at_least(role: str, needed: str) -> bool:
    """True when `role` may do what `needed` may."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_new_user(username: str, password: str, role: str) -> list[str]:
    problems = []
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        problems.append("username=%r: must be 1-64 of A-Z a-z 0-9 _ . @ -" % (username,))
    if not isinstance(password, str) or len(password) < 8:
        problems.append("password: must be at least 8 characters")
    if role not in ROLES:
        problems.append("role=%r: must be one of %s" % (role, ", ".join(ROLES)))
    return problems
