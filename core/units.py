"""Small numeric helpers shared by the control modules.

Every function is total: it never raises on finite input, so a control cycle built from them
cannot fail on arithmetic. Temperatures are in degC, differences in K, times in s.
"""

from math import exp


def clamp(value: float, low: float, high: float) -> float:
    """`value` limited to [low, high]."""
    if value < low:
        return low
    if value > high:
        return high
    return value


def lerp(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """Straight line through (x0, y0) and (x1, y1), evaluated at x (no clamping)."""
    if x1 == x0:
        return y0
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def interp_table(x: float, xs: list, ys: list) -> float:
    """Piecewise-linear interpolation in a table with ascending `xs`, held flat beyond the ends."""
    n = len(xs)
    if n == 0:
        return 0.0
    if x <= xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    i = 1
    while i < n and xs[i] < x:
        i += 1
    return lerp(x, xs[i - 1], ys[i - 1], xs[i], ys[i])


def first_order(previous: float, target: float, dt_s: float, time_constant_s: float) -> float:
    """One step of a first-order lag (exact for a constant target over dt_s)."""
    if time_constant_s <= 0.0 or dt_s <= 0.0:
        return target if time_constant_s <= 0.0 else previous
    x = dt_s / time_constant_s
    if x > 50.0:
        return target
    return previous + (1.0 - exp(-x)) * (target - previous)


def is_finite(value: float) -> bool:
    """False for NaN and infinities."""
    return value == value and value not in (float("inf"), float("-inf"))
