"""What the devices say about themselves reaches the supervisor: the real station process
against the simulator and a real Mosquitto, observed over MQTT.

A blocked valve actuator (Belimo No. 105 b2 "actuator cannot move") must be an alarm within a
few control cycles, not a position mismatch minutes later; a meter's info code is an alarm;
a valve actuator whose Max is set to 70 % on site is still put where the station means.
Time runs 10x on both sides, as in test_station_fast.
"""

from __future__ import annotations

from typing import Any

from heatkeeper.tools.sim.rig import Rig, wait_for

SCALE = 10.0
CYCLE_S = 1.0


def alarm_times(rig: Rig, code: str) -> list[tuple[str, Any]]:
    return [(str(b.get("state")), b) for b in rig.alarms() if b.get("code") == code]


def test_blocked_valve_actuator_is_alarmed_within_a_few_cycles(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    rig.wait_telemetry(lambda v: v.get("valve_cannot_move") == 0.0, 90, "the valve's No. 105 bits in telemetry")
    t0 = rig.sim_time_s()
    rig.sim_cmd("inject actuator_blocked valve")
    wait_for(lambda: alarm_times(rig, "valve_actuator_blocked"), 60, "valve_actuator_blocked alarm")
    elapsed_s = rig.sim_time_s() - t0
    # a few cycles (the read, the alarm, the uplink, and this test's polling of MQTT, which at 10x
    # counts ten-fold), far from the valve loop's 300 s mismatch delay
    assert elapsed_s < 30 * CYCLE_S, elapsed_s
    print("valve_actuator_blocked after %.1f simulated s" % elapsed_s)
    state, body = alarm_times(rig, "valve_actuator_blocked")[0]
    assert state == "active" and body["device"] == "valve" and body["severity"] == "major"
    assert "valve_position_mismatch" not in rig.alarm_codes()  # the blocked alarm came first
    rig.wait_telemetry(lambda v: v.get("valve_cannot_move") == 1.0, 60, "valve_cannot_move = 1 in telemetry",
                       after_seq=rig.last_seq())
    rig.sim_cmd("clear actuator_blocked valve")
    wait_for(lambda: any(s == "cleared" for s, _b in alarm_times(rig, "valve_actuator_blocked")), 60,
             "valve_actuator_blocked cleared")


def test_meter_info_code_is_alarmed_and_reported(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    rig.wait_telemetry(lambda v: v.get("heat_meter_info_code") == 0.0, 120, "the meter's info code in telemetry")
    rig.sim_cmd("set heat_meter info_code 20000")  # t1 below measuring range, as the display shows it
    wait_for(lambda: alarm_times(rig, "heat_meter_meter_info_code"), 120, "heat_meter_meter_info_code alarm")
    state, body = alarm_times(rig, "heat_meter_meter_info_code")[0]
    assert state == "active" and body["value"] == 20000.0 and "00020000" in body["text"]
    rig.wait_telemetry(lambda v: v.get("heat_meter_info_code") == 20000.0, 120, "info code in telemetry",
                       after_seq=rig.last_seq())


def test_valve_with_max_at_70_pct_goes_where_the_station_means(make_rig) -> None:
    rig = make_rig(time_scale=SCALE)
    rig.sim_cmd("set valve max_limit 70")
    rig.wait_telemetry(lambda v: v.get("valve_max_limit") == 70.0, 90, "the actuator's Max in telemetry")
    seq = rig.last_seq()

    def agrees(v: dict[str, Any]) -> bool:
        cmd = v.get("valve_cmd_pct")
        if not isinstance(cmd, (int, float)) or not 5.0 < cmd < 65.0:
            return False
        # the plant's valve goes to the station's command, not to 70 % of it
        return abs(rig.actuators()["valve_cmd_pct"] - float(cmd)) < 2.0

    rig.wait_telemetry(agrees, 180, "plant valve position equal to the station's command", after_seq=seq)
