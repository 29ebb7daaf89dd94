"""The supervisor's embedded MQTT broker: a Mosquitto child process for the zero-set-up default.

`start_embedded_broker(cfg)` writes the production configuration (`broker_config.write`: users
bound to client ids, per-station ACL, packet, queue and memory limits, persistence) under
<data_dir>/broker, with the credentials in <data_dir>/credentials, and starts
`mosquitto -c` on it. The child dies with the supervisor (PR_SET_PDEATHSIG) and is stopped by
its pid; it runs as the supervisor's own user (no privilege drop, so it reads its files).

Where no mosquitto binary exists, amqtt (`broker.EmbeddedBroker`) serves instead, with a
warning: it loses QoS 1 messages under load and cannot stop a session takeover.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
from typing import Any

from . import broker_config
from .broker import EmbeddedBroker, ensure_credentials, supervisor_users
from .hosts import is_loopback

log = logging.getLogger(__name__)

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
START_TIMEOUT_S = 15.0


class BrokerStartError(RuntimeError):
    """The embedded broker did not start; the message carries the end of its log."""


def mosquitto_binary() -> str | None:
    """The mosquitto executable, or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


def _die_with_parent() -> None:
    # Linux: SIGTERM to the broker when the supervisor dies, even by SIGKILL, so no orphan
    # keeps the port (and the persistence file) from the next start.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def platform_collectors(cfg: dict[str, Any]) -> dict[str, list[str]]:
    """{collector platform user: ids of the configured collectors its prefix covers}."""
    ids = sorted(cfg.get("collectors_map", {}))
    return {p["user"]: [c for c in ids if c.startswith(p["prefix"])] for p in cfg.get("collector_platforms", [])}


class EmbeddedMosquitto:
    """One Mosquitto child process on the supervisor's generated configuration."""

    def __init__(self, binary: str, cfg: dict[str, Any]) -> None:
        b = cfg["broker"]
        self.binary = binary
        self.workdir = os.path.join(cfg["supervisor"]["data_dir"], "broker")
        self.credentials_dir = os.path.join(cfg["supervisor"]["data_dir"], "credentials")
        self.port = int(b["port"])
        tls = (b["tls_ca"], b["tls_cert"], b["tls_key"]) if b["tls_cert"] else None
        # With TLS, the plain listener serves only this host; remote clients use TLS.
        self.bind = "127.0.0.1" if tls else b["host"]
        self.passwords = broker_config.write(
            self.workdir, [s["id"] for s in cfg["stations"]], port=self.port, bind=self.bind, tls=tls,
            tls_port=int(b["tls_port"]), tls_bind=b["host"] if tls else "", as_root=os.geteuid() == 0,
            platforms=platform_collectors(cfg), ingest_processes=int(b["ingest_processes"]),
            sup_user=cfg["mqtt"]["username"], credentials_dir=self.credentials_dir)
        self.conf = os.path.join(self.workdir, "mosquitto.conf")
        self.log_path = os.path.join(self.workdir, "mosquitto.log")
        self.proc: asyncio.subprocess.Process | None = None

    def _log_tail(self, since: int, lines: int = 15) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def _listening(self) -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind,
                                                            self.port)
        except OSError:
            return False
        writer.close()
        return True

    def _port_taken(self) -> str:
        """Why the listener's port cannot be bound ("" if it can): a port someone else holds
        would otherwise look like our broker answering."""
        host = "0.0.0.0" if self.bind in ("", "0.0.0.0") else self.bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Mosquitto does
            try:
                sock.bind((host, self.port))
            except OSError as exc:
                return exc.strerror or str(exc)
        return ""

    async def start(self) -> None:
        """Start mosquitto and wait until its listener accepts connections, or raise."""
        taken = self._port_taken()
        if taken:
            raise BrokerStartError("embedded Mosquitto on %s:%d did not start: %s (another broker or program holds "
                                   "the port; stop it or set broker.port and mqtt.port)" % (self.bind, self.port, taken))
        since = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        stdout = open(os.path.join(self.workdir, "stdout.log"), "ab")  # noqa: SIM115 - the child's
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary, "-c", self.conf, stdin=asyncio.subprocess.DEVNULL, stdout=stdout,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            stdout.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not await self._listening():
            if self.proc.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise BrokerStartError("embedded Mosquitto on %s:%d did not start; its log (%s) ends:\n%s"
                                       % (self.bind, self.port, self.log_path, self._log_tail(since)))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        if self.proc.returncode is not None:  # someone else answered on the port meanwhile
            raise BrokerStartError("embedded Mosquitto on %s:%d exited at start; its log (%s) ends:\n%s"
                                   % (self.bind, self.port, self.log_path, self._log_tail(since)))
        log.info("embedded MQTT broker (Mosquitto, pid %d) on %s:%d; config %s",
                 self.proc.pid, self.bind, self.port, self.conf)

    async def stop(self) -> None:
        """SIGTERM (Mosquitto saves its sessions), then SIGKILL after 10 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def start_embedded_broker(cfg: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """(running broker with `stop()`, {user: password}) for `broker.embedded`."""
    binary = mosquitto_binary()
    if binary is not None:
        broker = EmbeddedMosquitto(binary, cfg)
        await broker.start()
        return broker, broker.passwords
    b = cfg["broker"]
    if b["tls_cert"] or not is_loopback(b["host"]):
        raise BrokerStartError("broker.host=%r%s: no mosquitto binary here, and the amqtt fallback serves this host "
                               "only (no TLS, no session protection); install mosquitto (apt-get install mosquitto)"
                               % (b["host"], " with broker.tls_*" if b["tls_cert"] else ""))
    if cfg["mqtt"]["protocol"] != "3.1.1":
        raise BrokerStartError("mqtt.protocol=%r: no mosquitto binary here, and the amqtt fallback speaks MQTT 3.1.1 "
                               "only; install mosquitto (apt-get install mosquitto) or set protocol \"3.1.1\""
                               % cfg["mqtt"]["protocol"])
    log.warning("no mosquitto binary found (apt-get install mosquitto): the embedded broker falls back to amqtt, "
                "which can lose QoS 1 messages and cannot stop one client taking over another's session; "
                "fit for development only")
    users = [*supervisor_users(cfg["mqtt"]["username"], int(cfg["broker"]["ingest_processes"])),
             *platform_collectors(cfg), *[s["id"] for s in cfg["stations"]]]
    creds = ensure_credentials(os.path.join(cfg["supervisor"]["data_dir"], "credentials"), users)
    amqtt = EmbeddedBroker(cfg["broker"]["host"], cfg["broker"]["port"],
                           os.path.join(cfg["supervisor"]["data_dir"], "broker"), creds,
                           supervisor_user=cfg["mqtt"]["username"], platforms=platform_collectors(cfg))
    await amqtt.start()
    return amqtt, creds
