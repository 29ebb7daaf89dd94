# cython: wraparound=False, boundscheck=False, initializedcheck=False
"""Commands: what every kind shares (answers, argument checks, settings) and remote setpoints
as leases. The kinds themselves, their handlers and the modes each is permitted in are the
table in core.command_handler.

A command is {"id", "kind", "args", "user", "source": "remote"|"local"} and, optionally,
"expires_s" on the caller's monotonic clock (firmware checks wall-clock expiry itself). The
answer is {"result": "applied"|"rejected"|"expired", "reason": code, "detail": text}.

Reason codes: "ok", "bad_command", "bad_source", "unknown_kind", "bad_args", "out_of_range",
"not_permitted_in_mode", "local_only", "interlock_latched", "unknown_alarm", "not_active",
"already_acked", "expired", "supply_sensor_bad" (manual mode while the secondary supply sensor
is bad), "outdoor_too_cold" and "outdoor_unknown" (remote summer, see below), "invalid_settings"
(apply_settings: the detail lists every problem).

Every remote setpoint is a lease: it holds for `lease_s` (default `default_lease_s`, at most
`max_lease_s`) and then expires, and the station returns to its own settings (Samson's
30-minute "control system monitoring" generalised). A lease is never renewed implicitly.
Remote `set_mode` summer and safe are leases too (core.command_handler LEASED_MODES; argument
`duration_s`, the same default and bounds), after which the station returns to the mode it was
in (core.station);
remote summer is refused while the outdoor temperature (the lower of the actual and the
attenuated value the curve runs on) is below `summer_min_outdoor_c` or unknown. Local mode
commands are not leased.
"""

from array import array

from . import checks

L_ROOM = 0
L_SUPPLY = 1
L_DP = 2
L_MAKEUP = 3
L_BOOST = 4
L_MODE = 5  # a remote summer or safe; value = the leased mode (core.modes M_*)
L_HEAT_CAP = 6  # the supervisor's share of a short heat source: primary heat power cap, kW
N_LEASES = 7
_N_LEASES = N_LEASES  # a C int in the compiled module (commands.pxd)
_INF = float("inf")
LEASE_NAMES = ("room_setpoint", "supply_setpoint", "dp_setpoint", "makeup_pressure", "boost", "mode", "heat_cap")

DEFAULTS = {
    "default_lease_s": 3600.0,
    "min_lease_s": 60.0,
    "max_lease_s": 86400.0,
    "room_min_c": 16.0,
    "room_max_c": 24.0,
    "supply_min_c": 20.0,
    "supply_max_c": 90.0,
    "dp_min_kpa": 10.0,
    "dp_max_kpa": 400.0,
    "makeup_min_kpa": 80.0,
    "makeup_max_kpa": 500.0,
    "boost_max_k": 10.0,
    # Remote summer refused below this outdoor temperature: 12 degC is well above the 5 degC
    # daily mean that starts and ends the heating period (GB 50736) and under the summer
    # cut-out's default 17 degC, so a remote summer can only bring forward what the station
    # would soon do itself.
    "summer_min_outdoor_c": 12.0,
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "default_lease_s": (10, 604800, "s"),
    "min_lease_s": (1, 86400, "s"),
    "max_lease_s": (10, 604800, "s"),
    "room_min_c": (5, 30, "degC"),
    "room_max_c": (10, 30, "degC"),
    "supply_min_c": (5, 100, "degC"),
    "supply_max_c": (20, 140, "degC"),
    "dp_min_kpa": (0, 1000, "kPa"),
    "dp_max_kpa": (10, 2000, "kPa"),
    "makeup_min_kpa": (0, 2000, "kPa"),
    "makeup_max_kpa": (50, 2500, "kPa"),
    "boost_max_k": (0, 30, "K"),
    "summer_min_outdoor_c": (-10, 30, "degC"),
}


def validate(section) -> list:
    """Problems of the "commands" settings section."""
    p = checks.section("commands", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return p
    s = checks.merged(DEFAULTS, section)
    checks.order(p, "commands", s, "min_lease_s", "max_lease_s", "s")
    d = s["default_lease_s"]
    if checks.is_number(d) and checks.is_number(s["max_lease_s"]) and checks.is_number(s["min_lease_s"]):
        if d > s["max_lease_s"] or d < s["min_lease_s"]:
            p.append("commands.default_lease_s=%r s: must be in [%r, %r] (commands.min_lease_s, max_lease_s)"
                     % (d, s["min_lease_s"], s["max_lease_s"]))
    checks.order(p, "commands", s, "room_min_c", "room_max_c", "degC")
    checks.order(p, "commands", s, "supply_min_c", "supply_max_c", "degC")
    checks.order(p, "commands", s, "dp_min_kpa", "dp_max_kpa", "kPa")
    checks.order(p, "commands", s, "makeup_min_kpa", "makeup_max_kpa", "kPa")
    return p


def result(res: str, reason: str, detail: str) -> dict:
    return {"result": res, "reason": reason, "detail": detail}


class Leases:
    """The active remote setpoints: value and expiry per lease (expiry < 0: none)."""

    def __init__(self) -> None:
        self.value = array("d", [0.0] * N_LEASES)
        self.until_s = array("d", [-1.0] * N_LEASES)  # typed: expire() runs every cycle
        self.events = []  # type: list
        # no lease runs out before next_s (at most the earliest expiry: expire() has nothing
        # to look at before it); set() lowers it, expire() takes it again, restore() resets it
        self.next_s = _INF
        # how many leases are active (until_s >= 0), kept by set, clear, expire and restore:
        # the cycle asks any_active() once instead of walking the leases
        self.n_active = 0

    def set(self, which, value: float, now_s: float, lease_s: float) -> None:
        if which < 0 or which >= _N_LEASES:
            raise IndexError("lease %d not in 0..%d" % (which, _N_LEASES - 1))
        self.value[which] = value
        self.until_s[which] = now_s + lease_s
        if self.until_s[which] < self.next_s:
            self.next_s = self.until_s[which]
        self._count()

    def clear(self, which) -> bool:
        if which < 0 or which >= _N_LEASES:
            raise IndexError("lease %d not in 0..%d" % (which, _N_LEASES - 1))
        active = self.until_s[which] >= 0.0
        self.until_s[which] = -1.0
        self._count()
        return active

    def active(self, which) -> bool:
        if which < 0 or which >= _N_LEASES:
            raise IndexError("lease %d not in 0..%d" % (which, _N_LEASES - 1))
        return self.until_s[which] >= 0.0

    def any_active(self) -> bool:
        """Some lease is active (a cycle that finds none skips asking for each)."""
        return self.n_active > 0

    def _count(self) -> None:
        n = 0
        i = 0
        while i < _N_LEASES:
            if self.until_s[i] >= 0.0:
                n += 1
            i += 1
        self.n_active = n

    def expire(self, now_s: float) -> None:
        """Drop leases whose time is up; one event each."""
        if now_s < self.next_s:
            return  # none runs out yet (most cycles)
        next_s = _INF
        i = 0
        while i < _N_LEASES:
            until = self.until_s[i]
            if until >= 0.0 and now_s >= until:
                self.until_s[i] = -1.0
                self.events.append({"kind": "lease", "reason": "expired", "what": LEASE_NAMES[i],
                                    "value": self.value[i], "at_s": now_s})
            elif until >= 0.0 and until < next_s:
                next_s = until
            i += 1
        self.next_s = next_s
        self._count()

    def remaining_s(self, which, now_s: float) -> float:
        if which < 0 or which >= _N_LEASES:
            raise IndexError("lease %d not in 0..%d" % (which, _N_LEASES - 1))
        until = self.until_s[which]
        return until - now_s if until >= 0.0 else 0.0

    def snapshot(self, now_s: float) -> dict:
        """Active leases as {name: [value, remaining_s]} (remaining time survives a restart)."""
        out = {}
        for i in range(N_LEASES):
            if self.until_s[i] >= 0.0:
                out[LEASE_NAMES[i]] = [self.value[i], self.until_s[i] - now_s]
        return out

    def restore(self, snap: object, now_s: float) -> None:
        if not isinstance(snap, dict):
            return
        for i in range(N_LEASES):
            row = snap.get(LEASE_NAMES[i])
            if isinstance(row, list) and len(row) == 2 and checks.is_number(row[0]) and checks.is_number(row[1]):
                if row[1] > 0:
                    self.value[i] = float(row[0])
                    self.until_s[i] = now_s + row[1]
        self.next_s = -_INF  # the next expire() looks at every lease
        self._count()


def number_arg(args: dict, key: str, unit: str, low: float, high: float) -> tuple:
    """(value, None) when args[key] is a number in [low, high], else (None, rejection)."""
    value = args[key] if key in args else None
    if value is None or not checks.is_number(value):
        return (None, result("rejected", "bad_args", "%s=%r: must be a number in %s" % (key, value, unit)))
    if value < low or value > high:
        return (None, result("rejected", "out_of_range", "%s=%r %s: must be in [%s, %s]" % (key, value, unit, low, high)))
    return (float(value), None)


def lease_arg(args: dict, cfg: dict) -> tuple:
    """(lease_s, None) from args["lease_s"] (default when absent), else (None, rejection)."""
    if args.get("lease_s") is None:
        return (float(cfg["default_lease_s"]), None)
    return number_arg(args, "lease_s", "s", float(cfg["min_lease_s"]), float(cfg["max_lease_s"]))
