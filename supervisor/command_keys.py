"""Station command keys: one secret per station, held by the supervisor, never by the broker.

Every command the supervisor sends is signed with HMAC-SHA256 under its station's key
(core.codec.command_signing_bytes says what is covered); the station verifies before anything
else. The broker (or anyone holding the supervisor's MQTT credential) can therefore carry
commands but not forge or alter one.

Keys live in `<data_dir>/credentials/<station>.cmdkey` (hex text, 32 random bytes, mode 0600,
in a 0700 folder): the same folder where the embedded broker's per-station MQTT password
files are made, so the installer copies `<station>.password` and `<station>.cmdkey` onto the
box together and names the key in the station's `[mqtt] command_key_file`. A key is created
once and never replaced by the supervisor (delete the file to rotate it, then reinstall it on
the station). `heatkeeper broker-config` writes nothing here: Mosquitto never sees the keys.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from typing import Any

from heatkeeper.core import codec

log = logging.getLogger(__name__)

KEY_SUFFIX = ".cmdkey"
KEY_BYTES = 32


def keys_dir(data_dir: str) -> str:
    """The folder of the key files for a supervisor data dir."""
    return os.path.join(data_dir, "credentials")


class CommandKeyError(ValueError):
    """A station's key is missing or unusable; `path` is where it should be."""

    def __init__(self, station_id: str, path: str, text: str) -> None:
        super().__init__("station %s: command key %s: %s" % (station_id, path, text))
        self.station_id, self.path, self.text = station_id, path, text


def sign(key: bytes, station_id: str, command_id: str, kind: str, args: dict[str, Any], user: str,
         expires_ts: float) -> str:
    """Hex HMAC-SHA256 of one command under its station's key."""
    message = codec.command_signing_bytes(station_id, command_id, kind, args, user, expires_ts)
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class CommandKeys:
    """The key files of the stations in one folder (read at each use: a replaced file takes effect
    without a restart)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, station_id: str) -> str:
        if not codec.valid_id(station_id):
            raise CommandKeyError(str(station_id), "", "not a valid station id")
        return os.path.join(self.directory, station_id + KEY_SUFFIX)

    def ensure(self, station_ids: list[str]) -> list[str]:
        """Create a key for each station that has none; returns the ids that got a new one."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        created = []
        for sid in station_ids:
            path = self.path(sid)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(KEY_BYTES) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            created.append(sid)
            log.warning("created the command key of station %s in %s: install it on the station "
                        "([mqtt] command_key_file); until then it refuses our commands", sid, path)
        return created

    def key(self, station_id: str) -> bytes:
        """The station's key; CommandKeyError when the file is missing or not a key."""
        path = self.path(station_id)
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                text = fh.read(4096)
        except OSError as exc:
            raise CommandKeyError(station_id, path, "cannot read (%s)" % (exc.strerror or exc)) from None
        try:
            return codec.parse_command_key(text)
        except codec.CodecError as exc:
            raise CommandKeyError(station_id, path, exc.text) from None
