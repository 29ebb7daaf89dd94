"""Scenario: the season start-up sequence (fill & pressurise -> cold circulation -> warm-up
ramp -> run) against a small process: the make-up pump raises the network pressure, the valve
heats the supply toward 20 + 0.8 x valve % degC with a 5-minute lag."""

import unittest

from heatkeeper.core.tests.station_rig import Rig


class Process:
    def __init__(self, rig):
        self.rig = rig
        self.pressure_kpa = 0.0
        self.supply_c = 12.0

    def advance(self, dt_s):
        out = self.rig.out
        if out is not None:
            if out["makeup_pump_run"]:
                self.pressure_kpa += 1.5 * dt_s
                self.rig.readings["makeup_volume_m3"] += 2.0 * dt_s / 3600.0
            if out["relief_valve_open"]:
                self.pressure_kpa -= 5.0 * dt_s
            flowing = out["pump1_run"] or out["pump2_run"]
            target = 12.0 + 0.8 * out["valve_cmd_pct"] if flowing else self.supply_c
            self.supply_c += (target - self.supply_c) * min(1.0, dt_s / 300.0)
        r = self.rig.readings
        r["secondary_return_pressure_kpa"] = self.pressure_kpa
        r["secondary_supply_pressure_kpa"] = self.pressure_kpa + (90.0 if out is not None and (out["pump1_run"] or out["pump2_run"]) else 0.0)
        r["secondary_supply_temp_c"] = self.supply_c
        r["secondary_return_temp_c"] = self.supply_c - 5.0


class TestStartupScenario(unittest.TestCase):
    def test_season_start_up(self):
        rig = Rig({"modes": {"initial_mode": "startup", "fill_confirm_s": 120.0, "cold_circulation_s": 1800.0,
                             "warmup_rate_k_per_h": 20.0}}, {"outdoor_temp_c": -10.0})
        proc = Process(rig)
        seen = []
        checked_fill = False
        t = rig.t
        while t < rig.t + 20 * 3600.0 and (not seen or seen[-1] != "auto"):
            t += 5.0
            proc.advance(5.0)
            rig.run_until(t, dt_s=5.0)
            name = rig.out["mode_name"]
            if not seen or seen[-1] != name:
                seen.append(name)
            if name == "startup_fill":
                # Filling: circulation off, valve shut, make-up filling; no dry-run trip.
                self.assertTrue(not rig.out["pump1_run"] and not rig.out["pump2_run"])
                self.assertEqual(rig.out["valve_cmd_pct"], 0.0)
                checked_fill = True
            elif name == "startup_cold":
                self.assertEqual(rig.out["valve_cmd_pct"], 0.0)
            elif name == "startup_warmup":
                self.assertTrue(rig.out["supply_setpoint_c"] <= rig.ctl.diagnostics()["chain_setpoint_c"] + 1e-9)
        self.assertTrue(checked_fill)
        self.assertEqual(seen, ["startup_fill", "startup_cold", "startup_warmup", "auto"])
        reasons = [e["reason"] for e in rig.events if e["kind"] == "mode"]
        self.assertEqual(reasons, ["pressure_reached", "cold_circulation_done", "warmup_complete"])
        codes = [a["code"] for a in rig.out["alarms"]]
        self.assertTrue("pump_dry_run" not in codes and "pressure_low" not in codes, codes)
        self.assertTrue(rig.ctl.diagnostics()["makeup_total_m3"] > 0.0)
        self.assertTrue(rig.alarm_state("makeup_leak_rate") is None)

    def test_fill_timeout_alarm(self):
        rig = Rig({"modes": {"initial_mode": "startup", "fill_timeout_s": 600.0}},
                  {"secondary_return_pressure_kpa": 30.0, "secondary_supply_pressure_kpa": 30.0})
        rig.run_until(rig.t + 700.0, dt_s=5.0)
        self.assertEqual(rig.out["mode_name"], "startup_fill")
        self.assertEqual(rig.alarm_state("startup_fill_timeout"), "active")


if __name__ == "__main__":
    unittest.main()
