"""The demo's records of who is heated and what happened before it started, so the Refunds and
Energy pages show real figures from the first minute:

- households.csv: flats of 60-130 m2 in every building group of each demo station (a register
  still being filled: 440 households, each station's collectors covering at least 5 % of them),
  in residential areas (小区), with each city's tariff; the floor-heated groups as `floor`, the
  commercial building on its own tariff; the first flats of each group hold its room collectors
  (`collector_link`: top floor and end flat);
- outages.csv: one past outage of 30 h at yutai-01 (a primary-side repair) on the season's third
  and fourth days, which refunds every yutai household those two local days;
- measurements.csv: official indoor measurements (入户测温) from the season so far: one Yutai flat
  of 老街2号楼 failed three times within 30 days (one month's fee refunded), one Ordos flat of
  东区2号楼 failed twice (no refund yet), the others passed.
Times are relative to the season's first day (all within its first RECORD_DAYS days), so the
records lie in the season the demo picks (the current one once RECORD_DAYS of it have passed); the demo imports them through `heatkeeper supervisor --import-...` as an operator
would, every file checked by the supervisor's own importers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

# per station: residential areas by group index, tariff CNY per m2 per season, the commercial group
# and its tariff, and how many households are registered (the demo's register is the flats around
# its room collectors, two per building group: every station at 5 % coverage or more; the
# station's whole heated area is its [[station]] area_m2)
AREAS: dict[str, dict[str, Any]] = {
    "arxan-01": {"areas": ["温泉花园小区"] * 6, "tariff": "26.00", "registered": 200},
    "ordos-01": {"areas": ["东区小区", "东区小区", "西区小区", "商业楼"], "tariff": "22.00", "commercial": (3, "38.00"),
                 "registered": 140},
    "yutai-01": {"areas": ["老街小区", "老街小区", "文化路小区"], "tariff": "21.60", "registered": 100},
}
RECORD_DAYS = 10  # every record lies in the season's first days
COMPANY, BRANCH = "heatkeeper 演示热力公司", "城区分公司"
INSPECTORS = ("王工", "李工")


def flats(count: int, seed: int) -> list[float]:
    """`count` flat sizes of 60-130 m2 (deterministic)."""
    sizes: list[float] = []
    k = seed
    for _ in range(count):
        k = (k * 1103515245 + 12345) % 2147483648
        sizes.append(60.0 + (k % 71))
    return sizes


def household_rows(stations: list[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for n, st in enumerate(stations):
        spec = AREAS[st["id"]]
        for j, group in enumerate(st["groups"]):
            tariff = spec["commercial"][1] if spec.get("commercial", (None,))[0] == j else spec["tariff"]
            for k, size in enumerate(flats(round(spec["registered"] * group["area_share"]), 1000 * n + j)):
                rows.append({"household_id": "%s-%d-%04d" % (st["id"], j + 1, k + 1), "company": COMPANY,
                             "branch": BRANCH, "residential_area": spec["areas"][j], "station_id": st["id"],
                             "building": group["name"], "area_m2": "%g" % size, "tariff_cny_per_m2": tariff,
                             "heating_type": "floor" if group["kind"] == "floor" else "radiator",
                             "metering": "area"})
    return rows


def collector_link(station_id: str, group_index: int, k: int) -> tuple[str, str]:
    """(household id, placement) of the demo's k-th collector (0-based) of a building group."""
    return "%s-%d-%04d" % (station_id, group_index + 1, k + 1), ("top_floor", "edge")[k % 2]


def _csv(header: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def write(folder: Path, stations: list[dict[str, Any]], season_first_day: dt.date, tz_offset: str = "+08:00"
          ) -> dict[str, Path]:
    """Write the three files into `folder`; returns {kind: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    day = lambda n: season_first_day + dt.timedelta(days=n)  # noqa: E731 - a local shorthand
    households = household_rows(stations)
    paths = {"households": folder / "households.csv", "outages": folder / "outages.csv",
             "measurements": folder / "measurements.csv"}
    paths["households"].write_text(_csv(tuple(households[0]), households), encoding="utf-8")
    paths["outages"].write_text(
        "station_id,start,end\nyutai-01,%sT06:00:00%s,%sT12:00:00%s\n" % (day(2), tz_offset, day(3), tz_offset),
        encoding="utf-8")
    visits = [("yutai-01-2-0007", 1, "17.2"), ("yutai-01-2-0007", 5, "17.6"), ("yutai-01-2-0007", 9, "17.4"),
              ("ordos-01-2-0011", 2, "17.5"), ("ordos-01-2-0011", 7, "17.8"), ("ordos-01-1-0003", 3, "19.6"),
              ("arxan-01-5-0020", 4, "18.4"), ("arxan-01-1-0002", 4, "20.1"), ("yutai-01-3-0004", 6, "18.9")]
    rows = [{"household_id": hid, "time": "%sT10:%02d:00%s" % (day(d), 5 * i, tz_offset), "temperature_c": temp,
             "inspector": INSPECTORS[i % 2]} for i, (hid, d, temp) in enumerate(visits)]
    paths["measurements"].write_text(_csv(("household_id", "time", "temperature_c", "inspector"), rows),
                                     encoding="utf-8")
    return paths
