"""The thresholds of the supervisor's own alarms (`[fleet_alarms]`) and the heating season
(`[season]`): one table of keys with default, unit and range, one validator that lists every
problem, used by the configuration file and by the dashboard's settings page alike.

The file gives the site's values; an admin may change them in the dashboard, where the change is
stored (storage `fleet_alarm_settings`) and wins over the file until it is reset.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

PRIORITIES = ("critical", "major", "minor", "warning")  # the station's severities (core.alarms)

# key -> (default, unit, low, high); numbers only.
NUMBERS: dict[str, tuple[float, str, float, float]] = {
    "interval_s": (30.0, "s", 1.0, 3600.0),  # how often the rules are evaluated
    "offline_after_s": (300.0, "s", 30.0, 86400.0),  # no uplink for this long: station offline
    "clock_offset_s": (120.0, "s", 5.0, 86400.0),  # station clock this far from the receive time
    "clock_delay_s": (600.0, "s", 0.0, 86400.0),  # ... for this long
    "collector_stale_s": (1800.0, "s", 60.0, 86400.0),  # a collector silent this long is stale
    "collector_dead_s": (21600.0, "s", 300.0, 30 * 86400.0),  # ... and this long, dead
    "coverage_min_pct": (5.0, "%", 0.0, 100.0),  # live collectors per household of a station
    "floor_delay_s": (1800.0, "s", 0.0, 86400.0),  # a group below its floor this long
    "overheat_c": (23.0, "degC", 18.0, 35.0),  # a group above this ...
    "overheat_outdoor_c": (5.0, "degC", -30.0, 20.0),  # ... while the outdoor is below this ...
    "overheat_delay_s": (10800.0, "s", 0.0, 7 * 86400.0),  # ... this long: habitual over-heating
    "outage_power_kw": (1.0, "kW", 0.0, 100000.0),  # heat meter at or below this: no heat delivered
    "outage_delay_s": (3600.0, "s", 0.0, 7 * 86400.0),  # ... this long in the heating season
    "hysteresis_k": (0.5, "K", 0.0, 5.0),  # a temperature alarm clears this far back inside its limit
    "clear_delay_s": (300.0, "s", 0.0, 86400.0),  # a condition gone this long clears its alarm
    "quarantine_clear_s": (900.0, "s", 60.0, 86400.0),  # no uplink quarantined this long: its alarm clears
}

# alarm code -> default priority (the order is the settings page's)
CODES: dict[str, str] = {
    "station_offline": "major",
    "station_clock_off": "minor",
    "collector_stale": "warning",
    "collector_dead": "minor",
    "collector_coverage_low": "minor",
    "group_without_collector": "minor",
    "comfort_below_floor": "major",
    "comfort_overheating": "warning",
    "heating_outage": "critical",
    "notify_channel_failed": "major",
    "inspection_missed": "minor",
    "uplink_quarantined": "warning",
    "sequence_regression": "major",
}

DEFAULTS: dict[str, Any] = {"enabled": True, **{k: v[0] for k, v in NUMBERS.items()},
                            **{code + "_priority": p for code, p in CODES.items()}}
SEASON_DEFAULTS: dict[str, str] = {"start": "11-15", "end": "03-15"}  # northern China, 15 Nov - 15 Mar


def validate(values: dict[str, Any], where: str = "fleet_alarms") -> tuple[dict[str, Any], list[str]]:
    """(the known keys of `values` checked, every problem); the caller merges them over DEFAULTS.
    Problems name the key, the value, the unit and the allowed range or choices."""
    clean: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in values.items():
        if key not in DEFAULTS:
            problems.append("%s.%s: unknown key; known: %s" % (where, key, ", ".join(DEFAULTS)))
        elif key == "enabled":
            if isinstance(value, bool):
                clean[key] = value
            else:
                problems.append("%s.enabled=%r: must be true or false" % (where, value))
        elif key.endswith("_priority"):
            if value in PRIORITIES:
                clean[key] = value
            else:
                problems.append("%s.%s=%r: must be one of %s" % (where, key, value, ", ".join(PRIORITIES)))
        else:
            _default, unit, low, high = NUMBERS[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                problems.append("%s.%s=%r %s: must be a number in [%g, %g]" % (where, key, value, unit, low, high))
            else:
                clean[key] = float(value)
    merged = {**DEFAULTS, **clean}
    if merged["collector_dead_s"] <= merged["collector_stale_s"]:
        problems.append("%s.collector_dead_s=%g s: must be above collector_stale_s=%g s"
                        % (where, merged["collector_dead_s"], merged["collector_stale_s"]))
    return clean, problems


def parse_month_day(text: Any) -> tuple[int, int] | None:
    """(month, day) of "MM-DD" (29 February allowed), or None."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != "-":
        return None
    try:
        day = dt.date(2024, int(text[:2]), int(text[3:]))  # a leap year: 02-29 is a day
    except ValueError:
        return None
    return day.month, day.day


def validate_season(values: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """([season] start and end as "MM-DD", every problem)."""
    out = dict(SEASON_DEFAULTS)
    problems = []
    for key, value in values.items():
        if key not in SEASON_DEFAULTS:
            problems.append("season.%s: unknown key; known: start, end" % key)
        elif parse_month_day(value) is None:
            problems.append("season.%s=%r: must be a month and day as \"MM-DD\" (e.g. \"11-15\")" % (key, value))
        else:
            out[key] = str(value)
    if not problems and out["start"] == out["end"]:
        problems.append("season.start=%r, season.end=%r: must differ" % (out["start"], out["end"]))
    return out, problems


def in_season(ts: float, season: dict[str, str], utc_offset_h: float) -> bool:
    """Whether local time `ts` lies in the heating season, both days included; a season with
    start after end (15 Nov - 15 Mar) runs over the new year."""
    local = dt.datetime.fromtimestamp(ts + utc_offset_h * 3600.0, dt.UTC)
    today = (local.month, local.day)
    start, end = parse_month_day(season["start"]), parse_month_day(season["end"])
    assert start is not None and end is not None, "validated by validate_season"
    if start <= end:
        return start <= today <= end
    return today >= start or today <= end
