"""Starting and stopping local processes, and the loopback ports they listen on: one copy for the
demo, the test rigs, the benchmarks and the tests.

`Process` runs one child in its own process group with its output in a log file. It is ended with
its whole group, by its pid (never by name), and has two safety nets besides `stop()`: the child
gets SIGKILL when the process that started it dies (Linux PR_SET_PDEATHSIG), and every group still
alive at interpreter exit is killed (atexit). `ProcessGroup` is the demo's set of
`python -m heatkeeper.tools.cli ...` children, so Ctrl-C in the terminal reaches only the
orchestrator, which then stops the children one by one in reverse order: SIGTERM, a grace period,
then SIGKILL. Nothing is left running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago (bind to 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts a TCP connection on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


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


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s" % (timeout_s, what))
        time.sleep(interval_s)


_PR_SET_PDEATHSIG = 1
_LIVE: dict[int, Process] = {}  # pid -> every Process started and not yet reaped


def _prctl() -> Any:
    """libc's prctl, resolved in the parent (the child between fork and exec must not import)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies (Linux), so a
    run killed with SIGKILL leaves no station, simulator or broker behind."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def kill_all() -> None:
    """SIGKILL every process group this module started and has not yet reaped (atexit)."""
    for proc in list(_LIVE.values()):
        if proc.alive():
            proc.kill_group()


atexit.register(kill_all)


class Process:
    """A subprocess in its own process group, output appended to a log file; ended with its group."""

    def __init__(self, name: str, argv: Sequence[str], log_path: str, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path = name, list(argv), log_path
        preexec = _die_with_parent if _PRCTL is not None else None
        with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True, preexec_fn=preexec)
        self.pid = self.proc.pid
        _LIVE[self.pid] = self

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)  # the group id is the pid (start_new_session)

    def kill_group(self) -> None:
        """SIGKILL the whole process group and reap the leader."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        _LIVE.pop(self.pid, None)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to the leader only (a crash as the station would see it), and wait for it to go."""
        if self.alive():
            os.kill(self.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def stop(self, timeout_s: float = 10.0, whole_group: bool = False) -> int | None:
        """SIGTERM (to the leader, or with `whole_group` to every process of the group), then
        SIGKILL of the group after timeout_s; what is left of the group goes too."""
        try:
            if self.alive():
                if whole_group:
                    self._signal_group(signal.SIGTERM)
                else:
                    self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=timeout_s)
        finally:
            self.kill_group()
        return self.proc.returncode

    def output(self) -> str:
        """Everything the child has written so far."""
        with open(self.log_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")

    def log_tail(self, lines: int = 15) -> str:
        """The last `lines` lines of the child's output ("" when there is no log)."""
        try:
            return "\n".join(self.output().splitlines()[-lines:])
        except OSError:
            return ""


class ProcessGroup:
    """`heatkeeper ...` children started with `start`, stopped together with `stop_all` (reverse start order)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Process] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `heatkeeper ARGS...` as a child named `name`, logging to LOG_DIR/NAME.log."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        child = Process(name, [sys.executable, "-m", "heatkeeper.tools.cli", *args], str(self.log_dir / (name + ".log")),
                        env=full_env)
        self.children.append(child)
        return child.proc

    def dead(self) -> list[tuple[str, int]]:
        """(name, exit code) of every child that has exited."""
        return [(child.name, child.proc.returncode) for child in self.children if child.proc.poll() is not None]

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.log_dir / (name + ".log")
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop_all(self, grace_s: float = 8.0) -> None:
        """Stop the children one by one, newest first (stations before their simulators, the
        supervisor last): SIGTERM to each child's group, up to `grace_s` to exit cleanly, then SIGKILL."""
        for child in reversed(self.children):
            child.stop(grace_s, whole_group=True)
