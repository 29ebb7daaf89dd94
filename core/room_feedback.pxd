# Cython augmentation of room_feedback.py.
cimport cython
from .outdoor cimport lag_step
from .units cimport clamp

@cython.final
cdef class RoomFeedback:
    cdef public bint enabled, by_group, scale_with_load
    cdef public double min_lift_k, lift_k, trend_horizon_s, trend_tau_s, trend_k_per_s, trend_low_c, trend_s
    cdef public double outlier_k, raise_factor
    cdef public double useful_min_k, shortage_margin_k, shortage_hold_s, short_until_s, margin_k
    cdef public double floor_release_k
    cdef public double target_c, floor_c, percentile, max_age_s, plausible_min_c, plausible_max_c
    cdef public double rate_per_k_s, deadband_k, trim_min_k, trim_max_k, decay_s
    cdef public dict readings
    cdef public double trim_k, low_c, next_check_s, lag_dt_s, lag_gain
    cdef public int n_fresh, n_ignored, n_below_floor, rejected, n_groups, n_outliers
    cpdef set_readings(self, object readings, double now_s)
    @cython.locals(n=int, i=int)
    cpdef set_temps(self, list ids, list groups, double[:] temps, double now_s)
    @cython.locals(r=list)
    cdef _keep(self, object cid, double temp_c, double age_s, object group, double now_s)
    @cython.locals(temps=list, groups=dict, members=list, ignored=int, below=int, next_check=double, dead=list, temp_c=double,
                   at_s=double, expiry_s=double, n=int, k=int, r=list)
    cpdef evaluate(self, double now_s)
    @cython.locals(low_c=double, low_n=int, second_c=double, members=list, n=int, value=double)
    cpdef double coldest_group_c(self, dict groups)
    @cython.locals(dt_s=double, raw=double)
    cpdef update_trend(self, double now_s)
    @cython.locals(trim=double)
    cpdef follow_load(self, double lift_k)
    cpdef bint holds_heating(self, double now_s, bint holding)
    cpdef note_shortage(self, double now_s)
    @cython.locals(err_k=double, trim=double, rate=double)
    cpdef double step(self, double now_s, double dt_s) except? -1
    @cython.locals(short_left_s=double)
    cpdef dict snapshot(self, double now_s)
    @cython.locals(left=double)
    cpdef restore(self, dict d, double now_s)
