"""A real Mosquitto for the tests and benchmarks: a free loopback port, started and ended by pid.

`MosquittoServer` runs `mosquitto -c CONF` on a configuration someone else wrote (e.g. the
production one from `heatkeeper broker-config`) and waits until its listeners accept
connections. `Mosquitto` writes a test configuration first: anonymous unless `users` are
given, optional ACL and TLS listener, persistence on. The port stays the same across restarts
so a station's reconnect loop finds the broker again. The binary is found as the supervisor's
embedded broker finds it (`supervisor.embedded.mosquitto_binary`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from heatkeeper.supervisor.embedded import mosquitto_binary
from heatkeeper.tools.procs import Process, free_port, port_open


def mosquitto_missing() -> str:
    """Why a real-broker test cannot run here ("" when it can): for `pytest.mark.skipif`."""
    return "" if mosquitto_binary() else "mosquitto not installed (apt-get install mosquitto)"


class MosquittoServer:
    """One mosquitto process on the config file `conf_path`, listening on `port` (and `tls_port`)."""

    def __init__(self, conf_path: str, port: int, log_path: str, tls_port: int = 0) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError(mosquitto_missing())
        self.binary, self.conf, self.port, self.tls_port, self.log_path = binary, conf_path, port, tls_port, log_path
        self.process: Process | None = None

    def start(self, timeout_s: float = 10.0) -> MosquittoServer:
        """Start it (unless running) and wait until every listener accepts connections, or raise."""
        if self.process is not None and self.process.alive():
            return self
        self.process = Process("mosquitto", [self.binary, "-c", self.conf], self.log_path)
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port) or (self.tls_port and not port_open(self.tls_port)):
            if not self.process.alive() or time.monotonic() > deadline:
                self.stop()
                with open(self.log_path, "rb") as fh:
                    tail = fh.read().decode("utf-8", "replace")[-2000:]
                raise RuntimeError("mosquitto on 127.0.0.1:%d did not start; its log ends:\n%s" % (self.port, tail))
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file), SIGKILL after 10 s."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a goodbye."""
        if self.process is not None:
            self.process.kill_group()
            self.process = None


class Mosquitto(MosquittoServer):
    """A test broker in `workdir` on its own configuration (persistence on, anonymous unless `users`).

    By default the broker saves its database after every change (autosave_on_changes) and logs
    everything: Mosquitto acknowledges a QoS 1 message before its periodic save, so a SIGKILLed
    broker would otherwise lose messages it had already acknowledged, which no client can
    prevent. `long_running` (the HIL rig, the soak) saves every 30 s and logs only errors,
    warnings and notices, so days of simulated traffic keep the disk quiet."""

    def __init__(self, workdir: str, port: int | None = None, users: dict[str, str] | None = None,
                 acl: str | None = None, tls: dict[str, str] | None = None, long_running: bool = False) -> None:
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        port = port or free_port()
        conf = ["per_listener_settings false", "persistence true", "persistence_location %s/" % workdir]
        if long_running:
            conf += ["autosave_interval 30", "max_queued_messages 1000000",
                     "log_type error", "log_type warning", "log_type notice"]
        else:
            conf += ["autosave_on_changes true", "autosave_interval 1", "max_queued_messages 100000", "log_type all"]
        conf.append("listener %d 127.0.0.1" % port)
        if users:
            pw = os.path.join(workdir, "passwd")
            open(pw, "w").close()
            for user, password in users.items():
                subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", pw, user, password],
                               check=True, capture_output=True)
            conf += ["allow_anonymous false", "password_file %s" % pw]
        else:
            conf.append("allow_anonymous true")
        if acl:
            path = os.path.join(workdir, "acl")
            with open(path, "w") as fh:
                fh.write(acl)
            conf.append("acl_file %s" % path)
        tls_port = 0
        if tls:
            tls_port = free_port()
            conf += ["listener %d 127.0.0.1" % tls_port, "cafile %s" % tls["ca"], "certfile %s" % tls["cert"],
                     "keyfile %s" % tls["key"], "tls_version tlsv1.2"]
        if os.geteuid() == 0:
            conf.insert(0, "user root")
        conf_path = os.path.join(workdir, "mosquitto.conf")
        with open(conf_path, "w") as fh:
            fh.write("\n".join(conf) + "\n")
        super().__init__(conf_path, port, os.path.join(workdir, "broker.log"), tls_port)
