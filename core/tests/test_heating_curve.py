"""Tests of core.heating_curve: table and slope entry, room shift, clamps, validation."""

import unittest

from heatkeeper.core.heating_curve import DEFAULTS, HeatingCurve, validate


class TestHeatingCurve(unittest.TestCase):
    def test_ecl_factory_table_points_and_interpolation(self):
        curve = HeatingCurve({})
        # (outdoor_c, expected supply_c) at room 20 degC
        table = [(-30.0, 75.0), (-15.0, 60.0), (-5.0, 50.0), (0.0, 45.0), (5.0, 40.0), (15.0, 28.0),
                 (-10.0, 55.0), (10.0, 34.0), (25.0, 28.0),
                 (-40.0, 85.0), (-36.0, 81.0)]  # colder than the table: its -30/-15 gradient 1 K/K
        for outdoor_c, supply_c in table:
            self.assertAlmostEqual(curve.supply_c(outdoor_c, 20.0), supply_c, delta=1e-9)

    def test_cold_end_extension_and_flat_option(self):
        # (outdoor_c, extended, flat) for the factory table at room 20 degC
        extended = HeatingCurve({})
        flat = HeatingCurve({"extend_cold_end": False})
        for outdoor_c, want_ext, want_flat in ((-30.0, 75.0, 75.0), (-35.0, 80.0, 75.0), (-44.0, 89.0, 75.0),
                                               (-60.0, 90.0, 75.0), (20.0, 28.0, 28.0)):
            self.assertAlmostEqual(extended.supply_c(outdoor_c, 20.0), want_ext, delta=1e-9)
            self.assertAlmostEqual(flat.supply_c(outdoor_c, 20.0), want_flat, delta=1e-9)
        # the extension never exceeds max_supply_c, and a table rising towards the cold end's far
        # side (a gradient < 0) is held flat rather than falling in the cold
        capped = HeatingCurve({"max_supply_c": 78.0})
        self.assertEqual(capped.supply_c(-45.0, 20.0), 78.0)
        odd = HeatingCurve({"table_outdoor_c": [-20.0, 0.0], "table_supply_c": [60.0, 65.0]})
        self.assertAlmostEqual(odd.supply_c(-40.0, 20.0), 60.0, delta=1e-9)
        self.assertIn("curve.extend_cold_end='no': must be true or false",
                      "\n".join(validate({"extend_cold_end": "no"})))

    def test_slope_entry_pivots_at_ecl_point(self):
        curve = HeatingCurve({"mode": "slope", "slope": 1.5})
        self.assertAlmostEqual(curve.supply_c(20.0, 20.0), 24.6, delta=1e-9)
        self.assertAlmostEqual(curve.supply_c(-10.0, 20.0), 24.6 + 45.0, delta=1e-9)
        shifted = HeatingCurve({"mode": "slope", "slope": 1.0, "shift_k": 5.0})
        self.assertAlmostEqual(shifted.supply_c(0.0, 20.0), 24.6 + 20.0 + 5.0, delta=1e-9)

    def test_design_mode_from_radiator_design_point(self):
        curve = HeatingCurve({"mode": "design", "design_outdoor_c": -20.0, "design_supply_c": 75.0,
                              "design_return_c": 50.0, "design_room_c": 18.0, "radiator_exponent": 1.3})
        # at the design point the design supply; at the room temperature the room temperature
        self.assertAlmostEqual(curve.supply_c(-20.0, 18.0), 75.0, delta=1e-9)
        # colder than the design point: the coldest segment's gradient continues
        gradient = (curve.ys[0] - curve.ys[1]) / (curve.xs[1] - curve.xs[0])
        self.assertTrue(1.0 < gradient < 2.0)
        self.assertAlmostEqual(curve.supply_c(-30.0, 18.0), 75.0 + 10.0 * gradient, delta=1e-9)
        # half load (phi 0.5 at -1 degC): 18 + 44.5 x 0.5^(1/1.3) + 12.5 x 0.5
        self.assertAlmostEqual(curve.unclamped_c(-1.0, 18.0), 18.0 + 44.5 * 0.5 ** (1.0 / 1.3) + 6.25, delta=0.3)
        # convex like the physics: above the straight line between the design point and (18, 18)
        self.assertTrue(curve.unclamped_c(-1.0, 18.0) > 18.0 + 57.0 * 0.5)
        self.assertEqual(len(curve.xs), 8)
        self.assertIn("curve.design_return_c=80.0 degC", "\n".join(validate({"design_return_c": 80.0})))

    def test_room_setpoint_shift_is_delta_room_x_slope_x_2_5(self):
        curve = HeatingCurve({"mode": "slope", "slope": 1.2})
        base = curve.supply_c(-5.0, 20.0)
        self.assertAlmostEqual(curve.supply_c(-5.0, 22.0) - base, 2.0 * 1.2 * 2.5, delta=1e-9)
        self.assertAlmostEqual(curve.supply_c(-5.0, 18.0) - base, -2.0 * 1.2 * 2.5, delta=1e-9)
        table = HeatingCurve({})
        # table mean gradient (75 - 28) / 45 stands for the slope
        self.assertAlmostEqual(table.supply_c(-5.0, 21.0) - 50.0, 47.0 / 45.0 * 2.5, delta=1e-9)

    def test_min_max_and_floor_heating_clamp(self):
        curve = HeatingCurve({"min_supply_c": 30.0, "max_supply_c": 70.0})
        self.assertEqual(curve.supply_c(-30.0, 20.0), 70.0)
        self.assertEqual(curve.supply_c(15.0, 20.0), 30.0)
        floor = HeatingCurve({"floor_heating": True})
        self.assertEqual(floor.supply_c(-30.0, 20.0), 50.0)
        self.assertEqual(floor.max_supply_c, 50.0)

    def test_defaults_are_valid(self):
        self.assertEqual(validate({}), [])
        self.assertEqual(validate(dict(DEFAULTS)), [])

    def test_validation_lists_every_problem(self):
        problems = validate({"slope": 9.0, "min_supply_c": 95.0, "mode": "spline", "bogus": 1,
                             "table_outdoor_c": [-30.0, -15.0, -20.0, 0.0, 5.0, 15.0],
                             "table_supply_c": [75.0, 60.0, 50.0, 45.0, 40.0, 500.0],
                             "floor_heating": "yes"})
        text = "\n".join(problems)
        self.assertIn("curve.slope=9.0: must be in [0.1, 4.0]", text)
        self.assertIn("curve.min_supply_c=95.0 degC: must be in [5.0, 80.0]", text)
        self.assertIn("curve.mode='spline'", text)
        self.assertIn("curve.bogus: unknown key", text)
        self.assertIn("curve.table_outdoor_c[2]=-20.0 degC: must be above the previous point", text)
        self.assertIn("curve.table_supply_c[5]=500.0 degC", text)
        self.assertIn("curve.floor_heating='yes': must be true or false", text)
        self.assertTrue(len(problems) >= 7)

    def test_validation_rejects_mismatched_tables_and_nan(self):
        problems = validate({"table_outdoor_c": [0.0, 10.0], "table_supply_c": [40.0],
                             "shift_k": float("nan")})
        text = "\n".join(problems)
        self.assertIn("must be equal", text)
        self.assertIn("curve.shift_k=nan K", text)
        self.assertIn("curve.min_supply_c", "\n".join(validate({"min_supply_c": 60.0, "max_supply_c": 50.0})))
        self.assertEqual(validate(5), ["curve=5: must be a table of settings"])


if __name__ == "__main__":
    unittest.main()
