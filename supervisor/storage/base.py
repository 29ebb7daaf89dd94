"""The one storage interface of the supervisor, and the SQL both backends share.

Invariants:
- An uplink message is stored at most once, keyed by (station_id, seq) with a UNIQUE
  constraint; `store_uplinks` returns only the keys that were new, so everything derived from
  a message (5-minute aggregates, equipment counters, alarm history) is derived exactly once.
- Times are unix seconds (float) as sent by the station; 5-minute buckets are integer unix
  seconds (the start of the bucket), so PostgreSQL/TimescaleDB can partition on them.
- The SQL is written once with `?` placeholders; the PostgreSQL backend rewrites them to `$n`.
- Nothing a station sends is dropped silently: a message refused by the codec, refused by the
  database, or reusing a stored (station, seq) with other content is kept in `quarantine`
  (the dead-letter table: topic, reason, payload as received, cut to QUARANTINE_PAYLOAD_CHARS)
  with its reason; `quarantine_row` makes any such text storable on both backends.
- Derived data is recoverable: every stored uplink carries the aggregation epoch of the ingest
  process that stored it (`agg_epoch`). An epoch stays open in `agg_epochs` until the 5-minute
  aggregates, equipment counters and station state derived from its rows are written, in the
  same transaction that closes it. After a crash the open epochs of that ingest process are
  re-derived from their raw rows, so a crash delays aggregates but never drops or doubles them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .allocation import AllocationStorage
from .authority_reports import AuthorityReportStorage
from .forecast import ForecastStorage
from .households import HouseholdStorage
from .maintenance import MaintenanceStorage
from .notify import NotifyStorage
from .profiles import ProfilesStorage
from .rollout import RolloutStorage
from .season import SeasonStorage

_fast_dumps: Any
try:  # [supervisor] installs it
    from orjson import dumps as _fast_dumps
except ImportError:
    _fast_dumps = None

AGG_BUCKET_S = 300

Row = tuple[Any, ...]

# One row per uplink message; `payload` is the message exactly as received (JSON text).
UplinkRow = tuple[str, int, float, str, str, float, int]  # station_id, seq, ts, kind, payload, received_ts, agg_epoch
# One 5-minute aggregate contribution: station_id, bucket_ts, field, n, sum, min, max.
AggRow = tuple[str, int, str, int, float, float, float]
# Equipment record, absolute values: station_id, device, run_s, starts, last_rotation_ts, faults,
# last_fault_ts, last_ts, rotations, exercises, last_exercise_ts.
EquipmentRow = tuple[str, str, float, int, float | None, int, float | None, float | None, int, int, float | None]
# One dead-letter row: station_id, received_ts, reason, detail, topic, seq, payload.
QuarantineRow = tuple[str, float, str, str, str, int | None, str]
QUARANTINE_PAYLOAD_CHARS = 65536
# One step of an atomic write: a statement and the parameter rows it runs with.
Step = tuple[str, Sequence[Sequence[Any]]]

AGG_UPSERT_SQL = (
    "INSERT INTO agg_5m (station_id, bucket_ts, field, n, sum, min, max) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (station_id, bucket_ts, field) DO UPDATE SET n = agg_5m.n + excluded.n, "
    "sum = agg_5m.sum + excluded.sum, min = CASE WHEN excluded.min < agg_5m.min THEN excluded.min ELSE agg_5m.min END, "
    "max = CASE WHEN excluded.max > agg_5m.max THEN excluded.max ELSE agg_5m.max END")
EQUIPMENT_UPSERT_SQL = (
    "INSERT INTO equipment (station_id, device, run_s, starts, last_rotation_ts, faults, last_fault_ts, last_ts, "
    "rotations, exercises, last_exercise_ts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (station_id, device) DO UPDATE SET run_s = excluded.run_s, "
    "starts = excluded.starts, last_rotation_ts = excluded.last_rotation_ts, faults = excluded.faults, "
    "last_fault_ts = excluded.last_fault_ts, last_ts = excluded.last_ts, rotations = excluded.rotations, "
    "exercises = excluded.exercises, last_exercise_ts = excluded.last_exercise_ts")
STATE_UPDATE_SQL = "UPDATE stations SET state = ?, last_seen_ts = ?, online = ? WHERE station_id = ?"
EPOCH_OPEN_SQL = "INSERT INTO agg_epochs (epoch, owner, opened_ts, closed_ts) VALUES (?, ?, ?, NULL)"
EPOCH_CLOSE_SQL = "UPDATE agg_epochs SET closed_ts = ? WHERE epoch = ?"
# Uplinks from a backend's staging table `uplinks_in` (the uplink columns, in this order), returning
# the keys that were new; `WHERE true` makes SQLite read ON CONFLICT as the upsert clause.
UPLINKS_FROM_STAGING_SQL = ("INSERT INTO uplinks (station_id, seq, ts, kind, payload, received_ts, agg_epoch) "
                            "SELECT * FROM uplinks_in WHERE true ON CONFLICT (station_id, seq) DO NOTHING "
                            "RETURNING station_id, seq")


def state_row(station_id: str, state: dict[str, Any]) -> tuple[str, Any, int, str]:
    """Parameters of STATE_UPDATE_SQL for one station."""
    return (_state_json(state), state.get("last_seen_ts"), 1 if state.get("online") else 0, station_id)


def _state_json(state: dict[str, Any]) -> str:
    """A station's state as JSON: with orjson when installed (about 10x faster: a state is
    mostly numbers), else, or for what orjson cannot encode (a lone surrogate, an integer
    beyond 64 bits), with the json module. Either reads back the same with json.loads."""
    if _fast_dumps is not None:
        try:
            return _fast_dumps(state).decode()
        except TypeError:
            pass
    return json.dumps(state)


class StorageError(RuntimeError):
    """The database refused or failed an operation (our side, not the station's)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached now (not running yet, restarting, the network): worth
    trying again, unlike a wrong password or database name."""


_INT64_MAX = 2 ** 63 - 1


def storable_text(text: str, max_chars: int) -> str:
    """`text` as both backends can hold it: no NUL (PostgreSQL text refuses it), no unpaired
    surrogate (not encodable as UTF-8), at most `max_chars`; the offending characters escaped."""
    clean = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return clean[:max_chars]


def alarm_number(value: Any) -> float | None:
    """An alarm's value or limit as evidence: a finite number as float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def quarantine_row(station_id: str, received_ts: float, reason: str, detail: str, topic: str,
                   payload: bytes | str, seq: Any = None) -> QuarantineRow:
    """A QuarantineRow of anything: texts made storable, `seq` kept only when it fits int64."""
    if isinstance(payload, (bytes, bytearray)):
        text = bytes(payload[:QUARANTINE_PAYLOAD_CHARS * 4]).decode("utf-8", "backslashreplace")
    else:
        text = str(payload)
    keep_seq = seq if isinstance(seq, int) and not isinstance(seq, bool) and -_INT64_MAX <= seq <= _INT64_MAX else None
    return (storable_text(station_id, 64), float(received_ts), storable_text(reason, 64), storable_text(detail, 1000),
            storable_text(topic, 300), keep_seq, storable_text(text, QUARANTINE_PAYLOAD_CHARS))


def refuses_row(exc: BaseException) -> bool:
    """True when `exc` says the database (or its driver) refused this data, which retrying cannot
    change (a value out of range, a character it cannot hold, a constraint), as opposed to a
    failure of the database itself (connection, lock, disk), which a retry may outlive."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (OverflowError, UnicodeError, TypeError)):
            return True
        if isinstance(exc, ValueError) and not isinstance(exc, StorageError):
            return True  # asyncpg's DataError ("invalid input for query argument") is one
        name = type(exc).__name__
        if name in ("IntegrityError", "DataError") and type(exc).__module__.startswith("sqlite3"):
            return True
        sqlstate = getattr(exc, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in ("22", "23"):  # data exception, integrity violation
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


def uplink_keys(rows: Iterable[Sequence[Any]]) -> list[tuple[str, int]]:
    """(station_id, seq) of uplink rows or of rows a query returned (seq as int)."""
    return [(r[0], int(r[1])) for r in rows]


def bucket_of(ts: float) -> int:
    """Start of the 5-minute bucket holding `ts`."""
    return int(ts // AGG_BUCKET_S) * AGG_BUCKET_S


def _qmarks_to_dollars(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _m: "$%d" % next(counter), sql)


class Storage(NotifyStorage, HouseholdStorage, ForecastStorage, ProfilesStorage, AuthorityReportStorage,
              RolloutStorage, MaintenanceStorage, AllocationStorage, SeasonStorage):
    """Abstract storage. Subclasses provide the four primitives and `store_uplinks`."""

    backend = "abstract"

    # --- primitives --------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and create the schema if needed."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def store_uplinks(self, rows: Sequence[UplinkRow]) -> list[tuple[str, int]]:
        """Insert messages; duplicates of (station_id, seq) are ignored. Returns the new keys."""
        raise NotImplementedError

    async def transaction(self, steps: Sequence[Step]) -> None:
        """Run every step (statement, parameter rows) in one transaction: all or nothing."""
        raise NotImplementedError

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    # --- stations ------------------------------------------------------------------------
    async def upsert_station(self, station_id: str, name: str, city: str) -> None:
        await self.execute(
            "INSERT INTO stations (station_id, name, city) VALUES (?, ?, ?) "
            "ON CONFLICT (station_id) DO UPDATE SET name = excluded.name, city = excluded.city",
            (station_id, name, city))

    async def save_station_state(self, station_id: str, state: dict[str, Any]) -> None:
        """Persist the latest known state (values, status, mode, leases, devices) of a station."""
        await self.execute(STATE_UPDATE_SQL, state_row(station_id, state))

    async def save_station_states(self, states: dict[str, dict[str, Any]]) -> None:
        """`save_station_state` for many stations in one batch."""
        if states:
            await self.executemany(STATE_UPDATE_SQL, [state_row(sid, st) for sid, st in states.items()])

    async def stations(self) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT station_id, name, city, state FROM stations ORDER BY station_id")
        return [{"station_id": r[0], "name": r[1], "city": r[2], "state": json.loads(r[3]) if r[3] else {}}
                for r in rows]

    # --- raw and aggregated series ---------------------------------------------------------
    async def count_uplinks(self, station_id: str | None = None) -> int:
        if station_id is None:
            row = await self.fetchone("SELECT COUNT(*) FROM uplinks")
        else:
            row = await self.fetchone("SELECT COUNT(*) FROM uplinks WHERE station_id = ?", (station_id,))
        return int(row[0]) if row else 0

    async def telemetry_bodies(self, station_id: str, t0_ts: float, t1_ts: float, limit: int) -> list[tuple[float, dict]]:
        """Raw telemetry bodies of one station in [t0, t1], oldest first."""
        rows = await self.fetch(
            "SELECT ts, payload FROM uplinks WHERE station_id = ? AND kind = 'telemetry' AND ts >= ? AND ts <= ? "
            "ORDER BY ts LIMIT ?", (station_id, t0_ts, t1_ts, limit))
        return [(float(r[0]), json.loads(r[1])["body"]) for r in rows]

    async def uplinks(self, station_id: str, kind: str, t0_ts: float, t1_ts: float, limit: int = 10000) -> list[tuple[float, int, dict]]:
        rows = await self.fetch(
            "SELECT ts, seq, payload FROM uplinks WHERE station_id = ? AND kind = ? AND ts >= ? AND ts <= ? "
            "ORDER BY ts LIMIT ?", (station_id, kind, t0_ts, t1_ts, limit))
        return [(float(r[0]), int(r[1]), json.loads(r[2])["body"]) for r in rows]

    async def stored_uplinks(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[float, str]]:
        """{(station_id, seq): (ts, kind)} of the stored messages among `keys` (one query per 400)."""
        out: dict[tuple[str, int], tuple[float, str]] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 400):
            part = keys[i:i + 400]
            # a join with the keys as a table: looked up by the primary key (SQLite scans the
            # whole table for "(station_id, seq) IN (...)", once per ingest batch with a resend)
            rows = await self.fetch(
                "WITH k (station_id, seq) AS (VALUES %s) SELECT u.station_id, u.seq, u.ts, u.kind FROM k "
                "JOIN uplinks u ON u.station_id = k.station_id AND u.seq = k.seq"
                % ", ".join("(CAST(? AS TEXT), CAST(? AS BIGINT))" for _ in part), [x for key in part for x in key])
            for sid, seq, ts, kind in rows:
                out[(str(sid), int(seq))] = (float(ts), str(kind))
        return out

    async def upsert_aggregates(self, rows: Sequence[AggRow]) -> None:
        if rows:
            await self.executemany(AGG_UPSERT_SQL, rows)

    async def write_derived(self, aggregates: Sequence[AggRow], equipment: Sequence[EquipmentRow],
                            states: Sequence[tuple[str, dict[str, Any]]], close_epochs: Sequence[int],
                            open_epochs: Sequence[int], owner: str, now_ts: float) -> None:
        """In one transaction, all or nothing: add 5-minute aggregate contributions, write
        equipment records (absolute values) and station states [(station_id, state)], close
        the aggregation epochs `close_epochs` and open `open_epochs` for ingest process `owner`
        (see the module docstring: what was derived is written with the closing of its epochs)."""
        await self.transaction([(AGG_UPSERT_SQL, aggregates), (EQUIPMENT_UPSERT_SQL, equipment),
                                (STATE_UPDATE_SQL, [state_row(sid, state) for sid, state in states]),
                                (EPOCH_CLOSE_SQL, [(now_ts, epoch) for epoch in close_epochs]),
                                (EPOCH_OPEN_SQL, [(epoch, owner, now_ts) for epoch in open_epochs])])

    # --- aggregation epochs (see the module docstring) ----------------------------------------
    async def open_epochs(self, owner: str) -> list[int]:
        """Epochs of this ingest process whose derived data was never written (a crash)."""
        rows = await self.fetch("SELECT epoch FROM agg_epochs WHERE owner = ? AND closed_ts IS NULL ORDER BY opened_ts",
                                (owner,))
        return [int(r[0]) for r in rows]

    async def epoch_uplinks(self, epoch: int) -> list[Row]:
        """(station_id, seq, ts, kind, payload, received_ts) stored under `epoch`, in the order received."""
        return await self.fetch("SELECT station_id, seq, ts, kind, payload, received_ts FROM uplinks WHERE agg_epoch = ? "
                                "ORDER BY received_ts, seq", (epoch,))

    async def aggregates(self, station_id: str, fields: Sequence[str], t0_ts: float, t1_ts: float) -> list[Row]:
        """(field, bucket_ts, n, sum, min, max) rows in [t0, t1], ordered by field and time."""
        if not fields:
            return []
        marks = ", ".join("?" for _ in fields)
        return await self.fetch(
            "SELECT field, bucket_ts, n, sum, min, max FROM agg_5m WHERE station_id = ? AND field IN (%s) "
            "AND bucket_ts >= ? AND bucket_ts <= ? ORDER BY field, bucket_ts" % marks,
            (station_id, *fields, int(t0_ts) - AGG_BUCKET_S + 1, int(t1_ts)))

    # --- quarantine (dead letters) -----------------------------------------------------------
    async def store_quarantine(self, rows: Sequence[QuarantineRow]) -> None:
        """Keep rejected messages (rows from `quarantine_row`)."""
        if rows:
            await self.executemany(
                "INSERT INTO quarantine (station_id, received_ts, reason, detail, topic, seq, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    async def quarantine_rows(self, station_id: str | None, limit: int, payload_chars: int = 2000) -> list[dict[str, Any]]:
        """The newest quarantined messages (of one station, or all), payloads cut to `payload_chars`."""
        sql = ("SELECT id, station_id, received_ts, reason, detail, topic, seq, substr(payload, 1, ?), length(payload) "
               "FROM quarantine")
        params: list[Any] = [payload_chars]
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        rows = await self.fetch(sql + " ORDER BY received_ts DESC, id DESC LIMIT ?", (*params, limit))
        keys = ("id", "station_id", "received_ts", "reason", "detail", "topic", "seq", "payload", "payload_chars")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def quarantine_counts(self) -> dict[str, int]:
        """{reason: rows} over the whole quarantine."""
        rows = await self.fetch("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason ORDER BY reason")
        return {str(r[0]): int(r[1]) for r in rows}

    async def quarantine_cases(self, since_ts: float) -> list[tuple[str, str, int, float]]:
        """(station_id, reason, rows, last received_ts) of the rows received since `since_ts`."""
        rows = await self.fetch("SELECT station_id, reason, COUNT(*), MAX(received_ts) FROM quarantine "
                                "WHERE received_ts >= ? GROUP BY station_id, reason ORDER BY station_id, reason",
                                (since_ts,))
        return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    # --- alarms --------------------------------------------------------------------------
    async def record_alarm(self, station_id: str, code: str, severity: str, active: bool, ts: float,
                           text: str, value: Any, seq: int | None = None, limit: Any = None) -> bool:
        """Append to the alarm log and update the current alarm state of (station, code).
        With the uplink's `seq`, a second call for the same message does nothing (a replay after
        a crash) and returns False.

        Evidence: `value` (the reading, kept as sent in the log's `value`) and `limit` are also
        kept as numbers (`value_num`, `limit_num`; NULL when not a finite number); the current
        alarm keeps the evidence of its raise, and every log row the raise time of its episode
        (`raised_ts`), so a clear row says how long the alarm stood."""
        if seq is not None and await self.fetchone(
                "SELECT 1 FROM alarm_log WHERE station_id = ? AND seq = ?", (station_id, seq)) is not None:
            return False
        value_num, limit_num = alarm_number(value), alarm_number(limit)
        row = await self.fetchone("SELECT active, since_ts FROM alarms WHERE station_id = ? AND code = ?",
                                  (station_id, code))
        standing = row is not None and bool(row[0])
        raised_ts = float(row[1]) if standing and row is not None else (ts if active else None)
        await self.execute(
            "INSERT INTO alarm_log (station_id, code, severity, active, ts, text, value, seq, value_num, limit_num, "
            "raised_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (station_id, code, severity, 1 if active else 0, ts, text, json.dumps(value), seq, value_num, limit_num,
             raised_ts))
        if active:
            await self.execute(
                "INSERT INTO alarms (station_id, code, severity, active, since_ts, last_ts, text, acked_by, acked_ts, "
                "cleared_ts, value_num, limit_num) "
                "VALUES (?, ?, ?, 1, ?, ?, ?, NULL, NULL, NULL, ?, ?) ON CONFLICT (station_id, code) DO UPDATE SET "
                "severity = excluded.severity, last_ts = excluded.last_ts, text = excluded.text, "
                "since_ts = CASE WHEN alarms.active = 1 THEN alarms.since_ts ELSE excluded.since_ts END, "
                "acked_by = CASE WHEN alarms.active = 1 THEN alarms.acked_by ELSE NULL END, "
                "acked_ts = CASE WHEN alarms.active = 1 THEN alarms.acked_ts ELSE NULL END, "
                "value_num = excluded.value_num, limit_num = excluded.limit_num, "
                "active = 1, cleared_ts = NULL",
                (station_id, code, severity, ts, ts, text, value_num, limit_num))
        else:
            await self.execute(
                "UPDATE alarms SET active = 0, cleared_ts = ?, last_ts = ? WHERE station_id = ? AND code = ? AND active = 1",
                (ts, ts, station_id, code))
        return True

    async def mark_alarm_acked(self, station_id: str, code: str, user: str, ts: float) -> bool:
        row = await self.fetchone("SELECT active FROM alarms WHERE station_id = ? AND code = ?", (station_id, code))
        if row is None:
            return False
        await self.execute("UPDATE alarms SET acked_by = ?, acked_ts = ? WHERE station_id = ? AND code = ?",
                           (user, ts, station_id, code))
        return True

    async def alarm_rows(self, station_id: str | None, active_only: bool) -> list[dict[str, Any]]:
        where, params = [], []
        if station_id is not None:
            where.append("station_id = ?")
            params.append(station_id)
        if active_only:
            where.append("active = 1")
        sql = ("SELECT station_id, code, severity, active, since_ts, last_ts, text, acked_by, acked_ts, cleared_ts, "
               "value_num, limit_num FROM alarms" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY since_ts DESC")
        rows = await self.fetch(sql, params)
        keys = ("station_id", "code", "severity", "active", "since_ts", "last_ts", "text", "acked_by", "acked_ts",
                "cleared_ts", "value", "limit")
        out = []
        for r in rows:
            item = dict(zip(keys, r, strict=True))
            item["active"] = bool(item["active"])
            out.append(item)
        return out

    async def alarm_history(self, station_id: str | None, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT station_id, code, severity, active, ts, text, value_num, limit_num, raised_ts FROM alarm_log"
        params: list[Any] = []
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        rows = await self.fetch(sql + " ORDER BY ts DESC LIMIT ?", (*params, limit))
        return [{"station_id": r[0], "code": r[1], "severity": r[2], "active": bool(r[3]), "ts": r[4], "text": r[5],
                 "value": r[6], "limit": r[7], "raised_ts": r[8]} for r in rows]

    async def collector_last_seen(self, since_ts: float) -> dict[str, float]:
        """{collector_id: newest reading ts} over readings since `since_ts` (the supervisor's
        alarms about stale and dead collectors pick up where they were after a restart)."""
        rows = await self.fetch("SELECT collector_id, MAX(ts) FROM collector_readings WHERE ts >= ? "
                                "GROUP BY collector_id", (since_ts,))
        return {str(r[0]): float(r[1]) for r in rows}

    async def fleet_alarm_settings(self) -> dict[str, Any]:
        """The thresholds of the supervisor's alarms an admin changed in the dashboard: {key: value}."""
        rows = await self.fetch("SELECT key, value FROM fleet_alarm_settings ORDER BY key")
        return {str(r[0]): json.loads(r[1]) for r in rows}

    async def save_fleet_alarm_settings(self, values: dict[str, Any], user: str, ts: float) -> None:
        """Store changed thresholds (`values`, already validated); a value of None removes the
        key (back to the configuration file's value)."""
        for key, value in sorted(values.items()):
            if value is None:
                await self.execute("DELETE FROM fleet_alarm_settings WHERE key = ?", (key,))
            else:
                await self.execute(
                    "INSERT INTO fleet_alarm_settings (key, value, changed_by, changed_ts) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, "
                    "changed_ts = excluded.changed_ts", (key, json.dumps(value), user, ts))

    # --- commands --------------------------------------------------------------------------
    async def insert_command(self, cmd: dict[str, Any]) -> None:
        await self.execute(
            "INSERT INTO commands (command_id, station_id, kind, args, user_name, issued_ts, expires_ts, state, reason, "
            "detail, done_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cmd["command_id"], cmd["station_id"], cmd["kind"], json.dumps(cmd["args"]), cmd["user"], cmd["issued_ts"],
             cmd["expires_ts"], cmd["state"], cmd.get("reason", ""), cmd.get("detail", ""), cmd.get("done_ts")))

    async def update_command(self, command_id: str, state: str, reason: str, detail: str, done_ts: float | None) -> None:
        await self.execute("UPDATE commands SET state = ?, reason = ?, detail = ?, done_ts = ? WHERE command_id = ?",
                           (state, reason, detail, done_ts, command_id))

    _CMD_COLS = ("command_id", "station_id", "kind", "args", "user", "issued_ts", "expires_ts", "state", "reason",
                 "detail", "done_ts")

    def _cmd(self, r: Row) -> dict[str, Any]:
        item = dict(zip(self._CMD_COLS, r, strict=True))
        item["args"] = json.loads(item["args"])
        return item

    async def command(self, command_id: str) -> dict[str, Any] | None:
        row = await self.fetchone(
            "SELECT command_id, station_id, kind, args, user_name, issued_ts, expires_ts, state, reason, detail, done_ts "
            "FROM commands WHERE command_id = ?", (command_id,))
        return self._cmd(row) if row else None

    async def commands(self, station_id: str | None, limit: int, state: str | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if station_id is not None:
            where.append("station_id = ?")
            params.append(station_id)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        rows = await self.fetch(
            "SELECT command_id, station_id, kind, args, user_name, issued_ts, expires_ts, state, reason, detail, done_ts "
            "FROM commands" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY issued_ts DESC LIMIT ?",
            (*params, limit))
        return [self._cmd(r) for r in rows]

    # --- audit ---------------------------------------------------------------------------
    async def audit_insert(self, ts: float, user: str, action: str, station_id: str | None, detail: str,
                           result: str) -> None:
        await self.execute("INSERT INTO audit (ts, user_name, action, station_id, detail, result) VALUES (?, ?, ?, ?, ?, ?)",
                           (ts, user, action, station_id, detail, result))

    async def audit_rows(self, limit: int, station_id: str | None) -> list[dict[str, Any]]:
        sql = "SELECT ts, user_name, action, station_id, detail, result FROM audit"
        params: list[Any] = []
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        rows = await self.fetch(sql + " ORDER BY ts DESC, id DESC LIMIT ?", (*params, limit))
        return [{"ts": r[0], "user": r[1], "action": r[2], "station_id": r[3], "detail": r[4], "result": r[5]}
                for r in rows]

    # --- users ---------------------------------------------------------------------------
    async def insert_user(self, username: str, role: str, password_hash: str, created_ts: float) -> None:
        await self.execute("INSERT INTO users (username, role, password_hash, created_ts) VALUES (?, ?, ?, ?)",
                           (username, role, password_hash, created_ts))

    async def update_user(self, username: str, role: str | None, password_hash: str | None) -> None:
        if role is not None:
            await self.execute("UPDATE users SET role = ? WHERE username = ?", (role, username))
        if password_hash is not None:
            await self.execute("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))

    async def delete_user(self, username: str) -> None:
        await self.execute("DELETE FROM users WHERE username = ?", (username,))

    async def user(self, username: str) -> dict[str, Any] | None:
        row = await self.fetchone("SELECT username, role, password_hash, created_ts FROM users WHERE username = ?",
                                  (username,))
        if row is None:
            return None
        return {"username": row[0], "role": row[1], "password_hash": row[2], "created_ts": row[3]}

    async def users(self) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT username, role, created_ts FROM users ORDER BY username")
        return [{"username": r[0], "role": r[1], "created_ts": r[2]} for r in rows]

    # --- room-temperature collectors --------------------------------------------------------
    async def store_readings(self, rows: Sequence[tuple[str, float, float, str, str, str]]) -> None:
        """(collector_id, ts, temp_c, station_id, group_name, source); a repeated (collector, ts) is ignored."""
        if rows:
            await self.executemany(
                "INSERT INTO collector_readings (collector_id, ts, temp_c, station_id, group_name, source) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (collector_id, ts) DO NOTHING", rows)

    async def readings(self, station_id: str | None, t0_ts: float, t1_ts: float) -> list[Row]:
        """(collector_id, ts, temp_c, station_id, group_name) in [t0, t1], by collector and time."""
        sql = "SELECT collector_id, ts, temp_c, station_id, group_name FROM collector_readings WHERE ts >= ? AND ts <= ?"
        params: list[Any] = [t0_ts, t1_ts]
        if station_id is not None:
            sql += " AND station_id = ?"
            params.append(station_id)
        return await self.fetch(sql + " ORDER BY collector_id, ts", params)

    # --- equipment ("one machine, one file") ------------------------------------------------
    async def save_equipment(self, rows: Sequence[EquipmentRow]) -> None:
        """(station_id, device, run_s, starts, last_rotation_ts, faults, last_fault_ts, last_ts, rotations,
        exercises, last_exercise_ts): absolute values."""
        if rows:
            await self.executemany(EQUIPMENT_UPSERT_SQL, rows)

    async def equipment(self, station_id: str | None) -> list[dict[str, Any]]:
        sql = ("SELECT station_id, device, run_s, starts, last_rotation_ts, faults, last_fault_ts, last_ts, rotations, "
               "exercises, last_exercise_ts FROM equipment")
        params: list[Any] = []
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        rows = await self.fetch(sql + " ORDER BY station_id, device", params)
        keys = ("station_id", "device", "run_s", "starts", "last_rotation_ts", "faults", "last_fault_ts", "last_ts",
                "rotations", "exercises", "last_exercise_ts")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # --- retention -----------------------------------------------------------------------
    async def apply_retention(self, now_ts: float, raw_days: float, agg_days: float, readings_days: float,
                              audit_days: float) -> None:
        """Delete what is older than each class's retention (raw messages go first, audit last)."""
        day = 86400.0
        await self.execute("DELETE FROM uplinks WHERE ts < ?", (now_ts - raw_days * day,))
        await self.execute("DELETE FROM agg_5m WHERE bucket_ts < ?", (int(now_ts - agg_days * day),))
        await self.execute("DELETE FROM collector_readings WHERE ts < ?", (now_ts - readings_days * day,))
        await self.execute("DELETE FROM alarm_log WHERE ts < ?", (now_ts - audit_days * day,))
        await self.execute("DELETE FROM audit WHERE ts < ?", (now_ts - audit_days * day,))
        await self.execute("DELETE FROM quarantine WHERE received_ts < ?", (now_ts - raw_days * day,))
        await self.execute("DELETE FROM agg_epochs WHERE closed_ts IS NOT NULL AND closed_ts < ?",
                           (now_ts - raw_days * day,))


# Schema, shared text with per-backend types substituted: {real} {int} {bigint} {text} {serial}.
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS stations (
        station_id {text} PRIMARY KEY, name {text} NOT NULL DEFAULT '', city {text} NOT NULL DEFAULT '',
        state {text}, last_seen_ts {real}, online {int} NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS uplinks (
        station_id {text} NOT NULL, seq {bigint} NOT NULL, ts {real} NOT NULL, kind {text} NOT NULL,
        payload {text} NOT NULL, received_ts {real} NOT NULL, agg_epoch {bigint}, PRIMARY KEY (station_id, seq))""",
    "CREATE INDEX IF NOT EXISTS uplinks_station_kind_ts ON uplinks (station_id, kind, ts)",
    "CREATE INDEX IF NOT EXISTS uplinks_ts ON uplinks (ts)",
    """CREATE TABLE IF NOT EXISTS agg_5m (
        station_id {text} NOT NULL, bucket_ts {bigint} NOT NULL, field {text} NOT NULL, n {bigint} NOT NULL,
        sum {real} NOT NULL, min {real} NOT NULL, max {real} NOT NULL, PRIMARY KEY (station_id, bucket_ts, field))""",
    """CREATE TABLE IF NOT EXISTS alarms (
        station_id {text} NOT NULL, code {text} NOT NULL, severity {text} NOT NULL, active {int} NOT NULL,
        since_ts {real} NOT NULL, last_ts {real} NOT NULL, text {text} NOT NULL DEFAULT '', acked_by {text},
        acked_ts {real}, cleared_ts {real}, value_num {real}, limit_num {real}, PRIMARY KEY (station_id, code))""",
    """CREATE TABLE IF NOT EXISTS alarm_log (
        id {serial}, station_id {text} NOT NULL, code {text} NOT NULL, severity {text} NOT NULL,
        active {int} NOT NULL, ts {real} NOT NULL, text {text} NOT NULL DEFAULT '', value {text}, seq {bigint},
        value_num {real}, limit_num {real}, raised_ts {real})""",
    "CREATE INDEX IF NOT EXISTS alarm_log_station_ts ON alarm_log (station_id, ts)",
    """CREATE TABLE IF NOT EXISTS fleet_alarm_settings (
        key {text} PRIMARY KEY, value {text} NOT NULL, changed_by {text} NOT NULL, changed_ts {real} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS commands (
        command_id {text} PRIMARY KEY, station_id {text} NOT NULL, kind {text} NOT NULL, args {text} NOT NULL,
        user_name {text} NOT NULL, issued_ts {real} NOT NULL, expires_ts {real} NOT NULL, state {text} NOT NULL,
        reason {text} NOT NULL DEFAULT '', detail {text} NOT NULL DEFAULT '', done_ts {real})""",
    "CREATE INDEX IF NOT EXISTS commands_station_ts ON commands (station_id, issued_ts)",
    """CREATE TABLE IF NOT EXISTS audit (
        id {serial}, ts {real} NOT NULL, user_name {text} NOT NULL, action {text} NOT NULL, station_id {text},
        detail {text} NOT NULL DEFAULT '', result {text} NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts)",
    """CREATE TABLE IF NOT EXISTS users (
        username {text} PRIMARY KEY, role {text} NOT NULL, password_hash {text} NOT NULL, created_ts {real} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS collector_readings (
        collector_id {text} NOT NULL, ts {real} NOT NULL, temp_c {real} NOT NULL, station_id {text} NOT NULL,
        group_name {text} NOT NULL, source {text} NOT NULL, PRIMARY KEY (collector_id, ts))""",
    "CREATE INDEX IF NOT EXISTS collector_readings_station_ts ON collector_readings (station_id, ts)",
    """CREATE TABLE IF NOT EXISTS equipment (
        station_id {text} NOT NULL, device {text} NOT NULL, run_s {real} NOT NULL, starts {bigint} NOT NULL,
        last_rotation_ts {real}, faults {bigint} NOT NULL, last_fault_ts {real}, last_ts {real},
        rotations {bigint} NOT NULL DEFAULT 0, exercises {bigint} NOT NULL DEFAULT 0, last_exercise_ts {real},
        PRIMARY KEY (station_id, device))""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        id {serial}, station_id {text} NOT NULL, received_ts {real} NOT NULL, reason {text} NOT NULL,
        detail {text} NOT NULL DEFAULT '', topic {text} NOT NULL, seq {bigint}, payload {text} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS quarantine_received ON quarantine (received_ts)",
    "CREATE INDEX IF NOT EXISTS quarantine_station ON quarantine (station_id, received_ts)",
    """CREATE TABLE IF NOT EXISTS agg_epochs (
        epoch {bigint} PRIMARY KEY, owner {text} NOT NULL, opened_ts {real} NOT NULL, closed_ts {real})""",
]
# Evidence columns of the alarm tables, added to databases made before they existed:
# (table, column, type placeholder).
ALARM_EVIDENCE_COLUMNS = (("alarms", "value_num", "real"), ("alarms", "limit_num", "real"),
                          ("alarm_log", "value_num", "real"), ("alarm_log", "limit_num", "real"),
                          ("alarm_log", "raised_ts", "real"))
# Columns of the equipment records added to databases made before they existed:
# (column, type placeholder, DDL after the type).
EQUIPMENT_COLUMNS = (("rotations", "bigint", "NOT NULL DEFAULT 0"), ("exercises", "bigint", "NOT NULL DEFAULT 0"),
                     ("last_exercise_ts", "real", ""))
# After SCHEMA and each backend's column migrations (a database made before agg_epoch existed).
SCHEMA_LATE = [
    "CREATE UNIQUE INDEX IF NOT EXISTS alarm_log_station_seq ON alarm_log (station_id, seq)",
    "CREATE INDEX IF NOT EXISTS uplinks_agg_epoch ON uplinks (agg_epoch)",
    "CREATE INDEX IF NOT EXISTS agg_epochs_owner ON agg_epochs (owner, closed_ts)",
]
