"""A virtual RS-485 line: two pty ports joined by a relay thread, optionally at wire speed.

Throttled (`baudrate` given), the relay holds each chunk until its last character would have
left the wire (len * bits_per_char / baud after the line is free), keeps the line half-duplex,
and lets a reply start no earlier than t3.5 after the request ended (a spec-compliant slave
only recognises a frame after t3.5 of silence). The master's own gap is NOT added: it counts
`gap_violations` (requests that started less than t3.5 after the previous reply ended), so a
test can see whether the master enforces the gap. `tamper(direction, data)` may alter or drop
bytes in flight ("a2b" master -> slaves, "b2a" slaves -> master) to inject line faults.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable

from heatkeeper.firmware.modbus.timing import char_time_s, t35_s

Tamper = Callable[[str, bytes], bytes | None]


class PtyLine:
    """`port_a` for the master (client), `port_b` for the slaves (simulator)."""

    def __init__(self, baudrate: int | None = None, bits_per_char: int = 11, tamper: Tamper | None = None):
        self.baudrate = baudrate
        self.bits_per_char = bits_per_char
        self.tamper = tamper
        self._ma, self._sa = os.openpty()
        self._mb, self._sb = os.openpty()
        for fd in (self._sa, self._sb):
            tty.setraw(fd)
        self.port_a = os.ttyname(self._sa)
        self.port_b = os.ttyname(self._sb)
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.gap_violations = 0
        self.chunks = 0
        self.bytes = 0

    def start(self) -> PtyLine:
        """Start the relay thread."""
        self._thread = threading.Thread(target=self._run, name="ptyline", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the relay and close every descriptor (once: fd numbers are reused)."""
        if self._stop:
            return
        self._stop = True
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for fd in (self._ma, self._sa, self._mb, self._sb, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> PtyLine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _wait_until(t: float) -> None:
        rest = t - time.perf_counter()
        if rest > 0.0006:
            time.sleep(rest - 0.0005)
        while time.perf_counter() < t:
            pass

    def _run(self) -> None:
        tc = char_time_s(self.baudrate, self.bits_per_char) if self.baudrate else 0.0
        gap = t35_s(self.baudrate, self.bits_per_char) if self.baudrate else 0.0
        wire_free = 0.0
        last_dir = ""
        while not self._stop:
            try:
                ready, _, _ = select.select([self._ma, self._mb, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            for fd in ready:
                if fd == self._wake_r or self._stop:
                    continue
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    time.sleep(0.01)
                    continue
                direction = "a2b" if fd == self._ma else "b2a"
                if self.tamper is not None:
                    altered = self.tamper(direction, data)
                    if not altered:
                        continue
                    data = altered
                self.chunks += 1
                self.bytes += len(data)
                if self.baudrate:
                    now = time.perf_counter()
                    start = max(now, wire_free)
                    if direction != last_dir and last_dir:
                        if direction == "b2a":
                            start = max(start, wire_free + gap)  # slave sees t3.5 before answering
                        elif now < wire_free + gap * 0.95:
                            self.gap_violations += 1
                    wire_free = start + len(data) * tc
                    last_dir = direction
                    self._wait_until(wire_free)
                try:
                    os.write(self._mb if direction == "a2b" else self._ma, data)
                except OSError:
                    pass
