# cpython-only: Hypothesis and the standard library's calendar, which MicroPython does not have.
"""core.schedule's calendar against Python's datetime: every date's day number and weekday,
and the local date of any instant at any UTC offset, decide the programme a day runs."""

import datetime
import unittest

from heatkeeper.core.schedule import DAY_NAMES, Schedule, days_from_civil, parse_date
from hypothesis import given
from hypothesis import strategies as st

EPOCH = datetime.date(1970, 1, 1)
DAYS = {name: [[0.0, 86400.0, -1.0 - i]] for i, name in enumerate(DAY_NAMES)}  # each day its own offset


class TestCalendar(unittest.TestCase):
    @given(st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2199, 12, 31)))
    def test_day_numbers_agree_with_datetime(self, date):
        self.assertEqual(days_from_civil(date.year, date.month, date.day), (date - EPOCH).days)
        self.assertEqual(parse_date(date.isoformat()), (date - EPOCH).days)

    @given(st.integers(min_value=0, max_value=4102444800), st.sampled_from([-43200, -3600, 0, 19800, 28800, 50400]))
    def test_an_instant_runs_its_local_weekday(self, unix_s, offset_s):
        sched = Schedule(dict(DAYS, utc_offset_s=float(offset_s)))
        sched.observe(float(unix_s) + 0.5, float("nan"), 0.0, 20.0)
        local = datetime.datetime.fromtimestamp(unix_s + 0.5, datetime.timezone(datetime.timedelta(seconds=offset_s)))
        self.assertEqual(sched.step(0.0, -1.0, 20.0), -1.0 - local.weekday())

    @given(st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2099, 12, 31)), st.integers(0, 30))
    def test_a_holiday_range_covers_its_days_only(self, first, length):
        last = first + datetime.timedelta(days=length)
        sched = Schedule(dict(DAYS, holidays=[[first.isoformat(), last.isoformat()]], holiday_programme="frost",
                              holiday_offset_k=-20.0))
        for date, inside in ((first - datetime.timedelta(days=1), False), (first, True), (last, True),
                             (last + datetime.timedelta(days=1), False)):
            self.assertEqual(sched.programme_of((date - EPOCH).days) == 7, inside, msg=str(date))


if __name__ == "__main__":
    unittest.main()
