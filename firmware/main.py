"""`heatkeeper station --config PATH`: run one station's firmware until SIGTERM/SIGINT.

Exit codes: 0 after a clean stop, 2 when the configuration is invalid (every problem listed
on stderr). Storage never stops the station: a damaged file is set aside and replaced, and an
unusable data directory means running in memory (with alarms, see runtime). Exit 1 remains
only for the impossible case that not even in-memory storage can be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .config import StationConfig, load_config, transport_problems
from .errors import ConfigError, StorageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `heatkeeper station`."""
    parser.add_argument("--config", required=True, help="station TOML (see firmware/examples/station.toml)")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="K",
                        help="simulated seconds per wall second for demos and soaks (default 1: real time)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


async def _serve(cfg: StationConfig, time_scale: float) -> int:
    from .runtime import Station

    try:
        station = Station(cfg, time_scale=time_scale)  # inside the loop: pymodbus clients need one
    except StorageError as exc:
        print("station: %s" % exc, file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, station.stop)
    await station.run()
    return 0


def run(args: argparse.Namespace) -> int:
    """Validate the config, then run the station."""
    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # frame dumps on every timeout
    if not 0.01 <= args.time_scale <= 10000:
        print("station: --time-scale=%r: must be in [0.01, 10000]" % args.time_scale, file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print("station: %s: %d problem(s):" % (args.config, len(exc.problems)), file=sys.stderr)
        for problem in exc.problems:
            print("  " + problem, file=sys.stderr)
        return 2
    for problem in transport_problems(cfg.mqtt):  # the station still runs: heating first
        logging.getLogger("heatkeeper.station").warning("%s", problem)
    return asyncio.run(_serve(cfg, args.time_scale))
