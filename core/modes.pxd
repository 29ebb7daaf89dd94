# Cython augmentation of modes.py.
cimport cython
from .alarms cimport AlarmTable
from .sensors cimport SignalQuality

cdef int _M_STARTUP_FILL, _M_STARTUP_COLD, _M_STARTUP_WARMUP, _M_AUTO, _M_MANUAL, _M_REMOTE, _M_SAFE, _M_SUMMER
cdef int _A_SAFE_MODE, _A_STARTUP_FILL_TIMEOUT, _I_SECONDARY_RETURN_PRESSURE
cdef double _NO_LIMIT

cpdef bint heating_allowed(int mode) noexcept  # comparisons only
cpdef bint circulation_wanted(int mode) noexcept

@cython.final
cdef class ModeMachine:
    cdef public int mode
    cdef public double entered_s
    cdef public dict table
    cdef public double fill_confirm_s, fill_timeout_s, cold_circulation_s, warmup_rate_k_per_s, warmup_done_band_k
    cdef public double filled_since_s, cold_run_s, ramp_start_c, ramp_c
    cdef public bint fill_timed_out
    cdef public list events
    cpdef bint allowed(self, int trigger)
    cpdef bint fire(self, int trigger, double now_s, str reason)
    cpdef update(self, double now_s, double dt_s, bint filled, bint flow_proven, double supply_c, bint supply_ok,
                 double target_c)
    @cython.locals(k=int)
    cpdef int report_alarms(self, AlarmTable alarms, double now_s, SignalQuality signals) except -1
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, object snap, double now_s)
