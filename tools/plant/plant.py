"""The reference plant behind the simulators, the HIL rig and the season benchmark.

`Plant(params=None, weather=None, seed=0)`: a district-heating substation with its secondary
network and building groups (plant_physics.md §1). `apply(actuators)` takes the keys of
`core.signals.ACTUATORS`; `advance(dt_s)` integrates; `readings()` returns what the station's
sensors and meters would show, keyed by `core.signals` input names. Faults are injected with
`inject(fault, **params)` and removed with `clear(fault)`. `open_window` is a flat-level
disturbance: the monitored flats of one building group air out (their room collectors fall,
then recover once the windows close); the group's mean air temperature, and so every figure of
the season benchmark, is unchanged.

Secondary network (opt-in: `Plant(params={"secondary_network": {...}})`, see params.py
SECONDARY_NETWORK; absent, the plant is exactly the one without it): each building group hangs
on its own branch, a fixed resistance `branch_kv` in series with a motorised equal-percentage
balancing valve `valve_kvs` (Kv in m3/h at 1 bar: dp_bar = (q/Kv)^2), all branches in parallel
behind the station's header. Unless a group sets them, the Kvs are sized so that with every
valve open the network is today's: the same system curve at the design flow and each group's
flow share `g_flow_share` (area x heat loss x flow_mult), the valve taking `valve_authority` of
its branch's dp. The flow split is solved from the pump curve and the branch resistances (model
docstring); each group is fed by its own branch flow (its transport delay and emitter heat use
it), its return temperature is measured at the building, and the common return is the mix of
the branch returns weighted by branch flow. The API: `set_branch_valve(group, pct)` (the
actuator runs at 100 % per `valve_run_time_s`), `branch_valve_positions_pct()`,
`branch_flows_m3h()`, `building_return_temps_c()` and `branch_readings()`.

The model core (model.py) is Cython-compiled; this module wires parameters, weather, faults
and the public API.
"""

from __future__ import annotations

import math
import random
from array import array
from typing import Any

import numpy as np
from heatkeeper.core import signals

from . import params as plant_params
from .model import PlantCore, kv_resistance, round_hundredths_all
from .weather import Weather, synthetic_year

FAULTS = ("leak", "pump_trip", "stuck_valve", "sensor_open", "cold_snap", "primary_supply_drop", "open_window")
TEMP_SIGNALS = (signals.OUTDOOR_TEMP_C, signals.PRIMARY_SUPPLY_TEMP_C, signals.PRIMARY_RETURN_TEMP_C,
                signals.SECONDARY_SUPPLY_TEMP_C, signals.SECONDARY_RETURN_TEMP_C)
PRESSURE_SIGNALS = (signals.PRIMARY_SUPPLY_PRESSURE_KPA, signals.PRIMARY_RETURN_PRESSURE_KPA,
                    signals.SECONDARY_SUPPLY_PRESSURE_KPA, signals.SECONDARY_RETURN_PRESSURE_KPA)


def default_weather() -> Weather:
    """Synthetic Arxan year (seed 0) starting on 1 December: a cold, clearly heating, start."""
    return synthetic_year("arxan", seed=0).rotated(334 * 24)


def building_matrices(c_air: float, c_mass: float, h_am: float, h_ao: float, h_mo: float,
                      dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact zero-order-hold discretisation of the 2R2C group (per m2 floor).

    States x = [T_air, T_mass]; inputs u = [T_out, q_air, q_mass] (degC, W/m2, W/m2).
    Returns (A_d, B_d) with x+ = A_d x + B_d u (matrix exponential of the augmented system).
    """
    a = np.array([[-(h_am + h_ao) / c_air, h_am / c_air],
                  [h_am / c_mass, -(h_am + h_mo) / c_mass]])
    b = np.array([[h_ao / c_air, 1.0 / c_air, 0.0],
                  [h_mo / c_mass, 0.0, 1.0 / c_mass]])
    m = np.zeros((5, 5))
    m[:2, :2] = a * dt_s
    m[:2, 2:] = b * dt_s
    e = _expm(m)
    return e[:2, :2], e[:2, 2:]


def _expm(m: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring with a Taylor series (small, well-scaled m)."""
    norm = float(np.abs(m).sum(axis=1).max())
    squarings = max(0, int(math.ceil(math.log2(norm))) + 4) if norm > 0 else 0
    x = m / (2.0**squarings)
    result = np.eye(m.shape[0])
    term = np.eye(m.shape[0])
    for k in range(1, 20):
        term = term @ x / k
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


class Plant(PlantCore):
    """A heat exchange station with its network and buildings (see the module docstring)."""

    def __init__(self, params: dict[str, Any] | None = None, weather: Weather | None = None, seed: int = 0) -> None:
        p = plant_params.build(params)
        groups = p["groups"]
        super().__init__(len(groups), seed)
        self.params = p
        self.seed = seed
        self.group_names: list[str] = [g["name"] for g in groups]
        self.active_faults: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(seed)
        self._configure_scalars(p)
        self._configure_groups(p, groups)
        if "secondary_network" in p:
            self._configure_branches(p, groups)
        self.set_weather(weather if weather is not None else default_weather())
        self._initial_state(p)
        self._collector_bias = [[self._rng.gauss(0.0, p["room_sensor_bias_k"]) for _ in plant_params.COLLECTOR_OFFSETS_K]
                                for _ in groups]
        self._collector_ids = [["rc-%02d-%d" % (j + 1, k + 1) for k in range(len(plant_params.COLLECTOR_OFFSETS_K))]
                               for j in range(len(groups))]
        # the same, flat and typed for the compiled collector_temps (group by group)
        self._collector_rows = [(cid, name) for ids, name in zip(self._collector_ids, self.group_names, strict=True)
                               for cid in ids]
        self._collector_bias_k = array("d", [b for bias in self._collector_bias for b in bias])
        self._collector_offsets_k = array("d", plant_params.COLLECTOR_OFFSETS_K)
        self._collector_temps = array("d", [0.0] * len(self._collector_rows))
        self._no_windows = array("d")
        # open_window per group index: (opened at s, closes at s, depth K, time constant s)
        self._windows: dict[int, tuple[float, float, float, float]] = {}

    # --- set-up --------------------------------------------------------------------------
    def _configure_scalars(self, p: dict[str, Any]) -> None:
        self.rho_cp = p["water_rho_cp_kj_m3k"]
        self.building_step_s = p["building_step_s"]
        self.max_fast_step_s = p["max_fast_step_s"]
        self.internal_gain = p["internal_gain_w_m2"]
        self.solar_aperture = p["solar_aperture_m2_m2"]
        self.mixing_tau_s = p["mixing_tau_s"]
        self.return_volume = p["return_volume_m3"]
        self.run_time_s = p["actuator_run_time_s"]
        self.backlash = p["actuator_backlash_pct"] / 100.0
        self.min_step = p["actuator_min_step_pct"] / 100.0
        self.min_pulse_s = p["actuator_min_pulse_s"]
        self.three_point = 1 if p["actuator_three_point"] else 0
        self.kvs = p["valve_kvs_m3h"]
        self.rangeability = p["valve_rangeability"]
        beta = p["valve_authority"]
        # authority beta = dp_valve,100 / (dp_valve,100 + dp_rest): K_rest = Kvs sqrt(beta/(1-beta))
        self.k_rest = self.kvs * math.sqrt(beta / (1.0 - beta)) if beta < 1.0 else 1e9
        self.leakage = p["valve_leakage"]
        self.ua_design = p["hx_ua_design_kw_k"] * p["hx_fouling"]
        self.hx_n = p["hx_flow_exponent"]
        self.hx_v1_design = p["hx_design_primary_m3h"]
        self.hx_v2_design = p["hx_design_secondary_m3h"]
        self.hx_tau_s = p["hx_tau_s"]
        self.hx_dead_s = p["hx_dead_time_s"]
        q_d = p["secondary_design_flow_m3h"]
        h_d = p["pump_design_head_m"]
        self.sys_k = h_d / (q_d * q_d)
        self.pump_h0 = p["pump_shutoff_head_m"]
        self.pump_a = (self.pump_h0 - h_d) / (q_d * q_d)
        self.pump_eff = p["pump_efficiency"]
        self.pump_min = p["pump_min_speed_pct"] / 100.0
        self.pump_ramp = p["pump_ramp_pct_s"] / 100.0
        self.pump_start_delay_s = p["pump_start_delay_s"]
        self.static_kpa = p["static_pressure_kpa"]
        self.stiffness = p["network_stiffness_kpa_m3"]
        self.makeup_flow = p["makeup_flow_m3h"]
        self.makeup_max_kpa = p["makeup_max_pressure_kpa"]
        self.tank_volume = p["tank_volume_m3"]
        self.tank_refill = p["tank_refill_m3h"]
        self.tank_refill_below = p["tank_refill_below_pct"] / 100.0
        self.tank_refill_above = p["tank_refill_above_pct"] / 100.0
        self.relief_flow = p["relief_flow_m3h"]
        self.primary_design_c = p["primary_design_supply_c"]
        self.primary_min_c = p["primary_min_supply_c"]
        self.design_outdoor_c = p["design_outdoor_c"]
        self.primary_p_kpa = p["primary_supply_pressure_kpa"]
        self.dp_nominal = p["primary_dp_kpa"]
        self.dp_variation = p["primary_dp_variation"]
        self.tau_supply_s = p["sensor_tau_supply_s"]
        self.tau_outdoor_s = p["sensor_tau_outdoor_s"]
        self.tau_room_s = p["sensor_tau_room_s"]
        self.noise_k = p["sensor_noise_k"]
        self.noise_kpa = p["sensor_noise_kpa"]
        self.floor_c = 18.0
        self.low_c = 18.0

    def _configure_groups(self, p: dict[str, Any], groups: list[dict[str, Any]]) -> None:
        area = p["floor_area_m2"]
        dt_design = p["design_indoor_c"] - p["design_outdoor_c"]
        ts_d, tr_d, ti_d = p["radiator_design_supply_c"], p["radiator_design_return_c"], p["design_indoor_c"]
        lmtd_d = (ts_d - tr_d) / math.log((ts_d - ti_d) / (tr_d - ti_d))
        weights = [g["area_share"] * g["h_mult"] * g["flow_mult"] for g in groups]
        total_w = sum(weights)
        self.design_load_kw = 0.0
        for j, g in enumerate(groups):
            a_j = area * g["area_share"]
            h = p["h_tot_w_m2k"] * g["h_mult"]
            h_ao = p["h_ao_share"] * h
            h_mo = h - h_ao
            ad, bd = building_matrices(p["c_air_kj_m2k"] * 1000.0, p["c_mass_kj_m2k"] * 1000.0, p["h_am_w_m2k"],
                                       h_ao, h_mo, p["building_step_s"])
            self.g_a11[j], self.g_a12[j], self.g_a21[j], self.g_a22[j] = ad[0, 0], ad[0, 1], ad[1, 0], ad[1, 1]
            self.g_bo1[j], self.g_ba1[j], self.g_bm1[j] = bd[0, 0], bd[0, 1], bd[0, 2]
            self.g_bo2[j], self.g_ba2[j], self.g_bm2[j] = bd[1, 0], bd[1, 1], bd[1, 2]
            self.g_area[j] = a_j
            load_kw = h * dt_design * a_j / 1000.0
            self.design_load_kw += load_kw
            floor = g["kind"] == "floor"
            n = p["floor_exponent"] if floor else p["radiator_exponent"]
            q_emitter_kw = load_kw * p["radiator_oversize"] * g["rad_mult"]
            # EN 442: Q = Q_d (dT_lm / dT_lm,d)^n  ->  UA(dT_lm) = K dT_lm^(n-1), K = Q_d / dT_lm,d^n
            self.g_k_rad[j] = q_emitter_kw / lmtd_d**n
            self.g_exp[j] = n
            self.g_tau_emit[j] = p["floor_tau_s"] if floor else p["radiator_tau_s"]
            self.g_radiant[j] = p["floor_radiant_share"] if floor else p["radiator_radiant_share"]
            self.g_solar[j] = g["solar"]
            self.g_flow_share[j] = weights[j] / total_w
            self.g_volume[j] = g["delay_s"] * p["secondary_design_flow_m3h"] / 3600.0
        self.group_h = [p["h_tot_w_m2k"] * g["h_mult"] for g in groups]

    def _configure_branches(self, p: dict[str, Any], groups: list[dict[str, Any]]) -> None:
        """Branch resistances and balancing valves (module docstring): sized so that with every
        valve open the design flow splits as g_flow_share at the design head."""
        net = p["secondary_network"]
        q_d = p["secondary_design_flow_m3h"]
        h_d = p["pump_design_head_m"]
        beta = net["valve_authority"]
        self.hdr_k = net["header_share"] * self.sys_k
        x_d = (1.0 - net["header_share"]) * h_d  # head across the branches at design (m)
        self.bv_rangeability = net["valve_rangeability"]
        self.bv_delta = net["valve_linear_below_pct"] / 100.0
        self.bv_run_time_s = net["valve_run_time_s"]
        self.bv_min_step = net["valve_min_step_pct"] / 100.0
        pos = net["initial_valve_pct"] / 100.0
        for j, g in enumerate(groups):
            q_j = q_d * self.g_flow_share[j]
            r_total = x_d / (q_j * q_j)  # m per (m3/h)^2 of the whole branch at design, valve open
            kvs = g.get("valve_kvs")
            # r = kv_resistance(Kv) = HEAD_PER_BAR / Kv^2, so the valve's share beta r_total gives its Kvs
            self.g_bv_kvs[j] = float(kvs) if kvs is not None else 1.0 / math.sqrt(beta * r_total / kv_resistance(1.0))
            kv = g.get("branch_kv")
            self.g_branch_r[j] = kv_resistance(float(kv)) if kv is not None else (1.0 - beta) * r_total
            self.g_bv_cmd[j] = self.g_bv_pos[j] = pos
            # the building return sensor starts where the initial state puts the group's return
            self.g_return_meas[j] = p["initial_room_c"] + 0.5 * (p["initial_supply_c"] - p["initial_room_c"])
        self.branches = 1
        self.solve_branches()

    def set_weather(self, weather: Weather) -> None:
        """Drive the plant with `weather` (hour 0 = plant time 0, repeating after its end)."""
        self.weather = weather
        self.weather_temp = array("d", weather.temp_c)
        self.weather_ghi = array("d", weather.ghi_wm2)
        self.n_hours = len(weather.temp_c)

    def _initial_state(self, p: dict[str, Any]) -> None:
        """Found heating (rooms at initial_room_c, mass at its steady state, emitters at the heat
        loss, water at initial_supply_c, valve at initial_valve_pct), or with initial_preseason the
        pre-season state: air, mass, emitters and network water all at initial_room_c, valve shut."""
        self.slow_step(0.0)  # weather at t = 0
        to = self.outdoor_c
        ti = p["initial_room_c"]
        cold = p["initial_preseason"] >= 0.5
        supply_c = ti if cold else p["initial_supply_c"]
        for j in range(self.n_groups):
            # mass node at its steady state for the air temperature and the outdoor temperature
            h = self.group_h[j]
            h_ao = p["h_ao_share"] * h
            h_mo = h - h_ao
            h_am = p["h_am_w_m2k"]
            self.g_ta[j] = ti
            self.g_tm[j] = ti if cold else (h_am * ti + h_mo * to) / (h_am + h_mo)
            self.g_room_meas[j] = ti
            self.g_supply[j] = supply_c
            self.g_return[j] = ti + 0.5 * (supply_c - ti)
            self.g_lmtd[j] = 0.0
            # emitters start at the group's heat loss, so a run does not begin with a cold dip
            loss_w_m2 = h * (ti - to) - p["internal_gain_w_m2"]
            self.g_q_emit[j] = 0.0 if cold else max(0.0, loss_w_m2) * self.g_area[j] / 1000.0
        self.ts_hx = self.ts_station = self.m_ts = supply_c
        self.tr_station = self.m_tr = ti + 0.6 * (supply_c - ti)
        for k in range(len(self.hist_temp)):
            self.hist_temp[k] = supply_c
            self.ret_temp[k] = self.tr_station
        self.motor = self.stem = self.valve_cmd = 0.0 if cold else p["initial_valve_pct"] / 100.0
        frac = min(1.0, max(0.0, (5.0 - to) / (5.0 - self.design_outdoor_c)))
        self.tp_comp_c = self.primary_min_c + (self.primary_design_c - self.primary_min_c) * frac
        self.tp_in = self.m_tp_in = self.tp_comp_c
        self.tp_ret_hx = self.m_tp_ret = self.tr_station + 5.0
        self.m_outdoor = to
        self.dp_kpa = self.dp_nominal
        self.tank_m3 = 0.8 * self.tank_volume
        self.run_cmd1, self.speed_cmd1 = 1, 1.0
        self.speed1 = 1.0  # found running at full speed
        self.running1 = 1
        self.start_timer1 = self.pump_start_delay_s
        for k in range(self.n_groups):
            self.g_kh_floor[k] = self.g_kh_low[k] = self.g_h_floor[k] = self.g_max_deficit[k] = 0.0

    # --- the API -------------------------------------------------------------------------
    def collector_readings(self) -> list[tuple[str, str, float]]:
        """Room-temperature collectors: [(collector_id, group, temp_c)], two per group, coldest flats."""
        temps = self.collector_temps_now()
        return [(cid, name, temp) for (cid, name), temp in zip(self._collector_rows, temps, strict=True)]

    def collector_ids(self) -> tuple[list[str], list[str]]:
        """collector_readings' collector ids and their groups, in its order (fixed for the plant)."""
        return [cid for cid, _ in self._collector_rows], [name for _, name in self._collector_rows]

    def collector_temps_now(self) -> array:
        """collector_readings' temperatures, in its order and rounded as there (to 0.01 K): the
        plant's own array, overwritten on the next call (a compiled loop takes it as it is)."""
        window_k = self._no_windows
        if self._windows:
            window_k = array("d", [self._window_offset_k(j) for j in range(self.n_groups)])
        temps = self._collector_temps
        self.collector_temps(self._collector_offsets_k, self._collector_bias_k, window_k, temps)
        round_hundredths_all(temps)
        return temps

    def _window_offset_k(self, j: int) -> float:
        """How far group j's monitored flats are below the group (K, <= 0): an exponential fall
        towards -depth while the windows are open, an exponential return once they are shut."""
        window = self._windows.get(j)
        if window is None:
            return 0.0
        opened_s, closes_s, depth_k, tau_s = window
        now = self.time_s
        if now <= opened_s:
            return 0.0
        fallen_k = depth_k * (1.0 - math.exp(-(min(now, closes_s) - opened_s) / tau_s))
        if now <= closes_s:
            return -fallen_k
        return -fallen_k * math.exp(-(now - closes_s) / tau_s)

    def _group_index(self, group: Any, what: str = "open_window") -> int:
        """A building group by its name or its 1-based number (`what` names the caller in errors)."""
        if isinstance(group, str) and group in self.group_names:
            return self.group_names.index(group)
        if isinstance(group, int) and not isinstance(group, bool) and 1 <= group <= len(self.group_names):
            return group - 1
        raise ValueError("%s group=%r: must name a building group (%s) or number one, 1-%d" % (
            what, group, ", ".join(self.group_names), len(self.group_names)))

    @property
    def room_temps_c(self) -> list[float]:
        """True mean air temperature of each building group (degC), in group_names order."""
        return [self.g_ta[j] for j in range(self.n_groups)]

    @property
    def supply_temp_c(self) -> float:
        """True secondary supply temperature at the station's sensor position."""
        return self.ts_station

    @property
    def heat_energy_kwh(self) -> float:
        """Heat delivered to the secondary network since start (kWh, at the heat exchanger)."""
        return self.heat_kwh

    def comfort(self) -> dict[str, list[float]]:
        """Per group: K.h below 18 degC, K.h below the low threshold, hours below 18, largest deficit."""
        n = self.n_groups
        return {"kh_below_18": [self.g_kh_floor[j] for j in range(n)],
                "kh_below_low": [self.g_kh_low[j] for j in range(n)],
                "hours_below_18": [self.g_h_floor[j] for j in range(n)],
                "max_deficit_k": [self.g_max_deficit[j] for j in range(n)]}

    def set_comfort_thresholds(self, floor_c: float = 18.0, low_c: float = 18.0) -> None:
        """Thresholds the comfort integrals use (the legal floor and target - 2 K)."""
        self.floor_c = float(floor_c)
        self.low_c = float(low_c)

    # --- secondary network: balancing valves, branch flows, building returns ---------------
    def _need_branches(self, what: str) -> None:
        if not self.branches:
            raise ValueError("%s: this plant has no secondary network (build it with "
                             "params={'secondary_network': {...}})" % what)

    def set_branch_valve(self, group: Any, pct: float) -> None:
        """Command group's balancing valve to `pct` % open (name or 1-based number); the actuator
        runs there at 100 % per valve_run_time_s."""
        self._need_branches("set_branch_valve")
        j = self._group_index(group, "set_branch_valve")
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0.0 <= pct <= 100.0:
            raise ValueError("set_branch_valve %s pct=%r: must be a number in [0, 100]" % (self.group_names[j], pct))
        self.g_bv_cmd[j] = float(pct) / 100.0

    def branch_valve_commands_pct(self) -> list[float]:
        """Each group's balancing valve command (%), in group_names order."""
        self._need_branches("branch_valve_commands_pct")
        return [self.g_bv_cmd[j] * 100.0 for j in range(self.n_groups)]

    def branch_valve_positions_pct(self) -> list[float]:
        """Each group's balancing valve position (%, the actuator's feedback), in group_names order."""
        self._need_branches("branch_valve_positions_pct")
        return [self.g_bv_pos[j] * 100.0 for j in range(self.n_groups)]

    def branch_flows_m3h(self) -> list[float]:
        """Each group's branch flow (m3/h, true); they sum to the pump flow `flow2`."""
        self._need_branches("branch_flows_m3h")
        return [self.g_branch_flow[j] for j in range(self.n_groups)]

    def building_return_temps_c(self) -> list[float]:
        """Each group's return temperature at the building (degC, true, as of the last building step)."""
        self._need_branches("building_return_temps_c")
        return [self.g_return[j] for j in range(self.n_groups)]

    def branch_readings(self) -> list[dict[str, Any]]:
        """What a building's energy valve reports, per group: valve command and position (%, 0.01
        resolution like the Belimo setpoint/relative-position registers), the stem's travel since
        start (full strokes), branch flow (m3/h, 0.01), return temperature (degC: immersion
        sensor lag, 0.01), branch dp (kPa, 0.1)."""
        self._need_branches("branch_readings")
        dp = round(self.branch_dp_kpa(), 1)
        return [{"group": name, "valve_cmd_pct": round(self.g_bv_cmd[j] * 100.0, 2),
                 "valve_position_pct": round(self.g_bv_pos[j] * 100.0, 2),
                 "valve_travel_strokes": round(self.g_bv_travel[j], 4),
                 "flow_m3h": round(self.g_branch_flow[j], 2), "return_temp_c": round(self.g_return_meas[j], 2),
                 "dp_kpa": dp} for j, name in enumerate(self.group_names)]

    # --- faults --------------------------------------------------------------------------
    def inject(self, fault: str, **params: Any) -> None:
        """Inject a fault: leak(m3h), pump_trip(pump=1|2), stuck_valve(), sensor_open(signal=name),
        cold_snap(delta_k, duration_s), primary_supply_drop(delta_k, duration_s=None),
        open_window(group=name or number, delta_k=4, duration_s=120, tau_s=45)."""
        if fault not in FAULTS:
            raise ValueError("unknown fault %r: choose one of %s" % (fault, ", ".join(FAULTS)))
        if fault == "leak":
            m3h = float(params.get("m3h", 1.0))
            if not 0.0 <= m3h <= 100.0:
                raise ValueError("leak m3h=%r m3/h: must be in [0, 100]" % m3h)
            self.leak_m3h = m3h
        elif fault == "pump_trip":
            pump = params.get("pump", 1)
            if pump not in (1, 2):
                raise ValueError("pump_trip pump=%r: must be 1 or 2" % (pump,))
            if pump == 1:
                self.fault1 = 1
            else:
                self.fault2 = 1
        elif fault == "stuck_valve":
            self.stuck = 1
        elif fault == "sensor_open":
            name = params.get("signal")
            if name not in TEMP_SIGNALS + PRESSURE_SIGNALS:
                raise ValueError("sensor_open signal=%r: must be one of %s" % (name, ", ".join(TEMP_SIGNALS + PRESSURE_SIGNALS)))
            self.open_sensors.add(name)
        elif fault == "cold_snap":
            delta = float(params.get("delta_k", 10.0))
            duration = float(params.get("duration_s", 3 * 86400.0))
            if not 0.0 < delta <= 40.0 or duration <= 0.0:
                raise ValueError("cold_snap delta_k=%r K must be in (0, 40], duration_s=%r s must be > 0" % (delta, duration))
            self.snap_k = delta
            self.snap_end_s = self.time_s + duration
        elif fault == "primary_supply_drop":
            delta = float(params.get("delta_k", self.params["primary_drop_k"]))
            if not 0.0 < delta <= 80.0:
                raise ValueError("primary_supply_drop delta_k=%r K: must be in (0, 80]" % delta)
            until = params.get("duration_s")
            self.primary_drop_k = delta
            self.primary_drop_end_s = -1.0 if until is None else self.time_s + float(until)
        elif fault == "open_window":
            j = self._group_index(params.get("group", 1))
            depth = float(params.get("delta_k", 4.0))
            duration = float(params.get("duration_s", 120.0))
            tau = float(params.get("tau_s", 45.0))
            if not 0.0 < depth <= 20.0 or not 0.0 < duration <= 86400.0 or not 1.0 <= tau <= 3600.0:
                raise ValueError("open_window delta_k=%r K must be in (0, 20], duration_s=%r s in (0, 86400], "
                                 "tau_s=%r s in [1, 3600]" % (depth, duration, tau))
            self._windows[j] = (self.time_s, self.time_s + duration, depth, tau)
        self.active_faults[fault] = dict(params)

    def clear(self, fault: str, **params: Any) -> None:
        """Remove a fault (for pump_trip and sensor_open, optionally only one pump or signal)."""
        if fault not in FAULTS:
            raise ValueError("unknown fault %r: choose one of %s" % (fault, ", ".join(FAULTS)))
        if fault == "leak":
            self.leak_m3h = 0.0
        elif fault == "pump_trip":
            pump = params.get("pump")
            if pump in (None, 1):
                self.fault1 = 0
            if pump in (None, 2):
                self.fault2 = 0
        elif fault == "stuck_valve":
            self.stuck = 0
            self.positioning = 1
        elif fault == "sensor_open":
            name = params.get("signal")
            if name is None:
                self.open_sensors.clear()
            else:
                self.open_sensors.discard(name)
        elif fault == "cold_snap":
            self.snap_end_s = -1.0
            self.snap_k = 0.0
        elif fault == "primary_supply_drop":
            self.primary_drop_k = 0.0
        elif fault == "open_window":  # the windows close now; the flats warm up again from where they are
            shut = [self._group_index(params["group"])] if "group" in params else list(self._windows)
            for j in shut:
                if j in self._windows:
                    opened_s, closes_s, depth_k, tau_s = self._windows[j]
                    self._windows[j] = (opened_s, min(closes_s, max(opened_s, self.time_s)), depth_k, tau_s)
        self.active_faults.pop(fault, None)
