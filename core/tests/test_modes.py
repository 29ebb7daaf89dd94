"""Tests of core.modes: the transition table and the start-up sequence timers."""

import unittest

from heatkeeper.core import modes
from heatkeeper.core.modes import (
    M_AUTO,
    M_MANUAL,
    M_SAFE,
    M_STARTUP_COLD,
    M_STARTUP_FILL,
    M_STARTUP_WARMUP,
    M_SUMMER,
    T_CMD_AUTO,
    T_CMD_STARTUP,
    T_TRIP,
    ModeMachine,
)


def make(**over):
    cfg = dict(modes.DEFAULTS)
    cfg.update(over)
    return ModeMachine(cfg, 0.0)


class TestModeTable(unittest.TestCase):
    def test_initial_mode(self):
        self.assertEqual(make().mode, M_AUTO)
        self.assertEqual(make(initial_mode="startup").mode, M_STARTUP_FILL)
        self.assertEqual(make(initial_mode="summer").mode, M_SUMMER)

    def test_fire_follows_rows_only(self):
        m = make()
        self.assertTrue(m.fire(T_TRIP, 5.0, "overtemp_trip"))
        self.assertEqual(m.mode, M_SAFE)
        ev = m.events[-1]
        self.assertEqual((ev["kind"], ev["reason"], ev["from"], ev["to"], ev["trigger"]),
                         ("mode", "overtemp_trip", "auto", "safe", "trip"))
        # Rule 1: no start-up straight from safe.
        self.assertTrue(not m.fire(T_CMD_STARTUP, 6.0, "command"))
        self.assertEqual(m.mode, M_SAFE)
        self.assertTrue(m.fire(T_CMD_AUTO, 7.0, "command"))
        self.assertEqual(m.mode, M_AUTO)

    def test_manual_is_not_overridden_by_a_trip(self):
        m = make()
        m.fire(modes.T_CMD_MANUAL, 0.0, "command")
        self.assertEqual(m.mode, M_MANUAL)
        self.assertTrue(not m.fire(T_TRIP, 1.0, "overtemp_trip"))
        self.assertEqual(m.mode, M_MANUAL)

    def test_every_row_names_valid_modes(self):
        for rule in modes.TRANSITIONS:
            for source in rule[0]:
                self.assertTrue(0 <= source < modes.N_MODES)
            self.assertTrue(0 <= rule[1] < modes.N_TRIGGERS)
            self.assertTrue(0 <= rule[2] < modes.N_MODES)

    def test_startup_sequence(self):
        m = make(initial_mode="startup", fill_confirm_s=60.0, cold_circulation_s=600.0, warmup_rate_k_per_h=36.0)
        t = 0.0
        # Fill: pressure not yet there.
        m.update(t, 1.0, False, False, 10.0, True, 50.0)
        self.assertEqual(m.mode, M_STARTUP_FILL)
        for t in range(1, 62):
            m.update(float(t), 1.0, True, False, 10.0, True, 50.0)
        self.assertEqual(m.mode, M_STARTUP_COLD)
        self.assertEqual(m.events[-1]["reason"], "pressure_reached")
        # Cold circulation counts only time with proven flow.
        for t in range(62, 400):
            m.update(float(t), 1.0, False, False, 10.0, True, 50.0)
        self.assertEqual(m.mode, M_STARTUP_COLD)
        for t in range(400, 1001):
            m.update(float(t), 1.0, False, True, 12.0, True, 50.0)
        self.assertEqual(m.mode, M_STARTUP_WARMUP)
        self.assertEqual(m.events[-1]["reason"], "cold_circulation_done")
        # Warm-up: 36 K/h = 0.01 K/s from 12 degC.
        m.update(1100.0, 1.0, False, True, 12.5, True, 50.0)
        self.assertAlmostEqual(m.ramp_c, 12.0 + 0.01 * (1100.0 - m.entered_s), delta=1e-6)
        t = 1100.0
        while m.mode == M_STARTUP_WARMUP and t < 10000.0:
            t += 10.0
            m.update(t, 10.0, False, True, m.ramp_c, True, 50.0)
        self.assertEqual(m.mode, M_AUTO)
        self.assertEqual(m.events[-1]["reason"], "warmup_complete")

    def test_fill_timeout_flag(self):
        m = make(initial_mode="startup", fill_timeout_s=100.0)
        m.update(101.0, 1.0, False, False, 10.0, True, 50.0)
        self.assertTrue(m.fill_timed_out)

    def test_snapshot_round_trip(self):
        m = make(initial_mode="startup")
        m.fire(modes.T_FILLED, 10.0, "pressure_reached")
        m.cold_run_s = 123.0
        other = make()
        other.restore(m.snapshot(50.0), 1000.0)
        self.assertEqual(other.mode, M_STARTUP_COLD)
        self.assertEqual(other.cold_run_s, 123.0)
        self.assertAlmostEqual(other.entered_s, 960.0, delta=1e-9)
        other.restore({"mode": 99}, 0.0)
        self.assertEqual(other.mode, M_STARTUP_COLD)

    def test_validate(self):
        self.assertEqual(modes.validate(dict(modes.DEFAULTS)), [])
        bad = dict(modes.DEFAULTS)
        bad["initial_mode"] = "manual"
        self.assertEqual(len(modes.validate(bad)), 1)
        self.assertTrue(modes.heating_allowed(M_STARTUP_WARMUP))
        self.assertTrue(not modes.heating_allowed(M_STARTUP_COLD))


if __name__ == "__main__":
    unittest.main()
