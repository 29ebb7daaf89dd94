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

A third bound is for the season start (`preheat_bound`): the least heat that brings every
group's air from the pre-season state to `floor_c` by the end of a window (00:00 of the first
heating day), each group's heat limited by its emitters; `least_heat_to_reach` solves it exactly.
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


# --- the season-start (pre-heat) bound -------------------------------------------------------

def least_heat_to_reach(a: np.ndarray, b_u: np.ndarray, x0: np.ndarray, drive: np.ndarray, cap: np.ndarray,
                        target: float) -> tuple[np.ndarray, bool]:
    """The least heat that brings state 0 (the air) to `target` at the end of the horizon.

    Discrete linear system x_{k+1} = a x_k + b_u u_k + drive_k over len(drive) steps, heat
    0 <= u_k <= cap_k. The final air temperature is linear in the heat: x_N[0] = free_N +
    sum_k g_k u_k, with free_N the unheated trajectory's end and g_k = e_0' a^(N-1-k) b_u the
    step response of the end to one unit of heat in step k. Minimising sum u_k subject to
    sum g_k u_k >= target - free_N and the box is a fractional knapsack: give each step its
    full cap in order of falling g_k (the steps whose heat is worth most at the end first),
    the last one only what is still missing. This is exact (an exchange argument: moving heat
    from a step of lower g to one of higher g never costs more), so it is the LP optimum.

    Returns (u per step, feasible); when the caps cannot reach the target, u is every cap
    (the most the emitters can do) and feasible is False.
    """
    n = len(drive)
    x = np.array(x0, dtype=float)
    for k in range(n):
        x = a @ x + drive[k]
    need = float(target - x[0])
    u = np.zeros(n)
    if need <= 0.0:
        return u, True
    gain = np.zeros(n)
    row = np.zeros(len(x))
    row[0] = 1.0
    for k in range(n - 1, -1, -1):
        gain[k] = float(row @ b_u)
        row = row @ a
    for k in np.argsort(-gain, kind="stable"):
        if gain[k] <= 0.0 or need <= 0.0:
            break
        full = cap[k] * gain[k]
        if full >= need:
            u[k] = need / gain[k]
            need = 0.0
        else:
            u[k] = cap[k]
            need -= full
    return u, need <= 1e-12


def preheat_bound(plant: Plant, days: float, floor_c: float = 18.0, dt_s: float = 300.0) -> dict[str, Any]:
    """The least heat that brings every group from the plant's state now to `floor_c` (air)
    `days` later, e.g. from the pre-season state to 00:00 of the first heating day.

    Same buildings, weather, gains and step as `season_bounds`; per group (building level:
    each group gets its own heat, as in the building bound), heat u_k >= 0 counted into the
    emitters (the exchanger boundary, the network water's own heat-up not counted). Without a
    power limit the least heat would be one instant burst of heat into the air at the last
    moment, so each group's heat is limited by its emitters: EN 442 output at full circulation
    flow (the station bound's), supply at the highest primary supply temperature the heat
    source gives in the window (the secondary supply cannot exceed it) and the air at its
    unheated trajectory's temperature (heat only warms the air, which lowers the output: the
    cap is never below what any real trajectory gets, so the bound stays a lower bound). Only
    the air at the end is constrained; nothing asks the rooms to stay warm after it (the
    season's bounds and comfort figures cover that). Each group is then solved exactly by
    `least_heat_to_reach`.

    Returns {"kwh", "kwh_per_m2", "area_m2", "group_kwh_per_m2" and "group_cap_w_m2" (each
    group's heat and emitter cap, W/m2 of its floor), "feasible",
    "short_groups" (names that cannot reach the floor in time even at full output),
    "supply_cap_c", "dt_s"}.
    """
    p = plant.params
    n_groups = plant.n_groups
    area = np.asarray(plant.g_area, dtype=float)
    k_rad = np.asarray(plant.g_k_rad, dtype=float)
    expo = np.asarray(plant.g_exp, dtype=float)
    rs = np.asarray(plant.g_radiant, dtype=float)
    solar_f = np.asarray(plant.g_solar, dtype=float)
    c = p["secondary_design_flow_m3h"] * np.asarray(plant.g_flow_share, dtype=float) * p["water_rho_cp_kj_m3k"] / 3600.0
    temp = np.asarray(plant.weather_temp, dtype=float)
    ghi = np.asarray(plant.weather_ghi, dtype=float)
    n_hours = len(temp)
    steps = int(round(days * 86400.0 / dt_s))
    outdoor = np.zeros(steps)
    sun = np.zeros(steps)
    t0 = plant.time_s
    for k in range(steps):
        hour = (t0 + k * dt_s) / 3600.0
        i = int(hour)
        frac = hour - i
        outdoor[k] = temp[i % n_hours] + (temp[(i + 1) % n_hours] - temp[i % n_hours]) * frac
        sun[k] = ghi[i % n_hours] + (ghi[(i + 1) % n_hours] - ghi[i % n_hours]) * frac
    # the heat source's weather compensation (model._disturbances), at its highest in the window
    span = 5.0 - p["design_outdoor_c"]
    frac_c = np.clip((5.0 - outdoor) / span, 0.0, 1.0) if steps else np.zeros(0)
    targets = p["primary_min_supply_c"] + (p["primary_design_supply_c"] - p["primary_min_supply_c"]) * frac_c
    supply_cap = float(max(plant.tp_comp_c, float(targets.max()) if steps else plant.tp_comp_c))
    gain = p["internal_gain_w_m2"]
    aperture = p["solar_aperture_m2_m2"]
    group_kwh = np.zeros(n_groups)
    caps = np.zeros(n_groups)
    short = []
    for j in range(n_groups):
        h = plant.group_h[j]
        h_ao = p["h_ao_share"] * h
        a, b = building_matrices(p["c_air_kj_m2k"] * 1000.0, p["c_mass_kj_m2k"] * 1000.0, p["h_am_w_m2k"], h_ao,
                                 h - h_ao, dt_s)
        solar = aperture * sun * solar_f[j]
        ga = 0.5 * gain + 0.3 * solar
        gm = 0.5 * gain + 0.7 * solar
        drive = np.outer(outdoor, b[:, 0]) + np.outer(ga, b[:, 1]) + np.outer(gm, b[:, 2])
        b_u = (1.0 - rs[j]) * b[:, 1] + rs[j] * b[:, 2]
        x = np.array([plant.g_ta[j], plant.g_tm[j]], dtype=float)
        coldest = x[0]
        for k in range(steps):  # the unheated trajectory: its coldest air sets the emitter cap
            x = a @ x + drive[k]
            coldest = min(coldest, x[0])
        cap_kw = float(_emitter_heat(k_rad[j:j + 1], expo[j:j + 1], c[j:j + 1], supply_cap, np.array([coldest]))[0])
        caps[j] = cap_kw * 1000.0 / area[j]
        cap = np.full(steps, caps[j])
        u, feasible = least_heat_to_reach(a, b_u, np.array([plant.g_ta[j], plant.g_tm[j]]), drive, cap, floor_c)
        group_kwh[j] = float(u.sum()) * dt_s / 3.6e6
        if not feasible:
            short.append(plant.group_names[j])
    total = float((group_kwh * area).sum())
    return {"kwh": total, "kwh_per_m2": total / float(area.sum()), "area_m2": float(area.sum()),
            "group_kwh_per_m2": group_kwh.tolist(), "group_cap_w_m2": caps.tolist(), "feasible": not short,
            "short_groups": short,
            "supply_cap_c": supply_cap, "dt_s": dt_s}
