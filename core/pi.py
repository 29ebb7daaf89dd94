"""PI controller for the secondary supply temperature (output: valve position %).

Positional PI, u = P + I, with:
- proportional band xp_k (100 % of stroke over xp_k kelvin; ECL "Xp") and an optional separate
  band for closing (ECL120 "Xp low/high" asymmetric gains), integral time tn_s (ECL "Tn");
- a symmetric neutral zone of neutral_zone_k (ECL "Nz", total width): inside it the error is
  taken as 0 and the output holds; outside, the error is reduced by half the zone so the
  output stays continuous at its edges;
- anti-windup: conditional integration (no integration that would push a saturated output
  further, nor while the actuator lags the command by more than lag_band_pct in the same
  direction, which is how a slow 3-point actuator winds a PI up) and the integral kept inside
  the output range;
- bumpless transfer: `track(out_pct, ...)` loads the integral so the next automatic output
  equals the manual one.
Defaults, inside the reference ranges of plant_physics 1.10 (Xp 40..80 K, Tn 60..180 s,
Nz 1..2 K): Xp 60 K, Tn 120 s (Tn >= the actuator run time, reference 120 s; Siemens RVL481
Tn 120 s), neutral zone 1 K. On the reference plant model (8 h at -5 and 0 degC, 1 s cycle) this
held the supply at +0.3 K mean, 1.0 K worst, against +0.8 K mean, 1.6 K worst with
Xp 80 K / Tn 120 s / Nz 2 K, for a similar valve travel. The ECL factory values (Xp 80 K,
Tn 30 s, Nz 3 K) suit its 35 s actuators.
"""

from . import checks
from .checks import merged
from .units import clamp

DEFAULTS = {
    "xp_k": 60.0,
    "xp_close_k": 0.0,  # 0 = same as xp_k
    "tn_s": 120.0,
    "neutral_zone_k": 1.0,
    "out_min_pct": 0.0,
    "out_max_pct": 100.0,
    "lag_band_pct": 10.0,
}

RANGES = {
    "xp_k": (1.0, 250.0, "K"),
    "xp_close_k": (0.0, 250.0, "K"),
    "tn_s": (5.0, 3600.0, "s"),
    "neutral_zone_k": (0.0, 9.0, "K"),
    "out_min_pct": (0.0, 100.0, "%"),
    "out_max_pct": (0.0, 100.0, "%"),
    "lag_band_pct": (1.0, 100.0, "%"),
}


def validate(section) -> list:
    """Every problem of a `pi` settings section."""
    problems = checks.section("pi", section, DEFAULTS, RANGES)
    if not isinstance(section, dict) or problems:
        return problems
    s = merged(DEFAULTS, section)
    checks.order(problems, "pi", s, "out_min_pct", "out_max_pct", "%")
    if 0.0 < s["xp_close_k"] < 1.0:
        problems.append("pi.xp_close_k=%r K: must be 0 (same as xp_k) or in [1.0, 250.0]" % (s["xp_close_k"],))
    return problems


class PIController:
    """One PI loop; call step() every cycle, track() while in manual."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.kp_open = 100.0 / float(s["xp_k"])
        xp_close = float(s["xp_close_k"])
        self.kp_close = 100.0 / xp_close if xp_close > 0.0 else self.kp_open
        self.tn_s = float(s["tn_s"])
        self.half_zone_k = 0.5 * float(s["neutral_zone_k"])
        self.out_min_pct = float(s["out_min_pct"])
        self.out_max_pct = float(s["out_max_pct"])
        self.lag_band_pct = float(s["lag_band_pct"])
        self.integral_pct = self.out_min_pct
        self.p_pct = 0.0
        self.out_pct = self.out_min_pct
        self.error_k = 0.0

    def effective_error_k(self, setpoint_c: float, measured_c: float) -> float:
        """Error after the neutral zone (0 inside it, continuous at its edges)."""
        e = setpoint_c - measured_c
        self.error_k = e
        h = self.half_zone_k
        if e > h:
            return e - h
        if e < -h:
            return e + h
        return 0.0

    def step(self, dt_s: float, setpoint_c: float, measured_c: float, actuator_pct: float) -> float:
        """New output (%). actuator_pct: the valve's actual/estimated position, < 0 if unknown."""
        e = self.effective_error_k(setpoint_c, measured_c)
        kp = self.kp_open if e >= 0.0 else self.kp_close
        p = kp * e
        di = kp * e * dt_s / self.tn_s
        lo = self.out_min_pct
        hi = self.out_max_pct
        integral = self.integral_pct
        u = p + integral + di
        if di > 0.0 and u > hi:
            # conditional integration: only up to the limit, never beyond it
            di = hi - p - integral
            if di < 0.0:
                di = 0.0
        elif di < 0.0 and u < lo:
            di = lo - p - integral
            if di > 0.0:
                di = 0.0
        elif actuator_pct >= 0.0:
            if (di > 0.0 and self.out_pct - actuator_pct > self.lag_band_pct) or \
                    (di < 0.0 and actuator_pct - self.out_pct > self.lag_band_pct):
                di = 0.0  # the actuator cannot follow: integrating now only winds up
        integral = clamp(integral + di, lo, hi)
        self.integral_pct = integral
        self.p_pct = p
        u = clamp(p + integral, lo, hi)
        self.out_pct = u
        return u

    def track(self, out_pct: float, setpoint_c: float, measured_c: float):
        """Bumpless transfer: follow an output set elsewhere (manual, heating off)."""
        e = self.effective_error_k(setpoint_c, measured_c)
        kp = self.kp_open if e >= 0.0 else self.kp_close
        p = kp * e
        self.integral_pct = clamp(out_pct - p, self.out_min_pct, self.out_max_pct)
        self.p_pct = p
        self.out_pct = out_pct

    def snapshot(self) -> dict:
        return {"integral_pct": self.integral_pct, "out_pct": self.out_pct}

    def restore(self, d: dict):
        try:
            integral = float(d.get("integral_pct", self.out_min_pct))
            out = float(d.get("out_pct", integral))
        except (TypeError, ValueError):
            return
        if integral == integral and out == out:
            self.integral_pct = min(self.out_max_pct, max(self.out_min_pct, integral))
            self.out_pct = min(self.out_max_pct, max(self.out_min_pct, out))
