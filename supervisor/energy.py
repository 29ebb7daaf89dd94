"""Energy figures per station, residential area and day, and per season normalised by degree days.

Pure functions over what the storage returns (5-minute aggregates, collector readings) and one
coroutine, `energy_report`, that fetches them. Definitions (also on the page and in the exports):

- Heated area: `area_m2` of the station's `[[station]]` entry when given (the operator's
  statement of the whole heated area, the register may be incomplete), else the sum of its
  households' `area_m2` (the household register); with neither, the per-m2 figures are empty
  (never divided by a guess).
- Heat: the heat meter's totaliser `heat_energy_kwh`: a day's heat is the sum of its rises
  between consecutive 5-minute buckets (the highest reading of each), the rise from the previous
  day's last bucket included; a fall (a meter replaced or reset) adds nothing and is counted in
  `meter_resets`. Without a totaliser, `heat_power_kw` integrated over the buckets with data.
  GJ/m2 = kWh x 0.0036 / area; mean W/m2 = kWh x 1000 / area / hours (`heat_hours`: the time
  the totaliser's rises span, so a day still running or with a gap is not diluted; without a
  totaliser, the hours with a power reading).
- Electricity: the station's electricity meter totaliser `electricity_kwh`, the same way (kWh/m2).
- Make-up water: the make-up meter totaliser `makeup_volume_m3` (1 m3 taken as 1 t), t/m2; the
  water-loss rate is the day's make-up as a percentage of the system's water volume
  (`water_volume_m3` of the `[[station]]` entry; empty without it).
- Degree days: HDD18 = max(0, 18 - the day's mean outdoor temperature) from the station's
  `outdoor_temp_c`. A season's heat normalised by degree days: kWh/m2 per 1,000 HDD18
  (`heat_kwh_per_m2_per_khdd`), the figure that compares stations across cities and years.
- Over-heating hours: clock hours in which some building group's median collector reading was
  above `overheat_c` (the fleet alarms' threshold, 23 degC by default).
- A residential area's figures: each station's day shared among the areas it heats by their
  share of its households' area.
- Ranking: stations by season heat per m2 per 1,000 HDD18, lowest first (those without area or
  degree days last).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .reports import to_csv
from .storage.base import AGG_BUCKET_S

HDD_BASE_C = 18.0
KWH_TO_GJ = 0.0036
TOTALISERS = ("heat_energy_kwh", "electricity_kwh", "makeup_volume_m3")
FIELDS = (*TOTALISERS, "heat_power_kw", "outdoor_temp_c")
DAY_COLUMNS = ("date", "data_hours", "heat_kwh", "heat_hours", "heat_gj_per_m2", "heat_w_per_m2", "electricity_kwh",
               "electricity_kwh_per_m2", "makeup_t", "makeup_t_per_m2", "water_loss_pct", "outdoor_mean_c",
               "hdd18", "overheat_hours")
SEASON_COLUMNS = ("station_id", "name", "area_m2", "rank", "data_hours", "heat_kwh", "heat_gj_per_m2",
                  "heat_kwh_per_m2_per_khdd", "heat_w_per_m2", "electricity_kwh", "electricity_kwh_per_m2", "makeup_t",
                  "makeup_t_per_m2", "water_loss_pct_per_day", "hdd18", "overheat_hours", "meter_resets")


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[float, float]:
    """[00:00, 24:00) of a local calendar day as unix seconds (23 or 25 h across a DST change)."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def _by_field(agg_rows: Iterable[Sequence[Any]]) -> dict[str, list[tuple[int, int, float, float]]]:
    """{field: [(bucket, n, sum, max), ...] in time order}."""
    out: dict[str, list[tuple[int, int, float, float]]] = {}
    for field, bucket, n, total, _lo, hi in agg_rows:
        out.setdefault(str(field), []).append((int(bucket), int(n), float(total), float(hi)))
    for rows in out.values():
        rows.sort()
    return out


def totaliser_days(rows: Sequence[tuple[int, int, float, float]], bounds: Sequence[tuple[float, float]]
                   ) -> tuple[list[float | None], list[float], int]:
    """Per day in `bounds`, the totaliser's rise (None for a day without any bucket) and the
    hours that rise spans, and the number of falls skipped (meter resets). A rise between two
    buckets (and the time between them) belongs to the day of the later one."""
    out: list[float | None] = [None] * len(bounds)
    hours = [0.0] * len(bounds)
    resets = 0
    prev: tuple[int, float] | None = None
    k = 0
    for bucket, _n, _sum, hi in rows:
        while k < len(bounds) and bucket >= bounds[k][1]:
            k += 1
        rise = span = 0.0
        if prev is not None:
            span = (bucket - prev[0]) / 3600.0
            if hi >= prev[1]:
                rise = hi - prev[1]
            else:
                resets += 1
        prev = (bucket, hi)
        if k < len(bounds) and bucket >= bounds[k][0]:
            out[k] = (out[k] or 0.0) + rise
            hours[k] += span
    return out, hours, resets


def mean_days(rows: Sequence[tuple[int, int, float, float]], bounds: Sequence[tuple[float, float]]
              ) -> tuple[list[float | None], list[float]]:
    """Per day, the sample mean over its buckets (None without data) and the hours with data."""
    sums = [0.0] * len(bounds)
    counts = [0] * len(bounds)
    hours = [0.0] * len(bounds)
    k = 0
    for bucket, n, total, _hi in rows:
        while k < len(bounds) and bucket >= bounds[k][1]:
            k += 1
        if k < len(bounds) and bucket >= bounds[k][0] and n > 0:
            sums[k] += total
            counts[k] += n
            hours[k] += AGG_BUCKET_S / 3600.0
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)], hours


def power_days(rows: Sequence[tuple[int, int, float, float]], bounds: Sequence[tuple[float, float]]) -> list[float | None]:
    """Per day, kWh from the mean power of each bucket with data (the fallback without a totaliser)."""
    out: list[float | None] = [None] * len(bounds)
    k = 0
    for bucket, n, total, _hi in rows:
        while k < len(bounds) and bucket >= bounds[k][1]:
            k += 1
        if k < len(bounds) and bucket >= bounds[k][0] and n > 0:
            out[k] = (out[k] or 0.0) + total / n * AGG_BUCKET_S / 3600.0
    return out


def overheat_hours(readings: Iterable[Sequence[Any]], bounds: Sequence[tuple[float, float]], overheat_c: float) -> list[int]:
    """Per day, the clock hours in which some group's median reading was above `overheat_c`, from
    (collector_id, ts, temp_c, station_id, group_name) rows."""
    per_hour: dict[tuple[int, str], list[float]] = {}
    for _cid, ts, temp, _sid, group in readings:
        per_hour.setdefault((int(float(ts) // 3600), str(group)), []).append(float(temp))
    hot_hours = sorted({hour for (hour, _g), temps in per_hour.items() if statistics.median(temps) > overheat_c})
    out = [0] * len(bounds)
    k = 0
    for hour in hot_hours:
        ts = hour * 3600.0
        while k < len(bounds) and ts >= bounds[k][1]:
            k += 1
        if k < len(bounds) and ts >= bounds[k][0]:
            out[k] += 1
    return out


def _hdd(outdoor_mean_c: float | None) -> float | None:
    return None if outdoor_mean_c is None else max(0.0, HDD_BASE_C - outdoor_mean_c)


def _per(value: float | None, area: float | None, scale: float = 1.0) -> float | None:
    return None if value is None or not area else value * scale / area


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def station_days(agg_rows: Iterable[Sequence[Any]], readings: Iterable[Sequence[Any]], days: Sequence[dt.date],
                 tz: ZoneInfo, area_m2: float | None, water_volume_m3: float | None, overheat_c: float
                 ) -> dict[str, Any]:
    """One station's daily figures (DAY_COLUMNS) over `days` and its meter resets."""
    bounds = [day_bounds(d, tz) for d in days]
    fields = _by_field(agg_rows)
    resets = 0
    series: dict[str, list[float | None]] = {}
    spans: dict[str, list[float]] = {}
    for name in TOTALISERS:
        series[name], spans[name], n = totaliser_days(fields.get(name, []), bounds)
        resets += n
    from_power = power_days(fields.get("heat_power_kw", []), bounds)
    _, power_hours = mean_days(fields.get("heat_power_kw", []), bounds)
    outdoor, _ = mean_days(fields.get("outdoor_temp_c", []), bounds)
    data_hours = [0.0] * len(bounds)
    for name in FIELDS:
        _, hours = mean_days(fields.get(name, []), bounds)
        data_hours = [max(a, b) for a, b in zip(data_hours, hours, strict=True)]
    hot = overheat_hours(readings, bounds, overheat_c)
    rows = []
    for i, day in enumerate(days):
        if "heat_energy_kwh" in fields:  # the meter's rise covers the time since its previous reading
            heat, heat_hours = series["heat_energy_kwh"][i], spans["heat_energy_kwh"][i]
        else:  # integrated power covers only the buckets with a reading
            heat, heat_hours = from_power[i], power_hours[i]
        makeup = series["makeup_volume_m3"][i]
        rows.append({
            "date": day.isoformat(), "data_hours": round(data_hours[i], 2), "heat_kwh": _round(heat, 1),
            "heat_hours": round(heat_hours, 2),
            "heat_gj_per_m2": _round(_per(heat, area_m2, KWH_TO_GJ), 6),
            "heat_w_per_m2": _round(_per(heat, area_m2, 1000.0 / heat_hours) if heat_hours else None, 2),
            "electricity_kwh": _round(series["electricity_kwh"][i], 1),
            "electricity_kwh_per_m2": _round(_per(series["electricity_kwh"][i], area_m2), 6),
            "makeup_t": _round(makeup, 3), "makeup_t_per_m2": _round(_per(makeup, area_m2), 8),
            "water_loss_pct": _round(_per(makeup, water_volume_m3, 100.0), 3),
            "outdoor_mean_c": _round(outdoor[i], 2),
            "hdd18": _round(_hdd(outdoor[i]), 2),
            "overheat_hours": hot[i]})
    return {"days": rows, "meter_resets": resets}


def _sum(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return sum(values) if values else None


def season_row(station_id: str, name: str, area_m2: float | None, day_rows: Sequence[dict[str, Any]],
               water_volume_m3: float | None, meter_resets: int) -> dict[str, Any]:
    """The season (or period) figures of one station from its day rows (SEASON_COLUMNS)."""
    heat = _sum(day_rows, "heat_kwh")
    hdd = _sum(day_rows, "hdd18")
    hours = sum(r["data_hours"] for r in day_rows)
    heat_hours = sum(r["heat_hours"] for r in day_rows if r["heat_kwh"] is not None)
    loss = [r["water_loss_pct"] for r in day_rows if r["water_loss_pct"] is not None]
    per_m2 = _per(heat, area_m2)
    return {"station_id": station_id, "name": name, "area_m2": area_m2, "rank": None, "data_hours": round(hours, 2),
            "heat_kwh": _round(heat, 1), "heat_gj_per_m2": _round(_per(heat, area_m2, KWH_TO_GJ), 5),
            "heat_kwh_per_m2_per_khdd": _round(per_m2 * 1000.0 / hdd if per_m2 is not None and hdd else None, 3),
            "heat_w_per_m2": _round(per_m2 * 1000.0 / heat_hours if per_m2 is not None and heat_hours else None, 2),
            "electricity_kwh": _round(_sum(day_rows, "electricity_kwh"), 1),
            "electricity_kwh_per_m2": _round(_per(_sum(day_rows, "electricity_kwh"), area_m2), 5),
            "makeup_t": _round(_sum(day_rows, "makeup_t"), 3),
            "makeup_t_per_m2": _round(_per(_sum(day_rows, "makeup_t"), area_m2), 6),
            "water_loss_pct_per_day": _round(sum(loss) / len(loss) if loss else None, 3),
            "hdd18": _round(hdd, 1), "overheat_hours": sum(r["overheat_hours"] for r in day_rows),
            "meter_resets": meter_resets, "heat_hours": round(heat_hours, 2)}


RANK_MIN_HEAT_HOURS = 24.0  # a station's heat figures must span a day at least to be ranked


def rank(stations: list[dict[str, Any]]) -> None:
    """Number the stations by heat per m2 per 1,000 HDD18, lowest first; those without the
    figure, or whose heat figures span less than RANK_MIN_HEAT_HOURS (a new install's first
    minutes, a meter that hardly reported: its few minutes would rank it first), are left
    unranked (rank None) and listed after."""
    with_figure = sorted((s for s in stations if s["heat_kwh_per_m2_per_khdd"] is not None
                          and s["heat_hours"] >= RANK_MIN_HEAT_HOURS),
                         key=lambda s: (s["heat_kwh_per_m2_per_khdd"], s["station_id"]))
    for i, s in enumerate(with_figure, 1):
        s["rank"] = i
    stations.sort(key=lambda s: (s["rank"] is None, s["rank"] or 0, s["station_id"]))


def area_days(stations: Sequence[dict[str, Any]], shares: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Per residential area and day: heat, electricity and make-up shared from its stations by
    `shares` {station_id: {area: fraction of the station's heated area}}, and per m2."""
    areas: dict[str, dict[str, Any]] = {}
    for st in stations:
        for area, frac in shares.get(st["station_id"], {}).items():
            a = areas.setdefault(area, {"residential_area": area, "area_m2": 0.0, "stations": [], "days": {}})
            a["area_m2"] += frac * (st["area_m2"] or 0.0)
            a["stations"].append(st["station_id"])
            for r in st["days"]:
                d = a["days"].setdefault(r["date"], {"date": r["date"], "heat_kwh": None, "electricity_kwh": None,
                                                     "makeup_t": None})
                for key in ("heat_kwh", "electricity_kwh", "makeup_t"):
                    if r[key] is not None:
                        d[key] = (d[key] or 0.0) + r[key] * frac
    out = []
    for a in sorted(areas.values(), key=lambda a: a["residential_area"]):
        days = [a["days"][k] for k in sorted(a["days"])]
        for d in days:
            d["heat_gj_per_m2"] = _round(_per(d["heat_kwh"], a["area_m2"], KWH_TO_GJ), 6)
            d["electricity_kwh_per_m2"] = _round(_per(d["electricity_kwh"], a["area_m2"]), 6)
            d["makeup_t_per_m2"] = _round(_per(d["makeup_t"], a["area_m2"]), 8)
            for key in ("heat_kwh", "electricity_kwh", "makeup_t"):
                d[key] = _round(d[key], 3)
        heat = _sum(days, "heat_kwh")
        out.append({"residential_area": a["residential_area"], "area_m2": round(a["area_m2"], 2),
                    "stations": sorted(set(a["stations"])), "heat_kwh": _round(heat, 1),
                    "heat_gj_per_m2": _round(_per(heat, a["area_m2"], KWH_TO_GJ), 5),
                    "electricity_kwh_per_m2": _round(_per(_sum(days, "electricity_kwh"), a["area_m2"]), 5),
                    "makeup_t_per_m2": _round(_per(_sum(days, "makeup_t"), a["area_m2"]), 6), "days": days})
    return out


def households_by_station(households: Iterable[dict[str, Any]]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """({station_id: heated m2}, {station_id: {residential_area: share of that area}}) from the register."""
    area: dict[str, Decimal] = {}
    by_area: dict[str, dict[str, Decimal]] = {}
    for h in households:
        sid, m2 = h["station_id"], Decimal(str(h["area_m2"]))
        area[sid] = area.get(sid, Decimal(0)) + m2
        name = h.get("residential_area") or ""
        by_area.setdefault(sid, {})[name] = by_area.setdefault(sid, {}).get(name, Decimal(0)) + m2
    shares = {sid: {a: float(m2 / area[sid]) for a, m2 in areas.items()} for sid, areas in by_area.items() if area[sid]}
    return {sid: float(m2) for sid, m2 in area.items()}, shares


async def energy_report(storage: Any, config: dict[str, Any], first: dt.date, last: dt.date) -> dict[str, Any]:
    """Every configured station's days and period figures in [first, last] (local dates of the
    site's time zone), the residential areas' days, and the stations ranked."""
    tz = ZoneInfo(config["refunds"]["timezone"])
    days = days_between(first, last)
    t0, _ = day_bounds(first, tz)
    _, t1 = day_bounds(last, tz)
    overheat_c = float(config["fleet_alarms"]["overheat_c"])
    area_of, shares = households_by_station(await storage.households())
    stations = []
    for st in config["stations"]:
        sid = st["id"]
        area = float(st["area_m2"]) if st.get("area_m2") else area_of.get(sid)
        volume = float(st["water_volume_m3"]) if st.get("water_volume_m3") else None
        # one bucket before the first day: the first day's rise starts from the previous reading
        rows = await storage.aggregates(sid, FIELDS, t0 - 86400.0, t1 - 1.0)
        readings = await storage.readings(sid, t0, t1)
        figures = station_days(rows, readings, days, tz, area, volume, overheat_c)
        row = season_row(sid, st.get("name", sid), area, figures["days"], volume, figures["meter_resets"])
        stations.append({**row, "days": figures["days"]})
        if sid not in shares and area:
            shares[sid] = {"": 1.0}
    rank(stations)
    return {"from": first.isoformat(), "to": last.isoformat(), "timezone": config["refunds"]["timezone"],
            "overheat_c": overheat_c, "hdd_base_c": HDD_BASE_C, "stations": stations,
            "areas": area_days(stations, shares)}


def report_csv(report: dict[str, Any]) -> str:
    """The period's station rows, then a blank line and every station's days, as one CSV (cells
    through reports.to_csv: no formula injection from station names)."""
    periods = to_csv(SEASON_COLUMNS, ([s[k] for k in SEASON_COLUMNS] for s in report["stations"]))
    days = to_csv(("station_id", *DAY_COLUMNS),
                  ([s["station_id"], *(r[k] for k in DAY_COLUMNS)] for s in report["stations"] for r in s["days"]))
    return periods + "\n" + days
