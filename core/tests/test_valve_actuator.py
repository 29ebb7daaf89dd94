"""Tests of core.valve_actuator: position kind, 3-point pulses, min pulse, end-stop re-sync."""

import unittest

from heatkeeper.core.valve_actuator import ValveActuator, validate


def drive(act, cycles, target_pct, dt_s=1.0):
    opened = 0.0
    closed = 0.0
    for _ in range(cycles):
        act.step(dt_s, target_pct, 0.0, False)
        opened += act.open_pulse_s
        closed += act.close_pulse_s
    return opened, closed


def synced(settings):
    """A floating actuator whose position is known (closed), as after a restored snapshot."""
    act = ValveActuator(settings)
    act.restore({"estimate_pct": 0.0})
    return act


class TestValveActuator(unittest.TestCase):
    def test_power_up_closes_onto_the_stop_first(self):
        act = ValveActuator({"run_time_s": 100.0, "resync_overdrive_pct": 10.0, "start_delay_s": 0.0})
        self.assertTrue(act.initial_sync)
        opened, closed = drive(act, 110, 40.0)  # the controller wants 40 %: closing comes first
        self.assertEqual(opened, 0.0)
        self.assertAlmostEqual(closed, 110.0, delta=1e-6)
        self.assertEqual(act.synced_end, -1)
        opened, closed = drive(act, 40, 40.0)
        self.assertAlmostEqual(opened, 40.0, delta=1e-6)
        self.assertAlmostEqual(act.estimate_pct, 40.0, delta=1e-6)
        # with a position feedback there is nothing to find out
        act = ValveActuator({})
        act.step(1.0, 40.0, 25.0, True)
        self.assertTrue(not act.initial_sync)
        self.assertTrue(act.open_pulse_s > 0.0)

    def test_position_kind_commands_and_estimates_with_rate_limit(self):
        act = ValveActuator({"kind": "position", "run_time_s": 100.0})
        act.step(10.0, 50.0, 0.0, False)
        self.assertEqual(act.cmd_pct, 50.0)
        self.assertAlmostEqual(act.estimate_pct, 10.0, delta=1e-9)
        act.step(10.0, 50.0, 42.0, True)  # feedback wins when ok
        self.assertEqual(act.estimate_pct, 42.0)
        self.assertEqual(act.open_pulse_s, 0.0)
        act.step(1.0, float("nan"), 0.0, False)
        self.assertEqual(act.cmd_pct, 42.0)

    def test_floating_pulses_integrate_over_run_time(self):
        act = synced({"start_delay_s": 0.0, "run_time_s": 120.0, "min_pulse_s": 0.5})
        opened, closed = drive(act, 30, 25.0)  # 25 % of 120 s = 30 s of opening
        self.assertAlmostEqual(opened, 30.0, delta=1e-6)
        self.assertEqual(closed, 0.0)
        self.assertAlmostEqual(act.estimate_pct, 25.0, delta=1e-6)
        # a pulse is never longer than the cycle
        act.step(1.0, 90.0, 0.0, False)
        self.assertEqual(act.open_pulse_s, 1.0)

    def test_min_pulse_suppresses_tiny_moves_until_they_add_up(self):
        act = synced({"start_delay_s": 0.0, "run_time_s": 100.0, "min_pulse_s": 0.5})
        drive(act, 20, 20.0)
        self.assertAlmostEqual(act.estimate_pct, 20.0, delta=1e-6)
        # (target_pct, expected open pulse): 0.3 % = 0.3 s is below the minimum pulse
        for target, pulse in ((20.3, 0.0), (20.4, 0.0), (20.6, 0.6)):
            act.step(1.0, target, 0.0, False)
            self.assertAlmostEqual(act.open_pulse_s, pulse, delta=1e-6)

    def test_end_stop_overdrive_then_synced_and_quiet(self):
        act = synced({"start_delay_s": 0.0, "run_time_s": 100.0, "resync_overdrive_pct": 10.0})
        drive(act, 50, 40.0)
        opened, closed = drive(act, 80, 0.0)
        # 40 s to the estimated stop + 10 s overdrive, then nothing
        self.assertAlmostEqual(closed, 50.0, delta=1e-6)
        self.assertEqual(act.estimate_pct, 0.0)
        self.assertEqual(act.synced_end, -1)
        act.step(1.0, 0.0, 0.0, False)
        self.assertEqual(act.close_pulse_s, 0.0)
        opened, closed = drive(act, 200, 100.0)
        self.assertAlmostEqual(opened, 110.0, delta=1e-6)
        self.assertEqual(act.synced_end, 1)

    def test_start_delay_lengthens_pulses_from_rest_only(self):
        act = synced({"run_time_s": 100.0, "min_pulse_s": 0.5, "start_delay_s": 0.2, "shut_below_pct": 0.0})
        # (target_pct, expected open pulse sent, expected estimate): from rest 0.6 s move + 0.2 s delay
        act.step(1.0, 0.6, 0.0, False)
        self.assertAlmostEqual(act.open_pulse_s, 0.8, delta=1e-9)
        self.assertAlmostEqual(act.estimate_pct, 0.6, delta=1e-9)
        # a long drive: first cycle loses the delay, then the motor runs on (full cycles, no loss)
        table = [(50.0, 1.0, 0.6 + 0.8), (50.0, 1.0, 2.4), (50.0, 1.0, 3.4)]
        for target, sent, est in table:
            act.step(1.0, target, 0.0, False)
            self.assertAlmostEqual(act.open_pulse_s, sent, delta=1e-9)
            self.assertAlmostEqual(act.estimate_pct, est, delta=1e-9)

    def test_below_the_controllable_range_the_valve_shuts_and_reopens_at_twice_it(self):
        # A positioner (dead band 0.5 %) given an output sinking slowly toward 0 % would park the
        # plug a fraction of a percent open; below shut_below_pct the command jumps to 0 %.
        act = ValveActuator({"kind": "position", "run_time_s": 100.0, "shut_below_pct": 1.0})
        # (wanted %, command %): hysteresis from 1 % (shut) to 2 % (open again)
        table = [(3.0, 3.0), (1.2, 1.2), (1.01, 1.01), (0.99, 0.0), (0.4, 0.0), (1.5, 0.0), (1.99, 0.0),
                 (2.0, 2.0), (1.5, 1.5), (0.5, 0.0), (0.0, 0.0), (float("nan"), 0.0)]
        for wanted, cmd in table:
            act.step(1.0, wanted, 0.0, False)
            self.assertEqual(act.cmd_pct, cmd)
        # a floating actuator drives onto its seat (to the stop plus the overdrive)
        act = synced({"start_delay_s": 0.0, "run_time_s": 100.0, "resync_overdrive_pct": 10.0, "min_pulse_s": 0.5})
        drive(act, 5, 5.0)
        drive(act, 4, 1.05)
        self.assertAlmostEqual(act.estimate_pct, 1.05, delta=1e-6)
        opened, closed = drive(act, 30, 0.8)
        self.assertAlmostEqual(closed, 1.05 + 10.0, delta=1e-6)
        self.assertEqual(act.synced_end, -1)
        # off: the wanted position passes as it is
        act = ValveActuator({"kind": "position", "shut_below_pct": 0.0})
        act.step(1.0, 0.4, 0.0, False)
        self.assertEqual(act.cmd_pct, 0.4)
        self.assertIn("valve.shut_below_pct=20.0 %: must be in [0.0, 10.0]", validate({"shut_below_pct": 20.0}))

    def test_long_drive_resyncs_the_estimate(self):
        act = synced({"start_delay_s": 0.0, "run_time_s": 60.0})
        drive(act, 30, 50.0)
        act.estimate_pct = 80.0  # the estimate has drifted (lost pulses)
        # driving closed continuously for a full run time proves the valve is shut
        act.step(60.0, 0.0, 0.0, False)
        self.assertEqual(act.estimate_pct, 0.0)

    def test_feedback_corrects_a_floating_estimate(self):
        act = synced({"start_delay_s": 0.0, "run_time_s": 100.0})
        act.step(1.0, 30.0, 25.0, True)
        self.assertAlmostEqual(act.estimate_pct, 26.0, delta=1e-6)

    def test_snapshot_restore_and_validation(self):
        act = ValveActuator({})
        drive(act, 20, 10.0)
        other = ValveActuator({})
        other.restore(act.snapshot())
        self.assertAlmostEqual(other.estimate_pct, act.estimate_pct, delta=1e-9)
        self.assertEqual(other.synced_end, 0)
        self.assertEqual(validate({}), [])
        problems = validate({"kind": "pneumatic", "run_time_s": 1.0})
        self.assertIn("valve.kind='pneumatic': must be one of floating, position", problems)
        self.assertIn("valve.run_time_s=1.0 s: must be in [5.0, 900.0]", problems)


if __name__ == "__main__":
    unittest.main()
