"""The fleet lower bound: the station bound of every station on a primary network, summed.

    fb = fleet_bound([plant_a, plant_b, ...], days, floors_c=[18.0, 12.0, ...], capacity_kw=50000.0)

Computed the same way as today's station bound (tools/plant/bounds.py season_bounds, method a
of plant_physics.md §4.3): per station, each step picks the lowest secondary supply temperature
at which every building group's next air temperature stays at or above the station's floor
(one supply temperature for all groups at full circulation flow, emitters inverted in closed
form, no room-level valves), and counts the emitters' heat at that temperature. A station's
floor is 18 degC for the residential ones; a class the allocation may cut (public, commercial,
industrial) can be given a lower floor (frost protection for unoccupied buildings), so the bound
of a fleet under allocation is the least heat that keeps every station at ITS floor.

The stations' buildings do not interact, so the fleet's least heat is the sum of the stations'
least heats (greedy per station and per step, as the station bound). A source capacity does not
change the sum; each step of the least-heat path whose summed heat exceeds the capacity is counted
in `short_steps` and its excess in `short_kwh`: the shortage the source meets on that path. On the
first step (nothing stored in the buildings before it) no schedule at all holds every floor then;
later on, heat stored earlier can cover part of a short step, so the count is what an allocation
has to deal with, not a proof of infeasibility. tools/tests/plant/test_primary.py checks the sum
and the first-step shortage against a direct search over a grid of supply temperatures (2
stations, 2 steps).

StationBound(plant, floor_c, dt_s) exposes the one-step model (`need_c`, `advance`), so the
search and the greedy loop share the physics and differ only in how they choose.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .bounds import _emitter_heat, _supply_needed
from .plant import Plant, building_matrices


class StationBound:
    """One station's buildings as season_bounds discretises them, from the plant's initial state."""

    def __init__(self, plant: Plant, floor_c: float = 18.0, dt_s: float = 300.0) -> None:
        p = plant.params
        self.floor_c = float(floor_c)
        self.dt_s = float(dt_s)
        self.n_groups = plant.n_groups
        self.area = np.asarray(plant.g_area, dtype=float)
        self.k_rad = np.asarray(plant.g_k_rad, dtype=float)
        self.expo = np.asarray(plant.g_exp, dtype=float)
        self.rs = np.asarray(plant.g_radiant, dtype=float)
        self.solar_f = np.asarray(plant.g_solar, dtype=float)
        share = np.asarray(plant.g_flow_share, dtype=float)
        self.c = p["secondary_design_flow_m3h"] * share * p["water_rho_cp_kj_m3k"] / 3600.0
        mats = []
        for j in range(self.n_groups):
            h = plant.group_h[j]
            h_ao = p["h_ao_share"] * h
            mats.append(building_matrices(p["c_air_kj_m2k"] * 1000.0, p["c_mass_kj_m2k"] * 1000.0, p["h_am_w_m2k"],
                                          h_ao, h - h_ao, dt_s))
        self.a11 = np.array([m[0][0, 0] for m in mats])
        self.a12 = np.array([m[0][0, 1] for m in mats])
        self.a21 = np.array([m[0][1, 0] for m in mats])
        self.a22 = np.array([m[0][1, 1] for m in mats])
        self.b = np.array([m[1] for m in mats])
        self.coef = (1.0 - self.rs) * self.b[:, 0, 1] + self.rs * self.b[:, 0, 2]
        self.temp = np.asarray(plant.weather_temp, dtype=float)
        self.ghi = np.asarray(plant.weather_ghi, dtype=float)
        self.gain = p["internal_gain_w_m2"]
        self.aperture = p["solar_aperture_m2_m2"]
        self.t0 = plant.time_s
        self.ta0 = np.asarray(plant.g_ta, dtype=float).copy()
        self.tm0 = np.asarray(plant.g_tm, dtype=float).copy()

    def drive(self, k: int) -> tuple[float, np.ndarray, np.ndarray]:
        """(outdoor degC, gains to air, gains to mass in W/m2) of step k."""
        n_hours = len(self.temp)
        hour = (self.t0 + k * self.dt_s) / 3600.0
        i = int(hour)
        frac = hour - i
        to = self.temp[i % n_hours] + (self.temp[(i + 1) % n_hours] - self.temp[i % n_hours]) * frac
        g = self.ghi[i % n_hours] + (self.ghi[(i + 1) % n_hours] - self.ghi[i % n_hours]) * frac
        solar = self.aperture * g * self.solar_f
        return float(to), 0.5 * self.gain + 0.3 * solar, 0.5 * self.gain + 0.7 * solar

    def need_c(self, k: int, ta: np.ndarray, tm: np.ndarray) -> float:
        """The lowest supply temperature that keeps every group at the floor after step k (-inf: none needed)."""
        to, ga, gm = self.drive(k)
        b = self.b
        base = self.a11 * ta + self.a12 * tm + b[:, 0, 0] * to + b[:, 0, 1] * ga + b[:, 0, 2] * gm
        need_kw = np.maximum((self.floor_c - base) / self.coef, 0.0) * self.area / 1000.0
        return float(_supply_needed(need_kw, self.k_rad, self.expo, self.c, ta).max())

    def advance(self, k: int, ta: np.ndarray, tm: np.ndarray, ts: float) -> tuple[float, np.ndarray, np.ndarray]:
        """(heat kW, next air, next mass) of step k at supply `ts` (-inf or NaN: no heat)."""
        to, ga, gm = self.drive(k)
        b = self.b
        q_kw = _emitter_heat(self.k_rad, self.expo, self.c, ts, ta) if np.isfinite(ts) else np.zeros(self.n_groups)
        u = q_kw * 1000.0 / self.area
        qa, qm = ga + (1.0 - self.rs) * u, gm + self.rs * u
        ta_new = self.a11 * ta + self.a12 * tm + b[:, 0, 0] * to + b[:, 0, 1] * qa + b[:, 0, 2] * qm
        tm_new = self.a21 * ta + self.a22 * tm + b[:, 1, 0] * to + b[:, 1, 1] * qa + b[:, 1, 2] * qm
        return float(q_kw.sum()), ta_new, tm_new

    def trace(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The station bound over `steps`: (least heat per step in kW, supply temperature per step, NaN none)."""
        heat = np.zeros(steps)
        supply = np.full(steps, np.nan)
        ta, tm = self.ta0.copy(), self.tm0.copy()
        for k in range(steps):
            ts = self.need_c(k, ta, tm)
            if np.isfinite(ts):
                supply[k] = ts
            heat[k], ta, tm = self.advance(k, ta, tm, ts)
        return heat, supply


def fleet_bound(plants: list[Plant], days: float, floors_c: list[float] | None = None,
                capacity_kw: float = float("inf"), dt_s: float = 600.0,
                classes: list[str] | None = None) -> dict[str, Any]:
    """The fleet's least heat for `days` (see the module docstring); `plants` are only read.

    A plant object given for several stations is computed once (stations with the same
    buildings, weather and start); so is the same (plant, floor) pair.
    Returns {"kwh", "station_kwh" (per station), "kwh_by_class" (with `classes`), "heat_kw"
    (the fleet's least heat per step), "peak_day_kw" (its highest daily mean), "short_steps",
    "short_kwh", "dt_s", "area_m2"}.
    """
    floors = list(floors_c) if floors_c is not None else [18.0] * len(plants)
    if len(floors) != len(plants):
        raise ValueError("floors_c: %d floors for %d stations" % (len(floors), len(plants)))
    steps = int(round(days * 86400.0 / dt_s))
    cache: dict[tuple[int, float], np.ndarray] = {}
    per_station = []
    fleet = np.zeros(steps)
    for plant, floor in zip(plants, floors, strict=True):
        key = (id(plant), float(floor))
        if key not in cache:
            cache[key] = StationBound(plant, floor, dt_s).trace(steps)[0]
        heat = cache[key]
        fleet += heat
        per_station.append(float(heat.sum()) * dt_s / 3600.0)
    per_day = max(1, int(round(86400.0 / dt_s)))
    days_whole = steps // per_day
    daily = fleet[:days_whole * per_day].reshape(days_whole, per_day).mean(axis=1) if days_whole else fleet
    over = np.maximum(fleet - capacity_kw, 0.0)
    out: dict[str, Any] = {"kwh": float(sum(per_station)), "station_kwh": per_station, "heat_kw": fleet,
                           "peak_day_kw": float(daily.max()) if len(daily) else 0.0,
                           "short_steps": int((over > 1e-9).sum()), "short_kwh": float(over.sum()) * dt_s / 3600.0,
                           "dt_s": dt_s, "area_m2": float(sum(float(np.sum(p.g_area)) for p in plants))}
    if classes is not None:
        by_class: dict[str, float] = {}
        for cls, kwh in zip(classes, per_station, strict=True):
            by_class[cls] = by_class.get(cls, 0.0) + kwh
        out["kwh_by_class"] = by_class
    return out
