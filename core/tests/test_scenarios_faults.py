"""Scenarios: sensor failure -> fallback and alarm; leak or illegal draw -> leak alarm;
garbage readings in a running station (tables of cycles, leaping clock)."""

import unittest

from heatkeeper.core.tests.station_rig import Rig, run_table


class TestSensorScenarios(unittest.TestCase):
    def test_supply_sensor_fails_and_returns(self):
        rig = Rig()
        run_table(self, rig, [
            (1060.0, {}, None, {"alarm:sensor_secondary_supply_temp_c": None}),
            # Lost: the last good value stands in for stale_s (30 s), no alarm yet.
            (1080.0, {"secondary_supply_temp_c": None}, None, {"alarm:sensor_secondary_supply_temp_c": None}),
            # Then bad: alarm after its 5 s delay; the loop holds (no blind integration).
            (1100.0, {}, None, {"alarm:sensor_secondary_supply_temp_c": "active"}),
            (1200.0, {"secondary_supply_temp_c": 52.5}, None, {"alarm:sensor_secondary_supply_temp_c": None}),
        ])
        self.assertEqual(rig.ctl.telemetry(rig.inputs(), rig.out)["secondary_supply_temp_c"], 52.5)

    def test_outdoor_sensor_reads_garbage(self):
        rig = Rig()
        run_table(self, rig, [
            (1060.0, {}, None, {}),
            (1200.0, {"outdoor_temp_c": -3276.8}, None, {"alarm:sensor_outdoor_temp_c": "active"}),
        ])
        self.assertEqual(rig.ctl.telemetry(rig.inputs(), rig.out)["outdoor_temp_c"], None)
        row = [a for a in rig.out["alarms"] if a["code"] == "sensor_outdoor_temp_c"][0]
        self.assertEqual(row["value"], -3276.8)
        self.assertEqual(row["severity"], "minor")
        self.assertTrue(rig.out["supply_setpoint_c"] > 20.0)  # the chain keeps a fallback setpoint

    def test_unwired_signal_never_alarms(self):
        rig = Rig()
        rig.run_until(2000.0, dt_s=10.0)
        codes = [a["code"] for a in rig.out["alarms"]]
        self.assertTrue("sensor_heat_power_kw" not in codes)
        self.assertEqual(codes, [])


class TestLeakScenarios(unittest.TestCase):
    def test_leak_raises_alarm_and_clears_after_repair(self):
        # 200 m3 network, limit 0.5 %/h = 1000 L/h. A leak makes the make-up meter run at 1.8 m3/h.
        rig = Rig()
        rig.run_until(1600.0, dt_s=10.0)
        volume = rig.readings["makeup_volume_m3"]
        t = rig.t
        while t < 1600.0 + 7200.0:
            t += 10.0
            volume += 1.8 * 10.0 / 3600.0
            rig.readings["makeup_volume_m3"] = volume
            rig.run_until(t, dt_s=10.0)
        self.assertEqual(rig.alarm_state("makeup_leak_rate"), "active")
        self.assertAlmostEqual(rig.ctl.diagnostics()["makeup_rate_l_per_h"], 1800.0, delta=40.0)
        self.assertAlmostEqual(rig.ctl.diagnostics()["makeup_total_m3"], 3.6, delta=0.01)
        rig.run_until(t + 7200.0, dt_s=10.0)
        self.assertEqual(rig.alarm_state("makeup_leak_rate"), None)

    def test_normal_make_up_is_not_a_leak(self):
        rig = Rig()
        volume = rig.readings["makeup_volume_m3"]
        t = rig.t
        end = t + 4 * 3600.0
        while t < end:
            t += 10.0
            volume += 0.3 * 10.0 / 3600.0  # 300 L/h: normal losses
            rig.readings["makeup_volume_m3"] = volume
            rig.run_until(t, dt_s=10.0)
        self.assertEqual(rig.alarm_state("makeup_leak_rate"), None)


if __name__ == "__main__":
    unittest.main()


class TestStuckValveScenario(unittest.TestCase):
    def test_position_feedback_far_from_command_raises_mismatch(self):
        # Feedback follows the command: no alarm. Then the valve sticks at 20 % while the supply
        # is too cold and the loop drives the command open: after mismatch_delay_s (300 s) the
        # alarm "valve_position_mismatch" is active; it clears once the valve follows again.
        rig = Rig(readings={"valve_position_pct": 0.0})
        t = rig.t
        while t < 1600.0:
            t += 5.0
            rig.readings["valve_position_pct"] = rig.out["valve_cmd_pct"] if rig.out else 0.0
            rig.run_until(t, dt_s=5.0)
        self.assertEqual(rig.alarm_state("valve_position_mismatch"), None)
        rig.readings["valve_position_pct"] = 20.0
        rig.readings["secondary_supply_temp_c"] = 35.0
        rig.run_until(1800.0, dt_s=5.0)
        self.assertTrue(rig.out["valve_cmd_pct"] > 40.0)
        self.assertEqual(rig.alarm_state("valve_position_mismatch"), None)
        rig.run_until(2000.0, dt_s=5.0)
        self.assertEqual(rig.alarm_state("valve_position_mismatch"), "active")
        row = [a for a in rig.out["alarms"] if a["code"] == "valve_position_mismatch"][0]
        self.assertEqual(row["severity"], "major")
        self.assertEqual(row["value"], 20.0)
        t = rig.t
        while t < 2600.0:
            t += 5.0
            rig.readings["valve_position_pct"] = rig.out["valve_cmd_pct"]
            rig.run_until(t, dt_s=5.0)
        self.assertTrue(rig.alarm_state("valve_position_mismatch") in (None, "cleared_unacked"))
