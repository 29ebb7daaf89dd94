"""A supervisor killed with SIGKILL mid-stream loses nothing: after a restart every uplink is
stored once (deliveries are acknowledged to the broker only once stored), and the 5-minute
aggregates and equipment counters equal what the raw rows say (the unfinished aggregation
epochs of the killed process are re-derived from their raw rows at start-up).

Real Mosquitto, real supervisor processes (`heatkeeper supervisor`), both storage backends."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor.equipment import EquipmentTracker
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.storage.base import bucket_of
from heatkeeper.tools.procs import Process, free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())

TOTAL = 2400
ALARM_EVERY = 41
T0 = float(int(time.time()) // 3600 * 3600 - 7200)  # recent: retention keeps it


def _sample(seq: int) -> dict[str, Any]:
    """Deterministic telemetry: 2 s apart (so the stream spans several 5-minute buckets), pump 1
    cycling on and off, a fault now and then."""
    return {"secondary_supply_temp_c": 50.0 + (seq % 37) * 0.25, "outdoor_temp_c": -15.0 + (seq % 11) * 0.5,
            "pump1_running": 1.0 if seq % 50 < 35 else 0.0, "pump1_fault": 1.0 if seq % 400 in (10, 11) else 0.0,
            "pump2_running": 0.0}


def _start(config_path: str, log_path: str) -> Process:
    return Process("supervisor", [sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", config_path,
                                  "--log-level", "INFO"], log_path)


async def _wait_log(log_path: str, text: str, count: int, proc: Process, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            if fh.read().count(text) >= count:
                return
        if not proc.alive():
            raise AssertionError("supervisor exited: %s" % open(log_path, encoding="utf-8").read()[-3000:])
        await asyncio.sleep(0.1)
    raise AssertionError("no %r in the supervisor log within %.0f s" % (text, timeout_s))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_sigkill_mid_stream_loses_nothing(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    dsn = ""
    if backend == "postgres":
        dsn = await request.getfixturevalue("postgres_server").create_database()
    port = free_port()
    mq = str(tmp_path / "mq")
    creds = broker_config.write(mq, ["st-a"], port=port, as_root=os.geteuid() == 0)
    config_path = str(tmp_path / "supervisor.toml")
    db_path = str(tmp_path / "sup" / "supervisor.db")
    with open(config_path, "w", encoding="utf-8") as fh:
        fh.write("\n".join([
            "[supervisor]", 'data_dir = "%s"' % (tmp_path / "sup"),
            "[broker]", "embedded = false",
            "[mqtt]", "port = %d" % port, 'protocol = "5"', 'client_id = "sup-crash"',
            'password_file = "%s"' % os.path.join(mq, "credentials", "supervisor.password"),
            "[storage]", 'backend = "%s"' % backend, 'dsn = "%s"' % dsn, 'path = "%s"' % db_path,
            "batch_interval_s = 0.2", "agg_flush_s = 12",  # epochs stay open long enough for the kill to land in one
            "[web]", "enabled = false",
            "[[station]]", 'id = "st-a"', ""]))
    log_path = str(tmp_path / "supervisor.log")
    storage = open_storage(backend, path=db_path, dsn=dsn)
    server = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()
    proc = _start(config_path, log_path)
    try:
        await _wait_log(log_path, "subscribed to", 2, proc)
        await storage.open()
        published = 0

        async def station() -> None:
            nonlocal published
            async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"], identifier="st-a",
                                      protocol=aiomqtt.ProtocolVersion.V5) as st:
                for seq in range(1, TOTAL + 1):
                    if seq % ALARM_EVERY == 0:  # alarms in the stream: logged once each, also after a replay
                        topic, payload = codec.encode_uplink("st-a", seq, codec.UP_ALARM, T0 + 2 * seq, {
                            "code": "leak", "severity": "critical",
                            "state": "active" if seq // ALARM_EVERY % 2 else "cleared"})
                    else:
                        topic, payload = codec.encode_uplink("st-a", seq, codec.UP_TELEMETRY, T0 + 2 * seq,
                                                             {"values": _sample(seq)})
                    await st.publish(topic, payload, qos=1)
                    published = seq
                    await asyncio.sleep(0.001)

        sender = asyncio.ensure_future(station())
        # kill it while messages are flowing and rows wait in an unfinished epoch
        unfinished_sql = ("SELECT COUNT(*) FROM uplinks u JOIN agg_epochs e ON u.agg_epoch = e.epoch "
                          "WHERE e.closed_ts IS NULL")
        while True:
            row = await storage.fetchone(unfinished_sql)
            if await storage.count_uplinks() >= TOTAL // 6 and row is not None and int(row[0]) > 0:
                break
            assert published < TOTAL // 2, "the supervisor stored too little before the kill"
            await asyncio.sleep(0.02)
        proc.kill()  # SIGKILL
        stored_at_kill = await storage.count_uplinks()
        row = await storage.fetchone(unfinished_sql)
        unfinished = int(row[0]) if row else 0
        while published < 2 * TOTAL // 3:  # the broker queues these for the dead supervisor
            await asyncio.sleep(0.02)
        proc = _start(config_path, log_path)
        await sender
        await _wait_log(log_path, "subscribed to", 4, proc)
        deadline = time.monotonic() + 60
        while await storage.count_uplinks() < TOTAL and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert proc.stop(timeout_s=30) == 0  # SIGTERM: a clean stop writes what is derived so far
        # the kill really left work half done, and nothing got lost or doubled
        assert 0 < stored_at_kill < TOTAL and unfinished > 0, (stored_at_kill, unfinished)
        assert "re-derived" in open(log_path, encoding="utf-8").read()
        every = await storage.fetch("SELECT seq FROM uplinks WHERE station_id = 'st-a' ORDER BY seq")
        assert [int(r[0]) for r in every] == list(range(1, TOTAL + 1))
        logged = await storage.fetch("SELECT seq, active FROM alarm_log WHERE station_id = 'st-a' ORDER BY seq")
        assert [(int(r[0]), int(r[1])) for r in logged] == [
            (seq, seq // ALARM_EVERY % 2) for seq in range(ALARM_EVERY, TOTAL + 1, ALARM_EVERY)]
        rows = await storage.fetch("SELECT seq, ts, payload FROM uplinks WHERE station_id = 'st-a' "
                                   "AND kind = 'telemetry' ORDER BY seq")
        row = await storage.fetchone("SELECT COUNT(*) FROM agg_epochs WHERE closed_ts IS NULL")
        assert row is not None and int(row[0]) == 0
        # the aggregates are exactly what the raw rows say
        expected: dict[tuple[int, str], list[float]] = {}
        tracker = EquipmentTracker()
        for _seq, ts, payload in rows:
            values = json.loads(payload)["body"]["values"]
            for field, v in values.items():
                a = expected.setdefault((bucket_of(float(ts)), field), [0, 0.0, v, v])
                a[0] += 1
                a[1] += v
                a[2] = min(a[2], v)
                a[3] = max(a[3], v)
            tracker.telemetry("st-a", float(ts), values)
        got = {(int(r[1]), str(r[0])): (int(r[2]), float(r[3]), float(r[4]), float(r[5]))
               for r in await storage.aggregates("st-a", list(_sample(1)), T0 - 600, T0 + 2 * TOTAL + 600)}
        assert set(got) == set(expected)
        for key, (n, total, lo, hi) in expected.items():
            assert got[key][0] == n, key
            assert got[key][1] == pytest.approx(total) and got[key][2] == lo and got[key][3] == hi, key
        # and so are the equipment counters
        want = {dev: rec for (sid, dev), rec in tracker.records.items()}
        have = {r["device"]: r for r in await storage.equipment("st-a")}
        assert want["pump1"]["starts"] > 10 and want["pump1"]["faults"] >= 2
        for dev in ("pump1", "pump2"):
            assert have[dev]["starts"] == want[dev]["starts"], dev
            assert have[dev]["faults"] == want[dev]["faults"], dev
            assert have[dev]["run_s"] == pytest.approx(want[dev]["run_s"]), dev
    finally:
        proc.kill_group()
        await storage.close()
        server.stop()
