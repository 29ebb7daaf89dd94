"""Tests of core.valve_loop: PI + actuator closed around a small plant, manual, exercise, plausibility."""

import json
import unittest

from heatkeeper.core.valve_loop import ValveLoop


class FirstOrderPlant:
    """Supply temperature = 20 + 0.8 K per % of valve, with a 60 s lag (enough to close a loop)."""

    def __init__(self):
        self.supply_c = 20.0

    def advance(self, valve_pct, dt_s):
        target = 20.0 + 0.8 * valve_pct
        self.supply_c += (target - self.supply_c) * min(1.0, dt_s / 60.0)


def closed_loop(loop, plant, start_s, seconds, setpoint_c, dt_s=1.0, manual=None, tod=-1.0):
    t = start_s
    out = None
    while t < start_s + seconds:
        out = loop.step(t, setpoint_c, plant.supply_c, True, 0.0, False, manual, tod)
        plant.advance(out["valve_estimate_pct"], dt_s)
        t += dt_s
    return out


class TestValveLoop(unittest.TestCase):
    def test_holds_setpoint_within_neutral_zone_floating(self):
        loop = ValveLoop({"valve": {"exercise_after_days": 0.0}})
        plant = FirstOrderPlant()
        out = closed_loop(loop, plant, 0.0, 3600.0, 60.0)
        self.assertAlmostEqual(plant.supply_c, 60.0, delta=1.5)
        self.assertAlmostEqual(out["valve_estimate_pct"], 50.0, delta=3.0)
        self.assertEqual(sorted(out.keys()),
                         ["valve_close_pulse_s", "valve_cmd_pct", "valve_estimate_pct", "valve_open_pulse_s"])

    def test_position_valve_loop(self):
        loop = ValveLoop({"valve": {"kind": "position", "run_time_s": 30.0}, "pi": {"neutral_zone_k": 1.0}})
        plant = FirstOrderPlant()
        out = closed_loop(loop, plant, 0.0, 3600.0, 52.0)
        self.assertAlmostEqual(plant.supply_c, 52.0, delta=1.0)
        self.assertEqual(out["valve_open_pulse_s"], 0.0)
        self.assertAlmostEqual(out["valve_cmd_pct"], 40.0, delta=2.0)

    def test_manual_then_bumpless_back_to_auto(self):
        loop = ValveLoop({"valve": {"kind": "position"}})
        plant = FirstOrderPlant()
        closed_loop(loop, plant, 0.0, 1800.0, 60.0)
        out = closed_loop(loop, plant, 1800.0, 600.0, 60.0, manual=30.0)
        self.assertEqual(out["valve_cmd_pct"], 30.0)
        self.assertTrue(loop.diag["valve_manual"])
        before = out["valve_cmd_pct"]
        out = loop.step(2400.0, 60.0, plant.supply_c, True, 0.0, False, None)
        # the first automatic output continues from the manual one (only P and one I step apart)
        self.assertTrue(abs(out["valve_cmd_pct"] - before) < 25.0 * 1.25 + 1.0)
        out = loop.step(2401.0, 60.0, plant.supply_c, True, 0.0, False, float("nan"))
        self.assertTrue(0.0 <= out["valve_cmd_pct"] <= 100.0)

    def test_heating_off_closes_and_supply_fault_holds(self):
        loop = ValveLoop({})
        plant = FirstOrderPlant()
        closed_loop(loop, plant, 0.0, 1800.0, 60.0)
        held = loop.pi.out_pct
        out = loop.step(1800.0, 60.0, float("nan"), True, 0.0, False, None)
        self.assertEqual(out["valve_cmd_pct"], held)
        self.assertTrue(loop.diag["valve_supply_fault"])
        out = closed_loop(loop, plant, 1801.0, 300.0, 0.0)
        self.assertEqual(out["valve_estimate_pct"], 0.0)
        self.assertEqual(out["valve_cmd_pct"], 0.0)

    def test_blind_supply_fallback_limit_table(self):
        # setpoint 53 degC: feed-forward 100 % x (53 - 20) / (75 - 20) = 60 %. Rows: (secondary
        # return, its ok, primary return, its ok, wanted valve %); the references are the first
        # row's returns (40 and 55 degC), taken when the supply went blind.
        loop = ValveLoop({"valve": {"kind": "position"}})
        plant = FirstOrderPlant()
        closed_loop(loop, plant, 0.0, 900.0, 140.0)  # out of reach: the PI drives to 100 %
        self.assertEqual(loop.pi.out_pct, 100.0)
        rows = ((40.0, True, 55.0, True, 60.0), (41.0, True, 55.0, True, 48.0), (40.0, True, 57.5, True, 30.0),
                (45.0, True, 55.0, True, 0.0), (39.0, True, 54.0, True, 60.0), (0.0, False, 0.0, False, 60.0),
                (0.0, False, 56.0, True, 48.0))
        t = 900.0
        for n, row in enumerate(rows):
            out = loop.step(t, 53.0, 0.0, False, 0.0, False, None, -1.0, row[0], row[1], row[2], row[3])
            self.assertAlmostEqual(out["valve_cmd_pct"], row[4], delta=1e-6, msg="row %d" % n)
            self.assertAlmostEqual(loop.diag["valve_fallback_limit_pct"], row[4], delta=1e-6)
            t += 1.0
        # Manual is limited the same way; heating off (setpoint 0) shuts.
        out = loop.step(t, 53.0, 0.0, False, 0.0, False, 100.0, -1.0, 40.0, True, 55.0, True)
        self.assertAlmostEqual(out["valve_cmd_pct"], 60.0, delta=1e-6)
        out = loop.step(t + 1.0, 0.0, 0.0, False, 0.0, False, None, -1.0, 40.0, True, 55.0, True)
        self.assertEqual(out["valve_cmd_pct"], 0.0)
        # Seeing again: no limit, and the manual position stands.
        out = loop.step(t + 2.0, 53.0, 50.0, True, 0.0, False, 100.0, -1.0, 40.0, True, 55.0, True)
        self.assertEqual(out["valve_cmd_pct"], 100.0)
        self.assertEqual(loop.diag["valve_fallback_limit_pct"], None)

    def test_valve_exercise_after_days_still_at_configured_time(self):
        loop = ValveLoop({"valve": {"exercise_after_days": 1.0, "exercise_time_s": 43200.0,
                                    "exercise_stroke_pct": 10.0, "run_time_s": 100.0}})
        t = 0.0
        opened = 0.0
        # (seconds to run, time of day at start) with heating off: valve still at 0
        while t < 86400.0 + 43200.0 + 100.0:
            out = loop.step(t, 0.0, 20.0, True, 0.0, False, None, t % 86400.0)
            opened += out["valve_open_pulse_s"]
            t += 10.0
        self.assertTrue(loop.diag["valve_exercising"] or loop.exercises == 1)
        self.assertTrue(opened >= 10.0)  # a 10 % stroke of a 100 s actuator
        while t < 86400.0 + 43200.0 + 400.0:
            out = loop.step(t, 0.0, 20.0, True, 0.0, False, None, t % 86400.0)
            t += 10.0
        self.assertEqual(loop.exercises, 1)
        self.assertEqual(out["valve_estimate_pct"], 0.0)

    def test_plausibility_open_no_rise(self):
        loop = ValveLoop({"valve": {"kind": "position", "no_rise_delay_s": 600.0}})
        t = 0.0
        # supply stuck at 30 degC while the setpoint is 70: the valve opens fully, nothing rises
        while t < 1200.0:
            loop.step(t, 70.0, 30.0, True, 0.0, False, None)
            t += 5.0
        self.assertTrue(loop.alarms_diag["valve_open_no_rise"])
        self.assertTrue(not loop.alarms_diag["valve_shut_rising"])
        # the supply rising clears it
        loop.step(t, 70.0, 33.0, True, 0.0, False, None)
        self.assertTrue(not loop.alarms_diag["valve_open_no_rise"])

    def test_plausibility_shut_rising(self):
        loop = ValveLoop({"valve": {"kind": "position", "shut_delay_s": 300.0, "shut_rise_k": 5.0}})
        t = 0.0
        supply = 40.0
        fired_at = -1.0
        while t < 900.0:
            loop.step(t, 0.0, supply, True, 0.0, False, None)  # heating off: valve shut
            if t > 100.0:
                supply += 0.05  # a passing valve: 3 K per minute
            if fired_at < 0.0 and loop.alarms_diag["valve_shut_rising"]:
                fired_at = t
            t += 5.0
        self.assertTrue(fired_at >= 300.0)
        self.assertTrue(not loop.alarms_diag["valve_open_no_rise"])

    def shut_valve_run(self, supply_at, return_at, until_s=1500.0):
        """Heating off (valve shut) with the secondary supply and return as functions of time;
        the time the passing-valve alarm condition first held, or -1."""
        loop = ValveLoop({"valve": {"kind": "position", "shut_delay_s": 600.0, "shut_rise_k": 5.0}})
        t = 0.0
        while t < until_s:
            loop.step(t, 0.0, supply_at(t), True, 0.0, False, None, -1.0, return_at(t), True)
            if loop.alarms_diag["valve_shut_rising"]:
                return t
            t += 5.0
        return -1.0

    def test_shut_rising_not_on_the_start_up_transient(self):
        # The demo's start-up: the valve shut, the return hotter than the supply, and the supply
        # warming by 12 K toward it as the network's warm water comes round (no heat let through).
        fired = self.shut_valve_run(lambda t: 30.0 + 12.0 * min(1.0, t / 1200.0),
                                    lambda t: 45.0 - 3.0 * min(1.0, t / 1200.0))
        self.assertEqual(fired, -1.0)

    def test_shut_rising_on_a_passing_valve_with_the_return_known(self):
        # A passing valve heats the secondary across the exchanger: the supply climbs above the return.
        fired = self.shut_valve_run(lambda t: 32.0 + 3.0 * max(0.0, t - 100.0) / 60.0, lambda t: 30.0)
        self.assertTrue(600.0 <= fired <= 700.0, fired)

    def test_plausibility_position_mismatch(self):
        loop = ValveLoop({"valve": {"kind": "position", "mismatch_pct": 10.0, "mismatch_delay_s": 120.0}})
        # (time_s, manual command %, feedback %, feedback ok, expected alarm)
        table = [(0.0, 50.0, 48.0, True, False), (10.0, 50.0, 20.0, True, False), (129.0, 50.0, 20.0, True, False),
                 (130.0, 50.0, 20.0, True, True), (140.0, 50.0, 20.0, False, False), (150.0, 50.0, 45.0, True, False)]
        for t, cmd, fb, ok, alarm in table:
            loop.step(t, 60.0, 55.0, True, fb, ok, cmd)
            self.assertEqual(loop.alarms_diag["valve_position_mismatch"], alarm, "t=%s" % t)

    def test_snapshot_restore(self):
        loop = ValveLoop({})
        plant = FirstOrderPlant()
        closed_loop(loop, plant, 0.0, 1800.0, 60.0)
        snap = json.loads(json.dumps(loop.snapshot()))
        other = ValveLoop({})
        other.restore(snap, 5.0)
        self.assertAlmostEqual(other.actuator.estimate_pct, loop.actuator.estimate_pct, delta=1e-9)
        self.assertAlmostEqual(other.pi.integral_pct, loop.pi.integral_pct, delta=1e-9)
        other.restore({"pi": "x", "actuator": {"estimate_pct": "y"}, "still_age_s": "z"}, 0.0)
        other.restore(None, 0.0)


if __name__ == "__main__":
    unittest.main()
