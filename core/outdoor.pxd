# Cython augmentation of outdoor.py.
cimport cython

@cython.locals(x=double)
cpdef double lag_step(double previous, double target, double dt_s, double time_constant_s)

@cython.final
cdef class OutdoorConditioner:
    cdef public double building_time_constant_s, actual_share, plausible_min_c, plausible_max_c
    cdef public double jump_k, jump_confirm_s, frozen_s, supervisor_max_age_s, hold_last_s, fixed_c
    cdef public bint started, has_accepted, sensor_fault
    cdef public double last_s, actual_c, attenuated_c, composite_c, last_good_s, accepted_c
    cdef public double candidate_c, candidate_since_s, changed_c, changed_since_s, supervisor_c, supervisor_s
    cdef public int source
    cdef public double lag_dt_s, lag_gain
    cpdef reset(self)
    cpdef set_supervisor(self, double temp_c, double now_s)
    @cython.locals(step_k=double, d_k=double)
    cpdef bint _sensor_plausible(self, double now_s, double raw_c) except -1
    @cython.locals(dt_s=double, good=bint)
    cpdef double step(self, double now_s, double raw_c, bint raw_ok) except? -1
    @cython.locals(a=double)
    cdef inline int _filter(self, double value_c, double dt_s) except -1
    cpdef dict snapshot(self)
    cpdef restore(self, dict d, double now_s)
