"""Scenarios: remote setpoints as leases that expire back to the station's own settings,
and a restart in the middle of a lease (tables of cycles, leaping clock)."""

import json
import unittest

from heatkeeper.core import command_handler
from heatkeeper.core.station import StationController
from heatkeeper.core.tests.station_rig import Rig, cmd, run_table


class TestLeaseScenarios(unittest.TestCase):
    def test_supply_lease_in_remote_expires(self):
        # The chain ramps a rising setpoint (curve.ramp_up_k_per_h), so the lease is reached
        # gradually; a twin station without the lease shows the station's own setpoint.
        rig = Rig()
        twin = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("set_mode", {"mode": "remote"}), {"mode_name": "remote"}),
            (1020.0, {}, cmd("set_supply_setpoint", {"supply_setpoint_c": 63.0, "lease_s": 7200}),
             {"result": ("applied", "ok")}),
            (5000.0, {}, None, {"supply_setpoint_c": 63.0, "event:expired": False}),
            # Issued at t=1010 for 7200 s.
            (8209.0, {}, None, {"supply_setpoint_c": 63.0, "event:expired": False}),
            (8300.0, {}, None, {"event:expired": True}),
        ])
        twin.run_until(8300.0)
        self.assertAlmostEqual(rig.out["supply_setpoint_c"], twin.out["supply_setpoint_c"], delta=1e-6)
        self.assertTrue(twin.out["supply_setpoint_c"] < 60.0)
        self.assertEqual(rig.ctl.diagnostics()["supply_setpoint_lease_s"], 0.0)
        self.assertEqual(rig.ctl.telemetry(rig.inputs(), rig.out)["supply_setpoint_lease_c"], None)

    def test_supply_lease_target_is_visible_while_the_setpoint_ramps(self):
        # The operator's value is in telemetry at once; the setpoint rises toward it at 12 K/h.
        rig = Rig()
        rig.run_until(1100.0)
        own = rig.out["supply_setpoint_c"]
        self.assertEqual(rig.ctl.telemetry(rig.inputs(), rig.out)["supply_setpoint_lease_c"], None)
        rig.command("set_mode", {"mode": "remote"})
        res = rig.command("set_supply_setpoint", {"supply_setpoint_c": own + 8.0, "lease_s": 7200})
        self.assertEqual(res["result"], "applied")
        rig.run_until(1101.0)
        tel = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertAlmostEqual(tel["supply_setpoint_lease_c"], own + 8.0, delta=1e-9)
        self.assertTrue(tel["supply_setpoint_c"] < own + 0.1)
        rig.run_until(1100.0 + 1800.0)  # half an hour: +6 K
        self.assertAlmostEqual(rig.out["supply_setpoint_c"], own + 6.0, delta=0.1)
        rig.run_until(1100.0 + 2500.0)
        self.assertAlmostEqual(rig.out["supply_setpoint_c"], own + 8.0, delta=1e-6)

    def test_supply_lease_not_taken_in_auto(self):
        rig = Rig()
        res = rig.command("set_supply_setpoint", {"supply_setpoint_c": 63.0})
        self.assertEqual(res["reason"], "not_permitted_in_mode")

    def test_dp_and_makeup_leases(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("set_dp_setpoint", {"dp_setpoint_kpa": 140.0, "lease_s": 300}), {}),
            (1020.0, {}, cmd("set_makeup_pressure", {"pressure_setpoint_kpa": 300.0, "lease_s": 120}), {}),
        ])
        self.assertEqual(rig.ctl.diagnostics()["dp_target_kpa"], 140.0)
        self.assertEqual(rig.ctl.diagnostics()["makeup_setpoint_kpa"], 300.0)
        self.assertTrue(rig.out["makeup_pump_run"])  # 250 kPa < 300 - 20: fill up
        rig.run_until(1400.0, dt_s=10.0)
        self.assertEqual(rig.ctl.diagnostics()["dp_target_kpa"], 100.0)
        self.assertEqual(rig.ctl.diagnostics()["makeup_setpoint_kpa"], 250.0)
        whats = [e["what"] for e in rig.events if e.get("reason") == "expired"]
        self.assertEqual(sorted(whats), ["dp_setpoint", "makeup_pressure"])

    def test_boost_adds_to_the_curve_for_its_duration(self):
        rig = Rig()
        twin = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("boost", {"boost_k": 4.0, "duration_s": 3600}), {"result": ("applied", "ok")}),
            (3000.0, {}, None, {}),
        ])
        twin.run_until(3000.0)
        self.assertAlmostEqual(rig.out["supply_setpoint_c"] - twin.out["supply_setpoint_c"], 4.0, delta=1e-6)
        rig.run_until(5000.0, dt_s=10.0)
        twin.run_until(5000.0, dt_s=10.0)
        self.assertAlmostEqual(rig.out["supply_setpoint_c"], twin.out["supply_setpoint_c"], delta=1e-6)

    def test_clear_lease_returns_at_once(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("set_dp_setpoint", {"dp_setpoint_kpa": 150.0}), {}),
            (1020.0, {}, cmd("clear_lease", {"what": "dp_setpoint"}), {"result": ("applied", "ok")}),
        ])
        self.assertEqual(rig.ctl.diagnostics()["dp_target_kpa"], 100.0)

    def test_heat_cap_lease_trims_the_supply_until_it_expires(self):
        # The supervisor's share of a short source: the meter reads 3000 kW, the cap is 2000 kW.
        rig = Rig(readings={"heat_power_kw": 3000.0})
        twin = Rig(readings={"heat_power_kw": 3000.0})
        run_table(self, rig, [
            (1010.0, {}, cmd("set_heat_cap", {"heat_cap_kw": 2000.0, "lease_s": 1800}), {"result": ("applied", "ok")}),
            (2500.0, {}, None, {"event:expired": False}),
        ])
        twin.run_until(2500.0)
        self.assertTrue(rig.out["supply_setpoint_c"] < twin.out["supply_setpoint_c"] - 5.0)
        self.assertEqual(command_handler.offer(rig.ctl)["heat_cap_lease_kw"], 2000.0)
        self.assertAlmostEqual(rig.ctl.diagnostics()["heat_cap_lease_s"], 1000.0 + 1800.0 - 2500.0, delta=1e-6)  # issued at t=1000
        rig.run_until(2900.0)
        self.assertIn("heat_cap", [e["what"] for e in rig.events if e.get("reason") == "expired"])
        self.assertEqual(command_handler.offer(rig.ctl)["heat_cap_lease_kw"], None)
        self.assertEqual(rig.ctl.diagnostics()["heat_cap_lease_s"], 0.0)

    def test_heat_cap_bad_values_are_rejected(self):
        rig = Rig()
        rig.run_until(1010.0)
        for value, reason in ((0.0, "out_of_range"), (-5.0, "out_of_range"), (2e6, "out_of_range"), ("x", "bad_args")):
            res = rig.command("set_heat_cap", {"heat_cap_kw": value})
            self.assertEqual((res["result"], res["reason"]), ("rejected", reason), value)
            self.assertIn("heat_cap_kw", res["detail"])
        self.assertFalse(rig.ctl.leases.active(6))

    def test_restart_mid_lease_resumes_remaining_time(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("set_mode", {"mode": "remote"}), {}),
            (1100.0, {}, cmd("set_supply_setpoint", {"supply_setpoint_c": 58.0, "lease_s": 1000}), {}),
        ])
        snap = json.loads(json.dumps(rig.ctl.snapshot()))
        # The box reboots: a new controller, a new monotonic clock starting near zero.
        again = Rig(t0=5.0)
        again.ctl = StationController()
        again.ctl.restore(snap, 5.0)
        again.run_until(100.0)
        self.assertEqual(again.out["mode_name"], "remote")
        self.assertEqual(again.ctl.mode_flags["remote_supply_c"], 58.0)
        again.run_until(1000.0, dt_s=5.0)
        self.assertEqual(again.ctl.mode_flags["remote_supply_c"], None)
        self.assertIn("expired", [e["reason"] for e in again.events])


if __name__ == "__main__":
    unittest.main()
