"""One RS-485 line: a pymodbus RTU client behind a gap-enforcing, error-classifying shell.

Invariants:
- one request in flight (an asyncio.Lock around every transaction);
- at least t3.5 of silence between the end of one transaction and the next request
  (pymodbus 3.16 sends back-to-back);
- every outcome is a `Reply`, never an exception: exception responses (returned by pymodbus
  with isError()) and timeouts / CRC / framing / disconnects (raised by pymodbus) are
  classified here. Only cancellation and our own bugs propagate.
- a reply is data only when its function code is the request's (an FC4 answer to an FC3
  request is FRAMING, as is a register count other than the one asked for).
- pymodbus' own logging (a frame dump on every timeout) is silenced; callers report.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import termios
import time
from dataclasses import dataclass, field

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException

from .timing import crc_ok, t35_s

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
log = logging.getLogger("heatkeeper.modbus")


def _is_pty(port: str) -> bool:
    """True for a pseudo-terminal (Unix98 /dev/pts/N), also behind a symlink."""
    try:
        return os.path.realpath(port).startswith("/dev/pts/")
    except (OSError, ValueError):
        return False


def open_problem(port: str, exc: BaseException | None = None) -> str:
    """Why a serial port did not open, as a person at the box can act on it: the system's own
    reason for a device path (no such device, no permission: the station's user needs the
    `dialout` group, busy), else the error pymodbus gave, else that the driver refused it."""
    if "://" not in port:
        try:
            fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as err:
            reason = err.strerror or str(err)
            if err.errno == errno.EACCES:
                reason += ": the station's user needs read-write access (the dialout group)"
            elif err.errno == errno.ENOENT:
                reason += ": is the adapter plugged in? (ls /dev/serial/by-id/)"
            return reason
        except ValueError:  # a NUL in the name
            return "not a device path"
        os.close(fd)
    if exc is not None:
        return "%s: %s" % (type(exc).__name__, exc)
    return "the serial driver refused it (settings: baud rate, parity, stop bits)"


# Reply.error values
TIMEOUT = "timeout"
CRC = "crc"
FRAMING = "framing"
EXCEPTION = "exception"
DISCONNECTED = "disconnected"
LINK_ERRORS = (TIMEOUT, CRC, FRAMING)  # the device did not answer usably: counts toward back-off


@dataclass
class Reply:
    """Outcome of one transaction. `error` is None when ok."""

    ok: bool
    registers: list[int] = field(default_factory=list)
    error: str | None = None
    exception_code: int | None = None
    detail: str = ""
    latency_s: float = 0.0


def classify_garbage(rx: bytes, unit_id: int, fc: int) -> tuple[str, str]:
    """Why bytes that pymodbus did not accept failed: (CRC | FRAMING, detail)."""
    if len(rx) >= 2 and rx[0] == unit_id and rx[1] in (fc, fc | 0x80):
        if rx[1] & 0x80:
            need = 5
        elif fc in (3, 4):
            need = 5 + rx[2] if len(rx) >= 3 else 1 << 16
        else:
            need = 8
        if len(rx) >= need:
            if not crc_ok(rx[:need]):
                return CRC, "CRC mismatch in %d-byte reply" % need
            return FRAMING, "reply of %d bytes not accepted" % len(rx)
        return FRAMING, "truncated reply: %d of %d bytes" % (len(rx), need)
    return FRAMING, "unexpected bytes: %s" % rx[:16].hex()


class RtuTransport:
    """Owner of one serial line (device path, pty, or pyserial URL such as socket://h:p)."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 19200,
        parity: str = "N",
        bytesize: int = 8,
        stopbits: int = 1,
        timeout_s: float = 0.3,
        bits_per_char: int | None = None,
        enforce_gap: bool = True,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        bits = bits_per_char if bits_per_char is not None else 1 + bytesize + (0 if parity == "N" else 1) + stopbits
        self.bits_per_char = max(bits, 10)
        self.gap_s = t35_s(baudrate, self.bits_per_char) if enforce_gap else 0.0
        self._rx = b""
        self.parity = parity
        self._serial = {"baudrate": baudrate, "bytesize": bytesize, "stopbits": stopbits}
        self.client = self._make_client(parity)
        self._lock = asyncio.Lock()
        self._last_end = 0.0
        self.transactions = 0
        self.open_error = ""  # why the last open() failed (open_problem), "" after one that worked

    def _make_client(self, parity: str) -> AsyncModbusSerialClient:
        client = AsyncModbusSerialClient(
            self.port,
            framer=FramerType.RTU,
            parity=parity,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0.5,
            reconnect_delay_max=10.0,
            trace_packet=self._trace_packet,
            **self._serial,  # type: ignore[arg-type]
        )
        client.set_max_no_responses(1 << 30)  # a silent device must never close a serial line
        return client

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._rx = bytes(data)
        return data

    @property
    def connected(self) -> bool:
        """True while the port is open."""
        return bool(self.client.connected)

    async def open(self) -> bool:
        """Open the port; False (never raises) when it cannot be opened now, with the reason
        in `open_error`.

        A pseudo-terminal (the simulators' virtual line) carries no parity bit, and Linux may
        refuse even or odd parity on one (termios EINVAL): there the line is opened without
        parity, which is the same thing on a pty. A real serial port keeps what it was given.
        """
        if self.parity != "N" and _is_pty(self.port):
            log.info("modbus port %s is a pty, which carries no parity bit: opened without parity %s", self.port,
                     self.parity)
            self.parity = "N"
            self.client.close()
            self.client = self._make_client("N")
        try:
            if await self.client.connect():
                self.open_error = ""
                return True
            self.open_error = open_problem(self.port)
        except (OSError, ModbusException, termios.error) as exc:
            self.open_error = open_problem(self.port, exc)
        return False

    def close(self) -> None:
        """Close the port (pymodbus stops reconnecting)."""
        self.client.close()

    async def reopen(self) -> bool:
        """Close and open again: recovery after a bus-wide failure."""
        self.close()
        await asyncio.sleep(0)
        return await self.open()

    async def _wait_gap(self) -> None:
        due = self._last_end + self.gap_s
        wait = due - time.monotonic()
        if wait <= 0:
            return
        # The event loop's timer is millisecond-coarse: sleep most of it, spin the rest.
        if wait > 0.0015:
            await asyncio.sleep(wait - 0.0012)
        while time.monotonic() < due:
            await asyncio.sleep(0)

    async def read(self, unit_id: int, fc: int, address: int, count: int) -> Reply:
        """Read `count` registers with FC3 (holding) or FC4 (input)."""
        if fc == 3:
            return await self._call(unit_id, 3, self.client.read_holding_registers, address, count=count, device_id=unit_id)
        if fc == 4:
            return await self._call(unit_id, 4, self.client.read_input_registers, address, count=count, device_id=unit_id)
        raise ValueError("fc=%r: must be 3 or 4" % fc)

    async def write(self, unit_id: int, address: int, values: list[int]) -> Reply:
        """Write holding registers: FC6 for one, FC16 for several."""
        if len(values) == 1:
            return await self._call(unit_id, 6, self.client.write_register, address, values[0], device_id=unit_id)
        return await self._call(unit_id, 16, self.client.write_registers, address, list(values), device_id=unit_id)

    async def _call(self, unit_id: int, fc: int, fn, *args, **kwargs) -> Reply:  # type: ignore[no-untyped-def]
        async with self._lock:
            await self._wait_gap()
            self._rx = b""
            t0 = time.monotonic()
            try:
                if not self.client.connected:
                    raise ConnectionException("port %s not open" % self.port)
                rr = await fn(*args, **kwargs)
            except ConnectionException as exc:
                return Reply(False, error=DISCONNECTED, detail=str(exc)[:200], latency_s=time.monotonic() - t0)
            except (ModbusException, OSError) as exc:
                if self._rx:
                    kind, detail = classify_garbage(self._rx, unit_id, fc)
                else:
                    kind, detail = TIMEOUT, "no reply within %.3f s" % self.timeout_s
                if isinstance(exc, OSError):
                    kind, detail = DISCONNECTED, "%s: %s" % (type(exc).__name__, exc)
                return Reply(False, error=kind, detail=detail, latency_s=time.monotonic() - t0)
            finally:
                self._last_end = time.monotonic()
                self.transactions += 1
            latency = self._last_end - t0
            got_fc = int(getattr(rr, "function_code", 0) or 0)
            if got_fc & 0x7F != fc:
                # a reply to another request (or a device confused about what it was asked):
                # its registers mean something else, so it is a framing error, never data
                return Reply(False, error=FRAMING, detail="asked function code %d, reply has %d" % (fc, got_fc),
                             latency_s=latency)
            if rr.isError():
                code = int(getattr(rr, "exception_code", 0) or 0)
                return Reply(False, error=EXCEPTION, exception_code=code, detail="exception code %d" % code,
                             latency_s=latency)
            regs = [int(r) for r in (getattr(rr, "registers", None) or [])]
            if fc in (3, 4) and len(regs) != kwargs.get("count"):
                return Reply(False, error=FRAMING, detail="asked %s registers, got %d" % (kwargs.get("count"), len(regs)),
                             latency_s=latency)
            return Reply(True, registers=regs, latency_s=latency)
