"""Storage of the alarm notifications (mixed into both backends): incidents, the messages sent
for them, every delivery attempt, and the notifier's cursor over the alarm log.

- `notify_incidents`: one row per episode of one alarm (station, code) from its raise to its
  close: severity, when it started, its value and limit (when known), how often it came and
  went (flaps), the escalation level reached, who acknowledged it and when.
- `notify_messages`: one row per message to one person over one channel (or a digest): its
  text, delivery state (pending, sent, failed, suppressed), attempts, next attempt, error.
- `notify_attempts`: one row per delivery attempt, with its outcome and duration.
- `notify_cursor`: the last alarm-log id the notifier has dispatched (name -> value).
Ids of incidents and messages are random text (made by the notifier), the same on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

NOTIFY_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS notify_incidents (
        incident_id {text} PRIMARY KEY, station_id {text} NOT NULL, code {text} NOT NULL, severity {text} NOT NULL,
        since_ts {real} NOT NULL, text {text} NOT NULL DEFAULT '', value {text}, lim {text}, flaps {bigint} NOT NULL,
        repeats {bigint} NOT NULL, state {text} NOT NULL, level {bigint} NOT NULL, next_escalation_ts {real},
        first_sent_ts {real}, cleared_ts {real}, acked_by {text}, acked_ts {real}, closed_ts {real})""",
    "CREATE INDEX IF NOT EXISTS notify_incidents_state ON notify_incidents (state, since_ts)",
    """CREATE TABLE IF NOT EXISTS notify_messages (
        message_id {text} PRIMARY KEY, incident_id {text}, created_ts {real} NOT NULL, kind {text} NOT NULL,
        person {text} NOT NULL, channel {text} NOT NULL, level {bigint} NOT NULL, lang {text} NOT NULL,
        station_id {text}, code {text}, severity {text} NOT NULL, subject {text} NOT NULL, body {text} NOT NULL,
        state {text} NOT NULL, attempts {bigint} NOT NULL, next_attempt_ts {real}, sent_ts {real},
        last_error {text} NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS notify_messages_created ON notify_messages (created_ts)",
    "CREATE INDEX IF NOT EXISTS notify_messages_state ON notify_messages (state, next_attempt_ts)",
    """CREATE TABLE IF NOT EXISTS notify_attempts (
        id {serial}, message_id {text} NOT NULL, ts {real} NOT NULL, ok {int} NOT NULL, detail {text} NOT NULL,
        duration_s {real} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS notify_attempts_message ON notify_attempts (message_id, ts)",
    """CREATE TABLE IF NOT EXISTS notify_cursor (name {text} PRIMARY KEY, value {bigint} NOT NULL)""",
]

def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


INCIDENT_COLS = ("incident_id", "station_id", "code", "severity", "since_ts", "text", "value", "lim", "flaps",
                 "repeats", "state", "level", "next_escalation_ts", "first_sent_ts", "cleared_ts", "acked_by",
                 "acked_ts", "closed_ts")
MESSAGE_COLS = ("message_id", "incident_id", "created_ts", "kind", "person", "channel", "level", "lang", "station_id",
                "code", "severity", "subject", "body", "state", "attempts", "next_attempt_ts", "sent_ts", "last_error")


class NotifyStorage:
    """The notifier's queries; needs the backend's `execute` and `fetch` (see base.Storage)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # --- the alarm log, read as events -------------------------------------------------------
    async def alarm_events_after(self, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Alarm-log rows with id > `after_id`, oldest first: raises and clears of every source,
        {id, station_id, code, severity, active, ts, text, value, limit}; `value` is the number the
        alarm was raised on (`value_num`) where there is one, else the stored JSON decoded; `limit`
        its threshold (`limit_num`; None when the alarm has none)."""
        rows = await self.fetch("SELECT id, station_id, code, severity, active, ts, text, value, value_num, limit_num "
                                "FROM alarm_log WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        out = []
        for r in rows:
            value = r[8] if r[8] is not None else _json(r[7])
            lim = r[9]
            if lim is None and isinstance(value, dict):
                lim = value.get("limit")
            out.append({"id": int(r[0]), "station_id": r[1], "code": r[2], "severity": r[3], "active": bool(r[4]),
                        "ts": float(r[5]), "text": r[6], "value": value, "limit": lim})
        return out

    async def last_alarm_log_id(self) -> int:
        rows = await self.fetch("SELECT MAX(id) FROM alarm_log")
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def alarm_acks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, float]]:
        """{(station_id, code): (acked_by, acked_ts)} of the acknowledged alarms among `keys`."""
        out: dict[tuple[str, str], tuple[str, float]] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 200):
            part = keys[i:i + 200]
            rows = await self.fetch("SELECT station_id, code, acked_by, acked_ts FROM alarms WHERE acked_ts IS NOT NULL "
                                    "AND (station_id, code) IN (%s)" % ", ".join("(?, ?)" for _ in part),
                                    [x for key in part for x in key])
            for sid, code, by, ts in rows:
                out[(str(sid), str(code))] = (str(by or ""), float(ts))
        return out

    async def last_alarm_value(self, station_id: str, code: str) -> Any:
        """The value recorded with the last raise of (station, code), or None."""
        rows = await self.fetch("SELECT value FROM alarm_log WHERE station_id = ? AND code = ? AND active = 1 "
                                "ORDER BY id DESC LIMIT 1", (station_id, code))
        try:
            return json.loads(rows[0][0]) if rows and rows[0][0] is not None else None
        except ValueError:
            return None

    async def apply_notify_retention(self, before_ts: float) -> None:
        """Forget messages, their attempts and closed incidents from before `before_ts`."""
        await self.execute("DELETE FROM notify_attempts WHERE ts < ?", (before_ts,))
        await self.execute("DELETE FROM notify_messages WHERE created_ts < ? AND state <> 'pending'", (before_ts,))
        await self.execute("DELETE FROM notify_incidents WHERE state = 'closed' AND closed_ts < ?", (before_ts,))

    # --- cursor ------------------------------------------------------------------------------
    async def notify_cursor(self, name: str) -> int | None:
        rows = await self.fetch("SELECT value FROM notify_cursor WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else None

    async def set_notify_cursor(self, name: str, value: int) -> None:
        await self.execute("INSERT INTO notify_cursor (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
                           "value = excluded.value", (name, value))

    # --- incidents ---------------------------------------------------------------------------
    async def save_incident(self, inc: dict[str, Any]) -> None:
        row = [inc[k] for k in INCIDENT_COLS]
        row[6], row[7] = json.dumps(inc["value"]), json.dumps(inc["lim"])
        marks = ", ".join("?" for _ in INCIDENT_COLS)
        updates = ", ".join("%s = excluded.%s" % (k, k) for k in INCIDENT_COLS[1:])
        await self.execute("INSERT INTO notify_incidents (%s) VALUES (%s) ON CONFLICT (incident_id) DO UPDATE SET %s"
                           % (", ".join(INCIDENT_COLS), marks, updates), row)

    def _incident(self, r: Sequence[Any]) -> dict[str, Any]:
        item = dict(zip(INCIDENT_COLS, r, strict=True))
        for key in ("value", "lim"):
            try:
                item[key] = json.loads(item[key]) if item[key] is not None else None
            except ValueError:
                pass
        return item

    async def open_incidents(self) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM notify_incidents WHERE state <> 'closed' ORDER BY since_ts"
                                % ", ".join(INCIDENT_COLS))
        return [self._incident(r) for r in rows]

    async def incidents(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM notify_incidents ORDER BY since_ts DESC LIMIT ?"
                                % ", ".join(INCIDENT_COLS), (limit,))
        return [self._incident(r) for r in rows]

    # --- messages and attempts ---------------------------------------------------------------
    async def save_message(self, msg: dict[str, Any]) -> None:
        marks = ", ".join("?" for _ in MESSAGE_COLS)
        updates = ", ".join("%s = excluded.%s" % (k, k) for k in MESSAGE_COLS[1:])
        await self.execute("INSERT INTO notify_messages (%s) VALUES (%s) ON CONFLICT (message_id) DO UPDATE SET %s"
                           % (", ".join(MESSAGE_COLS), marks, updates), [msg[k] for k in MESSAGE_COLS])

    async def messages(self, limit: int, incident_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if incident_id is not None:
            where.append("incident_id = ?")
            params.append(incident_id)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        rows = await self.fetch("SELECT %s FROM notify_messages%s ORDER BY created_ts DESC, message_id LIMIT ?" % (
            ", ".join(MESSAGE_COLS), " WHERE " + " AND ".join(where) if where else ""), (*params, limit))
        return [dict(zip(MESSAGE_COLS, r, strict=True)) for r in rows]

    async def record_attempt(self, message_id: str, ts: float, ok: bool, detail: str, duration_s: float) -> None:
        await self.execute("INSERT INTO notify_attempts (message_id, ts, ok, detail, duration_s) VALUES (?, ?, ?, ?, ?)",
                           (message_id, ts, 1 if ok else 0, detail[:1000], duration_s))

    async def attempts(self, message_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        ids = list(dict.fromkeys(message_ids))
        for i in range(0, len(ids), 400):
            part = ids[i:i + 400]
            rows = await self.fetch("SELECT message_id, ts, ok, detail, duration_s FROM notify_attempts WHERE message_id "
                                    "IN (%s) ORDER BY ts, id" % ", ".join("?" for _ in part), part)
            for mid, ts, ok, detail, dur in rows:
                out.setdefault(str(mid), []).append({"ts": float(ts), "ok": bool(ok), "detail": detail,
                                                     "duration_s": float(dur)})
        return out
