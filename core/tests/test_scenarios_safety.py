"""Scenarios: over-temperature, over-pressure, dry run, tank low-low, frost (tables of cycles).

The point of each: the interlock acts locally, at once, and nothing else in the station
(commands, modes, the control loop) can undo it until the condition and the acknowledgement
allow."""

import unittest

from heatkeeper.core.tests.station_rig import SHUT, Rig, cmd, merged, run_table


class TestSafetyScenarios(unittest.TestCase):
    def test_overtemp_closes_valve_and_nothing_undoes_it(self):
        rig = Rig()
        run_table(self, rig, [
            (1060.0, {}, None, {"mode_name": "auto", "alarm:secondary_overtemp": None}),
            # Supply jumps to 97 degC: the rate check holds such a jump back for spike_hold_s
            # (10 s), then the 3 s trip delay: valve shut, then safe mode.
            (1075.0, {"secondary_supply_temp_c": 97.0}, None,
             merged(SHUT, {"alarm:secondary_overtemp": "active", "event:overtemp_trip_on": True})),
            (1076.0, {}, None, merged(SHUT, {"mode_name": "safe", "alarm:safe_mode": "active"})),
            # Nobody can talk it out of the trip while it is latched.
            (1067.0, {}, cmd("set_mode", {"mode": "auto"}), merged(SHUT, {"result": ("rejected", "interlock_latched")})),
            (1068.0, {}, cmd("set_mode", {"mode": "manual"}, "local"), merged(SHUT, {"result": ("rejected", "interlock_latched")})),
            (1069.0, {}, cmd("set_room_setpoint", {"room_setpoint_c": 24}), merged(SHUT, {"result": ("rejected", "not_permitted_in_mode")})),
            # Cooled down, not acknowledged: still shut, for as long as it takes.
            (3000.0, {"secondary_supply_temp_c": 40.0}, None, merged(SHUT, {"alarm:secondary_overtemp": "active"})),
            # Acknowledged while cool: the latch releases; the station stays in safe until told.
            (3010.0, {}, cmd("ack_alarm", {"code": "secondary_overtemp"}),
             {"result": ("applied", "ok"), "alarm:secondary_overtemp": None, "mode_name": "safe",
              "event:overtemp_trip_off": True}),
            (3100.0, {}, cmd("set_mode", {"mode": "auto"}), {"result": ("applied", "ok"), "mode_name": "auto"}),
        ])
        self.assertTrue(rig.out["valve_cmd_pct"] > 0.0)

    def test_overtemp_in_manual_with_valve_forced_open(self):
        rig = Rig()
        rig.run_until(1010.0)
        run_table(self, rig, [
            (1012.0, {}, cmd("set_mode", {"mode": "manual"}, "local"), {"mode_name": "manual"}),
            (1014.0, {}, cmd("set_valve_manual", {"valve_pct": 100}, "local"), {"valve_cmd_pct": 100.0}),
            (1030.0, {"secondary_supply_temp_c": 99.0}, None, merged(SHUT, {"mode_name": "manual"})),
            (1040.0, {}, cmd("set_valve_manual", {"valve_pct": 100}, "local"), merged(SHUT, {"result": ("applied", "ok")})),
        ])

    def test_single_spike_does_not_trip(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1011.0, {"secondary_supply_temp_c": 150.0}, None, {}),
            (1030.0, {"secondary_supply_temp_c": 52.0}, None, {"alarm:secondary_overtemp": None, "mode_name": "auto"}),
        ])
        self.assertTrue(not rig.ctl.interlocks.tripped)

    def test_over_pressure_relief_and_make_up_stop(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {"secondary_return_pressure_kpa": 200.0}, None, {"makeup_pump_run": True}),
            (1011.0, {"secondary_supply_pressure_kpa": 650.0}, None,
             {"relief_valve_open": True, "makeup_pump_run": False, "makeup_pump_speed_cmd_pct": 0.0}),
            (1020.0, {}, None, {"alarm:pressure_high": "active"}),
            (1040.0, {"secondary_supply_pressure_kpa": 350.0}, None,
             {"relief_valve_open": False, "makeup_pump_run": True, "alarm:pressure_high": None}),
        ])

    def test_dry_run_stops_pumps_and_shuts_valve(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, None, {"pump1_run": True}),
            (1020.0, {"secondary_return_pressure_kpa": 20.0, "secondary_supply_pressure_kpa": 30.0}, None,
             merged(SHUT, {"pump1_run": False, "pump2_run": False, "alarm:pump_dry_run": "active"})),
            (1040.0, {}, None, {"alarm:pressure_low": "active", "makeup_pump_run": True}),
            # Pressure restored by make-up: circulation restarts after dry_run_restart_s; the
            # latched alarm waits for its acknowledgement.
            (1200.0, {"secondary_return_pressure_kpa": 250.0, "secondary_supply_pressure_kpa": 350.0}, None,
             {"pump1_run": True, "alarm:pump_dry_run": "cleared_unacked", "event:dry_run_restart": True}),
            (1210.0, {}, cmd("ack_alarm", {"code": "pump_dry_run"}), {"alarm:pump_dry_run": None}),
        ])

    def test_tank_low_low_stops_make_up(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {"secondary_return_pressure_kpa": 200.0}, None, {"makeup_pump_run": True}),
            (1030.0, {"tank_level_pct": 25.0}, None, {"makeup_pump_run": True, "alarm:tank_level_low": "active"}),
            (1050.0, {"tank_level_pct": 5.0}, None, {"makeup_pump_run": False, "alarm:tank_level_low_low": "active"}),
        ])

    def test_frost_in_summer_mode(self):
        rig = Rig({"pumps": {"exercise_idle_h": 1000.0}}, {"outdoor_temp_c": 15.0})
        run_table(self, rig, [
            # (From the panel: a remote summer is a lease, and needs an outdoor reading first.)
            (1010.0, {}, cmd("set_mode", {"mode": "summer"}, "local"), {"mode_name": "summer"}),
            (1100.0, {}, None, {"pump1_run": False, "pump2_run": False, "supply_setpoint_c": 0.0, "valve_cmd_pct": 0.0}),
            # A cold night: circulation on, supply held at the frost minimum.
            (1200.0, {"outdoor_temp_c": -2.0}, None,
             {"pump1_run": True, "supply_setpoint_c": 20.0, "event:frost_circulation_on": True}),
            (1300.0, {"outdoor_temp_c": 10.0}, None, {"pump1_run": False, "event:frost_circulation_off": True}),
        ])


if __name__ == "__main__":
    unittest.main()
