# Cython augmentation of limiters.py.
cimport cython

@cython.locals(v=double)
cpdef double reading(dict inputs, str name)
cpdef double _integrate(double trim_k, double excess, double gain_dt, double trim_max_k)

@cython.final
cdef class Limiters:
    cdef public double x_warm_c, x_cold_c
    cdef public str return_name, power_name, flow_name
    cdef public bint return_enabled, power_enabled, flow_enabled, return_fault, meter_fault
    cdef public double return_warm_c, return_cold_c, return_rate, return_trim_max_k
    cdef public double power_warm_kw, power_cold_kw, flow_warm_m3h, flow_cold_m3h, meter_rate, meter_trim_max_k
    cdef public double return_trim_k, power_trim_k, flow_trim_k, return_limit_c, power_limit_kw, flow_limit_m3h
    cdef public double lease_cap_kw
    cpdef reset(self)
    cpdef double limit_at(self, double outdoor_c, double warm, double cold) except? -1
    cpdef double step(self, double dt_s, double outdoor_c, dict inputs)
    @cython.locals(v=double, excess_pct=double, trim=double, cap=double, limit=double)
    cpdef double step_values(self, double dt_s, double outdoor_c, double return_c, double power_kw, double flow_m3h) except? -1
    cpdef dict snapshot(self)
    cpdef restore(self, dict d)
