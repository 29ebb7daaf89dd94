"""One virtual RS-485 line: frames requests, dispatches them to the simulated devices on it,
and sends replies with the line's timing and faults.

Wire timing: with `throttle` on, a reply leaves only after the request and the reply would
have crossed the wire at `baudrate` (bits_per_char per byte) plus the device's turnaround,
so a 19200-baud bus really carries about 40 short transactions per second. A request that
follows the previous reply closer than t3.5 is a gap violation: counted, and ignored when
`strict_gap` is set (as slow real devices do).

Faults (settable at any time): `corrupt_rate` (replies with a broken CRC), `drop_rate`
(replies that never come), per unit `slow_s` (extra turnaround) and `dead` (silent), and the
adapter unplugged (the transport goes away). Random draws come from the line's own seeded RNG
so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Protocol

from . import rtu
from .transport import Transport

log = logging.getLogger("heatkeeper.sim.line")

# OS scheduling jitter on a pty or socket is far above t3.5 at any baud rate; partial frames
# are flushed after this much silence instead (content framing does the real work).
SILENCE_FLUSH_S = 0.05


class Slave(Protocol):
    """What a line needs from a simulated device."""

    name: str
    unit_id: int

    def handle(self, request: rtu.Request) -> bytes | None: ...


class VirtualLine:
    """A simulated RS-485 segment with its devices, its timing and its faults."""

    def __init__(self, name: str, transport: Transport, baudrate: int = 19200, bits_per_char: int = 11,
                 throttle: bool = True, turnaround_s: float = 0.004, strict_gap: bool = False,
                 seed: int = 0) -> None:
        self.name = name
        self.transport = transport
        self.baudrate = baudrate
        self.bits_per_char = bits_per_char
        self.throttle = throttle
        self.turnaround_s = turnaround_s
        self.strict_gap = strict_gap
        self.devices: dict[int, Slave] = {}
        self.corrupt_rate = 0.0
        self.drop_rate = 0.0
        self.slow_s: dict[int, float] = {}
        self.dead: set[int] = set()
        self._rng = random.Random(seed)
        self._framer = rtu.RequestFramer()
        self._queue: asyncio.Queue[tuple[rtu.Request, float]] = asyncio.Queue(maxsize=64)
        self._flush_handle: asyncio.TimerHandle | None = None
        self._worker: asyncio.Task[None] | None = None
        self._last_tx_end = 0.0
        self.stats = {"requests": 0, "replies": 0, "exceptions": 0, "crc_errors": 0, "no_device": 0,
                      "dead_silent": 0, "dropped": 0, "corrupted": 0, "gap_violations": 0, "overruns": 0,
                      "broadcasts": 0}

    # --- configuration ----------------------------------------------------------------------
    def add(self, device: Slave) -> None:
        if not 1 <= device.unit_id <= 247:
            raise ValueError("device %s: unit_id=%r must be in [1, 247]" % (device.name, device.unit_id))
        if device.unit_id in self.devices:
            raise ValueError("line %s: unit_id %d used by %s and %s" % (
                self.name, device.unit_id, self.devices[device.unit_id].name, device.name))
        self.devices[device.unit_id] = device

    @property
    def t_char_s(self) -> float:
        return rtu.char_time_s(self.baudrate, self.bits_per_char)

    @property
    def t35_s(self) -> float:
        return rtu.t35_s(self.baudrate, self.bits_per_char)

    # --- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.transport.start(self._on_data)
        self._worker = asyncio.create_task(self._serve(), name="line-" + self.name)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        await self.transport.unplug()

    async def unplug(self) -> None:
        """The adapter is pulled out: the port disappears, pending requests are lost."""
        await self.transport.unplug()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._framer.gap()

    async def plug(self) -> None:
        await self.transport.plug()

    # --- receive side -------------------------------------------------------------------------
    def _on_data(self, data: bytes) -> None:
        now = time.monotonic()
        for request in self._framer.feed(data):
            self._enqueue(request, now)
        self.stats["crc_errors"] = self._framer.crc_errors
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._framer.pending():
            self._flush_handle = asyncio.get_running_loop().call_later(SILENCE_FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        request = self._framer.gap()
        self.stats["crc_errors"] = self._framer.crc_errors
        if request is not None:
            self._enqueue(request, time.monotonic())

    def _enqueue(self, request: rtu.Request, arrived_s: float) -> None:
        if arrived_s - self._last_tx_end < self.t35_s:
            self.stats["gap_violations"] += 1
            if self.strict_gap:
                return
        try:
            self._queue.put_nowait((request, arrived_s))
        except asyncio.QueueFull:
            self.stats["overruns"] += 1

    # --- answer side ---------------------------------------------------------------------------
    async def _serve(self) -> None:
        while True:
            request, arrived_s = await self._queue.get()
            self.stats["requests"] += 1
            reply = self._dispatch(request)
            if reply is None:
                continue
            delay_s = self.turnaround_s + self.slow_s.get(request.unit_id, 0.0)
            if self.throttle:
                delay_s += (len(request.raw) + len(reply)) * self.t_char_s
            wait_s = arrived_s + delay_s - time.monotonic()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            if self.drop_rate > 0 and self._rng.random() < self.drop_rate:
                self.stats["dropped"] += 1
                continue
            if self.corrupt_rate > 0 and self._rng.random() < self.corrupt_rate:
                self.stats["corrupted"] += 1
                reply = rtu.corrupt(reply)
            self.transport.write(reply)
            self._last_tx_end = time.monotonic()
            self.stats["replies"] += 1

    def _dispatch(self, request: rtu.Request) -> bytes | None:
        if request.unit_id == 0:
            # Broadcast: writes reach every device, nobody answers (spec 2.1).
            self.stats["broadcasts"] += 1
            if request.function_code in (rtu.FC_WRITE_SINGLE, rtu.FC_WRITE_MULTIPLE):
                for unit, device in self.devices.items():
                    if unit not in self.dead:
                        device.handle(request)
            return None
        target = self.devices.get(request.unit_id)
        if target is None:
            self.stats["no_device"] += 1
            return None
        if request.unit_id in self.dead:
            self.stats["dead_silent"] += 1
            return None
        reply = target.handle(request)
        if reply is not None and len(reply) >= 2 and reply[1] & 0x80:
            self.stats["exceptions"] += 1
        return reply

    def snapshot(self) -> dict[str, object]:
        """Line state for the control channel."""
        return {"name": self.name, "transport": self.transport.describe(), "plugged": self.transport.plugged,
                "baudrate": self.baudrate, "throttle": self.throttle, "corrupt_rate": self.corrupt_rate,
                "drop_rate": self.drop_rate, "dead": sorted(self.dead),
                "slow_s": {str(k): v for k, v in sorted(self.slow_s.items())},
                "devices": {str(k): d.name for k, d in sorted(self.devices.items())}, "stats": dict(self.stats)}
