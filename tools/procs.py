"""Starting and stopping heatkeeper's own processes: used by the demo (and usable by test rigs).

Each child runs `python -m heatkeeper.tools.cli ...` in its own process group with its output
in a log file, so Ctrl-C in the terminal reaches only the orchestrator, which then stops the
children one by one in reverse order: SIGTERM, a grace period, then SIGKILL. Nothing is left
running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago (bind to 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """True once something accepts TCP connections on host:port; False on timeout or if `proc` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def wait_path(path: Path, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """True once `path` exists; False on timeout or if `proc` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if path.exists():
            return True
        time.sleep(0.1)
    return False


class ProcessGroup:
    """Children started with `start`, stopped together with `stop_all` (reverse start order)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `heatkeeper ARGS...` as a child named `name`, logging to LOG_DIR/NAME.log."""
        log = open(self.log_dir / (name + ".log"), "ab")  # noqa: SIM115 - owned by the child for its lifetime
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(
            [sys.executable, "-m", "heatkeeper.tools.cli", *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=full_env, start_new_session=True,
        )
        log.close()
        self.children.append((name, proc))
        return proc

    def dead(self) -> list[tuple[str, int]]:
        """(name, exit code) of every child that has exited."""
        return [(name, proc.returncode) for name, proc in self.children if proc.poll() is not None]

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / (name + ".log")
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop_all(self, grace_s: float = 8.0) -> None:
        """Stop the children one by one, newest first (stations before their simulators, the
        supervisor last): SIGTERM, up to `grace_s` to exit cleanly, then SIGKILL."""
        for _name, proc in reversed(self.children):
            if proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=grace_s)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
