"""Properties of the refund engine on generated data (Hypothesis): no refund above the season fee,
the total is the sum of the rows, the order of the input rows changes nothing, and the outage days
agree with a brute-force count hour by hour."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from heatkeeper.supervisor.refunds import (
    Household,
    HouseholdRefund,
    Measurement,
    Outage,
    RefundReport,
    RefundRules,
    compute_refunds,
    refunded_days,
)
from hypothesis import given
from hypothesis import strategies as st

SHANGHAI = timezone(timedelta(hours=8))
SEASON_START = date(2025, 11, 15)
SEASON_DAYS = 40
SEASON_LO = datetime(2025, 11, 15, tzinfo=SHANGHAI)


def hours_after_season_start(h: int) -> datetime:
    return SEASON_LO + timedelta(hours=h)


rules_st = st.builds(
    RefundRules,
    floor_c=st.sampled_from([18.0, 20.0]),
    season_start=st.just(SEASON_START),
    season_end=st.just(SEASON_START + timedelta(days=SEASON_DAYS - 1)),
    timezone=st.just("Asia/Shanghai"),
    outage_refund_after_h=st.sampled_from([0.0, 6.0, 24.0, 48.0]),
    failed_measurements=st.integers(1, 4),
    window_days=st.sampled_from([0.0, 3.0, 30.0]),
    month_days=st.sampled_from([0, 10, 30]),
)
money_st = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
households_st = st.lists(
    st.builds(Household, household_id=st.sampled_from(["H%d" % i for i in range(8)]),
              station_id=st.sampled_from(["S1", "S2", "S3"]), area_m2=money_st, tariff_cny_per_m2=money_st),
    max_size=6, unique_by=lambda h: h.household_id,
)
outages_st = st.lists(
    st.builds(lambda station, start_h, length_h: Outage(station, hours_after_season_start(start_h),
                                                          hours_after_season_start(start_h + length_h)),
              st.sampled_from(["S1", "S2", "S3", "S4"]), st.integers(-72, SEASON_DAYS * 24 + 24), st.integers(1, 80)),
    max_size=8,
)
measurements_st = st.lists(
    st.builds(lambda household, hour, temp: Measurement(household, hours_after_season_start(hour), temp, "Wang"),
              st.sampled_from(["H%d" % i for i in range(8)]), st.integers(-48, SEASON_DAYS * 24 + 48),
              st.sampled_from([16.0, 17.5, 18.0, 19.0, 20.0, 21.0])),
    max_size=20,
)


@given(rules_st, households_st, outages_st, measurements_st)
def test_no_refund_exceeds_the_season_fee_and_the_total_is_the_sum(
    rules: RefundRules, households: list[Household], outages: list[Outage], measurements: list[Measurement]
) -> None:
    report = compute_refunds(rules, households, outages, measurements)
    for row in report.households:
        assert Decimal("0") <= row.refund_cny <= row.season_fee_cny.quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert row.outage_days <= rules.season_days
    assert report.total_cny == sum((row.refund_cny for row in report.households), Decimal("0"))
    assert [row.household_id for row in report.households] == sorted(h.household_id for h in households)


@given(rules_st, households_st, outages_st, measurements_st, st.randoms(use_true_random=False))
def test_the_order_of_the_input_rows_changes_nothing(
    rules: RefundRules, households: list[Household], outages: list[Outage], measurements: list[Measurement],
    rnd: random.Random,
) -> None:
    shuffled = [list(households), list(outages), list(measurements)]
    for rows in shuffled:
        rnd.shuffle(rows)
    assert compute_refunds(rules, *shuffled) == compute_refunds(rules, households, outages, measurements)


@given(rules_st, outages_st)
def test_outage_days_agree_with_an_hour_by_hour_count(rules: RefundRules, outages: list[Outage]) -> None:
    """Oracle: mark every in-season hour each station had no heat, find the runs of marked hours,
    and refund the local days of the hours of every run longer than the threshold."""
    season_hours = rules.season_days * 24
    expected: dict[str, set[date]] = {}
    for station in {o.station_id for o in outages}:
        off = [False] * season_hours
        for o in outages:
            if o.station_id == station:
                first = int((o.start - SEASON_LO) / timedelta(hours=1))
                last = int((o.end - SEASON_LO) / timedelta(hours=1))
                for h in range(max(first, 0), min(last, season_hours)):
                    off[h] = True
        days: set[date] = set()
        h = 0
        while h < season_hours:
            if not off[h]:
                h += 1
                continue
            run_start = h
            while h < season_hours and off[h]:
                h += 1
            if h - run_start > rules.outage_refund_after_h:
                days |= {hours_after_season_start(i).date() for i in range(run_start, h)}
        expected[station] = days
    assert refunded_days(rules, outages) == expected


@given(st.lists(st.decimals(min_value=Decimal("0"), max_value=Decimal("1e9"), places=2), max_size=5))
def test_the_json_numbers_are_the_rounded_amounts_exactly(amounts: list[Decimal]) -> None:
    rows = [HouseholdRefund("H%d" % i, a, 0, 0, a) for i, a in enumerate(amounts)]
    report = RefundReport(rows, sum(amounts, Decimal("0")))
    back = json.loads(json.dumps(report.as_dict()), parse_float=Decimal, parse_int=Decimal)
    assert [h["refund_cny"] for h in back["households"]] == amounts
    assert back["total_cny"] == report.total_cny
