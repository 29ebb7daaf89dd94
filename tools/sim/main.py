"""`heatkeeper sim --config PATH`: Modbus RTU device simulators driven by the plant model.

Serves every [[device]] of the config (or of the station config it points at) on its bus:
a pty whose slave end is symlinked at the bus port path, a real serial port, or RTU framing
over TCP for socket:// ports. Prints the control channel address; see
heatkeeper.tools.sim.control for the command language (inject leak 2.0, dead heat_meter, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from . import config as sim_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="sim TOML (may point at the station TOML via sim.station_config)")
    parser.add_argument("--time-scale", type=float, default=None, help="simulated seconds per wall second (overrides sim.time_scale)")
    parser.add_argument("--control", default=None, help="control channel host:port on loopback (port 0 = any free port)")
    parser.add_argument("--control-file", default=None, help="write the control channel's host:port to this file")
    parser.add_argument("--mqtt", default=None, help="broker host:port for room-collector readings (overrides [mqtt])")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the plant and the line faults")
    parser.add_argument("--duration-s", type=float, default=None, help="stop after this many simulated seconds")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = sim_config.load(args.config)
    except sim_config.SimConfigError as exc:
        print("heatkeeper sim: %s" % exc, file=sys.stderr)
        return 2
    problems = []
    if args.time_scale is not None:
        if not 0.01 <= args.time_scale <= 100000.0:
            problems.append("--time-scale=%r: must be in [0.01, 100000]" % args.time_scale)
        cfg["sim"]["time_scale"] = args.time_scale
    if args.control is not None:
        cfg["sim"]["control"] = args.control
    if args.control_file is not None:
        cfg["sim"]["control_file"] = args.control_file
    if args.seed is not None:
        cfg["sim"]["seed"] = args.seed
    if args.mqtt is not None:
        try:
            host, port = sim_config.parse_hostport(args.mqtt)
            cfg["mqtt"] = {"host": host, "port": port, "username": "", "password_file": ""}
        except ValueError as exc:
            problems.append("--mqtt=%s" % exc)
    if problems:
        print("heatkeeper sim: " + "; ".join(problems), file=sys.stderr)
        return 2
    return asyncio.run(_main(cfg, args.duration_s))


async def _main(cfg: dict, duration_s: float | None) -> int:
    from .device import DeviceConfigError
    from .runner import Simulation
    from .transport import TransportError

    try:
        simulation = Simulation(cfg)
    except (DeviceConfigError, ValueError) as exc:
        print("heatkeeper sim: %s" % exc, file=sys.stderr)
        return 2
    simulation.duration_s = duration_s
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, simulation.stop)
    try:
        await simulation.run()
    except TransportError as exc:
        print("heatkeeper sim: %s" % exc, file=sys.stderr)
        return 2
    return 0
