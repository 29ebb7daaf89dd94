"""`heatkeeper refunds`: the refund engine on exported files, for audits.

    heatkeeper refunds --rules RULES.toml --households H.csv --outages O.csv --measurements M.csv [--json]

Prints every household's refund (ordered by household_id) and the total, as JSON with --json
(`{"households": [{"household_id", "refund_cny", "outage_days", "measurement_months"}],
"total_cny"}`), else as a table with the same figures. Bad input: every bad rule and bad row on
stderr as `file:line: reason`, nothing on stdout, exit 2. The rules are in `supervisor.refunds`,
the file checks in `supervisor.refund_files`.
"""

from __future__ import annotations

import argparse
import json
import sys

from .refund_files import RefundInputError, load_inputs
from .refunds import RefundReport, RefundRules, compute_refunds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `heatkeeper refunds`."""
    parser.add_argument("--rules", required=True, metavar="RULES.toml",
                        help="floor_c, season_start, season_end, timezone, outage_refund_after_h, "
                             "failed_measurements, window_days, month_days")
    parser.add_argument("--households", required=True, metavar="H.csv",
                        help="CSV: household_id,station_id,area_m2,tariff_cny_per_m2")
    parser.add_argument("--outages", required=True, metavar="O.csv",
                        help="CSV: station_id,start,end (ISO 8601 with a UTC offset)")
    parser.add_argument("--measurements", required=True, metavar="M.csv",
                        help="CSV: household_id,time,temperature_c,inspector (official measurements)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Check the files, compute, print; 2 with every problem listed when the input is bad."""
    try:
        inputs = load_inputs(args.rules, args.households, args.outages, args.measurements)
    except RefundInputError as exc:
        print("heatkeeper refunds: %d problem(s), nothing computed:" % len(exc.problems), file=sys.stderr)
        for problem in exc.problems:
            print("  " + problem, file=sys.stderr)
        return 2
    report = compute_refunds(inputs.rules, inputs.households, inputs.outages, inputs.measurements)
    if args.json:
        json.dump(report.as_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(report, inputs.rules)
    return 0


def print_table(report: RefundReport, rules: RefundRules) -> None:
    """A terminal table (rich) with the JSON's figures."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Refunds, season %s to %s (%d days, %s)"
                  % (rules.season_start, rules.season_end, rules.season_days, rules.timezone))
    table.add_column("household_id")
    table.add_column("outage_days", justify="right")
    table.add_column("measurement_months", justify="right")
    table.add_column("refund_cny", justify="right")
    for h in report.households:
        table.add_row(h.household_id, str(h.outage_days), str(h.measurement_months), str(h.refund_cny))
    table.add_section()
    table.add_row("total", "", "", str(report.total_cny))
    Console(width=max(Console().width, 100)).print(table)
