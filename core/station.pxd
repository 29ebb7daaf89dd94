# Cython augmentation of station.py.
from .alarms cimport AlarmTable
from .commands cimport Leases
from .interlocks cimport Interlocks
from .make_up cimport MakeUp
from .modes cimport ModeMachine
from .pumps cimport CirculationPumps
from .sensors cimport SignalQuality
from .setpoint_chain cimport SupplySetpointChain
from .valve_loop cimport ValveLoop

cdef class StationController:
    cdef public dict cfg
    cdef public double cycle_s, room_setpoint_c, supply_min_c, supply_max_c, makeup_setpoint_kpa
    cdef public double deviation_k, deviation_min_setpoint_c, now_s
    cdef public bint started
    cdef public SignalQuality sq
    cdef public AlarmTable alarms
    cdef public ModeMachine modes
    cdef public Leases leases
    cdef public CirculationPumps pumps
    cdef public MakeUp make_up
    cdef public Interlocks interlocks
    cdef public SupplySetpointChain chain
    cdef public ValveLoop valve
    cdef public list events
    cdef public double manual_valve_pct, supply_setpoint_c, chain_setpoint_c
    cdef public dict valve_out
    cdef public double outdoor_c
    cdef public bint outdoor_ok
    cdef public dict mode_flags, chain_in, diag, last_out
    cpdef dict step(self, object inputs)
    cdef dict _chain_inputs(self, dict inputs)
    cdef double _clock(self, object value)
    cdef _start_clock(self, double now_s)
    cdef bint _filled(self)
    cdef _update_alarms(self, double now_s)
    cdef dict _diag(self, dict vo)
    cpdef dict handle_command(self, object cmd, double now_s)
    cdef dict _command(self, object cmd, double now_s)
    cdef dict _set_mode(self, dict args, object source, double now_s)
    cpdef set_room_readings(self, object readings, double now_s)
    cpdef set_supervisor_outdoor(self, object temp_c, double now_s)
    cpdef dict snapshot(self)
    cpdef restore(self, object snap, double now_s)
    cpdef dict telemetry(self, object inputs, object out)
