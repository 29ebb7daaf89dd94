"""Tests of core.limiters: outdoor-dependent limits, slow I trims, meter faults."""

import unittest

from heatkeeper.core.limiters import Limiters, validate


def inputs(return_c=None, power_kw=None, flow_m3h=None):
    d = {}
    if return_c is not None:
        d["primary_return_temp_c"] = (return_c, True)
    if power_kw is not None:
        d["heat_power_kw"] = (power_kw, True)
    if flow_m3h is not None:
        d["primary_flow_m3h"] = (flow_m3h, True)
    return d


def run(lim, seconds, step_s, outdoor_c, inp):
    trim = 0.0
    t = 0.0
    while t < seconds:
        trim = lim.step(step_s, outdoor_c, inp)
        t += step_s
    return trim


class TestLimiters(unittest.TestCase):
    def test_return_limit_two_point_curve(self):
        lim = Limiters({})
        for outdoor_c, limit_c in ((15.0, 40.0), (25.0, 40.0), (-15.0, 60.0), (-30.0, 60.0), (0.0, 50.0)):
            self.assertAlmostEqual(lim.limit_at(outdoor_c, 40.0, 60.0), limit_c, delta=1e-9)

    def test_return_too_high_trims_down_slowly_and_bounded(self):
        lim = Limiters({})
        # at 0 degC the limit is 50; 5 K over -> 2 K/K x 5 K per 1800 s = 10 K after 30 min
        trim = run(lim, 1800.0, 10.0, 0.0, inputs(return_c=55.0))
        self.assertAlmostEqual(trim, -10.0, delta=0.05)
        trim = run(lim, 86400.0, 60.0, 0.0, inputs(return_c=55.0))
        self.assertEqual(trim, -30.0)
        # below the limit the trim relaxes back to 0, never above
        trim = run(lim, 86400.0, 60.0, 0.0, inputs(return_c=45.0))
        self.assertEqual(trim, 0.0)

    def test_return_sensor_fault_gives_no_trim_and_a_flag(self):
        lim = Limiters({})
        run(lim, 1800.0, 10.0, 0.0, inputs(return_c=60.0))
        self.assertTrue(lim.return_trim_k < -5.0)
        self.assertEqual(lim.step(10.0, 0.0, {"primary_return_temp_c": (60.0, False)}), 0.0)
        self.assertTrue(lim.return_fault)
        self.assertEqual(lim.step(10.0, 0.0, {"primary_return_temp_c": (float("nan"), True)}), 0.0)

    def test_power_and_flow_limits_from_the_meter(self):
        lim = Limiters({"power_limit_enabled": True, "flow_limit_enabled": True, "return_limit_enabled": False,
                        "power_max_warm_kw": 1000.0, "power_max_cold_kw": 3000.0,
                        "flow_max_warm_m3h": 20.0, "flow_max_cold_m3h": 60.0})
        # -15 degC: power limit 3000; 10 % over -> 0.5 K/% x 10 % per 900 s = 5 K after 900 s
        trim = run(lim, 900.0, 10.0, -15.0, inputs(power_kw=3300.0, flow_m3h=30.0))
        self.assertAlmostEqual(trim, -5.0, delta=0.05)
        self.assertAlmostEqual(lim.flow_trim_k, 0.0, delta=1e-9)
        lim.reset()
        trim = run(lim, 900.0, 10.0, 15.0, inputs(power_kw=500.0, flow_m3h=24.0))
        self.assertAlmostEqual(trim, -10.0, delta=0.05)
        # meter not ok: no trim, diag flag
        trim = lim.step(10.0, 15.0, {})
        self.assertEqual(trim, 0.0)
        self.assertTrue(lim.meter_fault)

    def test_leased_heat_cap_limits_power_even_when_the_limit_is_off(self):
        lim = Limiters({"return_limit_enabled": False})
        lim.lease_cap_kw = 2000.0
        # 10 % over the leased cap -> 5 K after 900 s, as a configured limit
        trim = run(lim, 900.0, 10.0, -15.0, inputs(power_kw=2200.0))
        self.assertAlmostEqual(trim, -5.0, delta=0.05)
        self.assertEqual(lim.power_limit_kw, 2000.0)
        lim.lease_cap_kw = 0.0  # the lease gone: no limit, the trim is left alone
        self.assertAlmostEqual(lim.step(10.0, -15.0, inputs(power_kw=2200.0)), trim, delta=1e-9)

    def test_leased_heat_cap_only_lowers_a_configured_limit(self):
        lim = Limiters({"power_limit_enabled": True, "return_limit_enabled": False,
                        "power_max_warm_kw": 1000.0, "power_max_cold_kw": 3000.0})
        lim.lease_cap_kw = 5000.0  # above the configured 3000 kW at -15 degC: the 3000 stays
        lim.step(10.0, -15.0, inputs(power_kw=2500.0))
        self.assertEqual(lim.power_limit_kw, 3000.0)
        lim.lease_cap_kw = 2000.0
        lim.step(10.0, -15.0, inputs(power_kw=2500.0))
        self.assertEqual(lim.power_limit_kw, 2000.0)
        self.assertTrue(lim.power_trim_k < 0.0)

    def test_snapshot_restore_and_garbage(self):
        lim = Limiters({})
        run(lim, 1800.0, 10.0, 0.0, inputs(return_c=55.0))
        other = Limiters({})
        other.restore(lim.snapshot())
        self.assertEqual(other.return_trim_k, lim.return_trim_k)
        other.restore({"return_trim_k": "x", "power_trim_k": 5.0, "flow_trim_k": -99.0})
        self.assertEqual(other.return_trim_k, 0.0)
        self.assertEqual(other.power_trim_k, 0.0)
        self.assertEqual(other.flow_trim_k, -30.0)

    def test_validation(self):
        self.assertEqual(validate({}), [])
        problems = validate({"return_max_cold_c": 200.0, "power_limit_enabled": 1})
        self.assertIn("limiters.return_max_cold_c=200.0 degC: must be in [10.0, 110.0]", problems)
        self.assertIn("limiters.power_limit_enabled=1: must be true or false", problems)
        self.assertEqual(len(validate({"outdoor_cold_c": 5.0, "outdoor_warm_c": 0.0})), 1)


if __name__ == "__main__":
    unittest.main()
