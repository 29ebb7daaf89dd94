"""Tests of core.settings: defaults gathered once, every problem listed, cross-checks."""

import unittest

from heatkeeper.core import checks, drive_reset, settings
from heatkeeper.core.settings import SettingsError

# Every table of settings in core: settings' sections, and the firmware's drive-reset policy.
TABLES = [(row[0], row[1], row[2], row[3]) for row in settings.SECTIONS] + [
    ("drive_reset", drive_reset.DEFAULTS, drive_reset.RANGES, drive_reset.validate)]


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
        self.assertEqual(settings.validate({"commands": {"default_lease_s": 30.0}}),
                         ["commands.default_lease_s=30.0 s: must be in [60.0, 86400.0] (commands.min_lease_s, max_lease_s)"])

    def test_core_control_sections_are_checked_too(self):
        problems = settings.validate({"curve": {"slope": 99.0}, "pi": {"nonsense_key": 1}})
        self.assertTrue(len(problems) >= 2, problems)


class TestTables(unittest.TestCase):
    """One idiom: DEFAULTS + RANGES per module, checked by core.checks."""

    def test_every_default_lies_within_its_range(self):
        for name, defaults, ranges, validate in TABLES:
            for key in ranges:
                self.assertIn(key, defaults, "%s.%s: a range without a setting" % (name, key))
            for key in defaults:
                default = defaults[key]
                where = "%s.%s=%r" % (name, key, default)
                if isinstance(default, bool) or isinstance(default, list):
                    self.assertTrue(key not in ranges, where + ": true/false and lists take no range")
                elif isinstance(default, str):
                    options = ranges.get(key)
                    self.assertTrue(isinstance(options, tuple) and len(options) >= 2, where + ": no options")
                    self.assertIn(default, options, where + ": not among its options")
                else:
                    self.assertTrue(checks.is_number(default), where + ": neither number, text, list nor bool")
                    self.assertIn(key, ranges, where + ": a number without a range")
                    low, high, unit = ranges[key]
                    self.assertTrue(isinstance(unit, str), where + ": unit")
                    self.assertTrue(checks.is_number(low) and checks.is_number(high) and low < high, where)
                    self.assertTrue(low <= default <= high, "%s: outside [%s, %s]" % (where, low, high))
            self.assertEqual(checks.section(name, defaults, defaults, ranges), [])
            self.assertEqual(validate(dict(defaults)), [])
            self.assertEqual(validate({}), [])

    def test_the_checker_lists_every_problem_at_once(self):
        defaults = {"delay_s": 10.0, "mode": "band", "enabled": True, "count": 3, "points": [1.0]}
        ranges = {"delay_s": (0, 3600, "s"), "mode": ("band", "vsd"), "count": (0, 20, "")}
        given = {"delay_s": -1, "mode": "turbo", "enabled": 1, "count": float("nan"), "points": "x", "colour": 1}
        self.assertEqual(checks.section("make_up", given, defaults, ranges), [
            "make_up.colour: unknown key (known: count, delay_s, enabled, mode, points)",
            "make_up.count=nan: must be in [0, 20]",
            "make_up.delay_s=-1 s: must be in [0, 3600]",
            "make_up.enabled=1: must be true or false",
            "make_up.mode='turbo': must be one of band, vsd",
        ])
        for bad in (True, "5", None, float("inf"), 3600.5, [1]):
            self.assertEqual(checks.section("make_up", {"delay_s": bad}, defaults, ranges),
                             ["make_up.delay_s=%r s: must be in [0, 3600]" % (bad,)])
        self.assertEqual(checks.section("make_up", {"delay_s": 3600, "count": 0.0}, defaults, ranges), [])
        self.assertEqual(checks.section("make_up", 5, defaults, ranges), ["make_up=5: must be a table of settings"])

    def test_every_section_is_checked_by_settings_alone(self):
        # The setpoint chain and the valve loop take settings as settings.load checked them.
        bad = {"curve": {"slope": 9.0}, "room_feedback": {"trim_max_k": 99.0}, "pi": {"xp_k": 0.0},
               "valve": {"kind": "x"}, "modes": {"initial_mode": "auto", "fill_timeout_s": 1}}
        expected = ["modes.fill_timeout_s=1 s: must be in [60, 604800]",
                    "curve.slope=9.0: must be in [0.1, 4.0]",
                    "room_feedback.trim_max_k=99.0 K: must be in [0.0, 30.0]",
                    "pi.xp_k=0.0 K: must be in [1.0, 250.0]",
                    "valve.kind='x': must be one of floating, position"]
        self.assertEqual(settings.validate(bad), expected)
        try:
            settings.load(bad)
            self.assertTrue(False, "no SettingsError")
        except SettingsError as exc:
            self.assertEqual(exc.problems, expected)


if __name__ == "__main__":
    unittest.main()
