"""Reports the heating companies are held to: room-temperature compliance, the daily 09:00 and
17:00 hourly report, and CSV export. Pure functions over rows the storage returns.

Definitions (documented in the report output too):
- Hours below the floor: per collector, the time from a reading below `floor_c` to the next
  reading (gaps over MAX_READING_GAP_S count only MAX_READING_GAP_S). A building group's hours
  are those of its worst collector.
- A failed measurement: a local calendar day on which a collector spent at least
  FAIL_MIN_H below the floor. Refund risk: `refund_failures` failed days of one group within
  any `refund_window_days` window (the "3 failures in 30 days, one month refunded" rule).
- Heating outage: a run of 5-minute buckets with telemetry in which no circulation pump ran
  or the secondary supply stayed under OUTAGE_SUPPLY_C; runs at least `outage_h` long are
  listed (the "stopped for more than 24 h" rule). Buckets without telemetry are reported as
  data gaps, not as outages: no data is not proof of no heat.
- Data gaps: every 5-minute bucket of the period up to now without telemetry, before the first
  message and after the last one too (a station that sent 15 minutes of a week has 6.99 days of
  gaps, never "0 h"); `data_hours` is what the figures above rest on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from .storage.base import AGG_BUCKET_S

MAX_READING_GAP_S = 7200.0
FAIL_MIN_H = 1.0
OUTAGE_SUPPLY_C = 30.0
DAILY_FIELDS = ("outdoor_temp_c", "primary_flow_m3h", "primary_supply_temp_c", "primary_return_temp_c",
                "primary_supply_pressure_kpa", "primary_return_pressure_kpa", "secondary_supply_temp_c",
                "secondary_return_temp_c", "secondary_supply_pressure_kpa", "secondary_return_pressure_kpa",
                "heat_power_kw")
OUTAGE_FIELDS = ("pump1_running", "pump2_running", "secondary_supply_temp_c")


def local_day(ts: float, utc_offset_h: float) -> str:
    return dt.datetime.fromtimestamp(ts + utc_offset_h * 3600.0, dt.UTC).strftime("%Y-%m-%d")


def group_compliance(readings: Sequence[tuple[Any, ...]], t1_ts: float, floor_c: float, utc_offset_h: float,
                     refund_failures: int, refund_window_days: float) -> list[dict[str, Any]]:
    """Per (station, group) rows from (collector_id, ts, temp_c, station_id, group_name) rows
    ordered by collector and time."""
    per_collector: dict[str, list[tuple[float, float, str, str]]] = {}
    for cid, ts, temp, sid, group in readings:
        per_collector.setdefault(cid, []).append((float(ts), float(temp), sid, group))
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for rows in per_collector.values():
        sid, group = rows[-1][2], rows[-1][3]
        g = groups.setdefault((sid, group), {"station_id": sid, "group": group, "collectors": 0, "readings": 0,
                                             "min_temp_c": None, "mean_temp_c": None, "hours_below_floor": 0.0,
                                             "_sum": 0.0, "_fail_days": set()})
        g["collectors"] += 1
        g["readings"] += len(rows)
        below_s = 0.0
        below_by_day: dict[str, float] = {}
        for i, (ts, temp, _s, _g) in enumerate(rows):
            g["_sum"] += temp
            g["min_temp_c"] = temp if g["min_temp_c"] is None else min(g["min_temp_c"], temp)
            if temp < floor_c:
                nxt = rows[i + 1][0] if i + 1 < len(rows) else t1_ts
                span = max(0.0, min(nxt - ts, MAX_READING_GAP_S))
                below_s += span
                day = local_day(ts, utc_offset_h)
                below_by_day[day] = below_by_day.get(day, 0.0) + span
        g["hours_below_floor"] = max(g["hours_below_floor"], below_s / 3600.0)
        g["_fail_days"].update(d for d, s in below_by_day.items() if s >= FAIL_MIN_H * 3600.0)
    out = []
    for g in groups.values():
        g["mean_temp_c"] = g.pop("_sum") / g["readings"] if g["readings"] else None
        days = sorted(g.pop("_fail_days"))
        g["failed_days"] = days
        g["refund_risk"] = _window_hits(days, refund_failures, refund_window_days)
        g["hours_below_floor"] = round(g["hours_below_floor"], 3)
        out.append(g)
    out.sort(key=lambda g: (g["station_id"], g["group"]))
    return out


def _window_hits(days: list[str], count: int, window_days: float) -> bool:
    dates = [dt.date.fromisoformat(d) for d in days]
    for i in range(len(dates) - count + 1):
        if (dates[i + count - 1] - dates[i]).days < window_days:
            return True
    return False


def outages(agg_rows: Iterable[tuple[Any, ...]], t0_ts: float, t1_ts: float, outage_h: float,
            now_ts: float | None = None) -> dict[str, Any]:
    """Heating outages of one station from its 5-minute aggregates of OUTAGE_FIELDS
    ((field, bucket_ts, n, sum, min, max) rows), and its data gaps in [t0, min(t1, now)]."""
    buckets: dict[int, dict[str, float]] = {}
    for field, bucket, n, total, _lo, _hi in agg_rows:
        buckets.setdefault(int(bucket), {})[field] = float(total) / max(int(n), 1)
    spans: list[dict[str, Any]] = []
    start: int | None = None
    last: int | None = None
    for bucket in sorted(buckets):
        b = buckets[bucket]
        pumps = [b[f] for f in ("pump1_running", "pump2_running") if f in b]
        supply = b.get("secondary_supply_temp_c")
        heating = (not pumps or max(pumps) >= 0.5) and (supply is None or supply >= OUTAGE_SUPPLY_C)
        if not pumps and supply is None:
            continue
        if not heating:
            if start is None:
                start = bucket
            last = bucket + AGG_BUCKET_S
        elif start is not None and last is not None:
            spans.append({"start_ts": float(start), "end_ts": float(last), "hours": (last - start) / 3600.0})
            start = last = None
    if start is not None and last is not None:
        spans.append({"start_ts": float(start), "end_ts": float(last), "hours": (last - start) / 3600.0,
                      "ongoing": True})
    long_spans = [s for s in spans if s["hours"] >= outage_h]
    end_ts = t1_ts if now_ts is None else max(t0_ts, min(t1_ts, now_ts))
    data_s = covered_s(buckets, t0_ts, end_ts)
    return {"outages_over_limit": long_spans, "outage_hours": round(sum(s["hours"] for s in spans), 3),
            "longest_outage_h": round(max((s["hours"] for s in spans), default=0.0), 3),
            "data_gap_hours": round((end_ts - t0_ts - data_s) / 3600.0, 3), "data_hours": round(data_s / 3600.0, 3),
            "period_hours": round((end_ts - t0_ts) / 3600.0, 3), "buckets_with_data": len(buckets)}


def covered_s(buckets: Iterable[int], t0_ts: float, t1_ts: float) -> float:
    """Seconds of [t0, t1] inside the 5-minute buckets that hold data."""
    return sum(max(0.0, min(b + AGG_BUCKET_S, t1_ts) - max(float(b), t0_ts)) for b in set(buckets))


def daily_window(date: str, hour: int, utc_offset_h: float) -> tuple[float, float]:
    """The 24 hours ending at `hour`:00 local time on `date` (YYYY-MM-DD), as unix seconds."""
    day = dt.date.fromisoformat(date)
    end_local = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)
    t1 = end_local.timestamp() - utc_offset_h * 3600.0
    return t1 - 86400.0, t1


def hourly(agg_rows: Iterable[tuple[Any, ...]], t0_ts: float, hours: int = 24) -> dict[str, list[float | None]]:
    """Hourly means per field (None where no data) from 5-minute aggregate rows."""
    sums: dict[str, list[float]] = {}
    counts: dict[str, list[int]] = {}
    for field, bucket, n, total, _lo, _hi in agg_rows:
        h = int((int(bucket) - t0_ts) // 3600)
        if not 0 <= h < hours:
            continue
        sums.setdefault(field, [0.0] * hours)[h] += float(total)
        counts.setdefault(field, [0] * hours)[h] += int(n)
    return {f: [(sums[f][h] / counts[f][h]) if counts[f][h] else None for h in range(hours)] for f in sums}


# A text cell starting with one of these is read as a formula by spreadsheet programs (OWASP
# "CSV injection"): user names of failed logins and alarm texts from the stations land here.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """One cell as written: None empty, floats rounded, text that a spreadsheet would take for a
    formula prefixed with ' (numbers, negative ones included, stay numbers), line breaks as LF."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, (int, bool)):
        return value
    text = str(value)
    if text.startswith(FORMULA_START):
        text = "'" + text
    # a bare CR is not quoted by the csv module with "\n" line ends, and would split the row
    return text.replace("\r\n", "\n").replace("\r", "\n")


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()
