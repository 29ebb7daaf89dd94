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
    """One mosquitto process in `workdir` (persistence on, anonymous unless `users` given).

    The broker saves its database after every change (autosave_on_changes): Mosquitto
    acknowledges a QoS 1 message before its periodic save, so a SIGKILLed broker would
    otherwise lose messages it had already acknowledged, which no client can prevent."""

    def __init__(self, workdir: str, users: dict[str, str] | None = None, acl: str | None = None,
                 tls: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc: subprocess.Popen | None = None
        conf = ["per_listener_settings false", "persistence true", "persistence_location %s/" % workdir,
                "autosave_on_changes true", "autosave_interval 1", "max_queued_messages 100000", "log_type all",
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
        self.tls_port = 0
        if tls:
            self.tls_port = free_port()
            conf += ["listener %d 127.0.0.1" % self.tls_port, "cafile %s" % tls["ca"], "certfile %s" % tls["cert"],
                     "keyfile %s" % tls["key"], "tls_version tlsv1.2"]
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
        while not port_open(self.port) or (self.tls_port and not port_open(self.tls_port)):
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


def make_test_pki(folder: str) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost (openssl CLI)."""
    os.makedirs(folder, exist_ok=True)
    p = {name: os.path.join(folder, name) for name in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt", "san.cnf")}
    with open(p["san.cnf"], "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=heatkeeper test CA",
         "-keyout", p["ca.key"], "-out", p["ca.crt"]],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", p["server.key"],
         "-out", p["server.csr"]],
        ["openssl", "x509", "-req", "-in", p["server.csr"], "-CA", p["ca.crt"], "-CAkey", p["ca.key"], "-CAcreateserial",
         "-days", "2", "-extfile", p["san.cnf"], "-out", p["server.crt"]],
    ]
    for argv in run:
        subprocess.run(argv, check=True, capture_output=True)
    return {"ca": p["ca.crt"], "cert": p["server.crt"], "key": p["server.key"]}
