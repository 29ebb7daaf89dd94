"""Broker users and credentials, and the amqtt fallback of the embedded broker.

The embedded broker is a Mosquitto child process (`heatkeeper.supervisor.embedded`); amqtt
0.12.1 serves only where no mosquitto binary exists. It loses QoS 1 messages under load and
deletes a clean-session client's namesake session before it authenticates (any credential can
wipe another's queue), so it is a development fallback, never a site's broker.

amqtt speaks MQTT 3.1.1 only (a v5 client times out rather than being refused), so the
supervisor and stations connect with v3.1.1 to it. It authenticates against an argon2
password file and enforces per-user topic ACLs (amqtt has no %u patterns, so each station's
lines are written out). Use Mosquitto (`heatkeeper broker-config`) in production: amqtt has
known concurrency bugs (the broadcast race is worked around here, see `_SnapshotDict`) and is
not meant for thousands of stations.

Credentials: `ensure_credentials(dir, users)` creates `<dir>/<user>.password` (random, mode
0600) for any user without one, so a fresh install works without set-up, and the same files
serve the stations' `password_file` settings.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from heatkeeper.core import codec

log = logging.getLogger(__name__)

SUPERVISOR_USER = "supervisor"
COLLECTORS_USER = "collectors"  # reserved: the single shared collector account of old releases
COMMAND_SUFFIX = "-cmd"


def ingest_user(base: str, instance: int) -> str:
    """The MQTT user (= client id) of `supervisor --ingest-only --instance N`."""
    return "%s-ingest-%d" % (base, instance)


def supervisor_users(base: str = SUPERVISOR_USER, ingest_processes: int = 0) -> list[str]:
    """One MQTT user per supervisor connection: ingest, commands, and each ingest-only process.
    Client ids are bound to user names, so two connections never share a credential."""
    return [base, base + COMMAND_SUFFIX] + [ingest_user(base, n) for n in range(1, ingest_processes + 1)]


def ensure_credentials(directory: str, usernames: list[str]) -> dict[str, str]:
    """{user: password}, creating a random password file for each user that has none."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    out: dict[str, str] = {}
    for user in usernames:
        path = os.path.join(directory, user + ".password")
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24) + "\n")
        with open(path, encoding="utf-8") as fh:
            out[user] = fh.read().strip()
    return out


def station_acls(station_ids: list[str], supervisor_user: str = SUPERVISOR_USER,
                 platforms: dict[str, list[str]] | None = None,
                 sup_users: list[str] | None = None) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(subscribe ACL, publish ACL) per user: a station reads only its own down/#, writes only
    its own up/<kind> and status; the supervisor's users read and write everything under the
    prefix; each collector platform writes its own collectors' readings only."""
    sub: dict[str, list[str]] = {}
    pub: dict[str, list[str]] = {}
    for user in sup_users or supervisor_users(supervisor_user):
        sub[user] = [codec.PREFIX + "#"]
        pub[user] = [codec.PREFIX + "#"]
    for user, collector_ids in (platforms or {}).items():
        sub[user] = []
        pub[user] = [codec.collector_topic(cid) for cid in collector_ids]
    for sid in station_ids:
        base = codec.PREFIX + "stations/" + sid + "/"
        sub[sid] = [base + "down/#"]
        pub[sid] = [base + "up/" + kind for kind in codec.UP_KINDS] + [base + "status"]
    return sub, pub


class _SnapshotDict(dict):  # type: ignore[type-arg]
    """A dict whose iteration walks a copy of its keys or items.

    amqtt 0.12.1 walks its subscription table across awaits (each broadcast awaits the ACL
    plugin per subscriber; a reconnecting client's retained messages too), so a client that
    subscribes meanwhile made the broadcast task die with "dictionary changed size during
    iteration" and the subscribers after that point of the table did not get the message. Its table is
    swapped for this one: the walk sees the table as it was when the walk began.
    """

    def __iter__(self) -> Any:
        return iter(list(dict.keys(self)))

    def keys(self) -> Any:
        return list(dict.keys(self))

    def values(self) -> Any:
        return list(dict.values(self))

    def items(self) -> Any:
        return list(dict.items(self))


class EmbeddedBroker:
    """The amqtt fallback: amqtt bound to host:port with password-file auth and per-station ACLs."""

    def __init__(self, host: str, port: int, workdir: str, passwords: dict[str, str],
                 supervisor_user: str = SUPERVISOR_USER, platforms: dict[str, list[str]] | None = None) -> None:
        self.platforms = platforms or {}
        self.host = host
        self.port = port
        self.workdir = workdir
        self.passwords = passwords
        self.supervisor_user = supervisor_user
        self._broker: Any = None

    def _config(self) -> dict[str, Any]:
        from argon2 import PasswordHasher

        os.makedirs(self.workdir, exist_ok=True)
        pw_path = os.path.join(self.workdir, "amqtt.passwd")
        hasher = PasswordHasher()
        with open(pw_path, "w", encoding="utf-8") as fh:
            for user, password in self.passwords.items():
                fh.write("%s:%s\n" % (user, hasher.hash(password)))
        os.chmod(pw_path, 0o600)
        sup_users = [u for u in self.passwords
                     if u == self.supervisor_user or u.startswith(self.supervisor_user + "-")]
        stations = [u for u in self.passwords if u not in sup_users and u not in self.platforms]
        sub, pub = station_acls(stations, self.supervisor_user, self.platforms, sup_users)
        return {
            "listeners": {"default": {"type": "tcp", "bind": "%s:%d" % (self.host, self.port)}},
            "plugins": {
                "amqtt.plugins.authentication.FileAuthPlugin": {"password_file": pw_path},
                "amqtt.plugins.topic_checking.TopicAccessControlListPlugin": {"acl": sub, "publish_acl": pub},
            },
        }

    async def start(self) -> None:
        """Start listening (must run inside the event loop that will serve it)."""
        import warnings

        from amqtt.broker import Broker

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # amqtt's "acl" key notice
            self._broker = Broker(self._config())
            self._broker._subscriptions = _SnapshotDict(self._broker._subscriptions)
            await self._broker.start()
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
