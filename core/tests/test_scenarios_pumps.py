"""Scenarios: circulation pump trips, change-over, retry, all pumps lost (tables of cycles)."""

import unittest

from heatkeeper.core.tests.station_rig import Rig, run_table


class TestPumpScenarios(unittest.TestCase):
    def test_trip_standby_takes_over(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, None, {"pump1_run": True, "pump2_run": False, "alarm:pump1_fault": None}),
            # Pump 1 trips: it stops, the valve shuts while nothing circulates.
            (1012.0, {"pump1_fault": 1.0}, None,
             {"pump1_run": False, "pump2_run": False, "valve_cmd_pct": 0.0, "valve_close_pulse_s": 1.0,
              "event:failed_fault_input": True, "event:changeover": True, "alarm:pump1_fault": "active"}),
            # Change-over delay 5 s, then pump 2 runs and proves flow: the valve is released.
            (1020.0, {}, None, {"pump1_run": False, "pump2_run": True, "event:no_flow_valve_shut_off": True}),
            # The fault clears, but pump 1 is retried only after retry_s (20 min).
            (1100.0, {"pump1_fault": 0.0}, None, {"alarm:pump1_fault": "active", "pump2_run": True}),
            (2300.0, {}, None, {"event:retry": True, "alarm:pump1_fault": None, "pump2_run": True, "pump1_run": False}),
        ])
        self.assertEqual(rig.ctl.diagnostics()["duty_pump"], 2)

    def test_pump_runs_without_flow(self):
        rig = Rig()
        rig.run_until(1010.0)
        rig.pump_broken[0] = True  # commanded on, feedback says stopped (tripped contactor)
        run_table(self, rig, [
            (1040.0, {}, None, {"event:failed_no_proof": True, "pump2_run": True, "alarm:pump1_fault": "active"}),
        ])

    def test_both_pumps_lost(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, None, {"pump1_run": True}),
            (1060.0, {"pump1_fault": 1.0, "pump2_fault": 1.0}, None,
             {"pump1_run": False, "pump2_run": False, "valve_cmd_pct": 0.0,
              "alarm:pumps_all_failed": "active", "alarm:pump1_fault": "active", "alarm:pump2_fault": "active"}),
        ])
        sev = [a["severity"] for a in rig.out["alarms"] if a["code"] == "pumps_all_failed"]
        self.assertEqual(sev, ["critical"])

    def test_out_of_heat_raises_the_circulation(self):
        # The supply cannot reach its setpoint (the primary gives too little): the valve opens
        # fully, then the dp target rises so more water carries more heat to the homes; it falls
        # back once the supply is reached.
        rig = Rig(readings={"secondary_supply_temp_c": 30.0})
        rig.run_until(1600.0)
        self.assertTrue(rig.out["valve_cmd_pct"] > 99.0, rig.out["valve_cmd_pct"])
        self.assertTrue(rig.out["supply_setpoint_c"] > 40.0)
        rig.run_until(2700.0)
        diag = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertEqual(diag["dp_shortage_boost_kpa"], 100.0)
        self.assertEqual(diag["dp_target_kpa"], 200.0)
        self.assertEqual(diag["room_shortage_margin_k"], 0.5)  # the room target holds a margin for a day
        rig.readings["secondary_supply_temp_c"] = rig.out["supply_setpoint_c"]
        rig.run_until(3700.0)
        diag = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertEqual(diag["dp_shortage_boost_kpa"], 0.0)
        self.assertEqual(diag["dp_target_kpa"], 100.0)

    def test_rotation_and_exercise_over_weeks(self):
        # Leaping clock: 60 s cycles over 8 days; duty rotates after 168 h of running.
        rig = Rig({"pumps": {"exercise_idle_h": 400.0}})
        rig.run_until(1000.0 + 8 * 86400.0, dt_s=60.0)
        reasons = [e["reason"] for e in rig.events]
        self.assertIn("rotated", reasons)
        self.assertEqual(rig.ctl.diagnostics()["duty_pump"], 2)
        self.assertTrue(rig.ctl.diagnostics()["pump1_run_h"] >= 167.9)


if __name__ == "__main__":
    unittest.main()
