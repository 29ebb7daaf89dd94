"""A test rig on one machine: Mosquitto on a free loopback port, `heatkeeper sim` and the
real `heatkeeper station` as subprocesses, the simulator's control channel and an MQTT
recorder. Used by hil_tests/, `heatkeeper bench station` and the soak.

Real hardware: set HEATKEEPER_HIL_STATION_CONFIG to a station TOML whose [[bus]] ports are
real serial ports, and HEATKEEPER_HIL_SIM_CONFIG to a sim TOML whose [[line]] tables put the
simulator on the adapters wired to them (transport = "serial"); the rig then keeps those
ports and only rewrites data_dir, [mqtt] and [modbus_slave] to its own broker and ports.
Without the sim config the devices on the bus are real and fault injection is unavailable.

Every process the rig starts is ended by its pid in `close()` (also on test failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from typing import Any

import tomli_w
from heatkeeper.core import codec
from heatkeeper.tools.procs import Process, free_port, wait_for
from heatkeeper.tools.testing.mosquitto import Mosquitto
from heatkeeper.tools.testing.mqtt_listener import decode_uplinks

from .control import SimControl

ENV_STATION_CONFIG = "HEATKEEPER_HIL_STATION_CONFIG"
ENV_SIM_CONFIG = "HEATKEEPER_HIL_SIM_CONFIG"
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1")


def faketime_library() -> str:
    """Path of libfaketime (Debian package `faketime`), or "" when not installed."""
    for path in FAKETIME_LIBS:
        if os.path.exists(path):
            return path
    return ""


def station_time_scale_option() -> bool:
    """True when `heatkeeper station` takes --time-scale (its own scaled controller clock)."""
    import argparse

    from heatkeeper.firmware import main as station_main

    parser = argparse.ArgumentParser()
    station_main.add_arguments(parser)
    return "--time-scale" in parser._option_string_actions


def accelerated_env(start_epoch_s: float, time_scale: float) -> dict[str, str]:
    """Environment that runs a process on a clock starting at `start_epoch_s` and going
    `time_scale` times faster than real time, monotonic clock and sleeps included.

    This is how the unchanged station runs in step with an accelerated plant: libfaketime
    scales clock_gettime, and the timeouts of epoll/poll/select/nanosleep, so asyncio's
    timers, the 1 s control cycle, leases and alarm delays all run in simulated time.
    """
    lib = faketime_library()
    if not lib:
        raise RuntimeError("time acceleration of the station needs libfaketime: apt-get install faketime")
    env = dict(os.environ)
    env["LD_PRELOAD"] = lib
    env["TZ"] = "UTC"
    env["FAKETIME"] = "@%s x%g" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start_epoch_s)), time_scale)
    env["FAKETIME_NO_CACHE"] = "1"
    env["FAKETIME_DONT_RESET"] = "1"
    return env


def default_station_template() -> str:
    import heatkeeper.firmware

    return os.path.join(os.path.dirname(heatkeeper.firmware.__file__), "examples", "station.toml")


class MqttRecorder:
    """Records every message under heatkeeper/v1/# (aiomqtt, persistent session, own thread)
    and publishes commands. Uplink messages are decoded with core.codec."""

    def __init__(self, port: int, host: str = "127.0.0.1", identifier: str = "hil-recorder") -> None:
        self.host, self.port, self.identifier = host, port, identifier
        self.messages: list[tuple[float, str, bytes]] = []
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._client: Any = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="mqtt-recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        import aiomqtt

        while not self._stop:
            try:
                client = aiomqtt.Client(self.host, self.port, identifier=self.identifier, clean_session=False,
                                        keepalive=5, timeout=5)
                async with client:
                    self._client = client
                    await client.subscribe(codec.PREFIX + "#", qos=1)
                    self.connected.set()
                    async for msg in client.messages:
                        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                        with self._lock:
                            self.messages.append((time.time(), str(msg.topic), payload))
            except aiomqtt.MqttError:
                pass
            self._client = None
            self.connected.clear()
            if not self._stop:
                await asyncio.sleep(0.3)

    def publish(self, topic: str, payload: bytes, timeout_s: float = 10.0) -> None:
        wait_for(lambda: self._client is not None, timeout_s, "the recorder's broker connection")

        async def _pub() -> None:
            await self._client.publish(topic, payload, qos=1)

        asyncio.run_coroutine_threadsafe(_pub(), self._loop).result(timeout_s)

    def uplinks(self, kind: str | None = None, station: str | None = None, copies: bool = False) -> list[dict[str, Any]]:
        """Decoded uplink messages in arrival order, each (station, seq) once as the supervisor
        stores them; with `copies`, every copy received (for sequence_report). Undecodable ones
        are left out."""
        with self._lock:
            items = list(self.messages)
        return [m for m in decode_uplinks(((t, p) for _ts, t, p in items), copies, skip_undecodable=True)
                if (kind is None or m["kind"] == kind) and (station is None or m["station"] == station)]

    def topics(self, suffix: str) -> list[bytes]:
        with self._lock:
            return [p for _ts, t, p in self.messages if t.endswith(suffix)]

    def close(self) -> None:
        self._stop = True
        client = self._client
        if client is not None:
            async def _leave() -> None:
                with contextlib.suppress(Exception):  # noqa: BLE001 - shutting down a connection that may be gone
                    await client.unsubscribe(codec.PREFIX + "#")
            with contextlib.suppress(Exception):  # noqa: BLE001
                asyncio.run_coroutine_threadsafe(_leave(), self._loop).result(2)
        def _cancel() -> None:
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
        self._loop.call_soon_threadsafe(_cancel)
        self._thread.join(5)


def sequence_report(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Exactly-once bookkeeping over one station's uplink: distinct seqs, duplicates (same seq
    seen twice, and whether the copies differ), and the seqs missing between first and last."""
    seen: dict[int, bytes] = {}
    duplicates = 0
    conflicting = 0
    for msg in messages:
        seq = int(msg["seq"])
        body = repr(sorted(msg["body"].items())).encode()
        if seq in seen:
            duplicates += 1
            if seen[seq] != body:
                conflicting += 1
        else:
            seen[seq] = body
    missing: list[int] = []
    if seen:
        lo, hi = min(seen), max(seen)
        missing = [s for s in range(lo, hi + 1) if s not in seen]
    return {"distinct": len(seen), "duplicates": duplicates, "conflicting": conflicting, "missing": missing,
            "first": min(seen) if seen else None, "last": max(seen) if seen else None}


class Rig:
    """Broker + simulator + station, configured to agree, in `workdir`."""

    def __init__(self, workdir: str, time_scale: float = 1.0, cycle_s: float | None = None,
                 plant: dict[str, Any] | None = None, scenarios: list[dict[str, Any]] | None = None,
                 lines: list[dict[str, Any]] | None = None, station_overrides: dict[str, Any] | None = None,
                 broker: bool = True, seed: int = 1) -> None:
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.time_scale = time_scale
        self.real_station_config = os.environ.get(ENV_STATION_CONFIG, "")
        self.real_sim_config = os.environ.get(ENV_SIM_CONFIG, "")
        self.broker = Mosquitto(os.path.join(self.workdir, "broker"), long_running=True) if broker else None
        self.sim: Process | None = None
        self.station: Process | None = None
        self.control: SimControl | None = None
        self.recorder: MqttRecorder | None = None
        self.command_keys: Any = None  # supervisor.command_keys.CommandKeys, with a broker
        self.station_restarts = 0
        self.sim_epoch_s = time.time()  # wall time of simulated t = 0, the station's clock origin
        # Acceleration: the station's own --time-scale (scaled controller clock, real wall clock
        # for timestamps) when it has one, else libfaketime (every clock of the process scaled).
        self.clock = "wall"
        if time_scale > 1:
            self.clock = "station" if station_time_scale_option() else "faketime"
        template = self.real_station_config or default_station_template()
        with open(template, "rb") as fh:
            station = tomllib.load(fh)
        st = station.setdefault("station", {})
        self.station_id = str(st.get("id", "hil-01"))
        st["data_dir"] = os.path.join(self.workdir, "data")
        if cycle_s is not None:
            st["cycle_s"] = cycle_s
        if not self.real_station_config:
            for bus in station.get("bus", []):
                if not str(bus.get("port", "")).startswith("socket://"):
                    bus["port"] = os.path.join(self.workdir, "%s.tty" % bus["name"])
                bus["parity"] = "N"
                if self.clock == "faketime":
                    # Timeouts count in simulated seconds: keep the real-time budget a pty needs.
                    bus["timeout_s"] = min(5.0, max(float(bus.get("timeout_s", 0.3)), 0.15 * time_scale))
        if self.broker is not None:
            mqtt = station.setdefault("mqtt", {})
            for key in ("username", "password_file", "tls_ca", "tls_cert", "tls_key", "insecure_unsigned_commands"):
                mqtt.pop(key, None)
            mqtt["host"], mqtt["port"] = "127.0.0.1", self.broker.port
            # The rig commands the station as the supervisor does: with the station's own key.
            from heatkeeper.supervisor.command_keys import CommandKeys

            self.command_keys = CommandKeys(os.path.join(self.workdir, "credentials"))
            self.command_keys.ensure([self.station_id])
            mqtt["command_key_file"] = self.command_keys.path(self.station_id)
        self.modbus_slave_port = free_port()
        # The rig is the local HMI (panel_write): writes on, from loopback only.
        station.setdefault("modbus_slave", {}).update({"enabled": True, "host": "127.0.0.1", "port": self.modbus_slave_port,
                                                       "writes_enabled": True, "allow_from": ["127.0.0.1"]})
        for section, values in (station_overrides or {}).items():
            if isinstance(values, dict):
                _deep_update(station.setdefault(section, {}), values)
            else:
                station[section] = values
        self.station_config = station
        self.station_config_path = os.path.join(self.workdir, "station.toml")
        with open(self.station_config_path, "wb") as fh:
            tomli_w.dump(station, fh)

        if self.real_sim_config:
            with open(self.real_sim_config, "rb") as fh:
                sim: dict[str, Any] = tomllib.load(fh)
        else:
            sim = {}
        sim_t = sim.setdefault("sim", {})
        sim_t.update({"station_config": self.station_config_path, "time_scale": time_scale, "seed": seed,
                      "control": "127.0.0.1:0", "control_file": os.path.join(self.workdir, "sim.addr"),
                      "collector_clock": "simulated" if self.clock == "faketime" else "wall"})
        if plant:
            _deep_update(sim.setdefault("plant", {}), plant)
        if scenarios:
            sim.setdefault("scenario", []).extend(scenarios)
        if lines:
            sim.setdefault("line", []).extend(lines)
        if time_scale > 1 and not self.real_sim_config:
            # Wire timing at 19200 baud cannot be accelerated; an accelerated rig runs unthrottled.
            names = {line.get("bus") for line in sim.get("line", [])}
            for bus in station.get("bus", []):
                if bus["name"] not in names:
                    sim.setdefault("line", []).append({"bus": bus["name"], "throttle": False, "turnaround_s": 0.0})
        if self.broker is not None:
            sim["mqtt"] = {"host": "127.0.0.1", "port": self.broker.port}
        self.sim_config_path = os.path.join(self.workdir, "sim.toml")
        with open(self.sim_config_path, "wb") as fh:
            tomli_w.dump(sim, fh)

    # --- processes ------------------------------------------------------------------------------
    def _cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "heatkeeper.tools.cli", *args]

    def start(self) -> Rig:
        if self.broker is not None:
            self.broker.start()
            self.recorder = MqttRecorder(self.broker.port, identifier="hil-recorder-%d" % os.getpid())
            wait_for(self.recorder.connected.is_set, 10, "the MQTT recorder")
        self.start_sim()
        self.start_station()
        return self

    def start_sim(self) -> None:
        addr_file = os.path.join(self.workdir, "sim.addr")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(addr_file)
        self.sim = Process("sim", self._cmd("sim", "--config", self.sim_config_path, "--log-level", "INFO"),
                           os.path.join(self.workdir, "sim.log"))
        sim_proc = self.sim
        wait_for(lambda: os.path.exists(addr_file) or not sim_proc.alive(), 30, "the simulator's control channel")
        if not sim_proc.alive():
            raise RuntimeError("heatkeeper sim exited:\n%s" % sim_proc.output()[-3000:])
        host, port = open(addr_file).read().strip().rsplit(":", 1)
        self.control = SimControl(host, int(port))
        self.sim_epoch_s = float(self.sim_cmd("status")["epoch_s"])

    def station_now_s(self) -> float:
        """The station's wall clock: simulated time from the sim epoch (see accelerated_env)."""
        if self.clock != "faketime":
            return time.time()
        return self.sim_epoch_s + (self.sim_time_s() if self.control is not None else 0.0)

    def start_station(self) -> None:
        env = None
        argv = self._cmd("station", "--config", self.station_config_path)
        if self.clock == "faketime":
            env = accelerated_env(self.station_now_s(), self.time_scale)
        elif self.clock == "station":
            argv += ["--time-scale", "%g" % self.time_scale]
        self.station = Process("station", argv, os.path.join(self.workdir, "station.log"), env=env)
        time.sleep(0.3)
        if not self.station.alive():
            raise RuntimeError("heatkeeper station exited:\n%s" % self.station.output()[-3000:])

    def kill_station(self) -> None:
        """Power cut: SIGKILL, no chance to flush anything."""
        if self.station is not None:
            self.station.kill(signal.SIGKILL)
            self.station.stop()

    def restart_station(self) -> None:
        self.kill_station()
        self.station_restarts += 1
        self.start_station()

    def sim_cmd(self, line: str) -> dict[str, Any]:
        assert self.control is not None, "no simulator on this rig"
        return self.control.command(line)

    def readings(self) -> dict[str, Any]:
        return dict(self.sim_cmd("readings")["readings"])

    def actuators(self) -> dict[str, float]:
        return dict(self.sim_cmd("actuators")["actuators"])

    def sim_time_s(self) -> float:
        return float(self.sim_cmd("status")["time_s"])

    def wait_sim_time(self, target_s: float, timeout_s: float | None = None) -> None:
        """Block until the plant has reached simulated time target_s."""
        budget = timeout_s if timeout_s is not None else 30.0 + 3.0 * max(0.0, target_s - self.sim_time_s()) / self.time_scale
        wait_for(lambda: self.sim_time_s() >= target_s, budget, "simulated t=%.0f s" % target_s, 0.2)

    def telemetry(self) -> list[dict[str, Any]]:
        assert self.recorder is not None
        return self.recorder.uplinks("telemetry", self.station_id)

    def latest(self, field: str) -> Any:
        for msg in reversed(self.telemetry()):
            values = msg["body"].get("values", {})
            if field in values:
                return values[field]
        return None

    def alarms(self) -> list[dict[str, Any]]:
        """Bodies of the station's alarm messages, in arrival order."""
        assert self.recorder is not None
        return [m["body"] for m in self.recorder.uplinks("alarm", self.station_id)]

    def alarm_codes(self) -> set[str]:
        return {str(body.get("code")) for body in self.alarms()}

    def acks(self) -> dict[str, dict[str, Any]]:
        """command id -> first ack body."""
        assert self.recorder is not None
        out: dict[str, dict[str, Any]] = {}
        for msg in self.recorder.uplinks("ack", self.station_id):
            out.setdefault(str(msg["body"]["command_id"]), msg["body"])
        return out

    def last_seq(self) -> int:
        assert self.recorder is not None
        seqs = [int(m["seq"]) for m in self.recorder.uplinks(station=self.station_id)]
        return max(seqs) if seqs else 0

    def wait_telemetry(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float, what: str,
                       after_seq: int = 0) -> dict[str, Any]:
        """The newest telemetry values (sequence number above after_seq) satisfying predicate."""
        def check() -> dict[str, Any] | None:
            for msg in reversed(self.telemetry()):
                if int(msg["seq"]) <= after_seq:
                    break
                values = msg["body"].get("values", {})
                if predicate(values):
                    return dict(values)
            return None
        return dict(wait_for(check, timeout_s, what, 0.2))

    def send_command(self, kind: str, args: dict[str, Any], command_id: str, ttl_s: float = 60.0, user: str = "hil") -> None:
        """Publish a command signed with the station's key, as the supervisor does."""
        assert self.recorder is not None and self.command_keys is not None
        from heatkeeper.supervisor.command_keys import sign

        now = self.station_now_s()
        sig = sign(self.command_keys.key(self.station_id), self.station_id, command_id, kind, args, user, now + ttl_s)
        topic, payload = codec.encode_command(self.station_id, command_id, kind, args, user, now, now + ttl_s, sig=sig)
        self.recorder.publish(topic, payload)

    # --- the station's local panel (its Modbus TCP slave, firmware/modbus_slave.py) ---------------
    def panel_write(self, address: int, values: list[int], timeout_s: float = 30.0) -> bool:
        """Write holding registers of the station's Modbus TCP slave like a local HMI (FC16).
        True when accepted; False when the station answered an exception (command rejected)."""
        from pymodbus.client import ModbusTcpClient
        from pymodbus.exceptions import ModbusException

        deadline = time.monotonic() + timeout_s
        while True:
            client = ModbusTcpClient("127.0.0.1", port=self.modbus_slave_port, timeout=2, retries=1)
            try:
                if client.connect():
                    rr = client.write_registers(address, values, device_id=1)
                    return not rr.isError()
            except (ModbusException, OSError):
                pass  # the slave is not listening yet (station starting): try again
            finally:
                client.close()
            if time.monotonic() > deadline:
                raise TimeoutError("the station's Modbus TCP slave on port %d did not answer" % self.modbus_slave_port)
            time.sleep(0.3)

    def panel_set_float(self, address: int, value: float) -> bool:
        """Write a float32 setting (two registers, high word first) on the local panel."""
        import struct

        hi, lo = struct.unpack(">HH", struct.pack(">f", float(value)))
        return self.panel_write(address, [hi, lo])

    def panel_input_registers(self, address: int, count: int) -> list[int]:
        """Read input registers (FC4) of the station's Modbus TCP slave."""
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient("127.0.0.1", port=self.modbus_slave_port, timeout=2, retries=1)
        try:
            if not client.connect():
                raise OSError("the station's Modbus TCP slave on port %d is not listening" % self.modbus_slave_port)
            rr = client.read_input_registers(address, count=count, device_id=1)
            if rr.isError():
                raise OSError("input registers %d+%d: %s" % (address, count, rr))
            return list(rr.registers)
        finally:
            client.close()

    def logs(self) -> str:
        parts = []
        for proc in (self.sim, self.station):
            if proc is not None:
                parts.append("---- %s (%s)\n%s" % (proc.name, proc.log_path, proc.output()[-4000:]))
        return "\n".join(parts)

    def close(self) -> None:
        """Stop everything; each step runs even when an earlier one fails (first error re-raised)."""
        steps: list[Callable[[], Any]] = []
        if self.control is not None:
            steps.append(self.control.close)
        for proc in (self.station, self.sim):
            if proc is not None:
                steps.append(proc.stop)
        if self.recorder is not None:
            steps.append(self.recorder.close)
        if self.broker is not None:
            steps.append(self.broker.stop)
        error: BaseException | None = None
        for step in steps:
            try:
                step()
            except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt too: finish the clean-up first
                error = error or exc
        if error is not None:
            raise error

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _deep_update(target: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value
