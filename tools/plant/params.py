"""Reference station parameters: one place, each value with its source.

The reference is a 100,000 m2 residential station in Arxan (severe cold), sized per
plant_physics.md §1.11 (the research notes shipped with the project). Status tags follow the
notes: [V] read in a source, [R] standard engineering knowledge, [I] derived.

`DEFAULTS` is a flat dict of scalars; `GROUPS` lists the building groups. `build(params)`
merges user overrides, validates every key (all problems listed at once) and returns the full
parameter set the model uses. Units are in the names.

`secondary_network` (a dict, opt-in) models each building group on its own branch with a
balancing valve (plant.py); its keys default to `SECONDARY_NETWORK`, and a group may carry
its own `branch_kv` / `valve_kvs` (m3/h at 1 bar). Without it the plant is exactly as before.
"""

from __future__ import annotations

import math
from typing import Any

# --- scalar parameters -------------------------------------------------------------------
DEFAULTS: dict[str, float] = {
    # load (§1.11; q_d 45 W/m2 = h_tot 0.9 x (18 - -33) [I])
    "floor_area_m2": 100000.0,
    "design_outdoor_c": -33.0,  # Arxan, inferred GB-style design temperature (§2.1 [I])
    "design_indoor_c": 18.0,  # JGJ 26 §4.3.3 [V]
    "h_tot_w_m2k": 0.9,  # Arxan post-2010 stock (§1.11 [I])
    "c_air_kj_m2k": 20.0,  # C_a (§1.4 [I])
    "c_mass_kj_m2k": 260.0,  # ISO 13790 "heavy" (§1.4 [V class])
    "h_am_w_m2k": 10.0,  # air-mass coupling (§1.4 [I from ISO factors])
    "h_ao_share": 0.35,  # windows + air change share of h_tot (§1.4 [I])
    "internal_gain_w_m2": 3.8,  # JGJ 26-2010 §4.3.3 q_IH [V]
    "solar_aperture_m2_m2": 0.03,  # solar gain = a_sol * GHI (§1.4 [I])
    # radiators (EN 442-2, IDEAS Radiator.mo [V])
    "radiator_exponent": 1.3,
    "radiator_design_supply_c": 75.0,  # GB 50736-2012 §5.3.1 75/50 [V]
    "radiator_design_return_c": 50.0,
    "radiator_oversize": 1.3,  # §1.3 oversizing 1.2-1.5 [R]
    "radiator_tau_s": 900.0,  # §1.3 tau_rad 15 min [I]
    "radiator_radiant_share": 0.35,  # IDEAS/BESMod fraRad [V]
    "floor_exponent": 1.1,  # floor heating emitters, EN 1264 [R]
    "floor_tau_s": 5400.0,  # screed inertia [I]
    "floor_radiant_share": 0.7,
    # secondary network (§1.5, §1.6)
    "secondary_volume_m3": 80.0,
    "secondary_design_flow_m3h": 260.0,  # habitual "large flow, small dT" at 100 % speed [V/R]
    "pump_design_head_m": 30.0,
    "pump_shutoff_head_m": 42.0,  # pump curve H = H0 n^2 - a Q^2 [I]
    "pump_efficiency": 0.72,  # §1.6 0.7-0.8 [I]
    "pump_min_speed_pct": 30.0,  # VFD 15-50 Hz [I]
    "pump_ramp_pct_s": 5.0,  # VFD ramp 10 s for 0-50 Hz [I]
    "pump_start_delay_s": 2.0,
    "mixing_tau_s": 300.0,  # pipe-wall and axial mixing lag 2-10 min (§1.5 [I])
    "return_volume_m3": 30.0,  # return pipe from the buildings back to the station
    "static_pressure_kpa": 250.0,  # pressure held at the pump suction
    "network_stiffness_kpa_m3": 400.0,  # expansion vessel: kPa per m3 of water missing [I]
    # make-up water (§1.5 losses KPI; sizes [I])
    "makeup_flow_m3h": 3.0,
    "makeup_max_pressure_kpa": 600.0,
    "tank_volume_m3": 10.0,
    "tank_refill_m3h": 1.0,  # float valve refills below tank_refill_below_pct
    "tank_refill_below_pct": 60.0,
    "tank_refill_above_pct": 90.0,
    "relief_flow_m3h": 6.0,
    # primary side (§1.7, §1.11)
    "primary_design_supply_c": 110.0,
    "primary_min_supply_c": 70.0,  # plant's own weather compensation 70-110 [R]
    "primary_supply_pressure_kpa": 600.0,
    "primary_dp_kpa": 100.0,  # available differential pressure 1 bar
    "primary_dp_variation": 0.15,  # slow random variation (relative sigma) of the available dp
    "primary_drop_k": 20.0,  # default depth of the primary_supply_drop fault
    # control valve (§1.7 [V] equal percentage, R 30-50, authority >= 0.5)
    "valve_kvs_m3h": 160.0,  # DN100; §1.7 sizes 100 for 73 m3/h at 110/55, the habitual large secondary flow needs more
    "valve_rangeability": 30.0,
    "valve_authority": 0.5,
    "valve_leakage": 0.0005,  # 0.05 % of Kvs [R]
    # actuator (§1.8 [V] Siemens run times; model [I])
    "actuator_run_time_s": 120.0,
    "actuator_backlash_pct": 0.5,
    "actuator_min_step_pct": 0.5,  # positioner dead band / quantisation
    "actuator_min_pulse_s": 0.2,  # 3-point start delay: shorter pulses are lost
    "actuator_three_point": 0.0,  # 1.0: driven by valve_open/close_pulse_s, else by valve_cmd_pct
    # plate heat exchanger (§1.2 [I] design point, Modelica Buildings UA(flow) [V])
    "hx_ua_design_kw_k": 292.0,
    "hx_fouling": 0.95,
    "hx_flow_exponent": 0.7,
    "hx_design_primary_m3h": 73.0,
    "hx_design_secondary_m3h": 155.0,
    "hx_tau_s": 30.0,
    "hx_dead_time_s": 10.0,
    # sensors (§1.9)
    "sensor_tau_supply_s": 20.0,
    "sensor_tau_outdoor_s": 600.0,
    "sensor_tau_room_s": 600.0,
    "sensor_noise_k": 0.05,
    "sensor_noise_kpa": 1.0,
    "room_sensor_bias_k": 0.3,
    # integration
    "building_step_s": 60.0,
    "max_fast_step_s": 1.0,
    # initial state
    "initial_room_c": 20.0,
    "initial_supply_c": 55.0,
    "initial_valve_pct": 30.0,
    # 1.0: the pre-season state (the season benchmark's season-start phase): every group's air
    # and envelope mass, the emitters and the network water at initial_room_c, the valve shut, no
    # emitter heat; pumps running (fill and cold circulation done). 0.0: found heating, as above.
    "initial_preseason": 0.0,
    "water_rho_cp_kj_m3k": 4080.0,  # water at about 70 degC: 977 kg/m3 x 4.19 kJ/kgK
}

# Each building group: share of floor area, heat-loss multiplier, radiator-to-load ratio
# relative to the design oversizing, flow share multiplier (imbalance), secondary supply
# delay at design flow (s, §1.5: 2-15 min), emitter kind and solar exposure.
# The mismatch spread follows §1.11 (lognormal sigma 0.15 of radiator-vs-loss); the three
# critical classes (cold edge, top floor, ground floor, §1.4: h x1.5-2 for corner/top,
# 119.6 % spread between positions [V]) get radiators sized for the ordinary flats.
GROUPS: list[dict[str, Any]] = [
    {"name": "block-01", "area_share": 0.10, "h_mult": 1.00, "rad_mult": 1.12, "flow_mult": 1.05, "delay_s": 150.0, "kind": "radiator", "solar": 1.0},
    {"name": "block-02", "area_share": 0.09, "h_mult": 0.97, "rad_mult": 0.95, "flow_mult": 1.00, "delay_s": 240.0, "kind": "radiator", "solar": 1.1},
    {"name": "block-03", "area_share": 0.09, "h_mult": 1.02, "rad_mult": 1.20, "flow_mult": 1.10, "delay_s": 300.0, "kind": "radiator", "solar": 0.9},
    {"name": "block-04", "area_share": 0.09, "h_mult": 1.00, "rad_mult": 0.88, "flow_mult": 0.95, "delay_s": 360.0, "kind": "radiator", "solar": 1.0},
    {"name": "block-05", "area_share": 0.08, "h_mult": 0.95, "rad_mult": 1.05, "flow_mult": 1.00, "delay_s": 420.0, "kind": "radiator", "solar": 1.2},
    {"name": "block-06", "area_share": 0.08, "h_mult": 1.05, "rad_mult": 0.92, "flow_mult": 0.90, "delay_s": 480.0, "kind": "radiator", "solar": 0.8},
    {"name": "block-07", "area_share": 0.08, "h_mult": 1.00, "rad_mult": 1.00, "flow_mult": 1.00, "delay_s": 540.0, "kind": "radiator", "solar": 1.0},
    {"name": "block-08", "area_share": 0.08, "h_mult": 0.98, "rad_mult": 1.10, "flow_mult": 0.85, "delay_s": 660.0, "kind": "radiator", "solar": 1.0},
    {"name": "floor-heated-09", "area_share": 0.08, "h_mult": 0.75, "rad_mult": 1.00, "flow_mult": 0.80, "delay_s": 600.0, "kind": "floor", "solar": 1.0},
    {"name": "cold-edge", "area_share": 0.05, "h_mult": 1.50, "rad_mult": 0.72, "flow_mult": 0.85, "delay_s": 840.0, "kind": "radiator", "solar": 0.6},
    {"name": "top-floor", "area_share": 0.05, "h_mult": 1.35, "rad_mult": 0.78, "flow_mult": 0.95, "delay_s": 720.0, "kind": "radiator", "solar": 1.0},
    {"name": "ground-floor", "area_share": 0.05, "h_mult": 1.25, "rad_mult": 0.82, "flow_mult": 0.90, "delay_s": 780.0, "kind": "radiator", "solar": 0.7},
    {"name": "block-13", "area_share": 0.08, "h_mult": 1.02, "rad_mult": 1.15, "flow_mult": 1.15, "delay_s": 200.0, "kind": "radiator", "solar": 1.0},
]

# Secondary network with one balancing valve per building group (opt-in: `secondary_network`).
# The valves follow a motorised characterised (equal-percentage) valve with a Modbus actuator,
# as Belimo's Energy Valve (EV..R2+.. family, characterised control valve with flow and
# supply/return temperature sensing, Modbus/MP-Bus) is used for building-level balancing; the
# Modbus actuator registers (setpoint and relative position 0..10000 = 0..100 %) are in
# reference/vendor_devices.md. Values below are [R]/[I] unless marked.
SECONDARY_NETWORK: dict[str, float] = {
    # share of the design pump head lost in the station and common mains (exchanger, strainer,
    # headers) before the branches split [I]; the rest is across the branches
    "header_share": 0.4,
    # valve share of its branch's dp at design flow, fully open: sizing for authority >= 0.5
    # (plant_physics.md §1.7 [V], TAC guide)
    "valve_authority": 0.5,
    # equal-percentage Kv/Kvs = R^(h-1) (§1.7 [V]); R 30 as the station valve (makers claim 50,
    # installed about 10 [V]); closes linearly below delta (Modelica equalPercentage [V])
    "valve_rangeability": 30.0,
    "valve_linear_below_pct": 2.0,
    # motor running time for the full stroke: Belimo rotary valve actuators are specified with
    # 90 s [R]; the Siemens/Danfoss figures of §1.8 span 30-180 s [V]
    "valve_run_time_s": 90.0,
    "valve_min_step_pct": 0.5,  # positioner dead band, as the station valve's actuator
    "initial_valve_pct": 100.0,  # balancing valves found fully open: today's (unbalanced) split
}

SECONDARY_RANGES: dict[str, tuple[float, float]] = {
    "header_share": (0.0, 0.95),
    "valve_authority": (0.05, 0.95),
    "valve_rangeability": (5.0, 500.0),
    "valve_linear_below_pct": (0.1, 20.0),
    "valve_run_time_s": (5.0, 600.0),
    "valve_min_step_pct": (0.0, 5.0),
    "initial_valve_pct": (0.0, 100.0),
}
BRANCH_KEYS = ("branch_kv", "valve_kvs")  # per group, m3/h at 1 bar (dp_bar = (q/kv)^2)

# Collectors sample the coldest flats: per group, collector offsets (K) of the sampled flat
# relative to the group's mean air temperature (representative-point method, §1.9 [V]).
COLLECTOR_OFFSETS_K: tuple[float, ...] = (-0.3, 0.0)

RANGES: dict[str, tuple[float, float]] = {
    "floor_area_m2": (1000.0, 2.0e6),
    "h_tot_w_m2k": (0.2, 3.0),
    "c_air_kj_m2k": (3.0, 100.0),
    "c_mass_kj_m2k": (20.0, 1000.0),
    "radiator_exponent": (1.0, 1.5),
    "valve_rangeability": (5.0, 200.0),
    "valve_authority": (0.05, 1.0),
    "actuator_run_time_s": (5.0, 600.0),
    "building_step_s": (10.0, 600.0),
    "max_fast_step_s": (0.05, 5.0),
    "primary_dp_kpa": (0.0, 1000.0),
    "secondary_volume_m3": (1.0, 2000.0),
    "hx_tau_s": (1.0, 600.0),
    "initial_preseason": (0.0, 1.0),
}


def build(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge overrides into DEFAULTS and validate; raises ValueError listing every problem."""
    merged: dict[str, Any] = dict(DEFAULTS)
    merged["groups"] = [dict(g) for g in GROUPS]
    problems: list[str] = []
    for key, value in (params or {}).items():
        if key == "groups":
            if not isinstance(value, list) or not value:
                problems.append("groups=%r: must be a non-empty list of group dicts" % (value,))
                continue
            merged["groups"] = [dict(g) for g in value]
            continue
        if key == "secondary_network":
            merged["secondary_network"] = _secondary_network(value, problems)
            continue
        if key not in DEFAULTS:
            problems.append("%s=%r: unknown plant parameter" % (key, value))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append("%s=%r: must be a finite number" % (key, value))
            continue
        lo, hi = RANGES.get(key, (-1e9, 1e9))
        if not lo <= value <= hi:
            problems.append("%s=%r: must be in [%g, %g]" % (key, value, lo, hi))
            continue
        merged[key] = float(value)
    for i, group in enumerate(merged["groups"]):
        for key, lo, hi in (("area_share", 1e-4, 1.0), ("h_mult", 0.1, 5.0), ("rad_mult", 0.1, 5.0),
                            ("flow_mult", 0.05, 5.0), ("delay_s", 0.0, 7200.0), ("solar", 0.0, 5.0)):
            value = group.get(key)
            if not isinstance(value, (int, float)) or not lo <= value <= hi:
                problems.append("groups[%d].%s=%r: must be in [%g, %g]" % (i, key, value, lo, hi))
        if group.get("kind") not in ("radiator", "floor"):
            problems.append("groups[%d].kind=%r: must be 'radiator' or 'floor'" % (i, group.get("kind")))
        if not isinstance(group.get("name"), str) or not group.get("name"):
            problems.append("groups[%d].name=%r: must be a non-empty string" % (i, group.get("name")))
        for key in BRANCH_KEYS:
            if key not in group:
                continue
            value = group[key]
            if "secondary_network" not in merged:
                problems.append("groups[%d].%s=%r: a branch setting needs the secondary_network parameter"
                                % (i, key, value))
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.01 <= value <= 10000.0:
                problems.append("groups[%d].%s=%r: must be a Kv in [0.01, 10000] m3/h at 1 bar" % (i, key, value))
    if problems:
        raise ValueError("bad plant parameters:\n  " + "\n  ".join(problems))
    total = sum(g["area_share"] for g in merged["groups"])
    for g in merged["groups"]:
        g["area_share"] = g["area_share"] / total
    return merged


def _secondary_network(value: Any, problems: list[str]) -> dict[str, float]:
    """SECONDARY_NETWORK with the overrides in `value` (a dict); problems are appended."""
    result = dict(SECONDARY_NETWORK)
    if not isinstance(value, dict):
        problems.append("secondary_network=%r: must be a dict of %s" % (value, ", ".join(SECONDARY_NETWORK)))
        return result
    for key, item in value.items():
        if key not in SECONDARY_NETWORK:
            problems.append("secondary_network.%s=%r: unknown setting (known: %s)"
                            % (key, item, ", ".join(SECONDARY_NETWORK)))
            continue
        lo, hi = SECONDARY_RANGES[key]
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) \
                or not lo <= item <= hi:
            problems.append("secondary_network.%s=%r: must be a number in [%g, %g]" % (key, item, lo, hi))
            continue
        result[key] = float(item)
    return result
