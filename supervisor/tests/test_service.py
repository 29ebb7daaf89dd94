"""The service API over both storage backends: ingest exactly once, garbage rejected and
counted, state, trends, alarms, commands tracked from acks, users, audit, collectors."""

from __future__ import annotations

import asyncio
import json
import tempfile
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import ingest as ingest_module
from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.service_errors import ServiceError
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_config(data_dir: str = "var/supervisor") -> dict[str, Any]:
    return sup_config.validate({
        "supervisor": {"data_dir": data_dir},
        "storage": {"batch_interval_s": 0.05},
        "station": [{"id": "st-a", "name": "Station A", "city": "Arxan"}, {"id": "st-b", "name": "B"}],
        "collector": [{"id": "c1", "station": "st-a", "group": "top"}, {"id": "c2", "station": "st-a", "group": "edge"}],
    })


def telemetry(sid: str, seq: int, ts: float, **values: Any) -> tuple[str, bytes]:
    values.setdefault("mode", 3)  # core.modes M_AUTO, as the firmware sends it
    values.setdefault("devices_total", 5)
    values.setdefault("devices_available", 4)
    return codec.encode_uplink(sid, seq, codec.UP_TELEMETRY, ts, {"values": values})


class Wire:
    """Records what the service publishes (stands in for the broker connection only)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int, bool]] = []

    async def __call__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.sent.append((topic, payload, qos, retain))


@pytest.fixture
async def service(storage: Any, tmp_path: Any) -> Any:
    clock = Clock(T0)
    cfg = make_config(str(tmp_path / "sup"))
    CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(["st-a", "st-b"])  # as `serve` does
    svc = SupervisorService(storage, cfg, wall_clock=clock)
    await svc.start(open_storage=False)
    svc.clock_ = clock  # type: ignore[attr-defined]
    yield svc


async def test_ingest_exactly_once_and_garbage(service: SupervisorService) -> None:
    ing = service.ingest
    for seq in range(1, 11):
        topic, payload = telemetry("st-a", seq, T0 + seq, secondary_supply_temp_c=50.0 + seq, pump1_running=1.0)
        assert ing.handle(topic, payload) == "queued"
    # duplicates inside the batch and across batches
    topic, payload = telemetry("st-a", 3, T0 + 3, secondary_supply_temp_c=53.0)
    ing.handle(topic, payload)
    await ing.flush()
    ing.handle(topic, payload)
    await ing.flush()
    garbage = [
        ("heatkeeper/v1/stations/st-a/up/telemetry", b"{not json"),
        ("heatkeeper/v1/stations/st-a/up/telemetry", b"x" * 70000),
        ("heatkeeper/v1/stations/nobody/up/telemetry", telemetry("nobody", 1, T0)[1]),
        ("heatkeeper/v1/stations/st-a/up/telemetry", telemetry("st-b", 99, T0)[1]),
        ("heatkeeper/v1/stations/st-a/up/bogus", b"{}"),
        ("other/topic", b"{}"),
        ("heatkeeper/v1/stations/st-a/up/telemetry", json.dumps({"v": 1, "station": "st-a", "seq": -1, "ts": T0,
                                                                 "kind": "telemetry", "body": {"values": {}}}).encode()),
        ("heatkeeper/v1/stations/st-a/up/telemetry", b"\xff\xfe\x00"),
        ("heatkeeper/v1/stations/st-a/status", b"maybe"),
        ("heatkeeper/v1/collectors/zz", json.dumps({"v": 1, "temp_c": 20.0, "ts": T0}).encode()),
    ]
    for topic, payload in garbage:
        assert ing.handle(topic, payload).startswith("rejected:")
    await ing.flush(force_aggregates=True)
    assert await service.storage.count_uplinks("st-a") == 10
    assert await service.storage.count_uplinks() == 10
    stats = ing.stats()
    assert stats["stored"] == 10 and stats["duplicates"] == 2
    for reason in ("bad_json", "too_large", "unknown_station", "station_mismatch", "bad_topic", "bad_field",
                   "bad_status", "unknown_collector"):
        assert stats["rejected"].get(reason, 0) >= 1, reason
    # aggregates count each stored sample once
    rows = await service.storage.aggregates("st-a", ["secondary_supply_temp_c"], T0 - 600, T0 + 600)
    assert sum(r[2] for r in rows) == 10


async def test_overview_detail_and_trends(service: SupervisorService) -> None:
    ing = service.ingest
    service.clock_.t = T0 + 1210  # type: ignore[attr-defined]
    assert ing.handle(codec.status_topic("st-a"), b"online") == "status"
    for seq in range(1, 121):
        ing.handle(*telemetry("st-a", seq, T0 + 10 * seq, secondary_supply_temp_c=55.0, supply_setpoint_c=56.0,
                              outdoor_temp_c=-20.0 + seq / 100))
    await ing.flush(force_aggregates=True)
    stations = await service.fleet.list_stations()
    a = next(s for s in stations if s["station_id"] == "st-a")
    assert a["online"] is True and a["supply_temp_c"] == 55.0 and a["supply_setpoint_c"] == 56.0
    assert a["mode"] == "auto"
    b = next(s for s in stations if s["station_id"] == "st-b")
    assert b["online"] is False and b["supply_temp_c"] is None
    detail = await service.fleet.station_detail("st-a")
    assert detail["last_seq"] == 120 and detail["values"]["outdoor_temp_c"] == pytest.approx(-18.8)
    assert detail["mode"] == "auto" and detail["devices"] == {"total": 5, "available": 4}
    short = await service.reporting.trends("st-a", ["outdoor_temp_c"], T0, T0 + 3600, 1000)
    assert len(short["outdoor_temp_c"]) == 120
    thinned = await service.reporting.trends("st-a", ["outdoor_temp_c"], T0, T0 + 3600, 12)
    assert len(thinned["outdoor_temp_c"]) == 12
    long = await service.reporting.trends("st-a", ["outdoor_temp_c", "secondary_supply_temp_c"], T0 - 86400, T0 + 3600, 1000)
    assert 4 <= len(long["secondary_supply_temp_c"]) <= 6
    assert all(v == pytest.approx(55.0) for _ts, v in long["secondary_supply_temp_c"])
    with pytest.raises(ServiceError):
        await service.fleet.station_detail("nope")


async def test_alarms_and_ack(service: SupervisorService) -> None:
    ing = service.ingest
    wire = Wire()
    service.link.set_publisher(wire)
    ing.handle(*codec.encode_uplink("st-a", 1, codec.UP_ALARM, T0, {"code": "leak", "severity": "critical",
                                                                   "state": "active", "text": "make-up high"}))
    ing.handle(*codec.encode_uplink("st-a", 2, codec.UP_ALARM, T0 + 1, {"code": "sensor_open", "severity": "warning",
                                                                       "state": "active"}))
    await ing.flush()
    active = await service.alarm_desk.alarms("st-a", True)
    assert {a["code"] for a in active} == {"leak", "sensor_open"}
    overview = {s["station_id"]: s for s in await service.fleet.list_stations()}
    assert overview["st-a"]["active_alarms"] == 2 and overview["st-a"]["worst_severity"] == "critical"
    res = await service.alarm_desk.ack_alarm("st-a", "leak", "olga")
    assert res["recorded"] is True and res["state"] == "sent"
    topic, payload, qos, retain = wire.sent[-1]
    cmd = codec.decode_command(topic, payload)
    assert cmd["kind"] == "ack_alarm" and cmd["args"] == {"code": "leak"} and qos == 1 and retain is False
    ing.handle(*codec.encode_uplink("st-a", 3, codec.UP_ALARM, T0 + 5, {"code": "sensor_open", "severity": "warning",
                                                                       "state": "cleared"}))
    await ing.flush()
    assert [a["code"] for a in await service.alarm_desk.alarms("st-a", True)] == ["leak"]
    every = await service.alarm_desk.alarms(None, False)
    assert len(every) == 2 and next(a for a in every if a["code"] == "leak")["acked_by"] == "olga"


async def test_commands_applied_rejected_timed_out(service: SupervisorService) -> None:
    ing = service.ingest
    wire = Wire()
    service.link.set_publisher(wire)
    c1 = await service.remote.send_command("st-a", "set_supply_setpoint", {"supply_setpoint_c": 60.0}, "olga", lease_s=600)
    c2 = await service.remote.send_command("st-a", "set_mode", {"mode": "summer"}, "olga")
    c3 = await service.remote.send_command("st-b", "boost", {"boost_k": 2.0, "duration_s": 600}, "ivan")
    sent = [codec.decode_command(t, p) for t, p, _q, _r in wire.sent]
    assert sent[0]["args"] == {"supply_setpoint_c": 60.0, "lease_s": 600}
    assert sent[0]["expires_ts"] == pytest.approx(T0 + 60.0)
    assert (await service.remote.command_status(c1))["state"] == "sent"
    ing.handle(*codec.encode_uplink("st-a", 1, codec.UP_ACK, T0 + 1, codec.ack_body(c1, "applied", "ok", "")))
    ing.handle(*codec.encode_uplink("st-a", 2, codec.UP_ACK, T0 + 1, codec.ack_body(c2, "rejected", "mode_locked",
                                                                                   "safe mode")))
    # an ack from the wrong station for c3 is ignored
    ing.handle(*codec.encode_uplink("st-a", 3, codec.UP_ACK, T0 + 1, codec.ack_body(c3, "applied", "ok", "")))
    await ing.flush()
    for task in list(service.commands._tasks):
        await task
    assert (await service.remote.command_status(c1))["state"] == "applied"
    st2 = await service.remote.command_status(c2)
    assert st2["state"] == "rejected" and st2["reason"] == "mode_locked"
    service.clock_.t = T0 + 61  # type: ignore[attr-defined]
    assert await service.commands.sweep() == 1
    assert (await service.remote.command_status(c3))["state"] == "timed_out"
    with pytest.raises(ServiceError):
        await service.remote.send_command("st-a", "open_everything", {}, "olga")
    with pytest.raises(ServiceError):
        await service.remote.send_command("st-a", "set_supply_setpoint", {"supply_setpoint_c": "hot"}, "olga")
    service.link.set_publisher(None)
    c4 = await service.remote.send_command("st-a", "set_mode", {"mode": "auto"}, "olga")
    st4 = await service.remote.command_status(c4)
    assert st4["state"] == "rejected" and st4["reason"] == "not_sent"
    audit = await service.audit_log.rows(100)
    results = [(a["action"], a["result"]) for a in audit]
    for expected in [("command:set_supply_setpoint", "sent"), ("ack:set_supply_setpoint", "applied"),
                     ("ack:set_mode", "rejected"), ("timeout:boost", "timed_out"),
                     ("command:open_everything", "refused:unknown_kind"), ("command:set_mode", "not_sent")]:
        assert expected in results, expected
    recent = await service.remote.recent_commands("st-a")
    assert {c["command_id"] for c in recent} >= {c1, c2, c4}


async def test_users(service: SupervisorService) -> None:
    await service.accounts.create_user("olga", "correct horse", "operator")
    with pytest.raises(ServiceError):
        await service.accounts.create_user("olga", "another one", "viewer")
    with pytest.raises(ServiceError):
        await service.accounts.create_user("bad name!", "short", "god")
    assert await service.accounts.authenticate("olga", "correct horse") == {"username": "olga", "role": "operator",
                                                                   "must_change": False}
    assert await service.accounts.authenticate("olga", "wrong horse") is None
    assert await service.accounts.authenticate("nobody", "whatever") is None
    stored = await service.storage.user("olga")
    assert stored is not None and "correct horse" not in stored["password_hash"]
    assert [u["username"] for u in await service.accounts.list_users()] == ["olga"]
    logins = [a["result"] for a in await service.audit_log.rows(10) if a["action"] == "login"]
    assert logins.count("denied") == 2 and logins.count("ok") == 1


async def test_collectors_http_and_forward(service: SupervisorService) -> None:
    wire = Wire()
    service.link.set_publisher(wire)
    res = await service.collector_intake.ingest_collector_http({"readings": [
        {"collector": "c1", "temp_c": 17.0, "ts": T0 - 60}, {"collector": "c2", "temp_c": 21.5, "ts": T0 - 30},
        {"collector": "c9", "temp_c": 20.0, "ts": T0}, {"collector": "c1", "temp_c": 99.0, "ts": T0},
        {"collector": "c1", "temp_c": "warm", "ts": T0}, "garbage"]}, "10.0.0.5")
    assert res["accepted"] == 2
    assert {r["reason"] for r in res["rejected"]} == {"unknown_collector", "implausible_temp"}
    assert len(res["problems"]) == 2
    assert (await service.collector_intake.ingest_collector_http("not even a dict", "x"))["accepted"] == 0
    topic, payload = codec.encode_collector_reading("c1", 17.5, T0)
    assert service.ingest.handle(topic, payload) == "reading"
    assert await service.collectors.forward(wire) == 1
    rooms = codec.decode_rooms(wire.sent[-1][0], wire.sent[-1][1])
    assert rooms["station"] == "st-a"
    assert {(r["collector"], r["group"], r["temp_c"]) for r in rooms["readings"]} == {("c1", "top", 17.5),
                                                                                    ("c2", "edge", 21.5)}
    overview = {s["station_id"]: s for s in await service.fleet.list_stations()}
    assert overview["st-a"]["comfort"] == {"min_room_c": 17.5, "groups_below_18": 1}
    await service.collectors.flush()
    assert len(await service.storage.readings("st-a", T0 - 3600, T0 + 3600)) == 3


async def test_a_users_only_start_leaves_the_ingest_epochs_alone(service: SupervisorService) -> None:
    """`--create-user` beside a running supervisor must not re-derive (double count) its open epochs."""
    ing = service.ingest
    ing.handle(*telemetry("st-a", 1, T0, secondary_supply_temp_c=50.0))
    await ing.flush()
    owner = service.config["mqtt"]["client_id"]
    open_before = await service.storage.open_epochs(owner)
    assert len(open_before) == ing.agg_slices
    cli = SupervisorService(service.storage, make_config(service.config["supervisor"]["data_dir"]))
    await cli.start(open_storage=False, ingest=False)
    assert await service.storage.open_epochs(owner) == open_before
    assert await service.storage.aggregates("st-a", ["secondary_supply_temp_c"], T0 - 600, T0 + 600) == []
    await ing.flush(force_aggregates=True)
    rows = await service.storage.aggregates("st-a", ["secondary_supply_temp_c"], T0 - 600, T0 + 600)
    assert [r[2] for r in rows] == [1]


async def test_deliveries_are_acknowledged_only_once_stored(service: SupervisorService) -> None:
    """QoS 1 acks (the broker forgets a message once acked) follow storage: uplinks after their
    batch, collector readings after theirs; a failed write keeps both the data and the ack."""
    ing = service.ingest
    acked: list[str] = []
    assert ing.handle(*telemetry("st-a", 1, T0, outdoor_temp_c=-5.0), ack=lambda: acked.append("up")) == "queued"
    topic, payload = codec.encode_collector_reading("c1", 19.0, T0)
    assert ing.handle(topic, payload, ack=lambda: acked.append("room")) == "reading"
    assert ing.handle("heatkeeper/v1/stations/nobody/up/telemetry", b"{bad", ack=lambda: acked.append("bad")) \
        .startswith("rejected:")
    assert ing.handle("heatkeeper/v1/stations/st-a/up/telemetry", b"{bad", ack=lambda: acked.append("kept")) \
        .startswith("rejected:")
    assert acked == ["bad"]  # garbage from no station is never stored: acked at once; a station's is quarantined
    real = service.storage.store_uplinks

    async def broken(rows: Any) -> Any:
        raise RuntimeError("database down")

    service.storage.store_uplinks = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await ing.flush()
    assert acked == ["bad", "kept"] and ing.stats()["pending"] == 1  # the quarantine row was written
    service.storage.store_uplinks = real  # type: ignore[method-assign]
    await ing.flush()
    assert acked == ["bad", "kept", "up"]
    await service.collectors.flush()
    assert acked == ["bad", "kept", "up", "room"]
    assert len(await service.storage.readings("st-a", T0 - 1, T0 + 1)) == 1


async def test_a_flush_is_stored_grouped_by_station_and_acked_in_the_order_received(
        service: SupervisorService, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush writes its rows station by station (each station's in the order received), so a
    flush holding several messages of a station changes that station's index pages once; the
    acks of the whole flush go out at its end, in the order the broker sent the messages (it
    looks each ack up from the oldest end of its in-flight list). A chunk that fails releases
    the acks of the chunks stored before it, and keeps its own and the rest queued."""
    ing = service.ingest
    monkeypatch.setattr(ingest_module, "STORE_CHUNK", 2)
    received = [("st-a", 1), ("st-b", 1), ("st-a", 2), ("st-b", 2), ("st-a", 3)]
    acked: list[tuple[str, int]] = []
    chunks: list[list[tuple[str, int]]] = []
    real = service.storage.store_uplinks
    fail_at = [2]

    async def spy(rows: Any) -> Any:
        chunks.append([(r[0], r[1]) for r in rows])
        if len(chunks) in fail_at:
            raise RuntimeError("database down")
        return await real(rows)

    service.storage.store_uplinks = spy  # type: ignore[method-assign]
    for sid, seq in received:
        assert ing.handle(*telemetry(sid, seq, T0 + seq), ack=lambda k=(sid, seq): acked.append(k)) == "queued"
    with pytest.raises(RuntimeError):
        await ing.flush()
    assert chunks == [[("st-a", 1), ("st-a", 2)], [("st-a", 3), ("st-b", 1)]]
    assert acked == [("st-a", 1), ("st-a", 2)] and ing.stats()["pending"] == 3
    await ing.flush()
    assert chunks[2:] == [[("st-a", 3), ("st-b", 1)], [("st-b", 2)]]
    assert acked == [("st-a", 1), ("st-a", 2), ("st-b", 1), ("st-b", 2), ("st-a", 3)]  # each flush's in received order
    assert await service.storage.count_uplinks() == 5
    # one flush, nothing failing: grouped rows, acks exactly in the order received
    acked.clear()
    chunks.clear()
    fail_at.clear()
    more = [("st-b", 3), ("st-a", 4), ("st-b", 4), ("st-a", 5)]
    for sid, seq in more:
        assert ing.handle(*telemetry(sid, seq, T0 + seq), ack=lambda k=(sid, seq): acked.append(k)) == "queued"
    await ing.flush()
    assert chunks == [[("st-a", 4), ("st-a", 5)], [("st-b", 3), ("st-b", 4)]] and acked == more


@given(order=st.lists(st.sampled_from(["st-a", "st-b"]), min_size=1, max_size=24),
       resend=st.lists(st.integers(0, 23), max_size=4), chunk=st.integers(1, 6),
       fails=st.lists(st.integers(1, 12), max_size=3), split=st.integers(0, 24))
@settings(max_examples=40, deadline=None)
def test_flushes_store_every_message_once_and_ack_each_once_in_the_order_received(
        order: list[str], resend: list[int], chunk: int, fails: list[int], split: int) -> None:
    """Any interleaving of two stations' messages (some resent), any chunk size, database
    failures at any chunks, the queue flushed in two parts: each (station, seq) is stored once,
    each delivery acked exactly once and only after its row is stored, each station's rows
    stored in the order received, and each flush's acks in the order received."""
    seqs: dict[str, int] = {}
    msgs: list[tuple[str, int]] = []
    for sid in order:
        seqs[sid] = seqs.get(sid, 0) + 1
        msgs.append((sid, seqs[sid]))
    msgs += [msgs[i] for i in resend if i < len(msgs)]  # a resend: the same (station, seq) again
    deliveries = list(enumerate(msgs))

    async def scenario(tmp: str) -> None:
        from heatkeeper.supervisor.storage import open_storage

        storage = open_storage("sqlite", path=tmp + "/sup.db")
        await storage.open()
        try:
            cfg = make_config(tmp + "/sup")
            CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(["st-a", "st-b"])
            svc = SupervisorService(storage, cfg, wall_clock=Clock(T0))
            await svc.start(open_storage=False)
            ing = svc.ingest
            real = storage.store_uplinks
            stored: list[tuple[str, int]] = []
            calls = [0]

            async def flaky(rows: Any) -> Any:
                calls[0] += 1
                if calls[0] in fails:
                    raise RuntimeError("database down")
                keys = await real(rows)
                stored.extend(k for k in ((r[0], r[1]) for r in rows) if k in set(keys))
                return keys

            storage.store_uplinks = flaky  # type: ignore[method-assign]
            acks: list[int] = []
            flushes: list[list[int]] = []

            async def flush_all() -> None:
                for _ in range(20):  # a failing chunk keeps its rest queued: flush again
                    before = len(acks)
                    try:
                        await ing.flush()
                    except RuntimeError:
                        pass
                    flushes.append(acks[before:])
                    if not ing.stats()["pending"]:
                        return

            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(ingest_module, "STORE_CHUNK", chunk)
                for part in (deliveries[:split], deliveries[split:]):
                    for i, (sid, seq) in part:
                        for k in acks:
                            assert stored.count(msgs[k]) == 1  # acked only once stored
                        assert ing.handle(*telemetry(sid, seq, T0 + seq), ack=lambda i=i: acks.append(i)) == "queued"
                    await flush_all()
            assert sorted(acks) == list(range(len(msgs)))  # every delivery acked once
            assert sorted(stored) == sorted(set(msgs))  # every message stored once
            for sid in ("st-a", "st-b"):
                assert [q for s, q in stored if s == sid] == sorted(q for s, q in set(msgs) if s == sid)
            for acked in flushes:
                assert acked == sorted(acked)  # each flush's acks in the order received
            assert await storage.count_uplinks() == len(set(msgs))
        finally:
            await storage.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(tmp))


def test_the_service_is_a_composition_of_jobs_with_sql_only_in_storage() -> None:
    """SupervisorService only assembles the parts and runs their life cycle: every service the
    web calls lives in its own job module; no SQL text outside supervisor/storage/."""
    import ast
    import inspect
    import pathlib

    from heatkeeper.supervisor import service as service_module

    own = {name for name, member in vars(SupervisorService).items()
           if inspect.isfunction(member) and not name.startswith("__")}
    assert own == {"start", "stop", "background", "_refresh_loop", "_retention_loop"}, own
    assert len(inspect.getsource(service_module).splitlines()) < 200
    root = pathlib.Path(service_module.__file__).parent
    sql = ("SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE ", "CREATE TABLE")
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("storage/", "tests/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(sql):
                found.append("%s:%d %s" % (rel, node.lineno, node.value[:40]))
    assert found == [], found
