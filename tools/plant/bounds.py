"""Physical lower bounds on season heat for the plant's buildings (plant_physics.md §4).

Both bounds use the plant's own building groups (same 2R2C envelopes, emitters, gains,
weather and initial state), discretised exactly at `dt_s`, and count heat at the same
boundary as the benchmark (heat into the emitters = secondary heat at the exchanger):

* building bound (E_min,bldg, §4.1/4.2): every group held exactly at `floor_c` by an ideal,
  unlimited heater (greedy: the smallest heat that keeps the next air temperature at the
  floor). For a cooperative (Metzler) RC network with a fixed convective/radiant split this
  is the minimum; the notes verify greedy = LP to 0.01 %.
* station bound (E_min,station, §4.3 method a): one secondary supply temperature for all
  groups at full circulation flow, no room-level valves. Each step picks the lowest supply
  temperature at which every group's next air temperature stays >= `floor_c` (the emitter
  law is inverted in closed form for each group's need, the maximum is taken, then every
  group is simulated with that supply temperature). Emitters respond instantly here, which
  can only help the bound.

The supply temperature trace of the station bound also gives the "habitual" baseline its
constant setpoint: the highest supply temperature the season ever needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .plant import Plant, building_matrices


def _emitter_heat(k: np.ndarray, n: np.ndarray, c: np.ndarray, ts: float, ti: np.ndarray) -> np.ndarray:
    """Vectorised EN 442 emitter heat (kW) at supply `ts` (same fixed point as model.emitter_heat)."""
    dtemp = np.maximum(ts - ti, 0.0)
    lm = np.maximum(0.7 * dtemp, 1e-6)
    eps = np.zeros_like(dtemp)
    for _ in range(8):
        ua = k * lm ** (n - 1.0)
        ntu = ua / c
        eps = -np.expm1(-ntu)
        lm = np.maximum(eps * dtemp / ntu, 1e-6)
    q: np.ndarray = np.where(dtemp > 0.01, eps * c * dtemp, 0.0)
    return q


def _supply_needed(q_kw: np.ndarray, k: np.ndarray, n: np.ndarray, c: np.ndarray, ti: np.ndarray) -> np.ndarray:
    """Supply temperature at which each emitter gives `q_kw` (inverse of the emitter law).

    Q = K L^n gives the log-mean difference L; Q = c (ts - tr) gives the cooling d = Q/c; from
    L = d / ln((ts - ti)/(ts - d - ti)): ts - ti = d e^(d/L) / (e^(d/L) - 1).
    """
    need = q_kw > 1e-9
    q = np.where(need, q_kw, 1.0)
    lm = (q / k) ** (1.0 / n)
    d = q / c
    r = d / lm
    x = d / -np.expm1(-r)
    result: np.ndarray = np.where(need, ti + x, -np.inf)
    return result


def season_bounds(plant: Plant, days: float, floor_c: float = 18.0, dt_s: float = 300.0) -> dict[str, Any]:
    """Both bounds for `days` from the plant's current (initial) state; `plant` is only read.

    Returns {"building_kwh", "station_kwh", "supply_c" (station-bound supply temperature per
    step, NaN when no heat is needed), "dt_s", "area_m2"}.
    """
    p = plant.params
    n_groups = plant.n_groups
    area = np.asarray(plant.g_area, dtype=float)
    k_rad = np.asarray(plant.g_k_rad, dtype=float)
    expo = np.asarray(plant.g_exp, dtype=float)
    rs = np.asarray(plant.g_radiant, dtype=float)
    solar_f = np.asarray(plant.g_solar, dtype=float)
    share = np.asarray(plant.g_flow_share, dtype=float)
    flow = p["secondary_design_flow_m3h"]
    c = flow * share * p["water_rho_cp_kj_m3k"] / 3600.0
    mats = []
    for j in range(n_groups):
        h = plant.group_h[j]
        h_ao = p["h_ao_share"] * h
        mats.append(building_matrices(p["c_air_kj_m2k"] * 1000.0, p["c_mass_kj_m2k"] * 1000.0, p["h_am_w_m2k"],
                                      h_ao, h - h_ao, dt_s))
    a11 = np.array([m[0][0, 0] for m in mats])
    a12 = np.array([m[0][0, 1] for m in mats])
    a21 = np.array([m[0][1, 0] for m in mats])
    a22 = np.array([m[0][1, 1] for m in mats])
    b = np.array([m[1] for m in mats])  # (groups, 2, 3): columns outdoor, q_air, q_mass
    coef = (1.0 - rs) * b[:, 0, 1] + rs * b[:, 0, 2]  # d T_air+ / d u (u in W/m2 of emitter heat)
    temp = np.asarray(plant.weather_temp, dtype=float)
    ghi = np.asarray(plant.weather_ghi, dtype=float)
    n_hours = len(temp)
    gain = p["internal_gain_w_m2"]
    aperture = p["solar_aperture_m2_m2"]
    ta_b = np.asarray(plant.g_ta, dtype=float).copy()
    tm_b = np.asarray(plant.g_tm, dtype=float).copy()
    ta_s, tm_s = ta_b.copy(), tm_b.copy()
    steps = int(round(days * 86400.0 / dt_s))
    supply = np.full(steps, np.nan)
    e_building = 0.0
    e_station = 0.0
    t0 = plant.time_s
    for k in range(steps):
        hour = (t0 + k * dt_s) / 3600.0
        i = int(hour)
        frac = hour - i
        to = temp[i % n_hours] + (temp[(i + 1) % n_hours] - temp[i % n_hours]) * frac
        g = ghi[i % n_hours] + (ghi[(i + 1) % n_hours] - ghi[i % n_hours]) * frac
        solar = aperture * g * solar_f
        ga = 0.5 * gain + 0.3 * solar
        gm = 0.5 * gain + 0.7 * solar
        # building bound
        base = a11 * ta_b + a12 * tm_b + b[:, 0, 0] * to + b[:, 0, 1] * ga + b[:, 0, 2] * gm
        u = np.maximum((floor_c - base) / coef, 0.0)
        e_building += float((u * area).sum()) * dt_s / 3.6e6
        qa, qm = ga + (1.0 - rs) * u, gm + rs * u
        ta_b, tm_b = (a11 * ta_b + a12 * tm_b + b[:, 0, 0] * to + b[:, 0, 1] * qa + b[:, 0, 2] * qm,
                      a21 * ta_b + a22 * tm_b + b[:, 1, 0] * to + b[:, 1, 1] * qa + b[:, 1, 2] * qm)
        # station bound
        base = a11 * ta_s + a12 * tm_s + b[:, 0, 0] * to + b[:, 0, 1] * ga + b[:, 0, 2] * gm
        need_kw = np.maximum((floor_c - base) / coef, 0.0) * area / 1000.0
        ts = float(_supply_needed(need_kw, k_rad, expo, c, ta_s).max())
        if np.isfinite(ts):
            supply[k] = ts
            q_kw = _emitter_heat(k_rad, expo, c, ts, ta_s)
        else:
            q_kw = np.zeros(n_groups)
        e_station += float(q_kw.sum()) * dt_s / 3600.0
        u = q_kw * 1000.0 / area
        qa, qm = ga + (1.0 - rs) * u, gm + rs * u
        ta_s, tm_s = (a11 * ta_s + a12 * tm_s + b[:, 0, 0] * to + b[:, 0, 1] * qa + b[:, 0, 2] * qm,
                      a21 * ta_s + a22 * tm_s + b[:, 1, 0] * to + b[:, 1, 1] * qa + b[:, 1, 2] * qm)
    return {"building_kwh": e_building, "station_kwh": e_station, "supply_c": supply, "dt_s": dt_s,
            "area_m2": float(area.sum())}
