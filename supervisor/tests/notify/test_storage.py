"""The notification tables on both backends (SQLite and a real PostgreSQL): incidents and
messages round-trip, attempts are kept in order, alarm-log events and acknowledgements are read
back as the notifier needs them, the cursor survives."""

from __future__ import annotations

from typing import Any


async def test_notify_tables_round_trip(storage: Any) -> None:
    assert await storage.notify_cursor("alarm_log") is None
    await storage.record_alarm("st-1", "pump1_fault", "major", True, 100.0, "pump", {"value": 3.5, "limit": 2.0})
    await storage.record_alarm("st-1", "pump1_fault", "major", False, 160.0, "", None)
    events = await storage.alarm_events_after(0)
    assert [(e["code"], e["active"], e["ts"]) for e in events] == [("pump1_fault", True, 100.0),
                                                                  ("pump1_fault", False, 160.0)]
    assert events[0]["value"] == {"value": 3.5, "limit": 2.0}
    assert await storage.alarm_events_after(events[-1]["id"]) == []
    assert await storage.last_alarm_log_id() == events[-1]["id"]
    await storage.set_notify_cursor("alarm_log", events[-1]["id"])
    await storage.set_notify_cursor("alarm_log", events[-1]["id"] + 0)
    assert await storage.notify_cursor("alarm_log") == events[-1]["id"]

    await storage.record_alarm("st-1", "pressure_low", "major", True, 200.0, "", None)
    assert await storage.alarm_acks([("st-1", "pressure_low")]) == {}
    await storage.mark_alarm_acked("st-1", "pressure_low", "oli", 260.0)
    assert await storage.alarm_acks([("st-1", "pressure_low"), ("st-1", "nope")]) == {("st-1", "pressure_low"):
                                                                                      ("oli", 260.0)}

    inc = {"incident_id": "i1", "station_id": "st-1", "code": "pressure_low", "severity": "major", "since_ts": 200.0,
           "text": "低压", "value": {"value": 80.0}, "lim": 100.0, "flaps": 0, "repeats": 0, "state": "open",
           "level": 0, "next_escalation_ts": 500.0, "first_sent_ts": None, "cleared_ts": None, "acked_by": None,
           "acked_ts": None, "closed_ts": None}
    await storage.save_incident(inc)
    await storage.save_incident({**inc, "level": 1, "acked_by": "oli", "acked_ts": 260.0})
    (back,) = await storage.open_incidents()
    assert back == {**inc, "level": 1, "acked_by": "oli", "acked_ts": 260.0}
    await storage.save_incident({**inc, "state": "closed"})
    assert await storage.open_incidents() == []

    msg = {"message_id": "m1", "incident_id": "i1", "created_ts": 201.0, "kind": "raise", "person": "zhang",
           "channel": "hook", "level": 0, "lang": "zh", "station_id": "st-1", "code": "pressure_low",
           "severity": "major", "subject": "[报警] 低压", "body": "{}", "state": "pending", "attempts": 0,
           "next_attempt_ts": 201.0, "sent_ts": None, "last_error": ""}
    await storage.save_message(msg)
    await storage.record_attempt("m1", 201.0, False, "HTTP 500", 0.1)
    await storage.record_attempt("m1", 231.0, True, "HTTP 200", 0.05)
    await storage.save_message({**msg, "state": "sent", "attempts": 2, "sent_ts": 231.0})
    assert [m["state"] for m in await storage.messages(10)] == ["sent"]
    assert await storage.messages(10, state="pending") == []
    tries = (await storage.attempts(["m1"]))["m1"]
    assert [(t["ts"], t["ok"], t["detail"]) for t in tries] == [(201.0, False, "HTTP 500"), (231.0, True, "HTTP 200")]

    await storage.apply_notify_retention(210.0)  # the first attempt and the (delivered) message go
    assert [t["ok"] for t in (await storage.attempts(["m1"]))["m1"]] == [True]
    assert await storage.messages(10) == []
    await storage.save_message({**msg, "message_id": "m2"})  # still to deliver: kept whatever its age
    await storage.save_incident({**inc, "state": "closed", "closed_ts": 300.0})
    await storage.apply_notify_retention(1e9)
    assert [m["message_id"] for m in await storage.messages(10)] == ["m2"] and await storage.incidents(10) == []


async def test_alarm_events_carry_the_value_against_its_limit(storage: Any) -> None:
    """Events read from the alarm log carry the alarm's value and its limit (the evidence columns)."""
    await storage.record_alarm("st-1", "comfort_low", "alarm", True, 100.0, "", 16.2)
    (ev,) = await storage.alarm_events_after(0)
    assert ev["value"] == 16.2 and ev["limit"] is None
    await storage.record_alarm("st-1", "comfort_below_floor", "major", True, 110.0, "", 16.4, limit=18.0)
    (ev,) = await storage.alarm_events_after(1)
    assert ev["value"] == 16.4 and ev["limit"] == 18.0
