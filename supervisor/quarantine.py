"""The quarantine (dead letters) of the ingest, and the supervisor's alarms about it.

An uplink that is refused (by the codec, by the database, or as a sequence regression) is never
dropped silently and never blocks the queue: it is queued here as a `QuarantineRow` and written
by the ingest's next flush; the broker's acknowledgement of that delivery waits until the row is
written. Each station that had something kept gets a supervisor alarm in the same alarm list as
its own (`uplink_quarantined`, or `sequence_regression` for a seq reused with other content),
re-recorded at most every ALARM_REPEAT_S and cleared after ALARM_CLEAR_S without a new case,
so an acknowledged one never hides the next case.

Bounds: a station's refused uplinks are kept up to QUARANTINE_PER_STATION_PER_MIN a minute
(beyond: counted, acknowledged, not kept; a flood of garbage must not fill the disk), and at
most QUARANTINE_MAX_PENDING rows wait in memory while the database is away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .storage.base import QuarantineRow, Storage, quarantine_row, storable_text

Acker = Callable[[], None]
Rejecter = Callable[[str, str], None]

ALARM_QUARANTINED = "uplink_quarantined"
ALARM_SEQ_REGRESSION = "sequence_regression"
# Raised and kept by the supervisor alone (code -> severity): acknowledged there, never sent to
# the station, which does not know these codes and would refuse the acknowledgement.
SUPERVISOR_ALARMS = {ALARM_QUARANTINED: "warning", ALARM_SEQ_REGRESSION: "alarm"}
ALARM_REPEAT_S = 300.0  # a supervisor alarm is re-recorded (alarm log) at most this often per station
ALARM_CLEAR_S = 900.0  # and cleared after this long without a new case (so the next one alarms afresh)
QUARANTINE_MAX_PENDING = 20000  # rows held in memory while the database is away
QUARANTINE_PER_STATION_PER_MIN = 120  # refused uplinks kept per station and minute


class Quarantine:
    """Dead letters waiting to be written, and the supervisor alarms they raise."""

    def __init__(self, storage: Storage, wall_clock: Callable[[], float], reject: Rejecter) -> None:
        self.storage = storage
        self.clock = wall_clock
        self.reject = reject  # counts (and logs) under a reason
        self.written = 0
        self.overflow = 0
        self.kept: dict[str, int] = {}  # rows queued for the table, by reason (metrics.py)
        self._rows: list[tuple[QuarantineRow, Acker | None]] = []
        self._alarms: dict[tuple[str, str], tuple[float, str, int]] = {}  # (sid, code) -> (ts, text, count) to record
        self._recorded: dict[tuple[str, str], float] = {}  # active alarms: when last recorded (wall s)
        self._seen: dict[tuple[str, str], float] = {}  # when the last case was kept (wall s)
        self._rate: dict[str, tuple[float, int]] = {}  # station -> (minute start, monotonic s; kept)

    def __len__(self) -> int:
        return len(self._rows)

    def may_keep(self, station_id: str) -> bool:
        """Whether one more refused uplink of this station is kept this minute (else counted)."""
        now = time.monotonic()
        start, kept = self._rate.get(station_id, (now, 0))
        if now - start >= 60.0:
            start, kept = now, 0
        if kept >= QUARANTINE_PER_STATION_PER_MIN:
            self.reject("quarantine_rate_limited", "%s sent more than %d refused uplinks this minute: counted, "
                        "not kept" % (station_id, QUARANTINE_PER_STATION_PER_MIN))
            return False
        self._rate[station_id] = (start, kept + 1)
        return True

    def keep(self, station_id: str, reason: str, text: str, topic: str, payload: bytes | str, seq: Any,
             ack: Acker | None = None, alarm: str = ALARM_QUARANTINED) -> bool:
        """Queue one dead letter (its `ack` called once written) and the station's alarm. False
        (and `ack` called at once) when the queue is full."""
        now = self.clock()
        if len(self._rows) >= QUARANTINE_MAX_PENDING:
            self.overflow += 1
            self.reject("quarantine_overflow", "quarantine queue full (%d rows); dropped %s from %s"
                        % (QUARANTINE_MAX_PENDING, reason, station_id))
            if ack is not None:
                ack()
            return False
        self._rows.append((quarantine_row(station_id, now, reason, text, topic, payload, seq), ack))
        self.kept[reason] = self.kept.get(reason, 0) + 1
        key = (station_id, alarm)
        self._seen[key] = now
        _ts, _text, count = self._alarms.get(key, (now, "", 0))
        self._alarms[key] = (now, "%s: %s" % (reason, text[:200]), count + 1)
        return True

    def hold_ack(self, ack: Acker) -> None:
        """Acknowledge the row queued last only once it is written."""
        self._rows[-1] = (self._rows[-1][0], ack)

    def restore(self, active_alarms: list[dict[str, Any]], station_ids: set[str]) -> None:
        """Supervisor alarms still active from before a restart: cleared once quiet."""
        now = self.clock()
        for row in active_alarms:
            if row["code"] in SUPERVISOR_ALARMS and row["station_id"] in station_ids:
                key = (row["station_id"], row["code"])
                self._recorded[key] = self._seen[key] = now

    async def write(self) -> None:
        """Write the queued rows and acknowledge them; record, repeat or clear the alarms. On a
        database failure everything not written stays queued."""
        if self._rows:
            items = list(self._rows)
            await self.storage.store_quarantine([row for row, _ack in items])
            del self._rows[:len(items)]
            self.written += len(items)
            for _row, ack in items:
                if ack is not None:
                    ack()
        now = self.clock()
        for key in list(self._alarms):
            ts, text, count = self._alarms[key]
            last = self._recorded.get(key)
            if last is not None and now - last < ALARM_REPEAT_S:
                continue  # recorded a moment ago: counted, recorded again later
            sid, code = key
            await self.storage.record_alarm(sid, code, SUPERVISOR_ALARMS[code], True, ts,
                                            storable_text("%d uplink(s) quarantined, the last %s" % (count, text), 400),
                                            {"count": count})
            self._recorded[key] = now
            del self._alarms[key]
        for key in list(self._recorded):
            if key not in self._alarms and now - self._seen.get(key, now) >= ALARM_CLEAR_S:
                sid, code = key
                await self.storage.record_alarm(sid, code, SUPERVISOR_ALARMS[code], False, now,
                                                "no new case for %.0f min" % (ALARM_CLEAR_S / 60), None)
                del self._recorded[key]
