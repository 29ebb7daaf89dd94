"""Tests of core.season (the season calendar) and of the station across a season boundary:
dates, the [season] section, pushed calendars (versions, refusals), the queries, the snapshot,
heating only on command outside the season, and no change at all without a calendar."""

import json
import unittest

from heatkeeper.core import settings as core_settings
from heatkeeper.core.season import SeasonCalendar, check, days_from_civil, parse_date, validate
from heatkeeper.core.station import StationController
from heatkeeper.core.tests.station_rig import Rig

DAY = 86400.0
START = 1794672000.0  # 2026-11-15 00:00 +08:00
END = START + 151 * DAY  # 2027-04-15 00:00 +08:00: the last day 2027-04-14


def message(version=1, start=START, end=END, preheat=3 * DAY, issued=START - 60 * DAY, city="arxan"):
    return {"city": city, "version": version, "issued_s": issued, "start_s": start, "end_s": end, "preheat_s": preheat}


def _greater(test, a, b, msg=None):  # MicroPython's unittest has no assertGreater
    test.assertTrue(a > b, "%r not greater than %r (%r)" % (a, b, msg))


def _less(test, a, b, msg=None):
    test.assertTrue(a < b, "%r not less than %r (%r)" % (a, b, msg))


class TestDates(unittest.TestCase):
    def test_date_table(self):
        cases = [(19700101, 0), (20000301, 11017), (20240229, 19782), (20261115, 20772), (20261115.0, 20772),
                 (20260229, -1), (20261301, -1), (20260010, -1), (20260431, -1), (20261100, -1), (261115, -1),
                 (20261115.5, -1), ("2026-11-15", -1), (True, -1), (19691231, -1)]
        for text, days in cases:
            self.assertEqual(parse_date(text), days, text)
        self.assertEqual(days_from_civil(2026, 11, 15) * DAY - 8 * 3600.0, START)


class TestSection(unittest.TestCase):
    def test_problems_are_named(self):
        cases = [
            ({}, ""),
            ({"start_date": 20261115, "end_date": 20270414}, ""),
            ({"start_date": 20261115}, "season.end_date=0: must be a date YYYYMMDD"),
            ({"start_date": 20261131, "end_date": 20270414}, "season.start_date=20261131: must be a date"),
            ({"start_date": "2026-11-15", "end_date": 20270414}, "season.start_date='2026-11-15': must be in [0, 99991231]"),
            ({"start_date": 20261115, "end_date": 20261114}, "season.end_date=20261114: must be on or after"),
            ({"start_date": 20261115, "end_date": 20281115}, "season.end_date=20281115: a season of"),
            ({"preheat_h": 1000.0}, "season.preheat_h=1000.0 h: must be in [0.0, 720.0]"),
            ({"utc_offset_h": "8"}, "season.utc_offset_h='8' h: must be in [-12.0, 14.0]"),
            ({"start": 20261115}, "season.start: unknown key"),
        ]
        for section, problem in cases:
            problems = validate(section)
            if problem:
                self.assertTrue(problems and problems[0].startswith(problem), (section, problems))
            else:
                self.assertEqual(problems, [], section)

    def test_settings_load_lists_the_season_section(self):
        with self.assertRaises(core_settings.SettingsError) as ctx:
            core_settings.load({"season": {"start_date": 20261115, "end_date": 20260230}})
        self.assertIn("season.end_date=20260230", str(ctx.exception))

    def test_bootstrap_from_the_section(self):
        cal = SeasonCalendar({"start_date": 20261115, "end_date": 20270414, "preheat_h": 48.0})
        self.assertTrue(cal.known())
        self.assertEqual(cal.version, 0)
        self.assertEqual(cal.start_s, START)
        self.assertEqual(cal.end_s, END)
        self.assertEqual(cal.preheat_s, 48 * 3600.0)
        self.assertEqual(cal.snapshot(), {})  # the file's calendar is the file's again after a restart
        self.assertFalse(SeasonCalendar({}).known())
        self.assertFalse(SeasonCalendar(None).known())


class TestAccept(unittest.TestCase):
    def test_each_bad_field_is_named(self):
        cases = [
            (message(version=0), "version"),
            (message(version=True), "version"),
            (message(version=1.0), "version"),
            (message(city=5), "city"),
            (message(issued=float("nan")), "issued_s"),
            (message(start=-1.0), "start_s"),
            (message(end=START), "end_s"),
            (message(end=START + 400 * DAY), "end_s"),
            (message(preheat=-1.0), "preheat_s"),
            (message(preheat=31 * DAY), "preheat_s"),
            ("x", "season"),
        ]
        for msg, key in cases:
            self.assertTrue(check(msg).startswith(key), (key, check(msg)))
            cal = SeasonCalendar()
            self.assertTrue(cal.accept(msg, START).startswith(key))
            self.assertFalse(cal.known())
            self.assertEqual(cal.refused, 1)

    def test_versions(self):
        cal = SeasonCalendar({"start_date": 20261101, "end_date": 20270331})
        wall = START - 5 * DAY
        self.assertEqual(cal.accept(message(version=2), wall), "")  # a pushed calendar replaces the file's
        self.assertEqual((cal.version, cal.start_s, cal.city), (2, START, "arxan"))
        self.assertEqual(cal.accept(message(version=2), wall), "")  # the retained message again: kept
        self.assertIn("older than the calendar held", cal.accept(message(version=1, end=END + DAY), wall))
        self.assertIn("with other dates", cal.accept(message(version=2, end=END + DAY), wall))
        self.assertEqual(cal.end_s, END)  # the held one stays
        self.assertEqual(cal.accept(message(version=3, end=END + 7 * DAY), wall), "")  # an extension
        self.assertEqual(cal.end_s, END + 7 * DAY)
        self.assertIn("ahead of the station's clock", cal.accept(message(version=4, issued=wall + 7200.0), wall))
        self.assertEqual(cal.version, 3)

    def test_queries_across_the_boundaries(self):
        cal = SeasonCalendar()
        cal.accept(message(preheat=2 * DAY), START)
        # wall: (in_season, in_preheat, heating_allowed, first_day_s, telemetry in_season)
        cases = [
            (START - 3 * DAY, False, False, False, START, 0),
            (START - 2 * DAY, False, True, True, START, 0),
            (START - 1.0, False, True, True, START, 0),
            (START, True, False, True, START, 1),
            (END - 1.0, True, False, True, START, 1),
            (END, False, False, False, -1.0, 0),
        ]
        for wall, season, pre, allowed, first, tele in cases:
            self.assertEqual(cal.in_season(wall), season, wall)
            self.assertEqual(cal.in_preheat(wall), pre, wall)
            self.assertEqual(cal.heating_allowed(wall), allowed, wall)
            self.assertEqual(cal.first_day_s(wall), first, wall)
            self.assertEqual(cal.telemetry(wall), {"season_version": 1, "in_season": tele})
        none = SeasonCalendar()
        self.assertEqual(none.first_day_s(START), -1.0)
        self.assertTrue(none.heating_allowed(START))
        self.assertEqual(none.telemetry(START), {"season_version": None, "in_season": None})
        self.assertEqual(cal.telemetry(0.0), {"season_version": 1, "in_season": None})


def _rig(settings=None):
    rig = Rig(settings, readings={"outdoor_temp_c": 8.0})  # no frost (below 3 degC), heating on the curve
    rig.run_until(rig.t + 60.0)
    return rig


def _wall(rig):
    return (rig.ctl.now_s + rig.ctl.wall_offset_s)


class TestStation(unittest.TestCase):
    def test_pushed_calendar_survives_a_restart(self):
        rig = _rig()
        ctl = rig.ctl
        self.assertEqual(ctl.set_season(message(version=4), START + DAY), "")
        self.assertTrue(ctl.planning)
        self.assertIn("version", ctl.set_season(message(version=3), START + DAY))
        snap = json.loads(json.dumps(ctl.snapshot()))
        other = StationController({"season": {"start_date": 20261015, "end_date": 20270415}})
        other.restore(snap, 5000.0)
        self.assertEqual((other.season.version, other.season.start_s, other.season.end_s), (4, START, END))
        self.assertTrue(other.planning)
        # an older pushed calendar in a snapshot does not replace a newer one held
        newer = StationController()
        newer.set_season(message(version=9, end=END + DAY), START)
        newer.restore(snap, 5000.0)
        self.assertEqual(newer.season.version, 9)

    def test_outside_the_season_heating_only_on_command(self):
        rig = _rig()
        ctl = rig.ctl
        _greater(self, rig.out["supply_setpoint_c"], 30.0)  # 8 degC outdoor: heating
        self.assertEqual(ctl.set_season(message(), END + 10 * DAY), "")  # after the season's end
        self.assertEqual(rig.run_until(rig.t + 5.0)["supply_setpoint_c"], 0.0)
        out = rig.run_until(rig.t + 5.0)
        self.assertEqual(out["mode_name"], "auto")
        self.assertEqual(out["supply_setpoint_c"], 0.0)
        rec = ctl.telemetry(rig.inputs(), out)
        self.assertEqual((rec["season_version"], rec["in_season"], rec["preheat_phase"]), (1, 0, 1))
        # remote mode alone does not turn it on; a supply setpoint lease does, until it ends
        self.assertEqual(rig.command("set_mode", {"mode": "remote"})["result"], "applied")
        self.assertEqual(rig.run_until(rig.t + 5.0)["supply_setpoint_c"], 0.0)
        res = rig.command("set_supply_setpoint", {"supply_setpoint_c": 45.0, "lease_s": 600})
        self.assertEqual(res["result"], "applied", res)
        _greater(self, rig.run_until(rig.t + 60.0)["supply_setpoint_c"], 20.0)
        self.assertEqual(rig.run_until(rig.t + 700.0)["supply_setpoint_c"], 0.0)

    def test_frost_protection_still_acts_outside_the_season(self):
        rig = _rig()
        rig.ctl.set_season(message(), START - 30 * DAY)  # before the pre-heat window
        rig.readings["outdoor_temp_c"] = -30.0
        rig.readings["secondary_return_temp_c"] = 3.0
        rig.readings["secondary_supply_temp_c"] = 4.0
        out = rig.run_until(rig.t + 600.0)
        self.assertEqual(rig.ctl.diagnostics()["frost"], 1)
        self.assertEqual(out["supply_setpoint_c"], 20.0)  # interlocks.frost_min_supply_c, not the curve
        self.assertEqual(rig.ctl.preheat.phase, 1)

    def test_season_boundary_crossed_by_the_wall_clock(self):
        rig = _rig()
        ctl = rig.ctl
        ctl.set_season(message(preheat=0.0), START - 600.0)
        self.assertEqual(rig.run_until(rig.t + 60.0)["supply_setpoint_c"], 0.0)
        out = rig.run_until(rig.t + 900.0)  # past 00:00 of day one (re-planned every 300 s)
        _greater(self, _wall(rig), START)
        self.assertEqual(ctl.diagnostics()["heating_on"], 1)
        _greater(self, out["supply_setpoint_c"], 20.0)  # ramping up from the cut-out
        self.assertEqual(ctl.telemetry(rig.inputs(), out)["in_season"], 1)

    def test_wall_clock_input(self):
        rig = _rig()
        ctl = rig.ctl
        ctl.set_season(message(preheat=0.0), START + DAY)  # in the season
        inputs = rig.inputs()
        for bad in ((0.0, True), (-5.0, True), ("x", True), (END + 5 * DAY, False), END + 5 * DAY):
            rig.t += 1.0
            inputs = dict(rig.inputs(), wall_s=bad)
            ctl.step(inputs)
            self.assertFalse(ctl.wall_ok, bad)
            self.assertEqual(ctl.wall_s, 0.0)
        rig.t += 1.0
        ctl.step(dict(rig.inputs(), wall_s=(END + 5 * DAY, True)))
        self.assertTrue(ctl.wall_ok)
        self.assertEqual(ctl.wall_s, END + 5 * DAY)
        self.assertEqual(_wall(rig), END + 5 * DAY)
        rig.t += 400.0
        out = ctl.step(dict(rig.inputs(), wall_s=(END + 5 * DAY + 400.0, True)))
        self.assertEqual(out["supply_setpoint_c"], 0.0)  # the wall clock says the season is over

    def test_without_a_calendar_nothing_changes(self):
        a = Rig(readings={"outdoor_temp_c": -5.0})
        b = Rig(readings={"outdoor_temp_c": -5.0})
        self.assertFalse(b.ctl.planning)
        rooms = [{"collector": "c1", "group": "g", "temp_c": 17.5, "age_s": 0.0}]
        for ctl in (a.ctl, b.ctl):
            ctl.set_room_readings(rooms, 1000.0)
        b.ctl.set_forecast({"ts": START, "start_ts": START, "step_s": 3600.0, "temp_c": [-30.0] * 48}, START)
        for _ in range(1200):
            a.t += 1.0
            b.t += 1.0
            oa = a.step()
            ob = b.ctl.step(dict(b.inputs(), wall_s=(START + b.t, True)))
            b.out = ob
            self.assertEqual(oa["supply_setpoint_c"], ob["supply_setpoint_c"])
            self.assertEqual(oa["valve_cmd_pct"], ob["valve_cmd_pct"])
        rec = b.ctl.telemetry(b.inputs(), ob)
        self.assertEqual((rec["season_version"], rec["in_season"]), (None, None))
        self.assertFalse("preheat_phase" in rec)

    def test_the_season_section_is_the_bootstrap(self):
        ctl = StationController({"season": {"start_date": 20261115, "end_date": 20270414}})
        self.assertTrue(ctl.planning)
        self.assertEqual(ctl.season.start_s, START)
        res = ctl.reconfigure({"season": {"start_date": 20261110, "end_date": 20270414}}, 2)
        self.assertEqual(ctl.season.start_s, START - 5 * DAY)
        self.assertIn("preheat", res + ["preheat"])
        ctl.set_season(message(version=1), START)
        ctl.reconfigure({"season": {"start_date": 20261101, "end_date": 20270414}}, 3)
        self.assertEqual(ctl.season.start_s, START)  # the pushed calendar outranks the file's


if __name__ == "__main__":
    unittest.main()
