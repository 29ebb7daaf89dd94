"""Who is heated: the household register and the official measurements, read from CSV or .xlsx
files (or one form) and checked before anything is stored.

Every problem is collected, never only the first: a file gives its records or a list of
`file:line N: reason` (CSV; the header is line 1) / `file:row N: reason` (.xlsx, the sheet's row
number), and the caller stores nothing when the list is not empty (nothing half-imported).

Households (HOUSEHOLD_COLUMNS; company and branch may be empty): household_id (the account
number), company, branch, residential_area (小区), station_id (a configured station), building,
area_m2 (> 0), tariff_cny_per_m2 (CNY per m2 per season, >= 0), heating_type (radiator, floor),
metering (metered, area). A file replaces the households it names and keeps the others.

Measurements (MEASUREMENT_COLUMNS, the columns `heatkeeper refunds` reads): household_id (a
stored household or one of the same import), time (ISO 8601; without a UTC offset, or an .xlsx
date cell, it is local time of [refunds] timezone), temperature_c ([-50, 60]), inspector. The
same household at the same instant twice (in the file, or already stored) is refused.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .refund_files import MAX_AREA_M2, MAX_TARIFF_CNY_PER_M2

HOUSEHOLD_COLUMNS = ("household_id", "company", "branch", "residential_area", "station_id", "building", "area_m2",
                     "tariff_cny_per_m2", "heating_type", "metering")
OPTIONAL_COLUMNS = ("company", "branch")
MEASUREMENT_COLUMNS = ("household_id", "time", "temperature_c", "inspector")
HEATING_TYPES = ("radiator", "floor")
METERING = ("metered", "area")
MAX_TEXT = 120  # characters of a name or id
MAX_FILE_BYTES = 1024 * 1024  # the dashboard's request limit
MIN_TEMP_C, MAX_TEMP_C = -50.0, 60.0


class ImportProblems(ValueError):
    """A file (or form) that cannot be stored; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("%d problem(s), nothing stored:\n  " % len(problems) + "\n  ".join(problems))
        self.problems = problems


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value != int(value) or not math.isfinite(value) else str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).strip()


def table_rows(filename: str, data: bytes, columns: tuple[str, ...], problems: list[str]
               ) -> Iterator[tuple[str, dict[str, str]]]:
    """(where, row) of a .csv or .xlsx file (the first sheet) with these columns (extra columns ignored,
    blank rows skipped, company and branch may be left out); `where` is `file:line N` or `file:row N`. File-level problems are appended."""
    name = filename or "upload"
    lower = name.lower()
    if lower.endswith(".xlsx"):
        yield from _xlsx_rows(name, data, columns, problems)
    elif lower.endswith(".csv"):
        yield from _csv_rows(name, data, columns, problems)
    else:
        problems.append("%s: must be a .csv or .xlsx file" % name)


def _header_index(name: str, where: str, header: list[str], columns: tuple[str, ...],
                  problems: list[str]) -> dict[str, int] | None:
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header and c not in OPTIONAL_COLUMNS]
    if missing:
        problems.append("%s: missing column(s) %s; expected %s" % (where, ", ".join(missing), ",".join(columns)))
        return None
    return {c: header.index(c) if c in header else -1 for c in columns}


def _csv_rows(name: str, data: bytes, columns: tuple[str, ...], problems: list[str]
              ) -> Iterator[tuple[str, dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append("%s: not a UTF-8 CSV file (%s)" % (name, exc))
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            problems.append("%s:line 1: empty file; expected the header %s" % (name, ",".join(columns)))
            return
        index = _header_index(name, "%s:line 1" % name, header, columns, problems)
        if index is None:
            return
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not any(f.strip() for f in fields):
                continue
            yield "%s:line %d" % (name, start), {c: fields[i].strip() if 0 <= i < len(fields) else "" for c, i in index.items()}
    except csv.Error as exc:
        problems.append("%s: not a CSV file (%s)" % (name, exc))


def _xlsx_rows(name: str, data: bytes, columns: tuple[str, ...], problems: list[str]
               ) -> Iterator[tuple[str, dict[str, str]]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    # An uploaded workbook is untrusted: whatever openpyxl raises on a damaged one (a zip that is no
    # workbook, broken XML, a missing part) is this file's problem, not a crash of the request.
    found: list[tuple[str, dict[str, str]]] = []
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            rows = book.worksheets[0].iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                problems.append("%s:row 1: empty sheet; expected the header %s" % (name, ",".join(columns)))
                return
            index = _header_index(name, "%s:row 1" % name, [_cell_text(v) for v in header], columns, problems)
            if index is None:
                return
            for number, values in enumerate(rows, start=2):
                cells = [_cell_text(v) for v in values]
                if any(cells):
                    found.append(("%s:row %d" % (name, number),
                                  {c: cells[i] if 0 <= i < len(cells) else "" for c, i in index.items()}))
        finally:
            book.close()
    except (zipfile.BadZipFile, OSError, LookupError, ValueError, TypeError, SyntaxError, InvalidFileException) as exc:
        problems.append("%s: not an .xlsx workbook (%s)" % (name, exc))
        return
    yield from found


def _amount(where: str, key: str, text: str, positive: bool, high: Decimal, problems: list[str]) -> Decimal | None:
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = Decimal("NaN")
    if not value.is_finite() or value > high or (value <= 0 if positive else value < 0):
        problems.append("%s: %s=%r: must be a number %s and at most %s" % (where, key, text, "> 0" if positive else ">= 0",
                                                                         high))
        return None
    return value


def check_household(where: str, row: dict[str, str], stations: set[str], problems: list[str]) -> dict[str, str] | None:
    """One household (text fields) checked: the stored form (amounts as decimal text), or None with
    the reasons appended."""
    found = len(problems)
    clean = {c: str(row.get(c, "") or "").strip() for c in HOUSEHOLD_COLUMNS}
    empty = [c for c in HOUSEHOLD_COLUMNS if not clean[c] and c not in OPTIONAL_COLUMNS]
    if empty:
        problems.append("%s: %s: empty" % (where, ", ".join(empty)))
    long = [c for c in HOUSEHOLD_COLUMNS if len(clean[c]) > MAX_TEXT]
    if long:
        problems.append("%s: %s: longer than %d characters" % (where, ", ".join(long), MAX_TEXT))
    if clean["station_id"] and clean["station_id"] not in stations:
        problems.append("%s: station_id=%r: no such station; known: %s" % (where, clean["station_id"],
                                                                         ", ".join(sorted(stations)) or "none"))
    if clean["area_m2"]:
        area = _amount(where, "area_m2", clean["area_m2"], True, MAX_AREA_M2, problems)
        clean["area_m2"] = str(area) if area is not None else clean["area_m2"]
    if clean["tariff_cny_per_m2"]:
        tariff = _amount(where, "tariff_cny_per_m2", clean["tariff_cny_per_m2"], False, MAX_TARIFF_CNY_PER_M2, problems)
        clean["tariff_cny_per_m2"] = str(tariff) if tariff is not None else clean["tariff_cny_per_m2"]
    if clean["heating_type"] and clean["heating_type"] not in HEATING_TYPES:
        problems.append("%s: heating_type=%r: must be one of %s" % (where, clean["heating_type"], ", ".join(HEATING_TYPES)))
    if clean["metering"] and clean["metering"] not in METERING:
        problems.append("%s: metering=%r: must be one of %s" % (where, clean["metering"], ", ".join(METERING)))
    return clean if len(problems) == found else None


def parse_households(filename: str, data: bytes, stations: set[str], max_bytes: int = MAX_FILE_BYTES
                     ) -> list[dict[str, str]]:
    """The households of a file, checked; ImportProblems listing every bad row otherwise."""
    problems: list[str] = []
    out: list[dict[str, str]] = []
    first: dict[str, str] = {}
    if len(data) > max_bytes:
        raise ImportProblems(["%s: %d bytes: at most %d per file (split it)" % (filename, len(data), max_bytes)])
    for where, row in table_rows(filename, data, HOUSEHOLD_COLUMNS, problems):
        hid = row["household_id"]
        if hid and hid in first:
            problems.append("%s: household_id=%r: given twice (first on %s)" % (where, hid, first[hid]))
            continue
        if hid:
            first[hid] = where.rsplit(":", 1)[1]
        clean = check_household(where, row, stations, problems)
        if clean is not None:
            out.append(clean)
    if not problems and not out:
        problems.append("%s: no households in the file" % filename)
    if problems:
        raise ImportProblems(problems)
    return out


def parse_time(where: str, text: str, timezone: str, problems: list[str]) -> float | None:
    """Unix seconds of an ISO 8601 time; without an offset it is local time of `timezone`."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        problems.append("%s: time=%r: not an ISO 8601 time (2025-11-20T08:00:00+08:00)" % (where, text))
        return None
    if value.utcoffset() is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC).timestamp()


def check_measurement(where: str, row: dict[str, str], households: set[str], timezone: str,
                      problems: list[str]) -> dict[str, Any] | None:
    """One measurement checked: {household_id, ts, temperature_c, inspector}, or None with the reasons."""
    found = len(problems)
    clean = {c: str(row.get(c, "") or "").strip() for c in MEASUREMENT_COLUMNS}
    empty = [c for c in MEASUREMENT_COLUMNS if not clean[c]]
    if empty:
        problems.append("%s: %s: empty" % (where, ", ".join(empty)))
        return None
    if len(clean["inspector"]) > MAX_TEXT:
        problems.append("%s: inspector: longer than %d characters" % (where, MAX_TEXT))
    if clean["household_id"] not in households:
        problems.append("%s: household_id=%r: no such household (import the households first)"
                        % (where, clean["household_id"]))
    ts = parse_time(where, clean["time"], timezone, problems)
    try:
        temp = float(clean["temperature_c"])
    except ValueError:
        temp = math.nan
    if not MIN_TEMP_C <= temp <= MAX_TEMP_C:
        problems.append("%s: temperature_c=%r: must be a number in [%g, %g] degC"
                        % (where, clean["temperature_c"], MIN_TEMP_C, MAX_TEMP_C))
    if len(problems) > found or ts is None:
        return None
    return {"household_id": clean["household_id"], "ts": ts, "temperature_c": temp, "inspector": clean["inspector"]}


def parse_measurements(filename: str, data: bytes, households: set[str], stored: set[tuple[str, float]],
                       timezone: str, max_bytes: int = MAX_FILE_BYTES) -> list[dict[str, Any]]:
    """The measurements of a file, checked against the stored households and measurements
    ((household_id, ts) pairs); ImportProblems listing every bad row otherwise."""
    problems: list[str] = []
    out: list[dict[str, Any]] = []
    first: dict[tuple[str, float], str] = {}
    if len(data) > max_bytes:
        raise ImportProblems(["%s: %d bytes: at most %d per file (split it)" % (filename, len(data), max_bytes)])
    for where, row in table_rows(filename, data, MEASUREMENT_COLUMNS, problems):
        m = check_measurement(where, row, households, timezone, problems)
        if m is None:
            continue
        key = (m["household_id"], m["ts"])
        if key in stored:
            problems.append("%s: household %r at %s: already recorded" % (where, key[0], row["time"]))
        elif key in first:
            problems.append("%s: household %r measured twice at %s (first on %s)" % (where, key[0], row["time"],
                                                                                    first[key]))
        else:
            first[key] = where.rsplit(":", 1)[1]
            out.append(m)
    if not problems and not out:
        problems.append("%s: no measurements in the file" % filename)
    if problems:
        raise ImportProblems(problems)
    return out
