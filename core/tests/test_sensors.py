"""Tests of core.sensors: range, loss and hold, frozen, rate of change, garbage."""

import unittest

from heatkeeper.core import sensors
from heatkeeper.core.sensors import (
    I_OUTDOOR_TEMP,
    I_PUMP1_RUNNING,
    I_SECONDARY_SUPPLY_TEMP,
    Q_BAD,
    Q_GOOD,
    Q_HELD,
    R_FROZEN,
    R_MISSING,
    R_RANGE,
    R_RATE,
    SignalQuality,
)

S = I_SECONDARY_SUPPLY_TEMP


def make(**over):
    cfg = dict(sensors.DEFAULTS)
    cfg.update(over)
    return SignalQuality(cfg)


class TestSignalQuality(unittest.TestCase):
    def test_good_reading_passes(self):
        guard = make()
        guard.update({"secondary_supply_temp_c": (61.5, True)}, 0.0)
        self.assertEqual(guard.quality[S], Q_GOOD)
        self.assertTrue(guard.ok[S])
        self.assertEqual(guard.values[S], 61.5)

    def test_missing_signal_is_bad_from_the_start(self):
        guard = make()
        guard.update({}, 0.0)
        self.assertEqual(guard.quality[S], Q_BAD)
        self.assertEqual(guard.reason[S], R_MISSING)
        self.assertTrue(not guard.ok[S])
        # Essential signals alarm even if never seen; optional ones do not.
        self.assertTrue(guard.alarm_condition(S))
        self.assertTrue(not guard.alarm_condition(I_OUTDOOR_TEMP))

    def test_lost_reading_is_held_then_bad(self):
        guard = make(stale_s=30.0)
        guard.update({"secondary_supply_temp_c": (60.0, True)}, 0.0)
        guard.update({"secondary_supply_temp_c": (0.0, False)}, 10.0)
        self.assertEqual(guard.quality[S], Q_HELD)
        self.assertTrue(guard.ok[S])
        self.assertEqual(guard.values[S], 60.0)
        guard.update({"secondary_supply_temp_c": (0.0, False)}, 31.0)
        self.assertEqual(guard.quality[S], Q_BAD)
        self.assertTrue(not guard.ok[S])
        self.assertTrue(guard.alarm_condition(S))

    def test_out_of_range_is_rejected(self):
        guard = make(stale_s=0.0)
        guard.update({"secondary_supply_temp_c": (-3276.8, True)}, 0.0)
        self.assertEqual(guard.reason[S], R_RANGE)
        self.assertTrue(not guard.ok[S])
        guard.update({"outdoor_temp_c": (85.0, True)}, 1.0)
        self.assertTrue(not guard.ok[I_OUTDOOR_TEMP])

    def test_spike_is_held_back_then_accepted_if_it_persists(self):
        guard = make(temp_rate_k_per_s=2.0, spike_hold_s=10.0)
        guard.update({"secondary_supply_temp_c": (60.0, True)}, 0.0)
        guard.update({"secondary_supply_temp_c": (90.0, True)}, 1.0)
        self.assertEqual(guard.reason[S], R_RATE)
        self.assertEqual(guard.quality[S], Q_HELD)
        self.assertEqual(guard.values[S], 60.0)
        guard.update({"secondary_supply_temp_c": (60.5, True)}, 2.0)  # the spike is gone
        self.assertEqual(guard.quality[S], Q_GOOD)
        for t in range(3, 15):
            guard.update({"secondary_supply_temp_c": (90.0, True)}, float(t))
        self.assertEqual(guard.quality[S], Q_GOOD)
        self.assertEqual(guard.values[S], 90.0)

    def test_frozen_temperature_goes_bad(self):
        guard = make(frozen_s=600.0)
        for t in range(0, 700, 50):
            guard.update({"secondary_supply_temp_c": (55.25, True)}, float(t))
        self.assertEqual(guard.reason[S], R_FROZEN)
        self.assertTrue(not guard.ok[S])
        guard.update({"secondary_supply_temp_c": (55.3, True)}, 701.0)
        self.assertTrue(guard.ok[S])

    def test_garbage_never_raises(self):
        guard = make()
        garbage = {"secondary_supply_temp_c": "hot", "outdoor_temp_c": (float("nan"), True),
                   "pump1_running": (None, True), "secondary_return_temp_c": (1.0,),
                   "tank_level_pct": ("50", True), "heat_power_kw": 12}
        guard.update(garbage, 0.0)
        for i in range(sensors.N_SIGNALS):
            self.assertTrue(not guard.ok[i])
        guard.update({"pump1_running": (True, True)}, 1.0)
        self.assertEqual(guard.values[I_PUMP1_RUNNING], 1.0)

    def test_snapshot_keeps_seen_signals(self):
        guard = make()
        guard.update({"outdoor_temp_c": (-10.0, True)}, 0.0)
        other = make()
        other.restore(guard.snapshot())
        other.update({}, 100.0)
        self.assertTrue(other.alarm_condition(I_OUTDOOR_TEMP))

    def test_validate_lists_problems(self):
        self.assertEqual(sensors.validate(dict(sensors.DEFAULTS)), [])
        bad = dict(sensors.DEFAULTS)
        bad["stale_s"] = -1
        bad["temp_max_c"] = "hot"
        problems = sensors.validate(bad)
        self.assertEqual(len(problems), 2)
        self.assertIn("sensors.stale_s=-1 s: must be in [0, 3600]", problems)

    def test_update_image_rejects_short_arrays_before_touching_state(self):
        from array import array

        guard = make()
        n = sensors.N_SIGNALS
        guard.update_image(array("d", [50.0] * n), array("b", [1] * n), 0.0)
        before = (list(guard.values), list(guard.quality), list(guard.good_at_s), guard.n_bad)
        with self.assertRaises(IndexError):
            guard.update_image(array("d", [60.0] * (n - 1)), array("b", [1] * n), 1.0)
        with self.assertRaises(IndexError):
            guard.update_image(array("d", [60.0] * n), array("b", [1] * (n - 1)), 1.0)
        self.assertEqual((list(guard.values), list(guard.quality), list(guard.good_at_s), guard.n_bad), before)

    def test_alarm_condition_rejects_a_bad_index(self):
        guard = make()
        with self.assertRaises(IndexError):
            guard.alarm_condition(sensors.N_SIGNALS)
        with self.assertRaises(IndexError):
            guard.alarm_condition(-1)


if __name__ == "__main__":
    unittest.main()
