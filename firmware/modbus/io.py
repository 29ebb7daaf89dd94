"""The process image over Modbus RTU: one owner task per line, reads and writes per cycle.

Rules:
- Each line (BusLine) has one owner task; read and write jobs are queued to it, so only it
  ever talks to the port (and the transport allows one request in flight).
- Writes go first (the runtime calls write_outputs right after the control step) and are
  read back to confirm; an unconfirmed write stays pending and is retried next time.
- High-priority blocks are read every cycle, low-priority ones round-robin
  (`low_blocks_per_cycle` per line per cycle).
- A device that fails a transaction is skipped for the rest of the cycle and backs off.
- `ok` is False for a point whose device is backed off or failed this cycle, whose decode
  hit a sentinel or left its plausible range, or (low priority) whose last good read is
  older than `stale_s`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from heatkeeper.core import signals as S
from heatkeeper.core.device_profiles import PROFILES, decode_point, encode_point

from . import drives
from .config import BusConfig, BusSpec, DeviceSpec
from .health import DeviceHealth
from .plan import ReadBlock, plan_reads, plan_writes
from .transport import DISCONNECTED, LINK_ERRORS, Reply, RtuTransport

log = logging.getLogger("heatkeeper.modbus")


class DeviceState:
    """One device's plan, last values and write bookkeeping."""

    def __init__(self, spec: DeviceSpec, bus: BusSpec):
        self.spec = spec
        self.profile = PROFILES[spec.profile]
        self.health = DeviceHealth(spec.name, spec.bus, spec.unit_id, bus.backoff_base_s, bus.backoff_max_s)
        self.inputs = {sig: pt for sig, pt in spec.points.items() if sig in S.INPUTS}
        self.outputs = {sig: pt for sig, pt in spec.points.items() if sig in S.ACTUATORS}
        self.drive = drives.for_device(spec.name, self.profile, spec.points)  # drive state machine, or None
        drive_points = self.drive.read_points() if self.drive is not None else []
        self.blocks = plan_reads(spec.name, spec.profile, list(self.inputs.values()) + drive_points,
                                 max_registers=bus.max_block_registers, coalesce=bus.coalesce)
        self.values: dict[str, tuple[float, bool, float]] = {}  # point -> (value, ok, read_s)
        self.confirmed: dict[str, list[int]] = {}  # point -> registers confirmed on the device
        self.confirmed_s: dict[str, float] = {}
        self.failed_cycle_s: float | None = None


class BusLine:
    """One RS-485 line: its transport, its devices and the owner task that serialises jobs."""

    def __init__(self, spec: BusSpec, devices: list[DeviceSpec]):
        self.spec = spec
        self.transport = RtuTransport(spec.port, baudrate=spec.baudrate, parity=spec.parity, bytesize=spec.bytesize,
                                      stopbits=spec.stopbits, timeout_s=spec.timeout_s)
        self.devices = [DeviceState(d, spec) for d in devices]
        self.low_blocks = [(dev, blk) for dev in self.devices for blk in dev.blocks if blk.priority == "low"]
        self._rr = 0
        self._jobs: asyncio.Queue[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.silent_cycles = 0
        self.reopens = 0
        self.port_open = True

    async def start(self) -> None:
        """Open the port (failure is not fatal: the line keeps retrying) and start the owner task."""
        await self._ensure_open()
        self._task = asyncio.create_task(self._owner(), name="modbus-%s" % self.spec.name)

    async def _owner(self) -> None:
        while True:
            job, fut = await self._jobs.get()
            if fut.cancelled():
                continue
            try:
                fut.set_result(await job())
            except asyncio.CancelledError:
                fut.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - our bug: hand it to the caller, keep the line alive
                fut.set_exception(exc)

    async def submit(self, job: Callable[[], Awaitable[Any]]) -> Any:
        """Run `job` on the owner task and return its result."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._jobs.put((job, fut))
        return await fut

    async def close(self) -> None:
        """Stop the owner task and close the port."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.transport.close()

    async def _ensure_open(self) -> bool:
        is_open = self.transport.connected or await self.transport.open()
        if is_open != self.port_open:  # log once when the port goes, once when it is back
            self.port_open = is_open
            if is_open:
                log.info("modbus bus %s: port %s open", self.spec.name, self.spec.port)
            else:
                log.warning("modbus bus %s: port %s lost; reopening each cycle", self.spec.name, self.spec.port)
        return is_open

    async def _transact(self, dev: DeviceState, coro: Awaitable[Reply], now_s: float) -> Reply:
        reply = await coro
        dev.health.record(reply, now_s)
        if not reply.ok and reply.error in LINK_ERRORS + (DISCONNECTED,):
            dev.failed_cycle_s = now_s
        return reply

    def _store_block(self, dev: DeviceState, blk: ReadBlock, regs: list[int], now_s: float) -> None:
        for point, offset, width in blk.points:
            value, ok = decode_point(dev.profile, point, regs[offset:offset + width])
            dev.values[point] = (value, ok, now_s)

    async def read_cycle(self, now_s: float) -> None:
        """Read every high block of every available device and this cycle's share of low blocks."""
        if not await self._ensure_open():
            for dev in self.devices:
                dev.failed_cycle_s = now_s
                dev.health.note_error("disconnected: port %s not open" % self.spec.port, now_s)
            return
        chosen_low: set[int] = set()
        if self.low_blocks and self.spec.low_blocks_per_cycle:
            n = len(self.low_blocks)
            for _ in range(min(self.spec.low_blocks_per_cycle, n)):
                chosen_low.add(id(self.low_blocks[self._rr % n][1]))
                self._rr = (self._rr + 1) % n
        attempted = answered = 0
        for dev in self.devices:
            if dev.health.backed_off(now_s):
                continue
            dev.failed_cycle_s = None
            for blk in dev.blocks:
                if blk.priority == "low" and id(blk) not in chosen_low:
                    continue
                attempted += 1
                reply = await self._transact(
                    dev, self.transport.read(dev.spec.unit_id, blk.fc, blk.address, blk.count), now_s)
                if reply.ok:
                    answered += 1
                    self._store_block(dev, blk, reply.registers, now_s)
                    continue
                if reply.error in LINK_ERRORS or reply.error == DISCONNECTED:
                    break  # skip the rest of this device this cycle; back-off decides when to retry
                answered += 1  # exception response: the device is there, these points are not ok
                for point, _off, _w in blk.points:
                    dev.values[point] = (0.0, False, now_s)
        await self._watch_silence(attempted, answered, now_s)

    async def _watch_silence(self, attempted: int, answered: int, now_s: float) -> None:
        # Bus-wide silence (every device failing) for several cycles: the adapter, not the devices.
        if attempted and not answered:
            self.silent_cycles += 1
        elif answered:
            self.silent_cycles = 0
        if self.silent_cycles >= self.spec.reopen_after_cycles:
            self.silent_cycles = 0
            self.reopens += 1
            log.warning("modbus bus %s: no device answered for %d cycles; reopening %s",
                        self.spec.name, self.spec.reopen_after_cycles, self.spec.port)
            await self.transport.reopen()

    async def write_cycle(self, outputs: dict[str, float], now_s: float) -> None:
        """Write changed (or refresh-due) outputs, then read them back to confirm."""
        if not await self._ensure_open():
            return
        for dev in self.devices:
            if dev.health.backed_off(now_s) or not dev.outputs:
                continue
            items: list[tuple[int, list[int]]] = []
            by_address: dict[int, str] = {}
            for sig, point in dev.outputs.items():
                if sig not in outputs or outputs[sig] is None:
                    continue
                try:
                    regs = encode_point(dev.profile, point, float(outputs[sig]))
                except (ValueError, TypeError) as exc:
                    dev.health.write_rejects += 1
                    dev.health.note_error("rejected %s=%r: %s" % (sig, outputs[sig], exc), now_s)
                    continue
                pt = dev.profile["points"][point]
                if dev.drive is not None and point == dev.drive.control_point:
                    # the drive's state machine picks the word from the drive's reported state
                    word = dev.drive.control_regs(float(outputs[sig]) >= 0.5, dev.confirmed.get(point),
                                                  dev.confirmed_s.get(point), now_s, self.spec.refresh_s)
                    if word is None:
                        continue
                    regs = word
                else:
                    fresh = now_s - dev.confirmed_s.get(point, -1e18) < self.spec.refresh_s
                    if dev.confirmed.get(point) == regs and fresh:
                        continue
                address = pt["address"]
                items.append((address, regs))
                by_address[address] = point
            for address, values in plan_writes(items):
                reply = await self._transact(dev, self.transport.write(dev.spec.unit_id, address, values), now_s)
                if not reply.ok:
                    if reply.error in LINK_ERRORS or reply.error == DISCONNECTED:
                        break
                    continue
                dev.health.writes += 1
                back = await self._transact(dev, self.transport.read(dev.spec.unit_id, 3, address, len(values)), now_s)
                if not back.ok:
                    if back.error in LINK_ERRORS or back.error == DISCONNECTED:
                        break
                    continue
                if back.registers != values:
                    dev.health.write_mismatches += 1
                    dev.health.note_error("read-back at %d: wrote %r, device holds %r" % (address, values,
                                                                                         back.registers), now_s)
                    continue
                for addr, regs in items:
                    if address <= addr < address + len(values):
                        point = by_address[addr]
                        dev.confirmed[point] = list(regs)
                        dev.confirmed_s[point] = now_s


class ProcessImageIO:
    """The station's process image over every configured Modbus line.

    io = ProcessImageIO(bus_config); await io.start()
    inputs = await io.read_cycle(now_s)     # {signal: (value, ok)} for every bound input
    await io.write_outputs(outputs)         # actuator values by core.signals name
    io.take_messages()                      # the drives' events and alarms since the last call
    io.drive_telemetry()                    # the drives' state, status flags and resets
    io.health()                             # {device: counters}
    await io.close()
    """

    def __init__(self, bus_config: BusConfig):
        self.config = bus_config
        self.lines = [BusLine(b, bus_config.devices_on(b.name)) for b in bus_config.buses]
        self._now_s = 0.0
        # A drive reports the pump's fault input itself unless another device (a motor-protection
        # contact on an I/O module, say) is wired for it.
        for line in self.lines:
            for dev in line.devices:
                if dev.drive is not None and dev.drive.fault_signal is not None:
                    if any(dev.drive.fault_signal in other.inputs for ln in self.lines for other in ln.devices
                           if other is not dev):
                        dev.drive.fault_signal = None

    async def start(self) -> None:
        """Open every port and start the owner tasks (a port that cannot open is retried)."""
        for line in self.lines:
            await line.start()

    async def read_cycle(self, now_s: float) -> dict[str, tuple[float, bool]]:
        """Poll every line (in parallel across lines) and return the inputs of the process image."""
        self._now_s = now_s
        results = await asyncio.gather(*(line.submit(functools.partial(line.read_cycle, now_s)) for line in self.lines),
                                       return_exceptions=True)
        for line, res in zip(self.lines, results, strict=True):
            if isinstance(res, BaseException):
                self._our_fault(line, "read", res, now_s)
        inputs: dict[str, tuple[float, bool]] = {}
        for line in self.lines:
            for dev in line.devices:
                unavailable = dev.health.backed_off(now_s) or dev.failed_cycle_s == now_s
                for sig, point in dev.inputs.items():
                    value, ok, read_s = dev.values.get(point, (0.0, False, -1e18))
                    if dev.profile["points"][point]["priority"] == "high":
                        fresh = read_s == now_s
                    else:
                        fresh = now_s - read_s <= line.spec.stale_s
                    inputs[sig] = (value, bool(ok and fresh and not unavailable))
                if dev.drive is not None:
                    dev.drive.observe(dev.values, now_s, not unavailable)
                    inputs.update(dev.drive.inputs())
        return inputs

    async def write_outputs(self, outputs: dict[str, Any], now_s: float | None = None) -> None:
        """Write changed outputs (and a periodic refresh) to the devices bound to them."""
        when = self._now_s if now_s is None else now_s
        results = await asyncio.gather(
            *(line.submit(functools.partial(line.write_cycle, outputs, when)) for line in self.lines),
            return_exceptions=True)
        for line, res in zip(self.lines, results, strict=True):
            if isinstance(res, BaseException):
                self._our_fault(line, "write", res, when)

    def _our_fault(self, line: BusLine, what: str, exc: BaseException, now_s: float) -> None:
        # A bug in this layer must not stop the control cycle: the line's values go not-ok
        # and the error is logged with its traceback and kept in every device's last_error.
        if isinstance(exc, asyncio.CancelledError):
            raise exc
        log.error("modbus bus %s: %s cycle failed (internal error)", line.spec.name, what, exc_info=exc)
        for dev in line.devices:
            dev.failed_cycle_s = now_s
            dev.health.note_error("internal: %s: %s" % (type(exc).__name__, exc), now_s)

    def drive_telemetry(self) -> dict[str, Any]:
        """Flat telemetry fields of every drive (state, status flags, resets)."""
        values: dict[str, Any] = {}
        for line in self.lines:
            for dev in line.devices:
                if dev.drive is not None:
                    values.update(dev.drive.telemetry())
        return values

    def take_messages(self) -> list[tuple[str, dict]]:
        """Events and alarms the drives raised since the last call: [(kind, body)]."""
        out: list[tuple[str, dict]] = []
        for line in self.lines:
            for dev in line.devices:
                if dev.drive is not None:
                    out.extend(dev.drive.take_messages())
        return out

    def health(self) -> dict[str, dict]:
        """Per-device counters, last error and back-off state (JSON-safe)."""
        out: dict[str, dict] = {}
        for line in self.lines:
            for dev in line.devices:
                item = dev.health.as_dict(self._now_s)
                item["bus_connected"] = line.transport.connected
                item["bus_reopens"] = line.reopens
                out[dev.spec.name] = item
        return out

    async def close(self) -> None:
        """Stop every line and close the ports."""
        for line in self.lines:
            await line.close()


def monotonic_s() -> float:
    """The monotonic clock the runtime passes as now_s."""
    return time.monotonic()
