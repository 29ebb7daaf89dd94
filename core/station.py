# cython: wraparound=False, boundscheck=False, initializedcheck=False
# (compiled: no per-access index checks; the signal, lease and pump arrays are made full length
# by their pieces' __init__ and indexed here by constants, a loop below N_SIGNALS or a
# two-element check; the two mode numbers that index a table are checked first.)
"""StationController: one substation's control cycle, composed from the core pieces.

    ctl = StationController(settings)        # raises core.settings.SettingsError
    out = ctl.step(inputs)                   # outputs with the keys of core.signals.OUTPUTS
    d = ctl.diagnostics()                    # the diagnostics, built when asked (telemetry does)
    res = ctl.handle_command(cmd, now_s)     # {"result", "reason", "detail"}
    n = ctl.step_image(now_s, values, oks)   # the same cycle on array inputs, no output dict

Order inside `step` (fixed): signal quality, alarms, mode, setpoint chain, PI and valve,
pumps, make-up, interlocks last. `step` is total: every piece handles bad data itself (bad
readings become quality flags, alarms and fallbacks), so nothing is wrapped in a catch-all.
The station composes and judges nothing itself: each piece reports its own alarm conditions
(`report_alarms`, with the reading and the limit), the setpoint chain's `finish` gives the
final supply setpoint (warm-up ramp, frost floor, heating off), the interlocks own frost, and
the schedule and the valve exercise share the validated time of day.

Output lifetime: `alarms` is rebuilt only when an alarm changes state and `diag` is one dict
updated in place each cycle; treat both as read-only and copy what you keep (telemetry()
returns a fresh flat dict). `events` is a new list each cycle.
"""

from . import checks, command_handler
from .alarms import AlarmTable
from .balancing import MODES as BRANCH_MODES
from .balancing import Balancing
from .commands import (
    L_BOOST,
    L_DP,
    L_HEAT_CAP,
    L_MAKEUP,
    L_MODE,
    L_ROOM,
    L_SUPPLY,
    Leases,
)
from .forecast import Forecast
from .interlocks import Actuators, Interlocks
from .make_up import MakeUp
from .modes import (
    M_AUTO,
    M_MANUAL,
    M_REMOTE,
    M_SAFE,
    M_STARTUP_COLD,
    M_STARTUP_FILL,
    M_STARTUP_WARMUP,
    MODE_NAMES,
    N_MODES,
    RETURN_TRIGGERS,
    T_CMD_AUTO,
    T_TRIP,
    ModeMachine,
    circulation_wanted,
)
from .preheat import P_HEAT, Preheat
from .pumps import CirculationPumps
from .season import SeasonCalendar
from .sensors import (
    I_HEAT_POWER,
    I_OUTDOOR_TEMP,
    I_PRIMARY_FLOW,
    I_PRIMARY_RETURN_TEMP,
    I_SECONDARY_RETURN_PRESSURE,
    I_SECONDARY_RETURN_TEMP,
    I_SECONDARY_SUPPLY_TEMP,
    I_TANK_LEVEL,
    I_VALVE_POSITION,
    N_SIGNALS,
    SignalQuality,
)
from .setpoint_chain import SupplySetpointChain, flag_number
from .settings import load as load_settings
from .signals import ACTUATORS, INPUTS
from .valve_loop import ValveLoop

SNAPSHOT_VERSION = 1

# Each piece and the settings sections it is built from: reconfigure() builds a piece anew only
# when one of its sections changed ("station" and "commands" are read each cycle or command).
PIECE_SECTIONS = (
    ("signals", ("sensors",)),
    ("alarms", ("alarms",)),
    ("modes", ("modes",)),
    ("pumps", ("pumps",)),
    ("make_up", ("make_up",)),
    ("interlocks", ("interlocks",)),
    ("chain", ("curve", "outdoor", "schedule", "limiters", "room_feedback")),
    ("valve", ("pi", "valve", "schedule", "curve", "interlocks", "alarms")),
    ("balancing", ("balancing",)),
    ("preheat", ("preheat",)),
)

# Optional extra input: local time of day in seconds (wall clock; firmware supplies it), used by
# the schedule and the valve exercise. Without it both use the schedule's day offset.
TIME_OF_DAY_S = "time_of_day_s"
# Optional extra input: the wall clock, unix seconds (firmware supplies it, scaled like
# time_of_day_s), used by the season calendar and the pre-heat planner (core.season, core.preheat).
WALL_S = "wall_s"
_INF = float("inf")
_NAN = float("nan")


class StationController:
    """The composed control cycle of one station (see the module docstring)."""

    def __init__(self, settings: object = None) -> None:
        cfg = load_settings(settings)
        self.cfg = cfg
        # The settings it was built from (the TOML's) and the pushed version it runs (0: none).
        self.bootstrap = settings if isinstance(settings, dict) else {}
        self.settings_version = 0
        self.cycle_s = float(cfg["station"]["cycle_s"])
        self.room_setpoint_c = float(cfg["station"]["room_setpoint_c"])
        self.supply_min_c = float(cfg["commands"]["supply_min_c"])
        self.supply_max_c = float(cfg["commands"]["supply_max_c"])
        self.makeup_setpoint_kpa = float(cfg["make_up"]["pressure_setpoint_kpa"])
        self.now_s = 0.0
        self.started = False
        self.signals = SignalQuality(cfg["sensors"])
        self.alarms = AlarmTable(cfg["alarms"])
        self.modes = ModeMachine(cfg["modes"], 0.0)
        self.leases = Leases()
        self.pumps = CirculationPumps(cfg["pumps"], 0.0)
        self.make_up = MakeUp(cfg["make_up"], 0.0)
        self.interlocks = Interlocks(cfg["interlocks"])
        self.chain = SupplySetpointChain(cfg)
        self.valve = ValveLoop(cfg)
        self.balancing = Balancing(cfg["balancing"])  # the building branch valves (none: it idles)
        self.events = []  # type: list
        for part in (self.alarms, self.modes, self.leases, self.pumps, self.make_up, self.interlocks, self.chain):
            part.events = self.events
        self.manual_valve_pct = 0.0
        self.mode_lease_return = -1  # while a remote summer/safe lease runs: the mode to go back to
        self.supply_setpoint_c = 0.0
        self.chain_setpoint_c = 0.0
        self.act = Actuators()  # this cycle's commands (interlocks applied)
        self.time_of_day_s = 0.0
        self.time_of_day_ok = False
        self.wall_s = 0.0
        self.wall_ok = False
        self.outdoor_c = 0.0
        self.outdoor_ok = False
        # The chain's mode flags (one dict, updated each cycle, as the chain was given them).
        self.mode_flags = {"summer_allowed": True, "remote_supply_c": None, "boost_k": 0.0}
        self.flag_summer = True  # what mode_flags holds, as C values
        self.flag_remote = False
        self.flag_remote_c = 0.0
        self.flag_boost_k = 0.0
        self.diag = {}  # type: dict  # filled by diagnostics(), only when asked
        self.forecast = Forecast()  # the city's weather forecast from the supervisor (core.forecast)
        self.last_out = {}  # type: dict
        self.wall_s = 0.0
        self.wall_ok = False
        # The season calendar (the [season] section, or pushed: set_season) and the pre-heat
        # planner; with no calendar `planning` stays False and nothing of either runs.
        self.season = SeasonCalendar(cfg["season"])
        self.preheat = Preheat(cfg["preheat"])
        self.planning = self.season.known()
        self.wall_offset_s = 0.0  # wall clock - monotonic clock, learnt from wall_s and the downlinks
        self.wall_known = False

    # --- the cycle ---------------------------------------------------------------------------
    def step(self, inputs: object) -> dict:
        """One control cycle; never raises on bad data."""
        if not isinstance(inputs, dict):
            inputs = {}
        now_s = self._clock(inputs.get("now_s"))
        dt_s = self._advance(now_s)
        self.signals.update(inputs, now_s)
        item = inputs.get(TIME_OF_DAY_S)
        self.time_of_day_s = 0.0
        self.time_of_day_ok = False
        if type(item) is tuple and len(item) == 2 and item[1]:
            v = item[0]
            if (type(v) is float or type(v) is int) and 0.0 <= v < 86400.0:
                self.time_of_day_s = float(v)
                self.time_of_day_ok = True
        item = inputs.get(WALL_S)
        self.wall_s = 0.0
        self.wall_ok = False
        if type(item) is tuple and len(item) == 2 and item[1]:
            v = item[0]
            if (type(v) is float or type(v) is int) and v > 0.0:
                self.wall_s = float(v)
                self.wall_ok = True
                self.wall_offset_s = self.wall_s - now_s
                self.wall_known = True
        self._cycle(now_s, dt_s)
        return self._outputs()

    def step_image(self, now_s: float, values, oks) -> int:
        """The cycle of step() with the process image as two arrays in core.signals.INPUTS
        order (`values[i]` a float, `oks[i]` non-zero when the boundary read it) and no time
        of day. No output dict: the commands are in `act` (core.interlocks.Actuators), the
        setpoint and mode in `supply_setpoint_c` and `modes.mode`, the alarm list in
        `alarms.listing_now()`, diagnostics in `diagnostics()`. Events stay in `events` until
        take_events(); returns how many are waiting. For a caller that fills arrays (a
        compiled simulation loop); same checks, same state, same commands as step()."""
        now_s = self._clock_s(now_s)
        dt_s = self._advance(now_s)
        self.signals.update_image(values, oks, now_s)
        return self._image_cycle(now_s, dt_s)

    def bind_image(self, values, oks) -> None:
        """Keep two arrays in core.signals.INPUTS order for step_bound(): a caller that refills
        the same arrays each cycle (a compiled simulation loop) hands them over once."""
        self.signals.bind_image(values, oks)

    def step_bound(self, now_s: float) -> int:
        """step_image(now_s, values, oks) on the arrays given to bind_image(), as they are now."""
        now_s = self._clock_s(now_s)
        dt_s = self._advance(now_s)
        self.signals.update_bound(now_s)
        return self._image_cycle(now_s, dt_s)

    def _image_cycle(self, now_s: float, dt_s: float) -> int:
        self.time_of_day_s = 0.0
        self.time_of_day_ok = False
        self.wall_s = 0.0
        self.wall_ok = False
        self._cycle(now_s, dt_s)
        return len(self.events)

    def take_events(self) -> list:
        """The events waiting since the last step() or take_events() (after step_image)."""
        events = list(self.events)
        self.events.clear()
        return events

    def _advance(self, now_s: float) -> float:
        dt_s = now_s - self.now_s if self.started else self.cycle_s
        if not self.started:
            self._start_clock(now_s)
        self.now_s = now_s
        return dt_s

    def _cycle(self, now_s: float, dt_s: float) -> None:
        # The cycle after signal quality (fixed order, see the module docstring); the
        # commands end in self.act, interlocks last.
        signals = self.signals
        self.outdoor_ok = signals.ok[I_OUTDOOR_TEMP] != 0
        self.outdoor_c = signals.values[I_OUTDOOR_TEMP]
        self.interlocks.update_frost(self.outdoor_c, self.outdoor_ok)
        if not now_s < self.leases.next_s:  # expire()'s own first test: before next_s (most cycles) no call
            self.leases.expire(now_s)
        if self.mode_lease_return >= 0:
            self._mode_lease(now_s)
        # 2. alarms (from this cycle's signals and the pieces' state of the last cycle)
        self._update_alarms(now_s)
        # 3. mode
        if self.interlocks.tripped:
            self.modes.fire(T_TRIP, now_s, "overtemp_trip")
        mode = self.modes.mode
        # 4. setpoint chain
        # the leases change only between cycles (commands) and at expire() above: asked once
        leased = self.leases.any_active()
        room_c = self.leases.value[L_ROOM] if leased and self.leases.active(L_ROOM) else self.room_setpoint_c
        # mode_flags shows what the chain was given; written only when a flag changes.
        summer_allowed = mode == M_AUTO or mode == M_REMOTE
        if summer_allowed != self.flag_summer:
            self.mode_flags["summer_allowed"] = summer_allowed
            self.flag_summer = summer_allowed
        remote_c = -1e9  # the chain's "no remote setpoint"
        if mode == M_REMOTE and leased and self.leases.active(L_SUPPLY):
            remote_c = self.leases.value[L_SUPPLY]
            if not self.flag_remote or remote_c != self.flag_remote_c:
                self.mode_flags["remote_supply_c"] = remote_c
                self.flag_remote = True
                self.flag_remote_c = remote_c
            remote_c = flag_number(remote_c, -1e9)
        elif self.flag_remote:
            self.mode_flags["remote_supply_c"] = None
            self.flag_remote = False
        boost_k = self.leases.value[L_BOOST] if leased and self.leases.active(L_BOOST) and summer_allowed else 0.0
        if boost_k != self.flag_boost_k:
            self.mode_flags["boost_k"] = boost_k
            self.flag_boost_k = boost_k
        # The chain reads a few signals itself (limiters, schedule): validated, NaN when not ok.
        self.chain.limiters.lease_cap_kw = self.leases.value[L_HEAT_CAP] if leased and self.leases.active(L_HEAT_CAP) else 0.0
        if self.planning:  # the pre-heat supply (auto only) and the feed-forward ahead of cold spells
            self._plan(now_s)
            if self.preheat.phase == P_HEAT and mode == M_AUTO:
                remote_c = self.preheat.supply_c
            boost_k += self.preheat.ff_k
        # The validated time of day, else -1 (the monotonic clock with the schedule's day
        # offset): the schedule's clock, which the valve exercise (5.) runs on too.
        tod_s = self.time_of_day_s if self.time_of_day_ok else -1.0
        # The week programme's calendar and optimum start (core.schedule): the wall clock, the
        # rooms' low statistic (last cycle's), its trend and their target.
        self.chain.schedule.observe(self.wall_s if self.wall_ok else -1.0,
                                    self.chain.room.low_c if self.chain.room.n_fresh > 0 else _NAN,
                                    self.chain.room.trend_k_per_s, self.chain.room.target_c)
        chain_c = self.chain.step_values(now_s, self.outdoor_c, self.outdoor_ok, tod_s,
                                         signals.values[I_PRIMARY_RETURN_TEMP] if signals.ok[I_PRIMARY_RETURN_TEMP] else _NAN,
                                         signals.values[I_HEAT_POWER] if signals.ok[I_HEAT_POWER] else _NAN,
                                         signals.values[I_PRIMARY_FLOW] if signals.ok[I_PRIMARY_FLOW] else _NAN,
                                         room_c, summer_allowed, remote_c, flag_number(boost_k, 0.0))
        self.chain_setpoint_c = chain_c
        supply_ok = signals.ok[I_SECONDARY_SUPPLY_TEMP] != 0
        supply_c = signals.values[I_SECONDARY_SUPPLY_TEMP]
        self.modes.update(now_s, dt_s, self._filled(), self.pumps.flow_proven, supply_c, supply_ok, chain_c)
        mode = self.modes.mode
        # The chain's last stage has the mode's word (warm-up ramp, frost floor, heating off):
        # its result is final. A setpoint of 0 tells the valve loop "heating off": it drives
        # the valve shut and its PI tracks, so the release after a hold is bumpless.
        setpoint_c = self.chain.finish(mode, self.modes.ramp_c, self.interlocks.frost_supply_floor_c(mode),
                                       self.interlocks.tripped or self.interlocks.no_flow)
        if self.planning and self.preheat.holds_off() and (mode == M_AUTO or (mode == M_REMOTE and not (leased and self.leases.active(L_SUPPLY)))):
            # Outside the season (or waiting to pre-heat) the heating is off; a remote supply
            # setpoint lease turns it on; frost protection still acts.
            frost_c = self.interlocks.frost_supply_floor_c(mode)
            setpoint_c = frost_c if frost_c > 0.0 else 0.0
        # 5. PI and valve
        manual = mode == M_MANUAL
        self.supply_setpoint_c = setpoint_c
        self.valve.run(now_s, setpoint_c, supply_c, supply_ok, signals.values[I_VALVE_POSITION], signals.ok[I_VALVE_POSITION] != 0,
                       manual, self.manual_valve_pct, tod_s, signals.values[I_SECONDARY_RETURN_TEMP],
                       signals.ok[I_SECONDARY_RETURN_TEMP] != 0, signals.values[I_PRIMARY_RETURN_TEMP],
                       signals.ok[I_PRIMARY_RETURN_TEMP] != 0)
        # 6. pumps
        filling = mode == M_STARTUP_FILL  # the network is being filled: no leak count, no frost pump
        want = circulation_wanted(mode) or self.interlocks.frost_circulation(mode)
        dp_lease = self.leases.value[L_DP] if leased and self.leases.active(L_DP) else 0.0
        self.pumps.heat_shortage(dt_s, self.valve.actuator.cmd_pct, setpoint_c, supply_c, supply_ok)
        if self.pumps.short_of_heat:
            self.chain.room.note_shortage(now_s)  # the next cycles' room target holds a margin
        self.pumps.step(now_s, dt_s, want, signals, self.pumps.target_dp(self.outdoor_c, self.outdoor_ok, room_c, dp_lease))
        # 7. make-up
        makeup_kpa = self.leases.value[L_MAKEUP] if leased and self.leases.active(L_MAKEUP) else self.makeup_setpoint_kpa
        self.make_up.step(now_s, dt_s, signals, makeup_kpa, filling)
        # 7b. building branch valves (only with branches): on a fresh collector reading or
        # every guard period; the commands wait in balancing.sent (branch_commands()).
        if self.balancing.n_groups > 0 and (self.balancing.due or now_s >= self.balancing.due_s):
            self.balancing.step(now_s, None)
        self.act.valve_cmd_pct = self.valve.actuator.cmd_pct
        self.act.valve_open_pulse_s = self.valve.actuator.open_pulse_s
        self.act.valve_close_pulse_s = self.valve.actuator.close_pulse_s
        self.act.pump1_run = self.pumps.run[0] != 0
        self.act.pump1_speed_cmd_pct = self.pumps.speed_pct[0]
        self.act.pump2_run = self.pumps.run[1] != 0
        self.act.pump2_speed_cmd_pct = self.pumps.speed_pct[1]
        self.act.makeup_pump_run = self.make_up.run
        self.act.makeup_pump_speed_cmd_pct = self.make_up.speed_pct
        self.act.relief_valve_open = self.make_up.relief_open
        # 8. interlocks: last, only toward safe; nothing below touches the actuators.
        self.interlocks.apply_to(self.act, now_s, signals, self.pumps, self.make_up, self.cycle_s, filling)

    def _plan(self, now_s: float) -> None:
        # The planner's decision, re-made every replan_s on the wall clock learnt (core.preheat).
        planner = self.preheat
        if now_s < planner.next_s:
            return
        chain = self.chain
        room = chain.room
        planner.plan(now_s, now_s + self.wall_offset_s, self.wall_known, self.season, self.forecast, room.low_c,
                     room.n_fresh > 0, room.floor_c, chain.outdoor.composite_c, chain.outdoor.attenuated_c, chain.curve,
                     chain.room_setpoint_c, chain.room_trim_k, self.valve.actuator.estimate_pct)
        if planner.holds_off():
            room.trim_k = 0.0  # heating held off: the room trim must not wind up meanwhile

    def _mode_lease(self, now_s: float) -> None:
        # A remote summer/safe lease: gone (expired or cleared) -> back to the mode it
        # interrupted; the mode changed otherwise (a command, a trip) -> the lease is void.
        leased = int(self.leases.value[L_MODE])
        back = self.mode_lease_return
        modes = self.modes
        if modes.mode != leased:
            self.leases.clear(L_MODE)
            self.mode_lease_return = -1
            return
        if self.leases.active(L_MODE):
            return
        self.mode_lease_return = -1
        if leased == M_SAFE and self.interlocks.tripped:
            return  # a latched trip keeps it in safe until acknowledged and commanded
        if leased == M_SAFE and (back == M_STARTUP_FILL or back == M_STARTUP_COLD or back == M_STARTUP_WARMUP):
            modes.fire(T_CMD_AUTO, now_s, "mode_lease_ended")  # start-up is entered from out of safe
        if back < 0 or back >= N_MODES:  # compiled without index checks: refuse a mode number off the table
            raise IndexError("mode_lease_return %d is not a mode (0..%d)" % (back, N_MODES - 1))
        modes.fire(RETURN_TRIGGERS[back], now_s, "mode_lease_ended")

    def _outputs(self) -> dict:
        # step()'s result: a new dict each cycle (callers keep it as the last output). No
        # diagnostics: building them costs more than the cycle; diagnostics() gives them.
        act = self.act
        mode = self.modes.mode
        if mode < 0 or mode >= N_MODES:  # compiled without index checks: MODE_NAMES[mode] below
            raise IndexError("mode %d is not a mode (0..%d)" % (mode, N_MODES - 1))
        out = {
            "valve_cmd_pct": act.valve_cmd_pct,
            "valve_open_pulse_s": act.valve_open_pulse_s,
            "valve_close_pulse_s": act.valve_close_pulse_s,
            "pump1_run": act.pump1_run,
            "pump1_speed_cmd_pct": act.pump1_speed_cmd_pct,
            "pump2_run": act.pump2_run,
            "pump2_speed_cmd_pct": act.pump2_speed_cmd_pct,
            "makeup_pump_run": act.makeup_pump_run,
            "makeup_pump_speed_cmd_pct": act.makeup_pump_speed_cmd_pct,
            "relief_valve_open": act.relief_valve_open,
            "mode": mode,
            "mode_name": MODE_NAMES[mode],
            "supply_setpoint_c": self.supply_setpoint_c,
            "alarms": self.alarms.listing_now(),
        }
        if self.events:
            out["events"] = list(self.events)
            self.events.clear()
        else:
            out["events"] = []
        self.last_out = out
        return out

    def _clock(self, value: object) -> float:
        # A missing or garbage clock, or one running backwards, must not break the cycle:
        # advance by one cycle and carry on (firmware owns the clock; this is its bug).
        if type(value) is float or type(value) is int:
            return self._clock_s(float(value))
        return self.now_s + self.cycle_s if self.started else 0.0

    def _clock_s(self, now_s: float) -> float:
        if now_s == now_s and now_s != _INF and now_s != -_INF:
            if not self.started or now_s >= self.now_s:
                return now_s
        return self.now_s + self.cycle_s if self.started else 0.0

    def _start_clock(self, now_s: float) -> None:
        # Pieces were built at t=0; rebase their clocks on the first cycle's time.
        self.started = True
        self.modes.entered_s = now_s
        pumps = self.pumps
        pumps.duty_since_s = now_s
        pumps.idle_since_s[0] = now_s
        pumps.idle_since_s[1] = now_s
        pumps.start_not_before_s = now_s
        make_up = self.make_up
        make_up.bucket_start_s = now_s
        make_up.window_start_s = now_s

    def _filled(self) -> bool:
        signals = self.signals
        if not signals.ok[I_SECONDARY_RETURN_PRESSURE]:
            return False
        level_ok = not signals.ok[I_TANK_LEVEL] or not self.make_up.tank_low_low
        return level_ok and signals.values[I_SECONDARY_RETURN_PRESSURE] >= self.make_up.start_kpa

    def _update_alarms(self, now_s: float) -> None:
        # Every piece judges its own alarms (from this cycle's signals and its own state of the
        # last cycle) and feeds them to the table; nothing is judged here.
        alarms = self.alarms
        signals = self.signals
        mode = self.modes.mode
        interlocks = self.interlocks
        interlocks.report_alarms(alarms, now_s, signals, mode == M_STARTUP_FILL)
        self.pumps.report_alarms(alarms, now_s, signals, circulation_wanted(mode) or interlocks.frost)
        self.make_up.report_alarms(alarms, now_s, signals)
        self.valve.report_alarms(alarms, now_s, signals)
        self.modes.report_alarms(alarms, now_s, signals)
        signals.report_alarms(alarms, now_s)
        if self.balancing.n_groups > 0:
            self.balancing.report_alarms(alarms, now_s)

    def diagnostics(self) -> dict:
        """The diagnostics as of the last step() or step_image() ({name: number | None}: curve
        setpoint, trims, pump and make-up figures, lease times, ...), built when asked; the
        same dict is refreshed by each call."""
        return self._diag()

    def _diag(self) -> dict:
        d = self.diag
        pumps = self.pumps
        make_up = self.make_up
        leases = self.leases
        now_s = self.now_s
        d["outdoor_c"] = self.outdoor_c if self.outdoor_ok else None
        d["outdoor_used_c"] = self.chain.outdoor.composite_c  # what the curve runs on
        d["outdoor_source"] = self.chain.outdoor.source  # 0 sensor, 1 supervisor, 2 last good, 3 fixed
        d["chain_setpoint_c"] = self.chain_setpoint_c
        d["valve_estimate_pct"] = self.valve.actuator.estimate_pct
        d["heating_on"] = 1 if self.chain.heating_on else 0
        d["summer_cutout_held_by_rooms"] = 1 if self.chain.held_by_rooms else 0
        # what the setpoint is made of: the curve, the room feedback's trim (and the coldest
        # rooms it acts on), the limiters' cut
        chain = self.chain
        room = chain.room
        d["curve_c"] = chain.curve_c
        d["room_trim_k"] = chain.room_trim_k
        d["room_low_c"] = room.low_c if room.n_fresh > 0 else None
        d["room_fresh"] = room.n_fresh
        d["room_below_floor"] = room.n_below_floor
        d["room_shortage_margin_k"] = room.margin_k
        d["limit_trim_k"] = chain.limit_trim_k
        d["dp_kpa"] = pumps.dp_kpa if pumps.dp_ok else None
        d["dp_target_kpa"] = pumps.dp_target_kpa
        d["dp_shortage_boost_kpa"] = pumps.boost_kpa
        d["duty_pump"] = pumps.duty + 1
        d["pump1_run_h"] = pumps.run_s[0] / 3600.0
        d["pump2_run_h"] = pumps.run_s[1] / 3600.0
        d["flow_proven"] = 1 if pumps.flow_proven else 0
        d["makeup_setpoint_kpa"] = make_up.setpoint_kpa
        d["makeup_total_m3"] = make_up.total_m3
        # While the rate's window is still filling there is no rate: "measuring", never a false 0.
        d["makeup_rate_l_per_h"] = None if make_up.rate_measuring else make_up.rate_l_per_h
        d["makeup_rate_measuring"] = 1 if make_up.rate_measuring else 0
        d["makeup_volume_estimated"] = 1 if make_up.volume_estimated else 0
        d["interlock_actions"] = self.interlocks.actions
        d["frost"] = 1 if self.interlocks.frost else 0
        d["overtemp_tripped"] = 1 if self.interlocks.tripped else 0
        # While the supply sensor is bad: the valve's open-loop limit (None when it can see).
        d["valve_fallback_limit_pct"] = self.valve.fallback_limit_pct if self.valve.fallback else None
        d["room_setpoint_lease_s"] = leases.remaining_s(L_ROOM, now_s)
        d["supply_setpoint_lease_s"] = leases.remaining_s(L_SUPPLY, now_s)
        # The operator's leased target (the setpoint itself rises toward it at the ramp rate).
        d["supply_setpoint_lease_c"] = leases.value[L_SUPPLY] if leases.active(L_SUPPLY) else None
        d["dp_setpoint_lease_s"] = leases.remaining_s(L_DP, now_s)
        d["makeup_pressure_lease_s"] = leases.remaining_s(L_MAKEUP, now_s)
        d["boost_lease_s"] = leases.remaining_s(L_BOOST, now_s)
        d["mode_lease_s"] = leases.remaining_s(L_MODE, now_s)
        d["heat_cap_lease_s"] = leases.remaining_s(L_HEAT_CAP, now_s)
        d["warmup_ramp_c"] = self.modes.ramp_c
        return d

    # --- commands ----------------------------------------------------------------------------
    def handle_command(self, cmd: object, now_s: float) -> dict:
        """Validate and apply one command (core.command_handler); the answer carries a reason
        code and a text, and one "command" event is queued."""
        return command_handler.handle(self, cmd, now_s)

    def drop_mode_lease(self) -> None:
        """End a remote summer/safe lease without going back (the mode set now holds)."""
        self.leases.clear(L_MODE)
        self.mode_lease_return = -1

    # --- rooms, supervisor outdoor -------------------------------------------------------------
    def set_room_readings(self, readings: object, now_s: float) -> None:
        """Room-temperature collector readings [{"collector","group","temp_c","age_s"}]."""
        self.chain.set_room_readings(readings if isinstance(readings, list) else [], now_s)
        self.balancing.take(now_s, {"rooms": readings if isinstance(readings, list) else []})

    def set_room_temps(self, ids: list, groups: list, temps, now_s: float) -> None:
        """Room readings taken now as parallel sequences: collector `ids[i]` of group `groups[i]`
        reads `temps[i]` (degC; an array("d") compiled). The same checks and the same state as
        set_room_readings([{"collector": ids[i], "group": groups[i], "temp_c": temps[i],
        "age_s": 0.0}, ...]), without a dict per reading (a compiled simulation loop)."""
        checks.parallel_readings("set_room_temps", ids, groups, temps)
        self.chain.set_room_temps(ids, groups, temps, now_s)
        self.balancing.take_room_temps(now_s, ids, groups, temps)

    def set_branch_readings(self, readings: object, now_s: float) -> None:
        """The building branch valves' readings [{"group", "valve_position_pct", "return_temp_c",
        "ok"}] (core.balancing; "ok": False when the valve did not answer)."""
        self.balancing.take(now_s, {"branches": readings if isinstance(readings, list) else []})

    def branch_commands(self) -> dict:
        """{group: position command (%)} for every building branch valve (empty without them)."""
        return self.balancing.commands()

    def set_supervisor_outdoor(self, temp_c: object, now_s: float) -> None:
        """Outdoor temperature supplied by the supervisor (fallback for the local sensor)."""
        self.chain.set_supervisor_outdoor(temp_c, now_s)

    def set_forecast(self, msg: object, wall_s: float) -> str:
        """Keep a weather forecast (codec.decode_forecast output; `wall_s` the unix time now):
        "" when kept, else why it was refused (the forecast held stays)."""
        self._learn_wall(wall_s)
        return self.forecast.accept(msg, wall_s)

    def set_season(self, msg: object, wall_s: float) -> str:
        """Keep a season calendar (codec.decode_season output; `wall_s` the unix time now): ""
        when kept, else why it was refused (the calendar held stays). It replaces the [season]
        section's and is kept in the snapshot."""
        self._learn_wall(wall_s)
        problem = self.season.accept(msg, wall_s)
        self.planning = self.season.known()
        self.preheat.next_s = -1e18  # planned afresh on the next cycle
        return problem

    def _learn_wall(self, wall_s: float) -> None:
        if wall_s > 0.0 and wall_s == wall_s and wall_s != _INF:
            self.wall_offset_s = wall_s - self.now_s
            self.wall_known = True

    # --- persistence and uplink ----------------------------------------------------------------
    def snapshot(self) -> dict:
        """Plain JSON-safe state; times are stored as ages so a restart resumes."""
        now_s = self.now_s
        return {
            "v": SNAPSHOT_VERSION,
            "modes": self.modes.snapshot(now_s),
            "leases": self.leases.snapshot(now_s),
            "manual_valve_pct": self.manual_valve_pct,
            "mode_lease_return": self.mode_lease_return,
            "alarms": self.alarms.snapshot(now_s),
            "pumps": self.pumps.snapshot(now_s),
            "make_up": self.make_up.snapshot(now_s),
            "interlocks": self.interlocks.snapshot(),
            "sensors": self.signals.snapshot(),
            "chain": self.chain.snapshot(),
            "valve": self.valve.snapshot(),
            "forecast": self.forecast.snapshot(),
            "season": self.season.snapshot(),
            "preheat": self.preheat.snapshot(),
        }

    def restore(self, snap: object, now_s: float) -> None:
        """Resume from `snapshot()` output; unusable parts are ignored (defaults stand)."""
        if not isinstance(snap, dict) or snap.get("v") != SNAPSHOT_VERSION:
            return
        if not self.started:
            self._start_clock(now_s)
        self.now_s = now_s
        self.modes.restore(snap.get("modes"), now_s)
        self.leases.restore(snap.get("leases"), now_s)
        v = snap.get("manual_valve_pct")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100:
            self.manual_valve_pct = float(v)
        back = snap.get("mode_lease_return")
        if self.leases.active(L_MODE) and isinstance(back, int) and not isinstance(back, bool) and 0 <= back < N_MODES:
            self.mode_lease_return = back
        else:
            self.drop_mode_lease()
        self.alarms.restore(snap.get("alarms"), now_s)
        self.signals.alarms_busy = True  # restored sensor alarms must be re-evaluated
        self.pumps.restore(snap.get("pumps"), now_s)
        self.make_up.restore(snap.get("make_up"), now_s)
        self.interlocks.restore(snap.get("interlocks"))
        self.signals.restore(snap.get("sensors"))
        if isinstance(snap.get("chain"), dict):
            self.chain.restore(snap["chain"], now_s)
        if isinstance(snap.get("valve"), dict):
            self.valve.restore(snap["valve"], now_s)
        self.forecast.restore(snap.get("forecast"))
        self.season.restore(snap.get("season"))
        self.preheat.restore(snap.get("preheat"))
        self.planning = self.season.known()

    def telemetry(self, inputs: object, out: object) -> dict:
        """The flat uplink record {field: number | None} for one cycle."""
        rec = {}
        self._diag()  # current after step() or step_image()
        signals = self.signals
        i = 0
        while i < N_SIGNALS:
            rec[INPUTS[i]] = signals.values[i] if signals.ok[i] else None
            i += 1
        if isinstance(out, dict):
            for name in ACTUATORS:
                v = out.get(name)
                if isinstance(v, bool):
                    rec[name] = 1 if v else 0
                elif isinstance(v, (int, float)):
                    rec[name] = v
                else:
                    rec[name] = None
            mode = out.get("mode")
            rec["mode"] = mode if isinstance(mode, int) else None
            sp = out.get("supply_setpoint_c")
            rec["supply_setpoint_c"] = sp if isinstance(sp, (int, float)) else None
            rec["alarms_active"] = len(out.get("alarms", ()))
        for key in self.diag:
            v = self.diag[key]
            rec[key] = v if (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))) else None
        rec["settings_version"] = self.settings_version
        rec.update(self.season.telemetry(self.now_s + self.wall_offset_s if self.wall_known else 0.0))
        if self.planning:
            rec.update(self.preheat.telemetry())
        if self.balancing.n_groups > 0:
            _branch_telemetry(self.balancing, rec)
        return rec

    # --- pushed settings -----------------------------------------------------------------------
    def reconfigure(self, settings: object, version) -> list:  # version: int
        """Run on `settings` (validated first: SettingsError changes nothing) from the next
        cycle, called between cycles. A piece whose sections did not change is kept as it is.
        A changed one is built anew from the new settings and its snapshot restored into it
        (as after a restart: the piece maps its state onto the new limits, e.g. the PI
        integral clamped to new output limits); then every value of it that starts the same
        under the old and the new settings (state: timers, filters, running pumps, counters,
        the valve's end-position sync) is carried over live from the running piece. A value
        that starts differently is derived from a changed setting and takes the new one. The
        leases, the mode lease and the pending events are never touched. Returns the names
        of the pieces built anew."""
        fresh = StationController(settings)
        old = self.cfg
        new = fresh.cfg
        snap = self.snapshot()
        now_s = self.now_s
        rebuilt = []
        for name, sections in PIECE_SECTIONS:
            changed = False
            for sec in sections:
                if old[sec] != new[sec]:
                    changed = True
            if changed:
                rebuilt.append(name)
        if self.started:
            fresh._start_clock(now_s)
        if "signals" in rebuilt:
            fresh.signals.restore(snap["sensors"])
        if "alarms" in rebuilt:
            fresh.alarms.restore(snap["alarms"], now_s)
        if "modes" in rebuilt:
            fresh.modes.restore(snap["modes"], now_s)
        if "pumps" in rebuilt:
            fresh.pumps.restore(snap["pumps"], now_s)
        if "make_up" in rebuilt:
            fresh.make_up.restore(snap["make_up"], now_s)
        if "interlocks" in rebuilt:
            fresh.interlocks.restore(snap["interlocks"])
        if "chain" in rebuilt:
            fresh.chain.restore(snap["chain"], now_s)
        if "valve" in rebuilt:
            fresh.valve.restore(snap["valve"], now_s)
        if rebuilt:
            # Each value as it starts under the old and under the new settings: one that
            # starts the same is state, not settings, and is carried over live.
            start_old = StationController(old)
            start_new = StationController(settings)
            for name in rebuilt:
                _carry(getattr(self, name), getattr(start_old, name), getattr(start_new, name), getattr(fresh, name), 0)
        for name in rebuilt:
            setattr(self, name, getattr(fresh, name))
        for part in (self.alarms, self.modes, self.leases, self.pumps, self.make_up, self.interlocks, self.chain):
            part.events = self.events
        if rebuilt:
            self.signals.alarms_busy = True  # the alarms are judged afresh on the new limits
        self.cfg = new
        self.room_setpoint_c = fresh.room_setpoint_c
        self.supply_min_c = fresh.supply_min_c
        self.supply_max_c = fresh.supply_max_c
        self.makeup_setpoint_kpa = fresh.makeup_setpoint_kpa
        if old["season"] != new["season"] and self.season.version < 1:  # a pushed calendar outranks the file's
            self.season = fresh.season
            self.planning = self.season.known()
        self.settings_version = version
        return rebuilt


_FIELD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _branch_telemetry(balancing: Balancing, rec: dict) -> None:
    """Each branch valve's position, command, mode (index in core.balancing.MODES) and return
    temperature as branch_<group>_* (the group in lower case, "-" as "_"); a group name that
    cannot make a field name goes by its number."""
    rec["balancing_ref_c"] = balancing.ref_c
    rec["branches_lost"] = balancing.n_lost
    rec["branches_stuck"] = balancing.n_stuck
    k = 0
    for group in balancing.groups:
        k += 1
        name = group.lower().replace("-", "_")
        if not 0 < len(name) <= 32 or any(ch not in _FIELD_CHARS for ch in name):
            name = str(k)
        mode = balancing.mode[group]
        rec["branch_" + name + "_valve_pct"] = balancing.position[group]
        rec["branch_" + name + "_cmd_pct"] = balancing.sent[group]
        rec["branch_" + name + "_mode"] = BRANCH_MODES.index(mode) if mode in BRANCH_MODES else None
        rec["branch_" + name + "_return_c"] = balancing.returns.get(group)


_SCALARS = (bool, int, float, str)


def _same(a: object, b: object) -> bool:
    if type(a).__name__ in ("array", "memoryview", "_memoryviewslice"):
        a = list(a)  # type: ignore[call-overload]
        b = list(b)  # type: ignore[call-overload]
    return a == b or repr(a) == repr(b)  # NaN == NaN here


def _carry(live: object, start_old: object, start_new: object, target: object, depth: int) -> None:
    """Copy into `target` (a piece built from new settings, its snapshot restored) every value
    of `live` (the running piece) that starts the same under the old settings (`start_old`)
    and the new (`start_new`); pieces inside pieces likewise (two levels: the chain's and
    the valve's parts). A value that starts differently is the new settings' own."""
    for name in dir(start_new):
        if name.startswith("_") or name == "events":
            continue
        value = getattr(start_new, name)
        if callable(value):
            continue
        if value is None or isinstance(value, _SCALARS) or isinstance(value, (list, tuple, dict)) or \
                type(value).__name__ in ("array", "memoryview", "_memoryviewslice"):
            if _same(getattr(start_old, name), value):
                try:
                    setattr(target, name, getattr(live, name))
                except AttributeError:
                    pass  # a read-only property: derived, nothing to carry
        elif depth < 2:
            _carry(getattr(live, name), getattr(start_old, name), value, getattr(target, name), depth + 1)
