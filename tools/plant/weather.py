"""Weather for the plant: an EPW reader and deterministic synthetic typical years.

Hour 0 of a `Weather` is plant time 0. A year is 8760 hourly values from 1 January 00:00
(local standard time); `Weather.season(city)` rotates it so hour 0 is the first day of the
city's heating season.

The synthetic generator follows plant_physics.md §2.3 (validated against the CSWD Arxan EPW):
    T(d,h) = S(d) + a(d) + r(d)·p(h) + e(d,h)
with S three annual harmonics, a an AR(2) daily anomaly, r the daily range times the mean
diurnal profile p, and e an AR(1) hourly residual. Only the fitted parameters ship, never data;
the other sites use the Arxan seasonal shape scaled to their annual/January means (EPW
statistics of the proxy station, §2.2) and shifted by the proxy-to-site offset of §2.2.
Global horizontal irradiance is a clear-sky model times a random daily clearness, scaled to the
site's mean heating-season GHI.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

HOURS_PER_YEAR = 8760
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

# Arxan fit (§2.3): harmonics c0, a1, b1, a2, b2, a3, b3 of the daily mean over the year.
_ARXAN_HARMONICS = (-2.155, -19.88, -4.101, -1.91, -0.357, 0.129, -0.402)
_ARXAN_SIGMA_MONTH = (3.9, 4.6, 5.8, 4.5, 5.4, 3.0, 2.4, 2.8, 4.2, 4.5, 5.1, 5.7)
_ARXAN_RANGE_MONTH = (11.5, 13.4, 13.4, 12.4, 15.1, 13.8, 11.5, 12.4, 13.5, 12.9, 11.9, 11.2)
# mean diurnal profile, hours 1..24 local standard time (max - min = 1)
_PROFILE = (-0.113, -0.125, -0.146, -0.185, -0.234, -0.274, -0.290, -0.262, -0.145, -0.013, 0.101, 0.197,
            0.272, 0.327, 0.358, 0.352, 0.286, 0.191, 0.094, 0.015, -0.043, -0.090, -0.124, -0.150)

# Per city: annual and January mean of the proxy EPW plus the offset to the site (§2.2 tables),
# AR(2) daily anomaly (phi1, phi2, innovation sigma; Arxan uses its monthly sigma), mean diurnal
# range, hourly residual sigma, latitude, mean heating-season GHI, heating season (MM-DD, days),
# and the reference statistics the generator is checked against (GB 50736 days <= 5 degC and
# design temperature for the GB sites; the CSWD EPW for Arxan).
CITIES: dict[str, dict[str, Any]] = {
    "arxan": {"annual_c": -2.16, "jan_c": -24.2, "offset_k": 0.0, "phi": (0.623, -0.122, None),
              "range_k": None, "resid_k": 3.0, "lat": 47.17, "ghi_heating": 130.0,
              "season": ("09-30", 209), "ref_days_le5": 218, "ref_design_c": -33.0, "ref_hdd18": 7388.0},
    "ordos": {"annual_c": 7.21, "jan_c": -8.0, "offset_k": -0.5, "phi": (0.944, -0.258, 2.77),
              "range_k": 9.4, "resid_k": 1.55, "lat": 39.83, "ghi_heating": 137.0,
              "season": ("10-15", 183), "ref_days_le5": 168, "ref_design_c": -16.8, "ref_hdd18": 4186.0},
    "zhangjiakou": {"annual_c": 9.98, "jan_c": -7.2, "offset_k": -1.2, "phi": (0.734, -0.130, 2.16),
                    "range_k": 11.2, "resid_k": 1.67, "lat": 40.78, "ghi_heating": 118.0,
                    "season": ("11-01", 151), "ref_days_le5": 146, "ref_design_c": -13.6, "ref_hdd18": None},
    "baiyin": {"annual_c": 10.25, "jan_c": -5.5, "offset_k": -1.25, "phi": (0.999, -0.308, 1.79),
               "range_k": 11.0, "resid_k": 1.35, "lat": 36.55, "ghi_heating": 103.0,
               "season": ("11-01", 151), "ref_days_le5": 138, "ref_design_c": -10.7, "ref_hdd18": None},
    "yutai": {"annual_c": 13.66, "jan_c": -0.7, "offset_k": 0.0, "phi": (0.740, -0.275, 1.80),
              "range_k": 11.5, "resid_k": 1.49, "lat": 35.0, "ghi_heating": 88.0,
              "season": ("11-15", 121), "ref_days_le5": 104, "ref_design_c": -5.5, "ref_hdd18": 2471.0},
    "jincheng": {"annual_c": 13.10, "jan_c": -2.5, "offset_k": -1.3, "phi": (0.749, -0.119, 1.59),
                 "range_k": 11.2, "resid_k": 1.29, "lat": 35.5, "ghi_heating": 96.0,
                 "season": ("11-15", 121), "ref_days_le5": 120, "ref_design_c": -6.6, "ref_hdd18": None},
}


class Weather:
    """Hourly outdoor temperature (degC) and global horizontal irradiance (W/m2)."""

    def __init__(self, temp_c: list[float], ghi_wm2: list[float], name: str = "weather", start_hour: int = 0) -> None:
        if len(temp_c) == 0 or len(temp_c) != len(ghi_wm2):
            raise ValueError("weather %r: temp_c and ghi_wm2 must be non-empty and of equal length (%d, %d)"
                             % (name, len(temp_c), len(ghi_wm2)))
        self.temp_c = [float(t) for t in temp_c]
        self.ghi_wm2 = [float(g) for g in ghi_wm2]
        self.name = name
        self.start_hour = start_hour  # hour of the calendar year at plant time 0 (informational)

    def __len__(self) -> int:
        return len(self.temp_c)

    def rotated(self, start_hour: int, name: str | None = None) -> Weather:
        """The same year, beginning at `start_hour` of the year (wrapping round)."""
        n = len(self.temp_c)
        k = start_hour % n
        return Weather(self.temp_c[k:] + self.temp_c[:k], self.ghi_wm2[k:] + self.ghi_wm2[:k],
                       name or self.name, (self.start_hour + k) % n)

    def season(self, city: str) -> tuple[Weather, int]:
        """(weather starting on the first day of `city`'s heating season, season length in days)."""
        info = city_info(city)
        mmdd, days = info["season"]
        return self.rotated(day_of_year(mmdd) * 24), int(days)


def city_info(city: str) -> dict[str, Any]:
    """The parameters of one city; an unknown name raises ValueError listing the choices."""
    key = city.strip().lower()
    if key not in CITIES:
        raise ValueError("unknown city %r: choose one of %s" % (city, ", ".join(sorted(CITIES))))
    return CITIES[key]


def day_of_year(mmdd: str) -> int:
    """0-based day of a non-leap year for 'MM-DD'."""
    month, day = (int(x) for x in mmdd.split("-"))
    return sum(_MONTH_DAYS[: month - 1]) + day - 1


def _harmonics(city: dict[str, Any]) -> tuple[float, ...]:
    c0, *rest = _ARXAN_HARMONICS
    scale = (city["annual_c"] - city["jan_c"]) / (CITIES["arxan"]["annual_c"] - CITIES["arxan"]["jan_c"])
    base = city["annual_c"] + city["offset_k"] + (c0 - CITIES["arxan"]["annual_c"]) * scale
    return (base, *(a * scale for a in rest))


def synthetic_year(city: str, seed: int = 0, cold_waves: float = 0.0) -> Weather:
    """A deterministic synthetic hourly year for `city` (same seed, same year)."""
    info = city_info(city)
    key = city.strip().lower()
    rng = np.random.default_rng([seed, sorted(CITIES).index(key)])
    days = np.arange(365)
    month = np.repeat(np.arange(12), _MONTH_DAYS)
    h = _harmonics(info)
    w = 2.0 * np.pi * days / 365.0
    seasonal = h[0] + sum(h[2 * k - 1] * np.cos(k * w) + h[2 * k] * np.sin(k * w) for k in (1, 2, 3))
    phi1, phi2, sigma = info["phi"]
    sig = np.array(_ARXAN_SIGMA_MONTH)[month] if sigma is None else np.full(365, sigma)
    z = rng.standard_normal(365 + 60)
    anomaly = np.zeros(365 + 60)
    sig_ext = np.concatenate([np.full(60, sig.mean()), sig])
    for d in range(2, 365 + 60):
        anomaly[d] = phi1 * anomaly[d - 1] + phi2 * anomaly[d - 2] + sig_ext[d] * z[d]
    anomaly = anomaly[60:]
    if cold_waves > 0.0:
        winter = np.where((month <= 2) | (month >= 10))[0]
        for _ in range(rng.poisson(cold_waves)):
            onset = int(rng.choice(winter))
            depth = rng.uniform(8.0, 14.0)
            tau = rng.uniform(2.0, 4.0)
            after = np.arange(365 - onset)
            anomaly[onset:] -= depth * np.exp(-after / tau)
    range_mean = np.array(_ARXAN_RANGE_MONTH)[month] if info["range_k"] is None else np.full(365, info["range_k"])
    daily_range = np.clip(range_mean + 4.4 * rng.standard_normal(365) * (range_mean / 13.0), 2.0, 30.0)
    profile = np.array(_PROFILE)
    if info["range_k"] is not None:
        # the other sites' ranges are measured max - min of the day: normalise the profile to 1
        profile = profile / (profile.max() - profile.min())
    daily_mean = seasonal + anomaly
    temp = (_continuous_level(daily_mean) + daily_range[:, None] * profile[None, :]).ravel()
    # hourly AR(1) residual, phi_h = 0.91
    phi_h = 0.91
    s_h = info["resid_k"]
    e = np.zeros(HOURS_PER_YEAR)
    zh = rng.standard_normal(HOURS_PER_YEAR) * s_h * math.sqrt(1.0 - phi_h * phi_h)
    for t in range(1, HOURS_PER_YEAR):
        e[t] = phi_h * e[t - 1] + zh[t]
    # the heating season runs across 31 December: the residual's last two days are eased onto
    # its first hour, so the year wraps without a step
    ease = np.clip((np.arange(HOURS_PER_YEAR) - (HOURS_PER_YEAR - 48)) / 48.0, 0.0, 1.0)
    e = e + ease * (phi_h * e[0] - e[-1])
    temp = temp + e
    ghi = _synthetic_ghi(info, rng)
    return Weather(temp.round(2).tolist(), ghi.round(1).tolist(), name="synthetic-%s-seed%d" % (key, seed))


def _continuous_level(daily_mean: np.ndarray, ramp_h: float = 6.0) -> np.ndarray:
    """Hourly level (days x 24) continuous across midnight whose daily means are `daily_mean`.

    Read literally, T(d,h) = S(d) + a(d) + ... steps by the whole day-to-day change of the daily
    mean at midnight (up to 20 K in one hour on the Arxan year, every large hourly fall of the
    year at 00 h), which real years do not show. The level instead moves from one day's value to
    the next linearly over `ramp_h` hours centred on midnight (cyclic over the year, which the
    heating season spans), through values c solved so each day's mean is exactly its daily mean:
    a c(d-1) + (1 - 2a) c(d) + a c(d+1) = mean(d), with a the neighbours' share of a day (3 % for
    a 6 h ramp, so c stays within a few tenths of a kelvin of the daily means).
    """
    half = ramp_h / 2.0
    centres = np.arange(24) + 0.5
    prev_w = np.clip(0.5 - centres / ramp_h, 0.0, None) * (centres < half)  # share of the day before
    next_w = np.clip(0.5 - (24.0 - centres) / ramp_h, 0.0, None) * (24.0 - centres < half)
    share = prev_w.sum() / 24.0
    n = len(daily_mean)
    system = (1.0 - 2.0 * share) * np.eye(n) + share * (np.roll(np.eye(n), -1, axis=1) + np.roll(np.eye(n), 1, axis=1))
    c = np.linalg.solve(system, daily_mean)
    level: np.ndarray = (c[:, None] * (1.0 - prev_w - next_w)[None, :] + np.roll(c, 1)[:, None] * prev_w[None, :]
                         + np.roll(c, -1)[:, None] * next_w[None, :])
    return level


def _synthetic_ghi(info: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Clear-sky GHI (simple air-mass model) times a daily clearness, scaled to the site's mean."""
    lat = math.radians(info["lat"])
    hours = np.arange(HOURS_PER_YEAR)
    day = hours // 24
    hour = hours % 24 + 0.5
    decl = np.radians(23.45) * np.sin(2.0 * np.pi * (284 + day + 1) / 365.0)
    ha = np.radians(15.0 * (hour - 12.0))
    sin_el = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(ha)
    sin_el = np.clip(sin_el, 0.0, None)
    clear = 1100.0 * sin_el * np.power(0.7, np.where(sin_el > 0.01, 1.0 / np.maximum(sin_el, 0.01), 0.0) ** 0.678)
    clearness = np.clip(rng.beta(4.0, 2.0, 365), 0.1, 1.0)
    ghi = clear * clearness[day]
    season_mask = np.isin(day, _heating_days(info))
    mean = ghi[season_mask].mean()
    scaled = ghi * (info["ghi_heating"] / mean if mean > 0 else 1.0)
    result: np.ndarray = np.minimum(scaled, 1050.0 * sin_el)  # never above a clear-sky ceiling
    return result


def _heating_days(info: dict[str, Any]) -> np.ndarray:
    mmdd, days = info["season"]
    start = day_of_year(mmdd)
    return (start + np.arange(days)) % 365


# --- EPW -----------------------------------------------------------------------------------

def read_epw(path: str) -> Weather:
    """Read an EnergyPlus weather file: dry-bulb (field 7) and GHI (field 14), 8760 hours.

    A leap-year file (8784 rows) drops 29 February. Any malformed line raises ValueError naming
    the file and the line number.
    """
    if not os.path.isfile(path):
        raise ValueError("EPW file %r: not found" % path)
    temps: list[float] = []
    ghis: list[float] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    if len(lines) < 9 or not lines[0].startswith("LOCATION"):
        raise ValueError("EPW file %r line 1: expected a LOCATION header, got %r" % (path, lines[0][:60] if lines else ""))
    for number, line in enumerate(lines[8:], start=9):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 14:
            raise ValueError("EPW file %r line %d: %d fields, an EPW data line has at least 14"
                             % (path, number, len(fields)))
        try:
            month = int(fields[1])
            day = int(fields[2])
            temp = float(fields[6])
            ghi = float(fields[13])
        except ValueError:
            raise ValueError("EPW file %r line %d: month/day/dry-bulb/GHI not numeric: %r"
                             % (path, number, line[:80])) from None
        if not (1 <= month <= 12 and 1 <= day <= 31):
            raise ValueError("EPW file %r line %d: month=%r day=%r out of range" % (path, number, month, day))
        if not -70.0 <= temp <= 70.0:
            raise ValueError("EPW file %r line %d: dry-bulb %r degC outside [-70, 70] (missing value?)"
                             % (path, number, temp))
        if month == 2 and day == 29:
            continue
        if not 0.0 <= ghi <= 1500.0:
            raise ValueError("EPW file %r line %d: GHI %r W/m2 outside [0, 1500] (missing value?)" % (path, number, ghi))
        temps.append(temp)
        ghis.append(ghi)
    if len(temps) != HOURS_PER_YEAR:
        raise ValueError("EPW file %r: %d hourly rows, expected 8760 (or 8784 in a leap year)" % (path, len(temps)))
    return Weather(temps, ghis, name=os.path.basename(path))


def statistics(weather: Weather) -> dict[str, float]:
    """Heating-climate statistics of a calendar year (hour 0 = 1 January): §2.2 definitions."""
    temp = np.asarray(weather.temp_c[:HOURS_PER_YEAR])
    daily = temp.reshape(-1, 24).mean(axis=1)
    ranges = temp.reshape(-1, 24).max(axis=1) - temp.reshape(-1, 24).min(axis=1)
    return {
        "annual_c": float(temp.mean()),
        "jan_c": float(daily[:31].mean()),
        "days_le5": float((daily <= 5.0).sum()),
        "hdd18": float(np.clip(18.0 - daily, 0.0, None)[daily <= 18.0].sum()),
        "sixth_lowest_daily_c": float(np.sort(daily)[5]),
        "min_hourly_c": float(temp.min()),
        "mean_daily_range_k": float(ranges.mean()),
    }
