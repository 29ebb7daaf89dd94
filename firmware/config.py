"""The station TOML: parsed once, validated completely, then frozen.

`load_config(path)` returns a `StationConfig` or raises `ConfigError` listing every problem
(key, value, unit, allowed range) from all sections at once:

    [station]        this module (SECTIONS below)
    [mqtt]           this module
    [storage]        this module
    [modbus_slave]   this module (writes_enabled, allow_from: see firmware/modbus_slave.py)
    [metrics]        this module (the station's GET /metrics: see firmware/metrics.py)
    [control.*]      heatkeeper.core.settings.validate (same sections and keys as core.settings.DEFAULTS;
                     [control.season]'s dates may also be TOML dates or "YYYY-MM-DD", turned into core's YYYYMMDD)
    [[bus]]/[[device]]  heatkeeper.firmware.modbus.config.validate_bus_config

[mqtt] command_key_file is checked for a usable key (firmware/command_auth.py).
Relative paths (data_dir, password_file, command_key_file, tls_*) are resolved against the config file's folder,
so an example config runs from anywhere. Config key = attribute name (HOUSE_STYLE).
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import os
import tomllib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from heatkeeper.core import checks, codec
from heatkeeper.core import settings as core_settings

from .errors import ConfigError

_CYCLE_S = core_settings.STATION_RANGES["cycle_s"]  # the controller's cycle: core's default and range
# section -> key -> (default, kind, allowed, unit); the kinds are check_value's.
# A default of None means required.
SECTIONS: dict[str, dict[str, tuple[Any, str, Any, str]]] = {
    "station": {
        "id": (None, "id", None, ""),
        "name": ("", "str", None, ""),
        "cycle_s": (core_settings.STATION_DEFAULTS["cycle_s"], "float", (float(_CYCLE_S[0]), float(_CYCLE_S[1])), _CYCLE_S[2]),
        "data_dir": ("", "str", None, ""),
        "telemetry_interval_s": (10.0, "float", (1.0, 3600.0), "s"),
        "snapshot_interval_s": (60.0, "float", (5.0, 3600.0), "s"),
        "trend_interval_s": (60.0, "float", (1.0, 3600.0), "s"),
        "overrun_alarm_cycles": (3, "int", (1, 1000), "cycles"),
    },
    "mqtt": {
        "enabled": (True, "bool", None, ""),
        "host": ("127.0.0.1", "str", None, ""),
        "port": (1883, "int", (1, 65535), ""),
        # "5" (Mosquitto, production) or "3.1.1" (the supervisor's embedded broker, which speaks only 3.1.1)
        "protocol": ("5", "choice", ("5", "3.1.1"), ""),
        "username": ("", "str?", None, ""),
        "password_file": ("", "path", None, ""),
        "tls_ca": ("", "path", None, ""),
        "tls_cert": ("", "path", None, ""),
        "tls_key": ("", "path", None, ""),
        "keepalive_s": (20, "int", (5, 600), "s"),
        "session_expiry_s": (604800, "int", (60, 2592000), "s"),
        "reconnect_min_s": (0.5, "float", (0.1, 60.0), "s"),
        "reconnect_max_s": (30.0, "float", (0.2, 600.0), "s"),
        "publish_timeout_s": (10.0, "float", (1.0, 120.0), "s"),
        "max_command_ttl_s": (86400.0, "float", (10.0, 604800.0), "s"),
        "command_users": ([], "strlist", None, ""),
        "require_subscriber": (True, "bool", None, ""),
        # What the broker acknowledged in this span before a dropped connection is sent again after
        # the reconnect, and what the outbox kept at a start (a broker that lost power lacks what it
        # took since its last save: keep this above its autosave_interval); 0 = never
        "resend_after_reconnect_s": (120.0, "float", (0.0, 3600.0), "s"),
        # Command signatures (firmware/command_auth.py): the station's key from the supervisor;
        # without one every remote command is refused, unless unsigned ones are allowed explicitly.
        "command_key_file": ("", "path", None, ""),
        "insecure_unsigned_commands": (False, "bool", None, ""),
        # true = plain MQTT to a broker off loopback is intended (else `check-config` lists it)
        "insecure_plaintext": (False, "bool", None, ""),
    },
    "storage": {
        "outbox_max_messages": (200000, "int", (100, 10000000), "messages"),
        "outbox_synchronous": ("full", "choice", ("full", "normal"), ""),
        "journal_max_bytes": (1000000, "int", (10000, 100000000), "bytes"),
        "journal_files": (5, "int", (1, 100), "files"),
        "trend_max_rows": (100000, "int", (100, 10000000), "rows"),
    },
    "modbus_slave": {
        "enabled": (False, "bool", None, ""),
        "host": ("127.0.0.1", "str", None, ""),
        "port": (5502, "int", (1, 65535), ""),
        "unit_id": (1, "int", (0, 247), ""),
        "local_lease_s": (3600.0, "float", (60.0, 86400.0), "s"),
        # Local writes (firmware/modbus_slave.py): read-only unless enabled; clients by address.
        "writes_enabled": (False, "bool", None, ""),
        "allow_from": ([], "strlist", None, ""),
    },
    "metrics": {
        # GET /metrics for the company's monitoring (firmware/metrics.py): off unless enabled;
        # read-only figures, no secrets; off loopback only to the addresses in allow_from.
        "enabled": (False, "bool", None, ""),
        "host": ("127.0.0.1", "str", None, ""),
        "port": (9101, "int", (1, 65535), ""),
        "allow_from": ([], "strlist", None, ""),
    },
}
KNOWN_TOP = set(SECTIONS) | {"control", "bus", "device"}


@dataclass(frozen=True)
class StationSection:
    """[station]: identity and timing (seconds)."""

    id: str
    name: str
    cycle_s: float
    data_dir: str
    telemetry_interval_s: float
    snapshot_interval_s: float
    trend_interval_s: float
    overrun_alarm_cycles: int


@dataclass(frozen=True)
class MqttSection:
    """[mqtt]: broker, credentials, TLS and session parameters."""

    enabled: bool
    host: str
    port: int
    protocol: str
    username: str
    password_file: str
    tls_ca: str
    tls_cert: str
    tls_key: str
    keepalive_s: int
    session_expiry_s: int
    reconnect_min_s: float
    reconnect_max_s: float
    publish_timeout_s: float
    max_command_ttl_s: float
    command_users: tuple[str, ...]
    require_subscriber: bool
    resend_after_reconnect_s: float = 120.0
    command_key_file: str = ""
    insecure_unsigned_commands: bool = False
    insecure_plaintext: bool = False


@dataclass(frozen=True)
class StorageSection:
    """[storage]: outbox bound and durability, journal rotation, trend ring size."""

    outbox_max_messages: int
    outbox_synchronous: str
    journal_max_bytes: int
    journal_files: int
    trend_max_rows: int


@dataclass(frozen=True)
class SlaveSection:
    """[modbus_slave]: the Modbus TCP slave for a local HMI/SCADA."""

    enabled: bool
    host: str
    port: int
    unit_id: int
    local_lease_s: float
    writes_enabled: bool = False
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricsSection:
    """[metrics]: the station's Prometheus endpoint for the company's monitoring."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9101
    allow_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class StationConfig:
    """The whole validated station configuration (read-only)."""

    path: str
    station: StationSection
    mqtt: MqttSection
    storage: StorageSection
    modbus_slave: SlaveSection
    control: MappingProxyType  # section -> read-only {key: value}, as given (season dates as YYYYMMDD; core fills defaults)
    bus: Any  # heatkeeper.firmware.modbus.BusConfig
    metrics: MetricsSection = MetricsSection()

    def control_settings(self) -> dict:
        """A fresh, mutable deep copy of [control.*] for StationController(settings)."""
        return {sec: dict(values) for sec, values in self.control.items()}


def check_value(where: str, value: Any, kind: str, allowed: Any, unit: str, problems: list[str],
                base_dir: str = "") -> Any:
    """Check one TOML value (`where` = "section.key"); a problem naming key, value, unit and what
    is allowed is appended. Returns the value to keep: floats as float, None for a bad number.

    kind: "float" (a number, not bool/NaN/inf, core.checks) or "int" with (lo, hi); "bool";
    "choice" with a tuple; "id" (a station id); "strlist" (a list of non-empty strings, kept as a
    tuple); "text" (a non-empty string); "str" (a string, empty or not blank); "str?" (any
    string); "path" (a file, resolved against `base_dir`, that must be readable when set).
    """
    if kind in ("float", "int"):
        lo, hi = allowed
        if not checks.is_number(value) or (kind == "int" and not isinstance(value, int)) or not lo <= value <= hi:
            problems.append("%s=%r%s: must be %s in [%s, %s]" % (where, value, (" " + unit) if unit else "",
                                                                "an integer" if kind == "int" else "a number", lo, hi))
            return None
        return float(value) if kind == "float" else value
    if kind == "bool":
        if not isinstance(value, bool):
            problems.append("%s=%r: must be true or false" % (where, value))
        return value
    if kind == "choice":
        if isinstance(value, bool) or value not in allowed:
            problems.append("%s=%r: must be one of %s" % (where, value, ", ".join(repr(a) for a in allowed)))
        return value
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            problems.append("%s=%r: must be a non-empty string" % (where, value))
        return value
    if kind == "id":
        if not codec.valid_id(value):
            problems.append("%s=%r: must be 1-%d characters of A-Z a-z 0-9 _ - (used in topics and file names)"
                            % (where, value, codec.MAX_ID_CHARS))
        return value
    if kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append("%s=%r: must be a list of non-empty strings" % (where, value))
            return ()
        return tuple(value)
    if not isinstance(value, str) or (kind == "str" and not value.strip() and value != ""):
        problems.append("%s=%r: must be a string" % (where, value))
        return value
    if kind == "path" and value:
        path = os.path.join(base_dir, value)
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            problems.append("%s=%r: file not found or not readable (resolved to %s)" % (where, value, path))
        return path
    return value


def _section(name: str, raw: Any, base_dir: str, problems: list[str]) -> dict[str, Any]:
    spec = SECTIONS[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append("%s=%r: must be a table [%s]" % (name, raw, name))
        raw = {}
    for key in sorted(set(raw) - set(spec)):
        problems.append("%s.%s: unknown key; allowed: %s" % (name, key, ", ".join(spec)))
    values: dict[str, Any] = {}
    for key, (default, kind, allowed, unit) in spec.items():
        where = "%s.%s" % (name, key)
        if key not in raw:
            if default is None:
                problems.append("%s: missing (required)" % where)
            values[key] = tuple(default) if isinstance(default, list) else default
            continue
        values[key] = check_value(where, raw[key], kind, allowed, unit, problems, base_dir)
    return values


SEASON_DATE_KEYS = ("start_date", "end_date")


def _season_date(value: Any) -> Any:
    """A `[control.season]` date as core takes it (YYYYMMDD, an integer): also written as a TOML
    date (`start_date = 2026-11-15`) or quoted like the holidays ("2026-11-15"). Anything else
    is returned as it is, for core's check to name; a text that is no date gives None."""
    if isinstance(value, datetime.datetime):  # a TOML date-time: a day is wanted, not an instant
        return None
    if isinstance(value, datetime.date):
        return value.year * 10000 + value.month * 100 + value.day
    if isinstance(value, str):
        try:
            day = datetime.date.fromisoformat(value) if len(value) == 10 else None
        except ValueError:
            day = None
        return None if day is None else _season_date(day)
    return value


def _season_dates(raw: dict[str, Any], problems: list[str]) -> set[str]:
    """Season dates written as dates turned into core's YYYYMMDD in place; one that is no date
    is a problem, and its key is returned (core's own words on it would repeat the problem)."""
    season = raw.get("season")
    bad: set[str] = set()
    if not isinstance(season, dict):
        return bad
    for key in SEASON_DATE_KEYS:
        if key in season:
            value = _season_date(season[key])
            if value is None:
                problems.append("control.season.%s=%r: must be a local date: 2026-11-15, \"2026-11-15\" or 20261115"
                                % (key, season[key]))
                bad.add("season.%s=" % key)
            else:
                season[key] = value
    return bad


def _control(raw: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        problems.append("control=%r: must hold [control.<section>] tables" % (raw,))
        return {}
    raw = {sec: dict(values) for sec, values in raw.items()}  # the dates below change a copy
    bad_dates = _season_dates(raw, problems)
    found = [p for p in core_settings.validate(raw) if not p.startswith(tuple(bad_dates))]
    problems.extend("control." + p for p in found)
    return {sec: dict(values) for sec, values in raw.items()}


def _check_command_auth(mq: dict[str, Any], problems: list[str]) -> None:
    """[mqtt] command_key_file must hold a usable key; a key and insecure_unsigned_commands exclude each other."""
    from .command_auth import key_file_problem

    key_file = mq.get("command_key_file")
    if isinstance(key_file, str) and key_file and os.path.isfile(key_file):
        problem = key_file_problem("mqtt.command_key_file", key_file)
        if problem is not None:
            problems.append(problem)
    if key_file and mq.get("insecure_unsigned_commands") is True:
        problems.append("mqtt.insecure_unsigned_commands=true with mqtt.command_key_file=%r: give one or the other "
                        "(with a key, unsigned commands are refused)" % key_file)


def _check_allow_from(section: str, entries: Any, problems: list[str]) -> None:
    """`allow_from`: each an IP address or a CIDR network (IPv4 or IPv6)."""
    for entry in entries or ():
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append("%s.allow_from: %r is not an IP address or CIDR network "
                            "(e.g. \"192.168.10.20\" or \"192.168.10.0/24\")" % (section, entry))


def _check_slave_access(ms: dict[str, Any], problems: list[str]) -> None:
    """[modbus_slave] allow_from addresses; writes off loopback only to named clients."""
    _check_allow_from("modbus_slave", ms.get("allow_from"), problems)
    host = ms.get("host")
    if ms.get("enabled") is True and ms.get("writes_enabled") is True and not ms.get("allow_from") \
            and isinstance(host, str) and not _loopback(host):
        problems.append("modbus_slave.writes_enabled=true on host=%r with an empty allow_from: name the HMI's "
                        "address(es) in modbus_slave.allow_from, or bind to 127.0.0.1" % host)


def _check_metrics_access(me: dict[str, Any], ms: dict[str, Any], problems: list[str]) -> None:
    """[metrics] allow_from addresses; off loopback only to named monitoring servers; not the
    local panel's port."""
    _check_allow_from("metrics", me.get("allow_from"), problems)
    host = me.get("host")
    if me.get("enabled") is not True or not isinstance(host, str):
        return
    if not me.get("allow_from") and not _loopback(host):
        problems.append("metrics.host=%r with an empty allow_from: name the monitoring server's address(es) in "
                        "metrics.allow_from, or bind to 127.0.0.1" % host)
    if ms.get("enabled") is True and ms.get("port") == me.get("port") and ms.get("host") == host:
        problems.append("metrics.port=%r: the same address as modbus_slave.port on %s; give each its own port"
                        % (me.get("port"), host))


def _loopback(host: str) -> bool:
    """True for "localhost" and loopback addresses (127.0.0.0/8, ::1, also in brackets)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_config(raw: Any, path: str = "station.toml") -> tuple[StationConfig | None, list[str]]:
    """Validate a parsed station TOML. (StationConfig, []) when sound, else (None, every problem)."""
    from heatkeeper.firmware.modbus import validate_bus_config

    problems: list[str] = []
    if not isinstance(raw, dict):
        return None, ["%s: must be a TOML table" % path]
    base_dir = os.path.dirname(os.path.abspath(path))
    for key in sorted(set(raw) - KNOWN_TOP):
        problems.append("%s: unknown section; allowed: %s" % (key, ", ".join(sorted(KNOWN_TOP))))
    parts = {name: _section(name, raw.get(name), base_dir, problems) for name in SECTIONS}
    st, mq = parts["station"], parts["mqtt"]
    if isinstance(st.get("id"), str):
        data_dir = st["data_dir"] if isinstance(st.get("data_dir"), str) and st["data_dir"] else os.path.join("var", st["id"])
        st["data_dir"] = os.path.normpath(os.path.join(base_dir, data_dir))
    if bool(mq.get("tls_cert")) != bool(mq.get("tls_key")):
        problems.append("mqtt.tls_cert=%r, mqtt.tls_key=%r: give both (client certificate) or neither"
                        % (mq.get("tls_cert"), mq.get("tls_key")))
    if mq.get("password_file") and not mq.get("username") and isinstance(st.get("id"), str):
        mq["username"] = st["id"]  # the station id doubles as its broker user (per-station ACL)
    _check_command_auth(mq, problems)
    _check_slave_access(parts["modbus_slave"], problems)
    _check_metrics_access(parts["metrics"], parts["modbus_slave"], problems)
    rmin, rmax = mq.get("reconnect_min_s"), mq.get("reconnect_max_s")
    if isinstance(rmin, float) and isinstance(rmax, float) and rmin > rmax:
        problems.append("mqtt.reconnect_min_s=%r s: must not exceed mqtt.reconnect_max_s=%r s" % (rmin, rmax))
    control = _control(raw.get("control"), problems)
    ctl_cycle = control.get("station", {}).get("cycle_s")
    if ctl_cycle is not None and isinstance(st.get("cycle_s"), float) and ctl_cycle != st["cycle_s"]:
        problems.append("control.station.cycle_s=%r s: the cycle is [station].cycle_s=%r s; remove it from [control.station]"
                        % (ctl_cycle, st["cycle_s"]))
    bus_config, bus_problems = validate_bus_config(raw)
    problems.extend(bus_problems)
    if problems:
        return None, problems
    frozen_control = MappingProxyType({sec: MappingProxyType(copy.deepcopy(v)) for sec, v in control.items()})
    cfg = StationConfig(
        path=os.path.abspath(path),
        station=StationSection(**st),
        mqtt=MqttSection(**mq),
        storage=StorageSection(**parts["storage"]),
        modbus_slave=SlaveSection(**parts["modbus_slave"]),
        control=frozen_control,
        bus=bus_config,
        metrics=MetricsSection(**parts["metrics"]),
    )
    return cfg, []


def transport_problems(mqtt: MqttSection) -> list[str]:
    """Plain MQTT to a broker off loopback sends the station's password and data in clear:
    a problem for `check-config` unless `mqtt.insecure_plaintext = true` says it is intended.
    (Not a load error: a station never stops heating over its uplink settings.)"""
    if not mqtt.enabled or mqtt.tls_ca or mqtt.tls_cert or mqtt.insecure_plaintext:
        return []
    if _loopback(mqtt.host):
        return []
    return ["mqtt.host=%r: plain MQTT off this host sends the station's password and data in clear; set "
            "mqtt.tls_ca (the broker's CA) for TLS, or mqtt.insecure_plaintext = true if that is intended" % mqtt.host]


def load_config(path: str) -> StationConfig:
    """Read, parse and validate the station TOML at `path`; ConfigError lists every problem."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(["%s: file not found" % path]) from None
    except OSError as exc:
        raise ConfigError(["%s: cannot read (%s)" % (path, exc)]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(["%s: not valid TOML: %s" % (path, exc)]) from None
    cfg, problems = validate_config(raw, path)
    if cfg is None:
        raise ConfigError(problems)
    return cfg
