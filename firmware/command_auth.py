"""Command signatures on the station: its command key, and HMAC-SHA256 over each command.

The supervisor signs every command with a per-station key that the broker never holds; the
station checks the signature before anything else (core.codec.command_signing_bytes says what
is covered: station, id, kind, args, user, expiry). The key file holds the key as hex text
(at least core.codec.COMMAND_KEY_MIN_BYTES bytes), written 0600 by the supervisor next to the
station's MQTT password file; `[mqtt] command_key_file` names it.

Refusal reasons (ack reason codes and event reasons):
    unsigned         the command carries no signature
    bad_signature    the signature is not this station's key over this command
    no_command_key   the station has no key configured (and insecure_unsigned_commands is off)
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from heatkeeper.core import codec

UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
NO_COMMAND_KEY = "no_command_key"


def read_command_key(path: str) -> bytes:
    """The key in `path`. Raises OSError (missing, unreadable) or codec.CodecError (not a key)."""
    with open(path, encoding="ascii", errors="replace") as fh:
        text = fh.read(4096)
    return codec.parse_command_key(text)


def key_file_problem(where: str, path: str) -> str | None:
    """A config problem line for the key file at `path`, or None when it holds a usable key."""
    try:
        read_command_key(path)
    except OSError as exc:
        return "%s=%r: cannot read the command key (%s)" % (where, path, exc.strerror or exc)
    except codec.CodecError as exc:
        return "%s=%r: not a command key: %s" % (where, path, exc.text)
    return None


def command_signature(key: bytes, station_id: str, command_id: str, kind: str, args: dict[str, Any], user: str,
                      expires_ts: float) -> str:
    """Hex HMAC-SHA256 of one command under `key`."""
    message = codec.command_signing_bytes(station_id, command_id, kind, args, user, expires_ts)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_command(key: bytes, station_id: str, command_id: str, kind: str, args: dict[str, Any], user: str,
                 issued_ts: float, expires_ts: float) -> tuple[str, bytes]:
    """(topic, payload) of a signed command, as the supervisor sends it (local tools, tests)."""
    sig = command_signature(key, station_id, command_id, kind, args, user, expires_ts)
    return codec.encode_command(station_id, command_id, kind, args, user, issued_ts, expires_ts, sig=sig)


def verify(key: bytes, station_id: str, cmd: dict[str, Any]) -> tuple[str, str] | None:
    """None when `cmd` (a decoded command) is signed with `key` for `station_id` (this station,
    not whatever the payload says); else (reason, detail). Constant-time comparison."""
    sig = cmd.get("sig")
    if not isinstance(sig, str) or not sig:
        return UNSIGNED, "the command carries no signature; this station accepts only signed commands"
    expected = command_signature(key, station_id, str(cmd["id"]), str(cmd["kind"]), cmd["args"], str(cmd["user"]),
                                 cmd["expires_ts"])
    if not hmac.compare_digest(expected, sig):
        return BAD_SIGNATURE, ("the signature does not match this station's command key (command altered, "
                               "signed for another station, or the station's key file differs from the supervisor's)")
    return None
