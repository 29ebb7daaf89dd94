# Cython augmentation of station.py.
cimport cython
from .alarms cimport AlarmTable
from .commands cimport Leases
from .interlocks cimport Actuators, Interlocks
from .make_up cimport MakeUp
from .modes cimport ModeMachine, circulation_wanted, heating_allowed
from .pumps cimport CirculationPumps
from .sensors cimport SignalQuality
from .setpoint_chain cimport SupplySetpointChain
from .room_feedback cimport RoomFeedback
from .valve_actuator cimport ValveActuator
from .valve_loop cimport ValveLoop

cdef int _I_HEAT_POWER, _I_OUTDOOR_TEMP, _I_PRIMARY_FLOW, _I_PRIMARY_RETURN_TEMP, _I_SECONDARY_RETURN_PRESSURE, _I_SECONDARY_RETURN_TEMP, _I_SECONDARY_SUPPLY_TEMP, _I_TANK_LEVEL, _I_VALVE_POSITION, _N_SIGNALS
cdef double _INF

cdef int _A_MAKEUP_LEAK_RATE, _A_MAKEUP_LONG_RUN, _A_MAKEUP_PUMP_FAULT, _A_PRESSURE_HIGH, _A_PRESSURE_LOW, _A_PUMP1_FAULT, _A_PUMP2_FAULT, _A_PUMPS_ALL_FAILED, _A_PUMP_DRY_RUN, _A_SAFE_MODE, _A_SECONDARY_OVERTEMP, _A_SENSOR0, _A_STARTUP_FILL_TIMEOUT, _A_SUPPLY_DEVIATION_HIGH, _A_SUPPLY_DEVIATION_LOW, _A_TANK_LEVEL_LOW, _A_TANK_LEVEL_LOW_LOW, _A_VALVE_OPEN_NO_RISE, _A_VALVE_SHUT_RISING, _A_VALVE_POSITION_MISMATCH, _S_NONE, _L_BOOST, _L_DP, _L_MODE, _L_MAKEUP, _L_ROOM, _L_SUPPLY, _M_AUTO, _M_MANUAL, _M_REMOTE, _M_SAFE, _M_STARTUP_COLD, _M_STARTUP_FILL, _M_STARTUP_WARMUP, _M_SUMMER, _T_TRIP

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
    cdef public int mode_lease_return
    cdef public Actuators act
    cdef public double time_of_day_s
    cdef public bint time_of_day_ok, sensor_alarms_busy
    cdef public double outdoor_c
    cdef public bint outdoor_ok
    cdef public dict mode_flags, chain_in, diag, last_out
    cpdef dict step(self, object inputs)
    cpdef int step_image(self, double now_s, double[:] values, signed char[:] oks)
    cpdef list take_events(self)
    cdef double _advance(self, double now_s)
    @cython.locals(sq=SignalQuality, modes=ModeMachine, leases=Leases, flags=dict, valve=ValveLoop,
                   pumps=CirculationPumps, mu=MakeUp, act=Actuators, va=ValveActuator, frost=bint, mode=int,
                   room_c=double, chain_c=double, setpoint_c=double, supply_ok=bint, supply_c=double, heating=bint,
                   manual=bint, filling=bint, want=bint, dp_lease=double, makeup_kpa=double)
    cdef void _cycle(self, double now_s, double dt_s)
    @cython.locals(act=Actuators, mode=int)
    cdef dict _outputs(self)
    @cython.locals(leased=int, back=int, modes=ModeMachine)
    cdef void _mode_lease(self, double now_s)
    cdef dict _chain_inputs(self)
    cdef double _clock(self, object value)
    cdef double _clock_s(self, double now_s)
    cdef _start_clock(self, double now_s)
    cdef bint _filled(self)
    @cython.locals(i=int, base=int, valve=ValveLoop, sq=SignalQuality, a=AlarmTable, busy=bint, failed1=bint,
                   failed2=bint)
    cdef _update_alarms(self, double now_s)
    @cython.locals(chain=SupplySetpointChain, room=RoomFeedback)
    cdef dict _diag(self)
    cpdef dict handle_command(self, object cmd, double now_s)
    cpdef drop_mode_lease(self)
    cpdef set_room_readings(self, object readings, double now_s)
    cpdef set_supervisor_outdoor(self, object temp_c, double now_s)
    cpdef dict snapshot(self)
    cpdef restore(self, object snap, double now_s)
    cpdef dict telemetry(self, object inputs, object out)
