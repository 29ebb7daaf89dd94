"""Resetting a tripped drive over the bus: when, how often, and when to stop and call for a visit.

One `DriveReset` per drive. The bus layer (firmware/modbus/drives.py) feeds it the drive's
reported state every cycle and sends the reset word while `reset` is True; this module only
decides. A drive tripped by a transient (a mains blip, an over-voltage on a pressure surge)
comes back by itself; a drive that keeps tripping, or whose fault the vendor says needs a
person, is left tripped and the station asks for a visit.

Rules (first match wins, one transition per cycle):
    any,       status unknown                     hold (no reset, no count)
    IDLE,      tripped, fault not resettable      -> LATCHED  "not_resettable"
    IDLE,      tripped, resettability unknown     wait; after wait_s -> LATCHED "fault_unknown"
    IDLE,      tripped, resets in window >= max   -> LATCHED  "reset_limit"
    IDLE,      tripped                            -> RESETTING, one more reset counted  "reset"
    RESETTING, trip gone                          -> IDLE     "reset_ok"
    RESETTING, wait_s passed, still tripped       -> IDLE     "reset_failed" (next cycle decides)
    LATCHED,   trip gone (reset on site, mains)   -> IDLE     "unlatched", the count starts again
`reset` is True for the first pulse_s of RESETTING (the bus layer turns it into the vendor's
rising edge). Resets are counted over a sliding window_s (default: 3 an hour).

Pure: no clock, no I/O; events are returned in `events` (drained by the caller).
"""

from . import checks

R_IDLE = 0
R_RESETTING = 1
R_LATCHED = 2
STATE_NAMES = ("idle", "resetting", "latched")

# Why a drive is latched (index = latched_reason; 0 = not latched).
LATCH_REASONS = ("", "not_resettable", "reset_limit", "fault_unknown")
L_NONE = 0
L_NOT_RESETTABLE = 1
L_RESET_LIMIT = 2
L_FAULT_UNKNOWN = 3

DEFAULTS = {
    "max_resets": 3,  # resets within window_s before the drive is left for a visit
    "window_s": 3600.0,
    "pulse_s": 2.0,  # how long the reset bit is held (at least one write cycle)
    "wait_s": 10.0,  # time for the trip to clear after a reset before it counts as failed
}

# key: (low, high, unit) for numbers, (option, ...) for texts (core.checks).
RANGES = {
    "max_resets": (0, 20, ""),
    "window_s": (60, 86400, "s"),
    "pulse_s": (0.1, 60, "s"),
    "wait_s": (1, 600, "s"),
}


def validate(section) -> list:
    """Problems of a drive-reset settings section."""
    p = checks.section("drive_reset", section, DEFAULTS, RANGES)
    if not isinstance(section, dict):
        return p
    s = checks.merged(DEFAULTS, section)
    checks.order(p, "drive_reset", s, "pulse_s", "wait_s", "s")
    return p


class DriveReset:
    """The reset policy of one drive; `step` once a cycle, then read `reset` and `events`."""

    def __init__(self, cfg: dict) -> None:
        self.max_resets = int(cfg["max_resets"])
        self.window_s = float(cfg["window_s"])
        self.pulse_s = float(cfg["pulse_s"])
        self.wait_s = float(cfg["wait_s"])
        self.state = R_IDLE
        self.latched_reason = L_NONE
        self.reset = False
        self.since_s = 0.0  # when the present state (or the unknown-fault wait) began
        self.unknown_since_s = -1.0
        self.times = []  # type: list  # when each reset in the window was sent
        self.total = 0  # resets sent since start-up
        self.events = []  # type: list

    def resets_in_window(self, now_s: float) -> int:
        """Resets sent in the last window_s."""
        keep = []
        for t in self.times:
            if now_s - t < self.window_s:
                keep.append(t)
        self.times = keep
        return len(keep)

    def _event(self, reason: str, now_s: float, fault_code: int) -> None:
        self.events.append({"reason": reason, "at_s": now_s, "attempt": len(self.times),
                            "fault_code": fault_code, "latched": LATCH_REASONS[self.latched_reason]})

    def _latch(self, why: int, now_s: float, fault_code: int) -> None:
        self.state = R_LATCHED
        self.latched_reason = why
        self.since_s = now_s
        self.unknown_since_s = -1.0
        self._event("latched", now_s, fault_code)

    def step(self, now_s: float, known: bool, tripped: bool, resettable_known: bool, resettable: bool,
             fault_code: int) -> None:
        """One cycle. known: the status word was read this cycle; tripped: the drive reports a
        trip; resettable_known/resettable: whether this fault may be reset over the bus."""
        self.reset = False
        if not known:
            return
        state = self.state
        if state == R_LATCHED:
            if not tripped:
                self.state = R_IDLE
                self.latched_reason = L_NONE
                self.times = []
                self.since_s = now_s
                self._event("unlatched", now_s, fault_code)
            return
        if state == R_RESETTING:
            if not tripped:
                self.state = R_IDLE
                self.since_s = now_s
                self._event("reset_ok", now_s, fault_code)
            elif now_s - self.since_s >= self.wait_s:
                self.state = R_IDLE
                self.since_s = now_s
                self._event("reset_failed", now_s, fault_code)
            else:
                self.reset = now_s - self.since_s < self.pulse_s
            return
        if not tripped:
            self.unknown_since_s = -1.0
            return
        if not resettable_known:
            if self.unknown_since_s < 0.0:
                self.unknown_since_s = now_s
            if now_s - self.unknown_since_s >= self.wait_s:
                self._latch(L_FAULT_UNKNOWN, now_s, fault_code)
            return
        self.unknown_since_s = -1.0
        if not resettable:
            self._latch(L_NOT_RESETTABLE, now_s, fault_code)
            return
        if self.resets_in_window(now_s) >= self.max_resets:
            self._latch(L_RESET_LIMIT, now_s, fault_code)
            return
        self.state = R_RESETTING
        self.since_s = now_s
        self.times.append(now_s)
        self.total += 1
        self.reset = True
        self._event("reset", now_s, fault_code)

    def take_events(self) -> list:
        """The events raised since the last call (and forget them)."""
        out = self.events
        self.events = []
        return out
