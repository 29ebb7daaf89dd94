"""Repeated local events are coalesced: a burst passes, the rest is counted and summarised."""

from __future__ import annotations

from heatkeeper.firmware.event_limit import EventLimiter


def write(result: str = "rejected", reason: str = "out_of_range") -> dict:
    return {"kind": "local_write", "result": result, "reason": reason, "command": "set_room_setpoint", "detail": "d"}


def test_burst_passes_the_rest_is_counted_and_summarised_once() -> None:
    lim = EventLimiter(burst=10, window_s=60.0)
    passed = sum(lim.admit(write(), 100.0 + i * 0.01) for i in range(500))
    assert passed == 10 and lim.suppressed_total == 490
    assert lim.admit({"kind": "station_started"}, 100.0)  # other kinds are never limited
    assert lim.admit(write("applied", "ok"), 100.0)  # another key has its own budget
    assert lim.summaries(150.0) == []  # window still open
    (summary,) = lim.summaries(160.5)
    assert summary["kind"] == "events_coalesced" and summary["suppressed"] == 490 and summary["passed"] == 10
    assert summary["for_kind"] == "local_write" and summary["for_reason"] == "out_of_range"
    assert lim.summaries(161.0) == []
    assert lim.admit(write(), 161.0)  # a new window


def test_window_reopened_by_admit_still_reports_the_old_one() -> None:
    lim = EventLimiter(burst=1, window_s=10.0)
    assert lim.admit(write(), 0.0) and not lim.admit(write(), 1.0)
    assert lim.admit(write(), 11.0)  # the next window starts before summaries() ran
    (summary,) = lim.summaries(11.0)
    assert summary["suppressed"] == 1
