"""The season benchmark's loop for a station on the calendar: heatkeeper's StationController
on the plant with the wall clock ("wall_s"), so a week programme and its holidays run on the
plant's simulated dates.

The compiled StationLoop (tools/plant/local_control) hands the controller arrays through
`step_image`, which carries no wall clock; this loop goes the dict way instead
(`plant.process_image()` -> `StationController.step` -> `plant.apply`, the same cycle, bit for
bit, tools/tests/plant/test_station_loop.py) and adds `wall_s`. It is slower, so the benchmark
uses it only when the settings hold a week programme or holidays (`needs_calendar`).

The plant's time 0 is hour `weather.start_hour` of the weather's year; the benchmark places
that year at CALENDAR_YEAR (the 2026/27 season), local time at the schedule's utc_offset_s.
"""

from __future__ import annotations

from typing import Any

CALENDAR_YEAR = 2026
WEEK_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def needs_calendar(settings: Any) -> bool:
    """True when heatkeeper's settings hold a week programme or holidays (core.schedule)."""
    schedule = settings.get("schedule") if isinstance(settings, dict) else None
    if not isinstance(schedule, dict):
        return False
    return any(schedule.get(day) for day in WEEK_KEYS) or bool(schedule.get("holidays"))


def wall0_s(start_hour: int, settings: Any, year: int = CALENDAR_YEAR) -> float:
    """Unix seconds at plant time 0: local 00:00 of 1 January `year`, plus `start_hour` hours."""
    from heatkeeper.core.schedule import DEFAULTS, days_from_civil

    schedule = settings.get("schedule") if isinstance(settings, dict) else None
    offset_s = (schedule or {}).get("utc_offset_s", DEFAULTS["utc_offset_s"])
    return days_from_civil(year, 1, 1) * 86400.0 - float(offset_s) + start_hour * 3600.0


class CalendarLoop:
    """StationLoop's interface (run(plant, recorder, n_steps, dt_s)) with the wall clock."""

    def __init__(self, controller: Any, plant: Any, room_period_s: float, wall0: float) -> None:
        self.ctl = controller
        self.room_period_s = room_period_s
        self.next_room_s = plant.time_s
        self.wall0_s = wall0
        self.events = 0

    def run(self, plant: Any, recorder: Any, n_steps: int, dt_s: float) -> None:
        """Close the loop for `n_steps` control periods of `dt_s` seconds on `plant`."""
        ctl = self.ctl
        for _k in range(n_steps):
            if plant.time_s >= self.next_room_s:
                ctl.set_room_readings([{"collector": cid, "group": group, "temp_c": temp, "age_s": 0.0}
                                       for cid, group, temp in plant.collector_readings()], plant.time_s)
                self.next_room_s += self.room_period_s
            inputs = plant.process_image()
            inputs["wall_s"] = (self.wall0_s + plant.time_s, True)
            out = ctl.step(inputs)
            self.events += len(out["events"])
            plant.apply(out)
            plant.advance(dt_s)
            recorder.record(plant, out["supply_setpoint_c"])
