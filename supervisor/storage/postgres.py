"""PostgreSQL storage (asyncpg) for a city's fleet; TimescaleDB where the extension exists.

The schema and queries are the shared ones of `base`, with `?` rewritten to `$n`. Uplinks
are copied per batch into a staging table of the connection's own and inserted from it in
the same transaction (`INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING`), which is the
cheap path for thousands of rows per second.

TimescaleDB: when `CREATE EXTENSION timescaledb` succeeds, the 5-minute aggregates and the
collector readings become hypertables (their keys contain the time column). The raw uplink
table stays a plain table because its uniqueness key is (station_id, seq), which a
hypertable would have to extend with the time column and so lose the exactly-once guarantee.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from .allocation import ALLOCATION_SCHEMA
from .authority_reports import AUTHORITY_REPORTS_SCHEMA
from .base import (
    ALARM_EVIDENCE_COLUMNS,
    EQUIPMENT_COLUMNS,
    SCHEMA,
    SCHEMA_LATE,
    UPLINKS_FROM_STAGING_SQL,
    Row,
    Step,
    Storage,
    StorageError,
    StorageUnavailable,
    UplinkRow,
    _qmarks_to_dollars,
    uplink_keys,
)
from .forecast import FORECAST_SCHEMA
from .households import HOUSEHOLD_SCHEMA
from .maintenance import MAINTENANCE_SCHEMA
from .notify import NOTIFY_SCHEMA
from .profiles import PROFILES_SCHEMA
from .rollout import ROLLOUT_SCHEMA
from .season import SEASON_SCHEMA

log = logging.getLogger(__name__)

_TYPES = {"real": "DOUBLE PRECISION", "int": "INTEGER", "bigint": "BIGINT", "text": "TEXT",
          "serial": "BIGSERIAL PRIMARY KEY"}
SCHEMA_LOCK = 0x68656174_6B656570  # pg_advisory_xact_lock key ("heatkeep"): one schema creation at a time


def redact_dsn(dsn: str) -> str:
    """The DSN with any password hidden, for messages and logs: the userinfo's password
    (postgresql://user:secret@host) and a `password=` key (URL query or key=value form)."""
    out = re.sub(r"(://[^:/?#@]*):[^@/?#]*@", r"\1:***@", dsn)
    return re.sub(r"(?i)(\bpassword\s*=\s*)('[^']*'|[^&\s]*)", r"\1***", out)


def redact_text(text: str, dsn: str) -> str:
    """`text` with the DSN, and its password wherever it appears alone, hidden."""
    text = text.replace(dsn, redact_dsn(dsn))
    for secret in re.findall(r"://[^:/?#@]*:([^@/?#]+)@", dsn) + re.findall(r"(?i)\bpassword\s*=\s*'?([^&\s']+)", dsn):
        text = text.replace(secret, "***")
    return text


# Uplinks are copied (binary COPY) into a staging table of the connection's own, then inserted
# from it in the same transaction (ON CONFLICT DO NOTHING RETURNING the new keys). COPY encodes
# each value with its column's codec; an array parameter per column (unnest) has the driver
# test every element against the collections ABCs first: measured on 25,000-row batches, 1.5
# against 4.7 µs of the supervisor's CPU a row, the server's CPU the same.
UPLINKS_IN_SQL = ("CREATE TEMP TABLE IF NOT EXISTS uplinks_in (station_id TEXT, seq BIGINT, ts DOUBLE PRECISION, "
                  "kind TEXT, payload TEXT, received_ts DOUBLE PRECISION, agg_epoch BIGINT) ON COMMIT DELETE ROWS")
# Without the right to make temporary tables (a role locked down by its DBA): an array per column.
_UPLINKS_FROM_ARRAYS = ("INSERT INTO uplinks (station_id, seq, ts, kind, payload, received_ts, agg_epoch) "
                        "SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::text[], $5::text[], "
                        "$6::float8[], $7::bigint[]) ON CONFLICT (station_id, seq) DO NOTHING RETURNING station_id, seq")


async def _copy_uplinks(conn: asyncpg.Connection, rows: Sequence[UplinkRow]) -> list[Any]:
    """Store `rows` through the connection's staging table, in one transaction; the new keys."""
    async with conn.transaction():
        await conn.copy_records_to_table("uplinks_in", records=rows)
        return await conn.fetch(UPLINKS_FROM_STAGING_SQL)


async def _array_uplinks(conn: asyncpg.Connection, rows: Sequence[UplinkRow]) -> list[Any]:
    """Store `rows` as one array parameter per column; the new keys."""
    return await conn.fetch(_UPLINKS_FROM_ARRAYS, *[list(col) for col in zip(*rows, strict=True)])


async def _make_staging(conn: asyncpg.Connection) -> bool:
    """Make the connection's staging table; False (logged) when the role may not make one."""
    try:
        await conn.execute(UPLINKS_IN_SQL)
    except asyncpg.InsufficientPrivilegeError as exc:
        log.warning("PostgreSQL: no staging table for the uplinks (%s): they go in as arrays, about 3 µs more of "
                    "the supervisor's CPU a message; GRANT TEMPORARY ON DATABASE to its role to use COPY", exc)
        return False
    return True


class PostgresStorage(Storage):
    """Storage in PostgreSQL at `dsn` (e.g. postgresql://heatkeeper@/heatkeeper?host=/run/postgresql).

    Keep the password out of the DSN (and so out of the config file): asyncpg reads it from
    $PGPASSWORD or a libpq password file ($PGPASSFILE, default ~/.pgpass, mode 0600). Messages
    never show a password the DSN does carry (`redact_dsn`)."""

    backend = "postgres"

    def __init__(self, dsn: str, pool_size: int = 4, use_timescale: bool = True) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self.use_timescale = use_timescale
        self.timescale = False
        self._pool: asyncpg.Pool | None = None
        self._sql_cache: dict[str, str] = {}
        self._staging = True  # uplinks by COPY through a staging table (False: the role may not make one)

    def __repr__(self) -> str:
        return "PostgresStorage(%r)" % redact_dsn(self.dsn)

    def _sql(self, sql: str) -> str:
        out = self._sql_cache.get(sql)
        if out is None:
            out = self._sql_cache[sql] = _qmarks_to_dollars(sql)
        return out

    def _need_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("PostgreSQL storage is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size)
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # `from None`: the driver's exception (and its traceback's locals) may carry the DSN.
            # Not reachable (refused, no route, timed out) or starting up: worth waiting for;
            # a wrong password, role or database name is not.
            unavailable = isinstance(exc, (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError))
            raise (StorageUnavailable if unavailable else StorageError)("cannot connect to PostgreSQL (%s): %s" % (
                redact_dsn(self.dsn), redact_text(str(exc) or type(exc).__name__, self.dsn))) from None
        try:
            await self._create_schema()
        except BaseException:
            await self.close()  # a storage that did not open keeps no connections
            raise

    async def _create_schema(self) -> None:
        """What is missing of the schema, created; TimescaleDB's hypertables when it is there."""
        async with self._need_pool().acquire() as conn, conn.transaction():
            # The supervisor and its ingest processes may open a new (or newly upgraded) database at
            # once: concurrent CREATE ... IF NOT EXISTS makes PostgreSQL answer "type ... already
            # exists" to all but one. One opener at a time creates what is missing (DDL is
            # transactional: the next one finds it all there).
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
            for stmt in SCHEMA:
                await conn.execute(stmt.format(**_TYPES))
            await conn.execute("ALTER TABLE uplinks ADD COLUMN IF NOT EXISTS agg_epoch BIGINT")
            await conn.execute("ALTER TABLE alarm_log ADD COLUMN IF NOT EXISTS seq BIGINT")
            for table, column, kind in ALARM_EVIDENCE_COLUMNS:  # from before alarm evidence
                await conn.execute("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s" % (table, column, _TYPES[kind]))
            for column, kind, rest in EQUIPMENT_COLUMNS:  # from before rotations and exercises were counted
                await conn.execute("ALTER TABLE equipment ADD COLUMN IF NOT EXISTS %s %s %s" % (column, _TYPES[kind], rest))
            for stmt in SCHEMA_LATE:
                await conn.execute(stmt)
            for stmt in (*NOTIFY_SCHEMA, *FORECAST_SCHEMA, *PROFILES_SCHEMA, *HOUSEHOLD_SCHEMA, *ROLLOUT_SCHEMA):
                await conn.execute(stmt.format(**_TYPES))
            for stmt in AUTHORITY_REPORTS_SCHEMA:
                await conn.execute(stmt.format(**_TYPES))
            for stmt in MAINTENANCE_SCHEMA:
                await conn.execute(stmt.format(**_TYPES))
            for stmt in ALLOCATION_SCHEMA:
                await conn.execute(stmt.format(**_TYPES))
            for stmt in SEASON_SCHEMA:
                await conn.execute(stmt.format(**_TYPES))
        if self.use_timescale:
            async with self._need_pool().acquire() as conn:
                await self._try_timescale(conn)

    async def _try_timescale(self, conn: asyncpg.Connection) -> None:
        available = await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
        if not available:
            log.info("TimescaleDB is not installed: using plain PostgreSQL tables")
            return
        try:
            async with conn.transaction():  # under the schema's lock too: one opener at a time
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                await conn.execute("SELECT create_hypertable('agg_5m', 'bucket_ts', chunk_time_interval => 604800, "
                                   "if_not_exists => TRUE, migrate_data => TRUE)")
                await conn.execute("SELECT create_hypertable('collector_readings', 'ts', chunk_time_interval => 604800, "
                                   "if_not_exists => TRUE, migrate_data => TRUE)")
            self.timescale = True
        except asyncpg.PostgresError as exc:
            log.warning("TimescaleDB present but not usable (%s): using plain tables", exc)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            await self._need_pool().execute(self._sql(sql), *params)
        except asyncpg.PostgresError as exc:
            raise StorageError("PostgreSQL: %s" % exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        data = [tuple(r) for r in rows]
        if not data:
            return
        try:
            await self._need_pool().executemany(self._sql(sql), data)
        except asyncpg.PostgresError as exc:
            raise StorageError("PostgreSQL: %s" % exc) from exc

    async def transaction(self, steps: Sequence[Step]) -> None:
        try:
            async with self._need_pool().acquire() as conn, conn.transaction():
                for sql, rows in steps:
                    data = [tuple(r) for r in rows]
                    if data:
                        await conn.executemany(self._sql(sql), data)
        except asyncpg.PostgresError as exc:
            raise StorageError("PostgreSQL: %s" % exc) from exc

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            records = await self._need_pool().fetch(self._sql(sql), *params)
        except asyncpg.PostgresError as exc:
            raise StorageError("PostgreSQL: %s" % exc) from exc
        return [tuple(r) for r in records]

    async def store_uplinks(self, rows: Sequence[UplinkRow]) -> list[tuple[str, int]]:
        if not rows:
            return []
        try:
            async with self._need_pool().acquire() as conn:
                if self._staging:
                    try:
                        return uplink_keys(await _copy_uplinks(conn, rows))
                    except asyncpg.UndefinedTableError:  # the connection's first batch: its staging table, once
                        self._staging = await _make_staging(conn)
                    if self._staging:
                        return uplink_keys(await _copy_uplinks(conn, rows))
                return uplink_keys(await _array_uplinks(conn, rows))
        except asyncpg.PostgresError as exc:
            raise StorageError("PostgreSQL: %s" % exc) from exc
