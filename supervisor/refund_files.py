"""The refund engine's input files, read and checked: RULES.toml and three CSV exports.

Every problem is collected, never only the first: `load_inputs` returns the checked records or
raises `RefundInputError` listing each bad rule as `RULES.toml: key=value: reason` and each bad
row as `file:line: reason` (line = the physical line the row starts on, header = line 1), so an
auditor fixes the files in one pass and nothing is computed from half of them.

Files (UTF-8, an Excel byte-order mark tolerated; extra columns ignored):
    households    household_id,station_id,area_m2,tariff_cny_per_m2
    outages       station_id,start,end                   (ISO 8601 with a UTC offset)
    measurements  household_id,time,temperature_c,inspector

Bad rows: an empty field, a number that is not one (or not finite, or out of range), a time
without a UTC offset (its instant would depend on the reader's zone), an outage that does not end
after it starts, a household id given twice, a measurement of a household not in the households
file, the same household measured twice at the same instant (a duplicated export row would
otherwise count twice). An outage of a station no household is on is fine: it refunds nobody.
"""

from __future__ import annotations

import csv
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .refunds import Household, Measurement, Outage, RefundRules

# key -> default (None: required), in the order of RefundRules; the defaults are the seeds' rules
# [001][004], declared once, on RefundRules.
RULE_DEFAULTS: dict[str, Any] = {
    f.name: None if f.default is MISSING else f.default for f in fields(RefundRules)
}
# numeric key -> (low, high, unit, integer?)
RULE_RANGES: dict[str, tuple[float, float, str, bool]] = {
    "floor_c": (5.0, 30.0, "degC", False),
    "outage_refund_after_h": (0.0, 24.0 * 366, "h", False),
    "failed_measurements": (1, 1000, "measurements", True),
    "window_days": (0.0, 366.0, "days", False),
    "month_days": (0, 366, "days", True),
}
HOUSEHOLD_COLUMNS = ("household_id", "station_id", "area_m2", "tariff_cny_per_m2")
OUTAGE_COLUMNS = ("station_id", "start", "end")
MEASUREMENT_COLUMNS = ("household_id", "time", "temperature_c", "inspector")
# Far above any real household, low enough that a season fee (at most 1e9 CNY) and the totals of
# any real city stay exact to the cent as JSON numbers (a double holds 15 significant digits).
MAX_AREA_M2 = Decimal(100_000)
MAX_TARIFF_CNY_PER_M2 = Decimal(10_000)


class RefundInputError(ValueError):
    """Bad refund input; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("refund input has %d problem(s):\n  " % len(problems) + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RefundInputs:
    rules: RefundRules
    households: list[Household]
    outages: list[Outage]
    measurements: list[Measurement]


def load_inputs(rules_path: str, households_path: str, outages_path: str, measurements_path: str) -> RefundInputs:
    """All four files checked together: the records, or RefundInputError with every problem."""
    problems: list[str] = []
    rules = load_rules(rules_path, problems)
    households = read_households(households_path, problems)
    outages = read_outages(outages_path, problems)
    known = _ids_in(households_path)
    measurements = read_measurements(measurements_path, known, problems)
    if problems or rules is None:
        raise RefundInputError(problems)
    return RefundInputs(rules, households, outages, measurements)


def load_rules(path: str, problems: list[str]) -> RefundRules | None:
    """RULES.toml checked; None (and the reasons appended to `problems`) when it is not usable."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        problems.append("%s: cannot read (%s)" % (path, exc.strerror))
        return None
    except tomllib.TOMLDecodeError as exc:
        problems.append("%s: not valid TOML (%s)" % (path, exc))
        return None
    found = len(problems)
    for key in raw:
        if key not in RULE_DEFAULTS:
            problems.append("%s: %s: unknown key; known: %s" % (path, key, ", ".join(RULE_DEFAULTS)))
    values: dict[str, Any] = {}
    for key, default in RULE_DEFAULTS.items():
        if key not in raw:
            if default is None:
                problems.append("%s: %s: missing (required)" % (path, key))
            values[key] = default
            continue
        value = raw[key]
        if key in RULE_RANGES:
            low, high, unit, integer = RULE_RANGES[key]
            kind = "an integer" if integer else "a number"
            ok = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok or not math.isfinite(value):
                problems.append("%s: %s=%r: must be %s in [%g, %g] %s" % (path, key, value, kind, low, high, unit))
            elif not low <= value <= high:
                problems.append("%s: %s=%r %s: must be in [%g, %g]" % (path, key, value, unit, low, high))
            else:
                values[key] = value if integer else float(value)
        elif key in ("season_start", "season_end"):
            values[key] = _rule_date(path, key, value, problems)
        else:  # timezone
            values[key] = _rule_timezone(path, value, problems)
    start, end = values["season_start"], values["season_end"]
    if isinstance(start, date) and isinstance(end, date) and end < start:
        problems.append("%s: season_end=%s is before season_start=%s" % (path, end, start))
    if len(problems) > found:
        return None
    return RefundRules(**values)


def _rule_date(path: str, key: str, value: Any, problems: list[str]) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append("%s: %s=%r: must be a date (YYYY-MM-DD)" % (path, key, value))
    return None


def _rule_timezone(path: str, value: Any, problems: list[str]) -> str | None:
    if isinstance(value, str) and value:
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Asia'
            pass
    problems.append("%s: timezone=%r: must be an IANA time zone name such as 'Asia/Shanghai'" % (path, value))
    return None


def _rows(path: str, columns: tuple[str, ...], problems: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) of a CSV with these columns, in file order; a row with a missing or empty field is a
    problem, not a row (appended as it is read, so the problems come in line order)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                problems.append("%s:1: empty file; expected the header %s" % (path, ",".join(columns)))
                return
            header = [name.strip() for name in header]
            missing = [c for c in columns if c not in header]
            if missing:
                problems.append("%s:1: missing column(s) %s; expected %s" % (path, ", ".join(missing), ",".join(columns)))
                return
            index = {c: header.index(c) for c in columns}
            line = reader.line_num
            for fields in reader:
                start, line = line + 1, reader.line_num
                if not fields:  # a blank line
                    continue
                if len(fields) > len(header):
                    problems.append("%s:%d: %d fields, the header has %d" % (path, start, len(fields), len(header)))
                    continue
                row = {c: fields[i].strip() if i < len(fields) else "" for c, i in index.items()}
                empty = [c for c in columns if not row[c]]
                if empty:
                    problems.append("%s:%d: %s: empty" % (path, start, ", ".join(empty)))
                    continue
                yield start, row
    except OSError as exc:
        problems.append("%s: cannot read (%s)" % (path, exc.strerror))
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.append("%s: not a UTF-8 CSV file (%s)" % (path, exc))


def _ids_in(path: str) -> set[str] | None:
    """Every household id the households file names, bad rows included (their measurements are not
    'of an unknown household': the household row's own problem is reported); None when the file
    cannot be read (its problem is reported once, not once per measurement)."""
    problems: list[str] = []
    ids = {row["household_id"] for _line, row in _rows(path, ("household_id",), problems)}
    row_problem = re.compile(re.escape(path) + r":([2-9]|[1-9]\d+): ")
    return None if any(not row_problem.match(p) for p in problems) else ids


def _amount(path: str, line: int, key: str, text: str, positive: bool, high: Decimal,
            problems: list[str]) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    low = "> 0" if positive else ">= 0"
    if not value.is_finite() or value > high or (value <= 0 if positive else value < 0):
        problems.append("%s:%d: %s=%r: must be a number %s and at most %s" % (path, line, key, text, low, high))
        return None
    return value


def _instant(path: str, line: int, key: str, text: str, problems: list[str]) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        problems.append("%s:%d: %s=%r: not an ISO 8601 time (2025-11-20T08:00:00+08:00)" % (path, line, key, text))
        return None
    if value.utcoffset() is None:
        problems.append("%s:%d: %s=%r: no UTC offset (write it as %s+08:00 or with Z)" % (path, line, key, text, text))
        return None
    return value


def read_households(path: str, problems: list[str]) -> list[Household]:
    households: list[Household] = []
    first_line: dict[str, int] = {}
    for line, row in _rows(path, HOUSEHOLD_COLUMNS, problems):
        household_id = row["household_id"]
        if household_id in first_line:
            problems.append("%s:%d: household_id=%r: given twice (first on line %d)"
                            % (path, line, household_id, first_line[household_id]))
            continue
        first_line[household_id] = line
        area = _amount(path, line, "area_m2", row["area_m2"], True, MAX_AREA_M2, problems)
        tariff = _amount(path, line, "tariff_cny_per_m2", row["tariff_cny_per_m2"], False, MAX_TARIFF_CNY_PER_M2,
                         problems)
        if area is not None and tariff is not None:
            households.append(Household(household_id, row["station_id"], area, tariff))
    return households


def read_outages(path: str, problems: list[str]) -> list[Outage]:
    outages: list[Outage] = []
    for line, row in _rows(path, OUTAGE_COLUMNS, problems):
        start = _instant(path, line, "start", row["start"], problems)
        end = _instant(path, line, "end", row["end"], problems)
        if start is None or end is None:
            continue
        if end <= start:
            problems.append("%s:%d: end=%r: must be after start=%r" % (path, line, row["end"], row["start"]))
            continue
        outages.append(Outage(row["station_id"], start, end))
    return outages


def read_measurements(path: str, known_households: set[str] | None, problems: list[str]) -> list[Measurement]:
    """Measurements of the known households (None: do not check the ids)."""
    measurements: list[Measurement] = []
    first_line: dict[tuple[str, datetime], int] = {}
    for line, row in _rows(path, MEASUREMENT_COLUMNS, problems):
        household_id = row["household_id"]
        bad = len(problems)
        if known_households is not None and household_id not in known_households:
            problems.append("%s:%d: household_id=%r: not in the households file" % (path, line, household_id))
        at = _instant(path, line, "time", row["time"], problems)
        try:
            temperature_c = float(row["temperature_c"])
        except ValueError:
            temperature_c = math.nan
        if not -50.0 <= temperature_c <= 60.0:
            problems.append("%s:%d: temperature_c=%r: must be a number in [-50, 60] degC"
                            % (path, line, row["temperature_c"]))
        if at is not None:
            key = (household_id, at)
            if key in first_line:
                problems.append("%s:%d: household %r measured twice at %s (first on line %d)"
                                % (path, line, household_id, row["time"], first_line[key]))
            else:
                first_line[key] = line
        if len(problems) == bad and at is not None:
            measurements.append(Measurement(household_id, at, temperature_c, row["inspector"]))
    return measurements
