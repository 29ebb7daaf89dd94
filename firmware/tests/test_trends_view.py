"""`heatkeeper trends`: the station's local trend ring read back, while the station writes it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import pytest
from heatkeeper.firmware.trends import TrendStore
from heatkeeper.firmware.trends_view import TrendReadError, bucket, parse_duration_s

T0 = 1_700_002_800.0  # a whole half hour (944,446 x 1800 s)


def _fill(data_dir: str, n: int = 120, step_s: float = 60.0) -> TrendStore:
    store = TrendStore(os.path.join(data_dir, "trends.sqlite"), max_rows=1000)
    for i in range(n):
        store.add(T0 + i * step_s, {"outdoor_temp_c": -10.0 + i * 0.1, "valve_cmd_pct": float(i % 10),
                                    "secondary_supply_temp_c": None if i == 5 else 60.0, "mode": 3})
    return store


def _trends(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "trends", *args],
                          capture_output=True, text=True, timeout=120)


def test_csv_window_buckets_and_averages(tmp_path) -> None:
    store = _fill(str(tmp_path))  # still open: the station keeps writing while the engineer reads
    try:
        until = T0 + 119 * 60.0
        res = _trends("--data-dir", str(tmp_path), "--since", "2h", "--until", str(until), "--every", "30m",
                      "--fields", "outdoor_temp_c,valve_cmd_pct,secondary_supply_temp_c", "--csv", "-")
    finally:
        store.close()
    assert res.returncode == 0, res.stderr
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["time", "ts", "outdoor_temp_c", "valve_cmd_pct", "secondary_supply_temp_c"]
    body = rows[1:]
    assert len(body) == 4  # 120 one-minute samples in 30-minute buckets
    # first bucket: samples 0..29 -> outdoor mean -10 + 1.45, valve mean 4.5, supply 60 (the None skipped)
    assert float(body[0][2]) == pytest.approx(-8.55, abs=1e-3)
    assert float(body[0][3]) == pytest.approx(4.5, abs=1e-3)
    assert float(body[0][4]) == pytest.approx(60.0, abs=1e-3)
    assert [float(r[1]) for r in body] == [T0, T0 + 1800, T0 + 3600, T0 + 5400]


def test_table_plot_and_list_fields(tmp_path) -> None:
    _fill(str(tmp_path)).close()
    until = str(T0 + 119 * 60.0)
    table = _trends("--data-dir", str(tmp_path), "--since", "1h", "--until", until)
    assert table.returncode == 0, table.stderr
    assert "outdoor_temp_c" in table.stdout and "60.0" in table.stdout
    # into a pipe, as here, every field's name stays whole (not cut to "...")
    assert "\u2026" not in table.stdout
    for name in ("mode", "outdoor_temp_c", "secondary_supply_temp_c", "valve_cmd_pct"):
        assert name in table.stdout, name
    listed = _trends("--data-dir", str(tmp_path), "--since", "3h", "--until", until, "--list-fields")
    assert listed.stdout.split() == ["mode", "outdoor_temp_c", "secondary_supply_temp_c", "valve_cmd_pct"]
    png = tmp_path / "t.png"
    drawn = _trends("--data-dir", str(tmp_path), "--since", "3h", "--until", until, "--plot", str(png))
    assert drawn.returncode == 0, drawn.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_named(tmp_path) -> None:
    missing = _trends("--data-dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no trend history" in missing.stderr
    (tmp_path / "trends.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    garbage = _trends("--data-dir", str(tmp_path))
    assert garbage.returncode == 2 and "not a heatkeeper trend store" in garbage.stderr
    os.remove(tmp_path / "trends.sqlite")
    _fill(str(tmp_path)).close()
    until = str(T0 + 119 * 60.0)
    unknown = _trends("--data-dir", str(tmp_path), "--until", until, "--fields", "outdoor_temp_c,flux_capacitor")
    assert unknown.returncode == 2 and "flux_capacitor" in unknown.stderr and "valve_cmd_pct" in unknown.stderr
    empty = _trends("--data-dir", str(tmp_path), "--since", "1h", "--until", str(T0 - 7200))
    assert empty.returncode == 1 and "no samples" in empty.stderr
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[station]\nid = 3\ncycle_s = -1\n")
    res = _trends("--config", str(bad_config))
    assert res.returncode == 2 and "problem(s)" in res.stderr


def test_durations_and_buckets() -> None:
    assert parse_duration_s("90s") == 90.0 and parse_duration_s("6h") == 21600.0 and parse_duration_s("2d") == 172800.0
    assert parse_duration_s("120") == 120.0
    for bad in ("", "h", "-1h", "soon", "nanh"):
        with pytest.raises(TrendReadError):
            parse_duration_s(bad)
    rows = bucket([(0.0, {"a": 1}), (5.0, {"a": 3, "b": True}), (10.0, {"a": float("nan")})], ["a", "b"], 10.0)
    assert rows == [(0.0, [2.0, None]), (10.0, [None, None])]
