"""`heatkeeper bench <name>`: dispatch to one benchmark module.

Each benchmark is a module with `add_arguments(parser)` and `run(args) -> int`, imported only
when chosen; a benchmark whose module is not in this build says so instead of failing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

# name -> (module, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "season": ("heatkeeper.tools.bench.season", "closed-loop heating season against baselines and the physical bounds"),
    "bus": ("heatkeeper.tools.bench.bus", "Modbus RTU full-scan time against the wire minimum"),
    "ingest": ("heatkeeper.tools.bench.ingest", "supervisor MQTT ingest throughput and latency"),
    "station": ("heatkeeper.tools.bench.station", "station firmware CPU and memory per control cycle"),
    "step": ("heatkeeper.tools.bench.step", "control cycle and season loop µs per cycle, compiled vs interpreted"),
    "charts": ("heatkeeper.tools.bench.charts", "dashboard chart renderers (SVG, ECharts, uPlot) on 1 Hz series in Chromium"),
    "fleet": ("heatkeeper.tools.bench.fleet", "a season of N stations on one primary network with the supervisor's allocation"),
    "outbox": ("heatkeeper.tools.bench.outbox", "station outbox insert rates (SQLite FULL vs NORMAL) and drain through Mosquitto, acknowledged messages deleted vs kept for a resend"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark name and its own arguments (parsed by the chosen module)."""
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark to run")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own arguments (see NAME --help)")


def load(name: str) -> ModuleType | None:
    """The benchmark's module, or None (with a message on stderr) when it is not available."""
    module_name = BENCHMARKS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print("heatkeeper bench: %r is not available in this build (%s is missing)" % (name, module_name),
                  file=sys.stderr)
            return None
        raise


def run(args: argparse.Namespace) -> int:
    """Parse the chosen benchmark's arguments and run it."""
    module = load(args.benchmark)
    if module is None:
        return 2
    parser = argparse.ArgumentParser(prog="heatkeeper bench " + args.benchmark, description=BENCHMARKS[args.benchmark][1])
    module.add_arguments(parser)
    sub_args = parser.parse_args(args.rest)
    return int(module.run(sub_args) or 0)
