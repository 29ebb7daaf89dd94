"""`heatkeeper refunds` end to end: the real command in a subprocess on files written here.

Season 2025-11-15 to 2026-02-22 (100 days, Asia/Shanghai). Worked by hand:
    H1  S1  100 m2 x 25    = 2500.00  S1 stopped 30 h over three days (two overlapping outages): 3 x 25.00 = 75.00
    H2  S1  80.5 x 24.3    = 1956.15  the same three days: 1956.15 x 3 / 100 = 58.6845            -> 58.68
    H3  S2  60 x 30        = 1800.00  failed on Dec 1, 2, 5 (Dec 3 is at the floor: not failed): a month;
                                      Jan 20, Jan 21, Feb 19 (exactly 30 days after Jan 20): a second;
                                      60 days: 1800 x 60 / 100                                     = 1080.00
    H10 S3  100.02 x 25    = 2500.50  five days: 125.025, half up                                 -> 125.03
    S9 has an outage and no household. Total = 75.00 + 58.68 + 1080.00 + 125.03 = 1338.71.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RULES = """\
floor_c = 18.0
season_start = 2025-11-15
season_end = 2026-02-22
timezone = "Asia/Shanghai"
outage_refund_after_h = 24
failed_measurements = 3
window_days = 30
month_days = 30
"""
HOUSEHOLDS = """\
household_id,station_id,area_m2,tariff_cny_per_m2
H3,S2,60,30
H10,S3,100.02,25
H1,S1,100,25
H2,S1,80.5,24.3
"""
OUTAGES = """\
station_id,start,end
S1,2025-12-02T06:00:00+08:00,2025-12-03T02:00:00+08:00
S9,2025-12-01T00:00:00+08:00,2025-12-10T00:00:00+08:00
S3,2026-01-10T00:00:00Z,2026-01-14T12:00:00Z
S1,2025-12-01T20:00:00+08:00,2025-12-02T08:00:00+08:00
"""
MEASUREMENTS = """\
household_id,time,temperature_c,inspector
H3,2025-12-05T10:00:00+08:00,17.0,Wang
H3,2025-12-01T10:00:00+08:00,16.5,Wang
H3,2025-12-03T10:00:00+08:00,18.0,Li
H3,2025-12-02T10:00:00+08:00,17.9,Li
H3,2026-01-20T10:00:00+08:00,15.0,Wang
H3,2026-01-21T10:00:00+08:00,15.5,Wang
H3,2026-02-19T10:00:00+08:00,16.0,Li
H1,2025-12-01T10:00:00+08:00,21.0,Li
"""


def write(tmp_path: Path, **texts: str) -> list[str]:
    files = {"rules": ("RULES.toml", RULES), "households": ("H.csv", HOUSEHOLDS), "outages": ("O.csv", OUTAGES),
             "measurements": ("M.csv", MEASUREMENTS)}
    args = []
    for flag, (name, text) in files.items():
        (tmp_path / name).write_text(texts.get(flag, text), encoding="utf-8")
        args += ["--" + flag, name]
    return args


def heatkeeper(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)


def test_json_of_refunds_worked_by_hand(tmp_path: Path) -> None:
    proc = heatkeeper(tmp_path, "refunds", *write(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "households": [
            {"household_id": "H1", "refund_cny": 75, "outage_days": 3, "measurement_months": 0},
            {"household_id": "H10", "refund_cny": 125.03, "outage_days": 5, "measurement_months": 0},
            {"household_id": "H2", "refund_cny": 58.68, "outage_days": 3, "measurement_months": 0},
            {"household_id": "H3", "refund_cny": 1080, "outage_days": 0, "measurement_months": 2},
        ],
        "total_cny": 1338.71,
    }
    # amounts printed as the rounded figures, not as binary fractions
    assert '"refund_cny": 58.68,' in proc.stdout and '"total_cny": 1338.71' in proc.stdout
    assert proc.stderr == ""


def test_the_table_shows_the_same_figures(tmp_path: Path) -> None:
    proc = heatkeeper(tmp_path, "refunds", *write(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:5]]
            for line in proc.stdout.splitlines() if line.startswith("│")}
    assert rows == {"H1": ["3", "0", "75.00"], "H10": ["5", "0", "125.03"], "H2": ["3", "0", "58.68"],
                    "H3": ["0", "2", "1080.00"], "total": ["", "", "1338.71"]}


def test_bad_rules_and_rows_exit_2_listing_every_one_and_print_nothing_else(tmp_path: Path) -> None:
    args = write(
        tmp_path,
        rules=RULES.replace('"Asia/Shanghai"', '"Asia/Beijing"').replace("month_days = 30", "month_days = -30"),
        households=HOUSEHOLDS + "H1,S4,70,25\nH5,S1,70\n",
        outages=OUTAGES + "S1,2025-12-20T08:00:00,2025-12-22T08:00:00+08:00\nS2,2025-12-20T08:00:00Z,2025-12-19T08:00:00Z\n",
        measurements=MEASUREMENTS + "H7,2025-12-01T10:00:00+08:00,16,Li\n",
    )
    proc = heatkeeper(tmp_path, "refunds", *args, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "heatkeeper refunds: 7 problem(s), nothing computed:",
        "  RULES.toml: timezone='Asia/Beijing': must be an IANA time zone name such as 'Asia/Shanghai'",
        "  RULES.toml: month_days=-30 days: must be in [0, 366]",
        "  H.csv:6: household_id='H1': given twice (first on line 4)",
        "  H.csv:7: tariff_cny_per_m2: empty",
        "  O.csv:6: start='2025-12-20T08:00:00': no UTC offset (write it as 2025-12-20T08:00:00+08:00 or with Z)",
        "  O.csv:7: end='2025-12-19T08:00:00Z': must be after start='2025-12-20T08:00:00Z'",
        "  M.csv:10: household_id='H7': not in the households file",
    ]


def test_heatkeeper_help_lists_the_command(tmp_path: Path) -> None:
    proc = heatkeeper(tmp_path, "--help")
    assert proc.returncode == 0 and "refunds" in proc.stdout
    proc = heatkeeper(tmp_path, "refunds", "--help")
    assert proc.returncode == 0
    for flag in ("--rules", "--households", "--outages", "--measurements", "--json"):
        assert flag in proc.stdout
