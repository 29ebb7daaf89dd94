"""The refund engine's input files (supervisor.refund_files): every bad rule and every bad row
listed with file, line and reason; good files read into the engine's records."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from heatkeeper.supervisor.refund_files import RefundInputError, load_inputs, load_rules
from heatkeeper.supervisor.refunds import RefundRules

RULES = """\
floor_c = 18.0
season_start = 2025-11-15
season_end = 2026-02-22
timezone = "Asia/Shanghai"
"""
HOUSEHOLDS = "household_id,station_id,area_m2,tariff_cny_per_m2\nH1,S1,100,25\nH2,S2,80.5,24.3\n"
OUTAGES = "station_id,start,end\nS1,2025-12-01T08:00:00+08:00,2025-12-02T09:00:00+08:00\n"
MEASUREMENTS = "household_id,time,temperature_c,inspector\nH2,2025-12-01T10:00:00+08:00,17.5,Wang\n"


def write(tmp_path: Path, rules: str = RULES, households: str = HOUSEHOLDS, outages: str = OUTAGES,
          measurements: str = MEASUREMENTS) -> list[str]:
    paths = []
    for name, text in (("rules.toml", rules), ("h.csv", households), ("o.csv", outages), ("m.csv", measurements)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(str(tmp_path / name))
    return paths


def problems_of(tmp_path: Path, **files: str) -> list[str]:
    paths = write(tmp_path, **files)
    with pytest.raises(RefundInputError) as info:
        load_inputs(*paths)
    return [p.replace(str(tmp_path) + "/", "") for p in info.value.problems]


def test_good_files_read_into_records(tmp_path: Path) -> None:
    inputs = load_inputs(*write(tmp_path))
    assert inputs.rules == RefundRules(18.0, date(2025, 11, 15), date(2026, 2, 22), "Asia/Shanghai",
                                       outage_refund_after_h=24.0, failed_measurements=3, window_days=30.0, month_days=30)
    assert [(h.household_id, h.station_id, h.area_m2, h.tariff_cny_per_m2) for h in inputs.households] == [
        ("H1", "S1", Decimal("100"), Decimal("25")), ("H2", "S2", Decimal("80.5"), Decimal("24.3"))]
    assert inputs.outages[0].start == datetime(2025, 12, 1, tzinfo=timezone(timedelta(hours=8))) + timedelta(hours=8)
    assert inputs.measurements[0].temperature_c == 17.5 and inputs.measurements[0].inspector == "Wang"


def test_rules_given_override_the_seeds_defaults(tmp_path: Path) -> None:
    text = RULES + "outage_refund_after_h = 12\nfailed_measurements = 2\nwindow_days = 14\nmonth_days = 31\n"
    (tmp_path / "r.toml").write_text(text.replace("floor_c = 18.0", "floor_c = 20"), encoding="utf-8")
    problems: list[str] = []
    rules = load_rules(str(tmp_path / "r.toml"), problems)
    assert problems == []
    assert rules == RefundRules(20.0, date(2025, 11, 15), date(2026, 2, 22), "Asia/Shanghai", 12.0, 2, 14.0, 31)


def test_bad_rules_list_every_problem(tmp_path: Path) -> None:
    rules = """\
floor_c = "18"
season_start = 2026-03-15
season_end = 2025-11-15
timezone = "Asia/Shangai"
failed_measurements = 2.5
window_days = -1
heating_type = "floor"
"""
    assert problems_of(tmp_path, rules=rules) == [
        "rules.toml: heating_type: unknown key; known: floor_c, season_start, season_end, timezone, "
        "outage_refund_after_h, failed_measurements, window_days, month_days",
        "rules.toml: floor_c='18': must be a number in [5, 30] degC",
        "rules.toml: timezone='Asia/Shangai': must be an IANA time zone name such as 'Asia/Shanghai'",
        "rules.toml: failed_measurements=2.5: must be an integer in [1, 1000] measurements",
        "rules.toml: window_days=-1 days: must be in [0, 366]",
        "rules.toml: season_end=2025-11-15 is before season_start=2026-03-15",
    ]


def test_missing_rules_and_unreadable_rules_are_problems(tmp_path: Path) -> None:
    assert problems_of(tmp_path, rules='timezone = "UTC"\nseason_start = "2025-11-15"\n') == [
        "rules.toml: floor_c: missing (required)",
        "rules.toml: season_end: missing (required)",
    ]
    assert problems_of(tmp_path, rules="floor_c = \n")[0].startswith("rules.toml: not valid TOML")
    assert problems_of(tmp_path, rules=RULES.replace("2026-02-22", "2026-02-22T00:00:00")) == [
        "rules.toml: season_end=datetime.datetime(2026, 2, 22, 0, 0): must be a date (YYYY-MM-DD)"]


def test_a_naive_timestamp_is_a_bad_row(tmp_path: Path) -> None:
    outages = OUTAGES + "S1,2025-12-05T08:00:00,2025-12-07T09:00:00+08:00\n"
    measurements = MEASUREMENTS + "H1,2025-12-03 10:00,16.0,Li\n"
    assert problems_of(tmp_path, outages=outages, measurements=measurements) == [
        "o.csv:3: start='2025-12-05T08:00:00': no UTC offset (write it as 2025-12-05T08:00:00+08:00 or with Z)",
        "m.csv:3: time='2025-12-03 10:00': no UTC offset (write it as 2025-12-03 10:00+08:00 or with Z)",
    ]


def test_a_duplicate_household_id_is_a_bad_row(tmp_path: Path) -> None:
    assert problems_of(tmp_path, households=HOUSEHOLDS + "H1,S2,60,30\n") == [
        "h.csv:4: household_id='H1': given twice (first on line 2)"]


def test_a_measurement_of_an_unknown_household_is_a_bad_row(tmp_path: Path) -> None:
    assert problems_of(tmp_path, measurements=MEASUREMENTS + "H9,2025-12-01T10:00:00+08:00,17.5,Wang\n") == [
        "m.csv:3: household_id='H9': not in the households file"]


def test_an_outage_of_a_station_without_households_is_fine(tmp_path: Path) -> None:
    inputs = load_inputs(*write(tmp_path, outages=OUTAGES + "S9,2025-12-01T00:00:00Z,2025-12-09T00:00:00Z\n"))
    assert [o.station_id for o in inputs.outages] == ["S1", "S9"]


def test_a_bad_household_row_is_reported_once_not_again_for_its_measurements(tmp_path: Path) -> None:
    assert problems_of(tmp_path, households=HOUSEHOLDS.replace("H2,S2,80.5", "H2,S2,-80.5")) == [
        "h.csv:3: area_m2='-80.5': must be a number > 0 and at most 100000"]


def test_bad_values_in_rows(tmp_path: Path) -> None:
    households = HOUSEHOLDS + "H3,S1,abc,25\nH4,S1,50,-1\nH5,,50,25\nH6,S1,NaN,Infinity\nH7,S1,50,25,extra\nH8,S1,100001,25\n"
    outages = OUTAGES + "S1,2025-12-02T09:00:00+08:00,2025-12-02T09:00:00+08:00\nS1,yesterday,2025-12-02T09:00:00Z\n"
    measurements = MEASUREMENTS + "H1,2025-12-01T10:00:00+08:00,warm,Wang\nH1,2025-12-02T10:00:00+08:00,17,\n"
    assert problems_of(tmp_path, households=households, outages=outages, measurements=measurements) == [
        "h.csv:4: area_m2='abc': must be a number > 0 and at most 100000",
        "h.csv:5: tariff_cny_per_m2='-1': must be a number >= 0 and at most 10000",
        "h.csv:6: station_id: empty",
        "h.csv:7: area_m2='NaN': must be a number > 0 and at most 100000",
        "h.csv:7: tariff_cny_per_m2='Infinity': must be a number >= 0 and at most 10000",
        "h.csv:8: 5 fields, the header has 4",
        "h.csv:9: area_m2='100001': must be a number > 0 and at most 100000",
        "o.csv:3: end='2025-12-02T09:00:00+08:00': must be after start='2025-12-02T09:00:00+08:00'",
        "o.csv:4: start='yesterday': not an ISO 8601 time (2025-11-20T08:00:00+08:00)",
        "m.csv:3: temperature_c='warm': must be a number in [-50, 60] degC",
        "m.csv:4: inspector: empty",
    ]


def test_the_same_household_measured_twice_at_the_same_instant_is_a_bad_row(tmp_path: Path) -> None:
    # the same instant written in another offset is still the same measurement
    measurements = MEASUREMENTS + "H2,2025-12-01T02:00:00Z,17.0,Li\n"
    assert problems_of(tmp_path, measurements=measurements) == [
        "m.csv:3: household 'H2' measured twice at 2025-12-01T02:00:00Z (first on line 2)"]


def test_missing_columns_and_unreadable_files(tmp_path: Path) -> None:
    paths = write(tmp_path, households="household_id,station,area_m2,tariff_cny_per_m2\nH1,S1,100,25\n", outages="")
    paths[3] = str(tmp_path / "nowhere.csv")
    with pytest.raises(RefundInputError) as info:
        load_inputs(*paths)
    assert [p.replace(str(tmp_path) + "/", "") for p in info.value.problems] == [
        "h.csv:1: missing column(s) station_id; expected household_id,station_id,area_m2,tariff_cny_per_m2",
        "o.csv:1: empty file; expected the header station_id,start,end",
        "nowhere.csv: cannot read (No such file or directory)",
    ]


def test_line_numbers_are_physical_lines_blank_lines_and_quoted_newlines_counted(tmp_path: Path) -> None:
    # a byte-order mark (Excel), a blank line, a quoted inspector name across two lines
    measurements = ("\ufeffhousehold_id,time,temperature_c,inspector\n\n"
                    'H1,2025-12-01T10:00:00+08:00,17,"Wang\nand Li"\n'
                    "H1,2025-12-02T10:00:00+08:00,cold,Li\n")
    assert problems_of(tmp_path, measurements=measurements) == [
        "m.csv:5: temperature_c='cold': must be a number in [-50, 60] degC"]


def test_every_problem_of_every_file_is_listed_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        rules=RULES.replace("18.0", "40"),
        households=HOUSEHOLDS + "H1,S1,1,1\n",
        outages=OUTAGES + "S1,2025-12-01,2025-12-02\n",
        measurements=MEASUREMENTS + "H8,2025-12-01T10:00:00+08:00,17,Li\n",
    )
    assert [p.split(":")[0] for p in problems] == ["rules.toml", "h.csv", "o.csv", "o.csv", "m.csv"]


def test_a_households_row_without_id_still_leaves_unknown_households_reported(tmp_path: Path) -> None:
    assert problems_of(tmp_path, households=HOUSEHOLDS + ",S1,10,10\n",
                       measurements=MEASUREMENTS + "H9,2025-12-01T10:00:00+08:00,17.5,Wang\n") == [
        "h.csv:4: household_id: empty",
        "m.csv:3: household_id='H9': not in the households file",
    ]


def test_an_unusable_households_file_is_one_problem_not_one_per_measurement(tmp_path: Path) -> None:
    assert problems_of(tmp_path, households="id,station_id,area_m2,tariff_cny_per_m2\nH1,S1,100,25\n") == [
        "h.csv:1: missing column(s) household_id; expected household_id,station_id,area_m2,tariff_cny_per_m2"]
