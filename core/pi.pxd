# Cython augmentation of pi.py.
cimport cython
from .units cimport clamp

@cython.final
cdef class PIController:
    cdef public double kp_open, kp_close, tn_s, half_zone_k, out_min_pct, out_max_pct, lag_band_pct
    cdef public double integral_pct, p_pct, out_pct, error_k
    @cython.locals(e=double, h=double)
    cpdef double effective_error_k(self, double setpoint_c, double measured_c) except? -1
    @cython.locals(e=double, kp=double, p=double, di=double, lo=double, hi=double, integral=double, u=double)
    cpdef double step(self, double dt_s, double setpoint_c, double measured_c, double actuator_pct) except? -1
    @cython.locals(e=double, kp=double, p=double)
    cpdef track(self, double out_pct, double setpoint_c, double measured_c)
    cpdef dict snapshot(self)
    cpdef restore(self, dict d)
