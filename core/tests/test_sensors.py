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
        sq = make()
        sq.update({"secondary_supply_temp_c": (61.5, True)}, 0.0)
        self.assertEqual(sq.quality[S], Q_GOOD)
        self.assertTrue(sq.ok[S])
        self.assertEqual(sq.values[S], 61.5)

    def test_missing_signal_is_bad_from_the_start(self):
        sq = make()
        sq.update({}, 0.0)
        self.assertEqual(sq.quality[S], Q_BAD)
        self.assertEqual(sq.reason[S], R_MISSING)
        self.assertTrue(not sq.ok[S])
        # Essential signals alarm even if never seen; optional ones do not.
        self.assertTrue(sq.alarm_condition(S))
        self.assertTrue(not sq.alarm_condition(I_OUTDOOR_TEMP))

    def test_lost_reading_is_held_then_bad(self):
        sq = make(stale_s=30.0)
        sq.update({"secondary_supply_temp_c": (60.0, True)}, 0.0)
        sq.update({"secondary_supply_temp_c": (0.0, False)}, 10.0)
        self.assertEqual(sq.quality[S], Q_HELD)
        self.assertTrue(sq.ok[S])
        self.assertEqual(sq.values[S], 60.0)
        sq.update({"secondary_supply_temp_c": (0.0, False)}, 31.0)
        self.assertEqual(sq.quality[S], Q_BAD)
        self.assertTrue(not sq.ok[S])
        self.assertTrue(sq.alarm_condition(S))

    def test_out_of_range_is_rejected(self):
        sq = make(stale_s=0.0)
        sq.update({"secondary_supply_temp_c": (-3276.8, True)}, 0.0)
        self.assertEqual(sq.reason[S], R_RANGE)
        self.assertTrue(not sq.ok[S])
        sq.update({"outdoor_temp_c": (85.0, True)}, 1.0)
        self.assertTrue(not sq.ok[I_OUTDOOR_TEMP])

    def test_spike_is_held_back_then_accepted_if_it_persists(self):
        sq = make(temp_rate_k_per_s=2.0, spike_hold_s=10.0)
        sq.update({"secondary_supply_temp_c": (60.0, True)}, 0.0)
        sq.update({"secondary_supply_temp_c": (90.0, True)}, 1.0)
        self.assertEqual(sq.reason[S], R_RATE)
        self.assertEqual(sq.quality[S], Q_HELD)
        self.assertEqual(sq.values[S], 60.0)
        sq.update({"secondary_supply_temp_c": (60.5, True)}, 2.0)  # the spike is gone
        self.assertEqual(sq.quality[S], Q_GOOD)
        for t in range(3, 15):
            sq.update({"secondary_supply_temp_c": (90.0, True)}, float(t))
        self.assertEqual(sq.quality[S], Q_GOOD)
        self.assertEqual(sq.values[S], 90.0)

    def test_frozen_temperature_goes_bad(self):
        sq = make(frozen_s=600.0)
        for t in range(0, 700, 50):
            sq.update({"secondary_supply_temp_c": (55.25, True)}, float(t))
        self.assertEqual(sq.reason[S], R_FROZEN)
        self.assertTrue(not sq.ok[S])
        sq.update({"secondary_supply_temp_c": (55.3, True)}, 701.0)
        self.assertTrue(sq.ok[S])

    def test_garbage_never_raises(self):
        sq = make()
        garbage = {"secondary_supply_temp_c": "hot", "outdoor_temp_c": (float("nan"), True),
                   "pump1_running": (None, True), "secondary_return_temp_c": (1.0,),
                   "tank_level_pct": ("50", True), "heat_power_kw": 12}
        sq.update(garbage, 0.0)
        for i in range(sensors.N_SIGNALS):
            self.assertTrue(not sq.ok[i])
        sq.update({"pump1_running": (True, True)}, 1.0)
        self.assertEqual(sq.values[I_PUMP1_RUNNING], 1.0)

    def test_snapshot_keeps_seen_signals(self):
        sq = make()
        sq.update({"outdoor_temp_c": (-10.0, True)}, 0.0)
        other = make()
        other.restore(sq.snapshot())
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

        sq = make()
        n = sensors.N_SIGNALS
        sq.update_image(array("d", [50.0] * n), array("b", [1] * n), 0.0)
        before = (list(sq.values), list(sq.quality), list(sq.good_at_s), sq.n_bad)
        with self.assertRaises(IndexError):
            sq.update_image(array("d", [60.0] * (n - 1)), array("b", [1] * n), 1.0)
        with self.assertRaises(IndexError):
            sq.update_image(array("d", [60.0] * n), array("b", [1] * (n - 1)), 1.0)
        self.assertEqual((list(sq.values), list(sq.quality), list(sq.good_at_s), sq.n_bad), before)

    def test_alarm_condition_rejects_a_bad_index(self):
        sq = make()
        with self.assertRaises(IndexError):
            sq.alarm_condition(sensors.N_SIGNALS)
        with self.assertRaises(IndexError):
            sq.alarm_condition(-1)


if __name__ == "__main__":
    unittest.main()
