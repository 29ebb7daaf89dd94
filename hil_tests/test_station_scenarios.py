"""The long HIL scenarios (`make test-hil`, or pytest --run-slow): the real station against
the simulated plant at 60x, faults injected through the simulator's control channel,
behaviour judged from outside by the plant's state, the actuator writes seen on the bus and
the station's MQTT messages."""

from __future__ import annotations

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
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    own = rig.latest("supply_setpoint_c")
    target = round(own + 8.0, 1)
    # A supply setpoint is a remote-mode command (in auto it is rejected: not_permitted_in_mode).
    rig.send_command("set_mode", {"mode": "remote"}, "hil-remote")
    wait_for(lambda: rig.acks().get("hil-remote"), 120, "ack of remote mode")
    assert rig.acks()["hil-remote"]["result"] == "applied", rig.acks()["hil-remote"]
    rig.send_command("set_supply_setpoint", {"supply_setpoint_c": target, "lease_s": 1800}, "hil-lease-supply")
    wait_for(lambda: rig.acks().get("hil-lease-supply"), 120, "ack")
    assert rig.acks()["hil-lease-supply"]["result"] == "applied"
    rig.wait_telemetry(lambda v: v.get("supply_setpoint_c") is not None and abs(v["supply_setpoint_c"] - target) < 0.5,
                       120, "the leased setpoint in force")
    seq = rig.last_seq()
    rig.wait_sim_time(rig.sim_time_s() + 1800 + 300)
    rig.wait_telemetry(lambda v: v.get("supply_setpoint_c") is not None and abs(v["supply_setpoint_c"] - target) > 3.0,
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
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    rig.sim_cmd("inject stuck_valve")
    rig.sim_cmd("inject cold_snap 12")
    wait_for(lambda: rig.alarm_codes() & {"valve_open_no_rise", "valve_shut_rising", "supply_deviation_low"}, 900,
             "a valve plausibility alarm")


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
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    rig.sim_cmd("inject leak 2.0")
    wait_for(lambda: rig.actuators()["makeup_pump_run"] >= 0.5, 900, "make-up pump started")
    wait_for(lambda: rig.alarm_codes() & {"makeup_leak_rate", "makeup_long_run", "pressure_low"}, 1800, "leak alarm")


def test_low_tank_protects_the_makeup_pump(make_rig) -> None:
    rig = make_rig(time_scale=SCALE * 2, plant={"tank_refill_m3h": 0.0, "tank_volume_m3": 2.0})
    settle(rig, 10)
    rig.sim_cmd("inject leak 3.0")
    wait_for(lambda: "tank_level_low_low" in rig.alarm_codes(), 1200, "tank low-low alarm")
    rig.wait_sim_time(rig.sim_time_s() + 120)
    assert rig.actuators()["makeup_pump_run"] < 0.5


def test_over_temperature_interlock(make_rig) -> None:
    """Manual mode with the valve driven fully open: the interlock closes it anyway."""
    rig = make_rig(time_scale=SCALE)
    settle(rig, 30)
    rig.send_command("set_mode", {"mode": "manual"}, "hil-manual")
    rig.send_command("set_valve_manual", {"valve_pct": 100.0}, "hil-valve-100")
    wait_for(lambda: rig.acks().get("hil-valve-100"), 120, "ack of the manual valve command")
    wait_for(lambda: "secondary_overtemp" in rig.alarm_codes(), 3600, "over-temperature alarm")
    wait_for(lambda: rig.actuators()["valve_cmd_pct"] == 0.0, 120, "the valve closed by the interlock")


def test_broker_down_for_a_simulated_hour(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    rig.wait_telemetry(lambda v: v.get("outdoor_temp_c") is not None, 120, "telemetry")
    assert rig.broker is not None
    before = rig.last_seq()
    rig.broker.stop()
    rig.wait_sim_time(rig.sim_time_s() + 3600)
    rig.broker.start()
    wait_for(lambda: rig.last_seq() > before + 30, 300, "the outbox flushed after the outage")
    rig.wait_sim_time(rig.sim_time_s() + 300)
    report = sequence_report(rig.recorder.uplinks(station=rig.station_id))
    assert report["missing"] == [], report
    assert report["conflicting"] == 0, report
    samples = {int(m["seq"]) for m in rig.telemetry()}
    assert len([s for s in samples if s > before]) > 30
