"""The cities' season calendars and the scheduled season start-ups, on both storage backends,
through the real service, ingest and command tracker (the broker connection is a recorder here;
tests/test_season_e2e.py runs them against Mosquitto)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.core.modes import MODE_NAMES
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
from heatkeeper.supervisor.season import RESEND_S, SeasonError
from heatkeeper.supervisor.season_startup import MAX_ATTEMPTS, StartupError
from heatkeeper.supervisor.service import SupervisorService

from .test_service import Clock, Wire, telemetry
from .test_settings_push import ack, acks_recorded, online, sent_commands

NOW = dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp()
START_2025 = dt.datetime(2025, 11, 14, 16, tzinfo=dt.UTC).timestamp()  # 2025-11-15 00:00 Asia/Shanghai
END_2025 = dt.datetime(2026, 3, 15, 16, tzinfo=dt.UTC).timestamp()  # 2026-03-15 24:00 Asia/Shanghai
ARXAN = ["a-1", "a-2", "a-3"]
MODE = {name: i for i, name in enumerate(MODE_NAMES)}


def season_config(data_dir: str, calendars: bool = True) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "supervisor": {"data_dir": data_dir},
        "storage": {"batch_interval_s": 0.05},
        "station": [{"id": "a-1", "city": "Arxan", "class": "tower"}, {"id": "a-2", "city": "Arxan", "class": "tower"},
                    {"id": "a-3", "city": "Arxan"}, {"id": "h-1", "city": "Hailar"}],
    }
    if calendars:
        raw["season"] = {"start": "11-15", "end": "03-15", "cities": {"Arxan": {"preheat_h": 72}}}
    return sup_config.validate(raw)


async def make_service(storage: Any, tmp_path: Any, clock: Clock, calendars: bool = True) -> SupervisorService:
    cfg = season_config(str(tmp_path / "sup"), calendars)
    CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(ARXAN + ["h-1"])
    svc = SupervisorService(storage, cfg, wall_clock=clock)
    await svc.start(open_storage=False)
    return svc


async def wired_service(storage: Any, tmp_path: Any) -> tuple[Clock, SupervisorService, Wire]:
    """A started service at NOW whose publishing the returned Wire records."""
    clock = Clock(NOW)
    svc = await make_service(storage, tmp_path, clock)
    wire = Wire()
    svc.link.set_publisher(wire)
    return clock, svc, wire


def seasons_sent(wire: Wire) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for topic, payload, qos, retain in wire.sent:
        area, sid, _ = codec.parse_topic(topic)
        if area == "season":
            assert qos == 1 and retain, "a calendar goes out retained, QoS 1"
            out.setdefault(sid, []).append(codec.decode_season(topic, payload))
    return out


async def audit_actions(storage: Any) -> list[tuple[str, str]]:
    rows = await storage.fetch("SELECT action, result FROM audit ORDER BY ts, action")
    return [(str(a), str(r)) for a, r in rows]


async def test_storage_keeps_calendars_extensions_and_startups(storage: Any) -> None:
    cal = {"city": "Arxan", "version": 1, "issued_s": NOW, "season_year": 2025, "start_s": START_2025,
           "end_s": END_2025, "preheat_s": 3600.0, "first_day": "2025-11-15", "last_day": "2026-03-15",
           "legal_last_day": "2026-03-15"}
    await storage.save_season_calendar(cal)
    assert await storage.season_calendars() == {"Arxan": cal}
    ext = {"city": "Arxan", "season_year": 2025, "last_day": "2026-03-31", "reason": "cold spring, 城市决定",
           "decided_by": "ada", "decided_ts": NOW + 5, "version": 2}
    await storage.save_season_calendar(dict(cal, version=2, last_day="2026-03-31"), ext)
    assert (await storage.season_calendars())["Arxan"]["version"] == 2
    assert await storage.season_extensions("Arxan") == [ext]
    assert await storage.season_extensions("Hailar") == []
    with pytest.raises(Exception):  # the same version twice: the transaction leaves the calendar as it was
        await storage.save_season_calendar(dict(cal, version=3), ext)
    assert (await storage.season_calendars())["Arxan"]["version"] == 2
    item = {"target": "city Arxan", "stations": ["a-1", "a-2"], "fire_s": NOW + 60, "state": "scheduled",
            "created_by": "ada", "created_ts": NOW, "cancelled_by": None, "cancelled_ts": None,
            "fates": {"a-1": {"step": "scheduled"}, "a-2": {"step": "scheduled"}}}
    first = await storage.add_season_startup(dict(item))
    second = await storage.add_season_startup(dict(item, state="cancelled"))
    assert second == first + 1
    got = await storage.season_startup(first)
    assert got is not None and got["stations"] == ["a-1", "a-2"] and got["fates"]["a-1"] == {"step": "scheduled"}
    got["fates"]["a-1"] = {"step": "sent", "command_id": "c1"}
    await storage.save_season_startup(got)
    assert (await storage.season_startup(first))["fates"]["a-1"]["command_id"] == "c1"  # type: ignore[index]
    assert [s["startup_id"] for s in await storage.season_startups(("scheduled",))] == [first]
    assert [s["startup_id"] for s in await storage.season_startups()] == [second, first]
    assert await storage.season_startup(99) is None


async def test_calendar_pushed_versioned_extended_and_rolled_over(storage: Any, tmp_path: Any) -> None:
    clock = Clock(NOW)
    svc = await make_service(storage, tmp_path, clock)
    wire = Wire()
    await svc.season.tick(wire)
    sent = seasons_sent(wire)
    assert sorted(sent) == ARXAN, "only the stations of a city with a calendar; Hailar has none"
    assert sent["a-1"] == [{"city": "Arxan", "version": 1, "issued_s": NOW, "start_s": START_2025,
                            "end_s": END_2025, "preheat_s": 72 * 3600.0}]
    # the city extends its season: refused ones list every problem and change nothing
    with pytest.raises(SeasonError) as bad:
        await svc.season.extend("Arxan", "2026-03-10", "", "ada")
    assert bad.value.problems == ["end=2026-03-10: must be after the legal last day 2026-03-15 of season 2025",
                                  "reason: must be text of 1-300 characters (the city's decision)"]
    with pytest.raises(SeasonError, match="has no"):
        await svc.season.extend("Hailar", "2026-03-31", "x", "ada")
    clock.t += 10
    new = await svc.season.extend("Arxan", "2026-03-31", "cold spring", "ada")
    assert new["version"] == 2 and new["last_day"] == "2026-03-31"
    wire.sent.clear()
    await svc.season.tick(wire)
    sent = seasons_sent(wire)
    assert sorted(sent) == ARXAN and sent["a-2"][0]["version"] == 2
    assert sent["a-2"][0]["end_s"] == END_2025 + 16 * 86400.0 and sent["a-2"][0]["start_s"] == START_2025
    assert ("season:extend", "saved") in await audit_actions(storage)
    assert ("season:extend", "refused") in await audit_actions(storage)
    # a restart on the same storage: the same version, nothing new to record
    again = await make_service(storage, tmp_path, clock)
    wire.sent.clear()
    await again.season.tick(wire)
    assert {s: [m["version"] for m in ms] for s, ms in seasons_sent(wire).items()} == {s: [2] for s in ARXAN}
    # the extended season ends: the next season goes out as version 3
    clock.t = END_2025 + 16 * 86400.0 + 1.0
    wire.sent.clear()
    await again.season.tick(wire)
    nxt = seasons_sent(wire)["a-3"][0]
    assert nxt["version"] == 3 and nxt["start_s"] == START_2025 + 365 * 86400.0
    status = await again.season.status()
    assert status[0]["calendar"]["season_year"] == 2026 and status[0]["extensions"][0]["last_day"] == "2026-03-31"


async def test_station_running_another_version_is_sent_it_again(storage: Any, tmp_path: Any) -> None:
    clock = Clock(NOW)
    svc = await make_service(storage, tmp_path, clock)
    wire = Wire()
    await svc.season.tick(wire)
    await online(svc, "a-1", 1, season_version=1, in_season=0)
    await online(svc, "a-2", 1, season_version=7, in_season=0)  # an old snapshot, a broker without the retained one
    clock.t += 5
    wire.sent.clear()
    await svc.season.tick(wire)
    assert sorted(seasons_sent(wire)) == [], "sent moments ago: not again before RESEND_S"
    clock.t += RESEND_S
    await online(svc, "a-1", 2, season_version=1, in_season=0)
    await online(svc, "a-2", 2, season_version=7, in_season=0)
    await svc.season.tick(wire)
    assert sorted(seasons_sent(wire)) == ["a-2"]
    rows = {r["station_id"]: r for r in (await svc.season.status())[0]["stations"]}
    assert rows["a-1"]["current"] and not rows["a-2"]["current"] and rows["a-3"]["season_version"] is None
    assert rows["a-2"]["in_season"] is False and rows["a-1"]["online"]


async def test_no_calendar_configured_sends_nothing(storage: Any, tmp_path: Any) -> None:
    svc = await make_service(storage, tmp_path, Clock(NOW), calendars=False)
    wire = Wire()
    await svc.season.tick(wire)
    assert wire.sent == [] and await storage.season_calendars() == {}


async def test_startup_schedule_fires_and_records_each_station_fate(storage: Any, tmp_path: Any) -> None:
    clock, svc, wire = await wired_service(storage, tmp_path)
    await svc.season.tick(wire)
    starts = svc.season_startups
    with pytest.raises(StartupError) as bad:
        await starts.schedule(["a-9"], "Nowhere", "", NOW - 3600, "ada")
    assert bad.value.problems == ["station 'a-9': not configured", "city 'Nowhere': no station",
                                  "at: 2025-10-31 23:00 UTC is in the past"]
    item = await starts.schedule(["h-1"], "Arxan", "", NOW + 3600, "ada")
    assert item["stations"] == ["h-1", "a-1", "a-2", "a-3"]
    for i, sid in enumerate(["h-1", "a-1", "a-2"]):
        await online(svc, sid, 1 + i, mode=MODE["auto"])
    await starts.tick()
    assert not [c for s in item["stations"] for c in sent_commands(wire, svc, s)], "nothing before its time"
    clock.t = NOW + 3600
    for sid in ("h-1", "a-1", "a-2"):
        await online(svc, sid, 10, mode=MODE["auto"])
    await starts.tick()
    cmds = {sid: sent_commands(wire, svc, sid) for sid in item["stations"]}
    for sid in ("h-1", "a-1", "a-2"):
        assert [(c["kind"], c["args"]) for c in cmds[sid]] == [("set_mode", {"mode": "startup"})], sid
    assert cmds["a-3"] == []
    prog = {r["station_id"]: r for r in (await starts.progress(item["startup_id"]))["progress"]}
    assert {s: r["step"] for s, r in prog.items()} == {"h-1": "sent", "a-1": "sent", "a-2": "sent", "a-3": "offline"}
    # the stations answer and go through the sequence; one refuses
    await ack(svc, "a-1", cmds["a-1"][0], "applied", "ok", "mode startup")
    await ack(svc, "a-2", cmds["a-2"][0], "applied", "ok", "mode startup")
    await ack(svc, "h-1", cmds["h-1"][0], "rejected", "interlock_latched", "over-temperature trip latched")
    seq = 20
    for step_mode, expect in (("startup_fill", "filling"), ("startup_cold", "cold_circulation"),
                              ("startup_warmup", "warm_up"), ("auto", "done")):
        clock.t += 60
        seq += 1
        await online(svc, "a-1", seq, mode=MODE[step_mode])
        await online(svc, "a-2", seq, mode=MODE["startup_fill" if step_mode != "auto" else "safe"])
        await online(svc, "h-1", seq, mode=MODE["safe"])
        await starts.tick()
        prog = {r["station_id"]: r for r in (await starts.progress(item["startup_id"]))["progress"]}
        assert prog["a-1"]["step"] == expect, step_mode
    assert prog["a-2"]["step"] == "failed" and "safe mode" in prog["a-2"]["reason"]
    assert prog["h-1"]["step"] == "failed" and "interlock_latched" in prog["h-1"]["reason"]
    # a-3 returns before the season starts: it gets the command then
    clock.t = START_2025 - 3600
    await online(svc, "a-3", 1, mode=MODE["summer"])
    await starts.tick()
    assert [c["args"] for c in sent_commands(wire, svc, "a-3")] == [{"mode": "startup"}]
    stored = await storage.season_startup(item["startup_id"])
    assert stored["state"] == "fired" and stored["fates"]["a-3"]["step"] == "sent"
    actions = await audit_actions(storage)
    for action in ("season:startup_schedule", "season:startup_fire", "season:startup_done", "season:startup_failed"):
        assert action in [a for a, _ in actions], action


async def test_a_sample_older_than_the_ack_does_not_end_the_startup(storage: Any, tmp_path: Any) -> None:
    # the station sent sample 7 (still in auto), then took the command and acked it as message 8;
    # the ack reaches the tracker on receipt, sample 7 the live values only once stored: it must
    # not count as "back in auto after the start-up" (CI once saw a station sent -> done at once)
    clock, svc, wire = await wired_service(storage, tmp_path)
    starts = svc.season_startups
    item = await starts.schedule(["a-1"], "", "", NOW, "ada")
    await online(svc, "a-1", 6, mode=MODE["auto"])
    await starts.tick()
    (cmd,) = sent_commands(wire, svc, "a-1")
    assert svc.ingest.handle(*telemetry("a-1", 7, clock(), mode=MODE["auto"])) == "queued"
    topic, payload = codec.encode_uplink("a-1", 8, codec.UP_ACK, clock(), codec.ack_body(cmd["id"], "applied", "ok", ""))
    assert svc.ingest.handle(topic, payload) == "queued"
    await acks_recorded(svc)
    steps = []
    for _ in range(2):  # before and after samples 7 and 8 are stored
        await starts.tick()
        steps.append((await starts.progress(item["startup_id"]))["progress"][0]["step"])
        await svc.ingest.flush()
    assert svc.ingest.state["a-1"]["values_seq"] == 7 and steps == ["sent", "sent"]
    await online(svc, "a-1", 9, mode=MODE["startup_cold"])
    await starts.tick()
    assert (await starts.progress(item["startup_id"]))["progress"][0]["step"] == "cold_circulation"
    await online(svc, "a-1", 10, mode=MODE["auto"])
    await starts.tick()
    assert (await starts.progress(item["startup_id"]))["progress"][0]["step"] == "done"


async def test_offline_station_missed_and_lost_commands_retried(storage: Any, tmp_path: Any) -> None:
    clock, svc, wire = await wired_service(storage, tmp_path)
    await svc.season.tick(wire)
    starts = svc.season_startups
    item = await starts.schedule(["a-1", "a-2"], "", "", NOW, "ada")
    await online(svc, "a-1", 1)
    await starts.tick()
    assert len(sent_commands(wire, svc, "a-1")) == 1
    # no ack: the command times out; the station is sent it again while it is online, at most MAX_ATTEMPTS
    for attempt in range(2, MAX_ATTEMPTS + 2):
        clock.t += svc.config["commands"]["timeout_s"] + 1
        await svc.commands.sweep()
        await online(svc, "a-1", attempt)
        await starts.tick()
    assert len(sent_commands(wire, svc, "a-1")) == MAX_ATTEMPTS
    # a-2 never came back before the season started
    clock.t = START_2025
    await starts.tick()
    prog = {r["station_id"]: r for r in (await starts.progress(item["startup_id"]))["progress"]}
    assert prog["a-1"]["step"] == "failed" and prog["a-1"]["reason"] == "no ack after %d attempts" % MAX_ATTEMPTS
    assert prog["a-2"]["step"] == "missed" and sent_commands(wire, svc, "a-2") == []
    assert (await storage.season_startup(item["startup_id"]))["state"] == "finished"


async def test_cancel_only_before_it_fires(storage: Any, tmp_path: Any) -> None:
    clock, svc, wire = await wired_service(storage, tmp_path)
    starts = svc.season_startups
    item = await starts.schedule([], "", "tower", NOW + 60, "ada")
    assert item["stations"] == ["a-1", "a-2"]
    await starts.cancel(item["startup_id"], "bob")
    clock.t += 120
    await online(svc, "a-1", 1)
    await starts.tick()
    assert sent_commands(wire, svc, "a-1") == []
    with pytest.raises(StartupError, match="only a scheduled one"):
        await starts.cancel(item["startup_id"], "bob")
    with pytest.raises(StartupError, match="no season start-up"):
        await starts.get(42)


async def test_changed_file_dates_make_a_new_version(storage: Any, tmp_path: Any) -> None:
    clock = Clock(NOW)
    svc = await make_service(storage, tmp_path, clock)
    wire = Wire()
    await svc.season.tick(wire)
    cfg = season_config(str(tmp_path / "sup"))
    cfg["season_calendars"]["Arxan"] = dict(cfg["season_calendars"]["Arxan"], start="11-01", preheat_h=24.0)
    changed = SupervisorService(storage, cfg, wall_clock=clock)
    await changed.start(open_storage=False)
    wire.sent.clear()
    await changed.season.tick(wire)
    msg = seasons_sent(wire)["a-1"][0]
    assert msg["version"] == 2 and msg["start_s"] == START_2025 - 14 * 86400.0 and msg["preheat_s"] == 24 * 3600.0
    assert ("season:calendar", "saved") in await audit_actions(storage)
