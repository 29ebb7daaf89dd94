"""The heating-season calendar end to end: the real supervisor (`serve`, its season task) and
the real `heatkeeper station` process on a real Mosquitto. The station reports the calendar
version it runs in its telemetry, takes the city's extension (a new version), refuses garbage on
the season topic (keeping what it has, `season_rejected` event) and keeps the calendar through a
power cut with the supervisor gone and no retained message left at the broker.

Needs the station side of the calendar (core.season, StationController.set_season and the
`season_version` telemetry): skipped on a tree without it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from heatkeeper.core import codec
from heatkeeper.core.station import StationController
from heatkeeper.supervisor import config as sup_config
from heatkeeper.tools.sim.rig import wait_for

from .test_station_forecast import SupervisorThread

pytestmark = pytest.mark.skipif(not hasattr(StationController, "set_season"),
                                reason="needs StationController.set_season (core/season.py, the station's calendar)")


def test_calendar_reaches_the_station_and_survives_a_restart(make_rig, tmp_path) -> None:
    rig = make_rig(station_overrides={"station": {"telemetry_interval_s": 2.0}})
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    start, end = today - dt.timedelta(days=10), today + dt.timedelta(days=10)
    if (start.month, start.day) == (2, 29) or (end.month, end.day) == (2, 29):
        start, end = start - dt.timedelta(days=1), end + dt.timedelta(days=1)
    assert rig.broker is not None
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": False},
        "mqtt": {"port": rig.broker.port, "protocol": "5"},
        "web": {"enabled": False},
        "season": {"cities": {"arxan": {"start": start.strftime("%m-%d"), "end": end.strftime("%m-%d")}}},
        "station": [{"id": rig.station_id, "city": "arxan"}],
    })
    sup = SupervisorThread(cfg).start()
    try:
        values = rig.wait_telemetry(lambda v: v.get("season_version") == 1, 60, "season version 1")
        assert values["in_season"] in (1, True), values
        service = sup.ready[0]
        legal = dt.date.fromisoformat(service.season.calendars["arxan"]["legal_last_day"])
        fut = asyncio.run_coroutine_threadsafe(
            service.season.extend("arxan", (legal + dt.timedelta(days=5)).isoformat(), "cold spring", "ada"), sup.loop)
        assert fut.result(30)["version"] == 2
        rig.wait_telemetry(lambda v: v.get("season_version") == 2, 60, "season version 2")
    finally:
        sup.stop()
    # garbage on the season topic (an empty retained payload also clears the broker's copy):
    # refused with a reason, the calendar held stays
    assert rig.recorder is not None
    _publish_retained_empty(rig)
    wait_for(lambda: any(m["body"].get("kind") == "season_rejected" for m in rig.recorder.uplinks("event", rig.station_id)),
             30, "the season_rejected event")
    seq = rig.last_seq()
    rig.wait_telemetry(lambda v: v.get("season_version") == 2, 30, "the version after garbage", after_seq=seq)
    # power cut; no supervisor, nothing retained: the station still has its calendar
    rig.restart_station()
    seq = rig.last_seq()
    values = rig.wait_telemetry(lambda v: "season_version" in v, 90, "telemetry after the restart", after_seq=seq)
    assert values["season_version"] == 2, values


def _publish_retained_empty(rig: Any) -> None:
    """An empty retained message on the station's season topic, from a client of its own."""
    import aiomqtt

    async def pub() -> None:
        async with aiomqtt.Client("127.0.0.1", rig.broker.port, identifier="hil-season-clear") as client:
            await client.publish(codec.season_topic(rig.station_id), b"", qos=1, retain=True)

    asyncio.run(pub())
