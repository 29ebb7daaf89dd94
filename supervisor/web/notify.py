"""Alarm notifications on the dashboard, and the acknowledgement page their links open.

`GET /notifications` (viewer): what was sent to whom, when, over which channel, its delivery
state and attempts; incidents with their time to acknowledge; failing channels.
`GET /api/notifications?limit=<n>` (viewer): the same as JSON.
`GET /ack/<token>`: a phone-sized page (no login: the signed, expiring token is the
credential for that one alarm) showing the alarm with one button; `POST /ack/<token>`
acknowledges it through the dashboard's path. A GET never acknowledges: chat apps fetch links
to preview them.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ..fleet_alarms import SITE_ID
from ..notify import links, messages
from . import render, validation
from .common import AUDIT_BUDGET, audit, json_response, now_ts, require, service

NOTIFIER = web.AppKey("notifier", object)
PAGE_ROWS = 200


def _notifier(request: web.Request) -> Any:
    return request.app[NOTIFIER]


def _local(ts: float | None, offset_h: float) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts + offset_h * 3600.0))


async def api_notifications(request: web.Request) -> web.Response:
    require(request, "viewer", "see the notifications")
    limit = validation.integer(request.query.get("limit"), "limit", 1, 1000, PAGE_ROWS)
    notifier = _notifier(request)
    if notifier is None:
        return json_response({"enabled": False, "messages": [], "incidents": [], "now_ts": now_ts()})
    return json_response({"enabled": True, **await notifier.overview(limit), "now_ts": now_ts()})


async def page(request: web.Request) -> web.Response:
    require(request, "viewer", "see the notifications")
    limit = validation.integer(request.query.get("limit"), "limit", 1, 1000, PAGE_ROWS)
    notifier = _notifier(request)
    offset_h = float(service(request).config["supervisor"]["utc_offset_h"])
    data: dict[str, Any] = {"messages": [], "incidents": [], "failing": {}, "tta": {"n": 0}}
    if notifier is not None:
        data = await notifier.overview(limit)
    rows = []
    for m in data["messages"]:
        tries = [{**a, "when": _local(a["ts"], offset_h)} for a in m["attempt_list"]]
        rows.append({**m, "when": _local(m["created_ts"], offset_h), "sent": _local(m["sent_ts"], offset_h),
                     "tries": tries})
    lang = render.request_lang(request)
    incidents = [{**i, "when": _local(i["since_ts"], offset_h), "acked": _local(i["acked_ts"], offset_h),
                  "alarm": messages.alarm_name(i["code"], lang),
                  "tta_min": None if i["tta_s"] is None else "%.1f" % (i["tta_s"] / 60.0)} for i in data["incidents"]]
    for r in [*rows, *incidents]:  # the supervisor's own alarms have no station page
        r["is_site"] = r.get("station_id") == SITE_ID
    tta = data["tta"]
    return render.page(request, "notifications.html", "notify.title", nav="notifications", enabled=notifier is not None,
                       rows=rows, incidents=incidents, failing=sorted(data["failing"].items()),
                       tz="UTC%+g" % offset_h,
                       tta_n=tta["n"],
                       tta_median=None if tta.get("median_s") is None else "%.1f" % (tta["median_s"] / 60.0))


async def ack_page(request: web.Request) -> web.Response:
    notifier = _notifier(request)
    token = request.match_info["token"]
    if notifier is None:
        return render.page(request, "ack.html", "ack.title", nav="", status=404, problem="ack.off")
    try:
        info = notifier.link_info(token)
    except links.BadLink as exc:
        return render.page(request, "ack.html", "ack.title", nav="", status=403, problem="ack.bad_link",
                           reason=str(exc))
    return _ack_render(request, notifier, info, done=False)


def _ack_render(request: web.Request, notifier: Any, info: dict[str, Any], done: bool) -> web.Response:
    lang = render.request_lang(request)
    inc = info["incident"] or {}
    offset_h = notifier.offset_h
    value, lim = messages.value_and_limit(inc.get("value"), inc.get("lim"))
    return render.page(request, "ack.html", "ack.title", nav="", problem=None, done=done, token=request.match_info["token"],
                       station_id=info["station_id"], station_name=info["station_name"],
                       is_site=info["station_id"] == SITE_ID,
                       alarm=messages.alarm_name(info["code"], lang), code=info["code"],
                       severity=inc.get("severity", ""), since=_local(inc.get("since_ts"), offset_h),
                       value=value, limit=lim, flaps=inc.get("flaps", 0), active=inc.get("state") == "open",
                       acked_by=inc.get("acked_by"), acked=_local(inc.get("acked_ts"), offset_h),
                       person=notifier.people.get(info["person"], {}).get("name", info["person"]),
                       expires=_local(info["expires_ts"], offset_h))


async def ack_post(request: web.Request) -> web.Response:
    notifier = _notifier(request)
    if notifier is None:
        return render.page(request, "ack.html", "ack.title", nav="", status=404, problem="ack.off")
    token = request.match_info["token"]
    try:
        await notifier.acknowledge_link(token)
        info = notifier.link_info(token)
    except links.BadLink as exc:
        # anyone may post here: refusals are audited within the budget for unauthenticated clients
        write, left_out = request.app[AUDIT_BUDGET].take()
        if write:
            await audit(request, "-", "notify_ack_link", None, str(exc) + (
                " (and %d earlier refusal(s) not recorded)" % left_out if left_out else ""), "refused")
        return render.page(request, "ack.html", "ack.title", nav="", status=403, problem="ack.bad_link",
                           reason=str(exc))
    return _ack_render(request, notifier, info, done=True)


def add_routes(app: web.Application, notifier: Any) -> None:
    app[NOTIFIER] = notifier
    app.router.add_get("/notifications", page)
    app.router.add_get("/api/notifications", api_notifications)
    app.router.add_get("/ack/{token}", ack_page)
    app.router.add_post("/ack/{token}", ack_post)
