"""The station runtime: one control cycle per `cycle_s`, and the tasks around it.

Cycle (fixed order): read the process image (Modbus), `ctl.step`, write the outputs, record
events/alarms/telemetry into the outbox (one transaction), feed the systemd watchdog only when
the cycle made progress (the bus read returned and the controller stepped), sleep to the next
tick. The cycle never awaits the network: the uplink is a separate task that drains the outbox,
so a broker outage of any length changes nothing here but the outbox fill level.

Clocks: `now_s` is time.monotonic scaled by `time_scale` (simulated seconds per wall second;
1.0 in production), so accelerated demos run the same code path. Uplink timestamps and
command expiry use the real wall clock. "time_of_day_s" (local time of day, scaled alike) is
given to the controller for schedules.

Overruns: a cycle that takes longer than its period is counted (telemetry `cycle_overruns`),
raises a `cycle_overrun` event on the first of a streak, and an alarm after
`overrun_alarm_cycles` in a row (cleared when a cycle is on time again).
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

from heatkeeper.core import codec
from heatkeeper.core import signals as S

from .config import StationConfig
from .errors import StorageError
from .outbox import Outbox
from .persistence import Journal, StateStore
from .trends import TrendStore
from .uplink import CommandGate, RecentAcks, Uplink
from .watchdog import Notifier

log = logging.getLogger("heatkeeper.station")

MAX_PENDING = 20000  # messages held in memory while storage fails


class ScaledClock:
    """Monotonic and time-of-day clocks running `scale` times faster than the wall."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self.mono0 = time.monotonic()
        lt = time.localtime()
        self.tod0_s = lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (time.time() % 1.0)

    def now_s(self) -> float:
        """Controller time: monotonic seconds (scaled)."""
        return self.mono0 + (time.monotonic() - self.mono0) * self.scale

    def time_of_day_s(self) -> float:
        """Local time of day in seconds (scaled from the start)."""
        return (self.tod0_s + (time.monotonic() - self.mono0) * self.scale) % 86400.0


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
        os.makedirs(data_dir, exist_ok=True)
        self.data_dir = data_dir
        settings = cfg.control_settings()
        settings.setdefault("station", {}).setdefault("cycle_s", cfg.station.cycle_s)
        self.ctl = StationController(settings)
        self.outbox = Outbox(os.path.join(data_dir, "outbox.sqlite"), self.sid,
                             cfg.storage.outbox_max_messages, cfg.storage.outbox_synchronous)
        self.state = StateStore(data_dir)
        self.journal = Journal(os.path.join(data_dir, "events.jsonl"), cfg.storage.journal_max_bytes,
                               cfg.storage.journal_files)
        self.trends = TrendStore(os.path.join(data_dir, "trends.sqlite"), cfg.storage.trend_max_rows)
        self.acks = RecentAcks()
        self.gate = CommandGate(self.sid, self._apply_remote, cfg.mqtt, self.acks)
        self.uplink: Uplink | None = None
        if cfg.mqtt.enabled:
            self.uplink = Uplink(self.sid, cfg.mqtt, self.outbox, self.gate, self._rooms, self.emit_now,
                                 on_outdoor=self._outdoor)
        if io is None:
            from heatkeeper.firmware.modbus import ProcessImageIO

            io = ProcessImageIO(cfg.bus)
        self.io = io
        self.notifier = Notifier()
        self.slave: Any = None
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
        self.started_wall = time.time()

    # --- messages ------------------------------------------------------------------------------
    def emit(self, kind: str, body: dict) -> None:
        """Queue one uplink message (kind: telemetry/event/alarm/ack) for this cycle's commit."""
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
        items, self._pending = self._pending, []
        ok_items = []
        for kind, body, ts in items:
            try:
                codec.encode_uplink(self.sid, 1, kind, ts, body)
                ok_items.append((kind, body, ts))
            except codec.CodecError as exc:
                # Our fault (a body the codec refuses): keep a trace rather than lose the others.
                log.error("uplink %s message refused by the codec: %s", kind, exc)
                ok_items.append((codec.UP_EVENT, {"kind": "uplink_encode_error", "reason": exc.reason,
                                                  "detail": exc.text[:200], "for_kind": kind}, ts))
        try:
            self.outbox.put_many(ok_items)
            for kind, body, ts in ok_items:
                if kind != codec.UP_TELEMETRY:
                    self.journal.append({"ts": ts, "kind": kind, "body": body})
            thinning = self.outbox.take_thinning()
            if thinning is not None:
                body = dict(thinning, kind="outbox_thinned", reason="outbox_full")
                self.journal.append({"ts": time.time(), "kind": "event", "body": body})
                self.outbox.put(codec.UP_EVENT, body, time.time())
        except StorageError as exc:
            self._storage_failed(exc)
            keep = ok_items + self._pending
            if len(keep) > MAX_PENDING:  # drop the oldest telemetry first, never alarms/events/acks
                tele = [i for i, item in enumerate(keep) if item[0] == codec.UP_TELEMETRY]
                drop = set(tele[: len(keep) - MAX_PENDING])
                keep = [item for i, item in enumerate(keep) if i not in drop]
            self._pending = keep
            return
        self._storage_ok()
        if self.uplink is not None:
            self.uplink.wake()

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
        return res

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

    # --- persistence ---------------------------------------------------------------------------
    def restore(self) -> None:
        """Resume from the newest good state file (events raised for any fallback)."""
        data, events = self.state.load()
        for ev in events:
            log.warning("state: %s", ev)
            self.emit(codec.UP_EVENT, ev)
        if data is None:
            return
        snap = data.get("controller")
        if isinstance(snap, dict):
            self.ctl.restore(snap, self.clock.now_s())
        self.acks.restore(data.get("recent_acks"))
        self.emit(codec.UP_EVENT, {"kind": "state_restored", "reason": "restart", "generation": self.state.generation,
                                   "saved_ts": data.get("saved_ts")})

    def save_state(self) -> None:
        """Write the controller snapshot and the recent-ack cache atomically."""
        self.state.save({"station": self.sid, "saved_ts": time.time(), "controller": json_safe(self.ctl.snapshot()),
                         "recent_acks": self.acks.snapshot(), "outbox_last_seq": self.outbox.last_seq})

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
        out = self.ctl.step(inputs)
        actuators = {name: out[name] for name in S.ACTUATORS if name in out}
        try:
            await asyncio.wait_for(self.io.write_outputs(actuators, now_s), io_timeout_s)
        except TimeoutError:
            self.io_timeouts += 1
            progress = False
        self.cycles += 1
        self.last_inputs, self.last_out = inputs, out
        self._core_events(out)
        for kind, body in self.io.take_messages() if hasattr(self.io, "take_messages") else ():
            self.emit(kind, body)  # the drives' resets, state changes and alarms (firmware/modbus/drives.py)
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
        self.flush()
        if self._save_soon or time.monotonic() >= self._next_snapshot_wall:
            self._save_soon = False
            self._next_snapshot_wall = time.monotonic() + self.cfg.station.snapshot_interval_s
            try:
                self.save_state()
            except StorageError as exc:
                self._storage_failed(exc)
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
        values.update(self.outbox.stats())
        values["cycle_overruns"] = self.overruns
        values["cycle_time_ms"] = round(self.cycle_time_ms, 2)
        values["io_timeouts"] = self.io_timeouts
        values["storage_errors"] = self.storage_errors
        values["uplink_connected"] = int(bool(self.uplink and self.uplink.connected))
        values["rss_kb"] = rss_kb()
        health = self.io.health() if hasattr(self.io, "health") else {}
        values["devices_total"] = len(health)
        values["devices_available"] = sum(1 for h in health.values() if h.get("available"))
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
        self.flush()
        await self.io.start()
        tasks: list[asyncio.Task] = []
        if self.uplink is not None:
            tasks.append(asyncio.create_task(self.uplink.run(), name="uplink"))
        if self.cfg.modbus_slave.enabled:
            from .modbus_slave import StationSlave

            self.slave = StationSlave(self, self.cfg.modbus_slave)
            tasks.append(asyncio.create_task(self._local_panel(self.slave), name="modbus-slave"))
        self.notifier.ready("station %s running" % self.sid)
        log.info("station %s running: cycle %.3f s (wall %.3f s), data in %s", self.sid, self.cfg.station.cycle_s,
                 self.period_s, self.data_dir)
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                if await self.cycle():
                    self.notifier.watchdog()
                next_tick += self.period_s
                now = time.monotonic()
                if next_tick < now:
                    next_tick = now  # overran: start the next cycle at once, do not burst to catch up
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next_tick - now)
        finally:
            await self.shutdown(tasks)

    async def _local_panel(self, slave: Any, retry_s: float = 30.0) -> None:
        """Open the local Modbus TCP port; if it cannot be bound (taken, address gone) the station
        heats on without it, says so once as an event, and retries every retry_s (wall)."""
        reported = False
        while not self._stop.is_set():
            try:
                await slave.start()
            except (OSError, RuntimeError) as exc:
                if not reported:
                    log.warning("local Modbus TCP slave on %s:%d unavailable (%s); retrying every %.0f s",
                                self.cfg.modbus_slave.host, self.cfg.modbus_slave.port, exc, retry_s)
                    self.emit(codec.UP_EVENT, {"kind": "local_panel_unavailable", "reason": "bind_failed",
                                               "detail": str(exc)[:200]})
                    reported = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), retry_s)
                continue
            if reported:
                self.emit(codec.UP_EVENT, {"kind": "local_panel_available", "reason": "bound"})
            return

    async def shutdown(self, tasks: list[asyncio.Task]) -> None:
        """Final snapshot, "offline" status, then close every resource."""
        self.notifier.stopping()
        self.emit(codec.UP_EVENT, {"kind": "station_stopping", "reason": "stop", "cycles": self.cycles})
        self.flush()
        self.save_state()
        if self.uplink is not None:
            # Give the uplink a moment to drain what is pending, then say offline.
            deadline = time.monotonic() + 2.0
            while len(self.outbox) and self.uplink.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await self.uplink.say_offline()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.slave is not None:
            await self.slave.stop()
        await self.io.close()
        self.outbox.close()
        self.trends.close()
        self.journal.close()
        self.notifier.close()
