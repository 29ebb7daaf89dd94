"""Tests of core.schedule: periods, wrap over midnight, faded setback, boost after setback; the
week programme with holidays on the local calendar, optimum start (and its learning) and stop."""

import unittest

from heatkeeper.core.schedule import Schedule, days_from_civil, parse_date, validate

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


NAN = float("nan")
CST_S = 8 * H  # China Standard Time
# An office: setback 18:00-07:00 on working days, the weekend (Sunday a copy of Saturday) saving all day.
OFFICE = {"periods": [[18 * H, 7 * H, -6.0]], "sat": [[0.0, 24 * H, -8.0]], "sun": "sat"}


def wall(y, m, d, tod_s):
    """Unix seconds of a local (UTC+8) date and time of day."""
    return days_from_civil(y, m, d) * 86400.0 - CST_S + tod_s


T0 = wall(2026, 12, 7, 0.0)  # Monday 7 December 2026, 00:00 local


def offset_at(sched, wall_s, outdoor_c=12.0, room_c=NAN, target_c=20.0, trend_k_per_h=0.0):
    """One cycle at a wall time (the monotonic clock counts from T0)."""
    sched.observe(wall_s, room_c, trend_k_per_h / 3600.0, target_c)
    return sched.step(wall_s - T0, -1.0, outdoor_c)


class TestCalendar(unittest.TestCase):
    def test_dates_and_weekdays(self):
        self.assertEqual(days_from_civil(1970, 1, 1), 0)
        self.assertEqual(parse_date("2000-03-01"), 11017)
        self.assertEqual(parse_date("2024-02-29") + 1, parse_date("2024-03-01"))
        for bad in ("2023-02-29", "2026-13-01", "2026-1-01", "20261001", 20261001, None, "2026-10-0x"):
            self.assertEqual(parse_date(bad), -100000, msg=repr(bad))
        sched = Schedule(OFFICE)
        # 7 December 2026 is a Monday (index 0); 1 January 1970 a Thursday.
        self.assertEqual(sched.programme_of(parse_date("2026-12-07")), 0)
        self.assertEqual(sched.programme_of(parse_date("2026-12-13")), 6)
        self.assertEqual(sched.programme_of(0), 3)


class TestWeekProgramme(unittest.TestCase):
    def test_weekdays_and_a_copied_day(self):
        sched = Schedule(OFFICE)
        # (day, local time of day, expected offset_k) on the local (UTC+8) calendar
        table = [(7, 0.5 * H, -6.0), (7, 6.99 * H, -6.0), (7, 7 * H, 0.0), (7, 17.9 * H, 0.0), (7, 18 * H, -6.0),
                 (11, 12 * H, 0.0), (11, 23 * H, -6.0), (12, 0.0, -8.0), (12, 12 * H, -8.0), (13, 12 * H, -8.0),
                 (13, 23.99 * H, -8.0), (14, 0.0, -6.0), (14, 8 * H, 0.0)]
        for day, tod, offset_k in table:
            self.assertEqual(offset_at(sched, wall(2026, 12, day, tod)), offset_k, msg="day %d tod %s" % (day, tod))

    def test_local_date_from_utc_offset(self):
        # 16:30 UTC on Friday 11 December is 00:30 Saturday in China: the weekend programme.
        sched = Schedule(OFFICE)
        utc_fri_1630 = days_from_civil(2026, 12, 11) * 86400.0 + 16.5 * H
        self.assertEqual(offset_at(sched, utc_fri_1630), -8.0)
        # At UTC+0 the same instant is Friday 16:30: comfort.
        self.assertEqual(offset_at(Schedule(dict(OFFICE, utc_offset_s=0.0)), utc_fri_1630), 0.0)

    def test_holiday_across_midnight(self):
        sched = Schedule(dict(OFFICE, holidays=["2026-12-01", ["2026-12-09", "2026-12-10"]],
                              holiday_programme="frost", holiday_offset_k=-20.0))
        # (day, local time of day, outdoor_c, expected offset_k): Wednesday and Thursday are
        # holidays at frost (not faded even in the cold); Tuesday night and Friday run the week.
        table = [(8, 23.99 * H, 12.0, -6.0), (8, 23.99 * H, -5.0, -6.0 * 0.4), (9, 0.0, 12.0, -20.0),
                 (9, 12 * H, -25.0, -20.0), (10, 23.99 * H, 12.0, -20.0), (11, 0.0, 12.0, -6.0),
                 (11, 7 * H, 12.0, 0.0), (1, 12 * H, 12.0, -20.0), (2, 12 * H, 12.0, 0.0)]
        for day, tod, outdoor_c, offset_k in table:
            self.assertAlmostEqual(offset_at(sched, wall(2026, 12, day, tod), outdoor_c), offset_k, delta=1e-9,
                                   msg="day %d tod %s" % (day, tod))

    def test_holiday_saving_is_faded_and_a_named_day_runs_its_periods(self):
        saving = Schedule(dict(OFFICE, holidays=["2026-12-09"], holiday_offset_k=-10.0))
        self.assertAlmostEqual(offset_at(saving, wall(2026, 12, 9, 12 * H), -2.5), -5.0, delta=1e-9)
        sunday = Schedule(dict(OFFICE, holidays=["2026-12-09"], holiday_programme="sun"))
        self.assertEqual(offset_at(sunday, wall(2026, 12, 9, 12 * H)), -8.0)

    def test_without_a_wall_clock_the_daily_programme_runs(self):
        sched = Schedule(OFFICE)
        # No wall clock: the time of day input and `periods`, every day (the weekend unknown).
        sched.observe(-1.0, NAN, 0.0, 20.0)
        self.assertEqual(sched.step(0.0, 12 * H, 12.0), 0.0)
        self.assertEqual(sched.step(0.0, 20 * H, 12.0), -6.0)
        # No week and no holidays: the wall clock changes nothing.
        daily = Schedule({"periods": THREE_PERIODS})
        self.assertEqual(offset_at(daily, wall(2026, 12, 12, 12 * H)), -2.0)  # its own clock, as before
        daily.observe(-1.0, NAN, 0.0, 20.0)
        self.assertEqual(daily.step(0.0, 12 * H, 12.0), -2.0)

    def test_validation_of_week_and_holidays(self):
        self.assertEqual(validate(dict(OFFICE, holidays=["2026-10-01", ["2027-02-05", "2027-02-12"]],
                                       holiday_programme="sun", optimum_start=True)), [])
        problems = validate({"mon": [[0.0, 90000.0, -5.0]], "tue": "mon", "wed": "tue", "fri": "xmas", "sat": 5,
                             "funday": [],
                             "holidays": ["2026-02-30", 20261001, ["2026-10-07", "2026-10-01"], ["2026-10-01"]],
                             "holiday_programme": "party", "utc_offset_s": 90000.0, "optimum_rate_k_per_h": 0.0})
        text = "\n".join(problems)
        for part in ("schedule.mon[0][1]=90000.0 s: must be in [0, 86400]",
                     "schedule.wed='tue': copies schedule.tue, itself a copy",
                     "schedule.fri='xmas': must be periods or the name of a day",
                     "schedule.sat=5: must be a list of at most 8",
                     "schedule.funday: unknown key",
                     "schedule.holidays[0]='2026-02-30': must be a date \"YYYY-MM-DD\" (quoted)",
                     "schedule.holidays[1]=20261001",
                     "schedule.holidays[2]=['2026-10-07', '2026-10-01']: the range must not end before it starts",
                     "schedule.holidays[3]=['2026-10-01']",
                     "schedule.holiday_programme='party': must be one of saving, frost, mon",
                     "schedule.utc_offset_s=90000.0 s: must be in [-43200.0, 50400.0]",
                     "schedule.optimum_rate_k_per_h=0.0 K/h: must be in [0.05, 10.0]"):
            self.assertIn(part, text)
        self.assertEqual(len(problems), 12, msg=text)
        self.assertEqual(len(validate({"holidays": "2026-10-01"})), 1)


OPTIMUM = dict(OFFICE, optimum_start=True, optimum_rate_k_per_h=1.0, optimum_learn_weight=0.5, optimum_lag_s=0.0)


class TestOptimumStart(unittest.TestCase):
    def test_early_start_from_the_room_deficit(self):
        sched = Schedule(OPTIMUM)
        # Rooms at 17 degC, target 20: 3 K at 1 K/h, so the heating starts at 04:00 for 07:00.
        table = [(2 * H, -6.0), (3.98 * H, -6.0), (4 * H, 0.0), (5 * H, 0.0), (7 * H, 0.0), (12 * H, 0.0), (18 * H, -6.0)]
        for tod, offset_k in table:
            self.assertEqual(offset_at(sched, wall(2026, 12, 8, tod), 12.0, 17.0), offset_k, msg="tod %s" % tod)
        # Once started it holds to the occupancy though the deficit shrinks; warm rooms need no advance.
        sched = Schedule(OPTIMUM)
        self.assertEqual(offset_at(sched, wall(2026, 12, 8, 5 * H), 12.0, 17.0), 0.0)
        self.assertTrue(sched.early_start)
        self.assertEqual(offset_at(sched, wall(2026, 12, 8, 6 * H), 12.0, 19.9), 0.0)
        self.assertEqual(offset_at(Schedule(OPTIMUM), wall(2026, 12, 8, 6.9 * H), 12.0, 20.5), -6.0)
        # Rooms still above the target at 05:00 but falling 0.5 K/h: at 07:00 they would be at 19.5 degC,
        # 0.5 K short, so the heat-up starts at 06:30 (a rising trend is not counted).
        table = [(5.0 * H, 20.5, -0.5, -6.0), (5.5 * H, 20.25, 1.0, -6.0), (6.45 * H, 19.8, -0.5, -6.0),
                 (6.5 * H, 19.75, -0.5, 0.0)]
        falling = Schedule(OPTIMUM)
        for tod, room_c, trend_k_per_h, offset_k in table:
            self.assertEqual(offset_at(falling, wall(2026, 12, 8, tod), 12.0, room_c, 20.0, trend_k_per_h), offset_k,
                             msg="tod %s" % tod)

    def test_no_early_start_before_a_day_of_saving(self):
        # Friday night: the next comfort start is Monday 07:00, beyond the 8 h advance.
        sched = Schedule(OPTIMUM)
        for day, tod, offset_k in ((11, 23 * H, -6.0), (12, 4 * H, -8.0), (13, 22.5 * H, -8.0)):
            self.assertEqual(offset_at(sched, wall(2026, 12, day, tod), 12.0, 15.0), offset_k)
        # Sunday 23:00 with rooms at 14 degC: 6 K at 1 K/h, so Monday 01:00 starts, across midnight.
        self.assertEqual(offset_at(sched, wall(2026, 12, 13, 23.5 * H), 12.0, 14.0), -8.0)
        self.assertEqual(offset_at(sched, wall(2026, 12, 14, 0.99 * H), 12.0, 14.0), -6.0)
        self.assertEqual(offset_at(sched, wall(2026, 12, 14, 1.0 * H), 12.0, 14.0), 0.0)

    def test_without_rooms_and_bounded(self):
        # No reading: the deficit is the faded setback x 0.4 (6 K -> 2.4 K: 2.4 h; at -2.5 degC half).
        table = [(12.0, 4.55 * H, -6.0), (12.0, 4.65 * H, 0.0), (-2.5, 5.75 * H, -3.0), (-2.5, 5.85 * H, 0.0)]
        for outdoor_c, tod, offset_k in table:
            self.assertAlmostEqual(offset_at(Schedule(OPTIMUM), wall(2026, 12, 8, tod), outdoor_c), offset_k, delta=1e-9,
                                   msg="%s %s" % (outdoor_c, tod))
        # The rooms' lag comes first: with 1 h, a 3 K deficit starts at 03:00 (and none without a deficit).
        lagged = dict(OPTIMUM, optimum_lag_s=3600.0)
        self.assertEqual(offset_at(Schedule(lagged), wall(2026, 12, 8, 2.95 * H), 12.0, 17.0), -6.0)
        self.assertEqual(offset_at(Schedule(lagged), wall(2026, 12, 8, 3.0 * H), 12.0, 17.0), 0.0)
        self.assertEqual(offset_at(Schedule(lagged), wall(2026, 12, 8, 6.5 * H), 12.0, 20.0), -6.0)
        # A 20 K deficit is held to the maximum advance (2 h).
        bounded = dict(OPTIMUM, optimum_max_advance_s=2 * H)
        self.assertEqual(offset_at(Schedule(bounded), wall(2026, 12, 8, 4.9 * H), 12.0, 0.0), -6.0)
        self.assertEqual(offset_at(Schedule(bounded), wall(2026, 12, 8, 5.0 * H), 12.0, 0.0), 0.0)

    def test_heat_up_rate_is_learnt(self):
        sched = Schedule(OPTIMUM)
        # Day 1: the rooms rise 0.5 K/h from 17 degC after the 04:00 start, reach 18.5 at 07:00
        # (1.5 K short): the rate learnt is 1 + 0.5 x (0.5 - 1) = 0.75 K/h.
        t = 3.5 * H
        while t <= 7.01 * H:
            room_c = 17.0 + 0.5 * max(0.0, t - 4 * H) / H
            offset_at(sched, wall(2026, 12, 8, t), 12.0, room_c)
            t += 300.0
        self.assertAlmostEqual(sched.rate_k_per_h, 0.75, delta=1e-9)
        # The rate survives a restart; day 2 starts 3 K / 0.75 K/h = 4 h early, at 03:00.
        snap = sched.snapshot(wall(2026, 12, 8, 8 * H) - T0)
        again = Schedule(OPTIMUM)
        again.restore(snap, 0.0)
        self.assertAlmostEqual(again.rate_k_per_h, 0.75, delta=1e-9)
        self.assertEqual(offset_at(again, wall(2026, 12, 9, 2.95 * H), 12.0, 17.0), -6.0)
        self.assertEqual(offset_at(again, wall(2026, 12, 9, 3.0 * H), 12.0, 17.0), 0.0)
        # A building faster than thought reaches the target early: the measure ends there
        # (3 K in 1 h: 3 K/h), and the comfort holds to the occupancy.
        fast = Schedule(OPTIMUM)
        for tod, room_c in ((4 * H, 17.0), (4.5 * H, 18.5), (5 * H, 20.0), (6 * H, 21.0), (7 * H, 21.0)):
            self.assertEqual(offset_at(fast, wall(2026, 12, 8, tod), 12.0, room_c), 0.0)
        self.assertAlmostEqual(fast.rate_k_per_h, 1.0 + 0.5 * (3.0 - 1.0), delta=1e-9)
        # A heat-up in progress is carried through a restart and measured to its end.
        mid = Schedule(OPTIMUM)
        offset_at(mid, wall(2026, 12, 8, 4 * H), 12.0, 17.0)
        snap = mid.snapshot(wall(2026, 12, 8, 5 * H) - T0)
        resumed = Schedule(OPTIMUM)
        resumed.restore(snap, wall(2026, 12, 8, 5 * H) - T0)
        self.assertEqual(offset_at(resumed, wall(2026, 12, 8, 6 * H), 12.0, 18.0), 0.0)  # held (-6 without)
        offset_at(resumed, wall(2026, 12, 8, 7 * H), 12.0, 18.5)
        self.assertAlmostEqual(resumed.rate_k_per_h, 1.0 + 0.5 * (0.5 - 1.0), delta=1e-9)
        # With a 1 h lag the start is at 03:00 and the rise is counted from 04:00: 1.5 K in 3 h.
        lagged = Schedule(dict(OPTIMUM, optimum_lag_s=3600.0))
        t = 2.5 * H
        while t <= 7.01 * H:
            room_c = 17.0 + 0.5 * max(0.0, t - 4 * H) / H
            self.assertEqual(offset_at(lagged, wall(2026, 12, 8, t), 12.0, room_c), -6.0 if t < 3 * H else 0.0)
            t += 300.0
        self.assertAlmostEqual(lagged.rate_k_per_h, 0.75, delta=1e-9)
        # A damaged snapshot leaves the defaults standing.
        damaged = Schedule(OPTIMUM)
        damaged.restore({"rate_k_per_h": "fast", "heatup_left_s": None, "learn_elapsed_s": NAN, "learn_start_c": [],
                         "boost_left_s": 0.0}, 100.0)
        self.assertEqual(damaged.rate_k_per_h, 1.0)
        self.assertEqual(damaged.heatup_until_s, -1.0)
        self.assertEqual(damaged.learn_start_s, -1.0)
        damaged.restore({"rate_k_per_h": 99.0}, 100.0)
        self.assertEqual(damaged.rate_k_per_h, 1.0)

    def test_optimum_stop(self):
        sched = Schedule(dict(OPTIMUM, optimum_stop_s=3600.0))
        # Warm rooms: the setback starts at 17:00 and holds though they cool; cold ones: not early.
        table = [(16.9 * H, 20.5, 0.0), (17.0 * H, 20.5, -6.0), (17.5 * H, 19.5, -6.0), (18.5 * H, 19.0, -6.0)]
        for tod, room_c, offset_k in table:
            self.assertEqual(offset_at(sched, wall(2026, 12, 8, tod), 12.0, room_c), offset_k, msg="tod %s" % tod)
        self.assertEqual(offset_at(Schedule(dict(OPTIMUM, optimum_stop_s=3600.0)), wall(2026, 12, 8, 17.5 * H),
                                   12.0, 19.5), 0.0)


if __name__ == "__main__":
    unittest.main()
