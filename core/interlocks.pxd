# Cython augmentation of interlocks.py.
cimport cython
from .alarms cimport AlarmTable
from .make_up cimport MakeUp
from .pumps cimport CirculationPumps
from .sensors cimport SignalQuality

cdef int _I_SECONDARY_RETURN_PRESSURE, _I_SECONDARY_SUPPLY_PRESSURE, _I_SECONDARY_SUPPLY_TEMP
cdef int _I_PRIMARY_RETURN_TEMP, _I_SECONDARY_RETURN_TEMP
cdef int _A_PRESSURE_HIGH, _A_PRESSURE_LOW, _A_SECONDARY_OVERTEMP
cdef int _M_AUTO, _M_REMOTE, _M_STARTUP_FILL, _M_STARTUP_WARMUP, _M_SUMMER

cdef int _X_OVERTEMP, _X_NO_FLOW, _X_OVER_PRESSURE, _X_DRY_RUN, _X_TANK_LOW_LOW, _X_MAKEUP_FAULT, _X_FROST, _X_FROST_VALVE, _X_BACKUP_TRIP, _N_ACTIONS

@cython.final
cdef class Actuators:
    cdef public double valve_cmd_pct, valve_open_pulse_s, valve_close_pulse_s
    cdef public bint pump1_run
    cdef public double pump1_speed_cmd_pct
    cdef public bint pump2_run
    cdef public double pump2_speed_cmd_pct
    cdef public bint makeup_pump_run
    cdef public double makeup_pump_speed_cmd_pct
    cdef public bint relief_valve_open
    cpdef read(self, dict out)
    cpdef write(self, dict out)

@cython.final
cdef class Interlocks:
    cdef public double overtemp_c, overtemp_hyst_k, overtemp_delay_s, over_pressure_kpa, over_pressure_hyst_kpa
    cdef public double under_pressure_kpa, frost_outdoor_c, frost_hyst_k, frost_min_supply_c, frost_supply_c
    cdef public double frost_valve_min_pct, backup_return_max_c, overtemp_value_c, overtemp_limit_c, pressure_max_kpa
    cdef public bint backup_cond, backup_trip
    cdef public bint overtemp_cond, tripped, reset_requested, over_pressure, under_pressure, frost, no_flow
    cdef public double overtemp_since_s
    cdef public int actions
    cdef public list events
    # noexcept: comparisons on own C attributes, nothing can raise
    cpdef bint update_frost(self, double outdoor_c, bint outdoor_ok) noexcept
    cpdef double frost_supply_floor_c(self, int mode) noexcept
    cpdef bint frost_circulation(self, int mode) noexcept
    cpdef request_reset(self)
    @cython.locals(act=Actuators)
    cpdef apply(self, dict out, double now_s, SignalQuality signals, CirculationPumps pumps, MakeUp make_up,
                double cycle_s, bint filling)
    @cython.locals(actions=int, changed=int, bit=int, i=int, k=int,
                   supply_ok=bint, supply_c=double, limit=double, hyst=double, judged_c=double, high_c=double, p_sup_ok=bint, p_ret_ok=bint, p_max=double,
                   flowing=bint)
    cpdef int apply_to(self, Actuators out, double now_s, SignalQuality signals, CirculationPumps pumps, MakeUp make_up,
                       double cycle_s, bint filling) except -1
    @cython.locals(k=int)
    cpdef int report_alarms(self, AlarmTable alarms, double now_s, SignalQuality signals, bint filling) except -1
    cpdef dict snapshot(self)
    cpdef restore(self, object snap)
