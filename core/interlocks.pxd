# Cython augmentation of interlocks.py.
cimport cython
from .make_up cimport MakeUp
from .pumps cimport CirculationPumps
from .sensors cimport SignalQuality

cdef int _I_SECONDARY_RETURN_PRESSURE, _I_SECONDARY_SUPPLY_PRESSURE, _I_SECONDARY_SUPPLY_TEMP

cdef class Interlocks:
    cdef public double overtemp_c, overtemp_hyst_k, overtemp_delay_s, over_pressure_kpa, over_pressure_hyst_kpa
    cdef public double under_pressure_kpa, frost_outdoor_c, frost_hyst_k, frost_min_supply_c, frost_supply_c
    cdef public double frost_valve_min_pct
    cdef public bint overtemp_cond, tripped, reset_requested, over_pressure, under_pressure, frost, no_flow
    cdef public double overtemp_since_s
    cdef public int actions
    cdef public list events
    cpdef bint update_frost(self, double outdoor_c, bint outdoor_ok)
    cpdef request_reset(self)
    @cython.locals(values="double[:]", ok="signed char[:]")
    cpdef apply(self, dict out, double now_s, SignalQuality sq, CirculationPumps pumps, MakeUp make_up,
                double cycle_s, bint filling)
    cpdef dict snapshot(self)
    cpdef restore(self, object snap)
