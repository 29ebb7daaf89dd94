"""Secondary balancing (二网平衡): one motorised balancing valve per building group, set from the
room collectors so that every group sits just above its floor and the common supply can fall.

The station's room feedback (core/room_feedback.py) lowers the supply temperature until the
coldest group's collectors are at its target. A group with more flow than it needs is then too
warm and wastes heat; this controller throttles it until it is no warmer than the reference
`ref = max(target_c, coldest group)`, so the coldest group (its valve fully open) stays the one
that binds the supply, and the others come down to it. The valves keep their ratios, but the
most open one is always shifted back to 100 % (the least pumping head for the same split; an
equal-percentage valve multiplies every Kv by the same factor).

`Balancing(section)`, sans I/O: `step(now_s, readings) -> {group: valve command %}` with

    readings = {"rooms": [{"collector", "group", "temp_c", "age_s"}, ...],      # may be partial
                "branches": [{"group", "valve_position_pct", "return_temp_c"}, ...]}

Collectors are merged by id as they arrive (room_feedback's format); `branches` names the
groups (each group is known from its first branch reading, its command starting from the
valve's position feedback). The returned dict holds only the valves whose command changed.

Per group and step, its statistic is the median of its fresh (age <= max_age_s), plausible
([plausible_min_c, plausible_max_c]) collectors, or their coldest when they disagree by more
than spread_max_k (a collector reading high must not throttle a group). `mode[group]` says
what steered the valve:

- "guard": the statistic is below floor_c + guard_k: the valve opens by fast_step_pct at once,
  whatever the period, then waits guard_period_s for the room to answer before the next fast
  step; below floor_c itself it opens again every floor_period_s (or guard_period_s when
  that is shorter). A group never closes here.
- "room": every period_s, the error e = statistic - ref moves the valve by -gain_pct_per_k x e
  (outside +-deadband_k), at most max_step_pct per step. On top of that position, at every
  step, the swing: -swing_gain_pct_per_k x (the latest statistic - its smoothed value), within
  +-swing_max_pct (the sun warming a group closes its valve within minutes and the evening
  opens it again, where the smoothed loop would answer hours late; it adds nothing on average).
  The latest statistic is itself smoothed over swing_smooth_s (collector noise); with smooth_s
  no longer than that there is no swing. In the guard the swing only opens; held, returned or
  lost valves have none.
- "hold": no usable collector: the valve holds for hold_s after the last one went stale ...
- "return": ... then its building return temperature steers it against the mean return of the
  groups steered by their rooms (-return_gain_pct_per_k per K outside +-return_deadband_k),
  never below fallback_min_pct. Without a plausible return temperature it keeps holding.

Every valve stays within [min_pct, 100]; a new command is sent only when it differs from the
last one sent by min_move_pct or more, or reaches an end (no hunting of the actuators).

The defaults were measured on the reference plant's secondary network (tools/plant) over the six
cities' synthetic years, seed 0 (`heatkeeper bench season --city C --json --interpreted-days 0
--controllers heatkeeper --balancing`, the station's room target at this target_c), x the
building bound with 0 K.h below 18 degC in every group everywhere: Arxan 1.038, Ordos 1.072,
Zhangjiakou 1.065, Baiyin 1.066, Jincheng 1.074, Yutai 1.097 (unbalanced 1.264-1.485), the 13
branch valves travelling 11-12 strokes a day between them. Without the swing and with the guard
every 300 s (the defaults before): Arxan 1.061, Ordos 1.097, Zhangjiakou 1.094, Baiyin 1.095,
Jincheng 1.105, Yutai 1.132, about 10 strokes a day. Where that excess went (each group's heat
against its own building-bound heat, by outdoor temperature band, Yutai): nearly all of it at
+5 degC and above, in every group but the coldest one: they sat 0.6-0.7 K above it on the
smoothed statistic, swinging 1.3 K a day with the sun; the guard opened them at the night's low
by 15 % every 5 min (up to 60 % in an hour) and the 3 %/h loop took a day to give it back.
Measured on Yutai: the swing alone (25 %/K, no smoothing of its own) 1.116, the guard alone
every 30 min 1.110, both 1.101; 40 %/K 1.099 but 51 strokes a day on collector noise, 9.4
strokes (1.100) with the swing's own 30 min smoothing; 60 %/K within 40 % 1.0975 for 11.6
strokes; 80 %/K 1.096 for 13.9. Left out: the guard every 60 min (1.107, 0.17 K.h) or every 30
min with 8 % steps (1.107, 0.29 K.h), both below the floor; a statistic that falls within 1 h
and rises over 6-12 h (1.121 against 1.116 with the 25 %/K swing); closing every group, the
coldest too, while the coldest is above the target (a supply too warm: 1.131 alone, 0.3 % on
top of the swing). Before the swing: target 18.5 with a 0.2 K dead band gave 1.090-1.165 (0
K.h). Faster steering (every 30 min, 6 %/K, steps up to 6 %) with a
guard at floor + 0.15 K and target 18.2 reached 1.054-1.099 but let groups dip below 18 (Arxan
1.39 K.h, Ordos 0.06, Baiyin 0.04); a guard at floor + 0.2 K with 20 % fast steps still left
Arxan 0.17 K.h; target 18.25 with that guard gave Ordos 1.078, Baiyin 1.075, Yutai 1.105 (0
K.h). First measured on Arxan alone (target 18.5): the station's room target at the
unbalanced bench's 18.6 degC gave 1.110; a guard at floor + 0.15 K with 10 % steps let two
groups dip below 18 (0.09 K.h, the floor-heated one to 17.97 degC); a 12 h smoothing with a
0.3 K dead band gave 1.113; 5 %/K and 5 % steps gave 1.100 for 9.2 strokes a day. Acting every
30 min with a 0.15 K dead band and the weaker guard was the first try: 1.120, 0.25 K.h, 8 strokes.

Valves that fail: a branch reading with `"ok": False` (the firmware's energy valve did not
answer) or without a position leaves the group's last answer standing; when such readings go
on for lost_s after its last answer the group is "lost" (until it answers): its command is
held (nothing can reach it) and the others are steered without it (it takes no part in the
shift to open). A valve that answers but whose position
stays further than stuck_band_pct from the command for stuck_s is "stuck" (it is still steered,
in case it frees). `report_alarms` feeds core.alarms' "branch_valve_unreachable" and
"branch_valve_stuck" (the value: how many branches). The station (core/station.py) runs it as
one piece: the collector and energy valve readings go in as they arrive (`take`), it steps on a
fresh collector reading or every guard_period_s; its state is not persisted (on a restart each
group starts again from its valve's position feedback, which the valve itself holds).

Compiled like the other core pieces (balancing.pxd); it runs once per collector reading
(minutes) over a few dozen groups, the per-cycle cost for the station is one integer check.
"""

from . import checks
from .alarms import A_BRANCH_VALVE_STUCK, A_BRANCH_VALVE_UNREACHABLE, NO_LIMIT
from .checks import merged
from .units import clamp

# Private copies held as C numbers by the compiled module (balancing.pxd).
_A_UNREACHABLE = A_BRANCH_VALVE_UNREACHABLE
_A_STUCK = A_BRANCH_VALVE_STUCK
_NO_LIMIT = NO_LIMIT
_INF = float("inf")

DEFAULTS = {
    "enabled": True,
    "floor_c": 18.0,
    "target_c": 18.3,  # each group's collector statistic is held at or above this (set room_feedback's alike)
    "deadband_k": 0.1,
    "period_s": 3600.0,
    "gain_pct_per_k": 3.0,  # stroke % per K of room error, per period
    "max_step_pct": 3.0,
    "guard_k": 0.25,  # below floor_c + guard_k a group opens fast
    "fast_step_pct": 15.0,
    "guard_period_s": 1800.0,  # near the floor the guard opens again after this (the room answers slowly)
    "floor_period_s": 300.0,  # below floor_c itself the guard opens again this often
    "min_pct": 10.0,
    "min_move_pct": 1.0,
    "max_age_s": 3600.0,
    "smooth_s": 21600.0,  # each group's statistic smoothed over this time (collector noise; 0: off)
    "swing_gain_pct_per_k": 60.0,  # stroke % per K of the statistic's swing about its smoothed value (0: off)
    "swing_max_pct": 40.0,  # ... at most this far either way
    "swing_smooth_s": 1800.0,  # the latest statistic for the swing: smoothed over this (collector noise)
    "hold_s": 7200.0,
    "plausible_min_c": 5.0,
    "plausible_max_c": 35.0,
    "spread_max_k": 2.0,
    "return_gain_pct_per_k": 1.0,
    "return_deadband_k": 1.0,
    "fallback_min_pct": 50.0,
    "lost_s": 60.0,  # a valve silent this long is lost (held, alarmed)
    "stuck_band_pct": 10.0,  # position this far from the command ...
    "stuck_s": 600.0,  # ... for this long: stuck (an energy valve strokes in about 90 s)
}

RANGES = {
    "floor_c": (10.0, 22.0, "degC"),
    "target_c": (10.0, 24.0, "degC"),
    "deadband_k": (0.0, 2.0, "K"),
    "period_s": (60.0, 86400.0, "s"),
    "gain_pct_per_k": (0.1, 50.0, "%/K"),
    "max_step_pct": (0.5, 50.0, "%"),
    "guard_k": (0.0, 3.0, "K"),
    "fast_step_pct": (1.0, 100.0, "%"),
    "guard_period_s": (10.0, 86400.0, "s"),
    "floor_period_s": (10.0, 86400.0, "s"),
    "min_pct": (0.0, 90.0, "%"),
    "min_move_pct": (0.0, 10.0, "%"),
    "max_age_s": (60.0, 86400.0, "s"),
    "smooth_s": (0.0, 86400.0, "s"),
    "swing_gain_pct_per_k": (0.0, 100.0, "%/K"),
    "swing_max_pct": (0.0, 90.0, "%"),
    "swing_smooth_s": (0.0, 86400.0, "s"),
    "hold_s": (0.0, 604800.0, "s"),
    "plausible_min_c": (-10.0, 15.0, "degC"),
    "plausible_max_c": (25.0, 50.0, "degC"),
    "spread_max_k": (0.1, 20.0, "K"),
    "return_gain_pct_per_k": (0.0, 50.0, "%/K"),
    "return_deadband_k": (0.0, 20.0, "K"),
    "fallback_min_pct": (0.0, 100.0, "%"),
    "lost_s": (1.0, 86400.0, "s"),
    "stuck_band_pct": (1.0, 100.0, "%"),
    "stuck_s": (10.0, 86400.0, "s"),
}

MODES = ("room", "guard", "hold", "return", "lost")


def validate(section) -> list:
    """Every problem of a `balancing` settings section."""
    problems = checks.section("balancing", section, DEFAULTS, RANGES)
    if not isinstance(section, dict) or problems:
        return problems
    s = merged(DEFAULTS, section)
    checks.order(problems, "balancing", s, "floor_c", "target_c", "degC")
    if s["fallback_min_pct"] < s["min_pct"]:
        problems.append("balancing.fallback_min_pct=%r %%: must not be below balancing.min_pct=%r %%"
                        % (s["fallback_min_pct"], s["min_pct"]))
    return problems


def median(values: list) -> float:
    """The median of a non-empty list of numbers."""
    v = sorted(values)
    n = len(v)
    if n % 2:
        return v[n // 2]
    return 0.5 * (v[n // 2 - 1] + v[n // 2])


def _number(value):
    """A finite float, or None: checks.is_number's rule (bool is not a number), checked here
    without the call, as every room reading passes through it."""
    if isinstance(value, float):
        return float(value) if value == value and value != _INF and value != -_INF else None
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return None


class Balancing:
    """Room collectors and building returns in, one balancing valve command per group out."""

    def __init__(self, section=None):
        problems = validate(section if section is not None else {})
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))
        s = merged(DEFAULTS, section)
        self.enabled = bool(s["enabled"])
        self.floor_c = float(s["floor_c"])
        self.target_c = float(s["target_c"])
        self.deadband_k = float(s["deadband_k"])
        self.period_s = float(s["period_s"])
        self.gain = float(s["gain_pct_per_k"])
        self.max_step_pct = float(s["max_step_pct"])
        self.guard_k = float(s["guard_k"])
        self.fast_step_pct = float(s["fast_step_pct"])
        self.guard_period_s = float(s["guard_period_s"])
        self.floor_period_s = float(s["floor_period_s"])
        self.min_pct = float(s["min_pct"])
        self.min_move_pct = float(s["min_move_pct"])
        self.max_age_s = float(s["max_age_s"])
        self.smooth_s = float(s["smooth_s"])
        self.swing_gain = float(s["swing_gain_pct_per_k"])
        self.swing_max_pct = float(s["swing_max_pct"])
        self.swing_smooth_s = float(s["swing_smooth_s"])
        self.hold_s = float(s["hold_s"])
        self.plausible_min_c = float(s["plausible_min_c"])
        self.plausible_max_c = float(s["plausible_max_c"])
        self.spread_max_k = float(s["spread_max_k"])
        self.return_gain = float(s["return_gain_pct_per_k"])
        self.return_deadband_k = float(s["return_deadband_k"])
        self.fallback_min_pct = float(s["fallback_min_pct"])
        self.lost_s = float(s["lost_s"])
        self.stuck_band_pct = float(s["stuck_band_pct"])
        self.stuck_s = float(s["stuck_s"])
        self.n_groups = 0
        self.n_lost = 0  # branches lost, as of the last step
        self.n_stuck = 0  # branches stuck, as of the last step
        self.due = False  # a fresh collector reading is waiting for the next step
        self.due_s = 0.0  # the next step without one (every guard_period_s)
        self.groups = []  # group names in the order they were first seen
        self.pos = {}  # group -> the valve position this controller wants (%), before the swing
        self.swing = {}  # group -> the swing correction on top of it (%)
        self.sent = {}  # group -> the last command sent (%)
        self.mode = {}  # group -> what steered it at the last step (MODES)
        self.stat = {}  # group -> its collector statistic, smoothed (degC), or None
        self.raw = {}  # group -> its collector statistic as last read (degC), or None
        self.fast = {}  # group -> its collector statistic smoothed over swing_smooth_s (degC), or None
        self.returns = {}  # group -> building return temperature (degC) or None
        self.seen_s = {}  # group -> when it last had a usable collector
        self.guard_s = {}  # group -> when the guard last opened it
        self.collectors = {}  # collector id -> [temp_c, measured at s, group]
        self.position = {}  # group -> the valve's last position feedback (%) or None
        self.answered_s = {}  # group -> when its valve last answered
        self.apart_s = {}  # group -> since when its position is off the command (or None)
        self.failing = {}  # group -> its last reading had no answer
        self.lost = {}  # group -> bool
        self.stuck = {}  # group -> bool
        self.last_s = None  # the previous step
        self.next_s = None  # the next regular (period_s) step
        self.ref_c = None

    # --- inputs ---------------------------------------------------------------------------
    def take(self, now_s: float, readings) -> None:
        """Keep `readings` (the step's format) without stepping; a collector reading makes the
        next step due (`due`)."""
        if not isinstance(readings, dict):
            return
        for r in readings.get("branches") or ():
            if not isinstance(r, dict) or not isinstance(r.get("group"), str):
                continue
            group = r["group"]
            answered = r.get("ok", True) is not False
            pos = _number(r.get("valve_position_pct")) if answered else None
            if pos is not None and not 0.0 <= pos <= 100.0:
                pos = clamp(pos, 0.0, 100.0)
            if group not in self.pos:
                self.groups.append(group)
                self.n_groups = len(self.groups)
                start = 100.0 if pos is None else pos
                self.pos[group] = start
                self.swing[group] = 0.0
                self.sent[group] = start
                self.position[group] = None
                self.answered_s[group] = now_s  # lost_s counts from the group's first appearance
                self.apart_s[group] = None
                self.lost[group] = False
                self.stuck[group] = False
                self.failing[group] = False
                self.mode[group] = "hold"
                self.stat[group] = None
                self.raw[group] = None
                self.fast[group] = None
                self.seen_s[group] = now_s  # the hold counts from the group's first appearance
                self.guard_s[group] = None
            self.failing[group] = pos is None
            if pos is not None:
                self.answered_s[group] = now_s
                self.position[group] = pos
            if not answered:
                continue  # its last return temperature stands until it answers again
            ret = _number(r.get("return_temp_c"))
            self.returns[group] = ret if ret is not None and 0.0 < ret < 120.0 else None
        for r in readings.get("rooms") or ():
            if not isinstance(r, dict):
                continue
            cid = r.get("collector")
            temp_c = _number(r.get("temp_c"))
            age_s = _number(r.get("age_s", 0.0))
            if not isinstance(cid, (str, int)) or temp_c is None or age_s is None or age_s < 0.0:
                continue
            self.collectors[cid] = [temp_c, now_s - age_s, r.get("group")]
            self.due = True

    def take_room_temps(self, now_s: float, ids, groups, temps) -> None:
        """take(now_s, {"rooms": [{"collector": ids[i], "group": groups[i], "temp_c": temps[i],
        "age_s": 0.0}, ...]}) without a dict per reading: readings taken now, as parallel
        sequences (the same checks, the same state)."""
        checks.parallel_readings("take_room_temps", ids, groups, temps)
        n = len(ids)
        i = 0
        while i < n:
            cid = ids[i]
            temp_c = temps[i]
            i += 1
            # _number's rule on a float: finite
            if not isinstance(cid, (str, int)) or temp_c != temp_c or temp_c == _INF or temp_c == -_INF:
                continue
            r = self.collectors.get(cid)
            if r is None:
                self.collectors[cid] = [temp_c, now_s, groups[i - 1]]
            else:  # a known collector: its entry in place (one list per collector, not one per reading)
                r[0] = temp_c
                r[1] = now_s
                r[2] = groups[i - 1]
            self.due = True

    def _statistics(self, now_s: float) -> None:
        temps = {}  # type: dict
        for cid in list(self.collectors):
            temp_c, at_s, group = self.collectors[cid]
            if now_s - at_s > self.max_age_s:
                del self.collectors[cid]  # stale: forgotten (a fresh reading brings it back)
                continue
            if self.plausible_min_c <= temp_c <= self.plausible_max_c and group in self.pos:
                if group in temps:
                    temps[group].append(temp_c)
                else:
                    temps[group] = [temp_c]
        dt_s = 0.0 if self.last_s is None else clamp(now_s - self.last_s, 0.0, 86400.0)
        self.last_s = now_s
        weight = 1.0 if self.smooth_s <= 0.0 else clamp(dt_s / self.smooth_s, 0.0, 1.0)
        quick = 1.0 if self.swing_smooth_s <= 0.0 else clamp(dt_s / self.swing_smooth_s, 0.0, 1.0)
        for group in self.groups:
            values = temps.get(group)
            if not values:
                self.stat[group] = None
                self.raw[group] = None
                self.fast[group] = None
                continue
            low = min(values)
            raw = low if max(values) - low > self.spread_max_k else median(values)
            self.raw[group] = raw
            before = self.stat[group]
            self.stat[group] = raw if before is None else before + weight * (raw - before)
            before = self.fast[group]
            self.fast[group] = raw if before is None else before + quick * (raw - before)
            self.seen_s[group] = now_s

    # --- the step ---------------------------------------------------------------------------
    def step(self, now_s: float, readings=None) -> dict:
        """Take `readings`, move the valves if it is time; returns {group: command %} of the
        commands that changed (empty when disabled or nothing moved)."""
        self.take(now_s, readings)
        self.due = False
        self.due_s = now_s + min(self.guard_period_s, self.floor_period_s)
        if not self.enabled or not self.groups:
            return {}
        self._faults(now_s)
        self._statistics(now_s)
        regular = self.next_s is None or now_s >= self.next_s
        if regular:
            self.next_s = now_s + self.period_s
        roomed = [g for g in self.groups if self.stat[g] is not None]
        coldest = min([self.stat[g] for g in roomed]) if roomed else None
        self.ref_c = self.target_c if coldest is None or coldest < self.target_c else coldest
        ret_ref = None
        rets = [self.returns[g] for g in roomed if self.returns.get(g) is not None]
        if rets:
            ret_ref = sum(rets) / len(rets)
        for group in self.groups:
            if self.lost[group]:
                self.mode[group] = "lost"  # held: no command can reach it
                self.swing[group] = 0.0
                continue
            self._move(group, now_s, regular, ret_ref)
        if regular:
            self._shift_to_open()
        return self._commands()

    def _faults(self, now_s: float) -> None:
        """Which valves are lost (silent for lost_s) and which stuck (off the command for stuck_s)."""
        n_lost = 0
        n_stuck = 0
        for group in self.groups:
            lost = self.failing[group] and now_s - self.answered_s[group] >= self.lost_s
            self.lost[group] = lost
            position = self.position[group]
            if lost or position is None:
                self.apart_s[group] = None
                self.stuck[group] = False
            elif position - self.sent[group] > self.stuck_band_pct or self.sent[group] - position > self.stuck_band_pct:
                if self.apart_s[group] is None:
                    self.apart_s[group] = now_s
                self.stuck[group] = now_s - self.apart_s[group] >= self.stuck_s
            else:
                self.apart_s[group] = None
                self.stuck[group] = False
            if lost:
                n_lost += 1
            if self.stuck[group]:
                n_stuck += 1
        self.n_lost = n_lost
        self.n_stuck = n_stuck

    def report_alarms(self, alarms, now_s: float) -> None:
        """Feed "branch_valve_unreachable" and "branch_valve_stuck" (value: how many branches)."""
        alarms.update(_A_UNREACHABLE, self.n_lost > 0, float(self.n_lost), _NO_LIMIT, now_s)
        alarms.update(_A_STUCK, self.n_stuck > 0, float(self.n_stuck), _NO_LIMIT, now_s)

    def commands(self) -> dict:
        """{group: the command sent (%)} of every group (what the valves should be at)."""
        return dict(self.sent)

    def _move(self, group: str, now_s: float, regular: bool, ret_ref) -> None:
        stat = self.stat[group]
        raw = self.raw[group]
        pos = self.pos[group]
        if raw is None or self.swing_gain <= 0.0 or self.swing_smooth_s >= self.smooth_s:
            self.swing[group] = 0.0  # off, or nothing to follow: the statistic is not smoothed more
        else:
            self.swing[group] = clamp(-self.swing_gain * (self.fast[group] - stat), -self.swing_max_pct, self.swing_max_pct)
        if raw is not None and (raw < self.floor_c + self.guard_k or stat < self.floor_c + self.guard_k):
            self.mode[group] = "guard"
            if self.swing[group] < 0.0:
                self.swing[group] = 0.0  # the guard never closes a group
            last = self.guard_s[group]
            wait = self.guard_period_s
            if (raw < self.floor_c or stat < self.floor_c) and self.floor_period_s < wait:
                wait = self.floor_period_s
            if last is None or now_s - last >= wait:
                self.guard_s[group] = now_s
                self.pos[group] = clamp(pos + self.fast_step_pct, self.min_pct, 100.0)
            return
        if stat is not None:
            self.mode[group] = "room"
            if regular:
                err = stat - self.ref_c
                if err > self.deadband_k or err < -self.deadband_k:
                    delta = clamp(-self.gain * err, -self.max_step_pct, self.max_step_pct)
                    self.pos[group] = clamp(pos + delta, self.min_pct, 100.0)
            return
        ret = self.returns.get(group)
        if now_s - self.seen_s[group] < self.hold_s or ret is None or ret_ref is None:
            self.mode[group] = "hold"
            return
        self.mode[group] = "return"
        if regular:
            err = ret - ret_ref
            low = self.fallback_min_pct
            if err > self.return_deadband_k or err < -self.return_deadband_k:
                delta = clamp(-self.return_gain * err, -self.max_step_pct, self.max_step_pct)
                pos = pos + delta
            self.pos[group] = clamp(pos, low, 100.0)

    def _shift_to_open(self) -> None:
        """The most open steered valve back to 100 %: every steered valve up by the same stroke."""
        steered = [g for g in self.groups if self.mode[g] != "hold" and self.mode[g] != "lost"]
        if not steered:
            return
        lift = 100.0 - max([self.pos[g] for g in steered])
        if lift <= 0.0:
            return
        for g in steered:
            self.pos[g] = clamp(self.pos[g] + lift, self.min_pct, 100.0)

    def _wanted(self, group: str) -> float:
        """The position wanted for `group`: its steered position plus its swing, within the valve's range."""
        swing = self.swing[group]
        if swing == 0.0:
            return self.pos[group]
        low = self.fallback_min_pct if self.mode[group] == "return" else self.min_pct
        return clamp(self.pos[group] + swing, low, 100.0)

    def _commands(self) -> dict:
        out = {}
        for group in self.groups:
            pos = self._wanted(group)
            sent = self.sent[group]
            if pos == sent:
                continue
            at_end = pos >= 100.0 or pos <= self.min_pct or (self.mode[group] == "return" and pos <= self.fallback_min_pct)
            if abs(pos - sent) >= self.min_move_pct or at_end:
                self.sent[group] = pos
                out[group] = pos
        return out

    def snapshot(self) -> dict:
        """Per group: the command sent, the position wanted, the mode and the statistic."""
        return {"ref_c": self.ref_c,
                "groups": [{"group": g, "valve_cmd_pct": self.sent[g], "valve_wanted_pct": self._wanted(g),
                            "mode": self.mode[g], "room_c": self.stat[g], "return_c": self.returns.get(g),
                            "valve_position_pct": self.position[g], "lost": self.lost[g], "stuck": self.stuck[g]}
                           for g in self.groups]}
