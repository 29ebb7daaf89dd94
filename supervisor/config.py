"""Supervisor configuration: TOML in, one validated, frozen-by-convention dict out.

Every problem is collected (key, value, unit, allowed range) and raised together as a
ConfigError, so an operator fixes a file in one pass. Defaults live only in DEFAULTS.

    [supervisor] data_dir="var/supervisor"  utc_offset_h=8  site_name="..."
    [broker]     embedded=true  host="127.0.0.1"  port=1883  insecure_plaintext=false
                 tls_port=8883  tls_ca  tls_cert  tls_key  ingest_processes=0
    [mqtt]       host port username password_file protocol="3.1.1"|"5" client_id=""
                 shared_group=""  tls_ca  insecure_plaintext=false  keepalive_s  session_expiry_s
                 ingest_reader="lean"|"aiomqtt"  (the uplink connection: mqtt_reader.py's own MQTT v5
                 subscriber, which speaks v5 whatever `protocol` says, or aiomqtt/paho as before)
    [storage]    backend="sqlite"|"postgres"  path  dsn  batch_max  batch_interval_s  agg_flush_s
                 raw_retention_days  agg_retention_days  readings_retention_days  audit_retention_days
    [ingest]     max_payload_bytes  stale_after_s
    [commands]   timeout_s  default_lease_s
    [collectors] forward_interval_s  max_age_s  csv="collectors.csv"  min_temp_c  max_temp_c
    [outdoor]    enabled=true  interval_s=300  min_stations=2  max_sample_age_s=900
    [compliance] floor_c=18  outage_h=24  refund_failures=3  refund_window_days=30
    [web]        enabled=true  host="127.0.0.1"  port=8080
    [fleet_alarms] offline_after_s=300 ... (the supervisor's own alarms: fleet_alarm_settings.py)
    [season]     start="11-15"  end="03-15"   (heating season, local month-day, both included)
                 timezone preheat_h [season.cities.NAME] start end timezone preheat_h  (the calendar
                 pushed to the city's stations: season_calendar.py)
    [refunds]    floor_c=18  timezone="Asia/Shanghai"  outage_refund_after_h=24  failed_measurements=3
                 window_days=30  month_days=30   (the city's refund rules: supervisor/refunds.py; the
                 season dates are [season]'s, in the season's year)
    [forecast]   refresh_s=3600  timeout_s=20  retries=3  retry_s=30  max_points=168
                 [forecast.cities] arxan="https://...open-meteo..." or a file path: forecast.py
    [tickets]    require=["set_mode", "group_command", ...]   (operations a second person approves: tickets.py)
    [rollout]    watch_s=600   (how long pilots run a pushed version before the hold point: rollout.py)
    [[station]]   id="arxan-01"  name="..."  city="..."  floor_c=18 (else compliance.floor_c)
                  pilot=false (gets staged settings pushes first)  class="" (station class, a group to target)
                  households=0 (0: unknown; collector coverage is checked against it)
                  area_m2, water_volume_m3 (optional: the station's whole heated area for the
                  energy figures, else the household register's sum, and the water volume for
                  the water-loss rate)
    [[collector]] id="c-101"  station="arxan-01"  group="block-3-top"  (optional: household="H-0101"
                  the household whose flat it is in, placement="top_floor" | "ground_floor" | "edge" |
                  "middle"; the coverage per station: supervisor/coverage.py)
    [[collector_platform]] user="rooms-arxan"  prefix="c-1"   (its own MQTT user, embedded broker)
    [notify] [[notify.channel]] [[notify.person]] [[notify.rota]]   alarm notifications: notify/config.py
    [authority_reports] [complaints]   reports to the authority, hotline deadlines: authority_reports_config.py

MQTT credentials: every connection of the supervisor has its own user, and the broker binds
client ids to user names (`broker-config`: use_username_as_clientid). `mqtt.username` and
`mqtt.password_file` are the ingest connection's; the command connection is
`<username>-cmd`, and `--ingest-only --instance N` is `<username>-ingest-N`, each with its
`<user>.password` beside `mqtt.password_file` (broker-config writes them all). The client id
is the user name unless `mqtt.client_id` is set (then `<client_id>`, `<client_id>-cmd`, ...).
Plain MQTT off loopback (either side) is a problem unless `insecure_plaintext = true` says so.
"""

from __future__ import annotations

import copy
import os
import tomllib
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from heatkeeper.core import codec
from heatkeeper.supervisor.web.config import DEFAULTS as WEB_DEFAULTS
from heatkeeper.supervisor.web.config import WebConfigError
from heatkeeper.supervisor.web.config import validate as validate_web

from . import authority_reports_config, fleet_alarm_settings, season_calendar
from . import forecast as forecast_settings
from . import tickets as tickets_settings
from .allocation_runner import validate_config as allocation_config
from .config_files import read_csv
from .config_tables import unique_tables
from .hosts import is_loopback
from .notify.config import validate as validate_notify

DEFAULTS: dict[str, dict[str, Any]] = {
    "supervisor": {"data_dir": "var/supervisor", "utc_offset_h": 8.0, "site_name": "heatkeeper"},
    "broker": {"embedded": True, "host": "127.0.0.1", "port": 1883, "insecure_plaintext": False, "tls_port": 8883,
               "tls_ca": "", "tls_cert": "", "tls_key": "", "ingest_processes": 0},
    "mqtt": {"host": "127.0.0.1", "port": 1883, "username": "supervisor", "password_file": "", "protocol": "3.1.1",
             "client_id": "", "shared_group": "", "tls_ca": "", "insecure_plaintext": False, "keepalive_s": 30,
             "session_expiry_s": 86400, "ingest_reader": "lean"},
    "storage": {"backend": "sqlite", "path": "", "dsn": "", "batch_max": 2000, "batch_interval_s": 0.25,
                "agg_flush_s": 60.0,
                "raw_retention_days": 90.0, "agg_retention_days": 1830.0, "readings_retention_days": 1830.0,
                "audit_retention_days": 3650.0},
    "ingest": {"max_payload_bytes": codec.MAX_PAYLOAD_BYTES, "stale_after_s": 120.0},
    "commands": {"timeout_s": 60.0, "default_lease_s": 3600.0},
    "collectors": {"forward_interval_s": 60.0, "max_age_s": 1800.0, "csv": "", "min_temp_c": -10.0,
                   "max_temp_c": 45.0},
    "outdoor": {"enabled": True, "interval_s": 300.0, "min_stations": 2, "max_sample_age_s": 900.0},
    "compliance": {"floor_c": 18.0, "outage_h": 24.0, "refund_failures": 3, "refund_window_days": 30.0,
                   "target_c": 21.0, "tolerance_k": 2.0},  # the city's target and how far below it a room may be
    "web": {"enabled": True, "host": "127.0.0.1", "port": 8080},
    "fleet_alarms": dict(fleet_alarm_settings.DEFAULTS),  # checked by fleet_alarm_settings
    "season": dict(fleet_alarm_settings.SEASON_DEFAULTS),
    "refunds": {"floor_c": 18.0, "timezone": "Asia/Shanghai", "outage_refund_after_h": 24.0, "failed_measurements": 3,
                "window_days": 30.0, "month_days": 30},
    "forecast": dict(forecast_settings.DEFAULTS),  # checked by forecast.validate_config
    "authority_reports": dict(authority_reports_config.DEFAULTS),  # checked by authority_reports_config
    "complaints": dict(authority_reports_config.COMPLAINT_DEFAULTS),
    "tickets": dict(tickets_settings.DEFAULTS),  # checked by tickets.validate_config
    "rollout": {"watch_s": 600.0},
    "allocation": {"networks": [], "settings": {}},  # checked by allocation_runner.validate_config
}

# (section, key) -> (unit, low, high) for numbers.
_RANGES: dict[tuple[str, str], tuple[str, float, float]] = {
    ("supervisor", "utc_offset_h"): ("h", -12, 14),
    ("broker", "port"): ("", 1, 65535),
    ("broker", "tls_port"): ("", 1, 65535),
    ("broker", "ingest_processes"): ("processes", 0, 64),
    ("mqtt", "port"): ("", 1, 65535),
    ("mqtt", "keepalive_s"): ("s", 5, 3600),
    ("mqtt", "session_expiry_s"): ("s", 0, 30 * 86400),
    ("storage", "batch_max"): ("messages", 1, 100000),
    ("storage", "batch_interval_s"): ("s", 0.01, 10),
    ("storage", "agg_flush_s"): ("s", 1, 600),
    ("storage", "raw_retention_days"): ("d", 1, 36500),
    ("storage", "agg_retention_days"): ("d", 1, 36500),
    ("storage", "readings_retention_days"): ("d", 1, 36500),
    ("storage", "audit_retention_days"): ("d", 1, 36500),
    ("ingest", "max_payload_bytes"): ("B", 256, codec.MAX_PAYLOAD_BYTES),
    ("ingest", "stale_after_s"): ("s", 5, 86400),
    ("commands", "timeout_s"): ("s", 1, 3600),
    ("commands", "default_lease_s"): ("s", 10, 7 * 86400),
    ("collectors", "forward_interval_s"): ("s", 1, 3600),
    ("collectors", "max_age_s"): ("s", 60, 86400),
    ("collectors", "min_temp_c"): ("degC", -50, 30),
    ("collectors", "max_temp_c"): ("degC", 20, 80),
    ("outdoor", "interval_s"): ("s", 1, 3600),
    ("outdoor", "min_stations"): ("stations", 1, 10000),
    ("outdoor", "max_sample_age_s"): ("s", 10, 86400),
    ("compliance", "floor_c"): ("degC", 10, 25),
    ("compliance", "outage_h"): ("h", 1, 240),
    ("compliance", "refund_failures"): ("", 1, 100),
    ("compliance", "refund_window_days"): ("d", 1, 365),
    ("compliance", "target_c"): ("degC", 16, 26),
    ("compliance", "tolerance_k"): ("K", 0, 5),
    ("web", "port"): ("", 1, 65535),
    ("rollout", "watch_s"): ("s", 0, 7 * 86400),
    ("refunds", "floor_c"): ("degC", 5, 30),
    ("refunds", "outage_refund_after_h"): ("h", 0, 24 * 366),
    ("refunds", "failed_measurements"): ("measurements", 1, 1000),
    ("refunds", "window_days"): ("d", 0, 366),
    ("refunds", "month_days"): ("d", 0, 366),
}

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("mqtt", "protocol"): ("3.1.1", "5"),
    ("mqtt", "ingest_reader"): ("lean", "aiomqtt"),
    ("storage", "backend"): ("sqlite", "postgres"),
}


class ConfigError(ValueError):
    """Bad supervisor configuration; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("supervisor configuration has %d problem(s):\n  " % len(problems) + "\n  ".join(problems))
        self.problems = problems


def load(path: str) -> dict[str, Any]:
    """Read and validate a supervisor TOML file; relative paths are taken from its folder."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(["%s: cannot read (%s)" % (path, exc.strerror)]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8: other bytes are no TOML
        raise ConfigError(["%s: not valid TOML (%s)" % (path, exc)]) from exc
    return validate(raw, base_dir=os.path.dirname(os.path.abspath(path)))


def validate(raw: dict[str, Any], base_dir: str = ".") -> dict[str, Any]:
    """The full config (defaults filled in, paths absolute), or ConfigError with every problem."""
    problems: list[str] = []
    cfg: dict[str, Any] = copy.deepcopy(DEFAULTS)
    for section, values in raw.items():
        if section in ("station", "collector", "collector_platform", "notify"):
            continue
        if section not in DEFAULTS:
            problems.append("[%s]: unknown section; known: %s, [[station]], [[collector]]" % (section, ", ".join(DEFAULTS)))
            continue
        if not isinstance(values, dict):
            problems.append("[%s]: must be a table" % section)
            continue
        if section == "fleet_alarms":
            clean, found = fleet_alarm_settings.validate(values)
            cfg[section].update(clean)
            problems.extend(found)
            continue
        if section == "season":  # start, end; the cities' calendars pushed to stations: season_calendar.py
            cfg[section], cfg["season_calendars"], found = season_calendar.validate_config(values)
            problems.extend(found)
            continue
        if section == "forecast":
            cfg[section], found = forecast_settings.validate_config(values, base_dir)
            problems.extend(found)
            continue
        if section in authority_reports_config.SECTIONS:
            continue  # after [notify] below: its e-mail channel is named there
        if section == "tickets":
            cfg[section], found = tickets_settings.validate_config(values)
            problems.extend(found)
            continue
        if section == "allocation":
            cfg[section], found = allocation_config(values)
            problems.extend(found)
            continue
        for key, value in values.items():
            if section == "web" and key in WEB_DEFAULTS:
                cfg["web"][key] = value  # the dashboard's own settings: checked by web.config below
                continue
            if key not in DEFAULTS[section]:
                problems.append("%s.%s: unknown key; known: %s" % (section, key, ", ".join(DEFAULTS[section])))
                continue
            default = DEFAULTS[section][key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok = isinstance(value, str)
            if not ok:
                problems.append("%s.%s=%r: must be %s" % (section, key, value, type(default).__name__))
                continue
            rng = _RANGES.get((section, key))
            if rng is not None and not rng[1] <= value <= rng[2]:
                problems.append("%s.%s=%r %s: must be in [%g, %g]" % (section, key, value, rng[0], rng[1], rng[2]))
                continue
            choices = _CHOICES.get((section, key))
            if choices is not None and value not in choices:
                problems.append("%s.%s=%r: must be one of %s" % (section, key, value, ", ".join(choices)))
                continue
            cfg[section][key] = value

    def resolve(p: str) -> str:
        return p if not p or os.path.isabs(p) else os.path.normpath(os.path.join(base_dir, p))

    cfg["supervisor"]["data_dir"] = resolve(cfg["supervisor"]["data_dir"])
    if not cfg["storage"]["path"]:
        cfg["storage"]["path"] = os.path.join(cfg["supervisor"]["data_dir"], "supervisor.db")
    for section, key in (("storage", "path"), ("mqtt", "password_file"), ("mqtt", "tls_ca"), ("collectors", "csv"),
                         ("broker", "tls_ca"), ("broker", "tls_cert"), ("broker", "tls_key")):
        cfg[section][key] = resolve(cfg[section][key])
    if cfg["storage"]["backend"] == "postgres" and not cfg["storage"]["dsn"]:
        problems.append("storage.dsn='': required when storage.backend='postgres'")
    problems.extend(_transport_problems(cfg))
    if cfg["mqtt"]["shared_group"] and not codec.valid_id(cfg["mqtt"]["shared_group"]):
        problems.append("mqtt.shared_group=%r: must be 1-64 of A-Z a-z 0-9 _ -" % cfg["mqtt"]["shared_group"])
    problems.extend(_refund_problems(cfg["refunds"]))
    if cfg["collectors"]["min_temp_c"] >= cfg["collectors"]["max_temp_c"]:
        problems.append("collectors.min_temp_c must be below collectors.max_temp_c")

    cfg["stations"] = _stations(raw.get("station", []), problems)
    collectors = _collectors(raw.get("collector", []), "[[collector]]", problems)
    if cfg["collectors"]["csv"]:
        collectors += read_collectors_csv(cfg["collectors"]["csv"], problems)
    seen: set[str] = set()
    known = {s["id"] for s in cfg["stations"]}
    for c in collectors:
        if c["id"] in seen:
            problems.append("collector id=%r: defined twice" % c["id"])
        seen.add(c["id"])
        if c["station"] not in known:
            problems.append("collector id=%r station=%r: no such [[station]]" % (c["id"], c["station"]))
    cfg["collectors_map"] = {c["id"]: c for c in collectors}
    for city in sorted(set(cfg["forecast"]["cities"]) - {s["city"] for s in cfg["stations"]}):
        problems.append("forecast.cities.%s: no [[station]] has city=%r" % (city, city))
    cfg.setdefault("season_calendars", {})
    for city in sorted(set(cfg["season_calendars"]) - {s["city"] for s in cfg["stations"]}):
        problems.append("season.cities.%s: no [[station]] has city=%r" % (city, city))
    cfg["collector_platforms"] = _collector_platforms(raw.get("collector_platform", []), cfg, problems)
    cfg["notify"] = validate_notify(raw.get("notify"), [s["id"] for s in cfg["stations"]], base_dir,
                                    cfg["supervisor"]["data_dir"], problems)
    authority_reports_config.validate(raw, cfg, base_dir, problems)
    try:
        validate_web(cfg)
    except WebConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def _refund_problems(refunds: dict[str, Any]) -> list[str]:
    """[refunds]: whole numbers where the rules count, a time zone the system knows."""
    problems = []
    for key in ("failed_measurements", "month_days"):
        if refunds[key] != int(refunds[key]):
            problems.append("refunds.%s=%r: must be a whole number" % (key, refunds[key]))
        refunds[key] = int(refunds[key])
    try:
        ZoneInfo(refunds["timezone"])
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append("refunds.timezone=%r: must be an IANA time zone name such as 'Asia/Shanghai'"
                        % refunds["timezone"])
    return problems


def _transport_problems(cfg: dict[str, Any]) -> list[str]:
    """Plaintext MQTT off loopback, the embedded broker's TLS files, and the user names the
    broker reserves for the supervisor's connections."""
    problems: list[str] = []
    b, m = cfg["broker"], cfg["mqtt"]
    tls = [b["tls_ca"], b["tls_cert"], b["tls_key"]]
    if any(tls) and not all(tls):
        problems.append("broker.tls_ca=%r, broker.tls_cert=%r, broker.tls_key=%r: give all three or none" % tuple(tls))
    for key in ("tls_ca", "tls_cert", "tls_key"):
        if b[key] and not os.path.isfile(b[key]):
            problems.append("broker.%s=%r: file not found" % (key, b[key]))
    if b["embedded"] and not is_loopback(b["host"]) and not all(tls) and not b["insecure_plaintext"]:
        problems.append("broker.host=%r: the embedded broker would take plain MQTT (passwords in clear) off loopback; "
                        "give broker.tls_ca, broker.tls_cert and broker.tls_key, or set broker.insecure_plaintext = true"
                        % b["host"])
    if not is_loopback(m["host"]) and not m["tls_ca"] and not m["insecure_plaintext"]:
        problems.append("mqtt.host=%r: plain MQTT off loopback sends the supervisor's password in clear; give "
                        "mqtt.tls_ca, or set mqtt.insecure_plaintext = true" % m["host"])
    if not codec.valid_id(m["username"]):
        problems.append("mqtt.username=%r: must be 1-64 of A-Z a-z 0-9 _ - (it is also the client id)" % m["username"])
    return problems


def _collector_platforms(items: Any, cfg: dict[str, Any], problems: list[str]) -> list[dict[str, str]]:
    """[[collector_platform]] user, prefix: one MQTT user per collector platform (embedded
    broker), allowed to publish readings for the configured collectors whose id starts with prefix."""
    out: list[dict[str, str]] = []
    if not isinstance(items, list):
        problems.append("[[collector_platform]]: must be an array of tables")
        return out
    taken = {s["id"] for s in cfg["stations"]} | {"admin", "collectors"}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append("collector_platform[%d]: must be a table" % i)
            continue
        for key in sorted(set(item) - {"user", "prefix"}):
            problems.append("collector_platform[%d].%s: unknown key; known: user, prefix" % (i, key))
        user, prefix = item.get("user"), item.get("prefix")
        if not isinstance(user, str) or not codec.valid_id(user):
            problems.append("collector_platform[%d].user=%r: must be 1-64 of A-Z a-z 0-9 _ -" % (i, user))
        elif user in taken or user == cfg["mqtt"]["username"] or user.startswith(cfg["mqtt"]["username"] + "-"):
            problems.append("collector_platform[%d].user=%r: already a station, another platform or one of the "
                            "supervisor's own users" % (i, user))
        elif not isinstance(prefix, str) or not prefix:
            problems.append("collector_platform[%d].prefix=%r: must be non-empty text (an empty prefix would "
                            "allow every collector)" % (i, prefix))
        else:
            taken.add(user)
            out.append({"user": user, "prefix": prefix})
    return out


STATION_KEYS = ("id", "name", "city", "floor_c", "households", "pilot", "class", "area_m2", "water_volume_m3")
# the station's whole heated area for the energy figures (else the household register's sum), and
# the system's water volume for the water-loss rate (supervisor/energy.py): optional, None when not given
STATION_AMOUNTS = {"area_m2": (1.0, 1.0e8, "m2"), "water_volume_m3": (0.1, 1.0e6, "m3")}


def _station_numbers(item: dict[str, Any], i: int, problems: list[str]) -> dict[str, Any]:
    """A station's own comfort floor (None: compliance.floor_c), its households (0: unknown), its
    heated area and water volume (None: not given)."""
    out: dict[str, Any] = {"floor_c": None, "households": 0, "area_m2": None, "water_volume_m3": None}
    for key, (low, high, unit) in STATION_AMOUNTS.items():
        value = item.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            problems.append("station[%d].%s=%r %s: must be a number in [%g, %g]" % (i, key, value, unit, low, high))
        else:
            out[key] = float(value)
    floor, households = item.get("floor_c"), item.get("households", 0)
    if floor is not None:
        low, high = _RANGES[("compliance", "floor_c")][1:]
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not low <= floor <= high:
            problems.append("station[%d].floor_c=%r degC: must be a number in [%g, %g]" % (i, floor, low, high))
        else:
            out["floor_c"] = float(floor)
    if isinstance(households, bool) or not isinstance(households, int) or not 0 <= households <= 1_000_000:
        problems.append("station[%d].households=%r: must be a whole number in [0, 1000000] (0: unknown)"
                        % (i, households))
    else:
        out["households"] = households
    return out


def _station_rollout(item: dict[str, Any], i: int, problems: list[str]) -> dict[str, Any]:
    """A station's part in staged pushes: a pilot or not, and its class (a group to target)."""
    pilot, klass = item.get("pilot", False), item.get("class", "")
    if not isinstance(pilot, bool):
        problems.append("station[%d].pilot=%r: must be true or false" % (i, pilot))
        pilot = False
    if not isinstance(klass, str) or len(klass) > 64:
        problems.append("station[%d].class=%r: must be text of at most 64 characters" % (i, klass))
        klass = ""
    return {"pilot": pilot, "class": klass}


def _stations(items: Any, problems: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, sid, item in unique_tables(items, "station", "id", codec.valid_id, "1-64 of A-Z a-z 0-9 _ -", problems):
        for key in item:
            if key not in STATION_KEYS:
                problems.append("station[%d].%s: unknown key; known: %s" % (i, key, ", ".join(STATION_KEYS)))
        entry: dict[str, Any] = {"id": sid, "name": str(item.get("name", sid)), "city": str(item.get("city", ""))}
        entry.update(_station_rollout(item, i, problems))
        entry.update(_station_numbers(item, i, problems))
        out.append(entry)
    return out


# Where a room collector sits (the coldest positions first: top floor, ground floor, end flats;
# supervisor/coverage.py); "middle" is any other flat.
PLACEMENTS = ("top_floor", "ground_floor", "edge", "middle")


def _collectors(items: Any, where: str, problems: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if not isinstance(items, list):
        problems.append("%s: must be an array of tables" % where)
        return out
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append("%s[%d]: must be a table" % (where, i))
            continue
        cid, sid, group = item.get("id"), item.get("station"), item.get("group")
        bad = False
        if not codec.valid_id(cid):
            problems.append("%s[%d].id=%r: must be 1-64 of A-Z a-z 0-9 _ -" % (where, i, cid))
            bad = True
        if not isinstance(sid, str) or not sid:
            problems.append("%s[%d].station=%r: must name a station" % (where, i, sid))
            bad = True
        if not isinstance(group, str) or not 0 < len(group) <= 64:
            problems.append("%s[%d].group=%r: must be text of 1-64 characters" % (where, i, group))
            bad = True
        household, placement = item.get("household") or "", item.get("placement") or ""
        if not isinstance(household, str) or len(household) > 120:
            problems.append("%s[%d].household=%r: must be a household id (text of at most 120 characters)"
                            % (where, i, household))
            bad = True
        if placement not in ("", *PLACEMENTS):
            problems.append("%s[%d].placement=%r: must be one of %s (or empty)" % (where, i, placement,
                                                                                ", ".join(PLACEMENTS)))
            bad = True
        if not bad:
            out.append({"id": str(cid), "station": str(sid), "group": str(group), "household": str(household),
                        "placement": str(placement)})
    return out


def read_collectors_csv(path: str, problems: list[str]) -> list[dict[str, str]]:
    """Collector map from a CSV with a header `id,station,group` and optionally `household` and
    `placement` (other columns ignored)."""
    header, rows, problem = read_csv(path)
    if problem:
        problems.append("collectors.csv=%r: %s" % (path, problem))
        return []
    missing = {"id", "station", "group"} - set(header)
    if missing:
        problems.append("collectors.csv=%r: missing column(s) %s" % (path, ", ".join(sorted(missing))))
        return []
    return _collectors(rows, path, problems)
