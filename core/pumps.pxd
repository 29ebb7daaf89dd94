# Cython augmentation of pumps.py.
cimport cython
from .alarms cimport AlarmTable
from .sensors cimport SignalQuality

cdef int _I_PUMP1_FAULT, _I_PUMP1_RUNNING, _I_PUMP2_FAULT, _I_PUMP2_RUNNING, _I_SECONDARY_RETURN_PRESSURE, _I_SECONDARY_SUPPLY_PRESSURE
cdef int _A_PUMP1_FAULT, _A_PUMP2_FAULT, _A_PUMP_DRY_RUN, _A_PUMPS_ALL_FAILED
cdef double _NO_LIMIT

@cython.final
cdef class CirculationPumps:
    cdef public double proof_s, changeover_delay_s, retry_s, all_failed_retry_s, rotate_after_s, exercise_idle_s, exercise_s
    cdef public int dp_mode
    cdef public double dp_setpoint_kpa, dp_min_kpa, design_outdoor_c, dp_proof_kpa
    cdef public double speed_min_pct, speed_max_pct, kp, ti_s, fallback_speed_pct
    cdef public double dry_run_kpa, dry_run_delay_s, dry_run_hyst_kpa, dry_run_restart_s
    # Compiled without per-access index checks: the per-pump arrays are two long (built in
    # __init__; a settings push carries them from the running CirculationPumps), and every pump
    # index is 0, 1, duty or 1 - duty; step() checks duty is 0 or 1 once, first.
    cdef public int duty, rotating_to
    cdef public double duty_since_s, start_not_before_s
    cdef public signed char[::1] run, proven, failed
    cdef public double[::1] started_s, unproven_since_s, failed_s, run_s, idle_since_s
    cdef public double[::1] exercise_until_s, speed_pct
    cdef public double speed_cmd_pct, integral_pct, dp_kpa, dp_target_kpa
    cdef public bint dp_ok, flow_proven, dry_run, want
    cdef public double dry_low_since_s, dry_ok_since_s
    cdef public double shortage_boost_kpa, shortage_valve_pct, shortage_ramp_s, boost_kpa
    cdef public bint short_of_heat
    cdef public list events
    @cython.locals(gap_k=double, step=double)
    cpdef int heat_shortage(self, double dt_s, double valve_pct, double setpoint_c, double supply_c, bint supply_ok) except -1
    cpdef double target_dp(self, double outdoor_c, bint outdoor_ok, double room_setpoint_c, double lease_kpa) except? -1
    @cython.locals(span=double, load=double)
    cpdef double mode_dp(self, double outdoor_c, bint outdoor_ok, double room_setpoint_c) except? -1
    @cython.locals(k=int)
    cpdef int step(self, double now_s, double dt_s, bint want, SignalQuality signals, double dp_target_kpa) except -1
    cdef _event(self, str reason, int pump, double now_s)
    cdef _start(self, int k, double now_s)
    cdef _stop(self, int k, double now_s)
    cdef _fail(self, int k, double now_s, str why)
    @cython.locals(proof=bint)
    cdef inline _pump_health(self, double now_s, int k, bint fault_in, bint running_ok, bint running)
    @cython.locals(duty=int, other=int)
    cdef inline _demand(self, double now_s, bint want)
    @cython.locals(k=int)
    cdef inline int _exercise(self, double now_s, bint want) except -1  # 0, or -1 with an exception set: no None to return and count
    cdef inline _dry_run(self, double now_s, bint pressure_ok, double pressure_kpa)
    @cython.locals(lo=double, hi=double, err=double, proportional_pct=double, integral=double, cmd=double, speed=double, dp_ref=double,
                   slope=double, kp=double, limit=double)
    cdef inline _speed(self, double dt_s)
    @cython.locals(failed1=bint, failed2=bint, k=int)
    cpdef int report_alarms(self, AlarmTable alarms, double now_s, SignalQuality signals, bint wanted) except -1
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, object snap, double now_s)
