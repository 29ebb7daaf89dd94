"""The weather forecast a station holds for its planner: hourly outdoor temperatures ahead.

The supervisor fetches a forecast per city and sends it on the station's forecast topic
(`codec.encode_forecast`); the firmware decodes it (`codec.decode_forecast`) and hands it to
`StationController.set_forecast`, which keeps it here. Nothing in the control cycle reads it
yet: with no forecast, or one too old, the station runs exactly as without one.

Times are wall-clock unix seconds (a forecast is about calendar hours; the controller's own
clock is monotonic and restarts at boot), so the caller gives the wall clock to every query.
A forecast is *usable* at `wall_s` while it is at most `max_age_s` old (by its issue time) and
`wall_s` lies within its hours; `value_at` interpolates linearly between the hourly points
and returns None outside them or once the forecast is stale, so a planner never acts on one
that is out of date. The snapshot keeps the whole forecast (unix times), so a restart or a
long outage of the supervisor keeps it until it ages out.

    fc = Forecast()
    problem = fc.accept(msg, wall_s)      # "" when kept, else why it was refused (old one kept)
    fc.value_at(ts, wall_s)               # degC or None
    fc.telemetry(wall_s)                  # {"forecast_age_s", "forecast_horizon_h"}
    fc.snapshot(); fc.restore(d)

MicroPython-compatible, no I/O.
"""

from . import checks

MAX_POINTS = 168  # a week of hourly values
MIN_STEP_S = 900.0
MAX_STEP_S = 10800.0
DEFAULT_MAX_AGE_S = 36 * 3600.0  # a forecast issued longer ago than this is ignored
MAX_FUTURE_S = 3600.0  # how far ahead of the station's wall clock an issue time may be
TEMP_MIN_C = -80.0  # codec.OUTDOOR_MIN_C / OUTDOOR_MAX_C: wider than any weather
TEMP_MAX_C = 70.0
RADIATION_MAX_W_M2 = 1500.0
WIND_MAX_M_S = 100.0
SERIES = (("temp_c", TEMP_MIN_C, TEMP_MAX_C), ("radiation_w_m2", 0.0, RADIATION_MAX_W_M2),
          ("wind_m_s", 0.0, WIND_MAX_M_S))


def check(msg) -> str:
    """"" when `msg` is a forecast this module can hold, else the first problem (key, value,
    allowed range). `msg`: {"ts", "start_ts", "step_s", "temp_c": [...], optional
    "radiation_w_m2" and "wind_m_s" lists of the same length, "source"}."""
    if not isinstance(msg, dict):
        return "forecast: must be an object"
    for key in ("ts", "start_ts"):
        value = msg.get(key)
        if not checks.is_exact_number(value) or value < 0:  # type: ignore[operator]
            return "%s=%r: must be unix seconds" % (key, value)
    step = msg.get("step_s")
    if not checks.is_exact_number(step) or not MIN_STEP_S <= step <= MAX_STEP_S:  # type: ignore[operator]
        return "step_s=%r s: must be in [%g, %g]" % (step, MIN_STEP_S, MAX_STEP_S)
    temps = msg.get("temp_c")
    if not isinstance(temps, list) or not 2 <= len(temps) <= MAX_POINTS:
        return "temp_c: must be a list of 2-%d values" % MAX_POINTS
    n = len(temps)
    for name, low, high in SERIES:
        values = msg.get(name)
        if values is None and name != "temp_c":
            continue
        if not isinstance(values, list) or len(values) != n:
            return "%s: must be a list of %d values (one per temp_c value)" % (name, n)
        i = 0
        for v in values:
            if not checks.is_exact_number(v) or not low <= v <= high:
                return "%s[%d]=%r: must be a number in [%g, %g]" % (name, i, v, low, high)
            i += 1
    source = msg.get("source", "")
    if not isinstance(source, str) or len(source) > 64:
        return "source: must be text of at most 64 characters"
    return ""


class Forecast:
    """The latest accepted forecast and its queries (see the module docstring)."""

    def __init__(self, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        self.max_age_s = max_age_s
        self.clear()

    def clear(self) -> None:
        self.issued_ts = -1.0
        self.start_ts = 0.0
        self.step_s = 3600.0
        self.temp_c = []  # type: list
        self.radiation_w_m2 = None  # type: list | None
        self.wind_m_s = None  # type: list | None
        self.source = ""
        self.accepted = 0
        self.refused = 0
        self.last_problem = ""

    def accept(self, msg, wall_s: float) -> str:
        """Keep `msg` (codec.decode_forecast output) unless it is malformed, from the future,
        already stale, or older than the one held; returns "" or the reason (the held forecast stays)."""
        problem = check(msg)
        if not problem:
            ts = float(msg["ts"])
            if ts > wall_s + MAX_FUTURE_S:
                problem = "ts=%r: %.0f s ahead of the station's clock (at most %g s)" % (ts, ts - wall_s, MAX_FUTURE_S)
            elif wall_s - ts > self.max_age_s:
                problem = "ts=%r: %.0f s old, older than the %g s a forecast is used" % (ts, wall_s - ts, self.max_age_s)
            elif ts < self.issued_ts:
                problem = "ts=%r: older than the forecast held (issued %r)" % (ts, self.issued_ts)
        if problem:
            self.refused += 1
            self.last_problem = problem
            return problem
        self.issued_ts = float(msg["ts"])
        self.start_ts = float(msg["start_ts"])
        self.step_s = float(msg["step_s"])
        self.temp_c = [float(v) for v in msg["temp_c"]]
        rad, wind = msg.get("radiation_w_m2"), msg.get("wind_m_s")
        self.radiation_w_m2 = [float(v) for v in rad] if rad is not None else None
        self.wind_m_s = [float(v) for v in wind] if wind is not None else None
        self.source = str(msg.get("source", ""))
        self.accepted += 1
        self.last_problem = ""
        return ""

    # --- queries ---------------------------------------------------------------------------
    def end_ts(self) -> float:
        """Unix time of the last value (start_ts when none is held)."""
        n = len(self.temp_c)
        return self.start_ts + (n - 1) * self.step_s if n else self.start_ts

    def usable(self, wall_s: float) -> bool:
        """A forecast is held, not older than max_age_s and not issued in the future."""
        if not self.temp_c:
            return False
        age = wall_s - self.issued_ts
        return -MAX_FUTURE_S <= age <= self.max_age_s

    def _at(self, series, ts: float, wall_s: float):
        if series is None or not self.usable(wall_s):
            return None
        x = (ts - self.start_ts) / self.step_s
        last = len(series) - 1
        if x < 0.0 or x > last:
            return None
        i = int(x)
        if i >= last:
            return series[last]
        frac = x - i
        return series[i] + (series[i + 1] - series[i]) * frac

    def value_at(self, ts: float, wall_s: float):
        """Forecast outdoor temperature (degC) at unix time `ts`, linear between the points;
        None outside the forecast's hours, or when none is usable at `wall_s`."""
        return self._at(self.temp_c, ts, wall_s)

    def radiation_at(self, ts: float, wall_s: float):
        """Shortwave radiation (W/m2) at `ts`, as value_at; None also when the source gave none."""
        return self._at(self.radiation_w_m2, ts, wall_s)

    def wind_at(self, ts: float, wall_s: float):
        """Wind speed at 10 m (m/s) at `ts`, as value_at; None also when the source gave none."""
        return self._at(self.wind_m_s, ts, wall_s)

    def age_s(self, wall_s: float):
        """Seconds since the forecast was issued (None when none is held)."""
        return wall_s - self.issued_ts if self.temp_c else None

    def horizon_h(self, wall_s: float) -> float:
        """Hours of usable forecast ahead of `wall_s` (0 when none is usable)."""
        if not self.usable(wall_s):
            return 0.0
        ahead = self.end_ts() - max(wall_s, self.start_ts)
        return ahead / 3600.0 if ahead > 0.0 else 0.0

    def telemetry(self, wall_s: float) -> dict:
        """The two telemetry fields: the forecast's age and its usable horizon (None without one)."""
        age = self.age_s(wall_s)
        return {"forecast_age_s": round(age, 1) if age is not None else None,
                "forecast_horizon_h": round(self.horizon_h(wall_s), 2) if age is not None else None}

    # --- persistence -----------------------------------------------------------------------
    def snapshot(self) -> dict:
        """JSON-safe state (unix times: valid across restarts); {} when none is held."""
        if not self.temp_c:
            return {}
        d = {"ts": self.issued_ts, "start_ts": self.start_ts, "step_s": self.step_s, "temp_c": list(self.temp_c),
             "source": self.source}
        if self.radiation_w_m2 is not None:
            d["radiation_w_m2"] = list(self.radiation_w_m2)
        if self.wind_m_s is not None:
            d["wind_m_s"] = list(self.wind_m_s)
        return d

    def restore(self, d) -> bool:
        """Resume from `snapshot()`; anything malformed is ignored (no forecast: today's behaviour)."""
        if not isinstance(d, dict) or not d or check(d):
            return False
        self.issued_ts = float(d["ts"])
        self.start_ts = float(d["start_ts"])
        self.step_s = float(d["step_s"])
        self.temp_c = [float(v) for v in d["temp_c"]]
        rad, wind = d.get("radiation_w_m2"), d.get("wind_m_s")
        self.radiation_w_m2 = [float(v) for v in rad] if rad is not None else None
        self.wind_m_s = [float(v) for v in wind] if wind is not None else None
        self.source = str(d.get("source", ""))
        return True
