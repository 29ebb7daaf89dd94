"""Hotline complaints (投诉): checking what the dashboard records, and their deadlines.

A complaint carries the hotline's ticket number (`hotline_no`, unique), the household, when it
was received, a summary, optionally the official measurement it led to (that household's
measurement at a given time), and when it was answered and closed (each with a note).
Deadlines are the city's rules, `[complaints] answer_h` and `close_h` from receipt. A complaint is
overdue to answer when it was not answered by its answer deadline (answered late, or still not
answered now), and overdue to close in the same way; `open` until closed.
Every problem with a form is listed (field, value, why), nothing is stored until all are fixed.
"""

from __future__ import annotations

import re
from typing import Any

from .households import MAX_TEXT, parse_time

FORM_FIELDS = ("hotline_no", "household_id", "received", "summary", "measurement_time")
MAX_SUMMARY = 2000
_NUMBER = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")


def check_new(values: dict[str, str], households: set[str], measurements: dict[str, set[float]], timezone: str,
              now_ts: float) -> tuple[dict[str, Any] | None, list[str]]:
    """A new complaint from form text: ({hotline_no, household_id, received_ts, summary,
    measurement_ts}, []) or (None, every problem). `measurements`: household -> the times of its
    official measurements."""
    problems: list[str] = []
    v = {f: str(values.get(f, "") or "").strip() for f in FORM_FIELDS}
    if not _NUMBER.match(v["hotline_no"]):
        problems.append("hotline_no=%r: the hotline's ticket number, 1-64 of A-Z a-z 0-9 _ . / -" % v["hotline_no"][:80])
    if v["household_id"] not in households:
        problems.append("household_id=%r: no such household" % v["household_id"][:MAX_TEXT])
    received = parse_time("received", v["received"], timezone, problems) if v["received"] else now_ts
    if received is not None and received > now_ts + 300.0:
        problems.append("received=%r: in the future" % v["received"])
    if not v["summary"]:
        problems.append("summary: empty (what the caller said)")
    elif len(v["summary"]) > MAX_SUMMARY:
        problems.append("summary: longer than %d characters" % MAX_SUMMARY)
    measurement = None
    if v["measurement_time"]:
        measurement = parse_time("measurement_time", v["measurement_time"], timezone, problems)
        if measurement is not None and measurement not in measurements.get(v["household_id"], set()):
            problems.append("measurement_time=%r: household %r has no official measurement at that time"
                            % (v["measurement_time"], v["household_id"][:MAX_TEXT]))
    if problems or received is None:
        return None, problems
    return {"hotline_no": v["hotline_no"], "household_id": v["household_id"], "received_ts": received,
            "summary": v["summary"], "measurement_ts": measurement}, []


def check_step(complaint: dict[str, Any], step: str, when: str, note: str, timezone: str,
               now_ts: float) -> tuple[dict[str, Any] | None, list[str]]:
    """Answering or closing a complaint: the columns to set, or every problem."""
    problems: list[str] = []
    if step not in ("answer", "close"):
        return None, ["step=%r: must be answer or close" % step]
    ts = parse_time("time", when, timezone, problems) if when.strip() else now_ts
    note = note.strip()
    if not note:
        problems.append("note: empty (what was %s)" % ("answered" if step == "answer" else "done"))
    elif len(note) > MAX_SUMMARY:
        problems.append("note: longer than %d characters" % MAX_SUMMARY)
    if complaint["closed_ts"] is not None:
        problems.append("complaint %s: already closed" % complaint["hotline_no"])
    elif step == "answer" and complaint["answered_ts"] is not None:
        problems.append("complaint %s: already answered" % complaint["hotline_no"])
    if ts is not None:
        if ts < float(complaint["received_ts"]):
            problems.append("time=%r: before the complaint was received" % when)
        elif step == "close" and complaint["answered_ts"] is not None and ts < float(complaint["answered_ts"]):
            problems.append("time=%r: before the complaint was answered" % when)
        elif ts > now_ts + 300.0:
            problems.append("time=%r: in the future" % when)
    if problems or ts is None:
        return None, problems
    if step == "answer":
        return {"answered_ts": ts, "answer": note}, []
    out: dict[str, Any] = {"closed_ts": ts, "closing": note}
    if complaint["answered_ts"] is None:  # closed on the first call back: that is its answer too
        out.update(answered_ts=ts, answer=note)
    return out, []


def deadlines(complaint: dict[str, Any], rules: dict[str, Any], now_ts: float) -> dict[str, Any]:
    """The complaint with answer_due_ts, close_due_ts, state ("open", "answered", "closed") and
    answer_overdue / close_overdue (late, or not yet done and past due)."""
    received = float(complaint["received_ts"])
    answer_due = received + float(rules["answer_h"]) * 3600.0
    close_due = received + float(rules["close_h"]) * 3600.0
    answered, closed = complaint["answered_ts"], complaint["closed_ts"]
    state = "closed" if closed is not None else "answered" if answered is not None else "open"
    return {**complaint, "answer_due_ts": answer_due, "close_due_ts": close_due, "state": state,
            "answer_overdue": (float(answered) if answered is not None else now_ts) > answer_due,
            "close_overdue": (float(closed) if closed is not None else now_ts) > close_due}


def summary(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per station or residential area (`key`): complaints, open (not closed), overdue (to answer
    or to close), from rows with deadlines."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = out.setdefault(str(r.get(key) or ""), {key: str(r.get(key) or ""), "complaints": 0, "open": 0,
                                                   "overdue": 0})
        s["complaints"] += 1
        s["open"] += r["state"] != "closed"
        s["overdue"] += bool(r["answer_overdue"] or r["close_overdue"])
    return [out[k] for k in sorted(out)]
