"""The quarantine (dead letters) on the dashboard: uplinks the supervisor kept instead of storing
them as data (refused by the codec or the database, or reusing a stored seq), with their reason.

`GET /api/quarantine?station=<id>&limit=<n>` (viewer): {"rows": [...], "counts": {reason: n}};
each row: id, station_id, received_ts, reason, detail, topic, seq, payload (cut to 2,000
characters) and payload_chars. `GET /quarantine`: the same as a page (server-rendered, no script).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from . import render, validation
from .common import json_response, now_ts, require, service

PAGE_ROWS = 200


def _query(request: web.Request) -> tuple[str | None, int]:
    sid = request.query.get("station") or None
    return (validation.station_id(sid) if sid is not None else None,
            validation.integer(request.query.get("limit"), "limit", 1, 1000, PAGE_ROWS))


async def api_quarantine(request: web.Request) -> web.Response:
    require(request, "viewer", "see the quarantined uplinks")
    sid, limit = _query(request)
    return json_response({**await service(request).alarm_desk.quarantine(sid, limit), "now_ts": now_ts()})


def _local_time(ts: float, utc_offset_h: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts + utc_offset_h * 3600.0))


async def page(request: web.Request) -> web.Response:
    require(request, "viewer", "see the quarantined uplinks")
    sid, limit = _query(request)
    svc = service(request)
    data = await svc.alarm_desk.quarantine(sid, limit)
    offset_h = float(svc.config["supervisor"]["utc_offset_h"])
    rows: list[dict[str, Any]] = [{**r, "when": _local_time(float(r["received_ts"]), offset_h),
                                   "payload": str(r["payload"])[:300]} for r in data["rows"]]
    return render.page(request, "quarantine.html", "quarantine.title", nav="alarms", rows=rows,
                       counts=sorted(data["counts"].items()), station=sid or "")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/quarantine", page)
    app.router.add_get("/api/quarantine", api_quarantine)
