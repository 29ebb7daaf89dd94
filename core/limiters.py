"""Limiters: slow outer loops that trim the supply setpoint down (never up).

Each limit is outdoor-dependent, two points (at outdoor_warm_c and outdoor_cold_c, straight
line between, flat beyond), and acts as an I-controller on its excess with a bounded
influence (trim in [-trim_max_k, 0]); below the limit the trim relaxes back towards 0 at the
same rate. The most restrictive trim wins.

- Primary return temperature max (ECL factory: +15 degC -> 40 degC, -15 degC -> 60 degC;
  influence 2.0 K of setpoint per K of excess, ECL Infl.-max -2.0; I-time 30 min as the
  Siemens RVL481/RMH760B return limiter Tn).
- Heat power and primary flow max from the heat meter (ECL A247/A266: 2 points at +15/-15
  degC). Off by default: the limits depend on the station's contract; enable with values.
- A heat cap leased by the supervisor (`lease_cap_kw`, set by the station every cycle from its
  heat_cap lease, 0 none): the power limit is the lower of it and the configured one, and runs
  even when power_limit_enabled is off (the supervisor's share of a short heat source).
A measurement that is not ok gives no trim (its integrator is reset) and raises a diag flag.
"""

from . import checks
from .checks import merged
from .signals import HEAT_POWER_KW, PRIMARY_FLOW_M3H, PRIMARY_RETURN_TEMP_C

DEFAULTS = {
    "outdoor_warm_c": 15.0,
    "outdoor_cold_c": -15.0,
    "return_limit_enabled": True,
    "return_max_warm_c": 40.0,
    "return_max_cold_c": 60.0,
    "return_gain_k_per_k": 2.0,
    "return_adapt_s": 1800.0,
    "return_trim_max_k": 30.0,
    "power_limit_enabled": False,
    "power_max_warm_kw": 1500.0,
    "power_max_cold_kw": 4500.0,  # reference station Q_d 4.5 MW (plant_physics 1.11)
    "flow_limit_enabled": False,
    "flow_max_warm_m3h": 40.0,
    "flow_max_cold_m3h": 73.0,  # reference station primary design flow (plant_physics 1.7)
    "meter_gain_k_per_pct": 0.5,  # K of setpoint per % over the limit
    "meter_adapt_s": 900.0,
    "meter_trim_max_k": 30.0,
}

RANGES = {
    "outdoor_warm_c": (-10.0, 30.0, "degC"),
    "outdoor_cold_c": (-50.0, 10.0, "degC"),
    "return_max_warm_c": (10.0, 110.0, "degC"),
    "return_max_cold_c": (10.0, 110.0, "degC"),
    "return_gain_k_per_k": (0.0, 10.0, "K/K"),
    "return_adapt_s": (10.0, 86400.0, "s"),
    "return_trim_max_k": (0.0, 60.0, "K"),
    "power_max_warm_kw": (1.0, 1000000.0, "kW"),
    "power_max_cold_kw": (1.0, 1000000.0, "kW"),
    "flow_max_warm_m3h": (0.1, 100000.0, "m3/h"),
    "flow_max_cold_m3h": (0.1, 100000.0, "m3/h"),
    "meter_gain_k_per_pct": (0.0, 10.0, "K/%"),
    "meter_adapt_s": (10.0, 86400.0, "s"),
    "meter_trim_max_k": (0.0, 60.0, "K"),
}


def validate(section) -> list:
    """Every problem of a `limiters` settings section."""
    problems = checks.section("limiters", section, DEFAULTS, RANGES)
    if not isinstance(section, dict) or problems:
        return problems
    s = merged(DEFAULTS, section)
    checks.order(problems, "limiters", s, "outdoor_cold_c", "outdoor_warm_c", "degC")
    return problems


class Limiters:
    """Return-temperature, power and flow limitation as setpoint trims (K, <= 0)."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.x_warm_c = float(s["outdoor_warm_c"])
        self.x_cold_c = float(s["outdoor_cold_c"])
        self.return_enabled = bool(s["return_limit_enabled"])
        self.return_warm_c = float(s["return_max_warm_c"])
        self.return_cold_c = float(s["return_max_cold_c"])
        self.return_rate = float(s["return_gain_k_per_k"]) / float(s["return_adapt_s"])
        self.return_trim_max_k = float(s["return_trim_max_k"])
        self.power_enabled = bool(s["power_limit_enabled"])
        self.power_warm_kw = float(s["power_max_warm_kw"])
        self.power_cold_kw = float(s["power_max_cold_kw"])
        self.flow_enabled = bool(s["flow_limit_enabled"])
        self.flow_warm_m3h = float(s["flow_max_warm_m3h"])
        self.flow_cold_m3h = float(s["flow_max_cold_m3h"])
        self.meter_rate = float(s["meter_gain_k_per_pct"]) / float(s["meter_adapt_s"])
        self.meter_trim_max_k = float(s["meter_trim_max_k"])
        self.return_name = PRIMARY_RETURN_TEMP_C
        self.power_name = HEAT_POWER_KW
        self.flow_name = PRIMARY_FLOW_M3H
        self.reset()

    def reset(self):
        self.return_trim_k = 0.0
        self.power_trim_k = 0.0
        self.flow_trim_k = 0.0
        self.return_limit_c = 0.0
        self.power_limit_kw = 0.0
        self.flow_limit_m3h = 0.0
        self.lease_cap_kw = 0.0
        self.return_fault = False
        self.meter_fault = False

    def limit_at(self, outdoor_c: float, warm: float, cold: float) -> float:
        """A two-point limit at this outdoor temperature, flat beyond the points."""
        if outdoor_c >= self.x_warm_c:
            return warm
        if outdoor_c <= self.x_cold_c:
            return cold
        return warm + (cold - warm) * (outdoor_c - self.x_warm_c) / (self.x_cold_c - self.x_warm_c)

    def step(self, dt_s: float, outdoor_c: float, inputs: dict) -> float:
        """The combined trim (K, <= 0) for this cycle."""
        return self.step_values(dt_s, outdoor_c, reading(inputs, self.return_name), reading(inputs, self.power_name),
                                reading(inputs, self.flow_name))

    def step_values(self, dt_s: float, outdoor_c: float, return_c: float, power_kw: float, flow_m3h: float) -> float:
        """step() on the three readings themselves (each NaN when absent, not ok or not finite,
        as reading() gives them): the station's cycle passes its validated signals."""
        self.return_fault = False
        self.meter_fault = False
        if self.return_enabled:
            self.return_limit_c = self.limit_at(outdoor_c, self.return_warm_c, self.return_cold_c)
            v = return_c
            if v != v:
                self.return_fault = True
                self.return_trim_k = 0.0
            else:
                self.return_trim_k = _integrate(self.return_trim_k, v - self.return_limit_c,
                                                self.return_rate * dt_s, self.return_trim_max_k)
        cap = self.lease_cap_kw
        if self.power_enabled or cap > 0.0:
            # a heat cap leased by the supervisor (0: none) lowers the limit, even a disabled one
            limit = self.limit_at(outdoor_c, self.power_warm_kw, self.power_cold_kw) if self.power_enabled else cap
            if 0.0 < cap < limit:
                limit = cap
            self.power_limit_kw = limit
            v = power_kw
            if v != v:
                self.meter_fault = True
                self.power_trim_k = 0.0
            else:
                excess_pct = 100.0 * (v - self.power_limit_kw) / self.power_limit_kw
                self.power_trim_k = _integrate(self.power_trim_k, excess_pct, self.meter_rate * dt_s,
                                               self.meter_trim_max_k)
        if self.flow_enabled:
            self.flow_limit_m3h = self.limit_at(outdoor_c, self.flow_warm_m3h, self.flow_cold_m3h)
            v = flow_m3h
            if v != v:
                self.meter_fault = True
                self.flow_trim_k = 0.0
            else:
                excess_pct = 100.0 * (v - self.flow_limit_m3h) / self.flow_limit_m3h
                self.flow_trim_k = _integrate(self.flow_trim_k, excess_pct, self.meter_rate * dt_s,
                                              self.meter_trim_max_k)
        trim = self.return_trim_k
        if self.power_trim_k < trim:
            trim = self.power_trim_k
        if self.flow_trim_k < trim:
            trim = self.flow_trim_k
        return trim

    def snapshot(self) -> dict:
        return {"return_trim_k": self.return_trim_k, "power_trim_k": self.power_trim_k,
                "flow_trim_k": self.flow_trim_k}

    def restore(self, d: dict):
        self.return_trim_k = _bounded(d.get("return_trim_k", 0.0), self.return_trim_max_k)
        self.power_trim_k = _bounded(d.get("power_trim_k", 0.0), self.meter_trim_max_k)
        self.flow_trim_k = _bounded(d.get("flow_trim_k", 0.0), self.meter_trim_max_k)


NAN = float("nan")


def reading(inputs: dict, name: str) -> float:
    """The value of `name` in a process image when present, ok and a finite number, else NaN."""
    item = inputs.get(name)
    if item is None:
        return NAN
    try:
        if not item[1]:
            return NAN
        v = float(item[0])
    except (TypeError, ValueError, IndexError):
        return NAN
    if v - v != 0.0:
        return NAN  # NaN or infinite
    return v


def _integrate(trim_k: float, excess: float, gain_dt: float, trim_max_k: float) -> float:
    """One I-step: an excess pushes the trim down, a shortfall lets it back up to 0."""
    trim_k -= gain_dt * excess
    if trim_k > 0.0:
        return 0.0
    if trim_k < -trim_max_k:
        return -trim_max_k
    return trim_k


def _bounded(value, trim_max_k: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    if v != v or v > 0.0:
        return 0.0
    if v < -trim_max_k:
        return -trim_max_k
    return v
