"""Outdoor temperature conditioning and its fallback chain.

The curve is fed a composite outdoor temperature (Siemens): a share of the actual value plus
the rest of an attenuated value, a first-order lag with the building time constant (10..20 h
typical; 0 = off). The summer cut-out uses the attenuated value (Siemens ECO 1).

Fallback chain, re-decided every cycle (source codes in SOURCE_NAMES):
  0 sensor     - the station's own sensor, ok and plausible;
  1 supervisor - a value the supervisor sent, while younger than supervisor_max_age_s;
  2 last_good  - the filters frozen at their last value, for at most hold_last_s;
  3 fixed      - fixed_c, a conservative cold value, so heating never stops for lack of data.
A sensor reading is implausible outside [plausible_min_c, plausible_max_c], after a jump of
more than jump_k from the last accepted value (unless the new value persists for jump_confirm_s,
so a replaced sensor is accepted again), or when it has not changed by even 0.01 K for
frozen_s (a stuck transmitter; 0 = off).
"""

import math

from . import checks
from .checks import merged

DEFAULTS = {
    "building_time_constant_s": 43200.0,  # 12 h; Siemens RVS line 6110 typical 10..20 h
    "composite_actual_share": 0.5,  # Siemens: 1/2 heavy building, 3/4 light
    "plausible_min_c": -50.0,
    "plausible_max_c": 50.0,
    "jump_k": 5.0,  # a larger step within jump_confirm_s is not accepted at once
    "jump_confirm_s": 600.0,
    "frozen_s": 86400.0,  # a day without any change: stuck transmitter (0 = off)
    "supervisor_max_age_s": 10800.0,  # 3 h
    "hold_last_s": 21600.0,  # 6 h on the last good value, then the fixed value
    "fixed_c": -10.0,  # conservative cold value: heats generously rather than too little
    "heating_limit_c": 17.0,  # summer cut-out on the attenuated outdoor temperature
    "heating_limit_hysteresis_k": 1.0,  # Siemens ECO: fixed 1 K switching differential
}

RANGES = {
    "building_time_constant_s": (0.0, 259200.0, "s"),
    "composite_actual_share": (0.0, 1.0, ""),
    "plausible_min_c": (-70.0, 0.0, "degC"),
    "plausible_max_c": (20.0, 70.0, "degC"),
    "jump_k": (0.5, 50.0, "K"),
    "jump_confirm_s": (0.0, 86400.0, "s"),
    "frozen_s": (0.0, 604800.0, "s"),
    "supervisor_max_age_s": (60.0, 604800.0, "s"),
    "hold_last_s": (0.0, 604800.0, "s"),
    "fixed_c": (-45.0, 10.0, "degC"),
    "heating_limit_c": (0.0, 30.0, "degC"),
    "heating_limit_hysteresis_k": (0.1, 10.0, "K"),
}

SOURCE_SENSOR = 0
SOURCE_SUPERVISOR = 1
SOURCE_LAST_GOOD = 2
SOURCE_FIXED = 3
SOURCE_NAMES = ("sensor", "supervisor", "last_good", "fixed")


def lag_step(previous: float, target: float, dt_s: float, time_constant_s: float) -> float:
    """One step of a first-order lag, exact for a constant target over dt_s."""
    if time_constant_s <= 0.0:
        return target
    if dt_s <= 0.0:
        return previous
    x = dt_s / time_constant_s
    if x > 50.0:
        return target
    return previous + (1.0 - math.exp(-x)) * (target - previous)


def validate(section) -> list:
    """Every problem of an `outdoor` settings section."""
    return checks.section("outdoor", section, DEFAULTS, RANGES)


class OutdoorConditioner:
    """Filtered outdoor temperature with a sensor -> supervisor -> last good -> fixed chain."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.building_time_constant_s = float(s["building_time_constant_s"])
        self.actual_share = float(s["composite_actual_share"])
        self.plausible_min_c = float(s["plausible_min_c"])
        self.plausible_max_c = float(s["plausible_max_c"])
        self.jump_k = float(s["jump_k"])
        self.jump_confirm_s = float(s["jump_confirm_s"])
        self.frozen_s = float(s["frozen_s"])
        self.supervisor_max_age_s = float(s["supervisor_max_age_s"])
        self.hold_last_s = float(s["hold_last_s"])
        self.fixed_c = float(s["fixed_c"])
        self.reset()

    def reset(self):
        self.lag_dt_s = 0.0
        self.lag_gain = 0.0
        self.started = False
        self.last_s = 0.0
        self.actual_c = self.fixed_c
        self.attenuated_c = self.fixed_c
        self.composite_c = self.fixed_c
        self.source = SOURCE_FIXED
        self.last_good_s = -1e18
        self.accepted_c = 0.0
        self.has_accepted = False
        self.candidate_c = 0.0
        self.candidate_since_s = -1.0
        self.changed_c = 0.0
        self.changed_since_s = 0.0
        self.supervisor_c = 0.0
        self.supervisor_s = -1e18
        self.sensor_fault = False

    def set_supervisor(self, temp_c: float, now_s: float):
        """An outdoor value sent by the supervisor (weather service, neighbour station)."""
        if temp_c == temp_c and self.plausible_min_c <= temp_c <= self.plausible_max_c:
            self.supervisor_c = temp_c
            self.supervisor_s = now_s

    def _sensor_plausible(self, now_s: float, raw_c: float) -> bool:
        if raw_c != raw_c or raw_c < self.plausible_min_c or raw_c > self.plausible_max_c:
            self.candidate_since_s = -1.0
            return False
        if self.frozen_s > 0.0:
            if not self.has_accepted or abs(raw_c - self.changed_c) > 0.01:
                self.changed_c = raw_c
                self.changed_since_s = now_s
            elif now_s - self.changed_since_s > self.frozen_s:
                return False
        if self.has_accepted:
            step_k = raw_c - self.accepted_c
            if abs(step_k) > self.jump_k:
                # A jump: accept only once the new level has persisted for jump_confirm_s.
                d_k = raw_c - self.candidate_c
                if self.candidate_since_s < 0.0 or abs(d_k) > self.jump_k:
                    self.candidate_c = raw_c
                    self.candidate_since_s = now_s
                    return False
                if now_s - self.candidate_since_s < self.jump_confirm_s:
                    return False
        self.candidate_since_s = -1.0
        return True

    def step(self, now_s: float, raw_c: float, raw_ok: bool) -> float:
        """The composite outdoor temperature for this cycle (degC); never raises."""
        dt_s = now_s - self.last_s if self.started else 0.0
        if dt_s < 0.0:
            dt_s = 0.0
        self.last_s = now_s
        good = raw_ok and self._sensor_plausible(now_s, raw_c)
        self.sensor_fault = not good
        if good:
            self.accepted_c = raw_c
            self.has_accepted = True
            self.last_good_s = now_s
            self.source = 0  # SOURCE_SENSOR (literals in step: no global lookups in compiled code)
            self._filter(raw_c, dt_s)
        elif now_s - self.supervisor_s <= self.supervisor_max_age_s:
            self.source = 1  # SOURCE_SUPERVISOR
            self._filter(self.supervisor_c, dt_s)
            self.last_good_s = now_s
        elif self.started and now_s - self.last_good_s <= self.hold_last_s and self.source != 3:
            self.source = 2  # SOURCE_LAST_GOOD: filters frozen
        else:
            self.source = 3  # SOURCE_FIXED
            self.actual_c = self.fixed_c
            self.composite_c = self.fixed_c
            if not self.started:
                self.attenuated_c = self.fixed_c
        return self.composite_c

    def _filter(self, value_c: float, dt_s: float):
        if not self.started:
            # First value: start the lag at the value itself.
            self.attenuated_c = value_c
            self.started = True
        self.actual_c = value_c
        if self.building_time_constant_s > 0.0:
            if dt_s != self.lag_dt_s:
                # exp() once per distinct cycle length, not every cycle
                self.lag_dt_s = dt_s
                self.lag_gain = lag_step(0.0, 1.0, dt_s, self.building_time_constant_s)
            self.attenuated_c += self.lag_gain * (value_c - self.attenuated_c)
        else:
            self.attenuated_c = value_c
        a = self.actual_share
        self.composite_c = a * value_c + (1.0 - a) * self.attenuated_c

    def snapshot(self) -> dict:
        return {
            "started": self.started, "last_s": self.last_s, "actual_c": self.actual_c,
            "attenuated_c": self.attenuated_c, "composite_c": self.composite_c, "source": self.source,
            "last_good_age_s": self.last_s - self.last_good_s if self.last_good_s > -1e17 else -1.0,
            "accepted_c": self.accepted_c, "has_accepted": self.has_accepted,
            "supervisor_c": self.supervisor_c,
            "supervisor_age_s": self.last_s - self.supervisor_s if self.supervisor_s > -1e17 else -1.0,
        }

    def restore(self, d: dict, now_s: float):
        """State from `snapshot()`; ages are carried over, the filters continue where they were."""
        self.reset()
        self.started = bool(d.get("started", False))
        self.last_s = now_s
        self.actual_c = float(d.get("actual_c", self.fixed_c))
        self.attenuated_c = float(d.get("attenuated_c", self.fixed_c))
        self.composite_c = float(d.get("composite_c", self.fixed_c))
        self.source = int(d.get("source", SOURCE_FIXED))
        age = float(d.get("last_good_age_s", -1.0))
        self.last_good_s = now_s - age if age >= 0.0 else -1e18
        self.accepted_c = float(d.get("accepted_c", 0.0))
        self.has_accepted = bool(d.get("has_accepted", False))
        self.changed_c = self.accepted_c
        self.changed_since_s = now_s
        self.supervisor_c = float(d.get("supervisor_c", 0.0))
        age = float(d.get("supervisor_age_s", -1.0))
        self.supervisor_s = now_s - age if age >= 0.0 else -1e18
