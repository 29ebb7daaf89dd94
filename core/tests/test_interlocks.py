"""Tests of core.interlocks: only toward safe, latching over-temperature, frost, pressure."""

import unittest

from heatkeeper.core import interlocks, make_up, pumps, sensors
from heatkeeper.core.interlocks import X_BACKUP_TRIP, X_FROST, X_NO_FLOW, X_OVERTEMP, Interlocks
from heatkeeper.core.make_up import MakeUp
from heatkeeper.core.modes import MODE_NAMES, N_MODES
from heatkeeper.core.pumps import CirculationPumps
from heatkeeper.core.sensors import SignalQuality


def outputs(valve=60.0, pump1=True, makeup=True, relief=False):
    return {"valve_cmd_pct": valve, "valve_open_pulse_s": 0.5, "valve_close_pulse_s": 0.0,
            "pump1_run": pump1, "pump1_speed_cmd_pct": 70.0 if pump1 else 0.0,
            "pump2_run": False, "pump2_speed_cmd_pct": 0.0,
            "makeup_pump_run": makeup, "makeup_pump_speed_cmd_pct": 100.0 if makeup else 0.0,
            "relief_valve_open": relief}


class Rig:
    def __init__(self, **over):
        cfg = dict(interlocks.DEFAULTS)
        cfg.update(over)
        self.interlocks = Interlocks(cfg)
        self.signals = SignalQuality(sensors.DEFAULTS)
        self.pumps = CirculationPumps(dict(pumps.DEFAULTS), 0.0)
        self.make_up = MakeUp(dict(make_up.DEFAULTS), 0.0)
        self.readings = {"secondary_supply_temp_c": 70.0, "secondary_supply_pressure_kpa": 350.0,
                         "secondary_return_pressure_kpa": 250.0, "pump1_running": 1.0, "tank_level_pct": 80.0}
        self.t = 0.0

    def cycle(self, out, pumps_want=True):
        self.t += 1.0
        self.signals.update(dict((k, (v, True)) for k, v in self.readings.items()), self.t)
        self.pumps.step(self.t, 1.0, pumps_want, self.signals, 100.0)
        self.make_up.step(self.t, 1.0, self.signals, 250.0, False)
        self.interlocks.apply(out, self.t, self.signals, self.pumps, self.make_up, 1.0, False)
        return out


class TestInterlocks(unittest.TestCase):
    def test_normal_outputs_untouched(self):
        r = Rig()
        out = r.cycle(outputs())  # the pump starts: flow not yet proven, valve held shut
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        out = r.cycle(outputs())
        self.assertEqual(out, outputs())
        self.assertEqual(r.interlocks.actions, 0)

    def test_overtemp_trips_latches_and_needs_ack(self):
        r = Rig(overtemp_c=95.0, overtemp_hyst_k=5.0, overtemp_delay_s=3.0)
        r.readings["secondary_supply_temp_c"] = 96.0
        for _ in range(3):
            out = r.cycle(outputs())
        self.assertEqual(out["valve_cmd_pct"], 60.0)  # not yet: delay
        out = r.cycle(outputs())
        self.assertTrue(r.interlocks.tripped)
        self.assertEqual((out["valve_cmd_pct"], out["valve_open_pulse_s"], out["valve_close_pulse_s"]), (0.0, 0.0, 1.0))
        self.assertTrue(r.interlocks.actions & X_OVERTEMP)
        # Cooled, but not acknowledged: stays shut.
        r.readings["secondary_supply_temp_c"] = 70.0
        for _ in range(100):
            out = r.cycle(outputs())
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        r.interlocks.request_reset()
        out = r.cycle(outputs())
        self.assertTrue(not r.interlocks.tripped)
        self.assertEqual(out["valve_cmd_pct"], 60.0)

    def test_ack_while_hot_releases_only_when_cool(self):
        r = Rig(overtemp_delay_s=0.0)
        r.readings["secondary_supply_temp_c"] = 97.0
        r.cycle(outputs())
        r.interlocks.request_reset()
        r.readings["secondary_supply_temp_c"] = 92.0  # inside the hysteresis
        out = r.cycle(outputs())
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        r.readings["secondary_supply_temp_c"] = 89.0
        out = r.cycle(outputs())
        self.assertEqual(out["valve_cmd_pct"], 60.0)

    def test_no_circulation_shuts_valve(self):
        r = Rig()
        out = r.cycle(outputs(pump1=False), pumps_want=False)
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        self.assertTrue(r.interlocks.actions & X_NO_FLOW)
        self.assertEqual(r.interlocks.events[-1]["reason"], "no_flow_valve_shut_on")

    def test_over_pressure_opens_relief_and_stops_make_up(self):
        r = Rig(over_pressure_kpa=600.0)
        r.readings["secondary_supply_pressure_kpa"] = 620.0
        out = r.cycle(outputs(makeup=True))
        self.assertTrue(out["relief_valve_open"])
        self.assertTrue(not out["makeup_pump_run"])
        r.readings["secondary_supply_pressure_kpa"] = 580.0  # hysteresis 30 kPa
        out = r.cycle(outputs(makeup=True))
        self.assertTrue(out["relief_valve_open"])
        r.readings["secondary_supply_pressure_kpa"] = 560.0
        out = r.cycle(outputs(makeup=True))
        self.assertTrue(not out["relief_valve_open"])

    def test_frost_forces_circulation(self):
        r = Rig()
        r.interlocks.update_frost(-5.0, True)
        out = r.cycle(outputs(pump1=False), pumps_want=False)
        self.assertTrue(out["pump1_run"])
        self.assertTrue(r.interlocks.actions & X_FROST)
        self.assertTrue(r.interlocks.update_frost(3.5, True))  # hysteresis
        self.assertTrue(not r.interlocks.update_frost(4.0, True))
        self.assertTrue(not r.interlocks.update_frost(-30.0, False))  # unknown outdoor keeps the state

    def test_frost_floor_and_circulation_by_mode(self):
        r = Rig(frost_min_supply_c=25.0)
        floors = [r.interlocks.frost_supply_floor_c(m) for m in range(N_MODES)]
        self.assertEqual(floors, [0.0] * N_MODES)  # no frost: no floor
        r.interlocks.update_frost(-5.0, True)
        floors = dict((MODE_NAMES[m], r.interlocks.frost_supply_floor_c(m)) for m in range(N_MODES))
        self.assertEqual(floors, {"startup_fill": 0.0, "startup_cold": 0.0, "startup_warmup": 25.0, "auto": 25.0,
                                  "manual": 0.0, "remote": 25.0, "safe": 0.0, "summer": 25.0})
        wanted = [MODE_NAMES[m] for m in range(N_MODES) if r.interlocks.frost_circulation(m)]
        self.assertEqual(wanted, [n for n in MODE_NAMES if n != "startup_fill"])  # never into an unfilled network

    def test_frost_opens_the_valve_even_while_tripped(self):
        # Tripped on over-temperature, not yet acknowledged, then the primary goes cold in a
        # frost: the network must not freeze waiting for someone to acknowledge.
        r = Rig(overtemp_delay_s=0.0)
        r.interlocks.update_frost(-20.0, True)
        r.readings["secondary_supply_temp_c"] = 100.0
        r.cycle(outputs())
        out = r.cycle(outputs(valve=100.0))
        self.assertTrue(r.interlocks.tripped)
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        t_c = 100.0
        while t_c > 3.0:  # cooling at 4 K/s, a plausible rate for the sensor checks
            t_c = max(3.0, t_c - 4.0)
            r.readings["secondary_supply_temp_c"] = t_c
            out = r.cycle(outputs(valve=100.0))
        self.assertTrue(r.interlocks.tripped)  # still latched: the alarm is not acknowledged
        self.assertEqual((out["valve_cmd_pct"], out["valve_close_pulse_s"]), (20.0, 0.0))  # the frost minimum, no more
        self.assertTrue(r.interlocks.actions & X_OVERTEMP)
        r.readings["secondary_supply_temp_c"] = 8.0  # above the frost limit: the trip shuts it again
        out = r.cycle(outputs(valve=100.0))
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        r.interlocks.update_frost(10.0, True)  # no frost: a cold supply does not open a tripped valve
        r.readings["secondary_supply_temp_c"] = 5.0
        out = r.cycle(outputs(valve=100.0))
        self.assertEqual(out["valve_cmd_pct"], 0.0)

    def test_tank_low_low_stops_make_up(self):
        r = Rig()
        r.readings["tank_level_pct"] = 5.0
        out = r.cycle(outputs(makeup=True))
        self.assertTrue(not out["makeup_pump_run"])

    def test_only_toward_safe(self):
        # Whatever the inputs, an interlock never opens the valve more, never starts make-up
        # and never closes the relief valve.
        r = Rig()
        for supply in (20.0, 70.0, 99.0):
            for p in (20.0, 250.0, 700.0):
                r.readings["secondary_supply_temp_c"] = supply
                r.readings["secondary_return_pressure_kpa"] = p
                before = outputs(valve=40.0, makeup=False, relief=True)
                out = r.cycle(dict(before))
                self.assertTrue(out["valve_cmd_pct"] <= 40.0)
                self.assertTrue(not out["makeup_pump_run"])
                self.assertTrue(out["relief_valve_open"])

    def test_backup_trip_on_returns_only_while_the_supply_is_blind(self):
        # overtemp_c 95, margin 15 K: the returns trip at 80 degC, only with the supply bad.
        r = Rig(overtemp_delay_s=2.0)
        r.readings["secondary_return_temp_c"] = 84.0
        r.readings["primary_return_temp_c"] = 60.0
        for _ in range(5):
            out = r.cycle(outputs())
        self.assertTrue(not r.interlocks.tripped)  # supply good at 70 degC: a hot return is no trip
        self.assertEqual(out["valve_cmd_pct"], 60.0)
        del r.readings["secondary_supply_temp_c"]
        rows = []
        for _ in range(40):  # held for stale_s (30 s), then blind: delay, trip
            out = r.cycle(outputs())
            rows.append(r.interlocks.tripped)
        self.assertTrue(r.interlocks.tripped and r.interlocks.backup_trip)
        self.assertTrue(rows.index(True) >= 30)
        self.assertEqual((out["valve_cmd_pct"], out["valve_close_pulse_s"]), (0.0, 1.0))
        self.assertEqual(r.interlocks.actions & (X_OVERTEMP | X_BACKUP_TRIP), X_OVERTEMP | X_BACKUP_TRIP)
        self.assertEqual(r.interlocks.overtemp_value_c, 84.0)
        # Hysteresis, then the acknowledgement once below 80 - 5 degC.
        r.interlocks.request_reset()
        r.readings["secondary_return_temp_c"] = 78.0
        for _ in range(15):
            r.cycle(outputs())
        self.assertTrue(r.interlocks.tripped)
        r.readings["secondary_return_temp_c"] = 74.0
        for _ in range(15):
            out = r.cycle(outputs())
        self.assertTrue(not r.interlocks.tripped and not r.interlocks.backup_trip)
        self.assertEqual(out["valve_cmd_pct"], 60.0)

    def test_backup_trip_reads_the_hotter_return(self):
        # Table: (secondary return or None, primary return or None, tripped after a minute blind)
        for sec, prim, want in ((None, None, False), (70.0, None, False), (None, 81.0, True), (70.0, 81.0, True),
                                (81.0, 60.0, True), (79.0, 79.5, False)):
            r = Rig(overtemp_delay_s=0.0)
            del r.readings["secondary_supply_temp_c"]
            for name, v in (("secondary_return_temp_c", sec), ("primary_return_temp_c", prim)):
                if v is not None:
                    r.readings[name] = v
            for _ in range(60):
                r.cycle(outputs())
            self.assertEqual(r.interlocks.tripped, want, (sec, prim))

    def test_snapshot(self):
        r = Rig(overtemp_delay_s=0.0)
        r.readings["secondary_supply_temp_c"] = 99.0
        r.cycle(outputs())
        other = Interlocks(dict(interlocks.DEFAULTS))
        other.restore(r.interlocks.snapshot())
        self.assertTrue(other.tripped)

    def test_validate(self):
        self.assertEqual(interlocks.validate(dict(interlocks.DEFAULTS)), [])
        bad = dict(interlocks.DEFAULTS)
        bad["overtemp_c"] = 300
        self.assertEqual(len(interlocks.validate(bad)), 1)
        for key, value in (("backup_return_margin_k", -1.0), ("fallback_valve_design_pct", 120.0),
                           ("fallback_return_rise_k", 0.0), ("fallback_return_rise_k", "5")):
            bad = dict(interlocks.DEFAULTS)
            bad[key] = value
            problems = interlocks.validate(bad)
            self.assertEqual(len(problems), 1, problems)
            self.assertIn("interlocks." + key, problems[0])


if __name__ == "__main__":
    unittest.main()
