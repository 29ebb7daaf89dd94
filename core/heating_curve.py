"""Heating curve: outdoor temperature -> secondary supply temperature setpoint.

Three entries (`mode`), the first two as the anchors offer them:
- a piecewise-linear table of >= 6 points (Danfoss ECL style, factory curve
  -30/-15/-5/0/+5/+15 degC -> 75/60/50/45/40/28 degC), flat beyond its warm end; beyond its
  cold end it continues the coldest segment's gradient (`extend_cold_end`, default on), because
  a curve held flat below its last point under-heats every home in a cold snap colder than that
  point (Arxan reaches -44 degC against the factory table's -30 degC), while max_supply_c still
  bounds it; `extend_cold_end = false` holds it flat as the ECL does;
- a slope + parallel shift (ECL: every slope curve pivots at 24.6 degC supply at +20 degC
  outdoor; Siemens/Samson "gradient" and "level");
- "design": the table generated from the radiator design point (design outdoor, supply and
  return temperatures, room temperature, radiator exponent n), the quality-regulation
  (质调节) relation at constant flow, plant_physics 1.10 / industrial_anchors 4.2:
    T_s(T_o) = T_i + (T_s,d + T_r,d - 2 T_i)/2 * phi^(1/n) + (T_s,d - T_r,d)/2 * phi,
    phi = (T_i - T_o) / (T_i - T_o,d).
  Operators then type four design values they know instead of six points.
Room-setpoint shift: the supply setpoint moves by (room_setpoint_c - 20) x slope x 2.5 (ECL).
The result is clamped to [min_supply_c, max_supply_c]; a floor-heating circuit is held to
50 degC at most whatever max_supply_c says (Samson floor max, JGJ 142 35..50 degC).

Invariant: `supply_c()` is total: any finite input gives a value inside the clamp.
"""

from array import array

from . import checks
from .checks import merged
from .units import clamp

# ECL factory curve (slope 1.0) [industrial_anchors 2.1, ECL-HC].
DEFAULTS = {
    "mode": "table",  # "table", "slope" or "design"
    "table_outdoor_c": [-30.0, -15.0, -5.0, 0.0, 5.0, 15.0],
    "table_supply_c": [75.0, 60.0, 50.0, 45.0, 40.0, 28.0],
    "slope": 1.0,  # ECL 0.1..4.0 default 1.0; Siemens 0.25..4.0
    "shift_k": 0.0,  # parallel displacement, Samson -30..+30 K
    "design_room_c": 20.0,  # room temperature the curve is drawn for
    "design_outdoor_c": -20.0,  # mode "design": the local heating design temperature (GB 50736 App. A)
    "design_supply_c": 75.0,  # mode "design": GB 50736 radiator design 75/50 degC
    "design_return_c": 50.0,
    "radiator_exponent": 1.3,  # EN 442 radiators 1.24..1.35
    "room_shift_factor": 2.5,  # ECL: delta room x slope x 2.5
    "min_supply_c": 20.0,  # Samson EB5573 min flow 20 degC
    "max_supply_c": 90.0,  # Samson/ECL max flow 90 degC
    "floor_heating": False,  # floor circuits: max supply 50 degC
    "ramp_up_k_per_h": 12.0,  # max rate of rise of the setpoint (Siemens 1..600 K/h); 0 = off
    "extend_cold_end": True,  # below the coldest table point: continue its gradient (False: flat)
}

FLOOR_HEATING_MAX_C = 50.0
SLOPE_PIVOT_OUTDOOR_C = 20.0
SLOPE_PIVOT_SUPPLY_C = 24.6

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "mode": ("table", "slope", "design"),
    "slope": (0.1, 4.0, ""),
    "shift_k": (-30.0, 30.0, "K"),
    "design_room_c": (10.0, 30.0, "degC"),
    "room_shift_factor": (0.0, 10.0, ""),
    "design_outdoor_c": (-45.0, 5.0, "degC"),
    "design_supply_c": (30.0, 130.0, "degC"),
    "design_return_c": (20.0, 110.0, "degC"),
    "radiator_exponent": (1.0, 2.0, ""),
    "min_supply_c": (5.0, 80.0, "degC"),
    "max_supply_c": (20.0, 130.0, "degC"),
    "ramp_up_k_per_h": (0.0, 600.0, "K/h"),
}


def validate(section) -> list:
    """Every problem of a `curve` settings section (an empty list when it is valid)."""
    problems = checks.section("curve", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return problems
    s = merged(DEFAULTS, section)
    sup = s["design_supply_c"]
    ret = s["design_return_c"]
    room = s["design_room_c"]
    if checks.is_number(sup) and checks.is_number(ret) and checks.is_number(room) and not room < ret < sup:
        problems.append("curve.design_return_c=%r degC: must lie between curve.design_room_c=%r degC and "
                        "curve.design_supply_c=%r degC" % (ret, room, sup))
    xs = s["table_outdoor_c"]
    ys = s["table_supply_c"]
    if not isinstance(xs, list) or not isinstance(ys, list):
        problems.append("curve.table_outdoor_c/table_supply_c: must be lists of numbers")
        return problems
    if len(xs) != len(ys):
        problems.append("curve.table_outdoor_c has %d points, curve.table_supply_c %d: must be equal"
                        % (len(xs), len(ys)))
    if len(xs) < 2 or len(xs) > 12:
        problems.append("curve.table_outdoor_c=%r: must have 2 to 12 points" % (xs,))
    for i in range(len(xs)):
        x = xs[i]
        if not checks.is_number(x) or x < -60.0 or x > 30.0:
            problems.append("curve.table_outdoor_c[%d]=%r degC: must be in [-60.0, 30.0]" % (i, x))
        elif i > 0 and checks.is_number(xs[i - 1]) and x <= xs[i - 1]:
            problems.append("curve.table_outdoor_c[%d]=%r degC: must be above the previous point" % (i, x))
    for i in range(len(ys)):
        y = ys[i]
        if not checks.is_number(y) or y < 10.0 or y > 150.0:
            problems.append("curve.table_supply_c[%d]=%r degC: must be in [10.0, 150.0]" % (i, y))
    checks.order(problems, "curve", s, "min_supply_c", "max_supply_c", "degC")
    return problems


DESIGN_POINTS = 8
DESIGN_WARMEST_C = 15.0


def design_table(design_outdoor_c: float, design_supply_c: float, design_return_c: float, room_c: float,
                 exponent: float) -> tuple:
    """Curve points (outdoor_c list, supply_c list) from a radiator design point (see the module doc)."""
    xs = []
    ys = []
    i = 0
    while i < DESIGN_POINTS:
        t_o = design_outdoor_c + (DESIGN_WARMEST_C - design_outdoor_c) * i / (DESIGN_POINTS - 1)
        phi = (room_c - t_o) / (room_c - design_outdoor_c)
        if phi < 0.0:
            phi = 0.0
        t_s = room_c + 0.5 * (design_supply_c + design_return_c - 2.0 * room_c) * phi ** (1.0 / exponent) \
            + 0.5 * (design_supply_c - design_return_c) * phi
        xs.append(t_o)
        ys.append(t_s)
        i += 1
    return xs, ys


class HeatingCurve:
    """Evaluates the configured curve; built once from a valid `curve` section."""

    def __init__(self, section: dict):
        s = merged(DEFAULTS, section)
        self.use_table = s["mode"] != "slope"
        if s["mode"] == "design":
            table = design_table(float(s["design_outdoor_c"]), float(s["design_supply_c"]),
                                 float(s["design_return_c"]), float(s["design_room_c"]), float(s["radiator_exponent"]))
            self.xs = array("d", table[0])
            self.ys = array("d", table[1])
        else:
            # typed arrays: the compiled lookup reads C doubles, no float objects per cycle
            self.xs = array("d", [float(x) for x in s["table_outdoor_c"]])
            self.ys = array("d", [float(y) for y in s["table_supply_c"]])
        self.n_points = len(self.xs)
        n = self.n_points
        self.cold_gradient = 0.0  # K of supply per K colder than the table's coldest point
        if s["extend_cold_end"] and n >= 2 and self.xs[1] > self.xs[0]:
            self.cold_gradient = max(0.0, (self.ys[0] - self.ys[1]) / (self.xs[1] - self.xs[0]))
        self.shift_k = float(s["shift_k"])
        self.design_room_c = float(s["design_room_c"])
        self.room_shift_factor = float(s["room_shift_factor"])
        self.min_supply_c = float(s["min_supply_c"])
        max_c = float(s["max_supply_c"])
        if s["floor_heating"] and max_c > FLOOR_HEATING_MAX_C:
            max_c = FLOOR_HEATING_MAX_C
        self.max_supply_c = max_c
        if self.use_table:
            # The table's mean gradient stands for "slope" in the room-setpoint shift.
            n = len(self.xs)
            span = self.xs[n - 1] - self.xs[0]
            self.slope = (self.ys[0] - self.ys[n - 1]) / span if span > 0.0 else 1.0
        else:
            self.slope = float(s["slope"])

    def unclamped_c(self, outdoor_c: float, room_setpoint_c: float) -> float:
        """The curve before the min/max clamp."""
        if self.use_table:
            base = self.table_c(outdoor_c)
        else:
            base = SLOPE_PIVOT_SUPPLY_C + self.slope * (SLOPE_PIVOT_OUTDOOR_C - outdoor_c)
        room_k = (room_setpoint_c - self.design_room_c) * self.slope * self.room_shift_factor
        return base + self.shift_k + room_k

    def table_c(self, outdoor_c: float) -> float:
        """Piecewise-linear table lookup, flat beyond the warm end (cold end: see extend_cold_end)."""
        n = self.n_points
        x0 = self.xs[0]
        if outdoor_c <= x0:
            return self.ys[0] + self.cold_gradient * (x0 - outdoor_c)
        x1 = self.xs[n - 1]
        if outdoor_c >= x1:
            return self.ys[n - 1]
        i = 1
        x1 = self.xs[1]
        while i < n - 1 and x1 < outdoor_c:
            i += 1
            x1 = self.xs[i]
        x0 = self.xs[i - 1]
        y0 = self.ys[i - 1]
        y1 = self.ys[i]
        return y0 + (y1 - y0) * (outdoor_c - x0) / (x1 - x0)

    def supply_c(self, outdoor_c: float, room_setpoint_c: float) -> float:
        """Supply setpoint for this outdoor temperature and room setpoint, clamped."""
        return clamp(self.unclamped_c(outdoor_c, room_setpoint_c), self.min_supply_c, self.max_supply_c)
