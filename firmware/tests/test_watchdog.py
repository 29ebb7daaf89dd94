"""sd_notify over a real AF_UNIX datagram socket (path and abstract namespace)."""

from __future__ import annotations

import os
import socket

from heatkeeper.firmware.watchdog import Notifier


def test_notifications_reach_a_path_socket(tmp_path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(2)
        n = Notifier(path)
        assert n.enabled
        assert n.ready("running") and n.watchdog() and n.stopping()
        got = [sock.recv(4096) for _ in range(3)]
        n.close()
    assert got == [b"READY=1\nSTATUS=running", b"WATCHDOG=1", b"STOPPING=1"]


def test_abstract_namespace_socket() -> None:
    name = "heatkeeper-test-%d" % os.getpid()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        n = Notifier("@" + name)
        assert n.watchdog()
        assert sock.recv(100) == b"WATCHDOG=1"
        n.close()


def test_outside_systemd_is_a_no_op_and_a_dead_socket_is_counted(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled and not Notifier().watchdog()
    n = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert not n.watchdog() and n.errors == 1
