"""Refunds per household: the heating company's refund rules as one pure computation.

Records in, figures out: no files, no database, no clock. `supervisor.refund_files` reads and
checks the exported files (`heatkeeper refunds`); the supervisor's pages, API and exports call
`compute_refunds` on the same records, so every place shows the same figures.

The rules (the seeds [001][004]: "heating stopped for more than 24 hours in a row: the heating
fee is refunded by the day; 3 failed temperature measurements within 30 days: one month's
heating fee is refunded"):

- Season fee = area_m2 x tariff_cny_per_m2; daily fee = season fee / season days (season_start
  to season_end, both inclusive, local calendar days of `timezone`).
- Outages: a station's overlapping or touching outages are one stop (heating did not resume in
  between). A stop is clipped to the season (local midnight of season_start to local midnight
  after season_end) and refunds when its in-season part is longer than outage_refund_after_h:
  outside the season no heating is owed, so those hours are not "heating stopped" (an export that
  marks the off-season as an outage must not turn a short in-season stop into a refund). Every
  local calendar day the in-season part overlaps is refunded (a stop ending exactly at 00:00 does
  not touch the day that begins then), once per household however many stops cover it.
- Measurements: failed = temperature_c below floor_c (at the floor is not failed), in the season.
  Taken in time order; the open failures are those at most window_days x 24 h before the current
  one (exactly window_days x 24 h before is still open); when the open failures, the current one
  included, number failed_measurements, one measurement month (month_days daily fees) is
  refunded and the open failures are cleared.
- refund = season fee x min(outage_days + months x month_days, season days) / season days: never
  more than the season fee. Rounded to 0.01 CNY half-up per household; the total is the sum of
  the rounded household refunds, so it equals the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")


@dataclass(frozen=True)
class RefundRules:
    """A city's refund rules (RULES.toml), checked."""

    floor_c: float
    season_start: date
    season_end: date
    timezone: str
    outage_refund_after_h: float = 24.0
    failed_measurements: int = 3
    window_days: float = 30.0
    month_days: int = 30

    @property
    def season_days(self) -> int:
        return (self.season_end - self.season_start).days + 1

    def local_midnight(self, day: date) -> datetime:
        """The instant (UTC) a local calendar day begins."""
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)

    def season_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) of the season as UTC instants."""
        return self.local_midnight(self.season_start), self.local_midnight(self.season_end + timedelta(days=1))


@dataclass(frozen=True)
class Household:
    household_id: str
    station_id: str
    area_m2: Decimal
    tariff_cny_per_m2: Decimal


@dataclass(frozen=True)
class Outage:
    """A station delivered no heat from `start` to `end` (timezone-aware, end after start)."""

    station_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Measurement:
    """An official indoor temperature measurement (入户测温); `time` is timezone-aware."""

    household_id: str
    time: datetime
    temperature_c: float
    inspector: str


@dataclass(frozen=True)
class HouseholdRefund:
    household_id: str
    refund_cny: Decimal  # rounded to 0.01
    outage_days: int
    measurement_months: int
    season_fee_cny: Decimal  # exact, not rounded


@dataclass(frozen=True)
class RefundReport:
    households: list[HouseholdRefund]  # ordered by household_id
    total_cny: Decimal  # sum of the rounded household refunds

    def as_dict(self) -> dict[str, Any]:
        """The report as the JSON the command prints: amounts as numbers with at most 2 decimals."""
        return {
            "households": [
                {
                    "household_id": h.household_id,
                    "refund_cny": _money(h.refund_cny),
                    "outage_days": h.outage_days,
                    "measurement_months": h.measurement_months,
                }
                for h in self.households
            ],
            "total_cny": _money(self.total_cny),
        }


def _money(amount: Decimal) -> float | int:
    # A float's repr is the shortest string that reads back as it: 2 decimals print as given.
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def merge_stops(outages: Iterable[Outage]) -> dict[str, list[tuple[datetime, datetime]]]:
    """station_id -> its stops: overlapping or touching outages merged, in time order (UTC)."""
    by_station: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for o in outages:
        by_station[o.station_id].append((o.start.astimezone(UTC), o.end.astimezone(UTC)))
    stops: dict[str, list[tuple[datetime, datetime]]] = {}
    for station_id, spans in by_station.items():
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        stops[station_id] = merged
    return stops


def refunded_days(rules: RefundRules, outages: Iterable[Outage]) -> dict[str, set[date]]:
    """station_id -> the local calendar days its refundable stops overlap within the season."""
    season_lo, season_hi = rules.season_bounds()
    threshold = timedelta(hours=rules.outage_refund_after_h)
    tz = ZoneInfo(rules.timezone)
    days: dict[str, set[date]] = {}
    for station_id, stops in merge_stops(outages).items():
        found: set[date] = set()
        for start, end in stops:
            start, end = max(start, season_lo), min(end, season_hi)
            if end - start <= threshold:
                continue
            day = start.astimezone(tz).date()
            while rules.local_midnight(day) < end:
                found.add(day)
                day += timedelta(days=1)
        days[station_id] = found
    return days


def measurement_months(rules: RefundRules, measurements: Iterable[Measurement]) -> dict[str, int]:
    """household_id -> measurement months refunded (failed measurements in the season, in time order)."""
    season_lo, season_hi = rules.season_bounds()
    window = timedelta(days=rules.window_days)
    failures: dict[str, list[datetime]] = defaultdict(list)
    for m in measurements:
        at = m.time.astimezone(UTC)
        if m.temperature_c < rules.floor_c and season_lo <= at < season_hi:
            failures[m.household_id].append(at)
    months: dict[str, int] = {}
    for household_id, times in failures.items():
        count = 0
        open_failures: list[datetime] = []
        for at in sorted(times):
            open_failures = [t for t in open_failures if at - t <= window]
            open_failures.append(at)
            if len(open_failures) >= rules.failed_measurements:
                count += 1
                open_failures = []
        months[household_id] = count
    return months


def compute_refunds(
    rules: RefundRules,
    households: Iterable[Household],
    outages: Iterable[Outage],
    measurements: Iterable[Measurement],
) -> RefundReport:
    """Every household's refund, ordered by household_id (records as checked by `refund_files`:
    household ids unique, measurements of known households, times timezone-aware)."""
    days_of_station = refunded_days(rules, outages)
    months_of = measurement_months(rules, measurements)
    season_days = rules.season_days
    rows = []
    for h in sorted(households, key=lambda h: h.household_id):
        outage_days = len(days_of_station.get(h.station_id, ()))
        months = months_of.get(h.household_id, 0)
        fee_days = min(outage_days + months * rules.month_days, season_days)
        season_fee = h.area_m2 * h.tariff_cny_per_m2
        # season fee x days / season days (not daily fee x days): a whole season refunds the fee exactly
        refund = (season_fee * fee_days / season_days).quantize(CENT, rounding=ROUND_HALF_UP)
        rows.append(HouseholdRefund(h.household_id, refund, outage_days, months, season_fee))
    return RefundReport(rows, sum((r.refund_cny for r in rows), Decimal("0.00")))
