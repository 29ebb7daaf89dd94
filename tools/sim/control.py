"""The simulator's control channel: a line protocol on a loopback TCP socket.

One command per line, one JSON object per reply line: {"ok": true, ...} or
{"ok": false, "error": "..."}. Commands (LINE may be omitted when there is one line,
DEVICE is a device name from the config):

    help                              the command list
    status                            simulated time, scale, lines, faults
    readings                          the plant's sensor values {signal: value}
    extremes [reset]                  lowest/highest value of every reading over all plant steps
    actuators                         the actuator commands the station has written
    branches                          the branch valves (plant secondary_network) and each group's air
    collectors                        the room collectors' readings [{collector, group, temp_c}]
    device DEVICE                     decoded points and counters of one device
    line [LINE]                       timing, faults and counters of one line
    inject FAULT [VALUE] [k=v ...]    plant fault (heatkeeper.tools.plant): leak M3H, pump_trip 1|2,
                                      stuck_valve, cold_snap DELTA_K [duration_s=S],
                                      primary_supply_drop DELTA_K, open_window GROUP [delta_k=K]
                                      [duration_s=S] [tau_s=S] (a group's monitored flats air out)
    inject sensor_open SIGNAL         sensor wire broken: its point serves the sentinel
    inject actuator_blocked [DEVICE]  the valve sticks and its actuator reports "cannot move"
                                      (Belimo No. 105 b2)
    set DEVICE POINT VALUE            a device's own register, as set at its keypad or by itself:
                                      e.g. set valve max_limit 70, set heat_meter info_code 1000
    inject drive_power_cycle DEVICE [OFF_S]   mains blip on a drive: silent for OFF_S (2 s), then
                                      powered up as the manual says (ABB: switch-on inhibited)
    inject drive_trip DEVICE [code=HEX] [resettable=0|1]   a drive trip (resettable=0: the bus
                                      reset does not clear it; Danfoss: trip lock)
    inject drive_local DEVICE [hand|off]   the drive's panel in local control (Hand/Off)
    inject drive_warning DEVICE | drive_error DEVICE | drive_off2 DEVICE
    clear FAULT | clear sensor_open SIGNAL | clear drive_trip DEVICE (Reset pressed on site) ...
    corrupt [LINE] RATE               fraction of replies with a bad CRC
    drop [LINE] RATE                  fraction of replies never sent
    slow DEVICE SECONDS               extra turnaround of one device (0 to restore)
    dead DEVICE | alive DEVICE        a device stops answering / comes back
    unplug [LINE] | plug [LINE]       the adapter is pulled out / put back
    scale FACTOR                      change the time acceleration
    at T COMMAND ...                  run COMMAND when simulated time reaches T seconds
    stop                              end the simulator

`SimControl` is the matching client, used by the HIL tests and the soak.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("heatkeeper.sim.control")

Handler = Callable[[str], Awaitable[dict[str, Any]]]
MAX_LINE_BYTES = 4096


class ControlServer:
    """Serves `handler(command_line) -> reply dict` on host:port (loopback)."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler, self.host, self.port = handler, host, port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=MAX_LINE_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    writer.write(b'{"ok": false, "error": "line too long"}\n')
                    break
                if not raw:
                    break
                text = raw.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    reply = await self.handler(text)
                except (ValueError, KeyError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


class SimControlError(RuntimeError):
    """The simulator refused a control command (the reply's error text)."""


class SimControl:
    """Blocking client of the control channel (for tests, the soak and scripts)."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        return self._sock

    def command(self, line: str) -> dict[str, Any]:
        """Send one command; return the reply, raising SimControlError when ok is false."""
        sock = self._connect()
        sock.sendall(line.strip().encode() + b"\n")
        while b"\n" not in self._buf:
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                raise ConnectionError("simulator closed the control channel")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(raw)
        if not reply.get("ok"):
            raise SimControlError("%s -> %s" % (line, reply.get("error")))
        return reply

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf = b""
