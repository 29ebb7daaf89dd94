"""`heatkeeper demo`: the whole system on one machine, with one command.

Starts the supervisor on SQLite with its embedded MQTT broker (a Mosquitto child process with the
production configuration, amqtt where no mosquitto is installed), and three stations, each a real
`heatkeeper station` process talking Modbus RTU over a pseudo-terminal to its own
`heatkeeper sim` (device simulators driven by the plant model), each a place of its own:

    arxan-01   阿尔山1号换热站 (Arxan No. 1), severe cold, 100,000 m2 in six building groups
    ordos-01   伊金霍洛站 (Ordos Ejin Horo), 60,000 m2 in four, a floor-heated one among them
    yutai-01   鱼台县城区站 (Yutai county), southern Shandong, 40,000 m2 of older flats in three

The story (STORY, in simulated seconds; the same at every --time-scale, within five minutes at
the default real time): yutai-01 springs a leak at 0:30 and its make-up water leak alarm (the
make-up rate above its limit) follows by 4:00; at 0:45 the windows of ordos-01's 东区2号楼 are
opened, its room collectors fall below 18 degC by 2:00 and are back above 18 degC by 4:30.

Inside the heating season ([season] defaults) the supervisor gets a `[season.cities.NAME]` for
each city and pushes its calendar to the stations (season_calendar_cities); outside it none, as
the stations would then rightly stop heating.

Prints the dashboard address and the demo logins; `--time-scale K` runs K simulated seconds
per wall second (stations and plants together); Ctrl-C stops everything cleanly. Every file
(configs, databases, outboxes, logs) lives under --data-dir, made fresh on each start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from heatkeeper.supervisor import fleet_alarm_settings, household_refunds
from heatkeeper.tools import demo_forecast, demo_notify, demo_records
from heatkeeper.tools.plant import params as plant_params
from heatkeeper.tools.procs import ProcessGroup, free_port, wait_path, wait_port

REPO_EXAMPLE = Path(__file__).resolve().parent.parent / "firmware" / "examples" / "station.toml"


def _group(name: str, share: float, h_mult: float, rad_mult: float, flow_mult: float, delay_s: float,
           kind: str = "radiator", solar: float = 1.0) -> dict[str, Any]:
    """One building group of a demo plant (heatkeeper.tools.plant.params.GROUPS: share of the floor
    area, heat-loss multiplier (insulation), radiators, flow share, supply delay, emitters, sun)."""
    return {"name": name, "area_share": share, "h_mult": h_mult, "rad_mult": rad_mult, "flow_mult": flow_mult,
            "delay_s": delay_s, "kind": kind, "solar": solar}


# id, name, city (its weather), floor area, plant overrides (insulation: h_tot_w_m2k), building
# groups, scheduled scenarios (simulated s, control-channel command)
STATIONS: list[dict[str, Any]] = [
    {"id": "arxan-01", "name": "阿尔山1号换热站 (Arxan No. 1)", "city": "arxan", "area_m2": 100000.0,
     "plant": {},  # post-2010 stock, 0.9 W/m2K
     "groups": [_group("1号楼", 0.22, 1.00, 1.12, 1.05, 150.0), _group("2号楼", 0.20, 0.97, 0.95, 1.00, 240.0),
                _group("3号楼", 0.18, 1.02, 1.20, 1.10, 300.0), _group("5号楼", 0.16, 1.00, 0.88, 0.95, 420.0),
                _group("6号楼 (1998)", 0.16, 1.40, 0.80, 0.90, 600.0, solar=0.7),
                _group("幼儿园", 0.08, 0.75, 1.00, 0.80, 540.0, kind="floor")],
     "scenarios": []},
    {"id": "ordos-01", "name": "伊金霍洛站 (Ordos Ejin Horo)", "city": "ordos", "area_m2": 60000.0,
     "plant": {"h_tot_w_m2k": 1.0, "design_outdoor_c": -20.0},
     "groups": [_group("东区1号楼", 0.30, 1.00, 1.05, 1.00, 180.0), _group("东区2号楼", 0.30, 1.05, 0.95, 0.95, 300.0),
                _group("西区3号楼", 0.25, 0.80, 1.00, 0.85, 480.0, kind="floor"),
                _group("商业楼", 0.15, 1.20, 0.90, 1.10, 240.0, solar=1.2)],
     # Windows opened in the monitored flats of 东区2号楼 for 105 s: a group falls short and recovers.
     "scenarios": [(45.0, "inject open_window 2 delta_k=4.0 duration_s=105 tau_s=45")]},
    {"id": "yutai-01", "name": "鱼台县城区站 (Yutai county)", "city": "yutai", "area_m2": 40000.0,
     "plant": {"h_tot_w_m2k": 1.2, "design_outdoor_c": -7.0},  # 1990s flats, little insulation
     "groups": [_group("老街1号楼", 0.40, 1.00, 1.00, 1.00, 200.0), _group("老街2号楼", 0.35, 1.10, 0.90, 0.95, 320.0),
                _group("文化路3号楼", 0.25, 1.30, 0.85, 1.05, 420.0, solar=0.8)],
     # A leak of 2 m3/h on the secondary network: the make-up water replaces it.
     "scenarios": [(30.0, "inject leak 2.0")]},
]

# The story in simulated seconds (README "heatkeeper demo"; tools/tests/test_demo.py holds the
# demo to it): (station, by when, what an operator sees).
STORY: list[tuple[str, float, str]] = [
    ("ordos-01", 120.0, "东区2号楼's room collectors below 18 degC"),
    ("yutai-01", 240.0, "the make-up water leak alarm (make-up rate above its limit)"),
    ("ordos-01", 270.0, "东区2号楼 back above 18 degC"),
]
# The station's make-up leak rate over its shortest window (600 s, core.make_up): the rate is
# known after a quarter of it, so the alarm follows a leak within minutes, not after 15.
LEAK_WINDOW_S = 600.0

DEMO_USERS = [("admin", "heatkeeper-admin", "admin"), ("operator", "heatkeeper", "operator"),
              ("viewer", "heatkeeper-viewer", "viewer")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="K",
                        help="simulated seconds per wall second, 1 to 60 (default 1: real time)")
    parser.add_argument("--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (default 8080; 0 = any free)")
    parser.add_argument("--data-dir", default="var/demo", help="where configs, databases and logs go (made fresh)")
    parser.add_argument("--duration-s", type=float, default=None,
                        help="stop by itself after this many wall seconds (default: run until Ctrl-C)")
    parser.add_argument("--notify-webhook", metavar="URL", default="",
                        help="also POST every alarm notification to URL as the signed JSON webhook "
                             "(default: notifications go to the local outbox and the notifications page only)")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _table(name: str, values: dict[str, Any]) -> str:
    return "[%s]\n" % name + "".join("%s = %s\n" % (k, _toml_value(v)) for k, v in values.items()) + "\n"


def _protocol() -> str:
    """MQTT 5 with the embedded Mosquitto (retained messages are flagged on live delivery, so
    both ends refuse them at once); 3.1.1 where the amqtt fallback serves."""
    from heatkeeper.supervisor.embedded import mosquitto_binary

    return "5" if mosquitto_binary() else "3.1.1"


def _station_toml(st: dict[str, Any], root: Path, broker_port: int, slave_port: int, metrics_port: int,
                  cycle_s: float, password_file: Path, command_key_file: Path) -> str:
    """The example station's config with this station's id, line, broker and data paths."""
    example = REPO_EXAMPLE.read_text(encoding="utf-8")
    # The buses and devices (everything from the first [[bus]] on) are the example's, on our own pty.
    devices = example[example.index("[[bus]]"):].replace("/tmp/heatkeeper/arxan-01.tty", str(root / "line.tty"))
    head = _table("station", {"id": st["id"], "name": st["name"], "cycle_s": cycle_s,
                              "data_dir": str(root / "data"), "telemetry_interval_s": max(cycle_s, 5.0),
                              "snapshot_interval_s": 30.0, "trend_interval_s": 60.0})
    head += _table("mqtt", {"enabled": True, "host": "127.0.0.1", "port": broker_port, "protocol": _protocol(),
                            "username": st["id"], "password_file": str(password_file), "keepalive_s": 20,
                            "command_key_file": str(command_key_file)})
    head += _table("modbus_slave", {"enabled": True, "host": "127.0.0.1", "port": slave_port, "unit_id": 1})
    head += _table("metrics", {"enabled": True, "host": "127.0.0.1", "port": metrics_port})
    # The plant's secondary network holds 80 m3 of supply side and 30 m3 of return pipe.
    head += _table("control.make_up", {"network_volume_m3": 110.0, "leak_window_s": LEAK_WINDOW_S})
    return head + devices


def _sim_toml(st: dict[str, Any], root: Path, time_scale: float, broker_port: int, password_file: Path) -> str:
    plant = {"floor_area_m2": st["area_m2"], **st["plant"]}
    # Room collectors every 30 simulated seconds, so a group falling short is seen within the story.
    text = _table("sim", {"station_config": str(root / "station.toml"), "time_scale": time_scale, "seed": 1,
                          "city": st["city"], "control": "127.0.0.1:0", "control_file": str(root / "sim.control"),
                          "collector_interval_s": 30.0, "collector_prefix": st["id"] + "-"})
    text += _table("plant", plant)
    for group in st["groups"]:
        text += _table("[plant.groups]", group)
    text += _table("mqtt", {"host": "127.0.0.1", "port": broker_port, "username": _platform_user(st),
                            "password_file": str(password_file)})
    # Without wire-time throttling the line keeps up with accelerated stations.
    text += "[[line]]\n" + "".join("%s = %s\n" % (k, _toml_value(v)) for k, v in
                                   {"bus": "rs485-1", "throttle": time_scale <= 1.0}.items()) + "\n"
    for at_s, command in st["scenarios"]:
        text += "[[scenario]]\nat_s = %r\ncommand = %s\n\n" % (at_s, _toml_value(command))
    return text


def _platform_user(st: dict[str, Any]) -> str:
    """Each simulated plant's room collectors report through their own platform account."""
    return "rooms-" + st["id"]


def _supervisor_toml(root: Path, broker_port: int, web_port: int) -> str:
    text = _table("supervisor", {"data_dir": str(root / "data"), "site_name": "heatkeeper demo"})
    text += _table("broker", {"embedded": True, "host": "127.0.0.1", "port": broker_port})
    text += _table("mqtt", {"host": "127.0.0.1", "port": broker_port, "protocol": _protocol()})
    text += _table("storage", {"backend": "sqlite"})
    text += _table("collectors", {"forward_interval_s": 30.0})
    text += _table("web", {"enabled": True, "host": "127.0.0.1", "port": web_port})
    for st in STATIONS:
        text += "[[station]]\n" + "".join("%s = %s\n" % (k, _toml_value(st[k])) for k in ("id", "name", "city", "area_m2")) + "\n"
    # Each simulated plant's room collectors (two per building group, in the coldest flats),
    # registered as an operator would from the collector platform's list.
    for st in STATIONS:
        for j, group in enumerate(st["groups"]):
            for k in range(len(plant_params.COLLECTOR_OFFSETS_K)):
                household, placement = demo_records.collector_link(st["id"], j, k)
                text += "[[collector]]\n" + "".join("%s = %s\n" % (key, _toml_value(value)) for key, value in (
                    ("id", "%s-rc-%02d-%d" % (st["id"], j + 1, k + 1)), ("station", st["id"]),
                    ("group", group["name"]), ("household", household), ("placement", placement))) + "\n"
        text += _table("[collector_platform]", {"user": _platform_user(st), "prefix": st["id"] + "-"})
    return text


SITE_ZONE = "Asia/Shanghai"  # the demo's stations are in China; its seasons are [season]'s defaults


def _current_season(now_ts: float) -> tuple[int, dt.date, dt.date, dt.date]:
    """(the year the last season to have started began in, its first and last day, today), local
    dates of the site."""
    season = fleet_alarm_settings.SEASON_DEFAULTS
    year = household_refunds.current_season_year(season, SITE_ZONE, now_ts)
    first, last = household_refunds.season_dates(season, year)
    return year, first, last, dt.datetime.fromtimestamp(now_ts, ZoneInfo(SITE_ZONE)).date()


def season_calendar_cities(now_ts: float) -> list[str]:
    """The cities whose season calendar the demo's supervisor pushes: all three while `now_ts` is
    inside the current heating season, none outside it (the stations would then rightly stop
    heating, and the demo's story needs heat)."""
    _year, first, last, today = _current_season(now_ts)
    return sorted({st["city"] for st in STATIONS}) if first <= today <= last else []


def _season_toml(cities: list[str]) -> str:
    """`[season.cities.NAME]` for each city (every key from `[season]`'s defaults)."""
    return "".join("[season.cities.%s]\n\n" % city for city in cities)


def _records(folder: Path) -> tuple[int, dict[str, Path]]:
    """The demo's households, a past outage and official measurements (demo_records) in the current
    heating season, or the one before while the current one is younger than the records' span;
    (that season's year, the files in import order)."""
    year, first, _last, today = _current_season(time.time())
    if (today - first).days < demo_records.RECORD_DAYS:
        year -= 1
        first, _ = household_refunds.season_dates(fleet_alarm_settings.SEASON_DEFAULTS, year)
    paths = demo_records.write(folder, STATIONS, first)
    return year, {kind: paths[kind] for kind in ("households", "outages", "measurements")}


def port_problems(port: int, host: str = "127.0.0.1") -> list[str]:
    """The dashboard's port checked before anything starts: another program on it would answer
    in the demo's place (the demo would say it runs, then its supervisor stop)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the supervisor's server binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return ["--port=%d: %s on %s (another program holds it?): choose another, e.g. --port %d, or --port 0 "
                    "for any free one" % (port, exc.strerror or exc, host, port + 1 if port < 65535 else 8081)]
    return []


def _fail(group: ProcessGroup, name: str, what: str) -> int:
    print("heatkeeper demo: %s did not start (%s). Last lines of its log:" % (name, what), file=sys.stderr)
    print(group.log_tail(name), file=sys.stderr)
    group.stop_all()
    return 1


def run(args: argparse.Namespace) -> int:
    problems = []
    if not 1.0 <= args.time_scale <= 60.0:
        problems.append("--time-scale=%r: must be in [1, 60]" % args.time_scale)
    if not (args.port == 0 or 1024 <= args.port <= 65535):
        problems.append("--port=%r: must be 0 or in [1024, 65535]" % args.port)
    problems += demo_notify.url_problems(args.notify_webhook)
    if not problems and args.port:
        problems += port_problems(args.port)
    if problems:
        print("heatkeeper demo: " + "; ".join(problems), file=sys.stderr)
        return 2
    base = Path(args.data_dir).resolve()
    if base.exists():
        shutil.rmtree(base)
    logs = base / "logs"
    group = ProcessGroup(logs)
    broker_port = free_port()
    web_port = args.port or free_port()
    # Keep each control cycle at >= 0.5 wall seconds so the bus scan fits in it even on a busy machine.
    cycle_s = max(1.0, 0.5 * args.time_scale)

    sup_dir = base / "supervisor"
    sup_dir.mkdir(parents=True)
    sup_cfg = sup_dir / "supervisor.toml"
    # each city's forecast: its plant weather ahead with a forecast's errors (demo_forecast)
    forecasts = demo_forecast.write_forecasts(sup_dir / "forecasts", [st["city"] for st in STATIONS], time.time(),
                                              args.time_scale)
    calendars = season_calendar_cities(time.time())
    sup_cfg.write_text(_supervisor_toml(sup_dir, broker_port, web_port)
                       + demo_notify.notify_toml(sup_dir / "data", web_port, args.notify_webhook)
                       + demo_forecast.forecast_toml(forecasts) + _season_toml(calendars), encoding="utf-8")
    print("heatkeeper demo: starting in %s (logs in %s)" % (base, logs))
    for user, password, role in DEMO_USERS:
        proc = group.start("create-user-" + user, ["supervisor", "--config", str(sup_cfg), "--create-user", user,
                                                   "--role", role], env={"HEATKEEPER_PASSWORD": password})
        if proc.wait(timeout=60) != 0:
            return _fail(group, "create-user-" + user, "exit code %s" % proc.returncode)
    group.children.clear()
    season_year, records = _records(sup_dir / "records")
    for kind, path in records.items():
        proc = group.start("import-" + kind, ["supervisor", "--config", str(sup_cfg), "--import-" + kind, str(path)])
        if proc.wait(timeout=120) != 0:
            return _fail(group, "import-" + kind, "exit code %s" % proc.returncode)
    group.children.clear()

    stopping = False

    def _stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    supervisor = group.start("supervisor", ["supervisor", "--config", str(sup_cfg)])
    # The supervisor opens its web port after its broker is up (probing the broker's port with a
    # bare TCP connection would only make the broker log an error).
    if not wait_port("127.0.0.1", web_port, 90, supervisor):
        return _fail(group, "supervisor", "web port %d not listening" % web_port)
    credentials = sup_dir / "data" / "credentials"

    metrics_ports = {st["id"]: free_port() for st in STATIONS}
    for st in STATIONS:
        root = base / st["id"]
        root.mkdir(parents=True)
        (root / "station.toml").write_text(
            # The supervisor made both files at start: the station's MQTT password and its command key.
            _station_toml(st, root, broker_port, free_port(), metrics_ports[st["id"]], cycle_s,
                          credentials / (st["id"] + ".password"), credentials / (st["id"] + ".cmdkey")),
            encoding="utf-8")
        (root / "sim.toml").write_text(
            _sim_toml(st, root, args.time_scale, broker_port, credentials / (_platform_user(st) + ".password")),
            encoding="utf-8")
        sim = group.start("sim-" + st["id"], ["sim", "--config", str(root / "sim.toml")])
        if not wait_path(root / "line.tty", 60, sim):
            return _fail(group, "sim-" + st["id"], "no pty at %s" % (root / "line.tty"))
        group.start("station-" + st["id"], ["station", "--config", str(root / "station.toml"),
                                            "--time-scale", repr(args.time_scale)])

    print()
    print("  heatkeeper is running: %d stations, supervisor on SQLite, embedded MQTT broker on 127.0.0.1:%d"
          % (len(STATIONS), broker_port))
    print("  dashboard:  http://127.0.0.1:%d/" % web_port)
    print("  metrics:    http://127.0.0.1:%d/metrics (supervisor, from loopback); stations: %s"
          % (web_port, ", ".join("%s http://127.0.0.1:%d/metrics" % (sid, port) for sid, port in metrics_ports.items())))
    for user, password, role in DEMO_USERS:
        print("  login:      %-9s password %-18s (%s)" % (user, password, role))
    print("  time:       %g simulated seconds per wall second" % args.time_scale)
    print("  season:     %s" % ("the current heating season's calendar pushed to every station (Operations, Heating "
                                   "season)" if calendars else "outside the heating season: no calendar pushed (the "
                                   "stations heat all the same)"))
    print("  records:    %d households, a past outage and official measurements of the %d season "
          "(Refunds, Energy)" % (sum(1 for _ in open(records["households"], encoding="utf-8")) - 1, season_year))
    for sid, by_s, what in STORY:
        print("  by %2d:%02d     %s: %s (%.0f s of wall time)" % (by_s // 60, by_s % 60, sid, what, by_s / args.time_scale))
    print("  Ctrl-C stops everything.")
    print()
    sys.stdout.flush()

    started = time.monotonic()
    code = 0
    while not stopping:
        time.sleep(0.5)
        dead = group.dead()
        if dead:
            name, rc = dead[0]
            print("heatkeeper demo: %s exited with code %s; stopping. Last lines of its log:" % (name, rc),
                  file=sys.stderr)
            print(group.log_tail(name), file=sys.stderr)
            code = 1
            break
        if args.duration_s is not None and time.monotonic() - started >= args.duration_s:
            break
    print("heatkeeper demo: stopping %d processes ..." % len(group.children))
    group.stop_all()
    print("heatkeeper demo: stopped")
    return code


def main() -> int:  # pragma: no cover - `python -m heatkeeper.tools.demo`
    parser = argparse.ArgumentParser(prog="heatkeeper demo")
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":  # pragma: no cover
    os._exit(main())
