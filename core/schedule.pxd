# Cython augmentation of schedule.py.
cimport cython

@cython.final
cdef class Schedule:
    cdef public list starts_s, ends_s, offsets_k
    cdef public int n_periods
    cdef public double day_offset_s, fade_start_c, disable_c, boost_k, boost_s
    cdef public bint in_setback
    cdef public double boost_until_s, setback_k, boost_active_k
    @cython.locals(t=double)
    cpdef double time_of_day_s(self, double now_s)
    @cython.locals(i=int, a=double, b=double)
    cpdef double raw_offset_k(self, double tod_s)
    cpdef double fade_factor(self, double outdoor_c)
    @cython.locals(offset_k=double)
    cpdef double step(self, double now_s, double tod_s, double outdoor_c)
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, dict d, double now_s)
