"""The simulator's configuration: a TOML file that may point at the station's own config so
both sides agree on buses and devices, plus the plant, scenario and fault settings.

```
[sim]
station_config = "../../firmware/examples/station.toml"   # relative to this file; optional
time_scale = 1.0        # simulated seconds per wall second
tick_s = 0.1            # wall seconds between plant updates
seed = 0
control = "127.0.0.1:0" # control channel (port 0: any free port, written to control_file)
control_file = ""       # where "host:port" of the control channel is written once listening
collector_interval_s = 300.0   # simulated seconds between room-collector publications
collector_clock = "wall"       # collector timestamps: "wall" (real time, as real collectors) or
                               # "simulated" (sim epoch + simulated time, for a station on that clock)
collector_prefix = ""          # put before the plant's collector ids ("arxan-01-" gives "arxan-01-rc-01-1"):
                               # several simulated stations on one supervisor need distinct ids

[plant]                 # parameters handed to heatkeeper.tools.plant.Plant(params=...)

[[bus]] / [[device]]    # as in the station config; a table here overrides the station's by name

[[line]]                # per-bus simulator settings (all optional)
bus = "rs485-1"
transport = "pty"       # pty | serial | tcp   (default: tcp for socket:// ports, pty otherwise)
port = ""               # the simulator's end; default the bus port (pty symlink, tcp address)
throttle = true         # enforce wire time at the bus baud rate
bits_per_char = 11
turnaround_s = 0.004
strict_gap = false      # ignore requests that break the t3.5 silence
corrupt_rate = 0.0      # fraction of replies sent with a bad CRC
drop_rate = 0.0         # fraction of replies never sent

[[scenario]]            # control-channel commands run at simulated time at_s
at_s = 3600.0
command = "inject cold_snap"

[mqtt]                  # room collectors publish here when present
host = "127.0.0.1"
port = 1883
username = ""
password_file = ""
```
Every problem is collected and reported together (SimConfigError.problems).
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

ALLOWED_TRANSPORTS = ("pty", "serial", "tcp")


class SimConfigError(ValueError):
    """A configuration that cannot run; `problems` lists each one with key, value and range."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("sim config has %d problem(s):\n  " % len(problems) + "\n  ".join(problems))
        self.problems = problems


def _load_toml(path: str, problems: list[str]) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        problems.append("%s: file not found" % path)
    except tomllib.TOMLDecodeError as exc:
        problems.append("%s: not valid TOML (%s)" % (path, exc))
    except OSError as exc:
        problems.append("%s: cannot read (%s)" % (path, exc))
    return {}


def _number(table: dict[str, Any], key: str, default: float, lo: float, hi: float, where: str,
            problems: list[str], unit: str = "") -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append("%s.%s=%r %s: must be a number in [%s, %s]" % (where, key, value, unit, lo, hi))
        return default
    if not lo <= value <= hi:
        problems.append("%s.%s=%r %s: must be in [%s, %s]" % (where, key, value, unit, lo, hi))
        return default
    return float(value)


def _text(table: dict[str, Any], key: str, default: str, where: str, problems: list[str]) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        problems.append("%s.%s=%r: must be text" % (where, key, value))
        return default
    return value


def parse_hostport(text: str) -> tuple[str, int]:
    """("127.0.0.1", 5020) from "127.0.0.1:5020" or "socket://127.0.0.1:5020"; ValueError if not."""
    if text.startswith("socket://"):
        text = text[len("socket://"):]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("%r: must be host:port with a port in [0, 65535]" % text)
    return host, int(port)


def load(path: str) -> dict[str, Any]:
    """The complete, checked simulator configuration as plain data:
    {"sim": {...}, "plant": {...}, "station_id": str, "lines": [...], "devices": [...],
     "scenarios": [...], "mqtt": {...} | None}. Raises SimConfigError listing every problem."""
    problems: list[str] = []
    raw = _load_toml(path, problems)
    if problems:
        raise SimConfigError(problems)
    base = os.path.dirname(os.path.abspath(path))
    sim_t = raw.get("sim", {})
    if not isinstance(sim_t, dict):
        raise SimConfigError(["sim: must be a table"])
    station: dict[str, Any] = {}
    station_path = sim_t.get("station_config", "")
    if station_path:
        if not isinstance(station_path, str):
            problems.append("sim.station_config=%r: must be a path" % station_path)
        else:
            station_path = os.path.join(base, station_path)
            station = _load_toml(station_path, problems)
    sim: dict[str, Any] = {
        "time_scale": _number(sim_t, "time_scale", 1.0, 0.01, 100000.0, "sim", problems, "x"),
        "tick_s": _number(sim_t, "tick_s", 0.1, 0.01, 10.0, "sim", problems, "s"),
        "seed": int(_number(sim_t, "seed", 0, 0, 2**31, "sim", problems)),
        "control": _text(sim_t, "control", "127.0.0.1:0", "sim", problems),
        "control_file": _text(sim_t, "control_file", "", "sim", problems),
        "collector_interval_s": _number(sim_t, "collector_interval_s", 300.0, 1.0, 86400.0, "sim", problems, "s"),
        "collector_clock": _text(sim_t, "collector_clock", "wall", "sim", problems),
        "collector_prefix": _text(sim_t, "collector_prefix", "", "sim", problems),
        "station_config": station_path if isinstance(station_path, str) else "",
        # weather: a synthetic year of one of the seed cities, or an EPW file (path relative to this file)
        "city": _text(sim_t, "city", "arxan", "sim", problems),
        "weather_file": _text(sim_t, "weather_file", "", "sim", problems),
    }
    if sim["weather_file"] and not os.path.isabs(sim["weather_file"]):
        sim["weather_file"] = os.path.join(base, sim["weather_file"])
    if any(ch in sim["collector_prefix"] for ch in "/+# ") or len(sim["collector_prefix"]) > 32:
        problems.append("sim.collector_prefix=%r: at most 32 characters, without '/', '+', '#' or spaces (it goes"
                        " into an MQTT topic)" % sim["collector_prefix"])
    if sim["collector_clock"] not in ("wall", "simulated"):
        problems.append("sim.collector_clock=%r: must be wall or simulated" % sim["collector_clock"])
    try:
        host, _port = parse_hostport(sim["control"])
        if host not in ("127.0.0.1", "localhost", "::1"):
            problems.append("sim.control=%r: the control channel listens on loopback only" % sim["control"])
    except ValueError as exc:
        problems.append("sim.control=%s" % exc)
    if sim["control_file"] and not os.path.isabs(sim["control_file"]):
        sim["control_file"] = os.path.join(base, sim["control_file"])

    station_id = "station"
    st = station.get("station", {})
    if isinstance(st, dict) and isinstance(st.get("id"), str):
        station_id = st["id"]

    buses = _merge_by_name(station.get("bus", []), raw.get("bus", []), "bus", problems)
    devices_raw = _merge_by_name(station.get("device", []), raw.get("device", []), "device", problems)
    line_over = {}
    for i, entry in enumerate(raw.get("line", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("bus"), str):
            problems.append("line[%d].bus: must name a [[bus]]" % i)
            continue
        line_over[entry["bus"]] = entry
    for name in line_over:
        if name not in {b.get("name") for b in buses}:
            problems.append("line.bus=%r: no [[bus]] of that name (have %s)" % (
                name, ", ".join(str(b.get("name")) for b in buses) or "none"))

    lines = [_line(bus, line_over.get(bus.get("name"), {}), problems) for bus in buses]
    bus_names = {line["name"] for line in lines}
    devices = []
    seen_units: dict[tuple[str, int], str] = {}
    for dev in devices_raw:
        where = "device[%s]" % dev.get("name")
        name = dev.get("name")
        bus = dev.get("bus")
        unit = dev.get("unit_id")
        profile = dev.get("profile")
        points = dev.get("points", {})
        if bus not in bus_names:
            problems.append("%s.bus=%r: must be one of %s" % (where, bus, ", ".join(sorted(bus_names)) or "no buses"))
        if isinstance(unit, bool) or not isinstance(unit, int) or not 1 <= unit <= 247:
            problems.append("%s.unit_id=%r: must be an integer in [1, 247]" % (where, unit))
        elif isinstance(bus, str):
            other = seen_units.get((bus, unit))
            if other:
                problems.append("%s.unit_id=%r: already used by %s on bus %s" % (where, unit, other, bus))
            seen_units[(bus, unit)] = str(name)
        if not isinstance(profile, str):
            problems.append("%s.profile=%r: must name a device profile" % (where, profile))
        if not isinstance(points, dict) or not all(isinstance(v, str) for v in points.values()):
            problems.append("%s.points: must map signal names to profile point names" % where)
            points = {}
        branch = dev.get("branch", "")
        if not isinstance(branch, str):
            problems.append("%s.branch=%r: must be the name of a building group" % (where, branch))
            branch = ""
        devices.append({"name": name, "bus": bus, "unit_id": unit, "profile": profile, "points": dict(points),
                        "branch": branch})
    if not lines:
        problems.append("bus: no [[bus]] tables (in this file or sim.station_config)")

    scenarios = []
    for i, sc in enumerate(raw.get("scenario", [])):
        where = "scenario[%d]" % i
        if not isinstance(sc, dict):
            problems.append("%s: must be a table" % where)
            continue
        at_s = _number(sc, "at_s", -1.0, 0.0, 1e9, where, problems, "s")
        command = sc.get("command")
        if not isinstance(command, str) or not command.strip():
            problems.append("%s.command=%r: must be a control command, e.g. \"inject leak 2.0\"" % (where, command))
            continue
        scenarios.append({"at_s": at_s, "command": command.strip()})

    mqtt = None
    mq = raw.get("mqtt")
    if isinstance(mq, dict):
        mqtt = {
            "host": _text(mq, "host", "127.0.0.1", "mqtt", problems),
            "port": int(_number(mq, "port", 1883, 1, 65535, "mqtt", problems)),
            "username": _text(mq, "username", "", "mqtt", problems),
            "password_file": _text(mq, "password_file", "", "mqtt", problems),
        }
    plant = raw.get("plant", {})
    if not isinstance(plant, dict):
        problems.append("plant: must be a table of Plant parameters")
        plant = {}
    if problems:
        raise SimConfigError(problems)
    return {"sim": sim, "plant": plant, "station_id": station_id, "lines": lines, "devices": devices,
            "scenarios": scenarios, "mqtt": mqtt}


def _merge_by_name(first: Any, second: Any, what: str, problems: list[str]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for source in (first, second):
        if not isinstance(source, list):
            problems.append("%s: must be an array of tables ([[%s]])" % (what, what))
            continue
        for i, entry in enumerate(source):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                problems.append("%s[%d].name: every [[%s]] needs a name" % (what, i, what))
                continue
            merged[entry["name"]] = entry
    return list(merged.values())


def _line(bus: dict[str, Any], over: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    name = bus["name"]
    where = "bus[%s]" % name
    port = _text(bus, "port", "", where, problems)
    sim_port = _text(over, "port", port, "line[%s]" % name, problems)
    default_transport = "tcp" if sim_port.startswith("socket://") else "pty"
    transport = _text(over, "transport", default_transport, "line[%s]" % name, problems)
    if transport not in ALLOWED_TRANSPORTS:
        problems.append("line[%s].transport=%r: must be one of %s" % (name, transport, ", ".join(ALLOWED_TRANSPORTS)))
    if not sim_port:
        problems.append("%s.port: empty (a pty path, a serial device or socket://host:port)" % where)
    elif transport == "tcp":
        try:
            parse_hostport(sim_port)
        except ValueError as exc:
            problems.append("line[%s].port=%s" % (name, exc))
    lw = "line[%s]" % name
    parity = bus.get("parity", "N")
    if parity not in ("N", "E", "O"):
        problems.append("%s.parity=%r: must be N, E or O" % (where, parity))
    return {
        "name": name,
        "transport": transport,
        "port": sim_port,
        "baudrate": int(_number(bus, "baudrate", 19200, 300, 921600, where, problems, "baud")),
        "parity": parity,
        "stopbits": int(_number(bus, "stopbits", 1, 1, 2, where, problems)),
        "throttle": bool(over.get("throttle", True)),
        "bits_per_char": int(_number(over, "bits_per_char", 11, 10, 12, lw, problems, "bits")),
        "turnaround_s": _number(over, "turnaround_s", 0.004, 0.0, 5.0, lw, problems, "s"),
        "strict_gap": bool(over.get("strict_gap", False)),
        "corrupt_rate": _number(over, "corrupt_rate", 0.0, 0.0, 1.0, lw, problems),
        "drop_rate": _number(over, "drop_rate", 0.0, 0.0, 1.0, lw, problems),
    }
