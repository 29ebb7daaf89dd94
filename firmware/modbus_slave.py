"""Modbus TCP slave for a local HMI/SCADA: the station's values and its local settings.

Served by pymodbus' ModbusTcpServer (127.0.0.1 by default). Block-structured map in the
ECL120/Samson style; float32 values take two registers, high word first (big-endian word
and byte order, "ABCD"); a value that is not available reads as NaN (0x7FC0 0x0000).

Input registers (FC4), read-only:

| address | content                                   | type                                 |
|---------|-------------------------------------------|--------------------------------------|
| 0       | map version (1)                           | uint16                               |
| 1       | mode (core.modes number)                  | uint16                               |
| 2       | listed alarms (any state)                 | uint16                               |
| 3       | uplink connected                          | uint16 0/1                           |
| 4-5     | control cycles since start                | uint32                               |
| 6-7     | outbox fill                               | float32 %                            |
| 8-9     | cycle overruns                            | uint32                               |
| 10-17   | alarm bitfield: bit i%16 of word 10+i//16 = core.alarms.CODES[i] listed | uint16 x 8 |
| 18-19   | sensor ok bits: bit i = core.signals.INPUTS[i] ok | uint32                       |
| 100+2i  | core.signals.INPUTS[i] (outdoor_temp_c, ...) | float32, engineering unit of the name |
| 200-201 | supply_setpoint_c (final, after limiters) | float32 degC                          |
| 300+2i  | core.signals.ACTUATORS[i] (valve_cmd_pct, ...) | float32                          |

Holding registers (FC3 read, FC16 write; float32 settings must be written as whole pairs):

| address | setting               | command sent to the controller (source "local")     |
|---------|-----------------------|-----------------------------------------------------|
| 0-1     | room_setpoint_c       | set_room_setpoint {room_setpoint_c, lease_s}        |
| 2-3     | supply_setpoint_c     | set_supply_setpoint {supply_setpoint_c, lease_s}    |
| 4-5     | dp_setpoint_kpa       | set_dp_setpoint {dp_setpoint_kpa, lease_s}          |
| 6-7     | pressure_setpoint_kpa | set_makeup_pressure {pressure_setpoint_kpa, lease_s}|
| 8-9     | valve_pct             | set_valve_manual {valve_pct}                        |
| 10-11   | boost_k               | boost {boost_k, duration_s = lease_s}               |
| 12-13   | lease_s for the above | none (kept here), [60, 86400] s                     |
| 14      | mode (0 auto, 1 manual, 2 remote, 3 safe, 4 summer, 5 startup) | set_mode {mode} |
| 15      | acknowledge alarm: write index i of core.alarms.CODES | ack_alarm {code}    |
| 16      | write 1: clear all leases | clear_lease {what: "all"}                       |

Access (M13: the port is a control surface). Read-only unless `[modbus_slave] writes_enabled =
true`: a write while disabled, or with a coil function (FC5/FC15: there are no coils), answers
exception 1 (ILLEGAL FUNCTION) and changes nothing. `allow_from` (IP addresses or CIDR
networks; empty = any address that reaches the bound interface) is checked when a client
connects: any other address is disconnected at once, before it can read or write. Every refusal
counts, raises the warning alarm `local_write_refused` (cleared after REFUSAL_ALARM_CLEAR_S
without one) and an event `local_write_refused` with its reason (`writes_disabled`,
`write_function_refused`, `address_not_allowed`), at most one event per reason per
REFUSAL_REPORT_S (the next one says how many were suppressed).

A write goes through `StationController.handle_command` exactly like a remote command; a
rejected one answers exception 3 (ILLEGAL DATA VALUE) and is journalled with its reason; a
write covering half a float answers exception 2 (ILLEGAL DATA ADDRESS). A write over several
settings applies them in address order and stops at the first rejection. Holding registers
read back the last value accepted here (NaN before the first write); mode reads the current mode.
"""

from __future__ import annotations

import collections
import logging
import math
import struct
import time
from typing import Any

from heatkeeper.core import alarms, codec
from heatkeeper.core import signals as S
from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from .address_filter import AddressFilter
from .config import SlaveSection
from .lean_import import hidden

with hidden("aiohttp"):  # pymodbus.server would load aiohttp for its HTTP simulator (see lean_import)
    from pymodbus.server import ModbusTcpServer
    from pymodbus.server.requesthandler import ServerRequestHandler

log = logging.getLogger("heatkeeper.modbus_slave")

MAP_VERSION = 1
IR_SIZE = 400
HR_SIZE = 20
IR_INPUTS = 100
IR_SETPOINT = 200
IR_OUTPUTS = 300
IR_ALARM_WORDS = 10
N_ALARM_WORDS = 8
NAN_WORDS = (0x7FC0, 0x0000)

# holding float settings: address -> (arg name, command kind)
HR_FLOATS = {
    0: ("room_setpoint_c", "set_room_setpoint"),
    2: ("supply_setpoint_c", "set_supply_setpoint"),
    4: ("dp_setpoint_kpa", "set_dp_setpoint"),
    6: ("pressure_setpoint_kpa", "set_makeup_pressure"),
    8: ("valve_pct", "set_valve_manual"),
    10: ("boost_k", "boost"),
}
HR_LEASE = 12
HR_MODE = 14
HR_ACK = 15
HR_CLEAR = 16
MODE_CODES = ("auto", "manual", "remote", "safe", "summer", "startup")
LEASE_RANGE_S = (60.0, 86400.0)
HR_READ_FUNCTIONS = (3, 23)
HR_WRITE_FUNCTIONS = (6, 16, 23)
REFUSAL_REPORT_S = 60.0  # at most one refusal event per reason per this long
REFUSAL_ALARM_CLEAR_S = 600.0  # the refusal alarm clears after this long without a refusal
REFUSAL_ALARM = "local_write_refused"


def float_words(value: Any) -> tuple[int, int]:
    """float32 as (high word, low word); NaN for None or non-finite."""
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return NAN_WORDS
    hi, lo = struct.unpack(">HH", struct.pack(">f", float(value)))
    return hi, lo


def words_float(hi: int, lo: int) -> float:
    """(high word, low word) -> float."""
    return float(struct.unpack(">f", struct.pack(">HH", hi & 0xFFFF, lo & 0xFFFF))[0])


class _GuardedHandler(ServerRequestHandler):
    """pymodbus' per-connection handler, with the address check before anything is served."""

    def connection_made(self, transport: Any) -> None:
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        slave: StationSlave = self.server.slave
        if not slave.access.allows(host):
            transport.abort()
            if self.listener is not None:  # never served: pymodbus would not forget it by itself
                self.listener.active_connections.pop(self.unique_id, None)
            slave.refuse_connection(host)
            return
        super().connection_made(transport)


class _GuardedTcpServer(ModbusTcpServer):
    """ModbusTcpServer whose connections pass StationSlave.access first."""

    slave: StationSlave

    def callback_new_connection(self) -> ServerRequestHandler:
        return _GuardedHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class StationSlave:
    """The Modbus TCP slave of one station (see the module docstring for the map)."""

    def __init__(self, station: Any, cfg: SlaveSection) -> None:
        self.station, self.cfg = station, cfg
        self.ir = [0] * IR_SIZE
        self.hr = [0] * HR_SIZE
        self.alarm_codes = tuple(alarms.CODES)
        for addr in HR_FLOATS:
            self.hr[addr], self.hr[addr + 1] = NAN_WORDS
        self.hr[HR_LEASE], self.hr[HR_LEASE + 1] = float_words(cfg.local_lease_s)
        self.hr[HR_MODE] = 0
        self.hr[HR_ACK] = 0xFFFF
        self.lease_s = cfg.local_lease_s
        self.writes_ok = 0
        self.writes_rejected = 0
        self.access = AddressFilter(cfg.allow_from)
        self.writes_refused = 0
        self.connections_refused = 0
        self._reported_s: dict[str, float] = {}
        self._suppressed: collections.Counter[str] = collections.Counter()
        self._last_refusal_s = 0.0
        self.refusal_alarm = False
        self.ir[0] = MAP_VERSION
        for i in range(len(S.INPUTS)):
            self.ir[IR_INPUTS + 2 * i], self.ir[IR_INPUTS + 2 * i + 1] = NAN_WORDS
        self.ir[IR_SETPOINT], self.ir[IR_SETPOINT + 1] = NAN_WORDS
        for i in range(len(S.ACTUATORS)):
            self.ir[IR_OUTPUTS + 2 * i], self.ir[IR_OUTPUTS + 2 * i + 1] = NAN_WORDS
        device = SimDevice(
            id=cfg.unit_id,
            simdata=([SimData(0, count=1, values=False, datatype=DataType.BITS)],
                     [SimData(0, count=1, values=False, datatype=DataType.BITS)],
                     [SimData(0, count=HR_SIZE, values=0, datatype=DataType.REGISTERS)],
                     [SimData(0, count=IR_SIZE, values=0, datatype=DataType.REGISTERS)]),
            action=self._action,
        )
        self.server = _GuardedTcpServer(device, address=(cfg.host, cfg.port))
        self.server.slave = self

    async def start(self) -> None:
        """Listen (returns once the socket is bound)."""
        await self.server.serve_forever(background=True)
        log.info("Modbus TCP slave on %s:%d unit %d, %s, clients from %s", self.cfg.host, self.cfg.port,
                 self.cfg.unit_id, "writes enabled" if self.cfg.writes_enabled else "read-only",
                 ", ".join(self.cfg.allow_from) or "any address")

    async def stop(self) -> None:
        """Close the listener and its connections."""
        await self.server.shutdown()

    # --- station -> registers -----------------------------------------------------------------
    def update(self, inputs: dict, out: dict) -> None:
        """Refresh the input registers from one cycle (called by the runtime after each cycle)."""
        ir = self.ir
        st = self.station
        mode = out.get(S.MODE)
        ir[1] = mode if isinstance(mode, int) and 0 <= mode <= 0xFFFF else 0xFFFF
        alarms = out.get(S.ALARMS) or []
        ir[2] = min(len(alarms), 0xFFFF)
        ir[3] = 1 if (st.uplink is not None and st.uplink.connected) else 0
        cycles = st.cycles & 0xFFFFFFFF
        ir[4], ir[5] = cycles >> 16, cycles & 0xFFFF
        ir[6], ir[7] = float_words(st.outbox.stats()["outbox_fill_pct"])
        overruns = st.overruns & 0xFFFFFFFF
        ir[8], ir[9] = overruns >> 16, overruns & 0xFFFF
        words = [0] * N_ALARM_WORDS
        for alarm in alarms:
            code = alarm.get("code") if isinstance(alarm, dict) else None
            if code in self.alarm_codes:
                i = self.alarm_codes.index(code)
                if i < 16 * N_ALARM_WORDS:
                    words[i // 16] |= 1 << (i % 16)
        ir[IR_ALARM_WORDS:IR_ALARM_WORDS + N_ALARM_WORDS] = words
        ok_bits = 0
        for i, name in enumerate(S.INPUTS):
            item = inputs.get(name)
            value = item[0] if isinstance(item, tuple) and len(item) == 2 and bool(item[1]) else None
            if value is not None:
                ok_bits |= 1 << i
            ir[IR_INPUTS + 2 * i], ir[IR_INPUTS + 2 * i + 1] = float_words(value)
        ir[18], ir[19] = (ok_bits >> 16) & 0xFFFF, ok_bits & 0xFFFF
        ir[IR_SETPOINT], ir[IR_SETPOINT + 1] = float_words(out.get(S.SUPPLY_SETPOINT_C))
        for i, name in enumerate(S.ACTUATORS):
            ir[IR_OUTPUTS + 2 * i], ir[IR_OUTPUTS + 2 * i + 1] = float_words(out.get(name))
        name = str(out.get(S.MODE_NAME, ""))
        self.hr[HR_MODE] = MODE_CODES.index("startup") if name.startswith("startup") else (
            MODE_CODES.index(name) if name in MODE_CODES else 0xFFFF)
        if self.refusal_alarm and time.monotonic() - self._last_refusal_s >= REFUSAL_ALARM_CLEAR_S:
            self.refusal_alarm = False
            self.station.emit(codec.UP_ALARM, {"code": REFUSAL_ALARM, "severity": "warning", "state": "cleared",
                                               "text": "no refused local write or connection for %.0f s"
                                               % REFUSAL_ALARM_CLEAR_S})

    # --- refusals -----------------------------------------------------------------------------
    def refuse_connection(self, host: str) -> None:
        """A client from outside allow_from was disconnected (called by the connection handler)."""
        self.connections_refused += 1
        self._refusal("address_not_allowed", "connection from %s refused: not in [modbus_slave] allow_from (%s)"
                      % (host or "an unknown address", ", ".join(self.cfg.allow_from)), host)

    def _refuse_write(self, reason: str, detail: str) -> ExcCodes:
        self.writes_refused += 1
        self._refusal(reason, detail, "")
        return ExcCodes.ILLEGAL_FUNCTION

    def _refusal(self, reason: str, detail: str, peer: str) -> None:
        """Alarm (once per episode) and event (at most one per reason per REFUSAL_REPORT_S)."""
        now_s = time.monotonic()
        self._last_refusal_s = now_s
        if not self.refusal_alarm:
            self.refusal_alarm = True
            self.station.emit(codec.UP_ALARM, {"code": REFUSAL_ALARM, "severity": "warning", "state": "active",
                                               "text": detail})
        last = self._reported_s.get(reason)
        if last is not None and now_s - last < REFUSAL_REPORT_S:
            self._suppressed[reason] += 1
            return
        self._reported_s[reason] = now_s
        suppressed = self._suppressed.pop(reason, 0)
        log.warning("local panel: %s%s", detail, " (%d more since the last report)" % suppressed if suppressed else "")
        self.station.emit(codec.UP_EVENT, {"kind": REFUSAL_ALARM, "reason": reason, "detail": detail, "peer": peer,
                                           "suppressed": suppressed})

    # --- pymodbus hook ------------------------------------------------------------------------
    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        if function_code == 4:
            registers[address - start_address:address - start_address + count] = self.ir[address:address + count]
            return None
        if set_values is None:
            if function_code in HR_READ_FUNCTIONS:
                registers[address - start_address:address - start_address + count] = self.hr[address:address + count]
            return None
        if function_code not in HR_WRITE_FUNCTIONS:
            return self._refuse_write("write_function_refused", "function code %d refused: this slave has no coils; "
                                      "settings are holding registers (FC6/FC16)" % function_code)
        if not self.cfg.writes_enabled:
            return self._refuse_write("writes_disabled", "write of %d register(s) at %d refused: the local panel is "
                                      "read-only ([modbus_slave] writes_enabled = false)" % (len(set_values), address))
        values = [int(v) for v in set_values]
        result = self.write(address, values)
        if result is None:
            registers[0:HR_SIZE] = self.hr[0:HR_SIZE]
        return result

    def write(self, address: int, values: list[int]) -> ExcCodes | None:
        """Apply a holding-register write; None when accepted, else the Modbus exception code."""
        end = address + len(values)
        addr = address
        while addr < end:
            if addr in HR_FLOATS or addr == HR_LEASE:
                if addr + 1 >= end:
                    return self._reject(ExcCodes.ILLEGAL_ADDRESS, "write covers half of the float at %d" % addr)
                value = words_float(values[addr - address], values[addr - address + 1])
                problem = self._apply_float(addr, value)
                if problem is not None:
                    return problem
                addr += 2
            elif addr - 1 in HR_FLOATS or addr - 1 == HR_LEASE:
                return self._reject(ExcCodes.ILLEGAL_ADDRESS, "write starts in the middle of the float at %d" % (addr - 1))
            elif addr == HR_MODE:
                code = values[addr - address]
                if code >= len(MODE_CODES):
                    return self._reject(ExcCodes.ILLEGAL_VALUE, "mode code %d: must be 0-%d" % (code, len(MODE_CODES) - 1))
                problem = self._command("set_mode", {"mode": MODE_CODES[code]})
                if problem is not None:
                    return problem
                addr += 1
            elif addr == HR_ACK:
                index = values[addr - address]
                if index >= len(self.alarm_codes):
                    return self._reject(ExcCodes.ILLEGAL_VALUE, "alarm index %d: must be 0-%d" % (index, len(self.alarm_codes) - 1))
                problem = self._command("ack_alarm", {"code": self.alarm_codes[index]})
                if problem is not None:
                    return problem
                addr += 1
            elif addr == HR_CLEAR:
                if values[addr - address] != 1:
                    return self._reject(ExcCodes.ILLEGAL_VALUE, "clear leases: write 1")
                problem = self._command("clear_lease", {"what": "all"})
                if problem is not None:
                    return problem
                addr += 1
            else:
                return self._reject(ExcCodes.ILLEGAL_ADDRESS, "register %d is reserved" % addr)
        return None

    def _apply_float(self, addr: int, value: float) -> ExcCodes | None:
        if addr == HR_LEASE:
            lo, hi = LEASE_RANGE_S
            if not (math.isfinite(value) and lo <= value <= hi):
                return self._reject(ExcCodes.ILLEGAL_VALUE, "lease_s=%r s: must be in [%s, %s]" % (value, lo, hi))
            self.lease_s = value
            self.hr[addr], self.hr[addr + 1] = float_words(value)
            return None
        arg, kind = HR_FLOATS[addr]
        if not math.isfinite(value):
            return self._reject(ExcCodes.ILLEGAL_VALUE, "%s=%r: must be a finite number" % (arg, value))
        args: dict[str, Any] = {arg: value}
        if kind == "boost":
            args["duration_s"] = self.lease_s
        elif kind != "set_valve_manual":
            args["lease_s"] = self.lease_s
        problem = self._command(kind, args)
        if problem is None:
            self.hr[addr], self.hr[addr + 1] = float_words(value)
        return problem

    def _command(self, kind: str, args: dict) -> ExcCodes | None:
        res = self.station.apply_local(kind, args)
        record = {"kind": "local_write", "reason": str(res.get("reason", "")), "result": str(res.get("result", "")),
                  "command": kind, "args": args, "detail": str(res.get("detail", ""))}
        self.station.emit(codec.UP_EVENT, record)
        if res.get("result") == codec.ACK_APPLIED:
            self.writes_ok += 1
            return None
        self.writes_rejected += 1
        log.info("local write %s %s rejected: %s", kind, args, res.get("detail"))
        return ExcCodes.ILLEGAL_VALUE

    def _reject(self, code: ExcCodes, detail: str) -> ExcCodes:
        self.writes_rejected += 1
        self.station.emit(codec.UP_EVENT, {"kind": "local_write", "result": "rejected", "reason": "bad_register_write",
                                           "detail": detail})
        return code
