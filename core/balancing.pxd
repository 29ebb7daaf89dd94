# Cython augmentation of balancing.py.
cimport cython
from .alarms cimport AlarmTable

cdef int _A_UNREACHABLE, _A_STUCK
cdef double _NO_LIMIT
cdef double _INF

# cpdef: every reading passes through it; called in C here, still importable for its test
cpdef object _number(object value)

@cython.final
cdef class Balancing:
    cdef public bint enabled, due
    cdef public double floor_c, target_c, deadband_k, period_s, gain, max_step_pct, guard_k, fast_step_pct
    cdef public double guard_period_s, floor_period_s, min_pct, min_move_pct, max_age_s, smooth_s, hold_s
    cdef public double plausible_min_c, plausible_max_c, spread_max_k, return_gain, return_deadband_k
    cdef public double fallback_min_pct, lost_s, stuck_band_pct, stuck_s, due_s, swing_gain, swing_max_pct, swing_smooth_s
    cdef public int n_groups, n_lost, n_stuck
    cdef public list groups
    cdef public dict pos, swing, sent, mode, stat, raw, fast, returns, seen_s, guard_s, collectors
    cdef public dict position, answered_s, apart_s, lost, stuck, failing
    cdef public object last_s, next_s, ref_c
    cpdef take(self, double now_s, object readings)
    @cython.locals(n=int, i=int, temp_c=double, r=list)
    cpdef take_room_temps(self, double now_s, list ids, list groups, double[:] temps)
    cpdef dict step(self, double now_s, object readings=*)
    @cython.locals(n_lost=int, n_stuck=int, lost=bint)
    cpdef _faults(self, double now_s)
    cpdef report_alarms(self, AlarmTable alarms, double now_s)
    cpdef dict commands(self)
