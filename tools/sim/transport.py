"""Byte transports for a simulated RS-485 line: a pseudo-terminal, a real serial port, or
RTU framing over TCP (what a transparent RS-485/Ethernet gateway speaks).

Each transport delivers received bytes to a callback and writes replies; `unplug()` and
`plug()` emulate pulling the USB adapter out and putting it back: the pty disappears (the
station's port path dangles, its open fd gets EIO), the TCP listener closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections.abc import Callable
from typing import Any

OnData = Callable[[bytes], None]


class TransportError(Exception):
    """The simulator could not open its end of the line (our side's fault, with the reason)."""


class Transport:
    """Base class: subclasses open/close the medium; `write` sends one reply frame."""

    kind = "?"

    def __init__(self) -> None:
        self._on_data: OnData | None = None
        self.plugged = False

    async def start(self, on_data: OnData) -> None:
        self._on_data = on_data
        await self.plug()

    async def plug(self) -> None:
        raise NotImplementedError

    async def unplug(self) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind

    def _deliver(self, data: bytes) -> None:
        if self._on_data is not None and data:
            self._on_data(data)


class PtyTransport(Transport):
    """A pty pair; the slave end is published as a symlink at `link_path` for the station.

    The simulator keeps its own fd on the slave end open so the master never reads EIO while
    the station has the port closed (between reconnects).
    """

    kind = "pty"

    def __init__(self, link_path: str) -> None:
        super().__init__()
        self.link_path = link_path
        self._master = -1
        self._slave = -1
        self.tty_name = ""

    async def plug(self) -> None:
        if self.plugged:
            return
        parent = os.path.dirname(self.link_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        if os.path.lexists(self.link_path) and not os.path.islink(self.link_path):
            raise TransportError("%s exists and is not a symlink: refusing to replace it" % self.link_path)
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.tty_name = os.ttyname(slave)
        tmp = self.link_path + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(self.tty_name, tmp)
        os.replace(tmp, self.link_path)
        asyncio.get_running_loop().add_reader(master, self._readable)
        self.plugged = True

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return
        self._deliver(data)

    def write(self, data: bytes) -> None:
        if not self.plugged:
            return
        try:
            os.write(self._master, data)
        except OSError:
            pass  # the station side is gone; a real line just loses the reply

    async def unplug(self) -> None:
        if not self.plugged:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        if os.path.islink(self.link_path) and os.readlink(self.link_path) == self.tty_name:
            os.unlink(self.link_path)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1
        self.plugged = False

    def describe(self) -> str:
        return "pty %s -> %s" % (self.link_path, self.tty_name)


class SerialTransport(Transport):
    """A real serial port (the simulator on one RS-485 adapter, the station on another)."""

    kind = "serial"

    def __init__(self, port: str, baudrate: int, parity: str, stopbits: int) -> None:
        super().__init__()
        self.port, self.baudrate, self.parity, self.stopbits = port, baudrate, parity, stopbits
        self._serial: Any = None

    async def plug(self) -> None:
        if self.plugged:
            return
        import serial  # pyserial, installed with pymodbus[serial]

        try:
            self._serial = serial.Serial(self.port, baudrate=self.baudrate, parity=self.parity,
                                         stopbits=self.stopbits, bytesize=8, timeout=0, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError("cannot open serial port %s: %s" % (self.port, exc)) from exc
        asyncio.get_running_loop().add_reader(self._serial.fileno(), self._readable)
        self.plugged = True

    def _readable(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(4096)
        except Exception:  # noqa: BLE001 - pyserial raises SerialException/OSError/TypeError on a vanished port
            return
        self._deliver(data)

    def write(self, data: bytes) -> None:
        if self._serial is not None and self.plugged:
            with contextlib.suppress(OSError):
                self._serial.write(data)

    async def unplug(self) -> None:
        if not self.plugged or self._serial is None:
            return
        asyncio.get_running_loop().remove_reader(self._serial.fileno())
        self._serial.close()
        self._serial = None
        self.plugged = False

    def describe(self) -> str:
        return "serial %s %d %s" % (self.port, self.baudrate, self.parity)


class TcpTransport(Transport):
    """RTU frames over TCP on `host:port` (a transparent gateway). Replies go to the client
    that sent the last request; several clients may connect, one request at a time."""

    kind = "tcp"

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._current: asyncio.StreamWriter | None = None

    async def plug(self) -> None:
        if self.plugged:
            return
        try:
            self._server = await asyncio.start_server(self._client, self.host, self.port, reuse_address=True)
        except OSError as exc:
            raise TransportError("cannot listen on %s:%d: %s" % (self.host, self.port, exc)) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        self.plugged = True

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                self._current = writer
                self._deliver(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def write(self, data: bytes) -> None:
        if self._current is not None and not self._current.is_closing():
            self._current.write(data)

    async def unplug(self) -> None:
        if not self.plugged or self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        self._current = None
        await self._server.wait_closed()
        self._server = None
        self.plugged = False

    def describe(self) -> str:
        return "tcp %s:%d" % (self.host, self.port)
