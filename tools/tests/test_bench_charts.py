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
    done = run("--days", "0", "400", "--timeout-s", "-1")
    assert done.returncode == 2
    assert "--days 0.0" in done.stdout and "--days 400.0" in done.stdout and "--timeout-s -1.0" in done.stdout


@pytest.mark.browser
def test_a_short_run_measures_every_renderer() -> None:
    done = run("--days", "0.05", "--json", "--timeout-s", "60")
    assert done.returncode == 0, done.stderr
    case = json.loads(done.stdout)["cases"][0]
    assert case["points"] == 4320
    for renderer in ("svg", "echarts", "uplot"):
        assert case[renderer]["ok"], case[renderer]
        assert case[renderer]["first_frame_ms"] > 0 and case[renderer]["zoom_day_ms"] > 0
