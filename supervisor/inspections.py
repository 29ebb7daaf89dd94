"""Inspection rounds (巡检): a checklist per station, rounds checked in from a phone, missed rounds.

- A station's checklist: its items (1-40 lines of text, each at most 200 characters, no
  duplicates) and its interval (hours, 1 to 8760): a round is due at least that often. A
  station without a checklist has no rounds to miss.
- A round: the station, the time it was checked in (the supervisor's clock), the inspector,
  every item of the checklist answered ok or not ok, notes (required when an item is not ok).
- Missed: a station with a checklist whose newest round (or, with none yet, the time the
  checklist was set) is older than its interval. The page flags it, and the supervisor raises
  its own alarm `inspection_missed` (fleet_alarms.py) from the same rule (`overdue`).
- The QR code on each station page is the link to that station's round form
  (`/inspections/<station>/round`, on `notify.base_url` when it is set: the address phones
  reach), drawn as SVG on the server (segno).
"""

from __future__ import annotations

import io
import secrets
from typing import Any

import segno

MAX_ITEMS = 40
MAX_ITEM_CHARS = 200
INTERVAL_H = (1.0, 8760.0)
DEFAULT_INTERVAL_H = 24.0


def check_checklist(items_text: str, interval_text: str) -> tuple[list[str], float]:
    """(items, interval hours) from the form's text (one item a line); ValueError with every problem."""
    items = [line.strip() for line in items_text.splitlines() if line.strip()]
    problems = []
    if not items:
        problems.append("items: give at least one item, one a line")
    if len(items) > MAX_ITEMS:
        problems.append("items: at most %d (got %d)" % (MAX_ITEMS, len(items)))
    long = [i for i in items if len(i) > MAX_ITEM_CHARS]
    if long:
        problems.append("items: at most %d characters each (%r)" % (MAX_ITEM_CHARS, long[0][:40] + "..."))
    dup = sorted({i for i in items if items.count(i) > 1})
    if dup:
        problems.append("items: listed twice: %s" % ", ".join(dup[:5]))
    try:
        interval = float(interval_text)
        if not INTERVAL_H[0] <= interval <= INTERVAL_H[1]:
            raise ValueError
    except ValueError:
        problems.append("interval_h=%r: must be a number of hours in [%g, %g]" % (interval_text[:20], *INTERVAL_H))
        interval = 0.0
    if problems:
        raise ValueError("; ".join(problems))
    return items, interval


def check_round(checklist: dict[str, Any], form: dict[str, str]) -> tuple[str, dict[str, bool], str]:
    """(inspector, {item: ok}, notes) of a round's form: field `item<i>` is "ok" or "bad" for
    item i of the checklist; ValueError listing every problem."""
    problems = []
    inspector = form.get("inspector", "").strip()
    if not inspector or len(inspector) > 100:
        problems.append("inspector: name who did the round (at most 100 characters)")
    results: dict[str, bool] = {}
    for i, item in enumerate(checklist["items"]):
        answer = form.get("item%d" % i, "")
        if answer not in ("ok", "bad"):
            problems.append("%s: answer ok or not ok" % item)
        else:
            results[item] = answer == "ok"
    notes = form.get("notes", "").strip()
    if len(notes) > 2000:
        problems.append("notes: at most 2000 characters")
    if not problems and not all(results.values()) and not notes:
        problems.append("notes: say what is wrong with the items not ok")
    if problems:
        raise ValueError("; ".join(problems))
    return inspector, results, notes


def new_round(station_id: str, inspector: str, results: dict[str, bool], notes: str, user: str,
              now: float) -> dict[str, Any]:
    return {"round_id": "R-%d-%s" % (int(now), secrets.token_hex(3)), "station_id": station_id, "ts": now,
            "inspector": inspector, "results": results, "notes": notes, "recorded_by": user}


def overdue(checklists: dict[str, dict[str, Any]], last_rounds: dict[str, float], now: float,
            stations: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """{station: {due_ts, last_ts, interval_h, overdue_s, missed}} of every station with a
    checklist (of `stations` when given): due = (newest round, else when the checklist was set)
    + interval; missed when now is past it."""
    out: dict[str, dict[str, Any]] = {}
    for sid, cl in checklists.items():
        if stations is not None and sid not in stations:
            continue
        last = last_rounds.get(sid)
        since = last if last is not None else float(cl["changed_ts"])
        due = since + float(cl["interval_h"]) * 3600.0
        out[sid] = {"last_ts": last, "due_ts": due, "interval_h": float(cl["interval_h"]),
                    "overdue_s": max(0.0, now - due), "missed": now > due}
    return out


DEFAULT_BASE_URL = "http://127.0.0.1:8080"  # notify.base_url's default: not an address a phone reaches


def round_url(base_url: str, origin: str, station_quoted: str) -> str:
    """The link a station's QR code holds: on the dashboard's address as phones reach it
    (`notify.base_url`, when set to other than its loopback default), else on the address the
    page was asked on."""
    base = base_url.rstrip("/") if base_url and base_url.rstrip("/") != DEFAULT_BASE_URL else origin.rstrip("/")
    return "%s/inspections/%s/round" % (base, station_quoted)


def qr_svg(url: str) -> str:
    """The QR code of `url` as an SVG document (no XML declaration: it goes inline in a page)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="svg", scale=4, border=2, xmldecl=False,
                                                 svgns=True, nl=False, title="QR")
    return out.getvalue().decode("utf-8")
