"""The shift hand-over log (交接班): who hands over to whom, the open alarms and work orders at
that moment (taken by the supervisor, not typed), and the notes of the shift.

The one handing over is the logged-in user; the one taking over must be another existing user.
The snapshot keeps, per open alarm, station, code, priority, since and whether acknowledged;
per open work order, its number, station, state, assignee and title. A hand-over is never
edited (a correction is a new hand-over).
"""

from __future__ import annotations

import secrets
from typing import Any

from .work_orders import OPEN_STATES


async def take(storage: Any, from_user: str, to_user: str, notes: str, now: float) -> dict[str, Any]:
    """Record a hand-over; ValueError with the reason when the input is bad."""
    to_user, notes = to_user.strip(), notes.strip()
    problems = []
    if not to_user:
        problems.append("to_user: name who takes over")
    elif to_user == from_user:
        problems.append("to_user=%r: hand over to someone else" % to_user)
    elif await storage.user(to_user) is None:
        problems.append("to_user=%r: no such user" % to_user[:64])
    if len(notes) > 4000:
        problems.append("notes: at most 4000 characters")
    if problems:
        raise ValueError("; ".join(problems))
    alarms = [{"station_id": a["station_id"], "code": a["code"], "severity": a["severity"], "since_ts": a["since_ts"],
               "acked": a["acked_by"] is not None} for a in await storage.alarm_rows(None, True)]
    orders = [{"order_id": o["order_id"], "station_id": o["station_id"], "state": o["state"],
               "assignee": o["assignee"], "title": o["title"]}
              for o in await storage.work_orders(states=OPEN_STATES)]
    h = {"handover_id": "H-%d-%s" % (int(now), secrets.token_hex(3)), "ts": now, "from_user": from_user,
         "to_user": to_user, "open_alarms": alarms, "open_orders": orders, "notes": notes}
    await storage.add_handover(h)
    return h
