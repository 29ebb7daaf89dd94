"""The `heatkeeper` command: one entry point, one subcommand per job.

Each subcommand lives in its own module with two functions, `add_arguments(parser)` and
`run(args) -> int`; modules are imported only when their subcommand runs, so a station box
does not load the supervisor's web stack to start the firmware.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Keep sorted by job: run, test rigs, commissioning, benchmarks.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("heatkeeper.tools.demo", "the whole system on one machine: broker, supervisor, three stations"),
    "station": ("heatkeeper.firmware.main", "run one station's firmware"),
    "check-config": ("heatkeeper.firmware.check_config", "validate a station config and list every problem"),
    "trends": ("heatkeeper.firmware.trends_view", "show a station's local trend history (table, CSV or PNG)"),
    "supervisor": ("heatkeeper.supervisor.main", "run the supervisor (ingest, storage, web dashboard)"),
    "broker-config": ("heatkeeper.supervisor.broker_config", "write mosquitto.conf, password file and ACL"),
    "refunds": ("heatkeeper.supervisor.refunds_cli", "refunds per household from exported rules, households, outages, measurements"),
    "authority-report": ("heatkeeper.supervisor.authority_reports_cli", "one report to the authority as .xlsx and CSV"),
    "sim": ("heatkeeper.tools.sim.main", "Modbus RTU device simulators driven by the plant model"),
    "scan": ("heatkeeper.tools.commissioning.scan", "find devices on a bus across ids and baud rates"),
    "probe": ("heatkeeper.tools.commissioning.probe", "dump registers with every word-order interpretation"),
    "stroke-test": ("heatkeeper.tools.commissioning.stroke_test", "measure a valve actuator's run time"),
    "pump-test": ("heatkeeper.tools.commissioning.pump_test", "rotation test of duty and standby pumps"),
    "bench": ("heatkeeper.tools.bench.main", "benchmarks: season, step, station, bus, ingest, outbox, charts, fleet"),
}

# The setup.py extra each command needs beyond core (a station box installs only `station`).
EXTRA_OF: dict[str, str] = {
    "demo": "dev",
    "station": "station",
    "check-config": "station",
    "trends": "station",
    "supervisor": "supervisor",
    "broker-config": "supervisor",
    "refunds": "supervisor",
    "authority-report": "supervisor",
    "sim": "sim",
    "scan": "station",
    "probe": "station",
    "stroke-test": "station",
    "pump-test": "station",
    "bench": "dev",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heatkeeper", description="District-heating substation controller and supervisor.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        print("heatkeeper: unknown command %r; choose one of: %s" % (name, ", ".join(COMMANDS)), file=sys.stderr)
        return 2
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print("heatkeeper: command %r is not available in this build (%s)" % (name, exc), file=sys.stderr)
            return 2
        if exc.name and not exc.name.startswith("heatkeeper"):
            print(
                "heatkeeper: command %r needs the Python package %r, which this installation lacks; "
                "install the %r role: pip install 'heatkeeper[%s]'" % (name, exc.name, EXTRA_OF[name], EXTRA_OF[name]),
                file=sys.stderr,
            )
            return 2
        raise
    parser = argparse.ArgumentParser(prog="heatkeeper " + name, description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
