# cython: wraparound=False, boundscheck=False, initializedcheck=False
"""Interlocks: the last word in every cycle, acting locally whatever the network does.

They run after every other piece has written its outputs and only move outputs toward safe;
nothing in the cycle runs after them.
    over-temperature   secondary supply above `overtemp_c` for `overtemp_delay_s`: trip,
                       latched. Primary valve driven shut until the temperature is back below
                       `overtemp_c - overtemp_hyst_k` AND the alarm has been acknowledged.
                       Backup while the supply sensor is bad (blind): the same trip when the
                       secondary return, or the primary return (the hot side's outlet, never
                       colder than the secondary return in a counterflow exchanger, so the
                       more cautious reading), is above `overtemp_c - backup_return_margin_k`.
                       The valve loop
                       meanwhile runs open loop within its fallback limit (core.valve_loop,
                       `fallback_*` settings below).
    no circulation     no circulation pump commanded and proven: primary valve shut
                       (heating a standing exchanger boils it).
    over-pressure      secondary pressure above `over_pressure_kpa`: relief open, make-up off.
    dry run            return pressure too low (core.pumps): circulation pumps off.
    tank low-low       make-up pump off. Make-up pump fault: make-up pump off.
    frost              outdoor below `frost_outdoor_c` (hysteresis `frost_hyst_k`): circulation
                       wanted and forced on (unless dry run or the network is being filled:
                       frost_circulation), the supply setpoint at least `frost_min_supply_c` in
                       auto, remote, summer and warm-up (frost_supply_floor_c, applied by the
                       setpoint chain's last stage); supply below `frost_supply_c` with flow
                       proven holds the valve at least `frost_valve_min_pct` open, also while
                       an over-temperature trip is latched (then exactly that much).
Vendor practice for unattended stations: 超温或循环泵全停 -> 一次阀自动关闭; 超压自动泄压.
None of this replaces the hardware safety temperature limiter (STB) on the secondary supply.
"""

from . import checks
from .alarms import A_PRESSURE_HIGH, A_PRESSURE_LOW, A_SECONDARY_OVERTEMP, AlarmTable
from .make_up import MakeUp
from .modes import M_AUTO, M_REMOTE, M_STARTUP_FILL, M_STARTUP_WARMUP, M_SUMMER
from .pumps import CirculationPumps
from .sensors import (
    I_PRIMARY_RETURN_TEMP,
    I_SECONDARY_RETURN_PRESSURE,
    I_SECONDARY_RETURN_TEMP,
    I_SECONDARY_SUPPLY_PRESSURE,
    I_SECONDARY_SUPPLY_TEMP,
    SignalQuality,
)

# Signal indices held as C ints by the compiled module (interlocks.pxd).
_I_PRIMARY_RETURN_TEMP = I_PRIMARY_RETURN_TEMP
_I_SECONDARY_RETURN_TEMP = I_SECONDARY_RETURN_TEMP
_I_SECONDARY_RETURN_PRESSURE = I_SECONDARY_RETURN_PRESSURE
_I_SECONDARY_SUPPLY_PRESSURE = I_SECONDARY_SUPPLY_PRESSURE
_I_SECONDARY_SUPPLY_TEMP = I_SECONDARY_SUPPLY_TEMP
# Mode and alarm indices held as C ints by the compiled module (interlocks.pxd).
_M_AUTO = M_AUTO
_M_REMOTE = M_REMOTE
_M_STARTUP_FILL = M_STARTUP_FILL
_M_STARTUP_WARMUP = M_STARTUP_WARMUP
_M_SUMMER = M_SUMMER
_A_PRESSURE_HIGH = A_PRESSURE_HIGH
_A_PRESSURE_LOW = A_PRESSURE_LOW
_A_SECONDARY_OVERTEMP = A_SECONDARY_OVERTEMP


# Actions, as bits of `actions` (reported in diag and as events when they change).
X_OVERTEMP = 1
X_NO_FLOW = 2
X_OVER_PRESSURE = 4
X_DRY_RUN = 8
X_TANK_LOW_LOW = 16
X_MAKEUP_FAULT = 32
X_FROST = 64
X_FROST_VALVE = 128
X_BACKUP_TRIP = 256  # the over-temperature trip came from the backup (return) sensors
N_ACTIONS = 9
# Private copies held as C ints by the compiled module (interlocks.pxd).
_X_OVERTEMP = X_OVERTEMP
_X_NO_FLOW = X_NO_FLOW
_X_OVER_PRESSURE = X_OVER_PRESSURE
_X_DRY_RUN = X_DRY_RUN
_X_TANK_LOW_LOW = X_TANK_LOW_LOW
_X_MAKEUP_FAULT = X_MAKEUP_FAULT
_X_FROST = X_FROST
_X_FROST_VALVE = X_FROST_VALVE
_X_BACKUP_TRIP = X_BACKUP_TRIP
_N_ACTIONS = N_ACTIONS
ACTION_NAMES = ("overtemp_trip", "no_flow_valve_shut", "over_pressure_relief", "dry_run_pumps_off",
                "tank_low_low_makeup_off", "makeup_fault_off", "frost_circulation", "frost_valve_open",
                "backup_overtemp_trip")

DEFAULTS = {
    "overtemp_c": 95.0,
    "overtemp_hyst_k": 5.0,
    "overtemp_delay_s": 3.0,
    "over_pressure_kpa": 600.0,
    "over_pressure_hyst_kpa": 30.0,
    "under_pressure_kpa": 150.0,
    "frost_outdoor_c": 3.0,
    "frost_hyst_k": 1.0,
    "frost_min_supply_c": 20.0,
    "frost_supply_c": 5.0,
    "frost_valve_min_pct": 20.0,
    # Supply sensor bad. Backup trip on the return temperatures above overtemp_c - this: 15 K
    # is less than the usual 10-25 K supply-return delta T at load (GB 50736: design 75/50), so
    # a return this hot means a supply at or past overtemp_c; by default 80 degC, above any
    # return of a secondary held below supply_max_c (90 degC) with a working delta T.
    "backup_return_margin_k": 15.0,
    # The valve loop's open-loop fallback (core.valve_loop): the curve's feed-forward position
    # is fallback_valve_design_pct x (setpoint - design_room_c) / (design_supply_c -
    # design_room_c) (heat output about linear in stroke: equal-percentage valve on a plate
    # exchanger; on the reference plant the PI settles within 10 % of 100 % x that ratio),
    # closed linearly as the secondary or primary return rises, shut at fallback_return_rise_k
    # above its value when the sensor failed. Samson TROVIS 5500 moves a blind valve to a fixed
    # 30 %; this follows the curve instead and never opens beyond what the PI held.
    "fallback_valve_design_pct": 100.0,
    "fallback_return_rise_k": 5.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "overtemp_c": (50, 140, "degC"),
    "overtemp_hyst_k": (1, 30, "K"),
    "overtemp_delay_s": (0, 60, "s"),
    "over_pressure_kpa": (100, 2500, "kPa"),
    "over_pressure_hyst_kpa": (5, 200, "kPa"),
    "under_pressure_kpa": (0, 1000, "kPa"),
    "frost_outdoor_c": (-10, 10, "degC"),
    "frost_hyst_k": (0.2, 5, "K"),
    "frost_min_supply_c": (5, 60, "degC"),
    "frost_supply_c": (1, 20, "degC"),
    "frost_valve_min_pct": (0, 100, "%"),
    "backup_return_margin_k": (0, 40, "K"),
    "fallback_valve_design_pct": (0, 100, "%"),
    "fallback_return_rise_k": (0.5, 30, "K"),
}


def validate(section) -> list:
    """Problems of the "interlocks" settings section."""
    return checks.section("interlocks", section, DEFAULTS, RANGES)


class Actuators:
    """One cycle's actuator commands, the keys of core.signals.ACTUATORS as attributes; the
    station fills them and the interlocks have the last word on them."""

    def __init__(self) -> None:
        self.valve_cmd_pct = 0.0
        self.valve_open_pulse_s = 0.0
        self.valve_close_pulse_s = 0.0
        self.pump1_run = False
        self.pump1_speed_cmd_pct = 0.0
        self.pump2_run = False
        self.pump2_speed_cmd_pct = 0.0
        self.makeup_pump_run = False
        self.makeup_pump_speed_cmd_pct = 0.0
        self.relief_valve_open = False

    def read(self, out: dict) -> None:
        """Take the commands from an output dict (every ACTUATORS key present)."""
        self.valve_cmd_pct = out["valve_cmd_pct"]
        self.valve_open_pulse_s = out["valve_open_pulse_s"]
        self.valve_close_pulse_s = out["valve_close_pulse_s"]
        self.pump1_run = out["pump1_run"]
        self.pump1_speed_cmd_pct = out["pump1_speed_cmd_pct"]
        self.pump2_run = out["pump2_run"]
        self.pump2_speed_cmd_pct = out["pump2_speed_cmd_pct"]
        self.makeup_pump_run = out["makeup_pump_run"]
        self.makeup_pump_speed_cmd_pct = out["makeup_pump_speed_cmd_pct"]
        self.relief_valve_open = out["relief_valve_open"]

    def write(self, out: dict) -> None:
        """Put the commands into an output dict."""
        out["valve_cmd_pct"] = self.valve_cmd_pct
        out["valve_open_pulse_s"] = self.valve_open_pulse_s
        out["valve_close_pulse_s"] = self.valve_close_pulse_s
        out["pump1_run"] = self.pump1_run
        out["pump1_speed_cmd_pct"] = self.pump1_speed_cmd_pct
        out["pump2_run"] = self.pump2_run
        out["pump2_speed_cmd_pct"] = self.pump2_speed_cmd_pct
        out["makeup_pump_run"] = self.makeup_pump_run
        out["makeup_pump_speed_cmd_pct"] = self.makeup_pump_speed_cmd_pct
        out["relief_valve_open"] = self.relief_valve_open


class Interlocks:
    """Protective state; `apply_to` moves the actuator commands toward safe."""

    def __init__(self, cfg: dict) -> None:
        self.overtemp_c = float(cfg["overtemp_c"])
        self.overtemp_hyst_k = float(cfg["overtemp_hyst_k"])
        self.overtemp_delay_s = float(cfg["overtemp_delay_s"])
        self.over_pressure_kpa = float(cfg["over_pressure_kpa"])
        self.over_pressure_hyst_kpa = float(cfg["over_pressure_hyst_kpa"])
        self.under_pressure_kpa = float(cfg["under_pressure_kpa"])
        self.frost_outdoor_c = float(cfg["frost_outdoor_c"])
        self.frost_hyst_k = float(cfg["frost_hyst_k"])
        self.frost_min_supply_c = float(cfg["frost_min_supply_c"])
        self.frost_supply_c = float(cfg["frost_supply_c"])
        self.frost_valve_min_pct = float(cfg["frost_valve_min_pct"])
        self.backup_return_max_c = self.overtemp_c - float(cfg["backup_return_margin_k"])
        self.overtemp_cond = False
        self.backup_cond = False
        self.backup_trip = False  # the latched trip came from the backup sensors
        self.overtemp_value_c = 0.0  # the temperature the over-temperature check judged
        self.overtemp_limit_c = self.overtemp_c  # ... and the limit it judged it against
        self.pressure_max_kpa = 0.0  # the highest secondary pressure the over-pressure check judged
        self.overtemp_since_s = -1.0
        self.tripped = False
        self.reset_requested = False
        self.over_pressure = False
        self.under_pressure = False
        self.frost = False
        self.no_flow = False
        self.actions = 0
        self.events = []  # type: list

    def update_frost(self, outdoor_c: float, outdoor_ok: bool) -> bool:
        """Frost state from the outdoor temperature (kept when it is unknown)."""
        if outdoor_ok:
            if outdoor_c < self.frost_outdoor_c:
                self.frost = True
            elif outdoor_c >= self.frost_outdoor_c + self.frost_hyst_k:
                self.frost = False
        return self.frost

    def frost_supply_floor_c(self, mode) -> float:
        """The least supply setpoint frost asks for in `mode` (0.0: none): while frost, in auto,
        remote, warm-up and summer (where the curve does not apply at all), water is kept
        moving and warm whatever the curve or the season says."""
        if self.frost and (mode == _M_AUTO or mode == _M_REMOTE or mode == _M_SUMMER or mode == _M_STARTUP_WARMUP):
            return self.frost_min_supply_c
        return 0.0

    def frost_circulation(self, mode) -> bool:
        """Frost wants circulation (never in an unfilled network: start-up fill)."""
        return self.frost and mode != _M_STARTUP_FILL

    def request_reset(self) -> None:
        """The over-temperature alarm was acknowledged: release the trip once it is cool."""
        if self.tripped:
            self.reset_requested = True

    def apply(self, out: dict, now_s: float, signals: SignalQuality, pumps: CirculationPumps, make_up: MakeUp,
              cycle_s: float, filling: bool) -> None:
        """apply_to() on an output dict with the keys of core.signals.ACTUATORS."""
        act = Actuators()
        act.read(out)
        self.apply_to(act, now_s, signals, pumps, make_up, cycle_s, filling)
        act.write(out)

    def apply_to(self, out: Actuators, now_s: float, signals: SignalQuality, pumps: CirculationPumps, make_up: MakeUp,
                 cycle_s: float, filling: bool) -> None:
        """Move the commands `out` toward safe; nothing may change them after this call.
        `filling`: the network is being filled (start-up), so frost must not start a pump in it."""
        actions = 0
        # Over-temperature: evaluated on the validated supply temperature; while that is bad,
        # on the hottest return temperature that is ok (the backup).
        supply_ok = signals.ok[_I_SECONDARY_SUPPLY_TEMP]
        supply_c = signals.values[_I_SECONDARY_SUPPLY_TEMP]
        hyst = self.overtemp_hyst_k if self.overtemp_cond else 0.0
        if supply_ok:
            judged_c = supply_c
            high_c = self.overtemp_c
            self.backup_cond = False
        else:
            judged_c = -1.0e9
            if signals.ok[_I_SECONDARY_RETURN_TEMP]:
                judged_c = signals.values[_I_SECONDARY_RETURN_TEMP]
            if signals.ok[_I_PRIMARY_RETURN_TEMP] and signals.values[_I_PRIMARY_RETURN_TEMP] > judged_c:
                judged_c = signals.values[_I_PRIMARY_RETURN_TEMP]
            high_c = self.backup_return_max_c
        self.overtemp_value_c = judged_c if judged_c > -1.0e9 else supply_c
        self.overtemp_limit_c = high_c
        self.overtemp_cond = judged_c > high_c - hyst
        if not supply_ok:
            self.backup_cond = self.overtemp_cond
        if self.overtemp_cond and judged_c > high_c:
            if self.overtemp_since_s < 0.0:
                self.overtemp_since_s = now_s
            if now_s - self.overtemp_since_s >= self.overtemp_delay_s:
                if not self.tripped:
                    self.backup_trip = not supply_ok
                self.tripped = True
        elif not self.overtemp_cond:
            self.overtemp_since_s = -1.0
            if self.tripped and self.reset_requested:
                self.tripped = False
                self.backup_trip = False
                self.reset_requested = False
        # Pressures.
        p_sup_ok = signals.ok[_I_SECONDARY_SUPPLY_PRESSURE]
        p_ret_ok = signals.ok[_I_SECONDARY_RETURN_PRESSURE]
        p_max = -1.0e9
        if p_sup_ok:
            p_max = signals.values[_I_SECONDARY_SUPPLY_PRESSURE]
        if p_ret_ok and signals.values[_I_SECONDARY_RETURN_PRESSURE] > p_max:
            p_max = signals.values[_I_SECONDARY_RETURN_PRESSURE]
        limit = self.over_pressure_kpa - self.over_pressure_hyst_kpa if self.over_pressure else self.over_pressure_kpa
        self.over_pressure = p_max > limit
        self.pressure_max_kpa = p_max if p_max > -1.0e9 else 0.0
        self.under_pressure = p_ret_ok and signals.values[_I_SECONDARY_RETURN_PRESSURE] < self.under_pressure_kpa
        # Circulation: frost forces a pump on (unless dry), dry run forces them off.
        if pumps.dry_run:
            actions |= _X_DRY_RUN
            out.pump1_run = False
            out.pump2_run = False
            out.pump1_speed_cmd_pct = 0.0
            out.pump2_speed_cmd_pct = 0.0
        elif self.frost:
            actions |= _X_FROST
            # Backstop: the pumps normally run for frost already (a change-over pause included);
            # force one only if they were not asked to circulate at all.
            if not pumps.want and not filling and not out.pump1_run and not out.pump2_run:
                k = pumps.duty
                if k != 0 and k != 1:  # compiled without index checks: the duty pump is 0 or 1
                    raise ValueError("pumps.duty=%r: must be 0 (pump 1) or 1 (pump 2)" % (k,))
                k = k if not pumps.failed[k] else 1 - k
                if not pumps.failed[k]:
                    if k == 0:
                        out.pump1_run = True
                        out.pump1_speed_cmd_pct = pumps.fallback_speed_pct
                    else:
                        out.pump2_run = True
                        out.pump2_speed_cmd_pct = pumps.fallback_speed_pct
        flowing = (out.pump1_run and pumps.run[0] and pumps.proven[0]) or \
                  (out.pump2_run and pumps.run[1] and pumps.proven[1])
        self.no_flow = not flowing
        # Water freezing in the network outranks a latched over-temperature trip: a supply below
        # the frost limit is far from over-temperature, so while tripped (awaiting an
        # acknowledgement) the valve still opens to the frost minimum, and no further.
        freezing = self.frost and flowing and supply_ok and supply_c < self.frost_supply_c
        if self.no_flow or (self.tripped and not freezing):
            actions |= _X_OVERTEMP if self.tripped else 0
            actions |= _X_BACKUP_TRIP if self.tripped and self.backup_trip else 0
            actions |= _X_NO_FLOW if self.no_flow else 0
            out.valve_cmd_pct = 0.0
            out.valve_open_pulse_s = 0.0
            out.valve_close_pulse_s = cycle_s
        elif self.tripped:
            actions |= _X_OVERTEMP | _X_FROST_VALVE
            actions |= _X_BACKUP_TRIP if self.backup_trip else 0
            out.valve_cmd_pct = self.frost_valve_min_pct
            out.valve_close_pulse_s = 0.0
        elif freezing and out.valve_cmd_pct < self.frost_valve_min_pct:
            actions |= _X_FROST_VALVE
            out.valve_cmd_pct = self.frost_valve_min_pct
        # Make-up and relief.
        if self.over_pressure:
            actions |= _X_OVER_PRESSURE
            out.relief_valve_open = True
        if self.over_pressure or make_up.tank_low_low or make_up.pump_fault:
            actions |= _X_TANK_LOW_LOW if make_up.tank_low_low else 0
            actions |= _X_MAKEUP_FAULT if make_up.pump_fault else 0
            out.makeup_pump_run = False
            out.makeup_pump_speed_cmd_pct = 0.0
        if actions != self.actions:
            changed = actions ^ self.actions
            bit = 1
            i = 0
            while i < _N_ACTIONS:
                if changed & bit:
                    self.events.append({"kind": "interlock", "reason": ACTION_NAMES[i] + ("_on" if actions & bit else "_off"),
                                        "at_s": now_s})
                bit <<= 1
                i += 1
            self.actions = actions

    def report_alarms(self, alarms: AlarmTable, now_s: float, signals: SignalQuality, filling: bool) -> None:
        """Feed the interlocks' alarms: over-temperature trip, over and under pressure (low
        pressure is expected while the network is `filling`)."""
        # An idle alarm staying idle needs no update() (core.alarms.BUSY_BITS: a test, not a call).
        k = _A_SECONDARY_OVERTEMP
        if self.tripped or (alarms.busy >> k) & 1:
            alarms.update(k, self.tripped, self.overtemp_value_c, self.overtemp_limit_c, now_s)
        k = _A_PRESSURE_HIGH
        if self.over_pressure or (alarms.busy >> k) & 1:
            alarms.update(k, self.over_pressure, self.pressure_max_kpa, self.over_pressure_kpa, now_s)
        k = _A_PRESSURE_LOW
        if (self.under_pressure and not filling) or (alarms.busy >> k) & 1:
            alarms.update(k, (self.under_pressure and not filling), signals.values[_I_SECONDARY_RETURN_PRESSURE],
                          self.under_pressure_kpa, now_s)

    def snapshot(self) -> dict:
        return {"tripped": self.tripped, "reset_requested": self.reset_requested, "frost": self.frost,
                "backup_trip": self.backup_trip}

    def restore(self, snap: object) -> None:
        if isinstance(snap, dict):
            self.tripped = snap.get("tripped") is True
            self.reset_requested = snap.get("reset_requested") is True
            self.frost = snap.get("frost") is True
            self.backup_trip = self.tripped and snap.get("backup_trip") is True
