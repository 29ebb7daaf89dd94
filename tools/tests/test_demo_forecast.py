"""The demo's forecasts: each city's plant weather ahead with a forecast's error, in a file the
supervisor's strict parser accepts, read by the demo's supervisor configuration."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.forecast import parse_open_meteo
from heatkeeper.tools import demo, demo_forecast, demo_notify
from heatkeeper.tools.plant import synthetic_year


def test_forecast_follows_the_plant_weather_with_realistic_error() -> None:
    start = 1_796_000_000.0
    for scale in (1.0, 5.0):
        answer = demo_forecast.forecast_answer("arxan", start, scale)
        parsed = parse_open_meteo(json.dumps(answer).encode(), start + 60.0)
        assert parsed.start_ts == start and len(parsed.temp_c) == demo_forecast.HOURS
        truth = synthetic_year("arxan").rotated(334 * 24)
        actual = [demo_forecast._at(truth.temp_c, j * scale) for j in range(demo_forecast.HOURS)]
        errors = [f - a for f, a in zip(parsed.temp_c, actual, strict=True)]
        assert abs(statistics.mean(errors)) < 2.5  # biased, not off the scale
        assert 0.2 < statistics.pstdev(errors) < 4.0  # an error, not a copy of the truth
        assert parsed.radiation_w_m2 is not None and min(parsed.radiation_w_m2) >= 0.0
    assert demo_forecast.forecast_answer("arxan", start) == demo_forecast.forecast_answer("arxan", start)  # seeded


def test_demo_supervisor_config_reads_the_forecast_files(tmp_path: Path) -> None:
    sup_dir = tmp_path / "supervisor"
    paths = demo_forecast.write_forecasts(sup_dir / "forecasts", [st["city"] for st in demo.STATIONS], time.time(), 5.0)
    path = sup_dir / "supervisor.toml"
    path.write_text(demo._supervisor_toml(sup_dir, 1883, 8080) + demo_notify.notify_toml(sup_dir / "data", 8080, "")
                    + demo_forecast.forecast_toml(paths), encoding="utf-8")
    cfg = sup_config.load(str(path))
    assert sorted(cfg["forecast"]["cities"]) == ["arxan", "ordos", "yutai"]
    for city, source in cfg["forecast"]["cities"].items():
        assert parse_open_meteo(Path(source).read_bytes(), time.time()).temp_c, city
