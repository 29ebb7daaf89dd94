"""`heatkeeper authority-report`: one report to the authority from the supervisor's database, as
the scheduler builds it, written to files (for an audit, or to hand over by other means).

    heatkeeper authority-report --config supervisor.toml --report hourly|weekly --end 2026-12-02T09:00
                                [--out DIR]

`--end` is the period's end, local time of [authority_reports] timezone (or ISO 8601 with an
offset); it must be one of the report's due instants. Writes DIR/<site>-<report>-<end>.xlsx and
.csv and prints their paths. Bad input: the reason on stderr, nothing written, exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from . import authority_reports as ar
from . import authority_reports_schedule as schedule
from . import config as sup_config
from .households import parse_time
from .storage import StorageError, open_storage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `heatkeeper authority-report`."""
    parser.add_argument("--config", required=True, help="the supervisor's TOML config (its database is read)")
    parser.add_argument("--report", required=True, choices=schedule.REPORTS)
    parser.add_argument("--end", required=True, metavar="TIME",
                        help="the period's end: local time of [authority_reports] timezone, e.g. 2026-12-02T09:00")
    parser.add_argument("--out", default=".", metavar="DIR", help="folder for the .xlsx and .csv (default: here)")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = sup_config.load(args.config)
    except sup_config.ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    settings = cfg["authority_reports"]
    problems: list[str] = []
    end = parse_time("--end", args.end, settings["timezone"], problems)
    if end is not None and not schedule.is_due(settings, args.report, end):
        problems.append("--end=%r: not the end of a %s report period (%s in %s)" % (
            args.end, args.report, ", ".join(settings["hourly_times"]) if args.report == "hourly"
            else "%s %s" % (settings["weekly_day"], settings["weekly_time"]), settings["timezone"]))
    if problems or end is None:
        print("heatkeeper authority-report: %s" % "; ".join(problems), file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_build(cfg, args.report, end))
    except StorageError as exc:
        print("heatkeeper authority-report: %s" % exc, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, ar.filename(report, cfg["supervisor"]["site_name"]))
    for path, data in ((base + ".xlsx", ar.report_xlsx(report)), (base + ".csv", ar.report_csv(report).encode())):
        with open(path + ".tmp", "wb") as fh:
            fh.write(data)
        os.replace(path + ".tmp", path)
        print(path)
    return 0


async def _build(cfg: dict[str, Any], report: str, end: float) -> dict[str, Any]:
    st = cfg["storage"]
    storage = open_storage(st["backend"], path=st["path"], dsn=st["dsn"])
    await storage.open()
    try:
        return await ar.build(storage, cfg, report, schedule.period_start(cfg["authority_reports"], report, end), end)
    finally:
        await storage.close()
