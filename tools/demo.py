"""`heatkeeper demo`: the whole system on one machine, with one command.

Starts the supervisor on SQLite with its embedded MQTT broker (a Mosquitto child process with the
production configuration, amqtt where no mosquitto is installed), and three stations, each a real
`heatkeeper station` process talking Modbus RTU over a pseudo-terminal to its own
`heatkeeper sim` (device simulators driven by the plant model):

    arxan-01   Arxan (severe cold), the 100,000 m2 reference station
    ordos-01   Ordos / Ejin Horo, 60,000 m2
    yutai-01   Yutai (southern Shandong), 40,000 m2, with a developing leak: a make-up
               and leak alarm appears after a few simulated minutes

Prints the dashboard address and the demo logins; `--time-scale K` runs K simulated seconds
per wall second (stations and plants together); Ctrl-C stops everything cleanly. Every file
(configs, databases, outboxes, logs) lives under --data-dir, made fresh on each start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from heatkeeper.tools import demo_notify
from heatkeeper.tools.plant import params as plant_params
from heatkeeper.tools.procs import ProcessGroup, free_port, wait_path, wait_port

REPO_EXAMPLE = Path(__file__).resolve().parent.parent / "firmware" / "examples" / "station.toml"

# id, name, city, floor area, plant overrides, scheduled scenarios (simulated s, control-channel command)
STATIONS: list[dict[str, Any]] = [
    {"id": "arxan-01", "name": "Arxan No. 1 station", "city": "arxan", "area_m2": 100000.0,
     "plant": {}, "scenarios": []},
    {"id": "ordos-01", "name": "Ordos Ejin Horo station", "city": "ordos", "area_m2": 60000.0,
     "plant": {"h_tot_w_m2k": 1.0, "design_outdoor_c": -20.0}, "scenarios": []},
    {"id": "yutai-01", "name": "Yutai county station", "city": "yutai", "area_m2": 40000.0,
     "plant": {"h_tot_w_m2k": 1.2, "design_outdoor_c": -7.0},
     "scenarios": [(60.0, "inject leak 1.0"), (600.0, "inject leak 3.0")]},
]

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


def _station_toml(st: dict[str, Any], root: Path, broker_port: int, slave_port: int, cycle_s: float,
                  password_file: Path, command_key_file: Path) -> str:
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
    # The plant's secondary network holds 80 m3 of supply side and 30 m3 of return pipe.
    head += _table("control.make_up", {"network_volume_m3": 110.0})
    return head + devices


def _sim_toml(st: dict[str, Any], root: Path, time_scale: float, broker_port: int, password_file: Path) -> str:
    plant = {"floor_area_m2": st["area_m2"], **st["plant"]}
    text = _table("sim", {"station_config": str(root / "station.toml"), "time_scale": time_scale, "seed": 1,
                          "city": st["city"], "control": "127.0.0.1:0", "control_file": str(root / "sim.control"),
                          "collector_interval_s": 120.0, "collector_prefix": st["id"] + "-"})
    text += _table("plant", plant)
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
        text += "[[station]]\n" + "".join("%s = %s\n" % (k, _toml_value(st[k])) for k in ("id", "name", "city")) + "\n"
    # Each simulated plant's room collectors (two per building group, in the coldest flats),
    # registered as an operator would from the collector platform's list.
    for st in STATIONS:
        for j, group in enumerate(plant_params.GROUPS):
            for k in range(len(plant_params.COLLECTOR_OFFSETS_K)):
                text += "[[collector]]\n" + "".join("%s = %s\n" % (key, _toml_value(value)) for key, value in (
                    ("id", "%s-rc-%02d-%d" % (st["id"], j + 1, k + 1)), ("station", st["id"]),
                    ("group", group["name"]))) + "\n"
        text += _table("[collector_platform]", {"user": _platform_user(st), "prefix": st["id"] + "-"})
    return text


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
    sup_cfg.write_text(_supervisor_toml(sup_dir, broker_port, web_port)
                       + demo_notify.notify_toml(sup_dir / "data", web_port, args.notify_webhook), encoding="utf-8")
    print("heatkeeper demo: starting in %s (logs in %s)" % (base, logs))
    for user, password, role in DEMO_USERS:
        proc = group.start("create-user-" + user, ["supervisor", "--config", str(sup_cfg), "--create-user", user,
                                                   "--role", role], env={"HEATKEEPER_PASSWORD": password})
        if proc.wait(timeout=60) != 0:
            return _fail(group, "create-user-" + user, "exit code %s" % proc.returncode)
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

    for st in STATIONS:
        root = base / st["id"]
        root.mkdir(parents=True)
        (root / "station.toml").write_text(
            # The supervisor made both files at start: the station's MQTT password and its command key.
            _station_toml(st, root, broker_port, free_port(), cycle_s, credentials / (st["id"] + ".password"),
                          credentials / (st["id"] + ".cmdkey")),
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
    for user, password, role in DEMO_USERS:
        print("  login:      %-9s password %-18s (%s)" % (user, password, role))
    print("  time:       %g simulated seconds per wall second; yutai-01 develops a leak" % args.time_scale)
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
