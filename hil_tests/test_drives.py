"""Drives as their manuals describe them, against the real station at 60x: a mains blip on an
ABB ACS580 (back SWITCH-ON INHIBITED), trips reset over the bus or left for a visit, and a
drive left in local Hand/Off. The drives are modelled by heatkeeper.tools.sim.drives from the
vendors' documents; faults go in through the simulator's control channel; behaviour is judged
from the plant, the simulated drives and the station's MQTT events and alarms."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from heatkeeper.tools.sim.rig import Rig, default_station_template, wait_for

from .test_station_scenarios import holds_for, settle

pytestmark = pytest.mark.slow

SCALE = 60.0


def abb_pump1_devices() -> list[dict[str, Any]]:
    """The example station's devices with pump 1 on an ABB ACS580 (pump 2 stays a Danfoss FC)."""
    with open(default_station_template(), "rb") as fh:
        devices: list[dict[str, Any]] = tomllib.load(fh)["device"]
    for dev in devices:
        if dev["name"] == "pump1":
            dev["profile"] = "abb_acs580"
            dev["points"] = {"pump1_run": "control_word", "pump1_speed_cmd_pct": "reference_1",
                             "pump1_running": "status_running", "pump1_fault": "status_tripped",
                             "pump1_speed_pct": "actual_1"}
    return devices


def drive(rig: Rig, name: str) -> dict[str, Any]:
    """The simulated drive's own state (powered, running, resets, ...)."""
    return dict(rig.sim_cmd("device %s" % name)["device"]["drive"])


def drive_events(rig: Rig, pump: int) -> list[dict[str, Any]]:
    assert rig.recorder is not None
    return [m["body"] for m in rig.recorder.uplinks("event", rig.station_id)
            if m["body"].get("kind") == "drive" and m["body"].get("pump") == pump]


def alarm(rig: Rig, code: str, state: str = "active") -> dict[str, Any] | None:
    return next((a for a in rig.alarms() if a.get("code") == code and a.get("state") == state), None)


def latch_out_pump2(rig: Rig) -> None:
    """Pump 2's Danfoss trips and locks (a trip lock needs a person): the station must not reset it."""
    rig.sim_cmd("inject drive_trip pump2 resettable=0")
    wait_for(lambda: alarm(rig, "pump2_needs_visit"), 300, "pump 2 latched: needs a visit", 0.2)
    holds_for(rig, 120, lambda: drive(rig, "pump2")["resets"] == 0, "no bus reset of a trip lock")
    assert not [e for e in drive_events(rig, 2) if e["reason"] == "reset"], drive_events(rig, 2)
    assert drive(rig, "pump2")["tripped"]
    assert "not resettable" in str(alarm(rig, "pump2_needs_visit")), alarm(rig, "pump2_needs_visit")


def test_abb_mains_blip_with_the_standby_latched_out(make_rig) -> None:
    """Issue 20 item 1: the ABB duty drive loses its supply for 5 s with the standby tripped and
    locked. It comes back SWITCH-ON INHIBITED; the station sends the ready word, then the run
    word, and circulation is back within a minute (it used to stay off for 20 min)."""
    rig = make_rig(time_scale=SCALE, station_overrides={"device": abb_pump1_devices()})
    settle(rig, 10)
    assert drive(rig, "pump1")["running"] and rig.readings()["pump1_running"] >= 0.5
    latch_out_pump2(rig)
    t0 = rig.sim_time_s()
    rig.sim_cmd("inject drive_power_cycle pump1 5")
    wait_for(lambda: not drive(rig, "pump1")["running"], 30, "pump 1 off in the blip", 0.05)
    wait_for(lambda: rig.sim_time_s() > t0 + 5.0 and drive(rig, "pump1")["running"], 120,
             "the ABB drive running again after the blip", 0.1)
    back_s = rig.sim_time_s() - t0
    print("ABB drive running again %.1f s (simulated) after a 5 s mains blip" % back_s)
    assert back_s < 60.0, back_s
    wait_for(lambda: rig.readings()["pump1_running"] >= 0.5, 120, "pump 1 turning in the plant", 0.2)
    # The station saw it inhibited and brought it out by the drive's reported state.
    wait_for(lambda: [e for e in drive_events(rig, 1) if e["reason"] == "state" and e.get("to") == "inhibited"], 60,
             "the station's event: pump 1 drive switch-on inhibited", 0.2)
    holds_for(rig, 300, lambda: rig.readings()["pump1_running"] >= 0.5, "circulation held after the blip")
    assert not [a for a in rig.alarms() if a.get("code") == "pump1_needs_visit"]


def test_resettable_trip_is_reset_over_the_bus(make_rig) -> None:
    """A transient trip (DC over-voltage, 0x3210) on the ABB duty drive, standby latched out: the
    station resets it over the bus (an event), and pump 1 runs again."""
    rig = make_rig(time_scale=SCALE, station_overrides={"device": abb_pump1_devices()})
    settle(rig, 10)
    latch_out_pump2(rig)
    t0 = rig.sim_time_s()
    rig.sim_cmd("inject drive_trip pump1 code=0x3210")
    wait_for(lambda: [e for e in drive_events(rig, 1) if e["reason"] == "reset_ok"], 300,
             "the station's event: pump 1 drive reset over the bus", 0.2)
    resets = [e for e in drive_events(rig, 1) if e["reason"] == "reset"]
    assert len(resets) == 1 and resets[0]["fault_code"] == 0x3210, resets
    wait_for(lambda: drive(rig, "pump1")["running"] and rig.readings()["pump1_running"] >= 0.5, 300,
             "pump 1 running again", 0.2)
    assert rig.sim_time_s() - t0 < 120.0, rig.sim_time_s() - t0
    assert drive(rig, "pump1")["resets"] == 1
    assert not [a for a in rig.alarms() if a.get("code") == "pump1_needs_visit"]


def test_non_resettable_abb_fault_is_left_for_a_visit(make_rig) -> None:
    """A short circuit (0x2340) is never reset over the bus: latched alarm, standby takes over."""
    rig = make_rig(time_scale=SCALE, station_overrides={"device": abb_pump1_devices()})
    settle(rig, 10)
    rig.sim_cmd("inject drive_trip pump1 code=0x2340")
    wait_for(lambda: alarm(rig, "pump1_needs_visit"), 300, "pump 1 latched: needs a visit", 0.2)
    assert "0x2340" in alarm(rig, "pump1_needs_visit")["text"]  # type: ignore[index]
    wait_for(lambda: rig.readings()["pump2_running"] >= 0.5, 300, "the standby pump running", 0.2)
    holds_for(rig, 180, lambda: drive(rig, "pump1")["resets"] == 0 and drive(rig, "pump1")["tripped"],
              "no bus reset of a short circuit")
    # Reset pressed on site: the latch clears and the alarm with it.
    rig.sim_cmd("clear drive_trip pump1")
    wait_for(lambda: alarm(rig, "pump1_needs_visit", "cleared"), 300, "the needs-visit alarm cleared", 0.2)


def test_drive_left_in_hand_off(make_rig) -> None:
    """Issue 20 item 5: a Danfoss left in Off on its panel (STW b9 = 0) raises an alarm naming the
    pump, and the standby takes over at once (not 15 s later as a failed proof of flow)."""
    rig = make_rig(time_scale=SCALE)
    settle(rig, 10)
    assert rig.readings()["pump1_running"] >= 0.5
    rig.sim_cmd("inject drive_local pump1 off")
    wait_for(lambda: alarm(rig, "pump1_local"), 120, "the local-mode alarm", 0.2)
    text = alarm(rig, "pump1_local")["text"]  # type: ignore[index]
    assert "pump 1" in text and "local control" in text, text
    wait_for(lambda: rig.readings()["pump2_running"] >= 0.5, 300, "the standby pump running", 0.2)
    assert rig.readings()["pump1_running"] < 0.5
    events = [e for e in drive_events(rig, 1) if e["reason"] == "local"]
    assert events, drive_events(rig, 1)
    values = rig.wait_telemetry(lambda v: v.get("pump1_local") == 1, 120, "pump1_local in telemetry")
    assert values["pump1_drive_state"] is not None
    rig.sim_cmd("clear drive_local pump1")
    wait_for(lambda: alarm(rig, "pump1_local", "cleared"), 120, "the local-mode alarm cleared", 0.2)
