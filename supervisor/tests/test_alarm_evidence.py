"""Alarm evidence in storage, both backends: every alarm row carries its value against its limit
(numbers or NULL) and the time it was raised; databases made before the evidence columns get
them when opened; a station's alarm message fills them through the ingest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage

T0 = 1_790_000_000.0


async def test_value_limit_and_raise_time_are_kept(storage: Any) -> None:
    await storage.record_alarm("st-a", "comfort_below_floor", "major", True, T0, "block-3 17.2 degC", 17.2,
                               limit=18.0)
    await storage.record_alarm("st-a", "comfort_below_floor", "major", True, T0 + 600, "block-3 16.9 degC", 16.9,
                               limit=18.0)  # re-recorded while standing: since stays, evidence is the latest
    await storage.record_alarm("st-a", "uplink_quarantined", "warning", True, T0, "3 kept", {"count": 3})
    rows = {r["code"]: r for r in await storage.alarm_rows("st-a", True)}
    below = rows["comfort_below_floor"]
    assert (below["value"], below["limit"], below["since_ts"]) == (16.9, 18.0, T0)
    assert (rows["uplink_quarantined"]["value"], rows["uplink_quarantined"]["limit"]) == (None, None)

    await storage.record_alarm("st-a", "comfort_below_floor", "major", False, T0 + 3600, "back above", 18.6,
                               limit=18.0)
    cleared = {r["code"]: r for r in await storage.alarm_rows("st-a", False)}["comfort_below_floor"]
    assert not cleared["active"] and cleared["cleared_ts"] == T0 + 3600
    assert (cleared["value"], cleared["limit"]) == (16.9, 18.0)  # the evidence of the raise stays
    log = [r for r in await storage.alarm_history("st-a", 10) if r["code"] == "comfort_below_floor"]
    assert [(r["active"], r["value"], r["limit"], r["raised_ts"]) for r in log] == [
        (False, 18.6, 18.0, T0), (True, 16.9, 18.0, T0), (True, 17.2, 18.0, T0)]

    # a new episode starts afresh
    await storage.record_alarm("st-a", "comfort_below_floor", "major", True, T0 + 7200, "again", 17.5, limit=18.0)
    again = {r["code"]: r for r in await storage.alarm_rows("st-a", True)}["comfort_below_floor"]
    assert (again["since_ts"], again["value"]) == (T0 + 7200, 17.5)
    assert (await storage.alarm_history("st-a", 1))[0]["raised_ts"] == T0 + 7200


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "17", None, [1.0], 10 ** 400])
async def test_evidence_that_is_no_number_is_null(storage: Any, value: Any) -> None:
    await storage.record_alarm("st-a", "x", "minor", True, T0, "", None if value == 10 ** 400 else value,
                               limit=value)
    row = (await storage.alarm_rows("st-a", True))[0]
    assert (row["value"], row["limit"]) == (None, None)


OLD_ALARM_TABLES = [
    """CREATE TABLE alarms (
        station_id TEXT NOT NULL, code TEXT NOT NULL, severity TEXT NOT NULL, active INTEGER NOT NULL,
        since_ts {real} NOT NULL, last_ts {real} NOT NULL, text TEXT NOT NULL DEFAULT '', acked_by TEXT,
        acked_ts {real}, cleared_ts {real}, PRIMARY KEY (station_id, code))""",
    """CREATE TABLE alarm_log (
        id {serial}, station_id TEXT NOT NULL, code TEXT NOT NULL, severity TEXT NOT NULL,
        active INTEGER NOT NULL, ts {real} NOT NULL, text TEXT NOT NULL DEFAULT '', value TEXT, seq BIGINT)""",
    "INSERT INTO alarms VALUES ('st-a', 'pump1_fault', 'major', 1, 100.0, 100.0, 'old', NULL, NULL, NULL)",
    "INSERT INTO alarm_log (station_id, code, severity, active, ts, text, value, seq) "
    "VALUES ('st-a', 'pump1_fault', 'major', 1, 100.0, 'old', '1.0', 7)",
]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_database_from_before_the_evidence_gets_its_columns(backend: str, tmp_path: Any,
                                                                     request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        import sqlite3

        path = str(tmp_path / "old.db")
        conn = sqlite3.connect(path)
        for stmt in OLD_ALARM_TABLES:
            conn.execute(stmt.format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
        conn.commit()
        conn.close()
        st = open_storage("sqlite", path=path)
    else:
        import asyncpg

        dsn = await request.getfixturevalue("postgres_server").create_database()
        conn = await asyncpg.connect(dsn)
        for stmt in OLD_ALARM_TABLES:
            await conn.execute(stmt.format(real="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY"))
        await conn.close()
        st = open_storage("postgres", dsn=dsn)
    await st.open()
    try:
        old = (await st.alarm_rows("st-a", True))[0]
        assert (old["code"], old["value"], old["limit"], old["since_ts"]) == ("pump1_fault", None, None, 100.0)
        await st.record_alarm("st-a", "pump1_fault", "major", False, 200.0, "cleared", None)
        log = await st.alarm_history("st-a", 5)
        assert [(r["active"], r["raised_ts"]) for r in log] == [(False, 100.0), (True, None)]
    finally:
        await st.close()


async def test_a_station_alarm_message_brings_its_evidence(storage: Any) -> None:
    cfg = sup_config.validate({"station": [{"id": "st-a"}]})
    svc = SupervisorService(storage, cfg, wall_clock=lambda: T0)
    await svc.start(open_storage=False)
    body = {"code": "makeup_leak_rate", "severity": "major", "state": "active", "value": 412.5, "limit": 300.0,
            "text": "make-up rate above limit"}
    topic = codec.up_topic("st-a", codec.UP_ALARM)
    payload = json.dumps({"v": 1, "station": "st-a", "seq": 1, "ts": T0 - 1, "kind": codec.UP_ALARM,
                          "body": body}).encode()
    assert svc.ingest.handle(topic, payload) == "queued"
    await svc.ingest.flush()
    row = (await storage.alarm_rows("st-a", True))[0]
    assert (row["code"], row["value"], row["limit"], row["since_ts"]) == ("makeup_leak_rate", 412.5, 300.0, T0 - 1)
    # a station that sends no limit (yet): NULL
    payload = json.dumps({"v": 1, "station": "st-a", "seq": 2, "ts": T0, "kind": codec.UP_ALARM,
                          "body": {"code": "pump1_fault", "severity": "major", "state": "active", "value": 1.0}}).encode()
    assert svc.ingest.handle(topic, payload) == "queued"
    await svc.ingest.flush()
    row = {r["code"]: r for r in await storage.alarm_rows("st-a", True)}["pump1_fault"]
    assert (row["value"], row["limit"]) == (1.0, None)
