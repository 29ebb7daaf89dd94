# Cython augmentation of make_up.py.
cimport cython
from .alarms cimport AlarmTable
from .sensors cimport SignalQuality

cdef int _I_MAKEUP_PUMP_FAULT, _I_MAKEUP_PUMP_RUNNING, _I_MAKEUP_VOLUME, _I_SECONDARY_RETURN_PRESSURE, _I_TANK_LEVEL
cdef int _A_MAKEUP_LEAK_RATE, _A_MAKEUP_LONG_RUN, _A_MAKEUP_PUMP_FAULT, _A_TANK_LEVEL_LOW, _A_TANK_LEVEL_LOW_LOW
cdef double _NO_LIMIT

@cython.final
cdef class MakeUp:
    cdef public bint vsd
    cdef public double setpoint_kpa, band_kpa, relief_margin_kpa, kp, ti_s, speed_min_pct
    cdef public double tank_low_pct, tank_low_low_pct, tank_hyst_pct, leak_limit_l_per_h, window_s, bucket_s
    cdef public double nominal_flow_m3h, max_run_s
    cdef public bint run, relief_open, long_run, tank_low, tank_low_low, pump_fault, pressure_ok
    cdef public double speed_pct, integral_pct, run_since_s, start_kpa, stop_kpa
    cdef public double total_m3, meter_last_m3
    cdef public bint volume_estimated, leak, rate_measuring
    cdef public list buckets
    cdef public int bucket_i
    cdef public double bucket_start_s, window_start_s, window_m3, rate_l_per_h
    cdef public list events
    @cython.locals(pressure_kpa=double)
    cpdef int step(self, double now_s, double dt_s, SignalQuality signals, double setpoint_kpa, bint filling) except -1
    cdef inline _tank(self, bint level_ok, double level_pct)
    cdef int _check_bucket(self) except -1
    cdef inline int _totalise(self, double now_s, double dt_s, bint meter_ok, double meter_m3, bint running, bint filling) except -1
    @cython.locals(level_pct=double, run_s=double, k=int)
    cpdef int report_alarms(self, AlarmTable alarms, double now_s, SignalQuality signals) except -1
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, object snap, double now_s)
