# cython: annotation_typing=False
"""Equipment records ("one machine, one file"): run hours, starts, faults, duty rotations and
exercises per pump (circulation pumps pump1, pump2 and the make-up pump), derived from the
uplinks the ingest has just stored (each message exactly once).

What the station sends (core/station.py, core/pumps.py, core/make_up.py, firmware/runtime.py):
- telemetry values, every `telemetry_interval_s`: the running feedback `<pump>_running` (None
  without a feedback input), the command `<pump>_run` (0/1), the fault input `<pump>_fault`, and
  for the circulation pumps the station's own run-hour counters `pump1_run_h`, `pump2_run_h`
  (hours run with flow proven; the make-up pump has none);
- events {"kind": "pump", "reason": ..., "pump": 1 | 2, "at_s"} from the circulation pumps:
  "rotated" (the duty moved to `pump` after `rotate_after_h`, once the new pump proved flow),
  "exercise" (the idle `pump` is run for `exercise_s`, anti-seize), "exercise_done",
  "changeover" (duty moved because the other pump failed: not a rotation), "failed_fault_input",
  "failed_no_proof", "retry". The make-up pump is a single pump with no duty rotation and no
  exercise in the core: its rotations and exercises stay 0.

Rules:
- A rotation is a "rotated" event: counted on the pump that took the duty (`rotations`,
  `last_rotation_ts`). An exercise is an "exercise" event, counted on the exercised pump. Each
  stored event is derived once, so these counts are exact whatever order events arrive in; the
  last times are the newest seen. A duty change seen only in telemetry is no rotation (it may be a
  fault change-over).
- A pump runs in a sample when its running feedback says so, or, with no feedback, its command.
- A start is a pump not running in one sample and running in the next (by sample time).
- Run time between two consecutive samples: the increase of the station's run-hour counter
  when it has one and the increase is plausible (0 ..  the time between them + CLOCK_SLACK_S);
  otherwise (make-up pump, counter reset or restored from an older snapshot) the time between
  them while the earlier sample shows running, and nothing over gaps above MAX_GAP_S (station
  offline: nobody knows what ran then).
- A fault is a fault input going 0 -> 1 between consecutive samples, or a circulation pump
  failing to prove flow ("failed_no_proof" event; a fault input's failure is the flag itself).
- Samples are kept in time order (the last WINDOW of each station): a late one that falls
  between two kept samples replaces their transition by its two (so a start, a fault or run time
  is counted once, on the right side); a sample at a time already kept is a duplicate and
  changes nothing; one older than every kept sample is not used (stored raw and in the 5-minute
  aggregates all the same).
"""

from __future__ import annotations

import bisect
import sys
from typing import Any

from heatkeeper.core import _cext

MAX_GAP_S = 300.0
CLOCK_SLACK_S = 60.0  # a counter may run a cycle or so ahead of the sample times
WINDOW = 64  # samples kept per station for late arrivals
TRACK_KEEP = 4  # of which saved with the station state (resumed after a restart)

# device: (running feedback, command, fault input, the station's run-hour counter or None)
DEVICES: dict[str, tuple[str, str, str, str | None]] = {
    "pump1": ("pump1_running", "pump1_run", "pump1_fault", "pump1_run_h"),
    "pump2": ("pump2_running", "pump2_run", "pump2_fault", "pump2_run_h"),
    "makeup_pump": ("makeup_pump_running", "makeup_pump_run", "makeup_pump_fault", None),
}
CIRCULATION = ("pump1", "pump2")  # the "pump" number of a core pump event, 1-based
PUMP_EVENT = "pump"

_FLAG_ORDER = tuple(name for names in DEVICES.values() for name in names if name is not None)
_NO_FLAGS = (None,) * len(_FLAG_ORDER)
_DEVICE_OF = {name: device for device, names in DEVICES.items() for name in names if name is not None}
_DEVICES_OF: dict[tuple[str, ...], frozenset[str]] = {}  # flag names as a sample has them -> its devices
_IN_ORDER_OF: dict[tuple[str, ...], tuple[str, ...]] = {}  # the same, in DEVICES' order

Sample = tuple[float, dict[str, float]]


class Window:
    """The kept samples of one station, oldest first: their times and their flags side by side,
    with no object per sample. Per-sample (time, flags) pairs were the most numerous objects the
    cyclic collector walked (a pair holding a dict stays tracked for good: WINDOW of them per
    station, 640,000 at 10,000 stations, in every timed pass)."""

    __slots__ = ("times", "flags")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.flags: list[dict[str, float]] = []

    def __len__(self) -> int:
        return len(self.times)

    def sample(self, i: int) -> Sample:
        return (self.times[i], self.flags[i])

    def insert(self, i: int, ts: float, flags: dict[str, float]) -> None:
        """Keep a sample at position `i` (the time order), forgetting the oldest beyond WINDOW."""
        self.times.insert(i, ts)
        self.flags.insert(i, flags)
        if len(self.times) > WINDOW:
            del self.times[0]
            del self.flags[0]


# `_steady`'s plan: (flags, their raw values, (record, runs) per device, the station's window)
Plan = tuple[dict[str, float], tuple[Any, ...], tuple[tuple[dict[str, Any], bool], ...], Window]
# (starts, run_s, faults, fault_ts) of one device between two consecutive samples
Step = tuple[int, float, int, float | None]


def blank() -> dict[str, Any]:
    return {"run_s": 0.0, "starts": 0, "rotations": 0, "last_rotation_ts": None, "exercises": 0,
            "last_exercise_ts": None, "faults": 0, "last_fault_ts": None, "last_ts": None}


class EquipmentTracker:
    """Per (station, device) counters kept in memory and saved by the ingest."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self._win: dict[str, Window] = {}
        # per station, `_steady`'s plan for the newest kept flags (the same dict object: the
        # flags of a sample are never changed once kept), with the raw flag values of a sample
        # that had them and the station's window (the same object as in `_win`)
        self._plans: dict[str, Plan] = {}

    def _rec(self, sid: str, device: str) -> dict[str, Any]:
        rec = self.records.get((sid, device))
        if rec is None:
            rec = self.records[(sid, device)] = blank()
        return rec

    def load(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            rec = self._rec(row["station_id"], row["device"])
            for key, default in blank().items():
                value = row.get(key)
                rec[key] = default if value is None else value

    # --- telemetry ------------------------------------------------------------------------
    def telemetry(self, sid: str, ts: float, values: dict[str, Any]) -> None:
        """Count one stored telemetry sample's `values` (as the codec accepts them: numbers or
        null) of station `sid` at sample time `ts`."""
        raw = _raw_flags(values)  # no dict made for the usual sample
        plan = self._plans.get(sid)
        if plan is not None and raw == plan[1]:
            # the same raw values give the same flags (numbers or null: `_flags` keeps each
            # number as a float and leaves nulls out), so the same as the plan's
            kept = plan[3]
            if kept.flags[-1] is plan[0] and ts > kept.times[-1]:
                self._steady(sid, ts, kept, plan)  # the usual sample: the newest, the pumps as they were
                return
        if raw == _NO_FLAGS:
            return
        flags = _flags(values)
        if not flags:
            return
        win = self._win.get(sid)
        if win:
            newest = win.flags[-1]
            if ts > win.times[-1] and flags == newest:
                if plan is None or plan[0] is not newest:  # worked out once per run of samples alike
                    plan = self._plans[sid] = (newest, raw, self._plan(sid, newest), win)
                self._steady(sid, ts, win, plan)
                return
        self._sample(sid, ts, flags, win)

    def _steady(self, sid: str, ts: float, win: Window, plan: Plan) -> None:
        """`_sample` of a sample newer than every kept one with the same flags as the newest
        (`plan`'s): no start and no fault can be in it, only run time: none when the device has
        a run-hour counter (it did not move), else the time since while running and the gap is
        short."""
        times, kept = win.times, win.flags
        elapsed = ts - times[-1]
        adds = elapsed <= MAX_GAP_S
        for rec, runs in plan[2]:
            if rec["last_ts"] is None or ts > rec["last_ts"]:
                rec["last_ts"] = ts
            if runs and adds:
                rec["run_s"] += elapsed
        times.append(ts)
        kept.append(kept[-1])  # pumps as they were: one dict kept for both (a window is 64 samples)
        if len(times) > WINDOW:
            del times[0]
            del kept[0]

    def _plan(self, sid: str, flags: dict[str, float]) -> tuple[tuple[dict[str, Any], bool], ...]:
        """For `_steady`: (record, whether its run time is the time between samples) of each
        device `flags` names, in DEVICES' order (records are created in it). Such a device runs
        (feedback, else command) and has no run-hour counter in the sample (one that has it
        adds nothing while the counter stands still)."""
        plan = []
        for device in _devices_in_order(flags):
            feedback, command, _fault, counter = DEVICES[device]
            runs = (counter is None or counter not in flags) and bool(_running(flags, feedback, command))
            plan.append((self._rec(sid, device), runs))
        return tuple(plan)

    def _sample(self, sid: str, ts: float, flags: dict[str, float], win: Window | None) -> None:
        """Keep one sample (of any time) and count what changed between it and its neighbours."""
        if win is None:
            win = self._win[sid] = Window()
        times = win.times
        if not times or ts > times[-1]:  # the newest, appended
            i = len(times)
            if times and flags == win.flags[-1]:
                flags = win.flags[-1]  # pumps as they were: one dict kept for both (a window is 64 samples)
        else:
            i = bisect.bisect_left(times, ts)
            if i < len(times) and times[i] == ts:
                return  # a sample of this time is counted already
            if i == 0:
                return  # older than every kept sample: its neighbours' transition is counted already
        new: Sample = (ts, flags)
        devices = _devices(flags)
        for device in DEVICES:  # in this order: records are created in it
            if device not in devices:
                continue
            rec = self._rec(sid, device)
            if rec["last_ts"] is None or ts > rec["last_ts"]:
                rec["last_ts"] = ts
        if i > 0:
            prev, nxt = win.sample(i - 1), (win.sample(i) if i < len(times) else None)
            # a device none of whose names is in either sample did nothing between them
            involved = devices if prev[1] is flags else devices.union(_devices(prev[1]))
            if nxt is not None:
                involved = involved.union(_devices(nxt[1]))
            for device in DEVICES:
                if device not in involved:
                    continue
                if nxt is None:
                    self._add(sid, device, _step(device, prev, new))
                else:
                    self._split(sid, device, _step(device, prev, nxt), _step(device, prev, new), _step(device, new, nxt))
        win.insert(i, ts, flags)

    def _add(self, sid: str, device: str, step: Step) -> None:
        starts, run_s, faults, fault_ts = step
        if not (starts or run_s or faults):
            return
        rec = self._rec(sid, device)
        rec["starts"] += starts
        rec["run_s"] += run_s
        if faults:
            rec["faults"] += faults
            if fault_ts is not None and (rec["last_fault_ts"] is None or fault_ts > rec["last_fault_ts"]):
                rec["last_fault_ts"] = fault_ts

    def _split(self, sid: str, device: str, old: Step, left: Step, right: Step) -> None:
        """A late sample between two kept ones: their transition `old` becomes `left` + `right`."""
        if old == (0, 0.0, 0, None) and left == old and right == old:
            return
        rec = self._rec(sid, device)
        rec["starts"] += left[0] + right[0] - old[0]
        rec["run_s"] = max(0.0, rec["run_s"] + left[1] + right[1] - old[1])
        rec["faults"] += left[2] + right[2] - old[2]
        moved = [t for t in (left[3], right[3]) if t is not None]
        if old[3] is not None and rec["last_fault_ts"] == old[3]:
            rec["last_fault_ts"] = max(moved) if moved else None  # the fault began at the late sample
        elif moved and (rec["last_fault_ts"] is None or max(moved) > rec["last_fault_ts"]):
            rec["last_fault_ts"] = max(moved)

    # --- events ---------------------------------------------------------------------------
    def event(self, sid: str, ts: float, body: dict[str, Any]) -> None:
        if body.get("kind") != PUMP_EVENT:
            return
        pump = body.get("pump")
        if not isinstance(pump, int) or isinstance(pump, bool) or not 1 <= pump <= len(CIRCULATION):
            return  # 0: both pumps (dry run), nothing per pump to count
        reason = body.get("reason")
        if reason == "rotated":
            count, last = "rotations", "last_rotation_ts"
        elif reason == "exercise":
            count, last = "exercises", "last_exercise_ts"
        elif reason == "failed_no_proof":
            count, last = "faults", "last_fault_ts"
        else:
            return
        rec = self._rec(sid, CIRCULATION[pump - 1])
        rec[count] += 1
        if rec[last] is None or ts > rec[last]:
            rec[last] = ts

    # --- persistence ----------------------------------------------------------------------
    def rows(self, stations: set[str] | None = None) -> list[tuple[Any, ...]]:
        """Absolute records (storage.base.EquipmentRow), of every station or of `stations` only."""
        return [(sid, dev, float(r["run_s"]), int(r["starts"]), r["last_rotation_ts"], int(r["faults"]),
                 r["last_fault_ts"], r["last_ts"], int(r["rotations"]), int(r["exercises"]), r["last_exercise_ts"])
                for (sid, dev), r in self.records.items() if stations is None or sid in stations]

    def tracking(self, sid: str) -> dict[str, Any] | None:
        """What the next samples of `sid` are compared with (the newest kept samples): saved with
        the records so that counting resumes exactly after a restart."""
        win = self._win.get(sid)
        if not win:
            return None
        return {"window": [[ts, dict(flags)] for ts, flags in zip(win.times[-TRACK_KEEP:], win.flags[-TRACK_KEEP:],
                                                                  strict=True)]}

    def restore_tracking(self, sid: str, tracking: dict[str, Any] | None) -> None:
        if not isinstance(tracking, dict):
            return
        if isinstance(tracking.get("ts"), (int, float)):  # saved before the window existed
            saved = [[tracking["ts"], tracking.get("flags") or {}]]
        else:
            saved = tracking.get("window") or []
        win = Window()
        for item in saved if isinstance(saved, list) else []:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (int, float))
                    and isinstance(item[1], dict)):
                continue
            flags = _flags(item[1])
            if not win or float(item[0]) > win.times[-1]:
                win.insert(len(win), float(item[0]), flags)
        if win:
            self._win[sid] = win
            self._plans.pop(sid, None)  # made for the window replaced


def _raw_flags_by_map(values: dict[str, Any]) -> tuple[Any, ...]:
    """The sample's raw values of the equipment's fields (None where absent), in DEVICES' order:
    in C builtins, the faster way interpreted."""
    return tuple(map(values.get, _FLAG_ORDER))


def _raw_flags_by_loop(values: dict[str, Any]) -> tuple[Any, ...]:
    """`_raw_flags_by_map` as a loop (equipment.pxd types it): the faster way compiled."""
    return tuple([values.get(name) for name in _FLAG_ORDER])


# compiled, the loop runs on the dict directly; interpreted, the builtins are faster
_raw_flags = _raw_flags_by_loop if _cext.compiled(sys.modules[__name__]) else _raw_flags_by_map


def _flags(values: dict[str, Any]) -> dict[str, float]:
    """The equipment's part of a telemetry record (numbers only)."""
    flags = {}
    for name in _FLAG_ORDER:  # a few names of dozens: looked up, in DEVICES' order
        v = values.get(name)
        if v.__class__ is float:  # nearly always (JSON numbers with a point)
            flags[name] = v
        elif v is not None and isinstance(v, (int, float)) and not isinstance(v, bool):
            flags[name] = float(v)
    return flags


def _devices(flags: dict[str, float]) -> frozenset[str]:
    """The devices a sample says something about."""
    names = tuple(flags)
    devices = _DEVICES_OF.get(names)
    if devices is None:
        devices = frozenset(_DEVICE_OF[name] for name in names)
        if len(_DEVICES_OF) < 4096:  # the orders of a few dozen names a fleet sends
            _DEVICES_OF[names] = devices
    return devices


def _devices_in_order(flags: dict[str, float]) -> tuple[str, ...]:
    """The devices a sample says something about, in DEVICES' order (records are created in it)."""
    names = tuple(flags)
    devices = _IN_ORDER_OF.get(names)
    if devices is None:
        of = _devices(flags)
        devices = tuple(device for device in DEVICES if device in of)
        if len(_IN_ORDER_OF) < 4096:
            _IN_ORDER_OF[names] = devices
    return devices


def _running(flags: dict[str, float], feedback: str, command: str) -> bool | None:
    v = flags.get(feedback)
    if v is None:
        v = flags.get(command)
    return None if v is None else v >= 0.5


def _step(device: str, a: Sample, b: Sample) -> Step:
    """What `device` did from sample `a` to the next sample `b`."""
    feedback, command, fault, counter = DEVICES[device]
    (a_ts, a_f), (b_ts, b_f) = a, b
    a_run, b_run = _running(a_f, feedback, command), _running(b_f, feedback, command)
    starts = 1 if a_run is False and b_run is True else 0
    run_s = 0.0
    elapsed = b_ts - a_ts
    a_h, b_h = (a_f.get(counter), b_f.get(counter)) if counter else (None, None)
    if a_h is not None and b_h is not None and 0.0 <= (b_h - a_h) * 3600.0 <= elapsed + CLOCK_SLACK_S:
        run_s = (b_h - a_h) * 3600.0
    elif a_run and elapsed <= MAX_GAP_S:
        run_s = elapsed
    b_fault = b_f.get(fault)
    a_fault = a_f.get(fault)
    faulted = b_fault is not None and b_fault >= 0.5 and (a_fault is None or a_fault < 0.5)
    return (starts, run_s, 1 if faulted else 0, b_ts if faulted else None)
