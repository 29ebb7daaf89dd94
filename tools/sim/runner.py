"""The simulation: the plant in real or accelerated time, the virtual lines and devices that
expose it over Modbus RTU, scheduled and on-demand scenarios, and the room collectors.

Time: the plant advances by (wall seconds elapsed) x time_scale every tick, in steps of at
most MAX_STEP_S simulated seconds, so scheduled scenarios fire at the right simulated time.
Writes from the station reach the plant at once (plant.apply); readings are copied into the
devices' registers after every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import shlex
import time
from typing import Any

from heatkeeper.core import codec
from heatkeeper.core import signals as S
from heatkeeper.firmware.tasks import cancel_and_wait

from . import drives
from .config import parse_hostport
from .control import ControlServer
from .device import SimulatedDevice
from .line import VirtualLine
from .transport import PtyTransport, SerialTransport, TcpTransport, Transport

log = logging.getLogger("heatkeeper.sim")

MAX_STEP_S = 5.0
# The parameter a bare number after `inject FAULT` sets (`inject leak 2.0`).
FAULT_VALUE_PARAM = {
    "leak": "m3h",
    "cold_snap": "delta_k",
    "primary_supply_drop": "delta_k",
    "pump_trip": "pump",
    "open_window": "group",
}
SIM_FAULTS = ("sensor_open",)  # handled at the device (the input module serves its sentinel)


def make_transport(line: dict[str, Any]) -> Transport:
    if line["transport"] == "tcp":
        host, port = parse_hostport(line["port"])
        return TcpTransport(host, port)
    if line["transport"] == "serial":
        return SerialTransport(line["port"], line["baudrate"], line["parity"], line["stopbits"])
    return PtyTransport(line["port"])


class Simulation:
    """Everything `heatkeeper sim` runs; `await run()` until `stop` (control) or `duration_s`."""

    def __init__(self, config: dict[str, Any], plant: Any = None) -> None:
        self.config = config
        self.sim = dict(config["sim"])
        self.time_scale = float(self.sim["time_scale"])
        if plant is None:
            from heatkeeper.tools.plant import Plant  # the plant pulls numpy: only when this runner makes one

            plant = Plant(params=config["plant"] or None, weather=_weather(self.sim), seed=self.sim["seed"])
        self.plant = plant
        self.actuators: dict[str, float] = {name: 0.0 for name in S.ACTUATORS}
        self.lines: dict[str, VirtualLine] = {}
        self.devices: dict[str, SimulatedDevice] = {}
        self._device_line: dict[str, VirtualLine] = {}
        for i, cfg in enumerate(config["lines"]):
            line = VirtualLine(cfg["name"], make_transport(cfg), cfg["baudrate"], cfg["bits_per_char"],
                               cfg["throttle"], cfg["turnaround_s"], cfg["strict_gap"], seed=self.sim["seed"] + i)
            line.corrupt_rate, line.drop_rate = cfg["corrupt_rate"], cfg["drop_rate"]
            self.lines[line.name] = line
        for cfg in config["devices"]:
            branch = cfg.get("branch", "")
            on_write = functools.partial(self._on_branch_write, branch) if branch else self._on_write
            dev = SimulatedDevice(cfg["name"], cfg["unit_id"], cfg["profile"], cfg["points"], on_write, branch)
            dev.now_s = lambda: self.time_s
            self.lines[cfg["bus"]].add(dev)
            self.devices[dev.name] = dev
            self._device_line[dev.name] = self.lines[cfg["bus"]]
        self.schedule: list[tuple[float, str]] = sorted((sc["at_s"], sc["command"]) for sc in config["scenarios"])
        self.faults: dict[str, dict[str, Any]] = {}
        self.mqtt = config.get("mqtt")
        host, port = parse_hostport(self.sim["control"])
        self.control = ControlServer(self.handle, host, port)
        self.stats = {"ticks": 0, "writes": 0, "collector_published": 0, "collector_failed": 0,
                      "scenarios_run": 0, "lag_s": 0.0}
        self.events: list[str] = []
        # Lowest and highest value of every plant reading, checked after every plant step, so
        # an excursion between two polls of the station (or of a test) is still seen.
        self.extremes: dict[str, list[float]] = {}
        self._stop = asyncio.Event()
        self._next_collectors_s = 0.0
        self._collector_batch: list[tuple[str, float]] = []
        self._collector_wakeup = asyncio.Event()
        self.duration_s: float | None = None
        self.epoch_s = time.time()  # wall-clock time of simulated t = 0 (collector timestamps)
        self._refresh()

    @property
    def time_s(self) -> float:
        return float(self.plant.time_s)

    # --- plant coupling ---------------------------------------------------------------------------
    def _on_write(self, signal: str, value: float) -> None:
        self.actuators[signal] = value
        self.stats["writes"] += 1
        self.plant.apply(dict(self.actuators))

    def _on_branch_write(self, group: str, signal: str, value: float) -> None:
        # a building branch valve's setpoint moves the plant's balancing valve of that group
        self.stats["writes"] += 1
        self.plant.set_branch_valve(group, value)

    def _refresh(self) -> None:
        readings = self.plant.readings()
        branches = branch_readings(self.plant, readings) if any(d.branch for d in self.devices.values()) else {}
        for dev in self.devices.values():
            dev.update(branches.get(dev.branch, {}) if dev.branch else readings)

    def advance(self, dt_s: float) -> None:
        """Advance the plant by dt_s simulated seconds, firing due scenarios on the way."""
        target = self.time_s + dt_s
        while True:
            while self.schedule and self.schedule[0][0] <= self.time_s + 1e-9:
                at_s, command = self.schedule.pop(0)
                self.stats["scenarios_run"] += 1
                reply = self._run_sync(command)
                self._note("t=%.0f s scenario %r -> %s" % (at_s, command, "ok" if reply.get("ok") else reply.get("error")))
            remaining = target - self.time_s
            if remaining <= 1e-9:
                break
            step = min(MAX_STEP_S, remaining)
            if self.schedule:
                step = min(step, max(self.schedule[0][0] - self.time_s, 1e-3))
            before = self.time_s
            self.plant.advance(step)
            if self.time_s <= before:
                break  # a plant that did not move must not spin this loop
            self._track(self.plant.readings())
        if self.mqtt is not None and self.time_s >= self._next_collectors_s:
            self._next_collectors_s = self.time_s + self.sim["collector_interval_s"]
            prefix = self.sim.get("collector_prefix", "")
            self._collector_batch = [(prefix + str(cid), float(temp_c))
                                     for cid, _group, temp_c in self.plant.collector_readings()]
            self._collector_wakeup.set()
        self._refresh()

    def _track(self, readings: dict[str, Any]) -> None:
        for name, value in readings.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                continue
            span = self.extremes.get(name)
            if span is None:
                self.extremes[name] = [float(value), float(value)]
            elif value < span[0]:
                span[0] = float(value)
            elif value > span[1]:
                span[1] = float(value)

    def _note(self, text: str) -> None:
        log.info("%s", text)
        self.events.append(text)
        if len(self.events) > 200:
            del self.events[:100]

    # --- life cycle ----------------------------------------------------------------------------------
    async def run(self) -> None:
        self.epoch_s = time.time() - self.time_s
        for line in self.lines.values():
            await line.start()
            log.info("line %s: %s, %d baud, devices %s", line.name, line.transport.describe(), line.baudrate,
                     ", ".join("%d=%s" % (u, d.name) for u, d in sorted(line.devices.items())))
        await self.control.start()
        address = "%s:%d" % (self.control.host, self.control.port)
        log.info("control channel on %s", address)
        if self.sim["control_file"]:
            _write_atomic(self.sim["control_file"], address + "\n")
        tasks = [asyncio.create_task(self._clock(), name="sim-clock")]
        if self.mqtt is not None:
            tasks.append(asyncio.create_task(self._collectors(), name="sim-collectors"))
        try:
            await self._stop.wait()
        finally:
            await cancel_and_wait(tasks)
            await self.control.stop()
            for line in self.lines.values():
                await line.stop()
            if self.sim["control_file"]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.sim["control_file"])

    def stop(self) -> None:
        self._stop.set()

    async def _clock(self) -> None:
        tick_s = self.sim["tick_s"]
        last = time.monotonic()
        while True:
            await asyncio.sleep(tick_s)
            now = time.monotonic()
            dt_s = (now - last) * self.time_scale
            last = now
            self.advance(dt_s)
            self.stats["ticks"] += 1
            self.stats["lag_s"] = round(max(0.0, time.monotonic() - now - tick_s), 4)
            if self.duration_s is not None and self.time_s >= self.duration_s:
                self._note("duration %.0f s reached" % self.duration_s)
                self.stop()
                return

    def _collector_ts(self) -> float:
        if self.sim.get("collector_clock") == "simulated":
            return self.epoch_s + self.time_s
        return time.time()

    async def _collectors(self) -> None:
        """Publish room-collector readings like the collector platforms do (QoS 1, best effort)."""
        import aiomqtt

        assert self.mqtt is not None
        password = None
        if self.mqtt["password_file"]:
            with open(self.mqtt["password_file"]) as fh:
                password = fh.read().strip()
        delay_s = 0.5
        while True:
            try:
                async with aiomqtt.Client(self.mqtt["host"], self.mqtt["port"], username=self.mqtt["username"] or None,
                                          password=password, identifier="heatkeeper-sim-collectors-%d" % os.getpid(),
                                          keepalive=10, timeout=5) as client:
                    delay_s = 0.5
                    while True:
                        await self._collector_wakeup.wait()
                        self._collector_wakeup.clear()
                        batch, self._collector_batch = self._collector_batch, []
                        for cid, temp_c in batch:
                            topic, payload = codec.encode_collector_reading(cid, round(temp_c, 2), self._collector_ts())
                            await client.publish(topic, payload, qos=1)
                            self.stats["collector_published"] += 1
            except aiomqtt.MqttError as exc:
                self.stats["collector_failed"] += 1
                log.debug("collectors: broker unavailable (%s)", exc)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 10.0)

    # --- control commands ------------------------------------------------------------------------------
    async def handle(self, text: str) -> dict[str, Any]:
        """Run one control command (see heatkeeper.tools.sim.control for the grammar)."""
        words = text.split()
        if words and words[0] in ("unplug", "plug"):
            line = self._line(words[1:])
            if words[0] == "unplug":
                await line.unplug()
            else:
                await line.plug()
            self._note("t=%.0f s %s %s" % (self.time_s, words[0], line.name))
            return {"ok": True, "line": line.name, "plugged": line.transport.plugged}
        if words and words[0] == "stop":
            self.stop()
            return {"ok": True}
        return self._run_sync(text)

    def _run_sync(self, text: str) -> dict[str, Any]:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            return {"ok": False, "error": "cannot parse %r: %s" % (text, exc)}
        if not words:
            return {"ok": False, "error": "empty command"}
        cmd, args = words[0], words[1:]
        try:
            return self._dispatch(cmd, args)
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": "%s: %s" % (text, exc)}

    def _dispatch(self, cmd: str, args: list[str]) -> dict[str, Any]:
        if cmd == "help":
            from . import control

            return {"ok": True, "help": control.__doc__}
        if cmd == "status":
            return {"ok": True, "time_s": self.time_s, "epoch_s": self.epoch_s, "time_scale": self.time_scale,
                    "faults": self.faults,
                    "lines": {n: line.snapshot() for n, line in self.lines.items()}, "stats": self.stats,
                    "pending": [{"at_s": t, "command": c} for t, c in self.schedule], "events": self.events[-20:]}
        if cmd == "extremes":
            if args == ["reset"]:
                self.extremes = {}
            elif args:
                raise ValueError("usage: extremes [reset]")
            return {"ok": True, "time_s": self.time_s, "extremes": {k: list(v) for k, v in sorted(self.extremes.items())}}
        if cmd == "readings":
            return {"ok": True, "time_s": self.time_s, "readings": _json_safe(self.plant.readings())}
        if cmd == "actuators":
            return {"ok": True, "time_s": self.time_s, "actuators": dict(self.actuators)}
        if cmd == "branches":  # the secondary network's branch valves (plant param secondary_network)
            return {"ok": True, "time_s": self.time_s, "branches": self.plant.branch_readings(),
                    "room_c": dict(zip(self.plant.group_names, self.plant.room_temps_c, strict=True))}
        if cmd == "collectors":
            return {"ok": True, "time_s": self.time_s,
                    "collectors": [{"collector": cid, "group": group, "temp_c": temp}
                                   for cid, group, temp in self.plant.collector_readings()]}
        if cmd == "device":
            return {"ok": True, "device": self._device(args).snapshot()}
        if cmd == "line":
            return {"ok": True, "line": self._line(args).snapshot()}
        if cmd == "set":
            if len(args) != 3:
                raise ValueError("usage: set DEVICE POINT VALUE")
            dev = self._device(args[:1])
            dev.set_point(args[1], float(args[2]))
            self._note("t=%.0f s set %s %s %s" % (self.time_s, dev.name, args[1], args[2]))
            return {"ok": True, "device": dev.name, "point": args[1], "value": dev.value_of(args[1])[0]}
        if cmd == "inject":
            return self._inject(args)
        if cmd == "clear":
            return self._clear(args)
        if cmd in ("corrupt", "drop"):
            line = self._line(args[:-1])
            rate = float(args[-1]) if args else -1.0
            if not 0.0 <= rate <= 1.0:
                raise ValueError("rate=%r: must be in [0, 1]" % (args[-1] if args else None))
            setattr(line, cmd + "_rate", rate)
            self._note("t=%.0f s %s %s %.3f" % (self.time_s, cmd, line.name, rate))
            return {"ok": True, "line": line.name, cmd + "_rate": rate}
        if cmd == "slow":
            if len(args) != 2:
                raise ValueError("usage: slow DEVICE SECONDS")
            dev = self._device(args[:1])
            seconds = float(args[1])
            if not 0.0 <= seconds <= 60.0:
                raise ValueError("seconds=%r s: must be in [0, 60]" % seconds)
            line = self._device_line[dev.name]
            if seconds:
                line.slow_s[dev.unit_id] = seconds
            else:
                line.slow_s.pop(dev.unit_id, None)
            self._note("t=%.0f s slow %s %.3f s" % (self.time_s, dev.name, seconds))
            return {"ok": True, "device": dev.name, "slow_s": seconds}
        if cmd in ("dead", "alive"):
            dev = self._device(args)
            line = self._device_line[dev.name]
            if cmd == "dead":
                line.dead.add(dev.unit_id)
            else:
                line.dead.discard(dev.unit_id)
            self._note("t=%.0f s %s %s" % (self.time_s, cmd, dev.name))
            return {"ok": True, "device": dev.name, "dead": cmd == "dead"}
        if cmd == "scale":
            factor = float(args[0]) if len(args) == 1 else -1.0
            if not 0.01 <= factor <= 100000.0:
                raise ValueError("scale=%r: must be in [0.01, 100000]" % (args[0] if args else None))
            self.time_scale = factor
            return {"ok": True, "time_scale": factor}
        if cmd == "at":
            if len(args) < 2:
                raise ValueError("usage: at T COMMAND ...")
            at_s = float(args[0])
            self.schedule.append((at_s, shlex.join(args[1:])))
            self.schedule.sort()
            return {"ok": True, "at_s": at_s, "command": shlex.join(args[1:])}
        raise ValueError("unknown command %r (try help)" % cmd)

    def _device(self, args: list[str]) -> SimulatedDevice:
        if len(args) != 1 or args[0] not in self.devices:
            raise ValueError("device must be one of %s" % ", ".join(sorted(self.devices)))
        return self.devices[args[0]]

    def _line(self, args: list[str]) -> VirtualLine:
        if not args and len(self.lines) == 1:
            return next(iter(self.lines.values()))
        if len(args) != 1 or args[0] not in self.lines:
            raise ValueError("line must be one of %s" % ", ".join(sorted(self.lines)))
        return self.lines[args[0]]

    def _inject(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ValueError("usage: inject FAULT [VALUE] [key=value ...]")
        fault, rest = args[0], args[1:]
        if fault == "actuator_blocked":
            return self._blocked(rest, True)
        if fault in drives.FAULTS:
            return self._drive_fault(fault, rest, clear=False)
        if fault == "sensor_open":
            signal = rest[0] if rest else ""
            devs = [d for d in self.devices.values() if signal in d.inputs]
            if not devs:
                raise ValueError("sensor_open: signal=%r is served by no device (served: %s)" % (
                    signal, ", ".join(sorted(s for d in self.devices.values() for s in d.inputs))))
            for d in devs:
                d.open_circuit.add(signal)
            self.faults["sensor_open:" + signal] = {"signal": signal, "since_s": self.time_s}
            self._refresh()
            self._note("t=%.0f s sensor open circuit %s" % (self.time_s, signal))
            return {"ok": True, "fault": "sensor_open", "signal": signal}
        params = _params(fault, rest)
        self.plant.inject(fault, **params)
        self.faults[fault] = dict(params, since_s=self.time_s)
        self._refresh()
        self._note("t=%.0f s inject %s %s" % (self.time_s, fault, params))
        return {"ok": True, "fault": fault, "params": params}

    def _drive_fault(self, fault: str, args: list[str], clear: bool) -> dict[str, Any]:
        """A drive fault (tools/sim/drives.py) on the drive device named first in args."""
        modelled = sorted(n for n, d in self.devices.items() if d.drive is not None)
        if not args or args[0] not in self.devices or self.devices[args[0]].drive is None:
            raise ValueError("%s: DEVICE must be a modelled drive: one of %s" % (fault, ", ".join(modelled) or "none"))
        dev = self.devices[args[0]]
        assert dev.drive is not None
        params = drives.inject(dev.drive, fault, args[1:], self.time_s, clear=clear)
        key = "%s:%s" % (fault, dev.name)
        if clear:
            self.faults.pop(key, None)
        elif fault != "drive_power_cycle":
            self.faults[key] = dict(params, since_s=self.time_s)
        self._refresh()
        self._note("t=%.0f s %s %s %s %s" % (self.time_s, "clear" if clear else "inject", fault, dev.name, params))
        return {"ok": True, "fault": fault, "device": dev.name, "cleared": clear, "params": params}

    def _clear(self, args: list[str]) -> dict[str, Any]:
        if not args:
            raise ValueError("usage: clear FAULT | clear sensor_open SIGNAL")
        fault = args[0]
        if fault == "actuator_blocked":
            return self._blocked(args[1:], False)
        if fault in drives.FAULTS:
            return self._drive_fault(fault, args[1:], clear=True)
        if fault == "sensor_open":
            signal = args[1] if len(args) > 1 else ""
            for d in self.devices.values():
                d.open_circuit.discard(signal)
            self.faults.pop("sensor_open:" + signal, None)
        else:
            self.plant.clear(fault)
            self.faults.pop(fault, None)
        self._refresh()
        self._note("t=%.0f s clear %s" % (self.time_s, " ".join(args)))
        return {"ok": True, "cleared": " ".join(args)}


    def _blocked(self, args: list[str], on: bool) -> dict[str, Any]:
        """The valve actuator cannot move: the plant's valve sticks and every actuator that
        reports it (a `cannot_move` point, Belimo No. 105 b2) sets that bit."""
        devs = [self._device(args)] if args else [d for d in self.devices.values() if "cannot_move" in d.profile["points"]]
        if not devs or any("cannot_move" not in d.profile["points"] for d in devs):
            raise ValueError("actuator_blocked: needs a device whose profile has a cannot_move point")
        for dev in devs:
            dev.set_point("cannot_move", 1.0 if on else 0.0)
        if on:
            self.plant.inject("stuck_valve")
            self.faults["actuator_blocked"] = {"devices": [d.name for d in devs], "since_s": self.time_s}
        else:
            self.plant.clear("stuck_valve")
            self.faults.pop("actuator_blocked", None)
        self._refresh()
        self._note("t=%.0f s %s actuator_blocked %s" % (self.time_s, "inject" if on else "clear",
                                                       ", ".join(d.name for d in devs)))
        return {"ok": True, "fault": "actuator_blocked", "devices": [d.name for d in devs], "active": on}


def branch_readings(plant: Any, readings: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """{group: {core.signals.BRANCH_* name: value}}: what each building's energy valve measures
    on the plant's secondary network (its supply is the station's secondary supply; its power
    from its flow and the supply/return difference)."""
    supply_c = readings.get(S.SECONDARY_SUPPLY_TEMP_C)
    out: dict[str, dict[str, float | None]] = {}
    for row in plant.branch_readings():
        power_kw = None
        if isinstance(supply_c, (int, float)) and math.isfinite(supply_c):
            # water: 4.19 kJ/(kg K) x 0.98 kg/l at 50-60 degC, flow m3/h -> kg/s
            power_kw = max(0.0, row["flow_m3h"] * 980.0 / 3600.0 * 4.19 * (supply_c - row["return_temp_c"]))
        out[row["group"]] = {S.BRANCH_VALVE_POSITION_PCT: row["valve_position_pct"],
                             S.BRANCH_RETURN_TEMP_C: row["return_temp_c"], S.BRANCH_SUPPLY_TEMP_C: supply_c,
                             S.BRANCH_FLOW_M3H: row["flow_m3h"], S.BRANCH_POWER_KW: power_kw}
    return out


def _weather(sim: dict[str, Any]) -> Any:
    """The plant's weather: the EPW file named by sim.weather_file, else the synthetic year of
    sim.city; both start on 1 December, in the heart of the heating season. ValueError names the
    bad line or lists the cities."""
    from heatkeeper.tools.plant import read_epw, synthetic_year

    weather = read_epw(sim["weather_file"]) if sim.get("weather_file") else synthetic_year(sim.get("city") or "arxan")
    return weather.rotated(334 * 24)


def _params(fault: str, rest: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep:
            if fault not in FAULT_VALUE_PARAM or FAULT_VALUE_PARAM[fault] in params:
                raise ValueError("%r: give parameters as key=value" % item)
            key, value = FAULT_VALUE_PARAM[fault], item
        params[key] = _scalar(value)
    return params


def _scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[key] = value
        else:
            out[key] = str(value)
    return out


def _write_atomic(path: str, text: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
