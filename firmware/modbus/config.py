"""The [[bus]] and [[device]] sections of the station TOML: validated once, completely, then frozen.

`validate_bus_config(cfg)` takes the whole parsed station TOML (a dict) and returns
`(BusConfig, [])` or `(None, problems)` with every problem listed: key, value, unit and the
allowed range or choices. It never raises on bad input.

Serial settings: a bus that does not set `parity` / `stopbits` takes the factory setting its
devices' profiles declare (core.device_profiles "serial": a Danfoss FC leaves the factory at
8E1, parameter 8-33), 8N1 when none declares one; devices whose factory settings disagree
must be set alike on site and the bus must then say which (a problem otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from heatkeeper.core import signals as S
from heatkeeper.core.device_profiles import PROFILES
from heatkeeper.firmware.config import check_value

BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

# key -> (default, kind, allowed), the kinds of firmware.config.check_value: "int"/"float" with
# (lo, hi) (unit s for keys ending _s), "choice" with a tuple, "text" (required when default
# is None), "bool".
BUS_KEYS: dict[str, tuple[Any, str, Any]] = {
    "name": (None, "text", None),
    "port": (None, "text", None),
    "baudrate": (19200, "choice", BAUDRATES),
    "parity": ("", "choice", ("N", "E", "O")),  # "": the devices' common factory setting, else N
    "bytesize": (8, "choice", (7, 8)),
    "stopbits": (0, "choice", (1, 2)),  # 0: the devices' common factory setting, else 1
    "timeout_s": (0.3, "float", (0.02, 5.0)),
    "backoff_base_s": (1.0, "float", (0.1, 600.0)),
    "backoff_max_s": (60.0, "float", (1.0, 3600.0)),
    "low_blocks_per_cycle": (2, "int", (0, 100)),
    "stale_s": (60.0, "float", (1.0, 3600.0)),
    "refresh_s": (10.0, "float", (0.5, 3600.0)),
    "max_block_registers": (125, "int", (1, 125)),
    "coalesce": (True, "bool", None),
    "reopen_after_cycles": (3, "int", (1, 1000)),
    "error_log_interval_s": (60.0, "float", (1.0, 86400.0)),
    "error_alarm_s": (60.0, "float", (1.0, 86400.0)),
}
DEVICE_KEYS = ("name", "bus", "unit_id", "profile", "points", "branch")
# A building branch valve's group name (core.balancing): the collectors' group, and in telemetry
# branch_<group>_valve_pct ("-" as "_"), so 1..32 of [A-Za-z0-9_-].
BRANCH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


@dataclass(frozen=True)
class BusSpec:
    """One RS-485 line (see BUS_KEYS for units and ranges)."""

    name: str
    port: str
    baudrate: int = 19200
    parity: str = "N"  # validate_bus_config fills in the devices' factory parity when the TOML has none
    bytesize: int = 8
    stopbits: int = 1
    timeout_s: float = 0.3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    low_blocks_per_cycle: int = 2
    stale_s: float = 60.0
    refresh_s: float = 10.0
    max_block_registers: int = 125
    coalesce: bool = True
    reopen_after_cycles: int = 3
    error_log_interval_s: float = 60.0  # Modbus exceptions: first logged at once, then a count at most this often
    error_alarm_s: float = 60.0  # exceptions / rejected writes persisting this long raise <device>_modbus_errors


@dataclass(frozen=True)
class DeviceSpec:
    """One device on a bus: `points` maps core.signals names to profile point names."""

    name: str
    bus: str
    unit_id: int
    profile: str
    points: dict[str, str] = field(default_factory=dict)
    branch: str = ""  # a building branch valve of this group: points bind core.signals.BRANCH_* names


@dataclass(frozen=True)
class BusConfig:
    """Every bus and device of a station."""

    buses: tuple[BusSpec, ...]
    devices: tuple[DeviceSpec, ...]

    def devices_on(self, bus: str) -> list[DeviceSpec]:
        """The devices wired to `bus`, in config order."""
        return [d for d in self.devices if d.bus == bus]


def _buses(raw: Any, problems: list[str]) -> list[BusSpec]:
    if not isinstance(raw, list) or not raw:
        problems.append("bus=%r: need at least one [[bus]] section" % (raw,))
        return []
    buses: list[BusSpec] = []
    names: set[str] = set()
    for i, entry in enumerate(raw):
        where = "bus[%d]" % i
        if not isinstance(entry, dict):
            problems.append("%s=%r: must be a table" % (where, entry))
            continue
        if isinstance(entry.get("name"), str):
            where = "bus[%s]" % entry["name"]
        for key in sorted(set(entry) - set(BUS_KEYS)):
            problems.append("%s.%s: unknown key; allowed: %s" % (where, key, ", ".join(BUS_KEYS)))
        values: dict[str, Any] = {}
        n_before = len(problems)
        for key, (default, kind, allowed) in BUS_KEYS.items():
            if key not in entry:
                if default is None:
                    problems.append("%s.%s: missing (required)" % (where, key))
                    continue
                values[key] = default
                continue
            values[key] = check_value(where + "." + key, entry[key], kind, allowed, "s" if key.endswith("_s") else "",
                                      problems)
        if isinstance(values.get("name"), str):
            if values["name"] in names:
                problems.append("%s.name=%r: duplicate bus name" % (where, values["name"]))
            names.add(values["name"])
        if "backoff_base_s" in values and "backoff_max_s" in values and len(problems) == n_before:
            if values["backoff_base_s"] > values["backoff_max_s"]:
                problems.append("%s.backoff_base_s=%r s: must not exceed backoff_max_s=%r s"
                                % (where, values["backoff_base_s"], values["backoff_max_s"]))
        if len(problems) == n_before:
            buses.append(BusSpec(**values))
    return buses


def _devices(raw: Any, bus_names: list[str], problems: list[str]) -> list[DeviceSpec]:
    if not isinstance(raw, list) or not raw:
        problems.append("device=%r: need at least one [[device]] section" % (raw,))
        return []
    devices: list[DeviceSpec] = []
    names: set[str] = set()
    unit_ids: dict[tuple[str, int], str] = {}
    bound: dict[Any, str] = {}
    all_signals = S.INPUTS + S.ACTUATORS
    for i, entry in enumerate(raw):
        where = "device[%d]" % i
        if not isinstance(entry, dict):
            problems.append("%s=%r: must be a table" % (where, entry))
            continue
        if isinstance(entry.get("name"), str):
            where = "device[%s]" % entry["name"]
        n_before = len(problems)
        for key in sorted(set(entry) - set(DEVICE_KEYS)):
            problems.append("%s.%s: unknown key; allowed: %s" % (where, key, ", ".join(DEVICE_KEYS)))
        for key in ("name", "bus", "unit_id", "profile"):
            if key not in entry:
                problems.append("%s.%s: missing (required)" % (where, key))
        name, bus, unit_id, profile = entry.get("name"), entry.get("bus"), entry.get("unit_id"), entry.get("profile")
        if "name" in entry:
            check_value(where + ".name", name, "text", None, "", problems)
            if isinstance(name, str) and name in names:
                problems.append("%s.name=%r: duplicate device name" % (where, name))
            names.add(str(name))
        if "bus" in entry and bus not in bus_names:
            problems.append("%s.bus=%r: must be one of the [[bus]] names: %s" % (where, bus, ", ".join(bus_names) or "(none)"))
        if "unit_id" in entry:
            if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 1 <= unit_id <= 247:
                problems.append("%s.unit_id=%r: must be an integer in [1, 247]" % (where, unit_id))
            elif (str(bus), unit_id) in unit_ids:
                problems.append("%s.unit_id=%r: already used on bus %r by device %r"
                                % (where, unit_id, bus, unit_ids[(str(bus), unit_id)]))
            else:
                unit_ids[(str(bus), unit_id)] = str(name)
        known_profile = isinstance(profile, str) and profile in PROFILES
        if "profile" in entry and not known_profile:
            problems.append("%s.profile=%r: must be one of %s" % (where, profile, ", ".join(sorted(PROFILES))))
        points = entry.get("points", {})
        if not isinstance(points, dict):
            problems.append("%s.points=%r: must be a table of signal = \"point\"" % (where, points))
            points = {}
        branch = entry.get("branch", "")
        allowed = all_signals
        if "branch" in entry:
            allowed = S.BRANCH_INPUTS + S.BRANCH_ACTUATORS
            if not isinstance(branch, str) or not 0 < len(branch) <= 32 or any(c not in BRANCH_CHARS for c in branch):
                problems.append("%s.branch=%r: must be the collectors' group name, 1..32 characters [A-Za-z0-9_-]"
                                % (where, branch))
                branch = ""
            elif ("branch", branch) in bound:
                problems.append("%s.branch=%r: already the branch of device %r" % (where, branch, bound[("branch", branch)]))
            else:
                bound[("branch", branch)] = str(name)
        for signal, point in points.items():
            pwhere = "%s.points.%s" % (where, signal)
            if signal not in allowed:
                problems.append("%s: unknown signal; must be one of %s%s" % (
                    pwhere, ", ".join(allowed), "" if "branch" in entry else
                    " (a building branch valve's points need branch = \"<group>\")"))
                continue
            key = (branch, signal) if "branch" in entry else signal
            if key in bound:
                problems.append("%s: signal already bound to device %r" % (pwhere, bound[key]))
            else:
                bound[key] = str(name)
            if not known_profile:
                continue
            pts = PROFILES[profile]["points"]
            if not isinstance(point, str) or point not in pts:
                problems.append("%s=%r: profile %s has no such point; points: %s"
                                % (pwhere, point, profile, ", ".join(sorted(pts))))
            elif signal not in pts[point]["signals"]:
                can = sorted(p for p in pts if signal in pts[p]["signals"])
                problems.append("%s=%r: point cannot serve %s; points of %s that can: %s"
                                % (pwhere, point, signal, profile, ", ".join(can) or "(none)"))
        if len(problems) == n_before:
            devices.append(DeviceSpec(str(name), str(bus), int(unit_id or 0), str(profile), dict(points), str(branch)))
    return devices


def validate_bus_config(cfg: dict) -> tuple[BusConfig | None, list[str]]:
    """Validate the [[bus]] and [[device]] sections of a parsed station TOML.

    Returns (BusConfig, []) when sound, else (None, every problem as a string).
    """
    problems: list[str] = []
    if not isinstance(cfg, dict):
        return None, ["config=%r: must be a table" % (cfg,)]
    buses = _buses(cfg.get("bus"), problems)
    raw = cfg.get("bus")
    raw_bus: list[Any] = raw if isinstance(raw, list) else []
    bus_names = [b["name"] for b in raw_bus if isinstance(b, dict) and isinstance(b.get("name"), str)]
    devices = _devices(cfg.get("device"), bus_names, problems)
    buses = [_serial_defaults(b, [d for d in devices if d.bus == b.name], problems) for b in buses]
    if problems:
        return None, problems
    return BusConfig(tuple(buses), tuple(devices)), []


SERIAL_FALLBACK = {"parity": "N", "stopbits": 1}


def factory_serial(profiles: list[str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The common factory setting of devices of `profiles`: ({key: value}, {key: [conflict, ...]})
    for parity and stopbits; a key no profile declares is left out."""
    found: dict[str, dict[Any, list[str]]] = {"parity": {}, "stopbits": {}}
    for profile in profiles:
        serial = PROFILES[profile].get("serial") or {}
        for key in found:
            if serial.get(key) is not None:
                found[key].setdefault(serial[key], []).append(profile)
    common = {k: next(iter(v)) for k, v in found.items() if len(v) == 1}
    conflicts = {k: ["%s (%s)" % (val, ", ".join(sorted(set(ps)))) for val, ps in v.items()]
                 for k, v in found.items() if len(v) > 1}
    return common, conflicts


def _serial_defaults(bus: BusSpec, devices: list[DeviceSpec], problems: list[str]) -> BusSpec:
    unset = [k for k in ("parity", "stopbits") if getattr(bus, k) in ("", 0)]
    if not unset:
        return bus
    common, conflicts = factory_serial([d.profile for d in devices])
    values: dict[str, Any] = {}
    for key in unset:
        if key in conflicts:
            problems.append("bus[%s].%s: not set, and the devices' factory settings differ: %s; set the devices "
                            "alike on site and %s here" % (bus.name, key, "; ".join(conflicts[key]), key))
        values[key] = common.get(key, SERIAL_FALLBACK[key])
    return replace(bus, **values)


# The demo station's device set, used by `heatkeeper bench bus`, the tests and as an example.
EXAMPLE_BUS_TOML = """
[[bus]]
name = "rs485-1"
port = "/dev/ttyUSB0"
baudrate = 19200
# parity and stopbits: not set, so the devices' factory setting (the Danfoss FC's 8-33: even, 1)
timeout_s = 0.3

[[device]]
name = "io_module"
bus = "rs485-1"
unit_id = 1
profile = "generic_rtd8_ai4"
[device.points]
outdoor_temp_c = "temp_1"
primary_supply_temp_c = "temp_2"
primary_return_temp_c = "temp_3"
secondary_supply_temp_c = "temp_4"
secondary_return_temp_c = "temp_5"
primary_supply_pressure_kpa = "pressure_1"
primary_return_pressure_kpa = "pressure_2"
secondary_supply_pressure_kpa = "pressure_3"
secondary_return_pressure_kpa = "pressure_4"

[[device]]
name = "pump1_drive"
bus = "rs485-1"
unit_id = 2
profile = "danfoss_fc"
[device.points]
pump1_run = "control_word"
pump1_speed_cmd_pct = "reference"
pump1_running = "status_running"
pump1_fault = "status_trip"
pump1_speed_pct = "actual_speed"

[[device]]
name = "pump2_drive"
bus = "rs485-1"
unit_id = 3
profile = "abb_acs580"
[device.points]
pump2_run = "control_word"
pump2_speed_cmd_pct = "reference_1"
pump2_running = "status_running"
pump2_fault = "status_tripped"
pump2_speed_pct = "actual_1"

[[device]]
name = "valve"
bus = "rs485-1"
unit_id = 4
profile = "belimo_mod"
[device.points]
valve_cmd_pct = "setpoint"
valve_position_pct = "relative_position"

[[device]]
name = "heat_meter"
bus = "rs485-1"
unit_id = 5
profile = "kamstrup_multical_603"
[device.points]
heat_power_kw = "power"
primary_flow_m3h = "flow_v1"
heat_energy_kwh = "energy_e1"

[[device]]
name = "makeup"
bus = "rs485-1"
unit_id = 6
profile = "makeup_io"
[device.points]
tank_level_pct = "tank_level"
makeup_pump_running = "pump_running"
makeup_pump_fault = "pump_fault"
makeup_volume_m3 = "water_volume"
makeup_pump_run = "pump_run"
makeup_pump_speed_cmd_pct = "pump_speed_cmd"
relief_valve_open = "relief_valve"
"""


def example_config(port: str, baudrate: int = 19200, **bus_overrides: Any) -> BusConfig:
    """The demo station's bus config on `port` (for benches, tests and simulators)."""
    import tomllib

    cfg = tomllib.loads(EXAMPLE_BUS_TOML)
    cfg["bus"][0].update(port=port, baudrate=baudrate, **bus_overrides)
    bus_config, problems = validate_bus_config(cfg)
    if bus_config is None:
        raise ValueError("; ".join(problems))
    return bus_config
