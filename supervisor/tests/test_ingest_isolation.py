"""One station's message must never stop, delay or drop another station's data (both backends).

Each hostile uplink of the security review (C1, C2, H1, M6, M10) is sent by st-a in the middle
of st-b's ordinary traffic, through the real ingest into a real database: st-b's messages are
stored, derived (live values, 5-minute aggregates, alarms) and nothing raises; st-a's hostile
message is in the quarantine with its reason, st-a has an `uplink_quarantined` alarm, and st-a's
next ordinary sample is taken as usual. Then the storage-side isolation (a row the database
refuses although the codec let it through), sequence regressions (a recreated outbox), the
per-station field-name cap, and freshness by receive time (live values, city outdoor median).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.ingest import MAX_STATION_FIELDS
from heatkeeper.supervisor.quarantine import ALARM_CODES, QUARANTINE_PER_STATION_PER_MIN
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage

T0 = 1_700_000_000.0  # 5-minute bucket [T0 - 200, T0 + 100)
NOW = T0 + 1000.0  # the supervisor's clock: every ordinary ts below is in the past, within retention
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=BACKENDS)
async def service(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[SupervisorService]:
    if request.param == "sqlite":
        storage = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    else:
        storage = open_storage("postgres", dsn=await request.getfixturevalue("postgres_server").create_database())
    await storage.open()
    config = sup_config.validate({"storage": {"batch_interval_s": 0.05},
                                  "station": [{"id": "st-a", "city": "Arxan"}, {"id": "st-b", "city": "Arxan"},
                                              {"id": "st-c", "city": "Arxan"}]})
    svc = SupervisorService(storage, config, wall_clock=Clock(NOW))
    await svc.start(open_storage=False)
    try:
        yield svc
    finally:
        await storage.close()


async def alarms(service: SupervisorService, station_id: str | None = None) -> list[dict[str, Any]]:
    """The active alarms once the supervisor's alarm engine (which raises the quarantine's
    alarms, as `serve` runs it) has evaluated what was flushed."""
    await service.ingest.flush()
    await service.fleet_alarms.evaluate()
    return await service.alarm_desk.alarms(station_id)


def quarantine_alarms(rows: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(a["code"], a["acked_by"]) for a in rows if a["code"] in ALARM_CODES]


def up(sid: str, seq: Any, kind: str, ts: Any, body: dict[str, Any]) -> tuple[str, bytes]:
    """An uplink as a station (or an attacker with its credentials) could send it: plain JSON,
    NaN and Infinity included (json.dumps writes them), nothing checked."""
    return codec.up_topic(sid, kind), json.dumps({"v": 1, "station": sid, "seq": seq, "ts": ts, "kind": kind,
                                                  "body": body}).encode()


def sample(sid: str, seq: int, ts: float, supply_c: float, **more: Any) -> tuple[str, bytes]:
    return up(sid, seq, codec.UP_TELEMETRY, ts, {"values": {"secondary_supply_temp_c": supply_c, **more}})


# name: (hostile uplink from st-a as seq 2, the reason it is quarantined under)
HOSTILE: dict[str, tuple[tuple[str, bytes], str]] = {
    "seq_2_63": (sample("st-a", 2 ** 63, T0 + 2, 51.0), "bad_field"),  # C1
    "nul_alarm_code": (up("st-a", 2, codec.UP_ALARM, T0 + 2, {"code": "x\u0000y", "state": "active"}), "bad_text"),  # C2
    "nul_field_name": (up("st-a", 2, codec.UP_TELEMETRY, T0 + 2, {"values": {"a\u0000b": 1.0}}), "bad_field_name"),
    "nan_value": (sample("st-a", 2, T0 + 2, float("nan")), "bad_number"),  # H1
    "ts_1e300": (sample("st-a", 2, 1e300, 51.0), "bad_field"),
    "ts_infinity": (sample("st-a", 2, float("inf"), 51.0), "bad_field"),
    "huge_int_same_bucket": (sample("st-a", 2, T0 + 2, 10 ** 400), "bad_number"),
    "huge_int_new_bucket": (sample("st-a", 2, T0 + 400, 10 ** 400), "bad_number"),
    "ts_year_2100": (sample("st-a", 2, 4_102_444_800.0, -30.0, outdoor_temp_c=-30.0), "ts_out_of_window"),  # M6
    "many_field_names": (up("st-a", 2, codec.UP_TELEMETRY, T0 + 2,
                            {"values": {"f%04d" % i: 1.0 for i in range(4000)}}), "too_many_fields"),  # M10
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_uplink_stops_nothing_of_another_station(service: SupervisorService, case: str) -> None:
    ing, storage = service.ingest, service.storage
    hostile, reason = HOSTILE[case]
    # both stations already have a sample in the current 5-minute bucket
    assert ing.handle(*sample("st-a", 1, T0 + 1, 50.0, outdoor_temp_c=-20.0)) == "queued"
    assert ing.handle(*sample("st-b", 1, T0 + 1, 60.0, outdoor_temp_c=-21.0)) == "queued"
    await ing.flush()
    # the hostile message first in the batch, then st-b's ordinary traffic
    ing.handle(*hostile)
    assert ing.handle(*sample("st-b", 2, T0 + 3, 61.0, outdoor_temp_c=-21.0)) == "queued"
    assert ing.handle(*up("st-b", 3, codec.UP_ALARM, T0 + 4, {"code": "leak", "severity": "critical",
                                                               "state": "active"})) == "queued"
    await ing.flush()
    await ing.flush(force_aggregates=True)
    await ing.flush(force_aggregates=True)  # and again: nothing stays stuck at the head of a queue
    assert ing.stats()["pending"] == 0
    assert await storage.count_uplinks("st-b") == 3
    rows = await storage.aggregates("st-b", ["secondary_supply_temp_c"], T0 - 600, T0 + 600)
    assert sum(r[2] for r in rows) == 2 and sum(r[3] for r in rows) == pytest.approx(121.0)
    assert (await service.fleet.station_detail("st-b"))["values"]["secondary_supply_temp_c"] == 61.0
    active = {(a["station_id"], a["code"]) for a in await alarms(service)}
    assert ("st-b", "leak") in active and ("st-a", "uplink_quarantined") in active
    # st-a's hostile message: not stored as data, kept in the quarantine with its reason
    assert await storage.count_uplinks("st-a") == 1
    assert ing.stats()["rejected"].get(reason) == 1
    kept = (await service.alarm_desk.quarantine("st-a"))["rows"]
    assert [r["reason"] for r in kept] == [reason]
    assert kept[0]["topic"] == hostile[0] and kept[0]["payload"] and kept[0]["received_ts"] == NOW
    # st-a's next ordinary sample is taken: its live values and aggregates are not frozen
    assert ing.handle(*sample("st-a", 3, T0 + 5, 52.0, outdoor_temp_c=-19.0)) == "queued"
    await ing.flush(force_aggregates=True)
    assert (await service.fleet.station_detail("st-a"))["values"]["secondary_supply_temp_c"] == 52.0
    rows = await storage.aggregates("st-a", ["secondary_supply_temp_c"], T0 - 600, T0 + 600)
    assert sum(r[2] for r in rows) == 2
    assert await storage.fetchone("SELECT COUNT(*) FROM agg_5m WHERE station_id = ?", ("st-a",)) == (2,)  # two fields, one bucket


async def test_a_row_the_database_refuses_is_quarantined_alone(service: SupervisorService) -> None:
    """Should anything get past the codec that the database refuses (here a seq of 2^63 put
    straight into the queue), its chunk is stored row by row and that row is quarantined: it is
    never retried at the head of the queue, and the rest of the chunk is stored and derived."""
    ing, storage = service.ingest, service.storage
    topic, payload = sample("st-a", 2 ** 63, T0 + 2, 51.0)
    poison = json.loads(payload)
    acked: list[str] = []
    assert ing.handle(*sample("st-b", 1, T0 + 1, 60.0), ack=lambda: acked.append("b1")) == "queued"
    ing._pending.append((poison, NOW, payload, lambda: acked.append("poison"), ing.slots("st-a")))
    assert ing.handle(*sample("st-b", 2, T0 + 3, 61.0), ack=lambda: acked.append("b2")) == "queued"
    await ing.flush(force_aggregates=True)
    assert sorted(acked) == ["b1", "b2", "poison"] and ing.stats()["pending"] == 0
    assert await storage.count_uplinks("st-b") == 2 and await storage.count_uplinks("st-a") == 0
    assert (await service.fleet.station_detail("st-b"))["values"]["secondary_supply_temp_c"] == 61.0
    kept = (await service.alarm_desk.quarantine("st-a"))["rows"]
    assert [r["reason"] for r in kept] == ["storage_refused"] and kept[0]["seq"] is None
    assert ("st-a", "uplink_quarantined") in {(a["station_id"], a["code"]) for a in await alarms(service)}
    await ing.flush(force_aggregates=True)
    assert await storage.count_uplinks("st-b") == 2


async def test_a_message_that_cannot_be_derived_does_not_stop_the_batch(service: SupervisorService) -> None:
    """H1's second half: should a stored message still break the derivation (here a 400-digit value
    put straight into the queue, past the codec, beside an earlier sample in its bucket), the rest
    of the batch is derived all the same and the message is quarantined (it stays stored raw)."""
    ing, storage = service.ingest, service.storage
    assert ing.handle(*sample("st-a", 1, T0 + 1, 50.0)) == "queued"
    await ing.flush()
    topic, payload = sample("st-a", 2, T0 + 2, 10 ** 400)
    ing._pending.append((json.loads(payload), NOW, payload, None, ing.slots("st-a")))
    assert ing.handle(*sample("st-b", 1, T0 + 3, 61.0)) == "queued"
    assert ing.handle(*up("st-b", 2, codec.UP_ALARM, T0 + 4, {"code": "leak", "state": "active"})) == "queued"
    await ing.flush(force_aggregates=True)
    assert await storage.count_uplinks() == 4
    assert (await service.fleet.station_detail("st-b"))["values"]["secondary_supply_temp_c"] == 61.0
    active = {(a["station_id"], a["code"]) for a in await alarms(service)}
    assert ("st-b", "leak") in active and ("st-a", "uplink_quarantined") in active
    assert [r["reason"] for r in (await service.alarm_desk.quarantine("st-a"))["rows"]] == ["derive_failed"]
    rows = await storage.aggregates("st-a", ["secondary_supply_temp_c"], T0 - 600, T0 + 600)
    assert [(r[2], r[3]) for r in rows] == [(1, 50.0)]


@pytest.mark.postgres
async def test_an_alarm_postgres_refuses_is_quarantined(tmp_path: Any, request: pytest.FixtureRequest) -> None:
    """C2, the derivation side: an alarm code PostgreSQL cannot hold (NUL), should one get past the
    codec, is quarantined; the alarms behind it are recorded and the flushes go on."""
    storage = open_storage("postgres", dsn=await request.getfixturevalue("postgres_server").create_database())
    await storage.open()
    try:
        config = sup_config.validate({"station": [{"id": "st-a"}, {"id": "st-b"}]})
        svc = SupervisorService(storage, config, wall_clock=Clock(NOW))
        await svc.start(open_storage=False)
        ing = svc.ingest
        ing._pending_alarms.append(("st-a", {"code": "x\u0000y", "state": "active", "_ts": T0, "_seq": 7}))
        assert ing.handle(*up("st-b", 1, codec.UP_ALARM, T0 + 4, {"code": "leak", "state": "active"})) == "queued"
        await ing.flush()
        await ing.flush()
        active = {(a["station_id"], a["code"]) for a in await alarms(svc)}
        assert ("st-b", "leak") in active and ("st-a", "uplink_quarantined") in active
        kept = (await svc.alarm_desk.quarantine("st-a"))["rows"]
        assert [r["reason"] for r in kept] == ["alarm_refused"] and "x\\u0000y" in kept[0]["payload"]
    finally:
        await storage.close()


async def test_sequence_regression_is_quarantined_with_an_alarm(service: SupervisorService) -> None:
    """A station whose outbox was recreated restarts at seq 1: those messages were dropped as
    duplicates. Now a stored (station, seq) arriving with another ts or kind is kept in the
    quarantine with a `sequence_regression` alarm; a true resend is still a quiet duplicate."""
    ing, storage = service.ingest, service.storage
    for seq in (1, 2, 3):
        ing.handle(*sample("st-a", seq, T0 + seq, 50.0 + seq))
    await ing.flush()
    ing.handle(*sample("st-a", 2, T0 + 2, 52.0))  # a QoS 1 resend: same message
    await ing.flush()
    assert ing.stats()["duplicates"] == 1 and ing.stats()["sequence_regressions"] == 0
    assert (await service.alarm_desk.quarantine("st-a"))["rows"] == []
    # the outbox recreated: seq 1 again, 100 s later, an alarm this time; and seq 2 twice in one batch
    ing.handle(*up("st-a", 1, codec.UP_ALARM, T0 + 101, {"code": "secondary_overtemp", "severity": "critical",
                                                          "state": "active"}))
    ing.handle(*sample("st-a", 4, T0 + 102, 97.0))
    ing.handle(*sample("st-a", 4, T0 + 103, 98.0))
    await ing.flush(force_aggregates=True)
    assert ing.stats()["sequence_regressions"] == 2
    kept = (await service.alarm_desk.quarantine("st-a"))["rows"]
    assert sorted(r["reason"] for r in kept) == ["sequence_regression", "sequence_regression"]
    assert sorted(r["seq"] for r in kept) == [1, 4]
    assert any("secondary_overtemp" in r["payload"] for r in kept)
    active = {(a["station_id"], a["code"]): a for a in await alarms(service)}
    # the priority the alarm settings give it (fleet_alarm_settings), like every supervisor alarm
    assert active[("st-a", "sequence_regression")]["severity"] == "major"
    assert "2 uplink(s) quarantined in the last 15 min: sequence_regression 2" in active[
        ("st-a", "sequence_regression")]["text"]
    assert await storage.count_uplinks("st-a") == 4


async def test_field_names_are_capped_per_station(service: SupervisorService) -> None:
    """M10: names within the per-message cap, but new ones in every message: beyond
    MAX_STATION_FIELDS the messages are quarantined, so the aggregate rows stay bounded."""
    ing, storage = service.ingest, service.storage
    per_msg = 200
    results = []
    for seq in range(1, 6):
        values = {"n%d_%d" % (seq, i): 1.0 for i in range(per_msg)}
        results.append(ing.handle(*up("st-a", seq, codec.UP_TELEMETRY, T0 + seq, {"values": values})))
    assert results == ["queued", "queued", "rejected:too_many_fields", "rejected:too_many_fields",
                       "rejected:too_many_fields"]
    await ing.flush(force_aggregates=True)
    row = await storage.fetchone("SELECT COUNT(*) FROM agg_5m WHERE station_id = ?", ("st-a",))
    assert row is not None and int(row[0]) == 2 * per_msg <= MAX_STATION_FIELDS
    assert len((await service.alarm_desk.quarantine("st-a"))["rows"]) == 3


async def test_live_values_and_outdoor_median_go_by_receive_time(service: SupervisorService) -> None:
    """M6: a state frozen by a station clock in the future (saved by an earlier version, values_ts
    = Infinity) is replaced by the next sample, and a station whose values were received long ago
    no longer counts for the city outdoor median, whatever its clock said."""
    ing, storage = service.ingest, service.storage
    poisoned = dict(ing.state["st-a"])
    poisoned.update(values={"outdoor_temp_c": -40.0}, values_ts=float("inf"), last_seq=5)
    poisoned.pop("values_seq", None)
    poisoned.pop("values_received_ts", None)
    await storage.save_station_state("st-a", poisoned)
    svc = SupervisorService(storage, service.config, wall_clock=service.clock)
    await svc.start(open_storage=False)
    ing = svc.ingest
    assert ing.state["st-a"]["values"] == {"outdoor_temp_c": -40.0}
    assert svc.outdoor._healthy("st-a", NOW) is None  # never received by this version: not fresh
    ing.handle(*sample("st-a", 6, T0 + 6, 50.0, outdoor_temp_c=-5.0))
    ing.handle(*sample("st-b", 1, T0 + 6, 50.0, outdoor_temp_c=-7.0))
    ing.handle(*sample("st-c", 1, T0 + 6, 50.0, outdoor_temp_c=-9.0))
    await ing.flush(force_aggregates=True)
    assert ing.state["st-a"]["values"]["outdoor_temp_c"] == -5.0
    assert svc.outdoor.city_values()["Arxan"] == {"temp_c": -7.0, "stations": 3, "ts": NOW}
    # st-a keeps sending, with its clock now an hour slow: still its live values (seq order)
    clock = svc.clock
    assert isinstance(clock, Clock)
    clock.t = NOW + 800
    ing.handle(*sample("st-a", 7, T0 - 3600, 50.0, outdoor_temp_c=-6.0))
    await ing.flush(force_aggregates=True)
    assert ing.state["st-a"]["values"]["outdoor_temp_c"] == -6.0
    clock.t = NOW + 1000  # st-b and st-c received 1000 s ago: stale (max_sample_age_s 900), st-a 200 s ago
    assert svc.outdoor.city_values() == {}
    assert svc.outdoor._healthy("st-a", clock.t) == -6.0


async def test_a_flood_of_garbage_is_kept_up_to_a_rate_then_counted(service: SupervisorService) -> None:
    """The quarantine keeps a station's refused uplinks up to QUARANTINE_PER_STATION_PER_MIN a
    minute; beyond, they are counted and acknowledged (a flood must not fill the disk), and the
    other stations are not concerned."""
    ing = service.ingest
    acked = []
    flood = QUARANTINE_PER_STATION_PER_MIN + 30
    for i in range(flood):
        ing.handle(codec.up_topic("st-a", codec.UP_TELEMETRY), b"garbage %d" % i, ack=lambda: acked.append(1))
    assert len(acked) == 30  # the excess at once; the kept ones once written
    ing.handle(codec.up_topic("st-b", codec.UP_TELEMETRY), b"garbage")
    await ing.flush()
    assert len(acked) == flood
    assert ing.stats()["rejected"]["quarantine_rate_limited"] == 30
    counts = (await service.alarm_desk.quarantine(None, limit=1000))["counts"]
    assert counts == {"bad_json": QUARANTINE_PER_STATION_PER_MIN + 1}
    assert len((await service.alarm_desk.quarantine("st-b"))["rows"]) == 1


async def test_the_quarantine_alarm_clears_when_quiet_and_alarms_afresh(service: SupervisorService) -> None:
    """An acknowledged `uplink_quarantined` alarm must not swallow the next case: the alarm model
    clears it quarantine_clear_s after the last case (also after a restart: it goes by the rows
    in the database), and the next case raises it unacknowledged."""
    ing, storage = service.ingest, service.storage
    clock = service.clock
    assert isinstance(clock, Clock)
    clear_s = service.fleet_alarms.settings["quarantine_clear_s"]
    ing.handle(codec.up_topic("st-a", codec.UP_TELEMETRY), b"garbage")
    assert quarantine_alarms(await alarms(service, "st-a")) == [("uplink_quarantined", None)]
    assert await storage.mark_alarm_acked("st-a", "uplink_quarantined", "oli", clock.t)
    clock.t += clear_s - 10
    assert quarantine_alarms(await alarms(service, "st-a")) == [("uplink_quarantined", "oli")]
    # a restart in between: the new process clears it when the window has passed
    svc = SupervisorService(storage, service.config, wall_clock=clock)
    await svc.start(open_storage=False)
    assert quarantine_alarms(await alarms(svc, "st-a")) == [("uplink_quarantined", "oli")]
    clock.t += 11
    assert quarantine_alarms(await alarms(svc, "st-a")) == []
    cleared = [a for a in await storage.alarm_rows("st-a", False) if a["code"] in ALARM_CODES]
    assert [(a["code"], a["active"]) for a in cleared] == [("uplink_quarantined", False)]
    svc.ingest.handle(codec.up_topic("st-a", codec.UP_TELEMETRY), b"garbage again")
    assert quarantine_alarms(await alarms(svc, "st-a")) == [("uplink_quarantined", None)]


async def test_uplinks_another_ingest_process_quarantined_raise_the_alarm_here(service: SupervisorService) -> None:
    """With shared subscriptions an ingest-only process (no alarm engine) stores part of the
    uplinks: what it quarantines raises the alarm on the supervisor that runs the engine."""
    other = SupervisorService(service.storage, service.config, wall_clock=service.clock)
    await other.start(open_storage=False)
    other.ingest.handle(codec.up_topic("st-c", codec.UP_TELEMETRY), b"{not json")
    await other.ingest.flush()
    assert ("st-c", "uplink_quarantined") in {(a["station_id"], a["code"]) for a in await alarms(service)}
