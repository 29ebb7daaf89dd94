# Cython augmentation of setpoint_chain.py.
cimport cython
from .heating_curve cimport HeatingCurve
from .limiters cimport Limiters, reading
from .modes cimport heating_allowed
from .outdoor cimport OutdoorConditioner
from .room_feedback cimport RoomFeedback
from .schedule cimport Schedule

cdef int _M_MANUAL, _M_STARTUP_WARMUP

@cython.locals(v=double)
cpdef double _number(object value, double default)
cpdef double flag_number(double v, double default) noexcept  # comparisons only

@cython.final
cdef class SupplySetpointChain:
    cdef public HeatingCurve curve
    cdef public OutdoorConditioner outdoor
    cdef public Schedule schedule
    cdef public Limiters limiters
    cdef public RoomFeedback room
    cdef public double ramp_k_per_s, heating_limit_c, heating_limit_hyst_k
    cdef public bint started, heating_on, ramp_started, cut_out, remote, held_by_rooms
    cdef public list events
    cdef public double last_s, ramp_c, setpoint_c, curve_c, schedule_k, room_trim_k, boost_k, limit_trim_k
    cdef public double room_setpoint_c
    cpdef set_room_readings(self, object readings, double now_s)
    cpdef set_room_temps(self, list ids, list groups, double[:] temps, double now_s)
    cpdef set_supervisor_outdoor(self, object temp_c, double now_s)
    @cython.locals(tod=double, lim=Limiters)
    cpdef double step(self, double now_s, double outdoor_c, bint outdoor_ok, dict inputs, double room_setpoint_c,
                      dict mode_flags)
    @cython.locals(dt_s=double, out=OutdoorConditioner, t_out=double,
                   curve=HeatingCurve, unclamped_c=double, base_c=double, top_c=double, setpoint_c=double,
                   cut=bint, held=bint)
    cpdef double step_values(self, double now_s, double outdoor_c, bint outdoor_ok, double time_of_day_s,
                             double return_c, double power_kw, double flow_m3h, double room_setpoint_c,
                             bint summer_allowed, double remote_c, double boost_k) except? -1
    @cython.locals(setpoint_c=double, heating=bint)
    cpdef double finish(self, int mode, double warmup_ramp_c, double frost_floor_c, bint protection_off) except? -1
    cpdef dict snapshot(self)
    cpdef restore(self, object d, double now_s)
