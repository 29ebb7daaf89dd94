"""The station's uplink and the season calendar against a real Mosquitto: the calendar retained
on the station's season topic reaches the controller's handler decoded (also when published
before the station connects), and garbage on the topic is refused as a `season_rejected` event
without reaching the controller."""

from __future__ import annotations

import asyncio
import contextlib

from heatkeeper.core import codec
from heatkeeper.firmware.outbox import Outbox
from heatkeeper.firmware.uplink import CommandGate, RecentAcks, Uplink
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until

from .test_uplink import mqtt_cfg, no_commands

CALENDAR = {"city": "arxan", "version": 4, "issued_s": 1762000000.0, "start_s": 1763136000.0,
            "end_s": 1773590400.0, "preheat_s": 259200.0}


async def test_calendar_retained_reaches_the_controller_and_garbage_is_refused(tmp_path, mosquitto) -> None:
    box = Outbox(str(tmp_path / "outbox.sqlite"), "st-s")
    cfg = mqtt_cfg(mosquitto.port)
    events: list = []
    calendars: list = []
    link = Uplink("st-s", cfg, box, CommandGate("st-s", no_commands, cfg, RecentAcks()), lambda readings: None,
                  lambda kind, body: events.append((kind, body)), on_season=calendars.append)
    async with Listener(mosquitto.port, codec.up_topic("st-s", "+"), identifier="season-sup") as supervisor:
        topic, payload = codec.encode_season("st-s", 1762000001.0, CALENDAR)
        await supervisor.publish(topic, payload, retain=True)  # before the station is there
        task = asyncio.create_task(link.run())
        try:
            await wait_until(lambda: calendars, what="the retained calendar")
            assert calendars == [CALENDAR]
            await supervisor.publish(codec.season_topic("st-s"), b'{"v": 1, "city": "arxan", "version": 0}')
            # the link's own events (uplink_connected) may come before or after the calendar
            refusals = lambda: [b for k, b in events if k == "event" and b.get("kind") == "season_rejected"]  # noqa: E731
            await wait_until(refusals, what="the refusal")
            [body] = refusals()
            assert body["reason"] == "bad_field"
            assert "version" in body["detail"]
            topic, payload = codec.encode_season("st-s", 1762000002.0, dict(CALENDAR, version=5))
            await supervisor.publish(topic, payload, retain=True)
            await wait_until(lambda: len(calendars) == 2, what="the next version")
            assert calendars[-1]["version"] == 5, "the refused one never reached the controller"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
