"""The quarantine (dead letters) of the ingest.

An uplink that is refused (by the codec, by the database, or as a sequence regression) is never
dropped silently and never blocks the queue: it is queued here as a `QuarantineRow` and written
by the ingest's next flush; the broker's acknowledgement of that delivery waits until the row is
written. The alarms about it belong to the supervisor's alarm model (fleet_alarms.py): a station
with rows kept in the last `quarantine_clear_s` has `uplink_quarantined` (or `sequence_regression`
for a seq reused with other content, `alarm_code`), raised with the priority of the alarm
settings and cleared once quiet, so an acknowledged one never hides the next case. The engine
reads the rows the database holds: those every ingest process wrote, also before a restart.

Bounds: a station's refused uplinks are kept up to QUARANTINE_PER_STATION_PER_MIN a minute
(beyond: counted, acknowledged, not kept; a flood of garbage must not fill the disk), and at
most QUARANTINE_MAX_PENDING rows wait in memory while the database is away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .storage.base import QuarantineRow, Storage, quarantine_row

Acker = Callable[[], None]
Rejecter = Callable[[str, str], None]

ALARM_QUARANTINED = "uplink_quarantined"
ALARM_SEQ_REGRESSION = "sequence_regression"  # also the reason of the rows it is about
ALARM_CODES = (ALARM_QUARANTINED, ALARM_SEQ_REGRESSION)
QUARANTINE_MAX_PENDING = 20000  # rows held in memory while the database is away
QUARANTINE_PER_STATION_PER_MIN = 120  # refused uplinks kept per station and minute


def alarm_code(reason: str) -> str:
    """The supervisor alarm a quarantined row of `reason` counts toward."""
    return ALARM_SEQ_REGRESSION if reason == ALARM_SEQ_REGRESSION else ALARM_QUARANTINED


class Quarantine:
    """Dead letters waiting to be written."""

    def __init__(self, storage: Storage, wall_clock: Callable[[], float], reject: Rejecter) -> None:
        self.storage = storage
        self.clock = wall_clock
        self.reject = reject  # counts (and logs) under a reason
        self.written = 0
        self.overflow = 0
        self.kept: dict[str, int] = {}  # rows queued for the table, by reason (metrics.py)
        self._rows: list[tuple[QuarantineRow, Acker | None]] = []
        self.on_written: list[Callable[[], None]] = []  # told after rows were written (the alarm engine's wake-up)
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
             ack: Acker | None = None) -> bool:
        """Queue one dead letter (its `ack` called once written). False (and `ack` called at once)
        when the queue is full."""
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
        return True

    def hold_ack(self, ack: Acker) -> None:
        """Acknowledge the row queued last only once it is written."""
        self._rows[-1] = (self._rows[-1][0], ack)

    async def write(self) -> None:
        """Write the queued rows and acknowledge them. On a database failure everything not
        written stays queued."""
        if not self._rows:
            return
        items = list(self._rows)
        await self.storage.store_quarantine([row for row, _ack in items])
        del self._rows[:len(items)]
        self.written += len(items)
        for _row, ack in items:
            if ack is not None:
                ack()
        for listener in list(self.on_written):
            listener()
