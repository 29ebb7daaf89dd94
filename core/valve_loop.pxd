# Cython augmentation of valve_loop.py.
cimport cython
from .alarms cimport AlarmTable
from .pi cimport PIController
from .sensors cimport SignalQuality
from .valve_actuator cimport ValveActuator

cdef double _NAN
cdef int _A_SUPPLY_DEVIATION_HIGH, _A_SUPPLY_DEVIATION_LOW, _A_VALVE_OPEN_NO_RISE, _A_VALVE_POSITION_MISMATCH
cdef int _A_VALVE_SHUT_RISING, _I_SECONDARY_SUPPLY_TEMP, _I_VALVE_POSITION
cdef double _NO_LIMIT

@cython.final
cdef class ValveLoop:
    cdef public PIController pi
    cdef public ValveActuator actuator
    cdef public double exercise_window_s
    cdef public double day_offset_s, exercise_after_s, exercise_time_s, exercise_stroke_pct, exercise_half_s
    cdef public double no_rise_open_pct, no_rise_below_k, no_rise_min_k, no_rise_delay_s
    cdef public double shut_pct, shut_rise_k, shut_delay_s, mismatch_pct, mismatch_delay_s, mismatch_since_s
    cdef public bint position_mismatch
    cdef public bint started, manual, heating_off, supply_fault, open_no_rise, shut_rising
    cdef public double last_s, still_pct, still_since_s, exercise_start_s, exercise_base_pct
    cdef public int exercises
    cdef public double no_rise_since_s, no_rise_ref_c, shut_since_s, shut_min_c
    cdef public double ff_room_c, ff_span_k, ff_design_pct, fallback_rise_k, fallback_limit_pct
    cdef public double fallback_return_ref_c, fallback_primary_ref_c
    cdef public bint fallback
    cdef public double deviation_k, deviation_min_setpoint_c, setpoint_c
    @cython.locals(manual=bint, manual_pct=double, act=ValveActuator)
    cpdef dict step(self, double now_s, double setpoint_c, double supply_c, bint supply_ok,
                    double valve_feedback_pct, bint feedback_ok, object manual_pct_or_None, double time_of_day_s=*,
                    double return_c=*, bint return_ok=*, double primary_return_c=*, bint primary_return_ok=*)
    @cython.locals(dt_s=double, act=ValveActuator, measured_c=double, target=double, d=double, limit=double)
    cpdef int run(self, double now_s, double setpoint_c, double supply_c, bint supply_ok, double valve_feedback_pct,
                  bint feedback_ok, bint manual, double manual_pct, double time_of_day_s, double return_c,
                  bint return_ok, double primary_return_c, bint primary_return_ok) except -1
    @cython.locals(phi=double, rise=double, d=double, factor=double)
    cdef inline double _fallback_limit(self, double setpoint_c, double return_c, bint return_ok, double primary_return_c,
                                       bint primary_return_ok) except? -1
    @cython.locals(t=double, d=double, tod=double, since=double)
    cdef inline double _exercise(self, double now_s, double target, double time_of_day_s) except? -1
    cdef inline int _plausibility(self, double now_s, double setpoint_c, double supply_c, bint supply_ok, double est_pct,
                                 double return_c, bint return_ok) except -1
    @cython.locals(supply_c=double, setpoint_c=double, closed_loop=bint, high_c=double, low_c=double, k=int)
    cpdef int report_alarms(self, AlarmTable alarms, double now_s, SignalQuality signals) except -1
    cpdef dict snapshot(self)
    cpdef restore(self, object d, double now_s)
