"""Tests of core.settings: defaults gathered once, every problem listed, cross-checks."""

import unittest

from heatkeeper.core import settings
from heatkeeper.core.settings import SettingsError


class TestSettings(unittest.TestCase):
    def test_defaults_are_valid_and_complete(self):
        self.assertEqual(settings.validate(None), [])
        self.assertEqual(settings.validate({}), [])
        for name in ("station", "sensors", "alarms", "pumps", "make_up", "interlocks", "modes", "commands",
                     "curve", "outdoor", "schedule", "limiters", "room_feedback", "pi", "valve"):
            self.assertIn(name, settings.DEFAULTS)
        self.assertEqual(settings.DEFAULTS["station"]["room_setpoint_c"], 18.5)

    def test_load_overlays_partial_settings(self):
        full = settings.load({"pumps": {"proof_s": 20.0}})
        self.assertEqual(full["pumps"]["proof_s"], 20.0)
        self.assertEqual(full["pumps"]["retry_s"], settings.DEFAULTS["pumps"]["retry_s"])
        # The defaults themselves are never modified by a load.
        self.assertEqual(settings.DEFAULTS["pumps"]["proof_s"], 15.0)

    def test_every_problem_is_listed(self):
        bad = {
            "station": {"cycle_s": 0.0},
            "pumps": {"dp_mode": "turbo", "extra": 1},
            "make_up": {"pressure_setpoint_kpa": float("nan")},
            "nosuch": {},
            "alarms": "loud",
        }
        problems = settings.validate(bad)
        self.assertEqual(len(problems), 6, problems)
        self.assertIn("station.cycle_s=0.0 s: must be in [0.1, 60]", problems)
        joined = "\n".join(problems)
        for fragment in ("pumps.dp_mode='turbo'", "pumps.extra: unknown key", "nosuch: unknown section",
                         "make_up.pressure_setpoint_kpa=nan", "alarms='loud'"):
            self.assertIn(fragment, joined)
        try:
            settings.load(bad)
            self.assertTrue(False, "no SettingsError")
        except SettingsError as exc:
            self.assertEqual(exc.problems, problems)

    def test_cross_checks(self):
        problems = settings.validate({"make_up": {"pressure_setpoint_kpa": 580.0}})
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("interlocks.over_pressure_kpa", problems[0])
        problems = settings.validate({"commands": {"supply_max_c": 100.0}, "interlocks": {"overtemp_c": 95.0}})
        self.assertEqual(len(problems), 1, problems)
        problems = settings.validate({"pumps": {"dry_run_kpa": 300.0}})
        self.assertEqual(len(problems), 1, problems)

    def test_core_control_sections_are_checked_too(self):
        problems = settings.validate({"curve": {"slope": 99.0}, "pi": {"nonsense_key": 1}})
        self.assertTrue(len(problems) >= 2, problems)


if __name__ == "__main__":
    unittest.main()
