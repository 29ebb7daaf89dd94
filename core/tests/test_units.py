"""Tests of core.units (run on CPython interpreted, compiled, and MicroPython)."""

import unittest

from heatkeeper.core.units import clamp, first_order, interp_table, is_finite, lerp


class TestUnits(unittest.TestCase):
    def test_clamp_limits_both_sides(self):
        self.assertEqual(clamp(5.0, 0.0, 10.0), 5.0)
        self.assertEqual(clamp(-1.0, 0.0, 10.0), 0.0)
        self.assertEqual(clamp(11.0, 0.0, 10.0), 10.0)

    def test_lerp_and_degenerate_segment(self):
        self.assertAlmostEqual(lerp(5.0, 0.0, 0.0, 10.0, 20.0), 10.0, delta=1e-9)
        self.assertEqual(lerp(3.0, 1.0, 7.0, 1.0, 9.0), 7.0)

    def test_interp_table_is_flat_beyond_the_ends(self):
        xs = [-30.0, -15.0, -5.0, 0.0, 5.0, 15.0]
        ys = [75.0, 60.0, 50.0, 45.0, 40.0, 28.0]
        self.assertEqual(interp_table(-40.0, xs, ys), 75.0)
        self.assertEqual(interp_table(20.0, xs, ys), 28.0)
        self.assertAlmostEqual(interp_table(-10.0, xs, ys), 55.0, delta=1e-9)
        self.assertAlmostEqual(interp_table(10.0, xs, ys), 34.0, delta=1e-9)

    def test_first_order_step_response(self):
        # After one time constant a first-order lag covers 1 - 1/e of the step.
        self.assertAlmostEqual(first_order(0.0, 1.0, 60.0, 60.0), 0.6321205588, delta=1e-8)
        self.assertEqual(first_order(3.0, 1.0, 1.0, 0.0), 1.0)
        self.assertEqual(first_order(3.0, 1.0, 0.0, 10.0), 3.0)

    def test_is_finite(self):
        self.assertTrue(is_finite(1.5))
        self.assertTrue(not is_finite(float("nan")))
        self.assertTrue(not is_finite(float("inf")))


if __name__ == "__main__":
    unittest.main()
