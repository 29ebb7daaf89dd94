"""Households and official measurements: stored on both backends (an import is all or nothing),
read from CSV and .xlsx files (written here with openpyxl) with every bad row listed, and the
refunds of the stored records computed by the refund engine with outages from the alarm log."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import household_refunds as hr
from heatkeeper.supervisor import households as hh
from heatkeeper.supervisor.storage import StorageError
from openpyxl import Workbook

CST = ZoneInfo("Asia/Shanghai")
STATIONS = {"st-a", "st-b"}
GOOD_CSV = (
    "household_id,company,branch,residential_area,station_id,building,area_m2,tariff_cny_per_m2,heating_type,metering,note\n"
    "H1,North Heat,East,Sunny Garden,st-a,B1,100,24.2,radiator,area,x\n"
    "H2,North Heat,,Sunny Garden,st-b,B7,50,24.2,floor,metered,\n"
    "\n"
    "H3,,,Riverside 小区,st-b,B7,80.55,26.00,radiator,area,\n"
)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def household(hid: str, station: str = "st-a", area: str = "100", tariff: str = "24.2") -> dict[str, str]:
    return {"household_id": hid, "company": "North Heat", "branch": "East", "residential_area": "Sunny Garden",
            "station_id": station, "building": "B1", "area_m2": area, "tariff_cny_per_m2": tariff,
            "heating_type": "radiator", "metering": "area"}


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def zip_without_workbook() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    return data.getvalue()


# --- storage, both backends --------------------------------------------------------------------
async def test_households_are_stored_replaced_and_read_back(storage: Any) -> None:
    await storage.save_households([household("H2", "st-b"), household("H1")], "ada", 100.0)
    rows = await storage.households()
    assert [r["household_id"] for r in rows] == ["H1", "H2"]
    assert rows[0]["area_m2"] == "100" and rows[0]["tariff_cny_per_m2"] == "24.2" and rows[0]["changed_by"] == "ada"
    changed = {**household("H1"), "area_m2": "80.55", "residential_area": "河畔小区"}
    await storage.save_households([changed], "bob", 200.0)
    h1 = await storage.household("H1")
    assert h1 is not None and h1["area_m2"] == "80.55" and h1["residential_area"] == "河畔小区"
    assert (h1["changed_by"], h1["changed_ts"]) == ("bob", 200.0)
    assert [r["household_id"] for r in await storage.households("st-b")] == ["H2"]
    assert await storage.household("nope") is None


async def test_the_register_is_read_a_page_at_a_time_and_searched(storage: Any) -> None:
    rows = [household("H%03d" % i, "st-a" if i % 2 else "st-b") for i in range(250)]
    rows.append({**household("X_1", "st-b"), "building": "B%7", "residential_area": "河畔小区"})
    rows.append({**household("X21", "st-b"), "building": "Bx7"})
    await storage.save_households(rows, "ada", 100.0)
    page, total = await storage.households_page(limit=100, offset=200)
    assert total == 252 and [r["household_id"] for r in page][:2] == ["H200", "H201"] and len(page) == 52
    page, total = await storage.households_page(station_id="st-a", limit=10)
    assert total == 125 and [r["household_id"] for r in page][:3] == ["H001", "H003", "H005"]
    # any case, any column; % and _ are plain characters, not wildcards
    assert [r["household_id"] for r in (await storage.households_page("x_"))[0]] == ["X_1"]
    assert [r["household_id"] for r in (await storage.households_page("b%7"))[0]] == ["X_1"]
    assert (await storage.households_page("河畔"))[1] == 1
    assert (await storage.households_page("h01", station_id="st-a"))[1] == 5  # H010..H019, odd ones
    assert await storage.households_page("nothing like it") == ([], 0)


async def test_measurements_are_all_or_nothing(storage: Any) -> None:
    await storage.save_households([household("H1")], "ada", 1.0)
    first = {"household_id": "H1", "ts": 1000.0, "temperature_c": 17.5, "inspector": "Wang", "recorded_by": "oli",
             "recorded_ts": 5.0}
    await storage.add_measurements([first])
    again = [{**first, "ts": 2000.0}, first]  # the second one is stored already
    with pytest.raises(StorageError):
        await storage.add_measurements(again)
    assert [m["ts"] for m in await storage.measurements()] == [1000.0]  # the new row did not stay either
    assert (await storage.measurements("H1"))[0]["inspector"] == "Wang"


async def test_outage_episodes_come_from_the_heating_outage_alarm(storage: Any) -> None:
    await storage.record_alarm("st-a", "heating_outage", "critical", True, 1000.0, "no heat", 0.0)
    await storage.record_alarm("st-a", "heating_outage", "critical", False, 5000.0, "cleared", None)
    await storage.record_alarm("st-b", "comfort_below_floor", "major", True, 1000.0, "cold", 16.0)
    await storage.record_alarm("st-b", "heating_outage", "critical", True, 7000.0, "no heat", 0.0)
    assert sorted(await storage.outage_episodes()) == [("st-a", 1000.0, 5000.0), ("st-b", 7000.0, None)]


# --- files ---------------------------------------------------------------------------------------
def test_a_good_csv_file_gives_every_household() -> None:
    rows = hh.parse_households("h.csv", GOOD_CSV.encode("utf-8-sig"), STATIONS)
    assert [r["household_id"] for r in rows] == ["H1", "H2", "H3"]
    assert rows[2] == {"household_id": "H3", "company": "", "branch": "", "residential_area": "Riverside 小区",
                       "station_id": "st-b", "building": "B7", "area_m2": "80.55", "tariff_cny_per_m2": "26.00",
                       "heating_type": "radiator", "metering": "area"}


def test_a_good_xlsx_file_gives_every_household() -> None:
    data = xlsx([list(hh.HOUSEHOLD_COLUMNS), ["H1", "North Heat", "East", "Sunny Garden", "st-a", "B1", 100, 24.2,
                                              "radiator", "area"],
                 [None] * 10, ["H2", None, None, "Sunny Garden", "st-b", 7, 50.5, 24, "floor", "metered"]])
    rows = hh.parse_households("h.xlsx", data, STATIONS)
    assert [(r["household_id"], r["building"], r["area_m2"], r["tariff_cny_per_m2"]) for r in rows] == [
        ("H1", "B1", "100", "24.2"), ("H2", "7", "50.5", "24")]


def test_every_bad_csv_row_is_listed_with_its_line() -> None:
    text = ("household_id,company,branch,residential_area,station_id,building,area_m2,tariff_cny_per_m2,heating_type,"
            "metering\n"
            "H1,,,Sunny,st-a,B1,100,24,radiator,area\n"
            "H2,,,Sunny,st-x,B1,-5,abc,steam,area\n"
            "H1,,,Sunny,st-a,B1,100,24,radiator,area\n"
            ",,,Sunny,st-a,,100,24,radiator,area\n")
    with pytest.raises(hh.ImportProblems) as err:
        hh.parse_households("h.csv", text.encode(), STATIONS)
    assert err.value.problems == [
        "h.csv:line 3: station_id='st-x': no such station; known: st-a, st-b",
        "h.csv:line 3: area_m2='-5': must be a number > 0 and at most 100000",
        "h.csv:line 3: tariff_cny_per_m2='abc': must be a number >= 0 and at most 10000",
        "h.csv:line 3: heating_type='steam': must be one of radiator, floor",
        "h.csv:line 4: household_id='H1': given twice (first on line 2)",
        "h.csv:line 5: household_id, building: empty",
    ]


def test_every_bad_xlsx_row_is_listed_with_its_row_and_file_level_problems() -> None:
    data = xlsx([list(hh.HOUSEHOLD_COLUMNS), ["H1", None, None, "Sunny", "st-a", "B1", 0, 24, "radiator", "per-m2"]])
    with pytest.raises(hh.ImportProblems) as err:
        hh.parse_households("h.xlsx", data, STATIONS)
    assert err.value.problems == ["h.xlsx:row 2: area_m2='0': must be a number > 0 and at most 100000",
                                  "h.xlsx:row 2: metering='per-m2': must be one of metered, area"]
    for name, blob, problem in [
        ("h.txt", b"x", "h.txt: must be a .csv or .xlsx file"),
        ("h.xlsx", b"not a zip", "h.xlsx: not an .xlsx workbook"),
        ("h.xlsx", zip_without_workbook(), "h.xlsx: not an .xlsx workbook"),
        ("h.csv", b"household_id,area_m2\nH1,3\n", "h.csv:line 1: missing column(s) residential_area, station_id,"),
        ("h.csv", "\xff".encode("latin-1"), "h.csv: not a UTF-8 CSV file"),
        ("h.csv", b"", "h.csv:line 1: empty file"),
    ]:
        with pytest.raises(hh.ImportProblems) as err:
            hh.parse_households(name, blob, STATIONS)
        assert err.value.problems[0].startswith(problem), err.value.problems


def test_measurement_files_are_checked_against_the_stored_records() -> None:
    text = ("household_id,time,temperature_c,inspector\n"
            "H1,2025-12-01T10:00:00+08:00,17.5,Wang\n"
            "H1,2025-12-02T10:00,18,Li\n"          # no offset: the [refunds] timezone
            "H9,2025-12-01T10:00:00+08:00,17,Wang\n"
            "H1,yesterday,99,Wang\n"
            "H1,2025-12-01T02:00:00Z,17,Li\n"      # the same instant as line 2
            "H1,2025-11-30T10:00:00+08:00,17,Li\n")  # stored already
    with pytest.raises(hh.ImportProblems) as err:
        hh.parse_measurements("m.csv", text.encode(), {"H1"}, {("H1", ts("2025-11-30T10:00:00+08:00"))},
                              "Asia/Shanghai")
    assert err.value.problems == [
        "m.csv:line 4: household_id='H9': no such household (import the households first)",
        "m.csv:line 5: time='yesterday': not an ISO 8601 time (2025-11-20T08:00:00+08:00)",
        "m.csv:line 5: temperature_c='99': must be a number in [-50, 60] degC",
        "m.csv:line 6: household 'H1' measured twice at 2025-12-01T02:00:00Z (first on line 2)",
        "m.csv:line 7: household 'H1' at 2025-11-30T10:00:00+08:00: already recorded",
    ]
    good = hh.parse_measurements("m.xlsx", xlsx([list(hh.MEASUREMENT_COLUMNS),
                                                 ["H1", datetime(2025, 12, 2, 10, 0), 17.5, "Li"]]),
                                 {"H1"}, set(), "Asia/Shanghai")
    assert good == [{"household_id": "H1", "ts": ts("2025-12-02T10:00:00+08:00"), "temperature_c": 17.5,
                     "inspector": "Li"}]


# --- refunds of the stored records ------------------------------------------------------------------
async def test_refunds_of_the_stored_records_hand_computed(storage: Any) -> None:
    # Season 2025: 2025-11-15 .. 2026-03-15 = 121 days. H1: fee 100 x 24.2 = 2420, 20/day; H2: 1210, 10/day.
    cfg = sup_config.validate({})
    await storage.save_households([household("H1", "st-a"), household("H2", "st-b", area="50"),
                                   household("H3", "st-b", area="50")], "ada", 1.0)
    # st-a: no heat from 1 Dec 10:00 to 3 Dec 09:00 (47 h): 1, 2 and 3 Dec refunded
    await storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2025-12-01T10:00:00+08:00"), "", 0.0)
    await storage.record_alarm("st-a", "heating_outage", "critical", False, ts("2025-12-03T09:00:00+08:00"), "", None)
    # st-b: 20 h only: nothing
    await storage.record_alarm("st-b", "heating_outage", "critical", True, ts("2025-12-05T00:00:00+08:00"), "", 0.0)
    await storage.record_alarm("st-b", "heating_outage", "critical", False, ts("2025-12-05T20:00:00+08:00"), "", None)
    rows = [("H2", "2025-12-01T10:00:00+08:00", 17.0), ("H2", "2025-12-10T10:00:00+08:00", 18.0),  # at the floor: passed
            ("H2", "2025-12-15T10:00:00+08:00", 16.5), ("H2", "2025-12-30T10:00:00+08:00", 17.9),
            ("H3", "2025-12-01T10:00:00+08:00", 17.0), ("H3", "2026-01-15T10:00:00+08:00", 17.0)]
    await storage.add_measurements([{"household_id": h, "ts": ts(t), "temperature_c": c, "inspector": "Wang",
                                     "recorded_by": "oli", "recorded_ts": 1.0} for h, t, c in rows])
    report = await hr.refund_report(storage, cfg, 2025, now_ts=ts("2026-04-01T00:00:00+08:00"))
    assert report["season"] == {"year": 2025, "start": "2025-11-15", "end": "2026-03-15", "days": 121}
    got = {h["household_id"]: (h["outage_days"], h["measurement_months"], h["failed_measurements"], h["refund_cny"])
           for h in report["households"]}
    assert got == {"H1": (3, 0, 0, "60.00"), "H2": (0, 1, 3, "300.00"), "H3": (0, 0, 2, "0.00")}
    assert report["total_cny"] == "360.00"
    assert [(s["station_id"], s["households"], s["refund_cny"]) for s in report["stations"]] == [
        ("st-a", 1, "60.00"), ("st-b", 2, "300.00")]
    assert report["areas"] == [{"residential_area": "Sunny Garden", "households": 3, "area_m2": "200",
                                "season_fee_cny": "4840.00", "outage_days": 3, "measurement_months": 1,
                                "refund_cny": "360.00"}]
    assert Decimal(report["buildings"][0]["refund_cny"]) == Decimal("60.00")
    # the season before: nothing of this happened in it
    assert (await hr.refund_report(storage, cfg, 2024, now_ts=ts("2026-04-01T00:00:00+08:00")))["total_cny"] == "0.00"


async def test_a_standing_outage_counts_until_now(storage: Any) -> None:
    cfg = sup_config.validate({"refunds": {"floor_c": 20.0}})
    await storage.save_households([household("H1", "st-a")], "ada", 1.0)
    await storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2025-12-01T10:00:00+08:00"), "", 0.0)
    report = await hr.refund_report(storage, cfg, 2025, now_ts=ts("2025-12-03T12:00:00+08:00"))
    assert report["households"][0]["outage_days"] == 3 and report["rules"]["floor_c"] == 20.0
    assert report["outages"][0]["end"] == "2025-12-03T12:00:00+08:00"


def test_the_current_season_is_the_one_that_started_last() -> None:
    season = {"start": "11-15", "end": "03-15"}
    assert hr.current_season_year(season, "Asia/Shanghai", ts("2026-01-10T00:00:00+08:00")) == 2025
    assert hr.current_season_year(season, "Asia/Shanghai", ts("2026-11-15T00:00:00+08:00")) == 2026
    assert hr.season_dates({"start": "10-01", "end": "12-31"}, 2026) == (datetime(2026, 10, 1).date(),
                                                                         datetime(2026, 12, 31).date())


# --- the command line ------------------------------------------------------------------------------
def test_the_supervisor_command_imports_whole_files_or_nothing(tmp_path: Any) -> None:
    import asyncio
    import subprocess
    import sys

    from heatkeeper.supervisor.storage import open_storage

    (tmp_path / "sup.toml").write_text('[supervisor]\ndata_dir = "data"\n'
                                       '[[station]]\nid = "st-a"\nname = "A"\ncity = "Arxan"\n'
                                       '[[station]]\nid = "st-b"\nname = "B"\ncity = "Arxan"\n', encoding="utf-8")
    (tmp_path / "h.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "bad.csv").write_text("household_id,time,temperature_c,inspector\n"
                                      "H1,2025-12-01T10:00:00+08:00,17,Wang\nH9,2025-12-01T10:00,17,Wang\n",
                                      encoding="utf-8")
    (tmp_path / "m.csv").write_text("household_id,time,temperature_c,inspector\n"
                                    "H1,2025-12-01T10:00:00+08:00,17,Wang\n", encoding="utf-8")

    def supervisor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", "sup.toml",
                               *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)

    done = supervisor("--import-households", "h.csv")
    assert done.returncode == 0 and "h.csv: 3 households imported" in done.stdout, done.stderr
    done = supervisor("--import-measurements", "bad.csv")
    assert done.returncode == 2
    assert "bad.csv:line 3: household_id='H9': no such household" in done.stderr
    done = supervisor("--import-measurements", "m.csv")
    assert done.returncode == 0, done.stderr

    async def stored() -> tuple[list[str], list[float], list[tuple[str, str]]]:
        st = open_storage("sqlite", path=str(tmp_path / "data" / "supervisor.db"))
        await st.open()
        try:
            audit = await st.audit_rows(10, None)
            return ([h["household_id"] for h in await st.households()], [m["temperature_c"] for m in await st.measurements()],
                    [(a["action"], a["result"]) for a in audit])
        finally:
            await st.close()

    ids, temps, audit = asyncio.run(stored())
    assert ids == ["H1", "H2", "H3"] and temps == [17.0]
    assert [a for a in audit if a[0].endswith("_import")] == [("measurements_import", "ok"),
                                                              ("measurements_import", "refused"),
                                                              ("households_import", "ok")]
