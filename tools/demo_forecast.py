"""The demo's weather forecasts: each city's plant weather ahead, with a forecast's errors.

`heatkeeper demo` runs each plant on its city's synthetic weather year from 1 December
(tools/sim/runner._weather), plant time 0 at the demo's start, `time_scale` plant seconds per
wall second. A forecast is about wall-clock hours, so wall hour j from the start carries the
plant weather at plant hour j * time_scale (interpolated), plus the error a real forecast has:
a warm bias and a random error growing with the lead time (AR(1), hour to hour correlated),
and cloud error on the radiation. Written as an Open-Meteo answer (`timeformat=unixtime`) to a
file per city, which the supervisor's [forecast] reads as a file source
(supervisor/forecast.py); the files are made once at start.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from heatkeeper.tools.plant import synthetic_year

HOURS = 72
BIAS_K = 0.6  # forecasts of cold nights tend to be too warm
SD0_K = 0.5  # error at lead 0 ...
SD_PER_H_K = 0.03  # ... growing by this per hour of lead (about 2.7 K at 72 h)
AR = 0.9  # hour-to-hour correlation of the error
CLOUD_SD = 0.25  # relative error of the radiation


def _at(series: list[float], hour: float) -> float:
    n = len(series)
    i = int(math.floor(hour))
    frac = hour - i
    return series[i % n] + (series[(i + 1) % n] - series[i % n]) * frac


class LeadError:
    """A forecast's temperature error hour by hour of lead: the warm bias plus AR(1) noise whose
    standard deviation grows with the lead (SD0_K + SD_PER_H_K per hour), all times `scale`;
    draws from `rng` (the caller's random.Random, so its other draws keep their order)."""

    def __init__(self, rng: random.Random, scale: float = 1.0) -> None:
        self.rng = rng
        self.scale = scale
        self.err = 0.0

    def next(self, lead_h: int) -> float:
        """The error (K) at lead hour `lead_h` (called for 0, 1, 2, ... in turn)."""
        sd = SD0_K + SD_PER_H_K * lead_h
        self.err = AR * self.err + math.sqrt(1.0 - AR * AR) * sd * self.rng.gauss(0.0, 1.0)
        return self.scale * (BIAS_K + self.err)


def forecast_answer(city: str, start_ts: float, time_scale: float = 1.0, hours: int = HOURS,
                    seed: int = 1) -> dict[str, Any]:
    """An Open-Meteo-shaped hourly forecast of `city`'s demo weather from wall time `start_ts`."""
    weather = synthetic_year(city).rotated(334 * 24)  # as the demo's simulator runs it
    rng = random.Random("%s-%d" % (city, seed))
    error = LeadError(rng)
    times, temps, rads = [], [], []
    for j in range(hours):
        plant_hour = j * time_scale
        times.append(int(start_ts) + 3600 * j)
        temps.append(round(_at(weather.temp_c, plant_hour) + error.next(j), 1))
        rads.append(round(max(0.0, _at(weather.ghi_wm2, plant_hour) * (1.0 + CLOUD_SD * rng.gauss(0.0, 1.0))), 1))
    return {"latitude": 0.0, "longitude": 0.0, "utc_offset_seconds": 0, "timezone": "GMT",
            "hourly_units": {"time": "unixtime", "temperature_2m": "°C", "shortwave_radiation": "W/m²"},
            "hourly": {"time": times, "temperature_2m": temps, "shortwave_radiation": rads}}


def write_forecasts(folder: Path, cities: list[str], start_ts: float, time_scale: float) -> dict[str, str]:
    """{city: path} of the forecast file written for each city."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for city in sorted(set(cities)):
        path = folder / ("%s.json" % city)
        path.write_text(json.dumps(forecast_answer(city, start_ts, time_scale)), encoding="utf-8")
        out[city] = str(path)
    return out


def forecast_toml(paths: dict[str, str]) -> str:
    """The supervisor's [forecast] section reading those files (every 10 min: a file is cheap)."""
    text = "[forecast]\nrefresh_s = 600.0\n\n[forecast.cities]\n"
    return text + "".join("%s = %s\n" % (city, json.dumps(path)) for city, path in sorted(paths.items())) + "\n"
