"""The station runtime: one control cycle per `cycle_s`, and the tasks around it.

Cycle (fixed order): read the process image (Modbus), `ctl.step`, write the outputs, record
events/alarms/telemetry into the outbox (one transaction), feed the systemd watchdog only when
the cycle made progress (the bus read returned and the controller stepped), sleep to the next
tick. The cycle never awaits the network: the uplink is a separate task that drains the outbox,
so a broker outage of any length changes nothing here but the outbox fill level.

Clocks: `now_s` is time.monotonic scaled by `time_scale` (simulated seconds per wall second;
1.0 in production), so accelerated demos run the same code path. Uplink timestamps and
command expiry use the real wall clock. "time_of_day_s" (local time of day, scaled alike) is
given to the controller for schedules, and "wall_s" (unix seconds, scaled alike) for the
calendar (week programme, holidays).

Overruns: a cycle that takes longer than its period is counted (telemetry `cycle_overruns`),
raises a `cycle_overrun` event on the first of a streak, and an alarm after
`overrun_alarm_cycles` in a row (cleared when a cycle is on time again).

Storage faults never stop control (see storage_guard): a damaged outbox or trend file is set
aside and replaced, at start-up or in the middle of a run, with the event
`storage_file_set_aside` and the alarm `storage_corrupt` (active while `*.corrupt-*` files lie in
the data directory, so someone checks the card); a store that no disk can hold runs in memory
(alarm `storage_memory_only`). The sequence number never restarts below what the supervisor
may hold: a recreated outbox continues from the state file's `outbox_last_seq` plus SEQ_MARGIN
(the state is saved again long before the outbox gets that far ahead of it). A journal that
cannot be written is counted (`journal_errors`) and reported once per episode; what the outbox
already committed is never queued again. Background tasks run under a TaskSupervisor: the
watchdog is fed only while the control cycle progresses AND no essential task stays dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import resource
import time
from typing import Any

from heatkeeper.core import codec, command_handler
from heatkeeper.core import signals as S

from . import branches
from .config import StationConfig
from .errors import StorageError
from .event_limit import EventLimiter
from .outbox import Outbox
from .persistence import Journal, StateStore
from .pushed_settings import ALARM as PUSHED_ALARM
from .pushed_settings import PushedSettingsFile, local_settings_event
from .storage_guard import StorageCorrupt, corrupt_files, open_store, replace_store
from .tasks import TaskSupervisor
from .trends import TrendStore
from .uplink import CommandGate, RecentAcks, Uplink
from .watchdog import Notifier

log = logging.getLogger("heatkeeper.station")

MAX_PENDING = 20000  # messages held in memory while storage fails
# Sequence numbers skipped when the outbox's own counter cannot be trusted (recreated, behind the
# state file): more than a station assigns between two state saves (a save is forced once the
# outbox is SEQ_MARGIN // 4 ahead of the last one), so no seq the supervisor holds is reused.
SEQ_MARGIN = 1_000_000
STORAGE_ALARMS = ("storage_corrupt", "storage_memory_only")


class ScaledClock:
    """Monotonic and time-of-day clocks running `scale` times faster than the wall."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self.mono0 = time.monotonic()
        lt = time.localtime()
        self.tod0_s = lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (time.time() % 1.0)
        self.wall0_s = time.time()

    def now_s(self) -> float:
        """Controller time: monotonic seconds (scaled)."""
        return self.mono0 + (time.monotonic() - self.mono0) * self.scale

    def time_of_day_s(self) -> float:
        """Local time of day in seconds (scaled from the start)."""
        return (self.tod0_s + (time.monotonic() - self.mono0) * self.scale) % 86400.0

    def wall_s(self) -> float:
        """Wall clock, unix seconds (scaled from the start)."""
        return self.wall0_s + (time.monotonic() - self.mono0) * self.scale


def _number_or_none(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


def json_safe(obj: Any) -> Any:
    """A copy of `obj` that json.dumps accepts (NaN/inf -> None, tuples -> lists)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def rss_kb() -> int:
    """Resident set size of this process in kB (from /proc/self/status)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass  # not Linux: fall back to the peak from getrusage
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class Station:
    """One station: controller, process image I/O, outbox, uplink, persistence, watchdog."""

    def __init__(self, cfg: StationConfig, time_scale: float = 1.0, io: Any = None) -> None:
        from heatkeeper.core.station import StationController

        self.cfg = cfg
        self.sid = cfg.station.id
        self.clock = ScaledClock(time_scale)
        self.period_s = cfg.station.cycle_s / time_scale  # wall seconds per cycle
        data_dir = cfg.station.data_dir
        self.data_dir = data_dir
        self.storage_fallbacks: list[dict] = []  # what could not be opened as configured (for events)
        try:
            os.makedirs(data_dir, exist_ok=True)
        except OSError as exc:
            log.error("data directory %s unusable (%s): storage runs in memory", data_dir, exc)
        settings = cfg.control_settings()
        settings.setdefault("station", {}).setdefault("cycle_s", cfg.station.cycle_s)
        self.ctl = StationController(settings)
        self.toml_settings = json_safe(settings)  # reported as the local_settings event
        self.outbox = self._open_sqlite(self._new_outbox, "outbox.sqlite", "outbox")
        self.state = StateStore(data_dir)
        self.pushed = PushedSettingsFile(data_dir)
        self.journal = self._open_journal()
        self.trends = self._open_sqlite(self._new_trends, "trends.sqlite", "trend store")
        self.acks = RecentAcks()
        self.gate = CommandGate(self.sid, self._apply_remote, cfg.mqtt, self.acks)
        self.uplink: Uplink | None = None
        if cfg.mqtt.enabled:
            self.uplink = Uplink(self.sid, cfg.mqtt, self.outbox, self.gate, self._rooms, self.emit_now,
                                 on_outdoor=self._outdoor, on_storage_fault=self._outbox_fault,
                                 on_forecast=self._forecast, on_season=self._season)
        if io is None:
            from heatkeeper.firmware.modbus import ProcessImageIO

            io = ProcessImageIO(cfg.bus)
        self.io = io
        self.notifier = Notifier()
        self.slave: Any = None
        self.metrics: Any = None  # firmware.metrics.MetricsEndpoint when [metrics] is enabled
        self._pending: list[tuple[str, dict, float]] = []
        self.cycles = 0
        self.overruns = 0
        self.overrun_streak = 0
        self.overrun_alarm = False
        self.io_timeouts = 0
        self.cycle_time_ms = 0.0
        self.last_inputs: dict = {}
        self.last_out: dict = {}
        self.last_telemetry: dict = {}
        self._next_telemetry_s = -1e18
        self._next_trend_s = -1e18
        self._next_snapshot_wall = time.monotonic() + cfg.station.snapshot_interval_s
        self._stop = asyncio.Event()
        self._save_soon = False
        self.storage_errors = 0
        self._storage_down = False
        self.journal_errors = 0
        self._state_down = False
        self._journal_down = False
        self.firmware_alarms: set[str] = set()
        self._saved_seq = self.outbox.last_seq
        self.limiter = EventLimiter()
        self.supervisor = TaskSupervisor(self.emit)
        self.started_wall = time.time()

    # --- storage -------------------------------------------------------------------------------
    def _new_outbox(self, path: str) -> Outbox:
        return Outbox(path, self.sid, self.cfg.storage.outbox_max_messages, self.cfg.storage.outbox_synchronous)

    def _new_trends(self, path: str) -> TrendStore:
        return TrendStore(path, self.cfg.storage.trend_max_rows)

    def _open_sqlite(self, opener: Any, name: str, label: str) -> Any:
        store, info = open_store(opener, os.path.join(self.data_dir, name), label)
        if info is not None:
            self.storage_fallbacks.append(info)
        return store

    def _open_journal(self) -> Journal:
        path = os.path.join(self.data_dir, "events.jsonl")
        try:
            return Journal(path, self.cfg.storage.journal_max_bytes, self.cfg.storage.journal_files)
        except StorageError as exc:
            log.error("journal: %s: keeping the last events in memory only", exc)
            self.storage_fallbacks.append({"file": "events.jsonl", "store": "journal", "set_aside": None,
                                           "memory_only": True, "detail": str(exc)[:300]})
            return Journal(None)

    def _report_fallback(self, info: dict) -> None:
        """Event (and alarms) for one store that could not be used as it was."""
        kind = "storage_file_set_aside" if info.get("set_aside") else "storage_memory_only"
        self.emit(codec.UP_EVENT, dict(info, kind=kind, reason="corrupt" if info.get("set_aside") else "unusable"))
        if info.get("memory_only"):
            self._alarm("storage_memory_only", True, "major" if info.get("store") == "outbox" else "warning",
                        "%s runs in memory (a power cut loses it): %s" % (info.get("store"), info.get("detail", "")[:200]))
        self.check_storage_alarms()

    def check_storage_alarms(self) -> None:
        """`storage_corrupt` active while set-aside damaged files lie in the data directory."""
        names = corrupt_files(self.data_dir)
        if names:
            self._alarm("storage_corrupt", True, "warning",
                        "damaged storage file(s) set aside in %s, fresh ones in use; check the card, then delete: %s"
                        % (self.data_dir, ", ".join(names)[:300]))
        else:
            self._alarm("storage_corrupt", False, "warning", "no damaged storage files left")

    def _alarm(self, code: str, active: bool, severity: str, text: str) -> None:
        """Raise or clear a firmware alarm, once per change (the set is kept in the state file)."""
        if active == (code in self.firmware_alarms):
            return
        if active:
            self.firmware_alarms.add(code)
        else:
            self.firmware_alarms.discard(code)
        self.emit(codec.UP_ALARM, {"code": code, "state": "active" if active else "cleared",
                                   "reason": "raised" if active else "cleared", "severity": severity, "text": text})

    def _outbox_fault(self, exc: StorageError) -> None:
        """A damaged outbox (seen by the uplink or by a commit): set it aside, continue the seq."""
        if not isinstance(exc, StorageCorrupt):
            return
        old = self.outbox
        old.close()
        fresh, info = replace_store(self._new_outbox, old.path, "outbox", exc)
        fresh.raise_seq_floor(old.last_seq)  # the counter in memory is exact
        info["lost_pending"] = len(old)
        self.outbox = fresh
        if self.uplink is not None:
            self.uplink.outbox = fresh
        self._report_fallback(info)

    def _trends_fault(self, exc: StorageError) -> None:
        if not isinstance(exc, StorageCorrupt):
            return
        self.trends.close()
        self.trends, info = replace_store(self._new_trends, self.trends.path, "trend store", exc)
        self._report_fallback(info)

    def _restore_seq(self, data: dict | None, state_events: list[dict]) -> None:
        """Continue the sequence above every seq the supervisor may hold (see SEQ_MARGIN)."""
        saved = data.get("outbox_last_seq") if isinstance(data, dict) else None
        saved = int(saved) if isinstance(saved, (int, float)) and not isinstance(saved, bool) and \
            math.isfinite(saved) and saved >= 0 else None
        own = self.outbox.last_seq
        floor, reason = 0, ""
        if saved is not None and (self.outbox.created or own < saved):
            floor, reason = saved + SEQ_MARGIN, ("outbox_recreated" if self.outbox.created else "outbox_behind_state")
        elif saved is not None and data is not None and data.get("clean_stop") is not True \
                and self.cfg.storage.outbox_synchronous != "full":
            # synchronous=normal may lose the last commits on power loss: their seqs may be out
            floor, reason = max(own, saved) + SEQ_MARGIN, "unclean_stop_unsynced"
        elif saved is None and self.outbox.created and (self.storage_fallbacks or state_events):
            # no trustworthy counter anywhere, but this station has run before: the wall clock in
            # units of 10 ms is above any seq it can have reached (< 100 messages/s on average since
            # 1970) and, at about 1.8e11, within the numbers an uplink may carry (codec.MAX_ABS_NUMBER)
            floor, reason = int(time.time() * 100.0), "no_saved_seq"
        if floor and self.outbox.raise_seq_floor(floor):
            log.warning("outbox sequence continues at %d (own counter %d, state %s): %s", floor + 1, own, saved, reason)
            self.emit(codec.UP_EVENT, {"kind": "outbox_seq_restored", "reason": reason, "outbox_seq": own,
                                       "state_seq": saved, "next_seq": floor + 1})

    # --- messages ------------------------------------------------------------------------------
    def emit(self, kind: str, body: dict) -> None:
        """Queue one uplink message (kind: telemetry/event/alarm/ack) for this cycle's commit.
        Repeated local events (see event_limit) are coalesced instead of queued."""
        if kind == codec.UP_EVENT and not self.limiter.admit(body, time.monotonic()):
            return
        self._pending.append((kind, json_safe(body), time.time()))

    def emit_now(self, kind: str, body: dict) -> None:
        """Queue and commit at once (messages raised outside the cycle, e.g. command acks)."""
        self.emit(kind, body)
        self.flush()

    def flush(self) -> None:
        """Commit queued messages to the outbox (one transaction) and the journal; wake the uplink.

        A storage failure (disk full, card worn out) never stops control: the messages stay
        queued in memory (bounded) and are retried next cycle; the failure is logged once per
        episode and counted in telemetry (`storage_errors`)."""
        if not self._pending:
            return
        ok_items, self._pending = self._pending, []

        def refused(i: int, exc: codec.CodecError) -> tuple[str, dict, float]:
            # Our fault (a body the codec refuses): keep a trace rather than lose the others.
            kind, _body, ts = ok_items[i]
            log.error("uplink %s message refused by the codec: %s", kind, exc)
            ok_items[i] = (codec.UP_EVENT, {"kind": "uplink_encode_error", "reason": exc.reason,
                                            "detail": exc.text[:200], "for_kind": kind}, ts)
            return ok_items[i]

        try:
            self.outbox.put_many(ok_items, refused)  # encoded once, with its seq
        except StorageError as exc:
            self._storage_failed(exc)
            keep = ok_items + self._pending
            if len(keep) > MAX_PENDING:  # drop the oldest telemetry first, never alarms/events/acks
                tele = [i for i, item in enumerate(keep) if item[0] == codec.UP_TELEMETRY]
                drop = set(tele[: len(keep) - MAX_PENDING])
                keep = [item for i, item in enumerate(keep) if i not in drop]
            self._pending = keep
            self._outbox_fault(exc)  # a damaged file: set aside now, the held messages go next cycle
            return
        # Committed: from here on nothing of ok_items may be queued again, whatever fails.
        self._storage_ok()
        self._journal([(ts, kind, body) for kind, body, ts in ok_items if kind != codec.UP_TELEMETRY])
        thinning = self.outbox.take_thinning()
        if thinning is not None:
            self.emit(codec.UP_EVENT, dict(thinning, kind="outbox_thinned", reason="outbox_full"))
        capping = self.outbox.take_capping()
        if capping is not None:
            log.warning("outbox: %d alarms/events/acks over the cap of %d dropped", capping["dropped"], capping["cap"])
            self.emit(codec.UP_EVENT, dict(capping, kind="outbox_capped", reason="too_many_messages"))
        if self.uplink is not None:
            self.uplink.wake()

    def _journal(self, records: list[tuple[float, str, dict]]) -> None:
        """The local copy of committed non-telemetry messages. A failure is counted and reported
        once per episode; the outbox already holds the messages, so nothing is queued again."""
        failed = 0
        error = ""
        for ts, kind, body in records:
            try:
                self.journal.append({"ts": ts, "kind": kind, "body": body})
            except StorageError as exc:
                failed += 1
                error = str(exc)
        if failed:
            self.journal_errors += failed
            if not self._journal_down:
                self._journal_down = True
                log.error("journal write failed (messages are still sent from the outbox): %s", error)
                self.emit(codec.UP_EVENT, {"kind": "journal_failed", "reason": "write_failed", "detail": error[:200]})
        elif records and self._journal_down:
            self._journal_down = False
            log.warning("journal writes work again after %d failures", self.journal_errors)
            self.emit(codec.UP_EVENT, {"kind": "journal_ok", "reason": "recovered", "journal_errors": self.journal_errors})

    def _storage_failed(self, exc: Exception) -> None:
        self.storage_errors += 1
        if not self._storage_down:
            self._storage_down = True
            log.error("storage failed, control continues, messages held in memory: %s", exc)

    def _storage_ok(self) -> None:
        if self._storage_down:
            self._storage_down = False
            log.warning("storage works again after %d failures", self.storage_errors)

    def _core_events(self, out: dict) -> None:
        for ev in out.get(S.EVENTS) or ():
            if not isinstance(ev, dict):
                continue
            if ev.get("kind") == "alarm" and isinstance(ev.get("code"), str):
                body = dict(ev)
                body["state"] = {"raised": "active"}.get(str(ev.get("reason")), str(ev.get("reason")))
                self.emit(codec.UP_ALARM, body)
            else:
                body = dict(ev)
                body.setdefault("kind", "event")
                self.emit(codec.UP_EVENT, body)

    # --- command entry points ------------------------------------------------------------------
    def _apply_remote(self, request: dict) -> dict:
        res: dict = self.ctl.handle_command(request, self.clock.now_s())
        if res.get("result") == codec.ACK_APPLIED:
            self._save_soon = True  # a new lease or mode must survive a power cut a moment later
            if request.get("kind") == "apply_settings":
                self._keep_pushed(request.get("args") or {})
        return res

    def _keep_pushed(self, args: dict) -> None:
        """Persist settings just applied (a restart runs them); the alarm of an unusable file clears."""
        try:
            self.pushed.save(args.get("version", 0), args.get("sections") or {})
        except StorageError as exc:
            self.emit(codec.UP_EVENT, {"kind": "pushed_settings_not_saved", "reason": "storage",
                                       "detail": "running settings version %s, but a restart would not: %s"
                                       % (args.get("version"), str(exc)[:200])})
            return
        self._alarm(PUSHED_ALARM, False, "major", "settings version %s applied and kept" % args.get("version"))
        self.emit(codec.UP_EVENT, local_settings_event(self.toml_settings, "applied"))

    def load_pushed(self) -> None:
        """Lay the kept pushed settings over the TOML's (the same checks as the command); a file
        that cannot be used leaves the TOML's in effect and raises the alarm saying why."""
        doc, why = self.pushed.load()
        if doc is not None:
            cmd = {"id": "pushed-settings-at-start", "kind": "apply_settings", "args": doc, "user": "station",
                   "source": "local"}
            res = command_handler.apply(self.ctl, cmd, self.clock.now_s())
            if res.get("result") == codec.ACK_APPLIED:
                self.emit(codec.UP_EVENT, {"kind": "pushed_settings_loaded", "reason": "start",
                                           "version": self.ctl.settings_version, "detail": res.get("detail", "")})
                return
            why = "kept settings version %s do not fit this station's settings file: %s" % (
                doc.get("version"), res.get("detail", ""))
        if why:
            log.error("pushed settings not used, running on the settings file: %s", why)
            self._alarm(PUSHED_ALARM, True, "major", ("running on the station's settings file only: " + why)[:900])

    def apply_local(self, kind: str, args: dict, user: str = "local-panel") -> dict:
        """A command from the local Modbus TCP slave (source "local"); logged and answered as an event."""
        cid = "local-%d-%d" % (int(time.time() * 1000), self.cycles)
        res: dict = self.ctl.handle_command({"id": cid, "kind": kind, "args": args, "user": user, "source": "local"},
                                            self.clock.now_s())
        if res.get("result") == codec.ACK_APPLIED:
            self._save_soon = True
        return res

    def _rooms(self, readings: list) -> None:
        self.ctl.set_room_readings(readings, self.clock.now_s())

    def _outdoor(self, temp_c: float, age_s: float) -> None:
        """The supervisor's city outdoor value (age in wall seconds) to the controller, which uses
        it only while its own sensor is faulty and the value is young enough."""
        self.ctl.set_supervisor_outdoor(temp_c, self.clock.now_s() - age_s * self.clock.scale)

    def _forecast(self, msg: dict) -> None:
        """The city's weather forecast to the controller; kept in the next snapshot (a restart
        keeps it), refused ones reported as an event."""
        problem = self.ctl.set_forecast(msg, time.time())
        if problem:
            self.emit(codec.UP_EVENT, {"kind": "forecast_rejected", "reason": "bad_forecast", "detail": problem[:200]})
        else:
            self._save_soon = True

    def _season(self, msg: dict) -> None:
        """The city's heating-season calendar to the controller (core.season judges it; the one
        held stays on a refusal); kept in the next snapshot, refused ones reported as an event."""
        problem = self.ctl.set_season(msg, time.time())
        if problem:
            self.emit(codec.UP_EVENT, {"kind": "season_rejected", "reason": "bad_season", "detail": problem[:200]})
        else:
            self._save_soon = True

    # --- persistence ---------------------------------------------------------------------------
    def restore(self) -> None:
        """Resume from the newest good state file (events raised for any fallback); continue the
        outbox sequence; report stores that could not be opened; settle the storage alarms."""
        data, events = self.state.load()
        for ev in events:
            log.warning("state: %s", ev)
            self.emit(codec.UP_EVENT, ev)
        self._restore_seq(data, events)
        self._saved_seq = self.outbox.last_seq
        # Firmware alarms the previous run left active are cleared below if their cause is gone
        # (also when no state tells, but this station has clearly run before).
        prior = set(data.get("firmware_alarms") or ()) if isinstance(data, dict) else set()
        if data is None and (events or self.storage_fallbacks):
            prior = {"task_failing", *STORAGE_ALARMS}
        self.firmware_alarms = set()
        self.load_pushed()
        for info in self.storage_fallbacks:
            self._report_fallback(info)
        self.check_storage_alarms()
        for code in sorted(c for c in prior if isinstance(c, str) and c not in self.firmware_alarms):
            self.emit(codec.UP_ALARM, {"code": code, "state": "cleared", "reason": "cleared", "severity": "warning",
                                       "text": "no longer the case after the restart"})
        if data is None:
            return
        snap = data.get("controller")
        if isinstance(snap, dict):
            self.ctl.restore(snap, self.clock.now_s())
        self.acks.restore(data.get("recent_acks"))
        self.emit(codec.UP_EVENT, {"kind": "state_restored", "reason": "restart", "generation": self.state.generation,
                                   "saved_ts": data.get("saved_ts")})

    def save_state(self, clean_stop: bool = False) -> None:
        """Write the controller snapshot and the recent-ack cache atomically."""
        last_seq = self.outbox.last_seq
        self.state.save({"station": self.sid, "saved_ts": time.time(), "controller": json_safe(self.ctl.snapshot()),
                         "recent_acks": self.acks.snapshot(), "outbox_last_seq": last_seq,
                         "firmware_alarms": sorted(self.firmware_alarms), "clean_stop": clean_stop})
        self._saved_seq = last_seq

    # --- the cycle -----------------------------------------------------------------------------
    async def cycle(self) -> bool:
        """One control cycle; True when it made progress (the watchdog may be fed)."""
        t0 = time.monotonic()
        now_s = self.clock.now_s()
        io_timeout_s = max(10.0, 5.0 * self.cfg.station.cycle_s)
        progress = True
        try:
            inputs: dict = await asyncio.wait_for(self.io.read_cycle(now_s), io_timeout_s)
        except TimeoutError:
            self.io_timeouts += 1
            progress = False
            inputs = {}
            self.emit(codec.UP_EVENT, {"kind": "io_timeout", "reason": "read_cycle",
                                       "detail": "process image read took over %.0f s" % io_timeout_s})
        inputs = dict(inputs)
        inputs["now_s"] = now_s
        inputs["time_of_day_s"] = (self.clock.time_of_day_s(), True)  # a process-image item like any signal
        inputs["wall_s"] = (self.clock.wall_s(), True)
        branch_readings = branches.readings(inputs)  # building branch valves (core.balancing), if any
        if branch_readings:
            self.ctl.set_branch_readings(branch_readings, now_s)
        out = self.ctl.step(inputs)
        actuators = {name: out[name] for name in S.ACTUATORS if name in out}
        if branch_readings:
            actuators.update(branches.commands(self.ctl))
        try:
            await asyncio.wait_for(self.io.write_outputs(actuators, now_s), io_timeout_s)
        except TimeoutError:
            self.io_timeouts += 1
            progress = False
        self.cycles += 1
        self.last_inputs, self.last_out = inputs, out
        self._core_events(out)
        for kind, body in self.io.take_messages() if hasattr(self.io, "take_messages") else ():
            self.emit(kind, body)  # what the devices and drives report (blocked actuator, meter info code,
            # Modbus errors, drive resets and state changes)
        elapsed_s = time.monotonic() - t0
        self.cycle_time_ms = elapsed_s * 1000.0
        self._check_overrun(elapsed_s)
        if now_s >= self._next_telemetry_s:
            self._next_telemetry_s = now_s + self.cfg.station.telemetry_interval_s
            values = self.telemetry_values(inputs, out)
            self.last_telemetry = values
            self.emit(codec.UP_TELEMETRY, {"values": values})
            if now_s >= self._next_trend_s:
                self._next_trend_s = now_s + self.cfg.station.trend_interval_s
                try:
                    self.trends.add(time.time(), values)
                except StorageError as exc:
                    self._storage_failed(exc)
                    self._trends_fault(exc)
        for body in self.limiter.summaries(time.monotonic()):
            self.emit(codec.UP_EVENT, body)
        self.flush()
        if self.outbox.last_seq - self._saved_seq > SEQ_MARGIN // 4:
            self._save_soon = True  # keep the state's seq well within SEQ_MARGIN of the outbox's
        if self._save_soon or time.monotonic() >= self._next_snapshot_wall:
            self._save_soon = False
            self._next_snapshot_wall = time.monotonic() + self.cfg.station.snapshot_interval_s
            self.check_storage_alarms()
            try:
                self.save_state()
            except StorageError as exc:
                self.storage_errors += 1
                if not self._state_down:  # once per episode: in memory-only mode every save fails
                    self._state_down = True
                    log.error("state not saved, control continues: %s", exc)
            else:
                if self._state_down:
                    self._state_down = False
                    log.warning("state saved again")
        if self.slave is not None:
            self.slave.update(inputs, out)
        return progress

    def _check_overrun(self, elapsed_s: float) -> None:
        if elapsed_s <= self.period_s:
            self.overrun_streak = 0
            if self.overrun_alarm:
                self.overrun_alarm = False
                self.emit(codec.UP_ALARM, {"code": "cycle_overrun", "state": "cleared", "reason": "cleared",
                                           "severity": "warning", "text": "control cycle on time again"})
            return
        self.overruns += 1
        self.overrun_streak += 1
        if self.overrun_streak == 1:
            self.emit(codec.UP_EVENT, {"kind": "cycle_overrun", "reason": "slow_cycle",
                                       "cycle_ms": round(elapsed_s * 1000.0, 1), "period_ms": round(self.period_s * 1000.0, 1)})
        if self.overrun_streak >= self.cfg.station.overrun_alarm_cycles and not self.overrun_alarm:
            self.overrun_alarm = True
            self.emit(codec.UP_ALARM, {"code": "cycle_overrun", "state": "active", "reason": "raised", "severity": "warning",
                                       "text": "%d control cycles in a row took longer than %.0f ms"
                                       % (self.overrun_streak, self.period_s * 1000.0)})

    def telemetry_values(self, inputs: dict, out: dict) -> dict:
        """The controller's flat record plus the runtime's own health figures."""
        values: dict[str, Any] = {}
        for key, value in self.ctl.telemetry(inputs, out).items():
            values[key] = _number_or_none(value)
        # what the station accepts now (mode, limits, leases), so the dashboard offers only that
        for key, value in command_handler.offer(self.ctl).items():
            values[key] = _number_or_none(value)
        values.update(self.outbox.stats())
        values["cycle_overruns"] = self.overruns
        values["cycle_time_ms"] = round(self.cycle_time_ms, 2)
        values["io_timeouts"] = self.io_timeouts
        values["storage_errors"] = self.storage_errors
        values["journal_errors"] = self.journal_errors
        values["storage_memory_only"] = int("storage_memory_only" in self.firmware_alarms)
        values["events_suppressed_total"] = self.limiter.suppressed_total
        values["task_restarts"] = self.supervisor.restarts
        values["uplink_connected"] = int(bool(self.uplink and self.uplink.connected))
        values.update(self.ctl.forecast.telemetry(time.time()))  # forecast_age_s, forecast_horizon_h
        values["rss_kb"] = rss_kb()
        health = self.io.health() if hasattr(self.io, "health") else {}
        values["devices_total"] = len(health)
        values["devices_available"] = sum(1 for h in health.values() if h.get("available"))
        if hasattr(self.io, "telemetry"):
            values.update(self.io.telemetry())  # Modbus exception / rejected-write counts, device diagnostics
        if hasattr(self.io, "drive_telemetry"):
            values.update(self.io.drive_telemetry())
        return values

    # --- lifetime ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run loop to finish (signal handlers call this)."""
        self._stop.set()

    async def run(self) -> None:
        """Start everything, run cycles until `stop()`, then save and close."""
        self.restore()
        self.emit(codec.UP_EVENT, {"kind": "station_started", "reason": "start", "pid": os.getpid(),
                                   "time_scale": self.clock.scale})
        self.emit(codec.UP_EVENT, local_settings_event(self.toml_settings, "start"))
        self.flush()
        await self.io.start()
        if self.uplink is not None:
            self.supervisor.start("uplink", self.uplink.run, essential=True)
        if self.cfg.modbus_slave.enabled:
            from .modbus_slave import StationSlave

            ms = self.cfg.modbus_slave
            slave = self.slave = StationSlave(self, ms)
            self.supervisor.start("modbus-slave", lambda: self._keep_bound(slave, "local Modbus TCP slave",
                                                                           "local_panel", ms.host, ms.port))
        if self.cfg.metrics.enabled:
            from .metrics import MetricsEndpoint

            me = self.cfg.metrics
            endpoint = self.metrics = MetricsEndpoint(self, me)
            self.supervisor.start("metrics", lambda: self._keep_bound(endpoint, "metrics endpoint", "metrics",
                                                                      me.host, me.port))
        self.notifier.ready("station %s running" % self.sid)
        log.info("station %s running: cycle %.3f s (wall %.3f s), data in %s", self.sid, self.cfg.station.cycle_s,
                 self.period_s, self.data_dir)
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                progress = await self.cycle()
                if self.supervisor.check() and progress:
                    self.notifier.watchdog()
                next_tick += self.period_s
                now = time.monotonic()
                if next_tick < now:
                    next_tick = now  # overran: start the next cycle at once, do not burst to catch up
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next_tick - now)
        finally:
            await self.shutdown()

    async def _keep_bound(self, server: Any, what: str, event: str, host: str, port: int,
                          retry_s: float = 30.0) -> None:
        """Open a local port (the Modbus TCP panel, the metrics endpoint); if it cannot be bound
        (taken, address gone) the station heats on without it, says so once as the event
        `<event>_unavailable`, and retries every retry_s (wall)."""
        reported = False
        while not self._stop.is_set():
            try:
                await server.start()
            except (OSError, RuntimeError) as exc:
                if not reported:
                    log.warning("%s on %s:%d unavailable (%s); retrying every %.0f s", what, host, port, exc, retry_s)
                    self.emit(codec.UP_EVENT, {"kind": event + "_unavailable", "reason": "bind_failed",
                                               "detail": str(exc)[:200]})
                    reported = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), retry_s)
                continue
            if reported:
                self.emit(codec.UP_EVENT, {"kind": event + "_available", "reason": "bound"})
            return

    async def shutdown(self) -> None:
        """Final snapshot, "offline" status, then close every resource."""
        self.notifier.stopping()
        self.emit(codec.UP_EVENT, {"kind": "station_stopping", "reason": "stop", "cycles": self.cycles})
        self.flush()
        saved = True
        try:
            self.save_state(clean_stop=True)
        except StorageError as exc:
            saved = False
            log.error("final state not saved: %s", exc)
        if self.uplink is not None:
            # Give the uplink a moment to drain what is pending, then say offline.
            deadline = time.monotonic() + 2.0
            while len(self.outbox) and self.uplink.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await self.uplink.say_offline()
        await self.supervisor.stop()
        if self.slave is not None:
            await self.slave.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        await self.io.close()
        left = len(self.outbox)
        self.outbox.close()
        self.trends.close()
        self.journal.close()
        self.notifier.close()
        log.info("station %s stopped after %d cycles: %s, %d message(s) kept in the outbox for the next start",
                 self.sid, self.cycles, "state saved" if saved else "state NOT saved (above)", left)
