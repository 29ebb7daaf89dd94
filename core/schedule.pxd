# Cython augmentation of schedule.py.
cimport cython

cdef int _HOLIDAY, _DAILY


@cython.final
cdef class Schedule:
    cdef public list starts_s, ends_s, offsets_k
    cdef public int n_periods
    cdef public double day_offset_s, fade_start_c, disable_c, boost_k, boost_s
    cdef public bint in_setback
    cdef public double boost_until_s, setback_k, boost_active_k
    cdef public list programmes, holiday_first, holiday_last
    cdef public bint holiday_frost, weekly, optimum, wall_ok, early_start, early_stop
    cdef public int holiday_index, day, programme
    cdef public double utc_offset_s, max_advance_s, default_rate_k_per_h, deficit_share, lag_s, learn_weight, stop_s
    cdef public double wall_s, room_c, room_trend_k_per_s, target_c
    cdef public double rate_k_per_h, heatup_until_s, stop_until_s, learn_start_s, learn_start_c, advance_s, next_offset_k
    cpdef int observe(self, double wall_s, double room_c, double room_trend_k_per_s, double target_c) except -1
    @cython.locals(t=double)
    cpdef double time_of_day_s(self, double now_s) except? -1
    @cython.locals(i=int, a=double, b=double)
    cdef inline double raw_offset_k(self, double tod_s) except? -1
    @cython.locals(i=int, n=int)
    cpdef bint is_holiday(self, int day)
    cpdef int programme_of(self, int day)
    @cython.locals(cols=list, starts=list, ends=list, i=int, n=int, a=double, b=double)
    cpdef double offset_in(self, int programme, double tod_s) except? -1
    @cython.locals(best=double, k=int, programme=int, cols=list, base_s=double, n=int, j=int, t=double, dt=double,
                   offset_k=double)
    cpdef double next_change_s(self, int day, double tod_s, double horizon_s, bint to_setback)
    cpdef double fade_factor(self, double outdoor_c) except? -1
    @cython.locals(offset_k=double, local_s=double, day=int)
    cpdef double step(self, double now_s, double tod_s, double outdoor_c) except? -1
    @cython.locals(room_ok=bint, deficit_k=double, advance_s=double, to_comfort_s=double, to_setback_s=double)
    cpdef double optimise(self, double now_s, double tod_s, double offset_k, double outdoor_c) except? -1
    @cython.locals(elapsed_s=double, measured=double, rate=double, lo=double, hi=double)
    cpdef learn(self, double now_s)
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, dict d, double now_s)
