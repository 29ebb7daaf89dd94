"""Tests of core.schedule: periods, wrap over midnight, faded setback, boost after setback."""

import unittest

from heatkeeper.core.schedule import Schedule, validate

H = 3600.0
THREE_PERIODS = [[22 * H, 5 * H, -6.0], [9 * H, 16 * H, -2.0], [5 * H, 7 * H, 3.0]]


class TestSchedule(unittest.TestCase):
    def test_three_periods_a_day_by_time_of_day(self):
        sched = Schedule({"periods": THREE_PERIODS})
        # (time_of_day_s, outdoor_c (mild: no fading), expected offset_k)
        table = [(23 * H, 12.0, -6.0), (2 * H, 12.0, -6.0), (6 * H, 12.0, 3.0), (8 * H, 12.0, 0.0),
                 (12 * H, 12.0, -2.0), (16 * H, 12.0, 0.0), (21.9 * H, 12.0, 0.0), (22 * H, 12.0, -6.0)]
        for tod, outdoor_c, offset_k in table:
            self.assertAlmostEqual(sched.step(0.0, tod, outdoor_c), offset_k, delta=1e-9, msg="tod=%s" % tod)

    def test_time_of_day_from_now_and_day_offset(self):
        sched = Schedule({"periods": THREE_PERIODS, "day_offset_s": 12 * H})
        # now_s = 11 h + 12 h offset = 23 h of the day: in the night setback
        self.assertEqual(sched.step(11 * H, -1.0, 12.0), -6.0)
        self.assertEqual(sched.time_of_day_s(2 * 86400.0 + 1 * H), 13 * H)

    def test_setback_fades_with_cold_and_stops_below_limit(self):
        sched = Schedule({"periods": THREE_PERIODS})
        # ECL auto saving: (T - (-15)) / (10 - (-15)) of the setback remains
        table = [(10.0, -6.0), (-2.5, -3.0), (-5.0, -6.0 * 0.4), (-15.0, 0.0), (-25.0, 0.0)]
        for outdoor_c, offset_k in table:
            self.assertAlmostEqual(sched.step(0.0, 23 * H, outdoor_c), offset_k, delta=1e-9)
        # A pre-heat (positive) period is not faded.
        self.assertEqual(sched.step(0.0, 6 * H, -25.0), 3.0)

    def test_boost_after_setback_for_its_duration(self):
        sched = Schedule({"periods": [[22 * H, 5 * H, -6.0]], "boost_after_setback_k": 4.0,
                          "boost_after_setback_s": 1800.0})
        self.assertEqual(sched.step(0.0, 4 * H, 12.0), -6.0)
        self.assertEqual(sched.step(3600.0, 5 * H, 12.0), 4.0)
        self.assertEqual(sched.step(3600.0 + 1700.0, 5 * H + 1700.0, 12.0), 4.0)
        self.assertEqual(sched.step(3600.0 + 1801.0, 5 * H + 1801.0, 12.0), 0.0)
        snap = sched.snapshot(3600.0 + 100.0)
        other = Schedule({"periods": [[22 * H, 5 * H, -6.0]], "boost_after_setback_k": 4.0})
        other.restore(snap, 0.0)
        self.assertEqual(other.step(100.0, 6 * H, 12.0), 4.0)

    def test_validation(self):
        self.assertEqual(validate({}), [])
        self.assertEqual(validate({"periods": THREE_PERIODS}), [])
        problems = validate({"periods": [[0.0, 90000.0, -5.0], [3.0, 3.0, 0.0], [1.0, 2.0, -50.0], "x"],
                             "setback_disable_c": 20.0})
        text = "\n".join(problems)
        self.assertIn("schedule.periods[0][1]=90000.0 s: must be in [0, 86400]", text)
        self.assertIn("schedule.periods[1]", text)
        self.assertIn("schedule.periods[2][2]=-50.0 K", text)
        self.assertIn("schedule.periods[3]='x'", text)
        self.assertIn("schedule.setback_disable_c=20.0 degC", text)
        self.assertTrue(len(validate({"periods": [[0.0, 1.0, 0.0]] * 9})) == 1)


if __name__ == "__main__":
    unittest.main()
