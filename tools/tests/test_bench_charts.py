"""`heatkeeper bench charts`: bad arguments are listed, every one, and nothing is measured; a short
real run in headless Chromium prints a figure for each renderer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "bench", "charts", *args],
                          capture_output=True, text=True, timeout=300)


def test_bad_arguments_are_all_listed() -> None:
    done = run("--days", "0", "400", "--timeout-s", "-1", "--points", "1", "--repeat", "0")
    assert done.returncode == 2
    for problem in ("--days 0.0", "--days 400.0", "--timeout-s -1.0", "--points 1", "--repeat 0"):
        assert problem in done.stdout, problem


@pytest.mark.browser
def test_a_short_run_measures_every_renderer() -> None:
    done = run("--days", "0.05", "--points", "500", "--json", "--timeout-s", "60")
    assert done.returncode == 0, done.stderr
    assert [c["points"] for c in json.loads(done.stdout)["cases"]] == [500, 4320]
    case = json.loads(done.stdout)["cases"][1]
    for renderer in ("svg", "echarts", "uplot"):
        assert case[renderer]["ok"], case[renderer]
        assert case[renderer]["first_frame_ms"] > 0 and case[renderer]["zoom_day_ms"] > 0
