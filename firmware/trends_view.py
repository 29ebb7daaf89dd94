"""`heatkeeper trends`: read a station's local trend history on the station box itself.

The station keeps a ring of telemetry samples in `<data_dir>/trends.sqlite` (see trends.py)
so the engineer on site can see what happened even when the supervisor was unreachable. This
reader opens the ring read-only (the running station keeps writing), picks a time window and
fields, averages samples into buckets, and prints a table, writes CSV, or draws a PNG.

    heatkeeper trends --config /etc/heatkeeper/station.toml --since 6h
    heatkeeper trends --data-dir var/arxan-01 --since 2d --every 1h --fields outdoor_temp_c,valve_cmd_pct
    heatkeeper trends --config station.toml --since 24h --csv - > last-day.csv
    heatkeeper trends --config station.toml --since 3d --plot last-3-days.png
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sqlite3
import sys
import time
from typing import Any, TextIO

DEFAULT_FIELDS = ("outdoor_temp_c", "secondary_supply_temp_c", "supply_setpoint_c", "secondary_return_temp_c",
                  "valve_cmd_pct", "heat_power_kw", "secondary_supply_pressure_kpa", "mode", "alarms_active")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class TrendReadError(Exception):
    """The trend history cannot be read (missing file, not a trend store, bad arguments)."""


def parse_duration_s(text: str) -> float:
    """'90s', '15m', '6h', '2d' (or plain seconds) -> seconds; raises TrendReadError."""
    raw = text.strip().lower()
    scale = _UNITS.get(raw[-1:], None)
    number = raw[:-1] if scale is not None else raw
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise TrendReadError("%r: not a duration (use e.g. 90s, 15m, 6h, 2d)" % text) from None
    if not (value > 0 and math.isfinite(value)):
        raise TrendReadError("%r: a duration must be positive" % text)
    return value


def open_store(path: str) -> sqlite3.Connection:
    """Open the trend ring read-only, checking it is one."""
    if not os.path.exists(path):
        raise TrendReadError("%s: no trend history here (has the station run with this data_dir?)" % path)
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        db.execute("SELECT ts, values_json FROM trend LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise TrendReadError("%s: not a heatkeeper trend store (%s)" % (path, exc)) from exc
    return db


def read_samples(db: sqlite3.Connection, start_ts: float, end_ts: float) -> list[tuple[float, dict[str, Any]]]:
    """Samples in [start_ts, end_ts], oldest first; rows that do not decode are skipped."""
    out: list[tuple[float, dict[str, Any]]] = []
    for ts, raw in db.execute("SELECT ts, values_json FROM trend WHERE ts >= ? AND ts <= ? ORDER BY ts, id",
                              (start_ts, end_ts)):
        try:
            values = json.loads(raw)
        except ValueError:
            continue
        if isinstance(values, dict):
            out.append((float(ts), values))
    return out


def known_fields(samples: list[tuple[float, dict[str, Any]]]) -> list[str]:
    """Every field name seen in the samples, sorted."""
    names: set[str] = set()
    for _ts, values in samples:
        names.update(values)
    return sorted(names)


def bucket(samples: list[tuple[float, dict[str, Any]]], fields: list[str], every_s: float) -> list[tuple[float, list[float | None]]]:
    """Average each field over buckets of every_s (aligned to whole multiples); None where a
    field had no valid value in the bucket (sensor fault, station off)."""
    rows: list[tuple[float, list[float | None]]] = []
    current = None
    sums = [0.0] * len(fields)
    counts = [0] * len(fields)

    def flush() -> None:
        if current is not None:
            rows.append((current, [sums[i] / counts[i] if counts[i] else None for i in range(len(fields))]))

    for ts, values in samples:
        start = math.floor(ts / every_s) * every_s
        if start != current:
            flush()
            current, sums, counts = start, [0.0] * len(fields), [0] * len(fields)
        for i, name in enumerate(fields):
            v = values.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                sums[i] += float(v)
                counts[i] += 1
    flush()
    return rows


def _fmt(v: float | None) -> str:
    return "-" if v is None else ("%.1f" % v if abs(v) < 10000 else "%.0f" % v)


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def write_csv(rows: list[tuple[float, list[float | None]]], fields: list[str], stream: TextIO) -> None:
    """CSV with a local time column, epoch seconds and one column per field (empty = no value)."""
    w = csv.writer(stream)
    w.writerow(["time", "ts"] + fields)
    for ts, vals in rows:
        w.writerow([_stamp(ts), "%.0f" % ts] + ["" if v is None else "%.3f" % v for v in vals])


def print_table(rows: list[tuple[float, list[float | None]]], fields: list[str], title: str) -> None:
    """A terminal table (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("time")
    for name in fields:
        table.add_column(name, justify="right")
    for ts, vals in rows:
        table.add_row(_stamp(ts), *[_fmt(v) for v in vals])
    # every field's name whole, also into a pipe or log (rich falls back to 80 columns there)
    Console(width=max(Console().width, 25 + sum(len(name) + 3 for name in fields))).print(table)


def plot(rows: list[tuple[float, list[float | None]]], fields: list[str], path: str, title: str) -> None:
    """One PNG: temperatures on the left axis, everything else on a second panel."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [datetime.fromtimestamp(ts) for ts, _ in rows]
    temps = [i for i, f in enumerate(fields) if f.endswith("_c")]
    others = [i for i in range(len(fields)) if i not in temps]
    panels = [p for p in (temps, others) if p]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.2 * len(panels)), sharex=True, squeeze=False)
    for ax, idx in zip(axes[:, 0], panels, strict=True):
        for i in idx:
            ax.plot(times, [float("nan") if v[i] is None else v[i] for _, v in rows], label=fields[i], linewidth=1.2)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[0, 0].set_title(title)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `heatkeeper trends`."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="station TOML (its [station] data_dir holds trends.sqlite)")
    where.add_argument("--data-dir", help="the station's data directory")
    parser.add_argument("--since", default="6h", help="window back from --until or now: 90s, 15m, 6h, 2d (default 6h)")
    parser.add_argument("--until", type=float, help="end of the window, epoch seconds (default now)")
    parser.add_argument("--every", help="average into buckets of this length (default: about 40 rows)")
    parser.add_argument("--fields", help="comma list of fields (default: %s)" % ",".join(DEFAULT_FIELDS))
    parser.add_argument("--list-fields", action="store_true", help="print the fields recorded in the window and stop")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-' for standard output)")
    out.add_argument("--plot", metavar="FILE.png", help="draw the window to a PNG")


def _data_dir(args: argparse.Namespace) -> str:
    if args.data_dir:
        return str(args.data_dir)
    from .config import load_config
    from .errors import ConfigError

    try:
        return load_config(args.config).station.data_dir
    except ConfigError as exc:
        raise TrendReadError("%s: %d problem(s):\n  %s" % (args.config, len(exc.problems), "\n  ".join(exc.problems))) from exc


def run(args: argparse.Namespace) -> int:
    """Read, bucket and show the station's local trends."""
    try:
        path = os.path.join(_data_dir(args), "trends.sqlite")
        window_s = parse_duration_s(args.since)
        end_ts = float(args.until) if args.until is not None else time.time()
        db = open_store(path)
        try:
            samples = read_samples(db, end_ts - window_s, end_ts)
        finally:
            db.close()
        seen = known_fields(samples)
        if args.list_fields:
            print("\n".join(seen) if seen else "no samples in the window")
            return 0
        if not samples:
            print("trends: no samples between %s and %s in %s" % (_stamp(end_ts - window_s), _stamp(end_ts), path), file=sys.stderr)
            return 1
        fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else [f for f in DEFAULT_FIELDS if f in seen]
        unknown = [f for f in fields if f not in seen]
        if unknown:
            raise TrendReadError("unknown field(s) %s; recorded: %s" % (", ".join(unknown), ", ".join(seen)))
        span_s = max(1.0, samples[-1][0] - samples[0][0])
        every_s = parse_duration_s(args.every) if args.every else max(1.0, span_s / 40.0)
        rows = bucket(samples, fields, every_s)
    except TrendReadError as exc:
        print("trends: %s" % exc, file=sys.stderr)
        return 2
    title = "%s: %d samples, %s to %s, every %.0f s" % (path, len(samples), _stamp(samples[0][0]), _stamp(samples[-1][0]), every_s)
    if args.csv:
        if args.csv == "-":
            write_csv(rows, fields, sys.stdout)
        else:
            with open(args.csv, "w", newline="", encoding="utf-8") as fh:
                write_csv(rows, fields, fh)
            print("trends: %d rows written to %s" % (len(rows), args.csv))
    elif args.plot:
        plot(rows, fields, args.plot, title)
        print("trends: %d rows drawn to %s" % (len(rows), args.plot))
    else:
        print_table(rows, fields, title)
    return 0
