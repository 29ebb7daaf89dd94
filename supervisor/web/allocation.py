"""The primary allocation on the dashboard (一网平衡, 压非保民): per network, the source's capacity
against the stations' demand, each station's class, need and cap with the reason, and the
decision log (supervisor/allocation_runner.py keeps it in `allocation_decisions`).

`GET /allocation?network=<name>&limit=<n>` (viewer): the page, server-rendered, no script.
`GET /api/allocation?network=<name>&limit=<n>` (viewer): {"decisions": [...] newest first}.
`POST /allocation/capacity` (operator; form network, capacity_kw, empty to clear): the source's
capacity for a network, used by the allocation from its next period; audited, refused input named.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from aiohttp import web

from . import render, validation
from .common import audit, json_response, now_ts, read_form, require, service
from .validation import BadInput

PAGE_ROWS = 50


def _query(request: web.Request) -> tuple[str | None, int]:
    name = request.query.get("network") or None
    if name is not None and not 0 < len(name) <= 64:
        raise web.HTTPBadRequest(text="network=%r: must be text of 1-64 characters" % name)
    return name, validation.integer(request.query.get("limit"), "limit", 1, 1000, PAGE_ROWS)


async def api_allocation(request: web.Request) -> web.Response:
    require(request, "viewer", "see the primary allocation")
    name, limit = _query(request)
    rows = await service(request).storage.allocation_rows(name, limit)
    return json_response({"decisions": rows, "now_ts": now_ts()})


def _local_time(ts: float, utc_offset_h: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts + utc_offset_h * 3600.0))


async def page(request: web.Request) -> web.Response:
    require(request, "viewer", "see the primary allocation")
    name, limit = _query(request)
    svc = service(request)
    rows = await svc.storage.allocation_rows(name, limit)
    offset_h = float(svc.config["supervisor"]["utc_offset_h"])
    networks: dict[str, dict[str, Any]] = {}
    for r in rows:  # newest first: the first row of a network is its current state
        if r["network"] not in networks:
            override = await svc.storage.allocation_capacity(r["network"])
            stations = sorted(r["stations"], key=lambda s: (s["cls"] != "residential", s["cls"], s["station_id"]))
            networks[r["network"]] = {**r, "when": _local_time(float(r["ts"]), offset_h), "stations": stations,
                                      "caps_kw": sum(s["cap_kw"] for s in stations),
                                      "short": r["demand_kw"] > r["capacity_kw"], "override": override}
    log = [{**r, "when": _local_time(float(r["ts"]), offset_h)} for r in rows]
    return render.page(request, "allocation.html", "allocation.title", nav="allocation", networks=list(networks.values()),
                       log=log, network=name or "")


async def set_capacity(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "set a source capacity")
    form = await read_form(request)
    name = str(form.get("network", ""))
    raw = str(form.get("capacity_kw", "")).strip()
    try:
        if not 0 < len(name) <= 64:
            raise BadInput("network=%r: must be text of 1-64 characters" % name)
        capacity = None if raw == "" else validation.number(raw, "capacity_kw", "kW", 1.0, 1e7)
    except BadInput as exc:
        await audit(request, current.username, "allocation_capacity", None, str(exc)[:2000], "refused")
        raise
    await service(request).storage.set_allocation_capacity(name, capacity, current.username, now_ts())
    await audit(request, current.username, "allocation_capacity", None,
                "network %s: source capacity %s" % (name, "%.0f kW" % capacity if capacity is not None else "cleared"), "ok")
    raise web.HTTPSeeOther("/allocation?network=%s" % quote(name, safe=""))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/allocation", page)
    app.router.add_get("/api/allocation", api_allocation)
    app.router.add_post("/allocation/capacity", set_capacity)
