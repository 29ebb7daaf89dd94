"""The long HIL scenarios (`make test-hil`, or pytest --run-slow): the real station against
the simulated plant at 60x, faults injected through the simulator's control channel,
behaviour judged from outside by the plant's state, the actuator writes seen on the bus and
the station's MQTT messages."""

from __future__ import annotations

import time
from typing import Any

import pytest
from heatkeeper.core.modes import MODE_NAMES
from heatkeeper.tools.sim.rig import Rig, sequence_report, wait_for

pytestmark = pytest.mark.slow

SCALE = 60.0


def mode_name(values: dict[str, Any]) -> str | None:
    mode = values.get("mode")
    return MODE_NAMES[int(mode)] if isinstance(mode, (int, float)) and 0 <= mode < len(MODE_NAMES) else None


def settle(rig: Rig, minutes: float = 60.0) -> None:
    """Let the station reach auto and the plant settle (simulated minutes)."""
    rig.wait_telemetry(lambda v: mode_name(v) == "auto", 600, "the station in auto")
    rig.wait_sim_time(rig.sim_time_s() + minutes * 60.0)


def pumps_on(act: dict[str, float]) -> bool:
    return act["pump1_run"] >= 0.5 or act["pump2_run"] >= 0.5


def values_since(rig: Rig, seq: int) -> list[dict[str, Any]]:
    return [m["body"].get("values", {}) for m in rig.telemetry() if int(m["seq"]) > seq]


def holds_for(rig: Rig, sim_s: float, predicate: Any, what: str) -> None:
    """Assert `predicate()` at every poll over the next sim_s simulated seconds."""
    until_s = rig.sim_time_s() + sim_s
    deadline = time.monotonic() + 60.0 + 3.0 * sim_s / rig.time_scale
    while rig.sim_time_s() < until_s:
        assert predicate(), what
        assert time.monotonic() < deadline, "the simulator stalled while checking " + what
        time.sleep(0.2)


def test_season_start_up_sequence(make_rig) -> None:
    # A shortened season start: 10 min cold circulation, warm-up ramp 30 K/h (defaults 1 h, 10 K/h).
    modes_cfg = {"initial_mode": "startup", "cold_circulation_s": 600.0, "warmup_rate_k_per_h": 30.0}
    rig = make_rig(time_scale=2 * SCALE, station_overrides={"control": {"modes": modes_cfg}})
    order: list[str] = []
    modes: list[str] = []

    def watch() -> bool:
        act = rig.actuators()
        if pumps_on(act) and "pumps" not in order:
            order.append("pumps")
        if act["valve_cmd_pct"] > 0.5 and "valve" not in order:
            order.append("valve")
        modes.clear()
        for v in values_since(rig, 0):
            name = mode_name(v)
            if name and (not modes or modes[-1] != name):
                modes.append(name)
        return bool(modes) and modes[-1] == "auto"

    wait_for(watch, 280, "start-up to finish in auto", 0.5)
    assert modes == ["startup_fill", "startup_cold", "startup_warmup", "auto"] or modes[:1] == ["startup_cold"], modes
    # Cold circulation before heat: the pumps run before the primary valve opens.
    assert order and order[0] == "pumps", order


def test_steady_tracking(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    settle(rig, 120)
    seq = rig.last_seq()
    rig.wait_sim_time(rig.sim_time_s() + 3600)
    errors = [abs(v["secondary_supply_temp_c"] - v["supply_setpoint_c"]) for v in values_since(rig, seq)
              if v.get("secondary_supply_temp_c") is not None and v.get("supply_setpoint_c") is not None]
    assert len(errors) > 10
    assert sum(errors) / len(errors) < 2.0, errors
    assert max(errors) < 5.0, errors


def test_cold_snap_raises_the_supply(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    settle(rig, 60)
    before = rig.latest("supply_setpoint_c")
    rig.sim_cmd("inject cold_snap 15")
    seq = rig.last_seq()
    rig.wait_sim_time(rig.sim_time_s() + 3 * 3600)
    after = [v for v in values_since(rig, seq) if v.get("supply_setpoint_c") is not None][-1]
    assert after["supply_setpoint_c"] > before + 5.0, (before, after)
    assert abs(after["secondary_supply_temp_c"] - after["supply_setpoint_c"]) < 4.0, after


def test_remote_setpoint_lease_expires(make_rig) -> None:
    """An operator's supply setpoint is a lease: visible at once in telemetry as the target,
    reached at the station's ramp rate (curve.ramp_up_k_per_h, 12 K/h: +4 K in 20 min), held,
    and dropped when the lease runs out (falls pass at once)."""
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    own = rig.latest("supply_setpoint_c")
    target = round(own + 4.0, 1)
    # A supply setpoint is a remote-mode command (in auto it is rejected: not_permitted_in_mode).
    rig.send_command("set_mode", {"mode": "remote"}, "hil-remote")
    wait_for(lambda: rig.acks().get("hil-remote"), 120, "ack of remote mode")
    assert rig.acks()["hil-remote"]["result"] == "applied", rig.acks()["hil-remote"]
    seq = rig.last_seq()
    rig.send_command("set_supply_setpoint", {"supply_setpoint_c": target, "lease_s": 2400}, "hil-lease-supply")
    wait_for(lambda: rig.acks().get("hil-lease-supply"), 120, "ack")
    assert rig.acks()["hil-lease-supply"]["result"] == "applied", rig.acks()["hil-lease-supply"]
    rig.wait_telemetry(lambda v: v.get("supply_setpoint_lease_c") == target, 120, "the leased target in telemetry",
                       after_seq=seq)
    rig.wait_telemetry(lambda v: v.get("supply_setpoint_c") is not None and abs(v["supply_setpoint_c"] - target) < 0.5,
                       300, "the setpoint ramped up to the lease", after_seq=seq)
    ramp = [v["supply_setpoint_c"] for v in values_since(rig, seq) if v.get("supply_setpoint_c") is not None]
    assert max(ramp) < target + 0.5, (target, ramp)
    seq = rig.last_seq()
    rig.wait_telemetry(lambda v: v.get("supply_setpoint_lease_c") is None and v.get("supply_setpoint_lease_s") == 0.0,
                       300, "the lease expired", after_seq=seq)
    rig.wait_telemetry(lambda v: v.get("supply_setpoint_c") is not None and abs(v["supply_setpoint_c"] - target) > 2.5,
                       120, "the station back on its own setpoint", after_seq=seq)


def test_supply_sensor_failure(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    rig.sim_cmd("inject sensor_open secondary_supply_temp_c")
    wait_for(lambda: "sensor_secondary_supply_temp_c" in rig.alarm_codes(), 300, "supply sensor alarm")
    rig.wait_sim_time(rig.sim_time_s() + 1800)
    # No feedback: the valve must not run away open, and the plant stays below the safety limit.
    assert rig.actuators()["valve_cmd_pct"] < 100.0
    assert rig.readings()["secondary_supply_temp_c"] < 95.0


def test_stuck_valve_raises_a_plausibility_alarm(make_rig) -> None:
    """The valve sticks where it is; a cold snap makes the loop drive it open. The actuator's
    position feedback (read over Modbus) stays put while the command moves away: the station
    raises the position-mismatch alarm (the supply may still get close enough to its setpoint
    that no temperature-based alarm would fire)."""
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    stuck_pct = rig.readings()["valve_position_pct"]
    rig.sim_cmd("inject stuck_valve")
    rig.sim_cmd("inject cold_snap 12")
    wait_for(lambda: abs(rig.actuators()["valve_cmd_pct"] - stuck_pct) > 15.0, 600, "the command moving off the stuck position")
    assert "valve_position_mismatch" not in rig.alarm_codes()
    wait_for(lambda: "valve_position_mismatch" in rig.alarm_codes(), 600, "the valve position-mismatch alarm")
    alarm = next(a for a in rig.alarms() if a.get("code") == "valve_position_mismatch")
    assert abs(float(alarm["value"]) - stuck_pct) < 1.0, (alarm, stuck_pct)
    # The valve still does not move.
    assert abs(rig.readings()["valve_position_pct"] - stuck_pct) < 0.5


def test_pump_trip_standby_takes_over(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    act = rig.actuators()
    duty = 1 if act["pump1_run"] >= 0.5 else 2
    standby = 3 - duty
    rig.sim_cmd("inject pump_trip %d" % duty)
    wait_for(lambda: "pump%d_fault" % duty in rig.alarm_codes(), 300, "pump fault alarm")
    wait_for(lambda: rig.actuators()["pump%d_run" % standby] >= 0.5, 300, "the standby pump commanded on")
    wait_for(lambda: rig.readings().get("pump%d_running" % standby, 0) >= 0.5, 300, "the standby pump running")


def test_leak_makeup_runs_and_leak_alarm(make_rig) -> None:
    """A 2 m3/h leak: the return pressure falls, the make-up pump starts and holds it above the
    under-pressure limit (pumps never run dry), and the station raises a leak alarm."""
    from heatkeeper.core import interlocks

    floor_kpa = float(interlocks.DEFAULTS["under_pressure_kpa"])
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    rig.sim_cmd("inject leak 2.0")
    wait_for(lambda: rig.actuators()["makeup_pump_run"] >= 0.5, 900, "make-up pump started")
    wait_for(lambda: rig.alarm_codes() & {"makeup_leak_rate", "makeup_long_run", "pressure_low"}, 1800, "leak alarm")
    holds_for(rig, 900, lambda: rig.readings()["secondary_return_pressure_kpa"] > floor_kpa, "pressure held by make-up")
    assert "pump_dry_run" not in rig.alarm_codes()


def test_low_tank_protects_the_makeup_pump(make_rig) -> None:
    """A leak drains a small tank that is not refilled: the make-up pump runs, then stops at
    the low-low level and stays off while the leak goes on, before the tank runs dry."""
    rig = make_rig(time_scale=SCALE * 2, plant={"tank_refill_m3h": 0.0, "tank_volume_m3": 2.0})
    settle(rig, 10)
    rig.sim_cmd("inject leak 3.0")
    wait_for(lambda: rig.actuators()["makeup_pump_run"] >= 0.5, 600, "the make-up pump started on the leak")
    wait_for(lambda: "tank_level_low_low" in rig.alarm_codes(), 1200, "tank low-low alarm")
    wait_for(lambda: rig.actuators()["makeup_pump_run"] < 0.5, 120, "the make-up pump stopped")
    holds_for(rig, 600, lambda: rig.actuators()["makeup_pump_run"] < 0.5, "the make-up pump kept off")
    assert rig.readings()["makeup_pump_running"] < 0.5
    lowest_pct = rig.sim_cmd("extremes")["extremes"]["tank_level_pct"][0]
    assert 0.0 < lowest_pct < 15.0, lowest_pct


def test_over_temperature_interlock(make_rig) -> None:
    """A hot primary network (110-125 degC) and a station limited to 75 degC (a low-temperature
    network: interlocks.overtemp_c). From the local panel (the station's Modbus TCP slave):
    manual mode, valve 100 %. The supply passes the limit; the interlock closes the valve
    whatever manual asks, raises the latching alarm, and the plant cools below the limit."""
    limit_c = 75.0
    rig = make_rig(time_scale=SCALE, plant={"primary_min_supply_c": 110.0, "primary_design_supply_c": 125.0},
                   station_overrides={"control": {"interlocks": {"overtemp_c": limit_c},
                                                  "commands": {"supply_max_c": limit_c - 5.0},
                                                  "curve": {"max_supply_c": limit_c - 5.0}}})
    settle(rig, 30)
    assert rig.readings()["secondary_supply_temp_c"] < limit_c - 5.0
    assert "secondary_overtemp" not in rig.alarm_codes()
    # Manual mode and set_valve_manual are local-only: a remote command is rejected.
    rig.send_command("set_mode", {"mode": "manual"}, "hil-manual-remote")
    wait_for(lambda: rig.acks().get("hil-manual-remote"), 120, "ack of the remote manual request")
    assert rig.acks()["hil-manual-remote"]["reason"] == "local_only", rig.acks()["hil-manual-remote"]
    assert rig.panel_write(14, [1]), "manual mode refused by the local panel"
    assert rig.panel_set_float(8, 100.0), "valve 100 % refused by the local panel"
    wait_for(lambda: rig.actuators()["valve_cmd_pct"] >= 99.0, 120, "the valve commanded fully open in manual")
    wait_for(lambda: "secondary_overtemp" in rig.alarm_codes(), 600, "over-temperature alarm")
    wait_for(lambda: rig.actuators()["valve_cmd_pct"] == 0.0, 120, "the valve closed by the interlock")
    wait_for(lambda: rig.readings()["secondary_supply_temp_c"] < limit_c - 5.0, 600, "the supply below the limit again")
    # Still manual at 100 % on the panel, still shut: the trip latches until acknowledged.
    assert MODE_NAMES[rig.panel_input_registers(1, 1)[0]] == "manual"
    assert rig.actuators()["valve_cmd_pct"] == 0.0
    alarm = next(a for a in rig.alarms() if a.get("code") == "secondary_overtemp")
    assert alarm["severity"] == "critical" and float(alarm["value"]) > limit_c, alarm
    peak_c = rig.sim_cmd("extremes")["extremes"]["secondary_supply_temp_c"][1]
    assert limit_c < peak_c < limit_c + 10.0, peak_c


def test_broker_down_for_a_simulated_hour(make_rig) -> None:
    """Mosquitto stopped for a simulated hour: the station keeps sampling into its outbox. Once
    the broker is back every message arrives: no sequence number missing, the copies of a
    number identical (a consumer keyed on (station, seq) stores each sample once), and the
    telemetry covers the outage at the station's interval (samples taken while offline)."""
    rig = make_rig(time_scale=SCALE)
    rig.wait_telemetry(lambda v: v.get("outdoor_temp_c") is not None, 120, "telemetry")
    assert rig.broker is not None and rig.recorder is not None
    interval_s = float(rig.station_config["station"]["telemetry_interval_s"])
    before = rig.last_seq()
    down_wall, down_sim_s = rig.station_now_s(), rig.sim_time_s()
    rig.broker.stop()
    rig.wait_sim_time(down_sim_s + 3600)
    up_wall, up_sim_s = rig.station_now_s(), rig.sim_time_s()
    rig.broker.start()
    # Everything stamped before the broker came back has arrived once a later one has (the
    # outbox sends in sequence order) and nothing is missing.
    def drained() -> bool:
        msgs = rig.recorder.uplinks(station=rig.station_id, copies=True) if rig.recorder else []
        return any(float(m["ts"]) > up_wall for m in msgs) and not sequence_report(msgs)["missing"]

    wait_for(drained, 300, "the outbox flushed after the outage")
    report = sequence_report(rig.recorder.uplinks(station=rig.station_id, copies=True))
    assert report["missing"] == [], report
    assert report["conflicting"] == 0, report
    assert report["first"] == 1, report
    offline = {}
    for msg in rig.telemetry():
        if down_wall < float(msg["ts"]) < up_wall:
            offline[int(msg["seq"])] = msg["body"]["values"]
    expected = (up_sim_s - down_sim_s) / interval_s
    assert len(offline) >= 0.8 * expected, (len(offline), expected)
    assert min(offline) > before
    # Real samples: the plant was read while the broker was away.
    assert all(v.get("secondary_supply_temp_c") is not None for v in offline.values())
