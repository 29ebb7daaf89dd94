"""The supervisor's own alarm rules on a leaping clock, both storage backends: each rule raises
after its on-delay with its value against its limit, holds on unknown data, clears with its
hysteresis and off-delay, survives a restart, and is acknowledged on the supervisor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import fleet_alarms
from heatkeeper.supervisor.fleet_alarm_settings import in_season
from heatkeeper.supervisor.fleet_alarms import SITE_ID, ChannelFailures
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.testing.mqtt_listener import wait_until

WINTER = 1_800_000_000.0  # 15 January 2027 16:00 local: in the default heating season
SUMMER = 1_783_000_000.0  # 2 July 2026


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_config(**fleet: Any) -> dict[str, Any]:
    return sup_config.validate({
        "fleet_alarms": fleet,
        "station": [{"id": "st-a", "households": 30}, {"id": "st-b", "floor_c": 16.0}],
        "collector": [{"id": "a1", "station": "st-a", "group": "block-1"},
                      {"id": "a2", "station": "st-a", "group": "top-floor"},
                      {"id": "b1", "station": "st-b", "group": "block-1"}],
    })


async def started(storage: Any, t0: float, **fleet: Any) -> tuple[SupervisorService, Clock]:
    clock = Clock(t0)
    svc = SupervisorService(storage, make_config(**fleet), wall_clock=clock)
    svc.fleet_alarms.channels = ChannelFailures()
    await svc.start(open_storage=False)
    await svc.fleet_alarms.start()
    return svc, clock


_seq: dict[str, int] = {}


async def telemetry(svc: SupervisorService, sid: str, ts: float | None = None, **values: Any) -> None:
    """One telemetry sample through the real ingest (received at the service's clock)."""
    _seq[sid] = _seq.get(sid, 0) + 1
    now = svc.clock()
    payload = json.dumps({"v": 1, "station": sid, "seq": _seq[sid] + int(now), "ts": now if ts is None else ts,
                          "kind": codec.UP_TELEMETRY, "body": {"values": values}}).encode()
    assert svc.ingest.handle(codec.up_topic(sid, codec.UP_TELEMETRY), payload) == "queued"
    await svc.ingest.flush()


def reading(svc: SupervisorService, cid: str, temp_c: float) -> None:
    assert svc.collectors.accept(cid, temp_c, svc.clock(), "test") == "stored"


async def active(svc: SupervisorService, sid: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["station_id"], r["code"]): r for r in await svc.storage.alarm_rows(sid, True)}


async def at(svc: SupervisorService, clock: Clock, t: float) -> list[tuple[str, str, bool]]:
    clock.t = t
    return await svc.fleet_alarms.evaluate()


async def test_station_offline_raised_after_n_minutes_and_cleared_by_the_next_uplink(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    clock.t = WINTER + 2
    await telemetry(svc, "st-a", supply_temp_c=60.0)
    assert ("st-a", "station_offline", True) not in await at(svc, clock, WINTER + 299)
    # st-b was never heard: offline once the supervisor has waited as long
    assert ("st-b", "station_offline", True) in await at(svc, clock, WINTER + 301)
    assert ("st-a", "station_offline") not in await active(svc)
    done = await at(svc, clock, WINTER + 303)
    assert ("st-a", "station_offline", True) in done
    row = (await active(svc, "st-a"))[("st-a", "station_offline")]
    assert (row["severity"], row["value"], row["limit"], row["since_ts"]) == ("major", 301.0, 300.0, WINTER + 303)
    assert "no uplink for 5 min" in row["text"]
    assert await at(svc, clock, WINTER + 400) == []  # recorded once, not every pass
    await telemetry(svc, "st-a", supply_temp_c=60.0)
    assert ("st-a", "station_offline", False) in await at(svc, clock, WINTER + 401)
    assert ("st-a", "station_offline") not in await active(svc)


async def test_offline_threshold_is_a_setting(storage: Any) -> None:
    svc, clock = await started(storage, WINTER, offline_after_s=60.0, station_offline_priority="critical")
    await telemetry(svc, "st-a")
    await at(svc, clock, WINTER + 61)
    assert (await active(svc))[("st-a", "station_offline")]["severity"] == "critical"


async def test_station_clock_far_off(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    for step in range(0, 601, 100):  # samples 200 s behind, on-delay 600 s
        clock.t = WINTER + step
        await telemetry(svc, "st-a", ts=clock.t - 200.0)
        await svc.fleet_alarms.evaluate()
        assert (("st-a", "station_clock_off") in await active(svc)) == (step >= 600), step
    row = (await active(svc))[("st-a", "station_clock_off")]
    assert (row["value"], row["limit"], row["severity"]) == (-200.0, 120.0, "minor")
    clock.t = WINTER + 700
    await telemetry(svc, "st-a", ts=clock.t - 90.0)  # inside the limit, not inside the hysteresis (60 s)
    await at(svc, clock, WINTER + 1100)
    assert ("st-a", "station_clock_off") in await active(svc)
    for step in (1200, 1400, 1499):  # back in step: cleared after the 300 s off-delay
        clock.t = WINTER + step
        await telemetry(svc, "st-a", ts=clock.t - 1.0)
        await svc.fleet_alarms.evaluate()
    assert ("st-a", "station_clock_off") in await active(svc)
    clock.t = WINTER + 1500
    await telemetry(svc, "st-a")
    await svc.fleet_alarms.evaluate()
    assert ("st-a", "station_clock_off") not in await active(svc)


async def test_stale_and_dead_collectors_coverage_and_groups_without_a_collector(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    reading(svc, "a1", 20.0)
    reading(svc, "a2", 20.0)
    reading(svc, "b1", 20.0)
    await at(svc, clock, WINTER + 60)
    assert not {code for _s, code in await active(svc)} & {"collector_stale", "collector_coverage_low"}
    clock.t = WINTER + 1790
    reading(svc, "a1", 20.5)
    reading(svc, "b1", 20.5)
    await at(svc, clock, WINTER + 1801)  # a2 silent over 30 min: stale, top-floor without a collector
    rows = await active(svc, "st-a")
    assert rows[("st-a", "collector_stale")]["value"] == 1801.0
    assert rows[("st-a", "collector_stale")]["limit"] == 1800.0
    assert "a2" in rows[("st-a", "collector_stale")]["text"]
    assert rows[("st-a", "group_without_collector")]["value"] == 1.0
    assert "top-floor" in rows[("st-a", "group_without_collector")]["text"]
    # 1 live collector for 30 households: 3.3 % < 5 %
    cov = rows[("st-a", "collector_coverage_low")]
    assert cov["value"] == pytest.approx(100.0 / 30) and cov["limit"] == 5.0
    assert ("st-b", "collector_stale") not in await active(svc)
    for t in range(3600, 21601, 3600):
        clock.t = WINTER + t
        reading(svc, "a1", 20.0)
        reading(svc, "b1", 20.0)
        await svc.fleet_alarms.evaluate()
    await at(svc, clock, WINTER + 21601)  # and after 6 h dead (no longer only stale)
    rows = await active(svc, "st-a")
    assert ("st-a", "collector_dead") in rows and ("st-a", "collector_stale") not in rows
    reading(svc, "a2", 20.0)  # back
    await at(svc, clock, WINTER + 21602)
    assert set(await active(svc, "st-a")) <= {("st-a", "station_offline")}


async def test_a_group_below_its_floor_for_the_on_delay(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    for t in range(0, 1801, 300):
        clock.t = WINTER + t
        reading(svc, "a1", 17.2)
        reading(svc, "a2", 19.0)
        reading(svc, "b1", 17.0)  # st-b's own floor is 16 degC
        await svc.fleet_alarms.evaluate()
        assert (("st-a", "comfort_below_floor") in await active(svc)) == (t >= 1800), t
    row = (await active(svc))[("st-a", "comfort_below_floor")]
    assert (row["value"], row["limit"], row["severity"]) == (17.2, 18.0, "major")
    assert "block-1 17.2 degC" in row["text"]
    assert ("st-b", "comfort_below_floor") not in await active(svc)
    clock.t = WINTER + 2000
    reading(svc, "a1", 18.3)  # above the floor, not yet 0.5 K above: still active
    await svc.fleet_alarms.evaluate()
    clock.t = WINTER + 2400
    await svc.fleet_alarms.evaluate()
    assert ("st-a", "comfort_below_floor") in await active(svc)
    clock.t = WINTER + 2500
    reading(svc, "a1", 18.6)
    await svc.fleet_alarms.evaluate()
    await at(svc, clock, WINTER + 2799)
    assert ("st-a", "comfort_below_floor") in await active(svc)
    await at(svc, clock, WINTER + 2800)
    assert ("st-a", "comfort_below_floor") not in await active(svc)


async def test_a_short_cold_spell_raises_nothing(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    reading(svc, "a1", 17.0)
    await at(svc, clock, WINTER + 1)
    clock.t = WINTER + 1000
    reading(svc, "a1", 18.1)
    await at(svc, clock, WINTER + 1001)
    clock.t = WINTER + 1500
    reading(svc, "a1", 17.5)
    await at(svc, clock, WINTER + 2900)  # 1400 s since it went below again: under the 1800 s on-delay
    assert ("st-a", "comfort_below_floor") not in await active(svc)


async def test_habitual_overheating_needs_a_cold_outdoor(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    for t in range(0, 10801, 1800):
        clock.t = WINTER + t
        await telemetry(svc, "st-a", outdoor_temp_c=-3.0)
        await telemetry(svc, "st-b", outdoor_temp_c=8.0)  # mild outside: warm flats are no waste alarm
        for cid in ("a1", "a2", "b1"):
            reading(svc, cid, 24.5)
        await svc.fleet_alarms.evaluate()
        assert (("st-a", "comfort_overheating") in await active(svc)) == (t >= 10800), t
    row = (await active(svc))[("st-a", "comfort_overheating")]
    assert (row["value"], row["limit"], row["severity"]) == (24.5, 23.0, "warning")
    assert ("st-b", "comfort_overheating") not in await active(svc)


async def test_heating_outage_in_the_season_only(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    for t in range(0, 3601, 600):
        clock.t = WINTER + t
        await telemetry(svc, "st-a", heat_power_kw=0.2, secondary_supply_temp_c=45.0)
        await telemetry(svc, "st-b", pump1_running=0, pump2_running=0, secondary_supply_temp_c=25.0)
        await svc.fleet_alarms.evaluate()
    rows = await active(svc)
    assert (rows[("st-a", "heating_outage")]["value"], rows[("st-a", "heating_outage")]["limit"]) == (0.2, 1.0)
    assert rows[("st-a", "heating_outage")]["severity"] == "critical"
    assert (rows[("st-b", "heating_outage")]["value"], rows[("st-b", "heating_outage")]["limit"]) == (25.0, 30.0)
    clock.t = WINTER + 3700
    await telemetry(svc, "st-a", heat_power_kw=850.0)
    await at(svc, clock, WINTER + 4000)
    assert ("st-a", "heating_outage") in await active(svc)  # off-delay
    await telemetry(svc, "st-a", heat_power_kw=850.0)
    await at(svc, clock, WINTER + 4300)
    assert ("st-a", "heating_outage") not in await active(svc)


async def test_no_outage_alarm_outside_the_season(storage: Any) -> None:
    svc, clock = await started(storage, SUMMER)
    for t in range(0, 7201, 600):
        clock.t = SUMMER + t
        await telemetry(svc, "st-a", heat_power_kw=0.0)
        await svc.fleet_alarms.evaluate()
    assert ("st-a", "heating_outage") not in await active(svc)


def test_the_season_runs_over_the_new_year() -> None:
    season = {"start": "11-15", "end": "03-15"}
    assert in_season(WINTER, season, 8.0) and not in_season(SUMMER, season, 8.0)
    nov14_local_23h = 1_794_671_000.0  # 2026-11-14 15:03 UTC = 23:03 in UTC+8
    assert not in_season(nov14_local_23h, season, 8.0) and in_season(nov14_local_23h + 3600, season, 8.0)
    assert in_season(SUMMER, {"start": "06-01", "end": "08-31"}, 8.0)


async def test_unknown_data_holds_the_state(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    await telemetry(svc, "st-a", heat_power_kw=0.0)
    await at(svc, clock, WINTER + 1)
    # the station falls silent: its last values grow stale and decide nothing (offline says it)
    await at(svc, clock, WINTER + 3700)
    rows = await active(svc)
    assert ("st-a", "heating_outage") not in rows and ("st-a", "station_offline") in rows


async def test_channel_failure_raised_acknowledged_and_cleared(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    channels = svc.fleet_alarms.channels
    channels.raise_failure("wecom", "HTTP 500 from the robot after 5 tries")
    await at(svc, clock, WINTER + 1)
    row = (await active(svc, SITE_ID))[(SITE_ID, "notify_channel_failed")]
    assert "wecom: HTTP 500" in row["text"]
    # the failing channels are its evidence (a restarted notifier knows them from it)
    assert await storage.last_alarm_value(SITE_ID, "notify_channel_failed") == {"channels": ["wecom"]}
    result = await svc.alarm_desk.ack_alarm(SITE_ID, "notify_channel_failed", "op")  # no station, no broker needed
    assert result["recorded"]
    assert (await active(svc, SITE_ID))[(SITE_ID, "notify_channel_failed")]["acked_by"] == "op"
    channels.clear_failure("wecom")
    await at(svc, clock, WINTER + 2)
    assert (SITE_ID, "notify_channel_failed") not in await active(svc)


def test_the_module_functions_reach_the_process_channels() -> None:
    woken: list[bool] = []
    fleet_alarms.CHANNELS.listeners.append(lambda: woken.append(True))
    try:
        fleet_alarms.raise_channel_failure("smtp", "connection refused")
        assert fleet_alarms.CHANNELS.failing == {"smtp": "connection refused"} and woken
        fleet_alarms.clear_channel_failure("smtp")
        assert fleet_alarms.CHANNELS.failing == {}
    finally:
        fleet_alarms.CHANNELS.listeners.pop()
        fleet_alarms.CHANNELS.failing.clear()


async def test_a_station_alarm_of_the_supervisor_is_acknowledged_there(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    await at(svc, clock, WINTER + 301)
    result = await svc.alarm_desk.ack_alarm("st-a", "station_offline", "op")  # no broker: nothing sent to the station
    assert result == {"command_id": None, "recorded": True, "state": "recorded"}
    assert (await svc.audit_log.rows(10))[0]["action"] == "ack_alarm"


async def test_an_active_alarm_survives_a_restart_and_clears_afterwards(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    await at(svc, clock, WINTER + 301)
    assert ("st-a", "station_offline") in await active(svc)
    again = SupervisorService(storage, make_config(), wall_clock=clock)
    again.fleet_alarms.channels = ChannelFailures()
    await again.start(open_storage=False)
    clock.t = WINTER + 400
    assert await again.fleet_alarms.evaluate() == []  # still offline: not raised twice
    await telemetry(again, "st-a")
    assert ("st-a", "station_offline", False) in await at(again, clock, WINTER + 401)


async def test_settings_changed_in_the_dashboard_are_stored_and_win(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    with pytest.raises(ValueError) as err:
        await svc.fleet_alarms.change_settings({"offline_after_s": 5, "overheat_c": "hot", "nope": 1}, "admin")
    text = str(err.value)
    assert "offline_after_s=5 s: must be a number in [30, 86400]" in text and "overheat_c='hot'" in text
    assert "nope: unknown key" in text
    assert await storage.fleet_alarm_settings() == {}
    await svc.fleet_alarms.change_settings({"offline_after_s": 60, "station_offline_priority": "minor"}, "admin")
    assert await storage.fleet_alarm_settings() == {"offline_after_s": 60.0, "station_offline_priority": "minor"}
    fresh = SupervisorService(storage, make_config(), wall_clock=clock)
    await fresh.start(open_storage=False)
    await fresh.fleet_alarms.start()
    assert fresh.fleet_alarms.settings["offline_after_s"] == 60.0
    await at(fresh, clock, WINTER + 61)
    assert (await active(fresh))[("st-a", "station_offline")]["severity"] == "minor"
    await fresh.fleet_alarms.change_settings({"offline_after_s": None}, "admin")  # back to the file's value
    assert await storage.fleet_alarm_settings() == {"station_offline_priority": "minor"}
    assert fresh.fleet_alarms.settings["offline_after_s"] == 300.0


def test_the_configuration_lists_every_problem() -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"fleet_alarms": {"offline_after_s": 1, "heating_outage_priority": "urgent",
                                              "collector_stale_s": 7200, "collector_dead_s": 3600, "x": 1},
                             "season": {"start": "11-31", "end": 3},
                             "station": [{"id": "s", "floor_c": 40, "households": -1}]})
    problems = "\n".join(err.value.problems)
    for part in ("fleet_alarms.offline_after_s=1 s: must be a number in [30, 86400]",
                 "fleet_alarms.heating_outage_priority='urgent': must be one of critical, major, minor, warning",
                 "collector_dead_s=3600 s: must be above collector_stale_s=7200 s", "fleet_alarms.x: unknown key",
                 "season.start='11-31'", "season.end=3", "station[0].floor_c=40 degC: must be a number in [10, 25]",
                 "station[0].households=-1"):
        assert part in problems, part
    cfg = sup_config.validate({})
    assert cfg["season"] == {"start": "11-15", "end": "03-15"} and cfg["fleet_alarms"]["offline_after_s"] == 300.0


async def test_the_alarm_report_carries_the_evidence(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    await at(svc, clock, WINTER + 301)
    lines = (await svc.reporting.export_csv("alarms", station_id="st-a")).splitlines()
    assert lines[0].endswith(",text,value,limit")
    assert any(line.startswith("st-a,station_offline,major,True,") and line.endswith(",301.0,300.0") for line in lines)


async def test_the_fleet_row_names_the_worst_priority(storage: Any) -> None:
    """A station with a major supervisor alarm (offline) and a warning (stale collectors) shows
    major on the fleet page, whichever was raised first (major and minor ranked as warning)."""
    svc, clock = await started(storage, WINTER)
    await storage.record_alarm("st-a", "collector_stale", "warning", True, WINTER, "", None)
    await storage.record_alarm("st-a", "station_offline", "major", True, WINTER - 10, "", None)
    await storage.record_alarm("st-b", "pump1_fault", "minor", True, WINTER, "", None)
    await storage.record_alarm("st-b", "uplink_quarantined", "warning", True, WINTER - 10, "", None)
    rows = {r["station_id"]: r for r in await svc.fleet.list_stations()}
    assert rows["st-a"]["worst_severity"] == "major" and rows["st-b"]["worst_severity"] == "minor"


async def test_collectors_falling_silent_hold_the_comfort_alarm(storage: Any) -> None:
    """No live reading says nothing about the flats: the below-floor alarm stays (and the
    collectors' own alarms say why), it is not cleared as if the flats were warm again."""
    svc, clock = await started(storage, WINTER, floor_delay_s=0.0)
    reading(svc, "a1", 16.0)
    reading(svc, "a2", 16.5)
    await at(svc, clock, WINTER + 1)
    assert ("st-a", "comfort_below_floor") in await active(svc)
    await at(svc, clock, WINTER + 2000)  # both silent over 30 min
    await at(svc, clock, WINTER + 2400)  # and longer than the off-delay
    rows = await active(svc, "st-a")
    assert ("st-a", "comfort_below_floor") in rows and ("st-a", "collector_stale") in rows


async def test_switching_the_rules_off_clears_their_alarms(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)
    await at(svc, clock, WINTER + 301)
    assert ("st-a", "station_offline") in await active(svc)
    await svc.fleet_alarms.change_settings({"enabled": False}, "admin")
    task = asyncio.ensure_future(svc.fleet_alarms.run())
    try:
        await wait_until(lambda: ("st-a", "station_offline") not in svc.fleet_alarms.tracks
                         or not svc.fleet_alarms.tracks[("st-a", "station_offline")].active, what="cleared")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not {code for _sid, code in await active(svc)} & set(fleet_alarms.CODES)
    assert "switched off" in (await svc.alarm_desk.alarm_history("st-a", 1))[0]["text"]


async def test_a_channel_alarm_from_before_a_restart_waits_for_the_channel(storage: Any) -> None:
    """After a restart nothing is known of the channels: the alarm stands (it is not cleared as if
    every channel delivered) until the channel reports."""
    svc, clock = await started(storage, WINTER)
    svc.fleet_alarms.channels.raise_failure("sms", "gateway HTTP 503")
    await at(svc, clock, WINTER + 1)
    again = SupervisorService(storage, make_config(), wall_clock=clock)
    again.fleet_alarms.channels = ChannelFailures()
    await again.start(open_storage=False)
    assert await at(again, clock, WINTER + 100) == []
    assert (SITE_ID, "notify_channel_failed") in await active(again)
    again.fleet_alarms.channels.clear_failure("sms")  # it delivers again
    assert (SITE_ID, "notify_channel_failed", False) in await at(again, clock, WINTER + 101)
