# Cython augmentation of station.py.
cimport cython
from .alarms cimport AlarmTable
from .balancing cimport Balancing
from .commands cimport Leases
from .interlocks cimport Actuators, Interlocks
from .make_up cimport MakeUp
from .modes cimport ModeMachine, circulation_wanted
from .pumps cimport CirculationPumps
from .sensors cimport SignalQuality
from .setpoint_chain cimport SupplySetpointChain, flag_number
from .room_feedback cimport RoomFeedback
from .valve_actuator cimport ValveActuator
from .valve_loop cimport ValveLoop

# The signal, lease, mode and trigger indices imported from their modules, held as C ints
# so the cycle does no module look-ups.
cdef int I_HEAT_POWER, I_OUTDOOR_TEMP, I_PRIMARY_FLOW, I_PRIMARY_RETURN_TEMP, I_SECONDARY_RETURN_PRESSURE, I_SECONDARY_RETURN_TEMP, I_SECONDARY_SUPPLY_TEMP, I_TANK_LEVEL, I_VALVE_POSITION, N_SIGNALS
cdef int L_BOOST, L_DP, L_HEAT_CAP, L_MODE, L_MAKEUP, L_ROOM, L_SUPPLY, M_AUTO, M_MANUAL, M_REMOTE, M_SAFE, M_STARTUP_COLD, M_STARTUP_FILL, M_STARTUP_WARMUP, T_TRIP, T_CMD_AUTO, N_MODES
cdef double _INF, _NAN

@cython.final  # not subclassed: the cycle's methods are called directly
cdef class StationController:
    cdef public dict cfg, bootstrap
    cdef public int settings_version
    cdef public double cycle_s, room_setpoint_c, supply_min_c, supply_max_c, makeup_setpoint_kpa
    cdef public double now_s
    cdef public bint started
    cdef public SignalQuality signals
    cdef public AlarmTable alarms
    cdef public ModeMachine modes
    cdef public Leases leases
    cdef public CirculationPumps pumps
    cdef public MakeUp make_up
    cdef public Interlocks interlocks
    cdef public SupplySetpointChain chain
    cdef public ValveLoop valve
    cdef public Balancing balancing
    cdef public list events
    cdef public double manual_valve_pct, supply_setpoint_c, chain_setpoint_c
    cdef public int mode_lease_return
    cdef public Actuators act
    cdef public double time_of_day_s
    cdef public bint time_of_day_ok
    cdef public double outdoor_c
    cdef public bint outdoor_ok
    cdef public dict mode_flags, last_out
    cdef dict diag  # read it through diagnostics(): step() no longer refreshes it
    cdef bint flag_summer, flag_remote
    cdef double flag_remote_c, flag_boost_k
    cdef public object forecast
    cdef public double wall_s, wall_offset_s
    cdef public bint wall_ok, wall_known, planning
    cdef public object season, preheat
    cpdef dict step(self, object inputs)
    cpdef int step_image(self, double now_s, double[:] values, signed char[:] oks) except? -1
    cpdef bind_image(self, double[::1] values, signed char[::1] oks)
    cpdef int step_bound(self, double now_s) except? -1
    cdef inline int _image_cycle(self, double now_s, double dt_s) except? -1
    cpdef list take_events(self)
    cdef double _advance(self, double now_s) except? -1.0  # checked only when it returns -1.0
    # _cycle reaches the rooms through self: a local (or an argument) holding a room is a reference
    # taken and given back every cycle; signals, passed to three rooms, is the one local.
    @cython.locals(signals=SignalQuality, mode=int, room_c=double, chain_c=double, setpoint_c=double,
                   supply_ok=bint, supply_c=double, manual=bint, filling=bint, want=bint, dp_lease=double,
                   makeup_kpa=double, summer_allowed=bint, remote_c=double, boost_k=double, tod_s=double, leased=bint,
                   frost_c=double)
    cdef inline int _cycle(self, double now_s, double dt_s) except -1
    @cython.locals(act=Actuators, mode=int)
    cdef dict _outputs(self)
    @cython.locals(leased=int, back=int, modes=ModeMachine)
    cdef void _mode_lease(self, double now_s)
    cdef double _clock(self, object value)
    cdef double _clock_s(self, double now_s) noexcept  # comparisons only
    @cython.locals(pumps=CirculationPumps, make_up=MakeUp)
    cdef _start_clock(self, double now_s)
    @cython.locals(signals=SignalQuality)
    cdef bint _filled(self) except -1  # the caller tests the result, not PyErr_Occurred()
    @cython.locals(alarms=AlarmTable, signals=SignalQuality, mode=int, interlocks=Interlocks)
    cdef inline int _update_alarms(self, double now_s) except -1
    @cython.locals(chain=SupplySetpointChain, room=RoomFeedback, pumps=CirculationPumps, make_up=MakeUp, leases=Leases)
    cdef dict _diag(self)
    cpdef dict diagnostics(self)
    cpdef dict handle_command(self, object cmd, double now_s)
    cpdef drop_mode_lease(self)
    cpdef set_room_readings(self, object readings, double now_s)
    cpdef set_room_temps(self, list ids, list groups, double[:] temps, double now_s)
    cpdef set_branch_readings(self, object readings, double now_s)
    cpdef dict branch_commands(self)
    cpdef set_supervisor_outdoor(self, object temp_c, double now_s)
    cpdef str set_forecast(self, object msg, double wall_s)
    cpdef str set_season(self, object msg, double wall_s)
    cdef void _learn_wall(self, double wall_s)
    cdef void _plan(self, double now_s)
    cpdef dict snapshot(self)
    cpdef restore(self, object snap, double now_s)
    cpdef dict telemetry(self, object inputs, object out)
    @cython.locals(fresh=StationController, changed=bint)
    cpdef list reconfigure(self, object settings, int version)
