"""Signed, expiring acknowledgement links: `<base_url>/ack/<token>`.

token = base64url(JSON {"s": station, "c": code, "p": person, "m": message id, "e": expiry}) "."
base64url(HMAC-SHA256(key, payload)). Whoever holds a valid token may acknowledge that one alarm
as that person until it expires; nothing else. The key is a random 32-byte file made once
(mode 0600), so a restart keeps the links valid and another install's links never are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any


class BadLink(ValueError):
    """The link is malformed, forged or expired; str() says which."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(path: str) -> bytes:
    """The link-signing key in `path`, made (32 random bytes, hex, mode 0600) when missing."""
    try:
        with open(path, encoding="ascii") as fh:
            return bytes.fromhex(fh.read().strip())
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return load_key(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def make_token(key: bytes, station_id: str, code: str, person: str, message_id: str, expires_ts: float) -> str:
    payload = _b64(json.dumps({"s": station_id, "c": code, "p": person, "m": message_id, "e": int(expires_ts)},
                              separators=(",", ":")).encode("utf-8"))
    return payload + "." + _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def read_token(key: bytes, token: str, now_ts: float) -> dict[str, Any]:
    """{"station_id", "code", "person", "message_id", "expires_ts"} of a valid token, else BadLink."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 1000:
        raise BadLink("malformed link")
    payload, sig = token.split(".")
    # the signature's text is compared, not its decoded bytes: base64 leaves spare bits in the last
    # character, so several spellings decode alike and a link would otherwise have four valid forms
    expected = _b64(hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(sig.encode("ascii", "replace"), expected.encode("ascii")):
        raise BadLink("link not signed by this supervisor")
    data = json.loads(_unb64(payload))
    if now_ts > data["e"]:
        raise BadLink("link expired")
    return {"station_id": data["s"], "code": data["c"], "person": data["p"], "message_id": data["m"],
            "expires_ts": float(data["e"])}
