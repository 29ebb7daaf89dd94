"""Tests of core.pi: gains, neutral zone, anti-windup, bumpless transfer."""

import unittest

from heatkeeper.core.pi import PIController, validate


class TestPI(unittest.TestCase):
    def test_proportional_band_and_integral_time(self):
        pi = PIController({"xp_k": 50.0, "tn_s": 100.0, "neutral_zone_k": 0.0})
        pi.integral_pct = 20.0
        # 5 K error: P = 100/50 x 5 = 10 %, I grows 10 % per Tn
        u = pi.step(10.0, 60.0, 55.0, -1.0)
        self.assertAlmostEqual(u, 20.0 + 10.0 + 1.0, delta=1e-9)
        for _ in range(9):
            u = pi.step(10.0, 60.0, 55.0, -1.0)
        self.assertAlmostEqual(u, 20.0 + 10.0 + 10.0, delta=1e-9)

    def test_neutral_zone_holds_and_is_continuous(self):
        pi = PIController({"xp_k": 50.0, "tn_s": 100.0, "neutral_zone_k": 2.0})
        pi.integral_pct = 40.0
        # (measured_c, expected effective error_k) at setpoint 60
        for measured_c, e_k in ((60.0, 0.0), (60.9, 0.0), (59.1, 0.0), (58.0, 1.0), (63.0, -2.0)):
            self.assertAlmostEqual(pi.effective_error_k(60.0, measured_c), e_k, delta=1e-9)
        self.assertEqual(pi.step(10.0, 60.0, 60.8, -1.0), 40.0)
        self.assertEqual(pi.integral_pct, 40.0)

    def test_asymmetric_closing_band(self):
        pi = PIController({"xp_k": 100.0, "xp_close_k": 25.0, "neutral_zone_k": 0.0})
        pi.integral_pct = 50.0
        self.assertAlmostEqual(pi.step(0.0, 60.0, 58.0, -1.0), 52.0, delta=1e-9)
        self.assertAlmostEqual(pi.step(0.0, 60.0, 62.0, -1.0), 42.0, delta=1e-9)

    def test_anti_windup_when_saturated(self):
        pi = PIController({"xp_k": 80.0, "tn_s": 30.0, "neutral_zone_k": 0.0})
        for _ in range(3600):  # an hour 20 K short of the setpoint: output pinned at 100 %
            u = pi.step(1.0, 70.0, 50.0, -1.0)
        self.assertEqual(u, 100.0)
        self.assertTrue(pi.integral_pct <= 100.0)
        # once the supply overshoots, the output leaves 100 % at once (no wound-up integral)
        u = pi.step(1.0, 70.0, 72.0, -1.0)
        self.assertTrue(u < 100.0)
        for _ in range(60):
            u = pi.step(1.0, 70.0, 75.0, -1.0)
        self.assertTrue(u < 70.0)

    def test_no_integration_while_the_actuator_lags(self):
        pi = PIController({"xp_k": 80.0, "tn_s": 30.0, "neutral_zone_k": 0.0, "lag_band_pct": 10.0})
        pi.integral_pct = 50.0
        pi.out_pct = 50.0
        pi.step(1.0, 70.0, 60.0, 30.0)  # command 50+ while the valve is still at 30
        self.assertEqual(pi.integral_pct, 50.0)
        pi.step(1.0, 70.0, 60.0, 58.0)
        self.assertTrue(pi.integral_pct > 50.0)

    def test_bumpless_transfer_from_manual(self):
        pi = PIController({"xp_k": 40.0, "tn_s": 120.0, "neutral_zone_k": 0.0})
        pi.track(35.0, 60.0, 58.0)
        self.assertAlmostEqual(pi.step(0.0, 60.0, 58.0, -1.0), 35.0, delta=1e-9)
        snap = pi.snapshot()
        other = PIController({})
        other.restore(snap)
        self.assertEqual(other.integral_pct, pi.integral_pct)
        other.restore({"integral_pct": "x"})
        self.assertEqual(other.integral_pct, pi.integral_pct)

    def test_validation(self):
        self.assertEqual(validate({}), [])
        self.assertIn("pi.xp_k=0.0 K: must be in [1.0, 250.0]", validate({"xp_k": 0.0}))
        self.assertEqual(len(validate({"out_min_pct": 60.0, "out_max_pct": 40.0})), 1)


if __name__ == "__main__":
    unittest.main()
