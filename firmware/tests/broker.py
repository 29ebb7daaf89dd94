"""A real Mosquitto for the firmware tests: free loopback port, persistence on, kill and restart.

Started and ended by pid; the port stays the same across restarts so a station's reconnect
loop finds it again. Optional password file and ACL for the authorisation tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Mosquitto:
    """One mosquitto process in `workdir` (persistence on, anonymous unless `users` given)."""

    def __init__(self, workdir: str, users: dict[str, str] | None = None, acl: str | None = None) -> None:
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc: subprocess.Popen | None = None
        conf = ["per_listener_settings false", "persistence true", "persistence_location %s/" % workdir,
                "autosave_interval 1", "max_queued_messages 100000", "log_type all",
                "listener %d 127.0.0.1" % self.port]
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
        if os.geteuid() == 0:
            conf.insert(0, "user root")
        self.conf = os.path.join(workdir, "mosquitto.conf")
        with open(self.conf, "w") as fh:
            fh.write("\n".join(conf) + "\n")
        self.log_path = os.path.join(workdir, "broker.log")

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.conf], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start:\n" + open(self.log_path).read()[-2000:])
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a goodbye."""
        self.stop(signal.SIGKILL)
