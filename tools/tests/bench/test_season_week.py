"""The season benchmark with a week programme (`--settings FILE.json`): the controller runs on
the plant's calendar (tools/bench/calendar_loop), bit for bit the array loop otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.tools.cli import main as cli_main


def heat_kwh_per_m2(capsys: pytest.CaptureFixture[str], tmp_path: Any, settings: dict[str, Any] | None) -> float:
    argv = ["bench", "season", "--city", "arxan", "--days", "1", "--json", "--interpreted-days", "0",
            "--controllers", "heatkeeper"]
    if settings is not None:
        path = tmp_path / "settings.json"
        path.write_text(json.dumps(settings))
        argv += ["--settings", str(path)]
    code = cli_main(argv)
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out.get("errors")
    return float([c for c in out["controllers"] if c["name"] == "heatkeeper"][0]["heat_kwh_per_m2"])


def test_a_holiday_in_the_settings_file_runs_on_the_simulated_date(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    frost = {"holiday_programme": "frost", "holiday_offset_k": -30.0}
    plain = heat_kwh_per_m2(capsys, tmp_path, None)
    # Arxan's season starts on 30 September (2026 on the benchmark's calendar).
    later = heat_kwh_per_m2(capsys, tmp_path, {"schedule": dict(frost, holidays=["2027-05-01"])})
    holiday = heat_kwh_per_m2(capsys, tmp_path, {"schedule": dict(frost, holidays=[["2026-09-29", "2026-10-01"]])})
    print("heat kWh/m2: no programme %.4f, a holiday outside the run %.4f, the first day a frost holiday %.4f"
          % (plain, later, holiday))
    assert later == plain  # the calendar loop is the array loop's cycle, bit for bit
    assert holiday < 0.9 * plain
