"""Tests of core.outdoor: building filter, fallback chain, plausibility, heating limit keys."""

import unittest

from heatkeeper.core.outdoor import (
    SOURCE_FIXED,
    SOURCE_LAST_GOOD,
    SOURCE_NAMES,
    SOURCE_SENSOR,
    SOURCE_SUPERVISOR,
    OutdoorConditioner,
    validate,
)


def run(cond, start_s, end_s, step_s, value_c, ok):
    t = start_s
    out = None
    while t <= end_s:
        out = cond.step(t, value_c, ok)
        t += step_s
    return out


class TestOutdoor(unittest.TestCase):
    def test_composite_is_half_actual_half_attenuated(self):
        cond = OutdoorConditioner({"building_time_constant_s": 36000.0, "frozen_s": 0.0})
        cond.step(0.0, 0.0, True)
        self.assertAlmostEqual(cond.composite_c, 0.0, delta=1e-9)
        # A slow step to -10 degC (within jump_k per confirm window: walk it down).
        t = 0.0
        for v in (-2.0, -4.0, -6.0, -8.0, -10.0):
            t += 60.0
            cond.step(t, v, True)
        run(cond, t + 60.0, 36000.0, 60.0, -10.0, True)
        # After ~one time constant the attenuated value has covered ~63 %.
        self.assertAlmostEqual(cond.attenuated_c, -6.3, delta=0.2)
        self.assertAlmostEqual(cond.composite_c, 0.5 * -10.0 + 0.5 * cond.attenuated_c, delta=1e-9)
        self.assertEqual(cond.source, SOURCE_SENSOR)

    def test_fallback_chain_sensor_supervisor_last_good_fixed(self):
        cond = OutdoorConditioner({"supervisor_max_age_s": 3600.0, "hold_last_s": 7200.0, "fixed_c": -12.0})
        run(cond, 0.0, 600.0, 60.0, -3.0, True)
        self.assertEqual(cond.source, SOURCE_SENSOR)
        cond.set_supervisor(-4.0, 600.0)
        # table of (time_s, sensor_ok, expected source)
        table = [(660.0, False, SOURCE_SUPERVISOR), (4200.0, False, SOURCE_SUPERVISOR),
                 (4260.0, False, SOURCE_LAST_GOOD), (11400.0, False, SOURCE_LAST_GOOD),
                 (11460.0, False, SOURCE_FIXED), (20000.0, False, SOURCE_FIXED),
                 (20060.0, True, SOURCE_SENSOR)]
        for t, ok, source in table:
            cond.step(t, -3.0, ok)
            self.assertEqual(cond.source, source, "t=%s" % t)
            if source == SOURCE_FIXED:
                self.assertEqual(cond.composite_c, -12.0)
        self.assertEqual(SOURCE_NAMES[SOURCE_LAST_GOOD], "last_good")

    def test_implausible_values_and_jumps_are_not_ok(self):
        cond = OutdoorConditioner({"jump_k": 5.0, "jump_confirm_s": 600.0})
        run(cond, 0.0, 300.0, 10.0, -5.0, True)
        for bad in (-80.0, 85.0, float("nan"), float("inf")):
            cond.step(310.0, bad, True)
            self.assertTrue(cond.sensor_fault)
        # A 15 K jump is refused ...
        cond.step(320.0, 10.0, True)
        self.assertTrue(cond.sensor_fault)
        self.assertEqual(cond.source, SOURCE_LAST_GOOD)
        # ... until the new level has persisted for jump_confirm_s (a replaced sensor).
        run(cond, 330.0, 900.0, 10.0, 10.0, True)
        self.assertTrue(cond.sensor_fault)
        run(cond, 910.0, 960.0, 10.0, 10.0, True)
        self.assertTrue(not cond.sensor_fault)
        self.assertEqual(cond.actual_c, 10.0)

    def test_frozen_value_becomes_not_ok(self):
        cond = OutdoorConditioner({"frozen_s": 3600.0, "hold_last_s": 0.0})
        run(cond, 0.0, 3600.0, 60.0, -7.0, True)
        self.assertEqual(cond.source, SOURCE_SENSOR)
        run(cond, 3660.0, 3720.0, 60.0, -7.0, True)
        self.assertEqual(cond.source, SOURCE_FIXED)
        cond.step(3780.0, -6.8, True)
        self.assertEqual(cond.source, SOURCE_SENSOR)

    def test_starts_on_fixed_value_without_any_data(self):
        cond = OutdoorConditioner({})
        self.assertEqual(cond.step(0.0, 0.0, False), -10.0)
        self.assertEqual(cond.source, SOURCE_FIXED)
        cond.set_supervisor(float("nan"), 0.0)
        self.assertEqual(cond.step(1.0, 0.0, False), -10.0)

    def test_snapshot_restore_keeps_filter_and_ages(self):
        cond = OutdoorConditioner({})
        run(cond, 0.0, 3600.0, 60.0, -8.0, True)
        cond.step(3660.0, 0.0, False)
        snap = cond.snapshot()
        other = OutdoorConditioner({})
        other.restore(snap, 100.0)
        self.assertEqual(other.source, SOURCE_LAST_GOOD)
        self.assertAlmostEqual(other.attenuated_c, cond.attenuated_c, delta=1e-9)
        self.assertEqual(other.step(160.0, 0.0, False), cond.composite_c)

    def test_validation(self):
        self.assertEqual(validate({}), [])
        problems = validate({"fixed_c": 20.0, "composite_actual_share": 1.5})
        self.assertIn("outdoor.fixed_c=20.0 degC: must be in [-45.0, 10.0]", problems)
        self.assertEqual(len(problems), 2)


if __name__ == "__main__":
    unittest.main()
