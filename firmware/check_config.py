"""`heatkeeper check-config PATH`: validate a station TOML and list every problem (exit 2), or
print a short summary of what the station will run (exit 0)."""

from __future__ import annotations

import argparse
import sys

from .config import load_config, transport_problems
from .errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `heatkeeper check-config`."""
    parser.add_argument("path", help="station TOML")


def run(args: argparse.Namespace) -> int:
    """Validate; print problems or a summary."""
    try:
        cfg = load_config(args.path)
    except ConfigError as exc:
        print("%s: %d problem(s):" % (args.path, len(exc.problems)), file=sys.stderr)
        for problem in exc.problems:
            print("  " + problem, file=sys.stderr)
        return 2
    problems = transport_problems(cfg.mqtt)
    if problems:
        print("%s: %d problem(s):" % (args.path, len(problems)), file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        return 2
    st = cfg.station
    print("%s: ok" % args.path)
    print("  station %s (%s), cycle %.3g s, data in %s" % (st.id, st.name or "-", st.cycle_s, st.data_dir))
    print("  buses: %s" % ", ".join("%s on %s" % (b.name, b.port) for b in cfg.bus.buses))
    print("  devices: %s" % ", ".join("%s@%s/%d (%s)" % (d.name, d.bus, d.unit_id, d.profile) for d in cfg.bus.devices))
    mq = cfg.mqtt
    print("  mqtt: %s" % ("%s:%d%s%s" % (mq.host, mq.port, " TLS" if mq.tls_ca or mq.tls_cert else "",
                                          " user %s" % mq.username if mq.username else "") if mq.enabled else "disabled"))
    if mq.enabled:
        print("  commands: %s" % ("signed with the key in %s" % mq.command_key_file if mq.command_key_file else
                                  "accepted UNSIGNED (insecure_unsigned_commands = true)"
                                  if mq.insecure_unsigned_commands else
                                  "all refused: no command_key_file (install the station's key from the supervisor)"))
    ms = cfg.modbus_slave
    print("  modbus slave: %s" % ("%s:%d unit %d, %s, clients from %s" % (
        ms.host, ms.port, ms.unit_id, "writes enabled" if ms.writes_enabled else "read-only",
        ", ".join(ms.allow_from) or "any address") if ms.enabled else "disabled"))
    print("  control sections: %s" % (", ".join(sorted(cfg.control)) or "(core defaults)"))
    return 0
