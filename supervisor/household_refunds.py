"""Refunds of the stored households: the refund engine (`supervisor.refunds`) fed from the
supervisor's records, summed per building, residential area and station, and exported.

- Rules: the config's [refunds] section (floor_c, timezone, outage_refund_after_h,
  failed_measurements, window_days, month_days) and the [season] month-days in a season year
  (the season starting in that year; by default the one that started last).
- Households and official measurements: the `households` and `household_measurements` tables.
- Outages: the episodes of the supervisor's own `heating_outage` alarm (fleet_alarms.py) as the
  alarm log keeps them, from the raise to the clear (a standing alarm: to now). That rule is the
  outage definition the supervisor already applies live (no heat delivered by the heat meter, or,
  without one, pumps stopped or supply too cold; only in the heating season), and its episodes are
  kept with the audit log's retention, unlike the raw telemetry the compliance report re-reads.
  Both ends lag the truth by the rule's delays (outage_delay_s after the stop, clear_delay_s after
  heat came back), so the duration is about right while the episode is shifted later.

Every figure the page, the API and the exports show comes from `refund_report`; the exported
inputs (`input_files`) run through `heatkeeper refunds` give the same household figures.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .fleet_alarm_settings import parse_month_day
from .refunds import CENT, Household, Measurement, Outage, RefundRules, compute_refunds

RULE_KEYS = ("floor_c", "timezone", "outage_refund_after_h", "failed_measurements", "window_days", "month_days")
HOUSEHOLD_EXPORT = ("household_id", "company", "branch", "residential_area", "station_id", "building", "area_m2",
                    "tariff_cny_per_m2", "heating_type", "metering", "season_fee_cny", "failed_measurements",
                    "outage_days", "measurement_months", "refund_cny")
GROUP_EXPORT = ("households", "area_m2", "season_fee_cny", "outage_days", "measurement_months", "refund_cny")
LEVELS = {"buildings": ("station_id", "building"), "areas": ("residential_area",), "stations": ("station_id",)}


def season_dates(season: dict[str, str], year: int) -> tuple[date, date]:
    """(first, last day) of the season that starts in `year` ([season] start and end as MM-DD)."""
    start, end = parse_month_day(season["start"]), parse_month_day(season["end"])
    assert start is not None and end is not None, "validated by validate_season"
    return date(year, *start), date(year + 1 if end < start else year, *end)


def current_season_year(season: dict[str, str], timezone: str, now_ts: float) -> int:
    """The year the last season to have started began in (local date of `timezone`)."""
    today = datetime.fromtimestamp(now_ts, ZoneInfo(timezone)).date()
    start = parse_month_day(season["start"])
    assert start is not None
    return today.year if (today.month, today.day) >= start else today.year - 1


def rules_of(config: dict[str, Any], year: int) -> RefundRules:
    first, last = season_dates(config["season"], year)
    r = config["refunds"]
    return RefundRules(floor_c=float(r["floor_c"]), season_start=first, season_end=last, timezone=r["timezone"],
                       outage_refund_after_h=float(r["outage_refund_after_h"]),
                       failed_measurements=int(r["failed_measurements"]), window_days=float(r["window_days"]),
                       month_days=int(r["month_days"]))


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


async def refund_report(storage: Any, config: dict[str, Any], year: int | None = None,
                        now_ts: float | None = None) -> dict[str, Any]:
    """Every stored household's refund for the season of `year` (default: the current one), with the
    sums per building, residential area and station, the rules and the outages used."""
    now = time.time() if now_ts is None else now_ts
    if year is None:
        year = current_season_year(config["season"], config["refunds"]["timezone"], now)
    rules = rules_of(config, year)
    stored = await storage.households()
    measurements = await storage.measurements()
    episodes = await storage.outage_episodes()
    known = {h["household_id"] for h in stored}
    records = [Household(h["household_id"], h["station_id"], Decimal(h["area_m2"]), Decimal(h["tariff_cny_per_m2"]))
               for h in stored]
    outages = [Outage(sid, datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(now if t1 is None else t1, UTC))
               for sid, t0, t1 in episodes if (now if t1 is None else t1) > t0]
    meas = [Measurement(m["household_id"], datetime.fromtimestamp(float(m["ts"]), UTC), float(m["temperature_c"]),
                        m["inspector"]) for m in measurements if m["household_id"] in known]
    report = compute_refunds(rules, records, outages, meas)
    lo, hi = rules.season_bounds()
    failed: dict[str, int] = defaultdict(int)
    for m in meas:
        if m.temperature_c < rules.floor_c and lo <= m.time < hi:
            failed[m.household_id] += 1
    by_id = {h["household_id"]: h for h in stored}
    rows = []
    for r in report.households:
        h = by_id[r.household_id]
        rows.append({**{k: h[k] for k in HOUSEHOLD_EXPORT[:10]}, "season_fee_cny": _money(r.season_fee_cny),
                     "failed_measurements": failed.get(r.household_id, 0), "outage_days": r.outage_days,
                     "measurement_months": r.measurement_months, "refund_cny": _money(r.refund_cny)})
    tz = ZoneInfo(rules.timezone)
    return {
        "season": {"year": year, "start": rules.season_start.isoformat(), "end": rules.season_end.isoformat(),
                   "days": rules.season_days},
        "rules": {k: getattr(rules, k) for k in RULE_KEYS},
        "outage_source": "heating_outage",
        "outages": [{"station_id": o.station_id, "start": o.start.astimezone(tz).isoformat(),
                     "end": o.end.astimezone(tz).isoformat(), "hours": round((o.end - o.start).total_seconds() / 3600, 2)}
                    for o in sorted(outages, key=lambda o: (o.station_id, o.start))],
        "households": rows,
        **{level: group_rows(rows, keys) for level, keys in LEVELS.items()},
        "total_cny": _money(report.total_cny),
    }


def group_rows(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Sums of the household rows per `keys`: households, area, season fee, refund (the sum of the
    rounded household refunds, so a group equals its rows), measurement months; outage days: the
    most of any household (the households of a station share its outages)."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in rows:
        key = tuple(r[k] for k in keys)
        g = groups.setdefault(key, {**dict(zip(keys, key, strict=True)), "households": 0, "area_m2": Decimal(0),
                                    "season_fee_cny": Decimal(0), "outage_days": 0, "measurement_months": 0,
                                    "refund_cny": Decimal(0)})
        g["households"] += 1
        g["area_m2"] += Decimal(r["area_m2"])
        g["season_fee_cny"] += Decimal(r["season_fee_cny"])
        g["refund_cny"] += Decimal(r["refund_cny"])
        g["outage_days"] = max(g["outage_days"], r["outage_days"])
        g["measurement_months"] += r["measurement_months"]
    out = []
    for key in sorted(groups):
        g = groups[key]
        out.append({**g, "area_m2": str(g["area_m2"]), "season_fee_cny": _money(g["season_fee_cny"]),
                    "refund_cny": _money(g["refund_cny"])})
    return out


def report_csv(report: dict[str, Any]) -> str:
    """The household rows as CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese names)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HOUSEHOLD_EXPORT)
    for r in report["households"]:
        w.writerow([r[k] for k in HOUSEHOLD_EXPORT])
    return "\ufeff" + out.getvalue()


def report_xlsx(report: dict[str, Any]) -> bytes:
    """A workbook: the households, then one sheet per building, area and station, then the total and
    the rules; amounts are numbers with two decimals."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "households"
    _sheet(sheet, HOUSEHOLD_EXPORT, report["households"])
    for level, keys in LEVELS.items():
        _sheet(book.create_sheet(level), keys + GROUP_EXPORT, report[level])
    summary = book.create_sheet("summary")
    summary.append(["season_start", report["season"]["start"]])
    summary.append(["season_end", report["season"]["end"]])
    for k, v in report["rules"].items():
        summary.append([k, v])
    summary.append(["total_cny", float(Decimal(report["total_cny"]))])
    summary.cell(summary.max_row, 2).number_format = "0.00"
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


_NUMBERS = {"area_m2", "tariff_cny_per_m2", "season_fee_cny", "refund_cny"}


def _sheet(sheet: Any, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    sheet.append(list(columns))
    for r in rows:
        sheet.append([float(Decimal(r[c])) if c in _NUMBERS else r[c] for c in columns])
        for i, c in enumerate(columns, start=1):
            if c.endswith("_cny"):
                sheet.cell(sheet.max_row, i).number_format = "0.00"


def input_files(report: dict[str, Any], measurements: list[dict[str, Any]]) -> dict[str, str]:
    """The report's inputs as the files `heatkeeper refunds` reads: rules.toml, households.csv,
    outages.csv, measurements.csv (times with their UTC offset)."""
    rules, season = report["rules"], report["season"]
    toml = ['season_start = %s' % season["start"], 'season_end = %s' % season["end"],
            'timezone = "%s"' % rules["timezone"]]
    toml += ["%s = %r" % (k, rules[k]) for k in RULE_KEYS if k != "timezone"]

    def csv_text(header: tuple[str, ...], rows: list[list[Any]]) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        return out.getvalue()

    tz = ZoneInfo(rules["timezone"])
    known = {h["household_id"] for h in report["households"]}
    return {
        "rules.toml": "\n".join(toml) + "\n",
        "households.csv": csv_text(("household_id", "station_id", "area_m2", "tariff_cny_per_m2"),
                                   [[h["household_id"], h["station_id"], h["area_m2"], h["tariff_cny_per_m2"]]
                                    for h in report["households"]]),
        "outages.csv": csv_text(("station_id", "start", "end"),
                                [[o["station_id"], o["start"], o["end"]] for o in report["outages"]]),
        "measurements.csv": csv_text(("household_id", "time", "temperature_c", "inspector"),
                                     [[m["household_id"], datetime.fromtimestamp(float(m["ts"]), tz).isoformat(),
                                       repr(float(m["temperature_c"])), m["inspector"]]
                                      for m in measurements if m["household_id"] in known]),
    }
