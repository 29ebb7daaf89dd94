"""The reports that reach the heating authority, computed from the stations' 5-minute aggregates
and the household register, as CSV and .xlsx (the same rows in both).

Hourly report ("hourly", due at 09:00 and 17:00 local by default; a period runs from the report
before): one row per residential area (小区) and hour of the period. An area's stations are the
stations its households are supplied by (the household register); a configured station that no
household names is reported on its own under an empty area, so nothing goes unreported.
Columns (HOURLY_COLUMNS):
  residential_area; hour_start (local, YYYY-MM-DD HH:MM; the hour runs to the next one);
  stations (the area's station ids, ";"-separated); stations_reporting (how many sent data that hour);
  primary_flow_m3h (the sum over the area's stations of each one's hourly mean);
  primary_supply_temp_c, primary_return_temp_c, primary_supply_pressure_kpa,
  primary_return_pressure_kpa, secondary_supply_temp_c, secondary_return_temp_c,
  secondary_supply_pressure_kpa, secondary_return_pressure_kpa (the mean over the reporting
  stations of each one's hourly mean); heat_power_kw (sum);
  supplied (1: every station of the area supplied heat that hour, 0: at least one did not,
  empty: no station sent data); area_status (the area at the period's end: "supplied" or
  "not_supplied", the same on each of its rows).
A station supplies heat in an hour when its primary flow averages at least
`[authority_reports] supplied_flow_m3h` and, where it reports its circulation pumps, one ran
(hourly mean of pump1_running or pump2_running at least 0.5).
The .xlsx has the same rows on sheet "hourly" and a sheet "areas" (AREA_COLUMNS:
residential_area, stations, area_status, reason: each station not supplying in the last hour
with why, "no data" or "no flow").

Weekly meter-reading report ("weekly", due Monday 09:00 local by default; a period is the week
before): one row per station and meter (WEEKLY_COLUMNS): station_id, station_name,
residential_area (";"-separated), meter ("heat": heat_energy_kwh, unit kWh; "make_up_water":
makeup_volume_m3, unit m3), unit, start_time, start_reading, end_time, end_reading (the
totaliser's highest value in the last 5-minute bucket before each boundary, looked for up to
READING_LOOKBACK_S back; the time is that bucket's end, local), consumption (end - start),
consumption_gj (heat only: kWh x 0.0036), note (why a figure is missing: "no reading before
the start", "no reading before the end", "meter went backwards").
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

from .reports import csv_cell, hourly, to_csv
from .storage.base import AGG_BUCKET_S

HOURLY_MEANS = ("primary_supply_temp_c", "primary_return_temp_c", "primary_supply_pressure_kpa",
                "primary_return_pressure_kpa", "secondary_supply_temp_c", "secondary_return_temp_c",
                "secondary_supply_pressure_kpa", "secondary_return_pressure_kpa")
HOURLY_COLUMNS = ("residential_area", "hour_start", "stations", "stations_reporting", "primary_flow_m3h",
                  *HOURLY_MEANS, "heat_power_kw", "supplied", "area_status")
AREA_COLUMNS = ("residential_area", "stations", "area_status", "reason")
WEEKLY_COLUMNS = ("station_id", "station_name", "residential_area", "meter", "unit", "start_time", "start_reading",
                  "end_time", "end_reading", "consumption", "consumption_gj", "note")
PUMPS = ("pump1_running", "pump2_running")
METERS = (("heat", "heat_energy_kwh", "kWh"), ("make_up_water", "makeup_volume_m3", "m3"))
READING_LOOKBACK_S = 6 * 3600.0
KWH_TO_GJ = 0.0036
TITLES = {"hourly": "供热运行小时报表 hourly heating report", "weekly": "热计量周抄表 weekly meter readings"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def local_text(ts: float, timezone: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


async def areas_of(storage: Any, config: dict[str, Any]) -> dict[str, list[str]]:
    """{residential area: its station ids} from the household register; configured stations no
    household names under ""."""
    areas: dict[str, set[str]] = {}
    for h in await storage.households():
        areas.setdefault(str(h["residential_area"]), set()).add(str(h["station_id"]))
    named = set().union(*areas.values()) if areas else set()
    alone = [s["id"] for s in config["stations"] if s["id"] not in named]
    if alone:
        areas.setdefault("", set()).update(alone)
    return {a: sorted(s) for a, s in sorted(areas.items())}


def _supplied(h: dict[str, list[float | None]], i: int, min_flow: float) -> str | None:
    """None: no data that hour; "" supplied; else why not."""
    flow = h.get("primary_flow_m3h", [None] * (i + 1))[i]
    pumps = [h[p][i] for p in PUMPS if p in h and h[p][i] is not None]
    if flow is None and not pumps:
        return None
    if flow is None or flow < min_flow:
        return "no flow"
    if pumps and max(v for v in pumps if v is not None) < 0.5:
        return "no circulation pump running"
    return ""


async def hourly_report(storage: Any, config: dict[str, Any], start_ts: float, end_ts: float) -> dict[str, Any]:
    ar = config["authority_reports"]
    tz = ar["timezone"]
    hours = max(0, round((end_ts - start_ts) / 3600.0))
    fields = ("primary_flow_m3h", *HOURLY_MEANS, "heat_power_kw", *PUMPS)
    per_station: dict[str, dict[str, list[float | None]]] = {}
    areas = await areas_of(storage, config)
    for sid in sorted({s for ss in areas.values() for s in ss}):
        rows = await storage.aggregates(sid, fields, start_ts, end_ts - 1.0)
        per_station[sid] = hourly(rows, start_ts, hours)
    rows_out: list[list[Any]] = []
    area_rows: list[list[Any]] = []
    for area, stations in areas.items():
        hourly_rows: list[list[Any]] = []
        last_reasons: list[str] = []
        for i in range(hours):
            reporting = [s for s in stations if any(v[i] is not None for v in per_station[s].values())]
            state = {s: _supplied(per_station[s], i, ar["supplied_flow_m3h"]) for s in stations}
            row: list[Any] = [area, local_text(start_ts + i * 3600.0, tz), ";".join(stations), len(reporting)]
            flows = [per_station[s]["primary_flow_m3h"][i] for s in reporting if "primary_flow_m3h" in per_station[s]]
            row.append(round(sum(f for f in flows if f is not None), 3) if any(f is not None for f in flows) else None)
            for field in HOURLY_MEANS:
                vals = [per_station[s][field][i] for s in reporting if field in per_station[s]]
                nums = [v for v in vals if v is not None]
                row.append(round(sum(nums) / len(nums), 3) if nums else None)
            powers = [per_station[s]["heat_power_kw"][i] for s in reporting if "heat_power_kw" in per_station[s]]
            nums = [p for p in powers if p is not None]
            row.append(round(sum(nums), 3) if nums else None)
            if all(v is None for v in state.values()):
                row.append(None)
            else:
                row.append(1 if all(v == "" for v in state.values()) else 0)
            hourly_rows.append(row)
            last_reasons = ["%s: %s" % (s, "no data" if v is None else v) for s, v in state.items() if v != ""]
        if hours == 0:
            last_reasons = ["%s: no data" % s for s in stations]
        status = "not_supplied" if last_reasons else "supplied"
        for row in hourly_rows:
            row.append(status)
        rows_out.extend(hourly_rows)
        area_rows.append([area, ";".join(stations), status, "; ".join(last_reasons)])
    return {"report": "hourly", "period_start_ts": start_ts, "period_end_ts": end_ts, "timezone": tz,
            "columns": HOURLY_COLUMNS, "rows": rows_out, "areas_columns": AREA_COLUMNS, "areas": area_rows}


async def _reading(storage: Any, sid: str, field: str, boundary_ts: float) -> tuple[float, float] | None:
    """(value, time) of a totaliser just before `boundary_ts`: the max of the last 5-minute
    bucket that ends by then."""
    rows = await storage.aggregates(sid, (field,), boundary_ts - READING_LOOKBACK_S, boundary_ts - 1.0)
    found = [(int(b), float(hi)) for _f, b, _n, _s, _lo, hi in rows if int(b) + AGG_BUCKET_S <= boundary_ts]
    if not found:
        return None
    bucket, value = max(found)
    return value, float(bucket + AGG_BUCKET_S)


async def weekly_report(storage: Any, config: dict[str, Any], start_ts: float, end_ts: float) -> dict[str, Any]:
    tz = config["authority_reports"]["timezone"]
    areas = await areas_of(storage, config)
    station_areas: dict[str, list[str]] = {}
    for area, stations in areas.items():
        for s in stations:
            station_areas.setdefault(s, []).append(area)
    names = {s["id"]: s["name"] for s in config["stations"]}
    rows: list[list[Any]] = []
    for sid in sorted(station_areas):
        for meter, field, unit in METERS:
            start = await _reading(storage, sid, field, start_ts)
            end = await _reading(storage, sid, field, end_ts)
            note, use, gj = "", None, None
            if start is None:
                note = "no reading before the start"
            elif end is None:
                note = "no reading before the end"
            elif end[0] < start[0]:
                note = "meter went backwards"
            else:
                use = round(end[0] - start[0], 3)
                gj = round(use * KWH_TO_GJ, 3) if meter == "heat" else None
            rows.append([sid, names.get(sid, sid), ";".join(a for a in station_areas[sid] if a), meter, unit,
                         local_text(start[1], tz) if start else None, start[0] if start else None,
                         local_text(end[1], tz) if end else None, end[0] if end else None, use, gj, note])
    return {"report": "weekly", "period_start_ts": start_ts, "period_end_ts": end_ts, "timezone": tz,
            "columns": WEEKLY_COLUMNS, "rows": rows}


async def build(storage: Any, config: dict[str, Any], report: str, start_ts: float, end_ts: float) -> dict[str, Any]:
    """One period of `report` ("hourly" or "weekly")."""
    if report == "hourly":
        return await hourly_report(storage, config, start_ts, end_ts)
    if report == "weekly":
        return await weekly_report(storage, config, start_ts, end_ts)
    raise ValueError("report=%r: must be hourly or weekly" % report)


def filename(report: dict[str, Any], site: str = "") -> str:
    """e.g. hourly-2026-12-02-0900 (the period's end, local)."""
    end = dt.datetime.fromtimestamp(report["period_end_ts"], ZoneInfo(report["timezone"]))
    return "%s%s-%s" % (site + "-" if site else "", report["report"], end.strftime("%Y-%m-%d-%H%M"))


def report_csv(report: dict[str, Any]) -> str:
    """The report's rows as CSV (UTF-8, header first; empty cells where a figure is missing)."""
    return to_csv(report["columns"], report["rows"])


def _cells(row: list[Any]) -> list[Any]:
    """As the CSV writes them (a name a spreadsheet would take for a formula stays text); None empty."""
    return [None if v is None else csv_cell(v) for v in row]


def report_xlsx(report: dict[str, Any]) -> bytes:
    """The report as .xlsx: its rows on the first sheet (the CSV's), the areas' status on "areas"
    (hourly report), the period on "about"."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = report["report"]
    sheet.append(list(report["columns"]))
    for row in report["rows"]:
        sheet.append(_cells(row))
    if "areas" in report:
        areas = book.create_sheet("areas")
        areas.append(list(report["areas_columns"]))
        for row in report["areas"]:
            areas.append(_cells(row))
    about = book.create_sheet("about")
    for key, value in (("report", TITLES[report["report"]]),
                       ("period_start", local_text(report["period_start_ts"], report["timezone"])),
                       ("period_end", local_text(report["period_end_ts"], report["timezone"])),
                       ("timezone", report["timezone"])):
        about.append([key, value])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
