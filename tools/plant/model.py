# cython: cpow=True, cdivision=True, wraparound=False, boundscheck=False, initializedcheck=False
# (compiled: no per-access index checks. Every per-group array has n_groups entries and every
# history ring HIST_N from __init__, loops stay below those, ring indices are taken modulo
# HIST_N; the entry points that take arrays from outside (fill_image, collector_temps) and the
# weather year (set after __init__) are checked for length first.)
"""The plant's numerical core: hydraulics, heat exchanger, network and buildings.

Two time scales (plant_physics.md §1.1): the fast part (actuator, valve, pumps, plate heat
exchanger, sensor lags, make-up water) steps at the control period (<= 1 s); the slow part
(transport delay, radiators, 2R2C building groups, weather) steps at `building_step_s`
(60 s) with the building matrices discretised exactly (zero-order hold, matrix exponential).
Compiled by Cython from this unchanged source (model.pxd); every number here is a plain
double so the compiled loop stays in C.

Invariants: temperatures in degC, flows in m3/h, heat in kW, energy in kWh, positions as
fractions 0..1 internally (percent at the API). Nothing here allocates per fast step.

Secondary network (opt-in, `branches` = 1; see plant.py): each building group hangs on its own
branch, a fixed resistance in series with a motorised balancing valve, and all branches sit in
parallel behind a common header (station pipework, exchanger). Resistances are quadratic, in
metres of head per (m3/h)^2: dp = r q^2, so a Kv (m3/h at 1 bar) is r = HEAD_PER_BAR / Kv^2.
Parallel quadratic branches see one common dp x, so q_j = x^0.5 / r_j^0.5: the network is
exactly the system curve H = (r_header + 1 / (sum_j r_j^-0.5)^2) Q^2 and the pump operating
point on it is the plant's usual one (_solve_network: closed form for one pump or two at the
same speed, a 40-step bisection on the head otherwise). Each branch then takes the share
r_j^-0.5 / sum r^-0.5 of the pump flow, so mass is conserved by construction and closing one
valve (raising its r_j) lowers its own flow and raises every other branch's. Without the
secondary network every group takes a fixed share of the pump flow (g_flow_share), as before.
"""

import math  # compiled, math.exp, math.log and math.sqrt are libm's (model.pxd cimports libc's math)
from array import array

from heatkeeper.core import signals as sg

MASK64 = 0xFFFFFFFFFFFFFFFF
XS_MULT = 2685821657736338717  # xorshift64* multiplier (a C constant when compiled)
OPEN_TEMP_C = 850.0  # Pt1000 input over-range (open circuit)
OPEN_PRESSURE_KPA = -250.0  # 4-20 mA input below 4 mA (open circuit)
HIST_N = 2048  # transport history ring (samples every HIST_STEP_S)
HIST_STEP_S = 10.0
KPA_PER_M = 9.6  # rho g for water at about 70 degC
HEAD_PER_BAR = 100.0 / KPA_PER_M  # metres of head per bar: r = HEAD_PER_BAR / Kv^2
NAN = float("nan")  # unequal to everything, itself included: a memo key that matches nothing
BIG_R = 1e30  # resistance of a branch (or network) that passes nothing: a tight-shut valve
# The instruments' image in core.signals.INPUTS order (fill_image writes it; readings() and
# process_image() are built from it, so every path draws the same noise in the same order).
N_IMAGE = len(sg.INPUTS)
IMAGE_NAMES = tuple(sg.INPUTS)


def _zeros(n):
    return array("d", [0.0] * n)


def _fraction(pct):
    """A percentage command as a fraction, clamped to [0, 1]."""
    f = float(pct) / 100.0
    if f < 0.0:
        return 0.0
    return 1.0 if f > 1.0 else f


def round_hundredths(x):
    """round(x, 2), the same float, without round()'s decimal conversion for the common case.

    round(x, 2) is the float nearest to x * 100 rounded to an integer k, over 100. Unless x * 100
    lies within 1e-7 of a half (where the rounding of x * 100 itself, at most 1.2e-10 for |x| <
    10^4, could decide which way) k is the nearest integer to the computed x * 100, and k / 100.0,
    a correctly rounded division, is that nearest float. Near halves, zero (its sign), large
    magnitudes and NaN go to round() itself.
    """
    y = x * 100.0
    a = y if y >= 0.0 else -y
    if not a < 1e6:
        return round(x, 2)
    k = int(a)
    f = a - k
    if -1e-7 <= f - 0.5 <= 1e-7:
        return round(x, 2)
    if f > 0.5:
        k += 1
    if k == 0:
        return round(x, 2)
    if y < 0.0:
        k = -k
    return k / 100.0


def round_hundredths_all(values):
    """round_hundredths of each entry of `values` (an array("d")), in place."""
    n = len(values)
    i = 0
    while i < n:
        values[i] = round_hundredths(values[i])
        i += 1


def kv_resistance(kv):
    """Resistance r (m of head per (m3/h)^2, dp = r q^2) of a Kv (m3/h at 1 bar: dp_bar = (q/Kv)^2)."""
    return HEAD_PER_BAR / (kv * kv)


def valve_kv_fraction(pos, rangeability, delta):
    """Kv/Kvs of an equal-percentage valve at stem position `pos` (0..1).

    Kv/Kvs = R^(pos - 1) (plant_physics.md §1.7 [V]); below `delta` the characteristic closes
    linearly to 0, as the Modelica Standard Library's equalPercentage(pos, rangeability, delta)
    does, so a shut valve passes nothing and the curve is continuous and increasing.
    """
    if pos >= 1.0:
        return 1.0
    if pos <= 0.0:
        return 0.0
    if pos > delta:
        return rangeability ** (pos - 1.0)
    return pos / delta * rangeability ** (delta - 1.0)


def emitter_heat(k_rad, n, c, ts, ti, lm_guess):
    """Heat (kW) of an EN 442 emitter, Q = K dT_lm^n, fed at `ts` with capacity flow `c` (kW/K).

    Water side: Q = c (ts - tr). Written as an exchanger with UA = K dT_lm^(n-1) and
    eps = 1 - exp(-UA/c); dT_lm = Q/UA is iterated from `lm_guess` (0: start at 0.7 (ts - ti)).
    The fixed point contracts fast because n - 1 is small (0.1-0.35).
    """
    dtemp = ts - ti
    if c <= 1e-9 or dtemp <= 0.01:
        return 0.0
    lm = lm_guess
    if lm <= 0.0 or lm > dtemp:
        lm = 0.7 * dtemp
    eps = 0.0
    for _k in range(6):
        ua = k_rad * math.exp((n - 1.0) * math.log(lm))  # lm ** (n - 1), a third of pow()'s cost
        ntu = ua / c
        eps = 1.0 - math.exp(-ntu)
        lm = eps * dtemp / ntu
    return eps * c * dtemp


class PlantCore:
    """State and integration of the station and its buildings (see module docstring)."""

    def __init__(self, n_groups, seed):
        self.n_groups = n_groups
        self.rng_state = (int(seed) * 2654435761 + 88172645463325252) & MASK64
        if self.rng_state == 0:
            self.rng_state = 88172645463325252
        self.time_s = 0.0
        self.slow_acc_s = 0.0
        self.hist_acc_s = 0.0
        # per-group arrays
        self.g_area = _zeros(n_groups)
        self.g_ta = _zeros(n_groups)
        self.g_tm = _zeros(n_groups)
        self.g_room_meas = _zeros(n_groups)
        self.g_a11 = _zeros(n_groups)
        self.g_a12 = _zeros(n_groups)
        self.g_a21 = _zeros(n_groups)
        self.g_a22 = _zeros(n_groups)
        self.g_bo1 = _zeros(n_groups)
        self.g_bo2 = _zeros(n_groups)
        self.g_ba1 = _zeros(n_groups)
        self.g_ba2 = _zeros(n_groups)
        self.g_bm1 = _zeros(n_groups)
        self.g_bm2 = _zeros(n_groups)
        self.g_flow_share = _zeros(n_groups)
        self.g_volume = _zeros(n_groups)
        self.g_supply = _zeros(n_groups)
        self.g_return = _zeros(n_groups)
        self.g_k_rad = _zeros(n_groups)
        self.g_exp = _zeros(n_groups)
        self.g_lmtd = _zeros(n_groups)
        self.g_q_emit = _zeros(n_groups)
        self.g_tau_emit = _zeros(n_groups)
        self.g_radiant = _zeros(n_groups)
        self.g_solar = _zeros(n_groups)
        self.g_kh_floor = _zeros(n_groups)
        self.g_kh_low = _zeros(n_groups)
        self.g_h_floor = _zeros(n_groups)
        self.g_max_deficit = _zeros(n_groups)
        # secondary network branches (used when branches = 1)
        self.branches = 0
        self.net_dirty = 0
        self.hdr_k = 0.0
        self.bv_rangeability = 30.0
        self.bv_delta = 0.02
        self.bv_run_time_s = 90.0
        self.bv_min_step = 0.0
        self.branch_g_sum = 0.0
        self.g_bv_cmd = _zeros(n_groups)
        self.g_bv_pos = _zeros(n_groups)
        self.g_bv_moving = _zeros(n_groups)
        self.g_bv_travel = _zeros(n_groups)
        self.g_bv_kvs = _zeros(n_groups)
        self.g_branch_r = _zeros(n_groups)
        self.g_branch_g = _zeros(n_groups)
        self.g_branch_flow = _zeros(n_groups)
        self.g_return_meas = _zeros(n_groups)
        self.hist_vol = _zeros(HIST_N)
        self.hist_temp = _zeros(HIST_N)
        self.ret_vol = _zeros(HIST_N)
        self.ret_temp = _zeros(HIST_N)
        self.hist_head = 0
        self.ret_head = 0
        self.weather_temp = _zeros(1)
        self.weather_ghi = _zeros(1)
        self.n_hours = 1
        # scalar parameters (set by the Plant from params)
        self.rho_cp = 4080.0
        self.building_step_s = 60.0
        self.max_fast_step_s = 1.0
        self.floor_c = 18.0
        self.low_c = 18.0
        self.internal_gain = 3.8
        self.solar_aperture = 0.03
        self.mixing_tau_s = 300.0
        self.return_volume = 30.0
        self.run_time_s = 120.0
        self.backlash = 0.005
        self.min_step = 0.005
        self.min_pulse_s = 0.2
        self.three_point = 0
        self.kvs = 110.0
        self.rangeability = 30.0
        self.k_rest = 110.0
        self.leakage = 0.0005
        self.ua_design = 292.0
        self.hx_n = 0.7
        self.hx_v1_design = 73.0
        self.hx_v2_design = 155.0
        self.hx_tau_s = 30.0
        self.hx_dead_s = 10.0
        self.pump_h0 = 42.0
        self.pump_a = 1.0
        self.sys_k = 1.0
        self.pump_eff = 0.72
        self.pump_min = 0.3
        self.pump_ramp = 0.05
        self.pump_start_delay_s = 2.0
        self.static_kpa = 250.0
        self.stiffness = 400.0
        self.makeup_flow = 3.0
        self.makeup_max_kpa = 600.0
        self.tank_volume = 10.0
        self.tank_refill = 1.0
        self.tank_refill_below = 0.6
        self.tank_refill_above = 0.9
        self.relief_flow = 6.0
        self.primary_design_c = 110.0
        self.primary_min_c = 70.0
        self.design_outdoor_c = -33.0
        self.primary_p_kpa = 600.0
        self.dp_nominal = 100.0
        self.dp_variation = 0.15
        self.tau_supply_s = 20.0
        self.tau_outdoor_s = 600.0
        self.tau_room_s = 600.0
        self.noise_k = 0.05
        self.noise_kpa = 1.0
        # actuator
        self.motor = 0.3
        self.stem = 0.3
        self.valve_cmd = 0.3
        self.positioning = 0
        self.pulse_open_s = 0.0
        self.pulse_close_s = 0.0
        self.stuck = 0
        self.valve_travel = 0.0
        # pumps
        self.run_cmd1 = 1
        self.run_cmd2 = 0
        self.speed_cmd1 = 1.0
        self.speed_cmd2 = 1.0
        self.speed1 = 0.0
        self.speed2 = 0.0
        self.start_timer1 = 0.0
        self.start_timer2 = 0.0
        self.running1 = 0
        self.running2 = 0
        self.fault1 = 0
        self.fault2 = 0
        self.solved_speed1 = -1.0
        self.solved_speed2 = -1.0
        self.flow2 = 0.0
        self.head_m = 0.0
        self.pump_power_kw = 0.0
        self.pump_energy_kwh = 0.0
        # primary and heat exchanger
        self.tp_in = 90.0
        self.tp_comp_c = 90.0
        self.dp_kpa = 100.0
        self.dp_z = 0.0
        self.primary_drop_k = 0.0
        self.primary_drop_end_s = -1.0
        self.flow1 = 0.0
        self.ts_hx = 55.0
        self.tp_ret_hx = 50.0
        self.ts_station = 55.0
        self.tr_station = 45.0
        self.q_sec_kw = 0.0
        self.q_meter_kw = 0.0
        self.heat_kwh = 0.0
        self.meter_kwh = 0.0
        # weather and disturbances
        self.outdoor_c = 0.0
        self.ghi = 0.0
        self.snap_k = 0.0
        self.snap_end_s = -1.0
        # sensors (lagged true values)
        self.m_ts = 55.0
        self.m_tr = 45.0
        self.m_tp_in = 90.0
        self.m_tp_ret = 50.0
        self.m_outdoor = 0.0
        # make-up water
        self.water_missing_m3 = 0.0
        self.tank_m3 = 8.0
        self.tank_refilling = 0
        self.makeup_cmd = 0
        self.makeup_speed = 1.0
        self.makeup_fault = 0
        self.makeup_running = 0
        self.makeup_m3 = 0.0
        self.leak_m3h = 0.0
        self.relief_open = 0
        self.cum_vol = 0.0
        # _primary_and_hx's powers with the arguments they were taken of (NaN: none yet)
        self.memo_stem_x = self.memo_stem_base = self.memo_stem_pow = NAN
        self.memo_v1_x = self.memo_v1 = NAN
        self.memo_f1 = self.memo_f1_n = self.memo_f1_pow = NAN
        # _slow's and _disturbances' exponentials (their exponent only changes with the step
        # length or a time constant): kept with the exponent they were taken of
        self.memo_mix_x = self.memo_mix_pow = NAN
        self.memo_emit_x = array("d", [NAN] * n_groups)
        self.memo_emit_pow = _zeros(n_groups)
        self.memo_phi_x = self.memo_phi = self.memo_phi_root = NAN
        self.open_sensors = set()  # type: set
        self.image_values = _zeros(N_IMAGE)
        self.image_oks = array("b", [1] * N_IMAGE)
        self.bound_values = self.image_values  # fill_bound()'s arrays (bind_image)
        self.bound_oks = self.image_oks

    # --- random numbers: xorshift64*, identical compiled and interpreted -----------------
    def uniform(self):
        """A uniform number in [0, 1) from the plant's own generator."""
        return self._u()

    def gauss(self):
        """An approximately normal number (mean 0, sigma 1): Irwin-Hall with 4 terms."""
        return self._g()

    def quant(self, value, step):
        """`value` rounded to the instrument's resolution `step`."""
        return self._q(value, step)

    def static_pressure_kpa(self):
        """Pressure held at the circulation pump suction (expansion vessel stiffness)."""
        return self._p_static()

    def _u(self):
        x = self.rng_state
        x ^= (x >> 12)
        x ^= (x << 25) & MASK64
        x ^= (x >> 27)
        self.rng_state = x
        y = (x * XS_MULT) & MASK64
        return (y >> 11) * (1.0 / 9007199254740992.0)

    def _g(self):
        # _u() four times over, written out: one load and one store of the state per number
        # (the same draws in the same order, so the same figures as four calls). The four
        # 53-bit draws are summed in units of 2^-53 and scaled once: scaling by a power of two
        # is exact and commutes with rounding, and the first two add exactly as integers
        # (below 2^54, rounded once on conversion as the float addition rounds), so the sum
        # is the sum of the four uniforms to the last bit.
        x = self.rng_state
        x ^= (x >> 12)
        x ^= (x << 25) & MASK64
        x ^= (x >> 27)
        s = ((x * XS_MULT) & MASK64) >> 11
        x ^= (x >> 12)
        x ^= (x << 25) & MASK64
        x ^= (x >> 27)
        s += ((x * XS_MULT) & MASK64) >> 11
        u = float(s)
        x ^= (x >> 12)
        x ^= (x << 25) & MASK64
        x ^= (x >> 27)
        s = ((x * XS_MULT) & MASK64) >> 11
        u += s
        x ^= (x >> 12)
        x ^= (x << 25) & MASK64
        x ^= (x >> 27)
        s = ((x * XS_MULT) & MASK64) >> 11
        self.rng_state = x
        u += s
        return (u * (1.0 / 9007199254740992.0) - 2.0) * 1.7320508075688772

    def apply(self, actuators):
        """Take actuator commands (keys of core.signals.ACTUATORS; a missing key keeps its value).

        valve_cmd_pct drives a positioner; valve_open/close_pulse_s drive a 3-point actuator
        (used when the plant is built with actuator_three_point = 1): each pulse runs the motor
        for its length minus the start delay, so pulses shorter than the delay are lost.
        """
        get = actuators.get
        v = get(sg.VALVE_CMD_PCT)
        if v is not None:
            self.valve_cmd = _fraction(v)
        v = get(sg.VALVE_OPEN_PULSE_S)
        if v:
            self.pulse_open_s = float(v) - self.min_pulse_s if float(v) > self.min_pulse_s else 0.0
            self.pulse_close_s = 0.0
        v = get(sg.VALVE_CLOSE_PULSE_S)
        if v:
            self.pulse_close_s = float(v) - self.min_pulse_s if float(v) > self.min_pulse_s else 0.0
            self.pulse_open_s = 0.0
        v = get(sg.PUMP1_RUN)
        if v is not None:
            self.run_cmd1 = 1 if v else 0
        v = get(sg.PUMP1_SPEED_CMD_PCT)
        if v is not None:
            self.speed_cmd1 = _fraction(v)
        v = get(sg.PUMP2_RUN)
        if v is not None:
            self.run_cmd2 = 1 if v else 0
        v = get(sg.PUMP2_SPEED_CMD_PCT)
        if v is not None:
            self.speed_cmd2 = _fraction(v)
        v = get(sg.MAKEUP_PUMP_RUN)
        if v is not None:
            self.makeup_cmd = 1 if v else 0
        v = get(sg.MAKEUP_PUMP_SPEED_CMD_PCT)
        if v is not None:
            self.makeup_speed = _fraction(v)
        v = get(sg.RELIEF_VALVE_OPEN)
        if v is not None:
            self.relief_open = 1 if v else 0

    def set_actuators(self, valve_cmd_pct, valve_open_pulse_s, valve_close_pulse_s, pump1_run, pump1_speed_cmd_pct,
                      pump2_run, pump2_speed_cmd_pct, makeup_pump_run, makeup_pump_speed_cmd_pct, relief_valve_open):
        """apply() with every actuator given as a number (no dict): the compiled season loop's path."""
        self.valve_cmd = _fraction(valve_cmd_pct)
        if valve_open_pulse_s:
            self.pulse_open_s = valve_open_pulse_s - self.min_pulse_s if valve_open_pulse_s > self.min_pulse_s else 0.0
            self.pulse_close_s = 0.0
        if valve_close_pulse_s:
            self.pulse_close_s = valve_close_pulse_s - self.min_pulse_s if valve_close_pulse_s > self.min_pulse_s else 0.0
            self.pulse_open_s = 0.0
        self.run_cmd1 = 1 if pump1_run else 0
        self.speed_cmd1 = _fraction(pump1_speed_cmd_pct)
        self.run_cmd2 = 1 if pump2_run else 0
        self.speed_cmd2 = _fraction(pump2_speed_cmd_pct)
        self.makeup_cmd = 1 if makeup_pump_run else 0
        self.makeup_speed = _fraction(makeup_pump_speed_cmd_pct)
        self.relief_open = 1 if relief_valve_open else 0

    def collector_temps(self, offsets_k, bias_k, window_k, out):
        """The room collectors' readings before rounding into `out`, group by group and in each
        group collector by collector: the group's measured air (plus `window_k[j]` when
        `window_k` is not empty: open windows), plus the collector's offset and bias, plus its
        noise, drawn in that order (tools/plant/plant.py collector_readings)."""
        n = len(offsets_k)
        windows = len(window_k) > 0
        if len(bias_k) < self.n_groups * n or len(out) < self.n_groups * n or (windows and len(window_k) < self.n_groups):
            raise IndexError("collector_temps: bias_k and out need %d entries (groups x offsets), window_k %d or none; "
                             "got %d, %d and %d" % (self.n_groups * n, self.n_groups, len(bias_k), len(out), len(window_k)))
        i = 0
        for j in range(self.n_groups):
            base = self.g_room_meas[j]
            if windows:
                base += window_k[j]
            for k in range(n):
                out[i] = base + offsets_k[k] + bias_k[i] + self.noise_k * self._g()
                i += 1

    # --- what the station's instruments show ----------------------------------------------
    def _q(self, value, step):
        q = value / step
        if q >= 0.0:
            n = int(q + 0.5)
        else:
            n = int(0.5 - q)
            n = -n
        return n * step

    def fill_image(self, values, oks):
        """The instruments' readings (sensor lags, noise, resolution) into `values`, in
        core.signals.INPUTS order; `oks[i]` is 0 for an open-circuit sensor, else 1."""
        if len(values) < N_IMAGE or len(oks) < N_IMAGE:
            raise IndexError("fill_image: values and oks need %d entries (core.signals.INPUTS order), got %d and %d"
                             % (N_IMAGE, len(values), len(oks)))
        kept_values = self.bound_values  # the loop's binding stays as it was
        kept_oks = self.bound_oks
        self.bound_values = values
        self.bound_oks = oks
        try:
            self.fill_bound()
        finally:
            self.bound_values = kept_values
            self.bound_oks = kept_oks

    def bind_image(self, values, oks):
        """Keep `values` and `oks` (fill_image's arrays, core.signals.INPUTS order) for
        fill_bound(): a loop that refills the same two arrays each cycle hands them over once."""
        if len(values) < N_IMAGE or len(oks) < N_IMAGE:
            raise IndexError("bind_image: values and oks need %d entries (core.signals.INPUTS order), got %d and %d"
                             % (N_IMAGE, len(values), len(oks)))
        self.bound_values = values
        self.bound_oks = oks

    def fill_bound(self):
        """fill_image() on the arrays given to bind_image() (the plant's own image arrays until then)."""
        nk = self.noise_k
        npa = self.noise_kpa
        p_static = self._p_static()
        sec_sup = p_static + self.head_m * KPA_PER_M + npa * self._g()
        sec_ret = p_static + npa * self._g()
        self.bound_values[0] = self._q(self.m_outdoor + nk * self._g(), 0.01)
        self.bound_values[1] = self._q(self.m_tp_in + nk * self._g(), 0.01)
        self.bound_values[2] = self._q(self.m_tp_ret + nk * self._g(), 0.01)
        self.bound_values[3] = self._q(self.primary_p_kpa + npa * self._g(), 0.1)
        self.bound_values[4] = self._q(self.primary_p_kpa - self.dp_kpa + npa * self._g(), 0.1)
        self.bound_values[5] = self._q(self.m_ts + nk * self._g(), 0.01)
        self.bound_values[6] = self._q(self.m_tr + nk * self._g(), 0.01)
        self.bound_values[7] = self._q(sec_sup if sec_sup > 0.0 else 0.0, 0.1)
        self.bound_values[8] = self._q(sec_ret if sec_ret > 0.0 else 0.0, 0.1)
        self.bound_values[9] = self._q(self.stem * 100.0, 0.1)
        self.bound_values[10] = self._q(self.q_meter_kw, 0.1)
        self.bound_values[11] = self._q(self.flow1, 0.01)
        kwh = int(self.meter_kwh)  # the meter's register counts whole kWh
        self.bound_values[12] = float(kwh)
        self.bound_values[13] = float(self.running1)
        self.bound_values[14] = float(self.fault1)
        self.bound_values[15] = self._q(self.speed1 * 100.0, 0.1)
        self.bound_values[16] = float(self.running2)
        self.bound_values[17] = float(self.fault2)
        self.bound_values[18] = self._q(self.speed2 * 100.0, 0.1)
        self.bound_values[19] = float(self.makeup_running)
        self.bound_values[20] = float(self.makeup_fault)
        self.bound_values[21] = self._q(self.makeup_m3, 0.001)
        self.bound_values[22] = self._q(100.0 * self.tank_m3 / self.tank_volume, 0.1)
        self.bound_values[23] = self._q(self.pump_energy_kwh, 0.01)  # the electricity meter: the circulation pumps' energy
        self._all_ok(self.bound_oks)
        if self.open_sensors:
            self._open_circuits(self.bound_values, self.bound_oks)

    def _all_ok(self, oks):
        n = N_IMAGE  # a local bound: the byte stores below cannot change it (one fill, no reload per byte)
        i = 0
        while i < n:
            oks[i] = 1
            i += 1

    def _open_circuits(self, values, oks):
        for name in self.open_sensors:
            i = IMAGE_NAMES.index(name)
            values[i] = OPEN_TEMP_C if name.endswith("_temp_c") else OPEN_PRESSURE_KPA
            oks[i] = 0

    def readings(self):
        """True sensor and meter values (sensor lags, noise, resolution), keyed by core.signals names."""
        values = self.image_values
        self.fill_image(values, self.image_oks)
        out = {}  # type: dict
        i = 0
        while i < N_IMAGE:
            out[IMAGE_NAMES[i]] = values[i]
            i += 1
        return out

    def process_image(self):
        """readings() as a core input image {"now_s": time_s, name: (value, ok)}; open sensors not ok."""
        values = self.image_values
        oks = self.image_oks
        self.fill_image(values, oks)
        image = {"now_s": self.time_s}  # type: dict
        i = 0
        while i < N_IMAGE:
            image[IMAGE_NAMES[i]] = (values[i], oks[i] != 0)
            i += 1
        return image

    # --- fast part -------------------------------------------------------------------------
    def advance(self, dt_s):
        """Integrate `dt_s` seconds in fast steps of at most `max_fast_step_s`."""
        remaining = dt_s
        while remaining > 1e-9:
            h = remaining
            if h > self.max_fast_step_s:
                h = self.max_fast_step_s
            self.step_fast(h)
            remaining -= h

    def fast_step(self, dt):
        """One fast step of `dt` seconds (<= max_fast_step_s)."""
        self.step_fast(dt)

    def step_fast(self, dt):
        self.time_s += dt
        self._actuator(dt)
        if self.branches:
            self._branch_valves(dt)
        self._pumps(dt)
        self._primary_and_hx(dt)
        self._makeup(dt)
        # sensors: first-order lags (dt/(tau+dt) is the implicit-Euler factor: stable for any dt)
        a = dt / (self.tau_supply_s + dt)
        self.m_ts += (self.ts_station - self.m_ts) * a
        self.m_tr += (self.tr_station - self.m_tr) * a
        self.m_tp_in += (self.tp_in - self.m_tp_in) * a
        self.m_tp_ret += (self.tp_ret_hx - self.m_tp_ret) * a
        self.m_outdoor += (self.outdoor_c - self.m_outdoor) * (dt / (self.tau_outdoor_s + dt))
        # transport history in volume coordinates
        self.cum_vol += self.flow2 * dt / 3600.0
        self.hist_acc_s += dt
        if self.hist_acc_s >= HIST_STEP_S:
            self.hist_acc_s = 0.0
            self.hist_head = (self.hist_head + 1) % HIST_N
            self.hist_vol[self.hist_head] = self.cum_vol
            self.hist_temp[self.hist_head] = self.ts_station
            self.tr_station = self._lookup(self.ret_vol, self.ret_temp, self.ret_head, self.cum_vol - self.return_volume)
        self.slow_acc_s += dt
        if self.slow_acc_s >= self.building_step_s:
            self._slow(self.slow_acc_s)
            self.slow_acc_s = 0.0

    def _actuator(self, dt):
        if self.stuck:
            return
        old_motor = self.motor
        rate = dt / self.run_time_s
        if self.three_point:
            if self.pulse_open_s > 0.0:
                step = dt if dt < self.pulse_open_s else self.pulse_open_s
                self.pulse_open_s -= step
                self.motor += step / self.run_time_s
            elif self.pulse_close_s > 0.0:
                step = dt if dt < self.pulse_close_s else self.pulse_close_s
                self.pulse_close_s -= step
                self.motor -= step / self.run_time_s
        else:
            err = self.valve_cmd - self.motor
            if not self.positioning and (err > self.min_step or err < -self.min_step):
                self.positioning = 1
            if self.positioning:
                if err > rate:
                    self.motor += rate
                elif err < -rate:
                    self.motor -= rate
                else:
                    self.motor = self.valve_cmd
                    self.positioning = 0
        if self.motor < 0.0:
            self.motor = 0.0
        elif self.motor > 1.0:
            self.motor = 1.0
        if self.motor != old_motor:
            # backlash: the stem follows the motor only once the gear play is taken up
            half = 0.5 * self.backlash
            old_stem = self.stem
            if self.motor - self.stem > half:
                self.stem = self.motor - half
            elif self.stem - self.motor > half:
                self.stem = self.motor + half
            if self.motor <= 0.0:
                self.stem = 0.0  # the plug seats: end positions are reached whatever the play
            elif self.motor >= 1.0:
                self.stem = 1.0
            d = self.stem - old_stem
            self.valve_travel += d if d > 0.0 else -d

    def _pump_target(self, run_cmd, fault, speed_cmd, timer):
        """Speed the VFD ramps to: 0 when stopped, tripped or still in its start delay."""
        if not run_cmd or fault or timer < self.pump_start_delay_s:
            return 0.0
        if speed_cmd < self.pump_min:
            return self.pump_min
        if speed_cmd > 1.0:
            return 1.0
        return speed_cmd

    def _ramp(self, speed, target, step):
        if speed < target - step:
            return speed + step
        if speed > target + step:
            return speed - step
        return target

    def _pumps(self, dt):
        step = self.pump_ramp * dt
        self.start_timer1 = self.start_timer1 + dt if self.run_cmd1 and not self.fault1 else 0.0
        self.start_timer2 = self.start_timer2 + dt if self.run_cmd2 and not self.fault2 else 0.0
        self.speed1 = self._ramp(self.speed1, self._pump_target(self.run_cmd1, self.fault1, self.speed_cmd1,
                                                                self.start_timer1), step)
        self.speed2 = self._ramp(self.speed2, self._pump_target(self.run_cmd2, self.fault2, self.speed_cmd2,
                                                                self.start_timer2), step)
        if self.fault1:
            self.speed1 = 0.0  # a tripped motor stops driving at once; the water coasts in the model
        if self.fault2:
            self.speed2 = 0.0
        self.running1 = 1 if self.speed1 > 0.0 else 0
        self.running2 = 1 if self.speed2 > 0.0 else 0
        if self.speed1 != self.solved_speed1 or self.speed2 != self.solved_speed2 or self.net_dirty:
            self._solve_network()
            if self.branches:
                self._branch_flows()
        self.pump_energy_kwh += self.pump_power_kw * dt / 3600.0

    def _solve_network(self):
        """Operating point of the running pumps (parallel) on the system curve H = K Q^2."""
        n1 = self.speed1
        n2 = self.speed2
        self.solved_speed1 = n1
        self.solved_speed2 = n2
        if n1 <= 0.0 and n2 <= 0.0:
            self.flow2 = 0.0
            self.head_m = 0.0
            self.pump_power_kw = 0.0
            return
        # One pump, or two at the same speed, meet the system curve in closed form:
        # k (H0 n^2 - h) / a = h / K_sys with k = 1 or 4 pumps' flow squared.
        if n2 <= 0.0 or n1 <= 0.0 or n1 == n2:
            n = n1 if n1 > n2 else n2
            k = 4.0 if n1 == n2 else 1.0
            h = k * self.pump_h0 * n * n * self.sys_k / (self.pump_a + k * self.sys_k)
        else:
            hmax = self.pump_h0 * (n1 * n1 if n1 > n2 else n2 * n2)
            lo = 0.0
            hi = hmax
            for _k in range(40):
                h = 0.5 * (lo + hi)
                q = 0.0
                if self.pump_h0 * n1 * n1 > h:
                    q += math.sqrt((self.pump_h0 * n1 * n1 - h) / self.pump_a)
                if self.pump_h0 * n2 * n2 > h:
                    q += math.sqrt((self.pump_h0 * n2 * n2 - h) / self.pump_a)
                if q > math.sqrt(h / self.sys_k):
                    lo = h
                else:
                    hi = h
            h = 0.5 * (lo + hi)
        self.head_m = h
        self.flow2 = math.sqrt(h / self.sys_k)
        # hydraulic power / efficiency (affinity laws keep the efficiency on the parabola)
        self.pump_power_kw = self.flow2 / 3600.0 * h * KPA_PER_M / self.pump_eff

    # --- secondary network branches (branches = 1) ----------------------------------------
    def _branch_valves(self, dt):
        """Balancing valve actuators: each stem runs towards its command at 1/run time per s.

        A positioner with a dead band (bv_min_step) like the station valve's: it starts when
        the command is more than the dead band away and runs until it reaches it. Any movement
        marks the network for a new operating point."""
        rate = dt / self.bv_run_time_s
        moved = 0
        for j in range(self.n_groups):
            pos = self.g_bv_pos[j]
            err = self.g_bv_cmd[j] - pos
            if self.g_bv_moving[j] == 0.0 and (err > self.bv_min_step or err < -self.bv_min_step):
                self.g_bv_moving[j] = 1.0
            if self.g_bv_moving[j] != 0.0:
                if err > rate:
                    p_new = pos + rate
                elif err < -rate:
                    p_new = pos - rate
                else:
                    p_new = self.g_bv_cmd[j]
                    self.g_bv_moving[j] = 0.0
                if p_new != pos:
                    self.g_bv_pos[j] = p_new
                    self.g_bv_travel[j] += p_new - pos if p_new > pos else pos - p_new
                    moved = 1
        if moved:
            self._branch_resistances()

    def _branch_resistances(self):
        """Each branch's resistance (branch + valve at its position) and the network's system
        curve coefficient sys_k = r_header + 1/(sum_j r_j^-0.5)^2 (m per (m3/h)^2)."""
        g_sum = 0.0
        for j in range(self.n_groups):
            f = valve_kv_fraction(self.g_bv_pos[j], self.bv_rangeability, self.bv_delta)
            kv = self.g_bv_kvs[j] * f
            if kv > 0.0:
                r = self.g_branch_r[j] + kv_resistance(kv)
                g = r ** -0.5
            else:
                g = 0.0
            self.g_branch_g[j] = g
            g_sum += g
        self.branch_g_sum = g_sum
        if g_sum > 0.0:
            self.sys_k = self.hdr_k + 1.0 / (g_sum * g_sum)
        else:
            self.sys_k = BIG_R
        self.net_dirty = 1

    def _branch_flows(self):
        """Split the pump flow over the branches in proportion to their conductances r^-0.5."""
        for j in range(self.n_groups):
            if self.branch_g_sum > 0.0:
                self.g_branch_flow[j] = self.flow2 * (self.g_branch_g[j] / self.branch_g_sum)
            else:
                self.g_branch_flow[j] = 0.0
        self.net_dirty = 0

    def solve_branches(self):
        """Operating point and branch flows for the valve positions now (the fast step does this
        itself whenever a valve or a pump moves)."""
        self._branch_resistances()
        self._solve_network()
        self._branch_flows()

    def branch_dp_kpa(self):
        """Differential pressure across the branches (supply to return header, kPa)."""
        if self.branch_g_sum <= 0.0:
            return self.head_m * KPA_PER_M
        return (self.flow2 / self.branch_g_sum) ** 2 * KPA_PER_M

    def _primary_and_hx(self, dt):
        tp_in = self.tp_comp_c
        if self.primary_drop_k > 0.0:
            if self.primary_drop_end_s >= 0.0 and self.time_s >= self.primary_drop_end_s:
                self.primary_drop_k = 0.0
            tp_in -= self.primary_drop_k
        self.tp_in = tp_in
        # equal-percentage valve with authority: dp = (V/Kv)^2 + (V/K_rest)^2 (bar, m3/h)
        # The powers below are kept with their arguments and taken again only when an argument
        # changed (the stem moves in steps; the available dp changes once a building step):
        # the same numbers, without a pow() per fast step.
        x = self.stem - 1.0
        if x != self.memo_stem_x or self.rangeability != self.memo_stem_base:
            self.memo_stem_x = x
            self.memo_stem_base = self.rangeability
            self.memo_stem_pow = self.rangeability ** x
        kv = self.kvs * (self.memo_stem_pow + self.leakage)
        if self.stem <= 0.0:
            kv = self.kvs * self.leakage
        dp_bar = self.dp_kpa / 100.0
        v1 = 0.0
        if dp_bar > 0.0:
            x = dp_bar / (1.0 / (kv * kv) + 1.0 / (self.k_rest * self.k_rest))
            if x != self.memo_v1_x:
                self.memo_v1_x = x
                self.memo_v1 = math.sqrt(x)
            v1 = self.memo_v1
        self.flow1 = v1
        v2 = self.flow2
        t_ret = self.tr_station
        if v1 > 1e-6 and v2 > 1e-6 and tp_in > t_ret:
            c1 = v1 * self.rho_cp / 3600.0
            c2 = v2 * self.rho_cp / 3600.0
            f1 = v1 / self.hx_v1_design
            f2 = v2 / self.hx_v2_design
            # UA = 1/(1/hA1 + 1/hA2), hA_i ~ flow^n, r = 1 (Modelica Buildings HASingleFlow)
            if f1 != self.memo_f1 or self.hx_n != self.memo_f1_n:
                self.memo_f1 = f1
                self.memo_f1_n = self.hx_n
                self.memo_f1_pow = math.exp(-self.hx_n * math.log(f1))  # f1 ** -n
            ua = self.ua_design / (0.5 * self.memo_f1_pow + 0.5 * math.exp(-self.hx_n * math.log(f2)))
            cmin = c1 if c1 < c2 else c2
            cmax = c2 if c1 < c2 else c1
            cr = cmin / cmax
            ntu = ua / cmin
            if cr < 0.999:
                e = math.exp(-ntu * (1.0 - cr))
                eps = (1.0 - e) / (1.0 - cr * e)
            else:
                eps = ntu / (1.0 + ntu)
            q = eps * cmin * (tp_in - t_ret)
            ts_target = t_ret + q / c2
            tp_target = tp_in - q / c1
        elif v1 > 1e-6 and v2 <= 1e-6:
            ts_target = tp_in  # stagnant secondary side soaks up to the primary temperature
            tp_target = tp_in
        else:
            ts_target = t_ret if v2 > 1e-6 else self.ts_hx
            tp_target = self.tp_ret_hx if v1 <= 1e-6 else tp_in
        a = dt / (self.hx_tau_s + dt)
        self.ts_hx += (ts_target - self.ts_hx) * a
        self.tp_ret_hx += (tp_target - self.tp_ret_hx) * a
        self.ts_station += (self.ts_hx - self.ts_station) * (dt / (self.hx_dead_s + dt))
        if v2 > 1e-6:
            self.q_sec_kw = v2 * self.rho_cp / 3600.0 * (self.ts_hx - t_ret)
        else:
            self.q_sec_kw = 0.0
        self.q_meter_kw = v1 * self.rho_cp / 3600.0 * (tp_in - self.tp_ret_hx)
        if self.q_meter_kw < 0.0:
            self.q_meter_kw = 0.0
        self.heat_kwh += self.q_sec_kw * dt / 3600.0
        self.meter_kwh += self.q_meter_kw * dt / 3600.0

    def _makeup(self, dt):
        h = dt / 3600.0
        p = self._p_static()
        if p > 0.0:
            self.water_missing_m3 += self.leak_m3h * h
            if self.relief_open:
                self.water_missing_m3 += self.relief_flow * h
        running = 0
        if self.makeup_cmd and not self.makeup_fault:
            running = 1
            if self.tank_m3 > 0.0 and p < self.makeup_max_kpa:
                v = self.makeup_flow * self.makeup_speed * h
                if v > self.tank_m3:
                    v = self.tank_m3
                self.tank_m3 -= v
                self.water_missing_m3 -= v
                self.makeup_m3 += v
        self.makeup_running = running
        level = self.tank_m3 / self.tank_volume
        if level < self.tank_refill_below:
            self.tank_refilling = 1
        elif level > self.tank_refill_above:
            self.tank_refilling = 0
        if self.tank_refilling:
            self.tank_m3 += self.tank_refill * h
            if self.tank_m3 > self.tank_volume:
                self.tank_m3 = self.tank_volume

    def _p_static(self):
        p = self.static_kpa - self.stiffness * self.water_missing_m3
        return p if p > 0.0 else 0.0

    # --- slow part -------------------------------------------------------------------------
    def _lookup(self, vols, temps, head, target_vol):
        """Temperature of the water that passed the station when the pumped volume was `target_vol`.

        The newest sample at most `target_vol` (going back from `head`, at most HIST_N - 1
        steps), linearly interpolated with the one after it; when none is, the oldest sample.
        The pumped volume never decreases (flow >= 0, from 0) and a sample not yet written holds
        0, so going back from `head` the volumes never increase: the sample is found by
        bisection on the number of steps back (11 probes instead of a walk of up to 2047).
        """
        far = (head + 1) % HIST_N  # HIST_N - 1 steps back
        if vols[far] > target_vol:
            return temps[far]
        lo = 1
        hi = HIST_N - 1
        while lo < hi:
            mid = (lo + hi) >> 1
            if vols[(head - mid + HIST_N) % HIST_N] <= target_vol:
                hi = mid
            else:
                lo = mid + 1
        j = (head - lo + HIST_N) % HIST_N
        i = (j + 1) % HIST_N
        dv = vols[i] - vols[j]
        if dv <= 1e-12:
            return temps[i]
        w = (target_vol - vols[j]) / dv
        return temps[j] + (temps[i] - temps[j]) * w

    def slow_step(self, dt):
        """Weather, transport delay, radiators and buildings over `dt` seconds (zero-order hold)."""
        self._slow(dt)

    def _slow(self, dt):
        self._weather()
        x = -dt / self.mixing_tau_s
        if x != self.memo_mix_x:
            self.memo_mix_x = x
            self.memo_mix_pow = math.exp(x)
        mix = 1.0 - self.memo_mix_pow
        room_a = dt / (self.tau_room_s + dt)
        q_ret_sum = 0.0
        c_sum = 0.0
        for j in range(self.n_groups):
            if self.branches:
                # the branch's own flow: its pipe (volume g_volume x share) is passed at q_b, so in
                # the ring's pump-volume coordinates the delay is g_volume x flow2 x share / q_b
                qb = self.g_branch_flow[j]
                if qb > 1e-6:
                    delayed = self._lookup(self.hist_vol, self.hist_temp, self.hist_head,
                                           self.cum_vol - self.g_volume[j] * (self.flow2 * self.g_flow_share[j] / qb))
                    self.g_supply[j] += (delayed - self.g_supply[j]) * mix
                c = qb * self.rho_cp / 3600.0  # kW/K
            else:
                delayed = self._lookup(self.hist_vol, self.hist_temp, self.hist_head, self.cum_vol - self.g_volume[j])
                if self.flow2 > 1e-6:
                    self.g_supply[j] += (delayed - self.g_supply[j]) * mix
                c = self.flow2 * self.g_flow_share[j] * self.rho_cp / 3600.0  # kW/K
            ta = self.g_ta[j]
            ts = self.g_supply[j]
            q = 0.0
            tr = ts
            if c > 1e-9 and ts - ta > 0.01:
                q = emitter_heat(self.g_k_rad[j], self.g_exp[j], c, ts, ta, 0.0)
                tr = ts - q / c
            self.g_return[j] = tr
            if self.branches:  # the building's return sensor (immersion, first-order lag)
                self.g_return_meas[j] += (tr - self.g_return_meas[j]) * (dt / (self.tau_supply_s + dt))
            q_ret_sum += c * tr
            c_sum += c
            x = -dt / self.g_tau_emit[j]
            if x != self.memo_emit_x[j]:
                self.memo_emit_x[j] = x
                self.memo_emit_pow[j] = math.exp(x)
            self.g_q_emit[j] += (q - self.g_q_emit[j]) * (1.0 - self.memo_emit_pow[j])
            # per m2 inputs (W/m2): emitter heat split convective/radiant, gains split air/mass
            qe = self.g_q_emit[j] * 1000.0 / self.g_area[j]
            solar = self.solar_aperture * self.ghi * self.g_solar[j]
            qa = (1.0 - self.g_radiant[j]) * qe + 0.5 * self.internal_gain + 0.3 * solar
            qm = self.g_radiant[j] * qe + 0.5 * self.internal_gain + 0.7 * solar
            to = self.outdoor_c
            tm = self.g_tm[j]
            ta_new = self.g_a11[j] * ta + self.g_a12[j] * tm + self.g_bo1[j] * to + self.g_ba1[j] * qa + self.g_bm1[j] * qm
            tm_new = self.g_a21[j] * ta + self.g_a22[j] * tm + self.g_bo2[j] * to + self.g_ba2[j] * qa + self.g_bm2[j] * qm
            self.g_ta[j] = ta_new
            self.g_tm[j] = tm_new
            self.g_room_meas[j] += (ta_new - self.g_room_meas[j]) * room_a
            hours = dt / 3600.0
            if ta_new < self.floor_c:
                deficit = self.floor_c - ta_new
                self.g_kh_floor[j] += deficit * hours
                self.g_h_floor[j] += hours
                if deficit > self.g_max_deficit[j]:
                    self.g_max_deficit[j] = deficit
            if ta_new < self.low_c:
                self.g_kh_low[j] += (self.low_c - ta_new) * hours
        if c_sum > 1e-9:
            self.ret_head = (self.ret_head + 1) % HIST_N
            self.ret_vol[self.ret_head] = self.cum_vol
            self.ret_temp[self.ret_head] = q_ret_sum / c_sum
        self._disturbances(dt)

    def _weather(self):
        if self.n_hours < 1 or len(self.weather_temp) < self.n_hours or len(self.weather_ghi) < self.n_hours or \
                self.time_s < 0.0:
            raise IndexError("plant weather: n_hours %d, %d temperatures, %d irradiances, time %r s (>= 0)"
                             % (self.n_hours, len(self.weather_temp), len(self.weather_ghi), self.time_s))
        hour = self.time_s / 3600.0
        i = int(hour)
        frac = hour - i
        i0 = i % self.n_hours
        i1 = (i + 1) % self.n_hours
        to = self.weather_temp[i0] + (self.weather_temp[i1] - self.weather_temp[i0]) * frac
        self.ghi = self.weather_ghi[i0] + (self.weather_ghi[i1] - self.weather_ghi[i0]) * frac
        if self.snap_end_s >= 0.0:
            if self.time_s < self.snap_end_s:
                to -= self.snap_k
            else:
                self.snap_end_s = -1.0
                self.snap_k = 0.0
        self.outdoor_c = to

    def _disturbances(self, dt):
        """The heat source's own weather compensation and a slowly wandering available dp."""
        span = 5.0 - self.design_outdoor_c
        frac = (5.0 - self.m_outdoor) / span
        if frac < 0.0:
            frac = 0.0
        elif frac > 1.0:
            frac = 1.0
        target = self.primary_min_c + (self.primary_design_c - self.primary_min_c) * frac
        self.tp_comp_c += (target - self.tp_comp_c) * (dt / (6.0 * 3600.0 + dt))
        x = -dt / (6.0 * 3600.0)
        if x != self.memo_phi_x:
            self.memo_phi_x = x
            self.memo_phi = math.exp(x)
            self.memo_phi_root = math.sqrt(1.0 - self.memo_phi * self.memo_phi)
        phi = self.memo_phi
        self.dp_z = phi * self.dp_z + self.memo_phi_root * self._g()
        self.dp_kpa = self.dp_nominal * (1.0 + self.dp_variation * self.dp_z)
        if self.dp_kpa < 0.0:
            self.dp_kpa = 0.0
