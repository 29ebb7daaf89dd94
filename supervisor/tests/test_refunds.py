"""The refund rules worked through by hand on small cases (supervisor.refunds).

The season runs 2025-11-15 to 2026-02-22 in Asia/Shanghai: 100 days. The household heats
100 m2 at 25 CNY/m2: a season fee of 2500.00 and a daily fee of 25.00, so every expected refund
below is days x 25.00 (a measurement month is 30 days: 750.00).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from heatkeeper.supervisor.refunds import (
    Household,
    Measurement,
    Outage,
    RefundRules,
    compute_refunds,
    measurement_months,
    refunded_days,
)

RULES = RefundRules(floor_c=18.0, season_start=date(2025, 11, 15), season_end=date(2026, 2, 22),
                    timezone="Asia/Shanghai")
HOME = Household("H1", "S1", Decimal("100"), Decimal("25"))


def at(text: str) -> datetime:
    """A local Shanghai time: '2025-12-01 08:00' -> aware datetime."""
    return datetime.fromisoformat(text + "+08:00")


def stop(start: str, end: str, station: str = "S1") -> Outage:
    return Outage(station, at(start), at(end))


def failed(when: datetime, temperature_c: float = 16.0, household: str = "H1") -> Measurement:
    return Measurement(household, when, temperature_c, "Wang")


def days_of(*outages: Outage) -> list[str]:
    return sorted(d.isoformat() for d in refunded_days(RULES, outages).get("S1", set()))


def months_of(*measurements: Measurement) -> int:
    return measurement_months(RULES, measurements).get("H1", 0)


def refund(outages: list[Outage] | None = None, measurements: list[Measurement] | None = None,
           home: Household = HOME) -> Decimal:
    return compute_refunds(RULES, [home], outages or [], measurements or []).households[0].refund_cny


def test_the_season_has_100_days() -> None:
    assert RULES.season_days == 100


# -- outages ---------------------------------------------------------------------------------


def test_an_outage_of_exactly_24_h_refunds_nothing_a_second_more_refunds_its_days() -> None:
    assert days_of(stop("2025-12-01 08:00", "2025-12-02 08:00")) == []
    assert days_of(stop("2025-12-01 08:00", "2025-12-02 08:00:01")) == ["2025-12-01", "2025-12-02"]
    assert refund([stop("2025-12-01 08:00", "2025-12-02 08:00:01")]) == Decimal("50.00")


def test_an_outage_across_midnight_refunds_every_day_it_touches() -> None:
    # 30 h from Monday 20:00 to Wednesday 02:00 touches three calendar days
    assert days_of(stop("2025-12-01 20:00", "2025-12-03 02:00")) == ["2025-12-01", "2025-12-02", "2025-12-03"]
    assert refund([stop("2025-12-01 20:00", "2025-12-03 02:00")]) == Decimal("75.00")


def test_an_outage_ending_exactly_at_midnight_does_not_touch_the_next_day() -> None:
    assert days_of(stop("2025-12-01 00:00", "2025-12-03 00:00")) == ["2025-12-01", "2025-12-02"]
    assert days_of(stop("2025-12-01 00:00", "2025-12-03 00:00:01")) == ["2025-12-01", "2025-12-02", "2025-12-03"]


def test_days_are_local_calendar_days_of_the_rules_timezone_whatever_the_offset_written() -> None:
    # 2025-11-30T16:00Z is 2025-12-01 00:00 in Shanghai: no day of November is touched
    outage = Outage("S1", datetime.fromisoformat("2025-11-30T16:00:00Z"), datetime.fromisoformat("2025-12-02T16:00:00Z"))
    assert days_of(outage) == ["2025-12-01", "2025-12-02"]


def test_overlapping_outages_of_a_station_are_one_stop() -> None:
    # 20 h and 12 h, overlapping by 2 h: heating stopped for 30 h in a row
    outages = (stop("2025-12-01 00:00", "2025-12-01 20:00"), stop("2025-12-01 18:00", "2025-12-02 06:00"))
    assert days_of(*outages) == ["2025-12-01", "2025-12-02"]
    # an outage inside another one changes nothing
    assert days_of(stop("2025-12-01 00:00", "2025-12-02 06:00"), stop("2025-12-01 03:00", "2025-12-01 04:00")) == [
        "2025-12-01", "2025-12-02"]


def test_touching_outages_are_one_stop_a_gap_of_a_second_is_two() -> None:
    assert days_of(stop("2025-12-01 00:00", "2025-12-01 12:00"), stop("2025-12-01 12:00", "2025-12-02 00:30")) == [
        "2025-12-01", "2025-12-02"]
    assert days_of(stop("2025-12-01 00:00", "2025-12-01 12:00"), stop("2025-12-01 12:00:01", "2025-12-02 00:30")) == []


def test_outages_of_other_stations_are_not_merged_with_this_one() -> None:
    outages = (stop("2025-12-01 00:00", "2025-12-01 20:00"), stop("2025-12-01 18:00", "2025-12-02 06:00", "S2"))
    assert days_of(*outages) == []


def test_a_day_covered_by_two_stops_is_refunded_once() -> None:
    outages = [stop("2025-11-29 00:00", "2025-12-01 06:00"), stop("2025-12-01 20:00", "2025-12-03 00:00")]
    assert days_of(*outages) == ["2025-11-29", "2025-11-30", "2025-12-01", "2025-12-02"]
    assert refund(outages) == Decimal("100.00")


def test_an_outage_crossing_the_season_end_counts_only_its_hours_and_days_in_the_season() -> None:
    # 60 h in all, but only 12 h (2026-02-22 12:00 to 24:00) when heating is owed: no refund
    assert days_of(stop("2026-02-22 12:00", "2026-02-25 00:00")) == []
    # 72 h in all, 48 h in the season: its two in-season days, not the days after the season
    assert days_of(stop("2026-02-21 00:00", "2026-02-24 00:00")) == ["2026-02-21", "2026-02-22"]


def test_an_outage_crossing_the_season_start_counts_only_its_hours_and_days_in_the_season() -> None:
    # 82 h in all, 34 h from 2025-11-15 00:00
    assert days_of(stop("2025-11-13 00:00", "2025-11-16 10:00")) == ["2025-11-15", "2025-11-16"]
    # 70 h in all, 10 h in the season
    assert days_of(stop("2025-11-12 12:00", "2025-11-15 10:00")) == []
    # wholly outside
    assert days_of(stop("2025-11-01 00:00", "2025-11-14 00:00"), stop("2026-02-23 00:00", "2026-03-30 00:00")) == []


def test_a_station_with_outages_and_no_household_refunds_nobody() -> None:
    report = compute_refunds(RULES, [HOME], [stop("2025-12-01 00:00", "2025-12-05 00:00", "S9")], [])
    assert report.households[0].outage_days == 0 and report.total_cny == Decimal("0.00")


# -- measurements ----------------------------------------------------------------------------

T0 = at("2025-12-01 10:00")


def test_three_failures_within_30_days_refund_one_month() -> None:
    failures = [failed(T0), failed(T0 + timedelta(days=10)), failed(T0 + timedelta(days=20))]
    assert months_of(*failures) == 1
    assert refund(measurements=failures) == Decimal("750.00")


def test_a_measurement_exactly_at_the_floor_has_not_failed() -> None:
    assert months_of(failed(T0), failed(T0 + timedelta(days=1)), failed(T0 + timedelta(days=2), 18.0)) == 0
    assert months_of(failed(T0), failed(T0 + timedelta(days=1)), failed(T0 + timedelta(days=2), 17.99)) == 1


def test_failures_exactly_30_days_apart_are_within_the_window_a_second_more_is_not() -> None:
    window = timedelta(days=30)
    assert months_of(failed(T0), failed(T0 + timedelta(days=15)), failed(T0 + window)) == 1
    assert months_of(failed(T0), failed(T0 + timedelta(days=15)), failed(T0 + window + timedelta(seconds=1))) == 0


def test_a_household_with_six_failures_in_a_row_gets_two_months() -> None:
    failures = [failed(T0 + timedelta(days=i)) for i in range(6)]
    assert months_of(*failures) == 2
    assert refund(measurements=failures) == Decimal("1500.00")


def test_a_refunded_month_clears_the_open_failures() -> None:
    # the 4th and 5th are open again after the month; two open failures refund nothing
    assert months_of(*[failed(T0 + timedelta(days=i)) for i in range(5)]) == 1


def test_the_window_slides_older_failures_close() -> None:
    # at day 40 the failure of day 0 has closed (40 > 30): days 20, 40, 45 are three open ones
    failures = [failed(T0 + timedelta(days=d)) for d in (0, 20, 40)]
    assert months_of(*failures) == 0
    assert months_of(*failures, failed(T0 + timedelta(days=45))) == 1


def test_failures_are_taken_in_time_order_whatever_the_input_order() -> None:
    failures = [failed(T0 + timedelta(days=d)) for d in (45, 0, 40, 20)]
    assert months_of(*failures) == 1


def test_failures_outside_the_season_are_not_counted() -> None:
    # 2025-11-14 23:59 local is before the season; 2026-02-23 00:00 after it
    outside = [failed(at("2025-11-14 23:59")), failed(at("2026-02-23 00:00"))]
    assert months_of(failed(at("2025-11-15 00:00")), failed(at("2025-11-16 00:00")), *outside) == 0
    assert months_of(failed(at("2026-02-21 00:00")), failed(at("2026-02-22 23:59")), *outside) == 0
    assert months_of(failed(at("2025-11-15 00:00")), failed(at("2025-11-16 00:00")), failed(at("2025-11-17 00:00"))) == 1


def test_other_households_failures_do_not_count() -> None:
    failures = [failed(T0), failed(T0 + timedelta(days=1)), failed(T0 + timedelta(days=2), household="H2")]
    assert months_of(*failures) == 0


# -- the refund ------------------------------------------------------------------------------


def test_outage_days_and_measurement_months_add_up() -> None:
    outages = [stop("2025-12-01 08:00", "2025-12-02 09:00")]
    failures = [failed(T0 + timedelta(days=d)) for d in (0, 1, 2)]
    row = compute_refunds(RULES, [HOME], outages, failures).households[0]
    assert (row.outage_days, row.measurement_months, row.refund_cny) == (2, 1, Decimal("800.00"))


def test_the_refund_never_exceeds_the_season_fee() -> None:
    whole_season = [stop("2025-11-01 00:00", "2026-03-01 00:00")]
    failures = [failed(T0 + timedelta(days=d)) for d in range(9)]
    row = compute_refunds(RULES, [HOME], whole_season, failures).households[0]
    assert (row.outage_days, row.measurement_months, row.refund_cny) == (100, 3, Decimal("2500.00"))
    # a fee that does not divide into the season's days: the whole fee, not 100 rounded daily fees
    odd = Household("H1", "S1", Decimal("80.5"), Decimal("24.3"))  # 1956.15 CNY
    assert refund(whole_season, home=odd) == Decimal("1956.15")


def test_amounts_round_half_up_per_household_and_the_total_is_the_sum_of_the_rows() -> None:
    # 100.02 m2 x 25 = 2500.50 a season, 25.005 a day: five days are 125.025, refunded as 125.03
    # (half up; half to even would give 125.02)
    homes = [Household("H1", "S1", Decimal("100.02"), Decimal("25")), Household("H2", "S1", Decimal("100.02"), Decimal("25"))]
    report = compute_refunds(RULES, homes, [stop("2025-12-01 00:00", "2025-12-05 12:00")], [])
    assert [(h.outage_days, h.refund_cny) for h in report.households] == [(5, Decimal("125.03"))] * 2
    # the exact sum is 250.05; the total is the sum of the rows as printed
    assert report.total_cny == Decimal("250.06")


def test_households_are_ordered_by_household_id() -> None:
    homes = [Household(i, "S1", Decimal("1"), Decimal("1")) for i in ("H2", "H10", "A7", "H1")]
    report = compute_refunds(RULES, homes, [], [])
    assert [h.household_id for h in report.households] == ["A7", "H1", "H10", "H2"]


def test_the_json_form_has_exactly_the_documented_keys_and_numbers() -> None:
    homes = [HOME, Household("H2", "S2", Decimal("80.5"), Decimal("24.3"))]
    outages = [stop("2025-12-01 08:00", "2025-12-02 09:00", "S2")]
    report = compute_refunds(RULES, homes, outages, [failed(T0 + timedelta(days=d)) for d in (0, 1, 2)])
    # H2: 1956.15 x 2 / 100 = 39.123 -> 39.12
    assert report.as_dict() == {
        "households": [
            {"household_id": "H1", "refund_cny": 750, "outage_days": 0, "measurement_months": 1},
            {"household_id": "H2", "refund_cny": 39.12, "outage_days": 2, "measurement_months": 0},
        ],
        "total_cny": 789.12,
    }


@pytest.mark.parametrize("tz, first_day", [("Asia/Shanghai", "2025-12-01"), ("UTC", "2025-11-30")])
def test_the_timezone_rule_decides_which_calendar_day_an_instant_falls_on(tz: str, first_day: str) -> None:
    rules = RefundRules(18.0, date(2025, 11, 15), date(2026, 2, 22), tz)
    outage = stop("2025-12-01 07:00", "2025-12-02 08:00")  # 2025-11-30T23:00Z to 2025-12-02T00:00Z
    assert min(refunded_days(rules, [outage])["S1"]).isoformat() == first_day


def test_days_follow_the_local_calendar_across_a_daylight_saving_change() -> None:
    # Berlin's 2025-10-26 has 25 hours: a stop over exactly that day is longer than 24 h and
    # refunds that one day (it ends at the local midnight of the 27th)
    rules = RefundRules(18.0, date(2025, 10, 1), date(2025, 12, 31), "Europe/Berlin")
    outage = Outage("S1", datetime.fromisoformat("2025-10-26T00:00:00+02:00"),
                    datetime.fromisoformat("2025-10-27T00:00:00+01:00"))
    assert sorted(refunded_days(rules, [outage])["S1"]) == [date(2025, 10, 26)]
