# Cython augmentation of model.py (pure-Python mode): the plant core as a C-level class.
# noexcept: pure arithmetic on C doubles, nothing to raise (no exception check after each call).
import cython

# The generator's two 64-bit constants are C literals here (the same values as model.py's, which
# Python needs and C does not: a module-level assignment to them is not compiled), so the C
# compiler drops the no-op `& MASK64` and multiplies by an immediate (about ten normal draws a cycle).
cdef extern from *:
    """
    #define HEATKEEPER_PLANT_MASK64 0xFFFFFFFFFFFFFFFFULL
    #define HEATKEEPER_PLANT_XS_MULT 2685821657736338717ULL
    """
    const unsigned long long MASK64 "HEATKEEPER_PLANT_MASK64"
    const unsigned long long XS_MULT "HEATKEEPER_PLANT_XS_MULT"
cdef int HIST_N
cdef double HIST_STEP_S
cdef double KPA_PER_M
cdef double HEAD_PER_BAR
cdef double BIG_R
cdef double NAN
from libc cimport math  # math.exp, math.log, math.sqrt in model.py: C calls, as Python's math module makes them
cdef double OPEN_TEMP_C
cdef double OPEN_PRESSURE_KPA
cdef int N_IMAGE
cdef tuple IMAGE_NAMES

@cython.locals(dtemp=cython.double, lm=cython.double, eps=cython.double, ua=cython.double, ntu=cython.double,
               _k=cython.int)
@cython.locals(f=cython.double)
cdef double _fraction(double pct) noexcept

@cython.locals(y=cython.double, a=cython.double, k=cython.long, f=cython.double)
cpdef double round_hundredths(double x)
@cython.locals(n=cython.int, i=cython.int)
cpdef void round_hundredths_all(double[:] values)
cpdef double kv_resistance(double kv)
cpdef double valve_kv_fraction(double pos, double rangeability, double delta)

cpdef double emitter_heat(double k_rad, double n, double c, double ts, double ti, double lm_guess)

cdef class PlantCore:
    cdef public int n_groups
    cdef public unsigned long long rng_state
    cdef public double time_s, slow_acc_s, hist_acc_s
    cdef public double[:] g_area, g_ta, g_tm, g_room_meas
    cdef public double[:] g_a11, g_a12, g_a21, g_a22, g_bo1, g_bo2, g_ba1, g_ba2, g_bm1, g_bm2
    cdef public double[:] g_flow_share, g_volume, g_supply, g_return, g_k_rad, g_exp, g_lmtd
    cdef public double[:] g_q_emit, g_tau_emit, g_radiant, g_solar
    cdef public double[:] g_kh_floor, g_kh_low, g_h_floor, g_max_deficit
    cdef public double[:] hist_vol, hist_temp, ret_vol, ret_temp
    cdef public int branches, net_dirty
    cdef public double hdr_k, bv_rangeability, bv_delta, bv_run_time_s, bv_min_step, branch_g_sum
    cdef public double[:] g_bv_cmd, g_bv_pos, g_bv_moving, g_bv_travel, g_bv_kvs
    cdef public double[:] g_branch_r, g_branch_g, g_branch_flow, g_return_meas
    cdef public int hist_head, ret_head
    cdef public double[:] weather_temp, weather_ghi
    cdef public int n_hours
    cdef public double rho_cp, building_step_s, max_fast_step_s, floor_c, low_c
    cdef public double internal_gain, solar_aperture, mixing_tau_s, return_volume
    cdef public double run_time_s, backlash, min_step, min_pulse_s
    cdef public int three_point
    cdef public double kvs, rangeability, k_rest, leakage
    cdef public double ua_design, hx_n, hx_v1_design, hx_v2_design, hx_tau_s, hx_dead_s
    cdef public double pump_h0, pump_a, sys_k, pump_eff, pump_min, pump_ramp, pump_start_delay_s
    cdef public double static_kpa, stiffness, makeup_flow, makeup_max_kpa, tank_volume
    cdef public double tank_refill, tank_refill_below, tank_refill_above, relief_flow
    cdef public double primary_design_c, primary_min_c, design_outdoor_c, primary_p_kpa
    cdef public double dp_nominal, dp_variation
    cdef public double tau_supply_s, tau_outdoor_s, tau_room_s, noise_k, noise_kpa
    cdef public double motor, stem, valve_cmd
    cdef public int positioning
    cdef public double pulse_open_s, pulse_close_s
    cdef public int stuck
    cdef public double valve_travel
    cdef public int run_cmd1, run_cmd2
    cdef public double speed_cmd1, speed_cmd2, speed1, speed2, start_timer1, start_timer2
    cdef public int running1, running2, fault1, fault2
    cdef public double solved_speed1, solved_speed2, flow2, head_m, pump_power_kw, pump_energy_kwh
    cdef public double tp_in, tp_comp_c, dp_kpa, dp_z, primary_drop_k, primary_drop_end_s, flow1
    cdef public double ts_hx, tp_ret_hx, ts_station, tr_station, q_sec_kw, q_meter_kw, heat_kwh, meter_kwh
    cdef public double outdoor_c, ghi, snap_k, snap_end_s
    cdef public double m_ts, m_tr, m_tp_in, m_tp_ret, m_outdoor
    cdef public double water_missing_m3, tank_m3
    cdef public int tank_refilling, makeup_cmd
    cdef public double makeup_speed
    cdef public int makeup_fault, makeup_running
    cdef public double makeup_m3, leak_m3h
    cdef public int relief_open
    cdef public double cum_vol
    cdef public double memo_stem_x, memo_stem_base, memo_stem_pow, memo_v1_x, memo_v1, memo_f1, memo_f1_n, memo_f1_pow
    cdef public double memo_mix_x, memo_mix_pow, memo_phi_x, memo_phi, memo_phi_root
    cdef public double[:] memo_emit_x, memo_emit_pow
    cdef public set open_sensors  # a set: the compiled fill_image tests it without a call
    cdef public double[::1] image_values
    cdef public signed char[::1] image_oks
    cdef double[::1] bound_values  # fill_bound()'s arrays (bind_image): no copy of the two views per call
    cdef signed char[::1] bound_oks

    cpdef double uniform(self)
    cpdef double gauss(self)
    cpdef double quant(self, double value, double step)
    cpdef double static_pressure_kpa(self)
    # inline: called directly (no virtual table), so the C compiler folds them into fill_image
    @cython.locals(x=cython.ulonglong, y=cython.ulonglong)
    cdef inline double _u(self) noexcept
    @cython.locals(x=cython.ulonglong, s=cython.ulonglong, u=cython.double)
    cdef inline double _g(self) noexcept
    @cython.locals(q=cython.double, n=cython.long)
    cdef inline double _q(self, double value, double step) noexcept
    @cython.locals(p=cython.double)
    cdef inline double _p_static(self) noexcept
    cpdef void apply(self, dict actuators)
    @cython.locals(remaining=cython.double, h=cython.double)
    cpdef int advance(self, double dt_s) except -1
    cpdef void set_actuators(self, double valve_cmd_pct, double valve_open_pulse_s, double valve_close_pulse_s,
                             bint pump1_run, double pump1_speed_cmd_pct, bint pump2_run, double pump2_speed_cmd_pct,
                             bint makeup_pump_run, double makeup_pump_speed_cmd_pct, bint relief_valve_open) noexcept
    @cython.locals(n=cython.int, windows=cython.bint, i=cython.int, j=cython.int, k=cython.int, base=cython.double)
    cpdef void collector_temps(self, double[:] offsets_k, double[:] bias_k, double[:] window_k, double[:] out)
    @cython.locals(kept_values="double[::1]", kept_oks="signed char[::1]")
    cpdef void fill_image(self, double[::1] values, signed char[::1] oks)
    cpdef void bind_image(self, double[::1] values, signed char[::1] oks)
    @cython.locals(nk=cython.double, npa=cython.double, p_static=cython.double, sec_sup=cython.double,
                   sec_ret=cython.double, kwh=cython.longlong)
    cpdef int fill_bound(self) except -1
    # inline: folded into fill_bound, the view's pointer held once for the byte stores
    @cython.locals(i=cython.int, n=cython.int)
    cdef inline void _all_ok(self, signed char[::1] oks) noexcept
    @cython.locals(i=cython.int)
    cdef void _open_circuits(self, double[::1] values, signed char[::1] oks)
    @cython.locals(out=dict, values="double[::1]", i=cython.int)
    cpdef dict readings(self)
    @cython.locals(image=dict, values="double[::1]", oks="signed char[::1]", i=cython.int)
    cpdef dict process_image(self)
    cpdef void fast_step(self, double dt)
    @cython.locals(a=cython.double)
    cdef inline int step_fast(self, double dt) except -1
    @cython.locals(old_motor=cython.double, rate=cython.double, step=cython.double, err=cython.double,
                   half=cython.double, old_stem=cython.double, d=cython.double)
    cdef inline void _actuator(self, double dt) noexcept
    cdef inline double _pump_target(self, int run_cmd, int fault, double speed_cmd, double timer) noexcept
    cdef inline double _ramp(self, double speed, double target, double step) noexcept
    @cython.locals(step=cython.double)
    cdef inline void _pumps(self, double dt) noexcept
    @cython.locals(n1=cython.double, n2=cython.double, hmax=cython.double, lo=cython.double, hi=cython.double,
                   h=cython.double, q=cython.double, _k=cython.int, n=cython.double, k=cython.double)
    cdef inline void _solve_network(self) noexcept
    @cython.locals(rate=cython.double, moved=cython.int, j=cython.int, pos=cython.double, err=cython.double,
                   p_new=cython.double)
    cdef void _branch_valves(self, double dt) noexcept
    @cython.locals(g_sum=cython.double, j=cython.int, f=cython.double, kv=cython.double, r=cython.double,
                   g=cython.double)
    cdef void _branch_resistances(self) noexcept
    @cython.locals(j=cython.int)
    cdef void _branch_flows(self) noexcept
    cpdef void solve_branches(self)
    cpdef double branch_dp_kpa(self)
    @cython.locals(tp_in=cython.double, kv=cython.double, dp_bar=cython.double, v1=cython.double, v2=cython.double,
                   t_ret=cython.double, c1=cython.double, c2=cython.double, f1=cython.double, f2=cython.double,
                   ua=cython.double, cmin=cython.double, cmax=cython.double, cr=cython.double, ntu=cython.double,
                   e=cython.double, eps=cython.double, q=cython.double, ts_target=cython.double,
                   tp_target=cython.double, a=cython.double, x=cython.double)
    cdef inline void _primary_and_hx(self, double dt) noexcept
    @cython.locals(h=cython.double, p=cython.double, running=cython.int, v=cython.double, level=cython.double)
    cdef inline void _makeup(self, double dt) noexcept
    @cython.locals(i=cython.int, j=cython.int, far=cython.int, lo=cython.int, hi=cython.int, mid=cython.int,
                   dv=cython.double, w=cython.double)
    cdef double _lookup(self, double[:] vols, double[:] temps, int head, double target_vol)
    @cython.locals(mix=cython.double, room_a=cython.double, q_ret_sum=cython.double, c_sum=cython.double,
                   j=cython.int, _k=cython.int, delayed=cython.double, ta=cython.double, ts=cython.double,
                   c=cython.double, q=cython.double, tr=cython.double, dtemp=cython.double, lm=cython.double,
                   eps=cython.double, ua=cython.double, ntu=cython.double, qe=cython.double, solar=cython.double,
                   qa=cython.double, qm=cython.double, to=cython.double, tm=cython.double, ta_new=cython.double,
                   tm_new=cython.double, hours=cython.double, deficit=cython.double, qb=cython.double, x=cython.double)
    cdef void _slow(self, double dt)
    cpdef void slow_step(self, double dt)
    @cython.locals(hour=cython.double, i=cython.int, frac=cython.double, i0=cython.int, i1=cython.int,
                   to=cython.double)
    cdef void _weather(self)
    @cython.locals(span=cython.double, frac=cython.double, target=cython.double, phi=cython.double, x=cython.double)
    cdef void _disturbances(self, double dt)
