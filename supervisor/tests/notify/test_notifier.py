"""The notification engine on a fake clock against a real database and a real webhook server:
who is told (rota, hand-over), escalation until someone acknowledges, duplicates and flapping
folded into one message with a count, retries with back-off, a failing channel raised as an
alarm to the other channels, the daily digest, the rate limit, and the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from heatkeeper.supervisor.channel_failures import ChannelFailures
from heatkeeper.supervisor.collectors import CollectorHub
from heatkeeper.supervisor.fleet_alarms import FleetAlarms
from heatkeeper.supervisor.notify import links
from heatkeeper.supervisor.notify.notifier import ALARM_CHANNEL_FAILED, Notifier
from heatkeeper.supervisor.notify.webhook import verify
from heatkeeper.supervisor.storage import open_storage

from .conftest import ROTA_START_TS, FakeClock, Receiver, notify_config

T0 = ROTA_START_TS + 3 * 3600.0  # Monday 11:00 local, first week: zhang on call, then li


@pytest.fixture
async def rig(tmp_path: Any, receiver: Receiver) -> AsyncIterator[tuple[Notifier, Any, FakeClock, Receiver]]:
    notifier, storage, clock, rec = await make_rig(tmp_path, receiver)
    try:
        yield notifier, storage, clock, rec
    finally:
        await notifier.close()
        await storage.close()


async def make_rig(tmp_path: Any, receiver: Receiver, **notify: Any) -> tuple[Notifier, Any, FakeClock, Receiver]:
    cfg = notify_config(tmp_path, receiver.url("/hook"), **notify)
    storage = open_storage("sqlite", path=cfg["storage"]["path"])
    await storage.open()
    clock = FakeClock(T0)
    notifier = Notifier(storage, cfg, clock)
    await notifier.start()
    return notifier, storage, clock, receiver


def notifier_cfg(notifier: Notifier) -> dict[str, Any]:
    return {"notify": notifier.n, "supervisor": {"utc_offset_h": notifier.offset_h},
            "stations": [{"id": k, "name": v} for k, v in notifier.names.items()]}


def hooks(rec: Receiver) -> list[dict[str, Any]]:
    out = []
    for req in rec.seen:
        assert verify("hook-secret-1", req.headers["X-Heatkeeper-Timestamp"], req.body,
                      req.headers["X-Heatkeeper-Signature"])
        out.append(req.json())
    return out


async def raise_alarm(storage: Any, clock: FakeClock, code: str = "makeup_leak_rate", severity: str = "critical",
                      sid: str = "arxan-01", value: Any = None) -> None:
    await storage.record_alarm(sid, code, severity, True, clock(), "makeup 2.4 m3/h", value)


async def test_on_call_person_told_in_their_language_with_value_limit_and_links(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock, value={"value": 2.4, "limit": 0.8})
    await notifier.tick()
    (msg,) = hooks(rec)
    assert msg["person"]["id"] == "zhang" and msg["event"] == "raise"
    assert msg["station_name"] == "阿尔山 1 号站" and msg["severity"] == "critical" and msg["severity_name"] == "严重"
    assert msg["value"] == 2.4 and msg["limit"] == 0.8
    assert msg["alarm"] == "补水量过大：疑似泄漏或偷水"
    assert "数值: 2.4 (限值 0.8)" in msg["markdown"] and "开始: 2026-11-02 11:00" in msg["markdown"]
    assert msg["station_url"] == "https://heat.example.cn/stations/arxan-01"
    assert msg["ack_url"].startswith("https://heat.example.cn/ack/")
    token = msg["ack_url"].rsplit("/", 1)[1]
    data = links.read_token(notifier.key, token, clock())
    assert (data["station_id"], data["code"], data["person"]) == ("arxan-01", "makeup_leak_rate", "zhang")
    sent = await storage.messages(10)
    assert [(m["person"], m["channel"], m["state"], m["attempts"]) for m in sent] == [("zhang", "hook", "sent", 1)]
    actions = [r["action"] for r in await storage.audit_rows(50, "arxan-01")]
    assert "notify_queued" in actions and "notify_sent" in actions


async def test_escalation_next_person_leader_manager_until_acknowledged(rig: Any, tmp_path: Any) -> None:
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock)  # critical: every 5 min
    await notifier.tick()
    assert [m["person"]["id"] for m in hooks(rec)] == ["zhang"]
    clock.advance(299)
    await notifier.tick()
    assert len(rec.seen) == 1
    clock.advance(1)
    await notifier.tick()
    msgs = hooks(rec)
    assert [m["person"]["id"] for m in msgs] == ["zhang", "li"]
    assert msgs[1]["event"] == "escalate" and msgs[1]["level"] == 1
    assert "ESCALATED" in msgs[1]["subject"]  # li reads English
    clock.advance(300)
    await notifier.tick()
    assert [m["person"]["id"] for m in hooks(rec)] == ["zhang", "li", "wang"]
    outbox = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["person"] for x in outbox] == ["wang"]  # the leader's second channel
    # acknowledged on the dashboard (any path that marks the alarm): no manager call
    await storage.mark_alarm_acked("arxan-01", "makeup_leak_rate", "oli", clock())
    clock.advance(600)
    await notifier.tick()
    assert len(rec.seen) == 3 and len((tmp_path / "outbox.jsonl").read_text().splitlines()) == 1
    (inc,) = await storage.incidents(5)
    assert inc["acked_by"] == "oli" and inc["level"] == 2 and inc["acked_ts"] - inc["since_ts"] == 600
    view = await notifier.overview()
    assert view["tta"] == {"n": 1, "median_s": 600.0, "max_s": 600.0}


async def test_unacknowledged_reaches_the_manager_and_stops_there(rig: Any, tmp_path: Any) -> None:
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock, severity="alarm")  # every 10 min
    for _ in range(8):
        await notifier.tick()
        clock.advance(600)
    people = [m["person"]["id"] for m in hooks(rec)]
    box = [json.loads(x)["person"] for x in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert people == ["zhang", "li", "wang"] and box == ["wang", "zhao"]


async def test_warning_without_escalation_setting_tells_only_the_on_call(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")
    for _ in range(5):
        await notifier.tick()
        clock.advance(3600)
    assert [m["person"]["id"] for m in hooks(rec)] == ["zhang"]


async def test_rota_hands_over_weekly_at_the_handover_time(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    clock.t = ROTA_START_TS + 7 * 86400.0 - 1  # Monday of week 2, 07:59:59 local: still zhang's shift
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")
    await notifier.tick()
    clock.advance(1)  # 08:00: li takes over
    await raise_alarm(storage, clock, code="pump2_fault", severity="warning")
    await notifier.tick()
    clock.advance(7 * 86400.0)  # week 3: back to zhang
    await raise_alarm(storage, clock, code="pressure_low", severity="warning")
    await notifier.tick()
    assert [(m["code"], m["person"]["id"]) for m in hooks(rec)] == [
        ("pump1_fault", "zhang"), ("pump2_fault", "li"), ("pressure_low", "zhang")]


async def test_duplicates_and_flapping_are_one_message_with_a_count(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    code = "uplink_quarantined"  # a supervisor alarm, re-recorded while it lasts
    for _ in range(3):
        await raise_alarm(storage, clock, code=code, severity="warning")
        clock.advance(10)
    await notifier.tick()
    assert len(rec.seen) == 1
    for _ in range(4):  # comes and goes within the flap window
        await storage.record_alarm("arxan-01", code, "warning", False, clock(), "", None)
        clock.advance(60)
        await notifier.tick()
        await raise_alarm(storage, clock, code=code, severity="warning")
        clock.advance(60)
        await notifier.tick()
    assert len(rec.seen) == 1
    await storage.record_alarm("arxan-01", code, "warning", False, clock(), "", None)
    await notifier.tick()
    clock.advance(599)
    await notifier.tick()
    assert len(rec.seen) == 1  # still within the flap window
    clock.advance(1)
    await notifier.tick()
    msgs = hooks(rec)
    assert [m["event"] for m in msgs] == ["raise", "clear"]
    assert msgs[1]["count"] == 5 and "反复出现: 5 次" in msgs[1]["markdown"]
    (inc,) = await storage.incidents(5)
    assert inc["flaps"] == 4 and inc["repeats"] == 2 and inc["state"] == "closed"


async def test_same_alarm_again_within_dedup_is_suppressed(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")
    await notifier.tick()
    await storage.record_alarm("arxan-01", "pump1_fault", "warning", False, clock(), "", None)
    clock.advance(601)  # past the flap window: the incident closes, a clear message
    await notifier.tick()
    clock.advance(1)
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")  # a new incident...
    await notifier.tick()
    states = [(m["kind"], m["state"]) for m in reversed(await storage.messages(10))]
    assert states == [("raise", "sent"), ("clear", "sent"), ("raise", "sent")]  # ... 602 s after: not a duplicate
    notifier.n["dedup_s"] = 3600.0
    await storage.record_alarm("arxan-01", "pump1_fault", "warning", False, clock(), "", None)
    clock.advance(600)
    await notifier.tick()
    clock.advance(1)
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")
    await notifier.tick()
    assert (await storage.messages(1))[0]["state"] == "suppressed"


async def test_retries_with_backoff_then_delivered(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    rec.answers = [(500, {"error": "busy"}), (503, {"error": "busy"})]
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")
    await notifier.tick()
    clock.advance(29)
    await notifier.tick()
    assert len(rec.seen) == 1  # back-off: 30 s
    clock.advance(1)
    await notifier.tick()
    assert len(rec.seen) == 2
    clock.advance(59)
    await notifier.tick()
    assert len(rec.seen) == 2  # then 60 s
    clock.advance(1)
    await notifier.tick()
    (msg,) = await storage.messages(5)
    assert msg["state"] == "sent" and msg["attempts"] == 3
    tries = (await storage.attempts([msg["message_id"]]))[msg["message_id"]]
    assert [t["ok"] for t in tries] == [False, False, True] and "HTTP 500" in tries[0]["detail"]
    assert [t["ts"] - T0 for t in tries] == [0.0, 30.0, 90.0]


def alarm_engine(tmp_path: Any, rec: Receiver, storage: Any, clock: FakeClock, channels: ChannelFailures,
                 priority: str) -> FleetAlarms:
    """The supervisor's alarm engine as `serve` runs it beside the notifier (no stations here:
    only the site's own rules), with notify_channel_failed at `priority`."""
    cfg = notify_config(tmp_path, rec.url("/hook"))
    cfg = {**cfg, "stations": [], "fleet_alarms": {**cfg["fleet_alarms"], "notify_channel_failed_priority": priority}}
    hub = CollectorHub(storage, {}, cfg["collectors"]["min_temp_c"], cfg["collectors"]["max_temp_c"],
                       cfg["collectors"]["max_age_s"], clock)
    return FleetAlarms(storage, cfg, {}, hub, clock, channels=channels)


async def test_failing_channel_raises_an_alarm_sent_over_the_others(rig: Any, tmp_path: Any,
                                                                    process_channels: ChannelFailures) -> None:
    """A channel failing every retry is reported to the supervisor's alarm model: its engine
    raises notify_channel_failed once, with the priority the alarm settings give it (the notifier
    records no alarm itself), and clears it when the channel delivers again, also after a restart."""
    notifier, storage, clock, rec = rig
    engine = alarm_engine(tmp_path, rec, storage, clock, process_channels, "critical")
    rec.default = (500, {"error": "down"})
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning", sid="arxan-02")
    for _ in range(5):
        await notifier.tick()
        await engine.evaluate()
        clock.advance(3600)
    msgs = await storage.messages(20)
    failed = [m for m in msgs if m["state"] == "failed"]
    assert len(failed) == 1 and failed[0]["attempts"] == 3 and "HTTP 500" in failed[0]["last_error"]
    assert set(process_channels.failing) == {"hook"}
    (alarm,) = await storage.alarm_rows("supervisor", True)
    assert alarm["code"] == ALARM_CHANNEL_FAILED and "hook" in alarm["text"]
    assert alarm["severity"] == "critical"  # the alarm settings' priority, not one of the notifier's own
    raises = [r for r in await storage.alarm_history("supervisor", 50) if r["active"]]
    assert len(raises) == 1
    # told over the outbox only (the failing webhook is left out for this alarm): the leader,
    # then the manager (nobody acknowledged)
    box = [json.loads(x) for x in (tmp_path / "outbox.jsonl").read_text().splitlines()]
    assert box and all(b["code"] == ALARM_CHANNEL_FAILED for b in box)
    assert not [m for m in msgs if m["code"] == ALARM_CHANNEL_FAILED and m["channel"] == "hook"]
    overview = await notifier.overview()
    assert "hook" in overview["failing"]
    # a restart (a new process: nothing reported yet) keeps knowing which channel fails
    await notifier.close()
    after_restart = ChannelFailures()
    restarted = Notifier(storage, notifier_cfg(notifier), clock, failures=after_restart)
    await restarted.start()
    assert set(restarted.failing) == {"hook"} and set(after_restart.failing) == {"hook"}
    notifier.__dict__.update(restarted.__dict__)
    engine = alarm_engine(tmp_path, rec, storage, clock, after_restart, "critical")
    assert await engine.evaluate() == []  # still failing: not raised twice
    # the channel works again: the next delivery clears the alarm
    rec.default = (200, {})
    await raise_alarm(storage, clock, code="pressure_low", severity="warning")
    await notifier.tick()
    assert await engine.evaluate() == [("supervisor", ALARM_CHANNEL_FAILED, False)]
    assert await storage.alarm_rows("supervisor", True) == []
    assert notifier.failing == {}


async def test_daily_digest_of_low_priority(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    clock.t = ROTA_START_TS + 86400.0 - 3600.0 * 5  # Monday 03:00 local... of Tuesday's digest day
    for code in ("cycle_overrun", "io_timeout"):
        await raise_alarm(storage, clock, code=code, severity="info")
        await notifier.tick()
        clock.advance(60)
    assert rec.seen == []  # low priority: not sent at once
    clock.t = ROTA_START_TS + 86400.0 - 1  # Tuesday 07:59:59
    await notifier.tick()
    assert rec.seen == []
    clock.advance(1)
    await notifier.tick()
    await notifier.tick()
    (digest,) = hooks(rec)
    assert digest["event"] == "digest" and digest["count"] == 2 and digest["person"]["id"] == "zhang"
    assert "控制周期超时" in digest["markdown"] and "过程数据读取超时" in digest["markdown"]


async def test_rate_limit_defers_not_drops(tmp_path: Any, receiver: Receiver) -> None:
    notifier, storage, clock, rec = await make_rig(tmp_path, receiver, rate_per_min=2)
    try:
        for i in range(5):
            await raise_alarm(storage, clock, code="sensor_%d" % i, severity="warning")
        await notifier.tick()
        assert len(rec.seen) == 2
        clock.advance(30)
        await notifier.tick()
        assert len(rec.seen) == 2
        clock.advance(30)
        await notifier.tick()
        clock.advance(60)
        await notifier.tick()
        assert len(rec.seen) == 5
    finally:
        await notifier.close()
        await storage.close()


async def test_acknowledge_link_stops_escalation_and_is_audited(rig: Any) -> None:
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock, code="uplink_quarantined", severity="critical")
    await notifier.tick()
    token = hooks(rec)[0]["ack_url"].rsplit("/", 1)[1]
    clock.advance(120)
    await notifier.acknowledge_link(token)
    clock.advance(3600)
    await notifier.tick()
    assert len(rec.seen) == 1
    (row,) = await storage.alarm_rows("arxan-01", False)
    assert row["acked_by"] == "notify:zhang" and row["acked_ts"] == T0 + 120
    (inc,) = await storage.incidents(1)
    assert inc["acked_ts"] - inc["since_ts"] == 120
    actions = {r["action"]: r["result"] for r in await storage.audit_rows(50, "arxan-01")}
    assert actions["notify_ack_link"] == "ok" and actions["notify_ack"] == "ok"
    forged = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]  # one signature byte changed
    with pytest.raises(links.BadLink, match="not signed"):
        await notifier.acknowledge_link(forged)
    clock.advance(24 * 3600)
    with pytest.raises(links.BadLink, match="expired"):
        await notifier.acknowledge_link(token)


async def test_restart_keeps_incidents_and_does_not_resend_history(tmp_path: Any, receiver: Receiver) -> None:
    storage = open_storage("sqlite", path=str(tmp_path / "sup.db"))
    await storage.open()
    await raise_alarm(storage, FakeClock(T0 - 3600), code="old_one", severity="critical")  # before notifications
    await storage.close()
    notifier, storage, clock, rec = await make_rig(tmp_path, receiver)  # first start: history is not sent
    try:
        await raise_alarm(storage, clock, code="new_one", severity="critical")
        await notifier.tick()
        assert [m["code"] for m in hooks(rec)] == ["new_one"]
    finally:
        await notifier.close()
        await storage.close()
    notifier, storage, clock, rec = await make_rig(tmp_path, receiver)
    try:
        clock.advance(300)
        await notifier.tick()  # the open incident survived the restart: it escalates
        assert [m["person"]["id"] for m in hooks(rec)] == ["zhang", "li"]
    finally:
        await notifier.close()
        await storage.close()


async def test_a_row_committed_late_below_the_newest_id_is_still_dispatched(rig: Any) -> None:
    """PostgreSQL gives out serial ids before commit: a row may appear below the newest id seen."""
    notifier, storage, clock, rec = rig
    await raise_alarm(storage, clock, code="pump1_fault", severity="warning")
    await raise_alarm(storage, clock, code="pump2_fault", severity="warning")
    (row,) = await storage.fetch("SELECT id, station_id, code, severity, active, ts, text, value FROM alarm_log "
                                 "WHERE code = 'pump1_fault'")
    await storage.execute("DELETE FROM alarm_log WHERE id = ?", (row[0],))  # not committed yet
    await notifier.tick()
    assert [m["code"] for m in hooks(rec)] == ["pump2_fault"]
    await storage.execute("INSERT INTO alarm_log (id, station_id, code, severity, active, ts, text, value) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)  # committed now, below the newest id
    await notifier.tick()
    await notifier.tick()
    assert [m["code"] for m in hooks(rec)] == ["pump2_fault", "pump1_fault"]
