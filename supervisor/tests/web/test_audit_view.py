"""The audit log read back into events: every format the service, the command tracker and the
web layer write, as they write it (the rows come from the real writers where they are cheap
to drive, else in their exact stored form)."""

from __future__ import annotations

from typing import Any

from heatkeeper.supervisor.web import audit_view


def row(action: str, detail: str, result: str) -> dict[str, Any]:
    return {"ts": 1.0, "user": "oli", "action": action, "station_id": "st-a", "detail": detail, "result": result}


def test_commands_at_every_stage() -> None:
    sent = audit_view.describe(row("command:set_supply_setpoint",
                                   "c0123 {'supply_setpoint_c': 52.0, 'lease_s': 1800.0}", "sent"))
    assert sent == {"event": "command", "stage": "sent", "kind": "set_supply_setpoint", "command_id": "c0123",
                    "args": {"supply_setpoint_c": 52.0}, "lease_s": 1800.0}
    refused = audit_view.describe(row("command:set_mode", "{'mode': 'turbo'} mode='turbo': must be one of auto",
                                      "refused:bad_args"))
    assert refused["stage"] == "refused" and refused["reason"] == "bad_args"
    assert refused["args"] == {"mode": "turbo"} and refused["detail"] == "mode='turbo': must be one of auto"
    answer = audit_view.describe(row("ack:set_room_setpoint",
                                     "c9 out_of_range room_setpoint_c=27.0 degC: must be in [16.0, 24.0]", "rejected"))
    assert answer == {"event": "command", "stage": "answer", "kind": "set_room_setpoint", "command_id": "c9",
                      "reason": "out_of_range", "detail": "room_setpoint_c=27.0 degC: must be in [16.0, 24.0]"}
    late = audit_view.describe(row("timeout:set_mode", "c7", "timed_out"))
    assert late == {"event": "command", "stage": "timeout", "kind": "set_mode", "command_id": "c7"}
    not_sent = audit_view.describe(row("command:boost", "c5 {'boost_k': 2.0, 'duration_s': 3600.0}", "not_sent"))
    assert not_sent["args"] == {"boost_k": 2.0, "duration_s": 3600.0} and not_sent["lease_s"] is None


def test_users_logins_and_the_rest() -> None:
    assert audit_view.describe(row("create_user", "nina as operator", "ok")) == {
        "event": "create_user", "target": "nina", "role": "operator"}
    assert audit_view.describe(row("update_user", "vic role=admin password disabled", "ok")) == {
        "event": "update_user", "target": "vic", "role": "admin", "password": True, "disabled": True}
    assert audit_view.describe(row("update_user", "vic enabled", "ok"))["disabled"] is False
    assert audit_view.describe(row("login", "too many attempts (address limit) from 10.0.0.9", "refused")) == {
        "event": "login", "limit": "address", "from": "10.0.0.9"}
    assert audit_view.describe(row("login", "12 refused or failed logins were counted but not itemised", "summary")) == {
        "event": "login", "count": 12}
    assert audit_view.describe(row("denied", "POST /api/stations/st-a/commands: send commands", "forbidden")) == {
        "event": "denied", "request": "POST /api/stations/st-a/commands"}
    assert audit_view.describe(row("ack_alarm", "uplink_quarantined", "recorded")) == {
        "event": "ack_alarm", "code": "uplink_quarantined"}
    assert audit_view.describe(row("daily_report", "/var/r/2026-01-05.csv", "ok"))["path"] == "/var/r/2026-01-05.csv"
    # what this version cannot read stays "other" (the page shows it as stored in English)
    assert audit_view.describe(row("rebooted", "{'a': (", "ok")) == {"event": "other"}
    assert audit_view.describe(row("command:set_mode", "c1 {'mode': (", "sent"))["kind"] == "set_mode"


async def test_the_api_serves_each_row_with_its_event(client: Any, service: Any) -> None:
    from .conftest import login

    await service.audit_log.record(user="oli", action="command:set_room_setpoint", station_id="st-a",
                               detail="c42 {'room_setpoint_c': 21.0, 'lease_s': 3600.0}", result="sent")
    await login(client, "oli")
    resp = await client.get("/api/audit?limit=50")
    assert resp.status == 200
    rows = (await resp.json())["audit"]
    mine = [r for r in rows if r["action"] == "command:set_room_setpoint"]
    assert mine and mine[0]["detail"].startswith("c42 ")  # the row as stored, and in words beside it
    assert mine[0]["words"] == {"event": "command", "stage": "sent", "kind": "set_room_setpoint", "command_id": "c42",
                                "args": {"room_setpoint_c": 21.0}, "lease_s": 3600.0}
    assert all("words" in r for r in rows)


def test_notification_rows_in_words() -> None:
    """The notifier's rows (as delivery.py and notifier.py write them) are events the page can say
    in the reader's language; they were "other": "Other" with no detail in Chinese."""
    from heatkeeper.supervisor.web import i18n

    sent = audit_view.describe(row("notify_sent", "raise makeup_leak_rate to duty-zhang via outbox (message 3807c55c7c28eba4, "
                                   "attempt 1): written to /tmp/demo/notify-outbox.jsonl", "sent"))
    assert sent == {"event": "notify", "stage": "sent", "kind": "raise", "code": "makeup_leak_rate",
                    "person": "duty-zhang", "channel": "outbox", "attempt": 1,
                    "detail": "written to /tmp/demo/notify-outbox.jsonl"}
    queued = audit_view.describe(row("notify_queued", "raise valve_shut_rising to duty-zhang via outbox "
                                     "(message 25715c2e6d62ad5f)", "level 0"))
    assert queued == {"event": "notify", "stage": "queued", "kind": "raise", "code": "valve_shut_rising",
                      "person": "duty-zhang", "channel": "outbox"}
    failed = audit_view.describe(row("notify_failed", "clear pump1_fault to li via wecom (message m1, attempt 4): "
                                     "HTTP 502", "failed"))
    assert failed["stage"] == "failed" and failed["detail"] == "HTTP 502" and failed["attempt"] == 4
    assert audit_view.describe(row("notify_attempt", "raise pump1_fault to li via smtp (message m2, attempt 2): "
                                   "timed out", "retry"))["stage"] == "attempt"
    assert audit_view.describe(row("notify_suppressed", "raise pump1_fault to li via smtp", "dup")) == {
        "event": "notify", "stage": "suppressed", "kind": "raise", "code": "pump1_fault", "person": "li",
        "channel": "smtp"}
    assert audit_view.describe(row("notify_escalate", "makeup_leak_rate unacknowledged for 15 min: to wang",
                                   "level 1")) == {"event": "notify", "stage": "escalate", "code": "makeup_leak_rate",
                                                   "minutes": 15.0, "person": "wang"}
    assert audit_view.describe(row("notify_ack", "makeup_leak_rate acknowledged by oli after 174 s", "ok")) == {
        "event": "notify", "stage": "ack", "code": "makeup_leak_rate", "by": "oli", "after_s": 174.0}
    assert audit_view.describe(row("notify_ack_link", "makeup_leak_rate by zhang (message m3)", "ok")) == {
        "event": "notify", "stage": "ack_link", "code": "makeup_leak_rate", "person": "zhang"}
    # a form this version does not know stays "other"
    assert audit_view.describe(row("notify_sent", "something new", "sent")) == {"event": "other"}
    cats = i18n.load_catalogues()
    for stage in ("queued", "sent", "failed", "attempt", "suppressed", "escalate", "ack", "ack_link"):
        for lang in ("en", "zh"):
            assert "audit.ev.notify_" + stage in cats[lang], (lang, stage)
