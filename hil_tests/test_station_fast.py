"""The fast HIL subset (default test run): the real station process against the simulator
and a real Mosquitto, observed from outside (simulator control channel, MQTT).

Time runs 10x on both sides (libfaketime for the station, the plant's time scale for the
simulator), so a simulated minute takes six seconds."""

from __future__ import annotations

import json
import os
import sqlite3

from heatkeeper.tools.sim.rig import sequence_report, wait_for

SCALE = 10.0


def near(value: object, target: float, tol: float) -> bool:
    return isinstance(value, (int, float)) and abs(float(value) - target) <= tol


def test_station_reads_the_bus_commands_the_plant_and_reports(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    outdoor = rig.readings()["outdoor_temp_c"]
    values = rig.wait_telemetry(lambda v: near(v.get("outdoor_temp_c"), outdoor, 2.0), 60, "outdoor temperature in telemetry")
    assert values.get("secondary_supply_temp_c") is not None
    # The station drives the plant: a circulation pump is commanded on through the drive's control word.
    wait_for(lambda: rig.actuators()["pump1_run"] >= 0.5 or rig.actuators()["pump2_run"] >= 0.5, 60,
             "a circulation pump commanded on over Modbus")
    def line_stats() -> dict:
        return next(iter(rig.sim_cmd("status")["lines"].values()))["stats"]

    # Polling goes on cycle after cycle (how many requests so far depends on the machine's load).
    wait_for(lambda: line_stats()["requests"] > 20, 60, "more than 20 requests on the line")
    assert line_stats()["no_device"] == 0
    report = sequence_report(rig.recorder.uplinks(station=rig.station_id, copies=True))
    assert report["missing"] == [] and report["conflicting"] == 0


def test_dead_device_on_the_bus_the_others_keep_being_polled(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    rig.wait_telemetry(lambda v: v.get("heat_power_kw") is not None, 60, "heat meter values")
    meter = [d for d, dev in _devices(rig).items() if "heat_power_kw" in dev][0]
    rig.sim_cmd("dead %s" % meter)
    seq = rig.last_seq()
    values = rig.wait_telemetry(lambda v: v.get("heat_power_kw") is None and v.get("outdoor_temp_c") is not None,
                                60, "heat meter gone, the rest still read", after_seq=seq)
    assert values.get("secondary_supply_temp_c") is not None
    before = _served(rig)
    rig.wait_sim_time(rig.sim_time_s() + 60)
    after = _served(rig)
    for name, count in after.items():
        if name != meter:
            assert count > before[name], "device %s no longer polled while %s is dead" % (name, meter)
    rig.sim_cmd("alive %s" % meter)
    rig.wait_telemetry(lambda v: v.get("heat_power_kw") is not None, 120, "heat meter back", after_seq=rig.last_seq())


def test_one_percent_corrupted_frames(make_rig) -> None:
    rig = make_rig(time_scale=SCALE, lines=[{"bus": "rs485-1", "throttle": False, "corrupt_rate": 0.01}])
    def corrupted() -> int:
        return int(next(iter(rig.sim_cmd("status")["lines"].values()))["stats"]["corrupted"])

    wait_for(lambda: corrupted() >= 5, 120, "five corrupted replies")
    rig.wait_sim_time(rig.sim_time_s() + 20)
    telemetry = rig.telemetry()
    assert telemetry
    # Values stay right: the outdoor temperature reported matches the plant within sensor noise.
    outdoor = rig.readings()["outdoor_temp_c"]
    assert near(rig.latest("outdoor_temp_c"), outdoor, 2.0)
    assert sequence_report(rig.recorder.uplinks(station=rig.station_id, copies=True))["missing"] == []


def test_outdoor_sensor_failure_heating_goes_on_on_the_fallback(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    wait_for(lambda: rig.actuators()["valve_cmd_pct"] > 0.0, 120, "the valve opened")
    rig.sim_cmd("inject sensor_open outdoor_temp_c")
    wait_for(lambda: "sensor_outdoor_temp_c" in rig.alarm_codes(), 120, "sensor_outdoor_temp_c alarm")
    seq = rig.last_seq()
    rig.wait_sim_time(rig.sim_time_s() + 60)
    values = rig.wait_telemetry(lambda v: True, 30, "telemetry", after_seq=seq)
    assert values.get("outdoor_temp_c") is None
    act = rig.actuators()
    assert act["pump1_run"] >= 0.5 or act["pump2_run"] >= 0.5, act
    assert act["valve_cmd_pct"] > 0.0, act


def test_power_cut_mid_write_restart_resumes_from_persisted_state(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    rig.wait_telemetry(lambda v: v.get("outdoor_temp_c") is not None, 60, "first telemetry")
    rig.send_command("set_room_setpoint", {"room_setpoint_c": 21.0, "lease_s": 36000}, "hil-lease-1")
    wait_for(lambda: rig.acks().get("hil-lease-1"), 60, "ack of the room setpoint lease")
    assert rig.acks()["hil-lease-1"]["result"] == "applied"
    for _ in range(3):
        rig.wait_sim_time(rig.sim_time_s() + 20)
        rig.kill_station()
        rig.start_station()
    seq = rig.last_seq()
    wait_for(lambda: rig.last_seq() > seq + 3, 120, "telemetry after the restarts")
    report = sequence_report(rig.recorder.uplinks(station=rig.station_id, copies=True))
    assert report["conflicting"] == 0, report
    assert report["missing"] == [], report
    assert rig.station is not None and rig.station.alive()
    rig.station.stop()
    # Nothing corrupt on disk: every SQLite file passes its integrity check, every JSON parses.
    data_dir = rig.station_config["station"]["data_dir"]
    checked = 0
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith((".db", ".sqlite", ".sqlite3")):
                with sqlite3.connect(path) as db:
                    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path
                checked += 1
            elif name.endswith(".json"):
                with open(path) as fh:
                    json.load(fh)
                checked += 1
    assert checked > 0, "the station persisted nothing in %s" % data_dir


def _devices(rig) -> dict[str, set[str]]:
    cfg = rig.station_config
    return {d["name"]: set(d.get("points", {})) for d in cfg.get("device", [])}


def _served(rig) -> dict[str, int]:
    out = {}
    for name in _devices(rig):
        stats = rig.sim_cmd("device %s" % name)["device"]["stats"]
        out[name] = int(stats["reads"]) + int(stats["writes"])
    return out
