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
- Every device's diagnostic points (profile `alarm` / `report`) are read whether bound or
  not; their alarms, and the Modbus error alarms, are queued for `take_messages()`.
- A setpoint the device maps into its own range (profile `scaled_by`, Belimo Min/Max) is
  commanded so the device goes where the station means; it is held while the range is unknown.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from heatkeeper.core import codec
from heatkeeper.core import signals as S
from heatkeeper.core.device_profiles import (
    PROFILES,
    decode_point,
    diagnostic_points,
    encode_point,
    setpoint_for_position,
)

from ..branches import branch_key
from . import drives
from .config import BusConfig, BusSpec, DeviceSpec
from .diagnostics import DeviceDiagnostics, Message, field_name
from .health import DeviceHealth
from .plan import ReadBlock, plan_reads, plan_writes
from .transport import DISCONNECTED, EXCEPTION, LINK_ERRORS, Reply, RtuTransport

log = logging.getLogger("heatkeeper.modbus")


class DeviceState:
    """One device's plan, last values and write bookkeeping."""

    def __init__(self, spec: DeviceSpec, bus: BusSpec):
        self.spec = spec
        self.profile = PROFILES[spec.profile]
        self.health = DeviceHealth(spec.name, spec.bus, spec.unit_id, bus.backoff_base_s, bus.backoff_max_s)
        self.inputs = {sig: pt for sig, pt in spec.points.items() if sig in S.INPUTS}
        self.outputs = {sig: pt for sig, pt in spec.points.items() if sig in S.ACTUATORS}
        if spec.branch:  # a building branch valve: its signals go by branch_key(group, signal)
            self.inputs = {branch_key(spec.branch, sig): pt for sig, pt in spec.points.items() if sig in S.BRANCH_INPUTS}
            self.outputs = {branch_key(spec.branch, sig): pt for sig, pt in spec.points.items()
                            if sig in S.BRANCH_ACTUATORS}
        # read too, bound or not: what the device reports about itself, and the range a scaled
        # setpoint is mapped into
        self.watch = diagnostic_points(self.profile)
        for point in self.outputs.values():
            self.watch.extend(self.profile["points"][point].get("scaled_by", []))
        self.drive = drives.for_device(spec.name, self.profile, spec.points)  # drive state machine, or None
        drive_points = self.drive.read_points() if self.drive is not None else []
        self.blocks = plan_reads(spec.name, spec.profile, list(self.inputs.values()) + self.watch + drive_points,
                                 max_registers=bus.max_block_registers, coalesce=bus.coalesce)
        self.diag = DeviceDiagnostics(spec.name, self.profile, log_interval_s=bus.error_log_interval_s,
                                      alarm_after_s=bus.error_alarm_s)
        self.unreachable: dict[str, bool] = {}  # scaled point -> last command was outside the device's range
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
        self.ever_open = False  # opened at least once since start ("lost" then, else "cannot be opened")

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
                log.warning("modbus bus %s: port %s %s (%s); trying again each cycle", self.spec.name, self.spec.port,
                            "lost" if self.ever_open else "cannot be opened", self.transport.open_error)
        if is_open:
            self.ever_open = True
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
            if "alarm" in dev.profile["points"][point]:
                dev.diag.observe(point, value, ok)

    @staticmethod
    def _refused(dev: DeviceState, points: list[str], what: str, reply: Reply, now_s: float, write: bool) -> None:
        # an exception response or a refused write: counted per point, logged rate-limited
        if reply.error != EXCEPTION:
            return
        dev.health.count_points(points, exception=True, write_reject=write)
        if write:
            dev.health.write_rejects += 1
        dev.diag.error("%s %s: exception %s" % (what, "+".join(points), reply.exception_code), now_s)

    async def read_cycle(self, now_s: float) -> None:
        """Read every high block of every available device and this cycle's share of low blocks."""
        if not await self._ensure_open():
            for dev in self.devices:
                dev.failed_cycle_s = now_s
                dev.health.note_error("disconnected: port %s not open (%s)" % (self.spec.port, self.transport.open_error),
                                      now_s)
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
                self._refused(dev, [p for p, _o, _w in blk.points], "read", reply, now_s, write=False)
                for point, _off, _w in blk.points:
                    dev.values[point] = (0.0, False, now_s)
        for dev in self.devices:
            dev.diag.tick(now_s)
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
                    regs = encode_point(dev.profile, point, float(outputs[sig]))  # the station's value, checked
                    if "scaled_by" in dev.profile["points"][point]:
                        setpoint = self._scaled(dev, point, float(outputs[sig]), now_s)
                        if setpoint is None:
                            continue
                        regs = encode_point(dev.profile, point, setpoint)
                except (ValueError, TypeError) as exc:
                    dev.health.write_rejects += 1
                    dev.health.count_points([point], exception=False, write_reject=True)
                    dev.health.note_error("rejected %s=%r: %s" % (sig, outputs[sig], exc), now_s)
                    dev.diag.error("refused %s=%r" % (point, outputs[sig]), now_s)
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
                    written = [by_address[a] for a, _r in items if address <= a < address + len(values)]
                    self._refused(dev, written, "write", reply, now_s, write=True)
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


    @staticmethod
    def _scaled(dev: DeviceState, point: str, position_pct: float, now_s: float) -> float | None:
        """The setpoint that puts the device at `position_pct` within its own [min, max] (None:
        the range is not known, hold the write)."""
        lo_pt, hi_pt = dev.profile["points"][point]["scaled_by"]
        lo, lo_ok, _t = dev.values.get(lo_pt, (0.0, False, 0.0))
        hi, hi_ok, _t = dev.values.get(hi_pt, (0.0, False, 0.0))
        if not (lo_ok and hi_ok):
            dev.health.note_error("%s not written: the device's %s/%s are not known yet" % (point, lo_pt, hi_pt), now_s)
            return None
        setpoint, reachable = setpoint_for_position(position_pct, lo, hi)
        if reachable != (not dev.unreachable.get(point, False)):
            dev.unreachable[point] = not reachable
            body = {"kind": "device_range", "reason": "outside" if not reachable else "inside", "device": dev.spec.name,
                    "point": point, "value": position_pct, "min": lo, "max": hi}
            dev.diag.messages.append((codec.UP_EVENT, body))
            if not reachable:
                log.warning("modbus device %s: %s %.1f %% is outside the device's range [%.1f, %.1f] %%: "
                            "commanding the nearest end", dev.spec.name, point, position_pct, lo, hi)
        return setpoint


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

    def take_messages(self) -> list[Message]:
        """Alarms and events the devices raised since the last call: [(kind, body)], kind
        "alarm" or "event" (core.codec uplink kinds): device diagnostics and the drives' own."""
        out: list[Message] = []
        for line in self.lines:
            for dev in line.devices:
                out.extend(dev.diag.take())
                if dev.drive is not None:
                    out.extend(dev.drive.take_messages())  # resets, state changes, drive alarms
        return out

    def telemetry(self) -> dict[str, float | None]:
        """Flat numeric telemetry: Modbus exception and rejected-write counts (total, per
        device, per point where not zero) and every device's diagnostic points
        (`<device>_<point>`, None while not ok)."""
        values: dict[str, float | None] = {"modbus_exceptions": 0, "modbus_write_rejects": 0}
        for line in self.lines:
            for dev in line.devices:
                name = field_name(dev.spec.name)
                h = dev.health
                exc = sum(h.exceptions.values())
                values["modbus_exceptions"] = (values["modbus_exceptions"] or 0) + exc
                values["modbus_write_rejects"] = (values["modbus_write_rejects"] or 0) + h.write_rejects
                values["%s_modbus_exceptions" % name] = exc
                values["%s_modbus_write_rejects" % name] = h.write_rejects
                for point, n in h.exceptions_by_point.items():
                    values["%s_%s_exceptions" % (name, point)] = n
                for point, n in h.write_rejects_by_point.items():
                    values["%s_%s_write_rejects" % (name, point)] = n
                unavailable = h.backed_off(self._now_s) or dev.failed_cycle_s == self._now_s
                for point in dev.watch:
                    value, ok, read_s = dev.values.get(point, (0.0, False, -1e18))
                    fresh = self._now_s - read_s <= line.spec.stale_s
                    values["%s_%s" % (name, point)] = value if ok and fresh and not unavailable else None
        return values

    def drive_telemetry(self) -> dict[str, Any]:
        """Flat telemetry fields of every drive (state, status flags, resets)."""
        values: dict[str, Any] = {}
        for line in self.lines:
            for dev in line.devices:
                if dev.drive is not None:
                    values.update(dev.drive.telemetry())
        return values

    def health(self) -> dict[str, dict]:
        """Per-device counters, last error and back-off state (JSON-safe)."""
        out: dict[str, dict] = {}
        for line in self.lines:
            for dev in line.devices:
                item = dev.health.as_dict(self._now_s)
                item["bus_connected"] = line.transport.connected
                item["bus_reopens"] = line.reopens
                item["alarms"] = sorted(dev.diag.active)
                out[dev.spec.name] = item
        return out

    async def close(self) -> None:
        """Stop every line and close the ports."""
        for line in self.lines:
            await line.close()


def monotonic_s() -> float:
    """The monotonic clock the runtime passes as now_s."""
    return time.monotonic()
