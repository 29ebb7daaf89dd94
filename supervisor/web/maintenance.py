"""Maintenance on the dashboard (server-rendered forms, no script): the asset register, work
orders, inspection rounds (the phone form a station's QR code opens) and the shift hand-over log.

Roles (viewer reads everything; the least role that writes):
- assets: admin edits an asset, adds one, seeds a station's assets from its station.toml and
  adds documents; operator writes the maintenance log;
- work orders: operator opens one (by hand, from an active alarm or an asset) and moves it
  (assign, start, close); admin sets which alarm priorities open one by themselves;
- inspections: admin sets a station's checklist and interval; operator checks in a round;
- hand-over: operator records one (handing over to another user).
Pages: /assets, /assets/{station}/{device}, /work-orders, /work-orders/{id}, /inspections,
/inspections/{station}/round (+ qr.svg), /handover. JSON: /api/work-orders (orders and the
season's figures), /api/inspections, /api/assets. Every change is in the audit log.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from .. import assets as am
from .. import handover as ho
from .. import inspections as ins
from .. import work_orders as wo
from ..fleet_alarm_settings import PRIORITIES
from . import render
from .common import json_response, read_form, require, service
from .validation import BadInput


def _storage(request: web.Request) -> Any:
    return service(request).storage


def _config(request: web.Request) -> dict[str, Any]:
    return service(request).config  # type: ignore[no-any-return]


def _stations(request: web.Request) -> list[str]:
    return sorted(service(request).stations_cfg)


def _now(request: web.Request) -> float:
    return float(service(request).clock())


def _station(request: web.Request, sid: str) -> str:
    if sid not in service(request).stations_cfg:
        raise LookupError("no station %r" % sid[:64])
    return sid


def _local(request: web.Request, ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), ZoneInfo(_config(request)["refunds"]["timezone"])).strftime(
        "%Y-%m-%d %H:%M")


def _today(request: web.Request) -> str:
    return _local(request, _now(request))[:10]


def _form(form: Any, *keys: str) -> dict[str, str]:
    return {k: str(form.get(k, "")) for k in keys}


# each page's entry in the top bar's Maintenance menu
MENU = {"assets.html": "assets", "asset.html": "assets", "work_orders.html": "work_orders",
        "work_order.html": "work_orders", "inspections.html": "inspections", "inspection_round.html": "inspections",
        "handover.html": "handover"}


def _page(request: web.Request, template: str, title: str, **context: Any) -> web.Response:
    t = render.translator(request)

    def alarm_name(code: str) -> str:
        text = t("alarm." + code)
        return code if text == "alarm." + code else text

    return render.page(request, template, title, nav=MENU[template], when=lambda ts: _local(request, ts),
                       alarm_name=alarm_name, **context)


async def _refused(request: web.Request, user: str, action: str, station: str | None, exc: Exception) -> None:
    await service(request).audit_log.record(user=user, action=action, station_id=station, detail=str(exc)[:2000],
                                        result="refused")


# --- assets ------------------------------------------------------------------------------------
async def assets_page(request: web.Request, problems: list[str] | None = None, status: int = 200) -> web.Response:
    current = require(request, "viewer", "see the asset register")
    storage = _storage(request)
    stations = _stations(request)
    have = {(a["station_id"], a["device"]) for a in await storage.assets()}
    missing = [a for a in am.from_equipment(await storage.equipment(None), set(stations), _now(request))
               if (a["station_id"], a["device"]) not in have]
    if missing:  # pumps the stations report counters for, not yet registered
        await storage.seed_assets(missing)
    station = request.query.get("station", "")
    rows = await storage.assets(station or None)
    return _page(request, "assets.html", "mt.assets", status=status, rows=rows, stations=stations, station=station,
                 editable=current.allows("admin"), problems=problems or [], profiles=sorted(am.PROFILES))


async def assets_seed(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "seed the asset register")
    form = await read_form(request)
    sid = str(form.get("station_id", ""))
    field = form.get("file")
    try:
        _station(request, sid)
        if field is None or isinstance(field, str) or not getattr(field, "filename", ""):
            raise ValueError("file: choose the station's station.toml")
        rows = am.from_station_toml(sid, field.file.read(), current.username, _now(request))
    except (ValueError, LookupError) as exc:
        await _refused(request, current.username, "assets_seed", sid or None, exc)
        return await assets_page(request, [str(exc)], 400)
    await _storage(request).seed_assets(rows)
    await service(request).audit_log.record(user=current.username, action="assets_seed", station_id=sid,
                                        detail="%d device(s) from %s" % (len(rows), field.filename), result="ok")
    raise web.HTTPSeeOther("/assets?station=%s" % quote(sid))


async def asset_add(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "add an asset")
    form = await read_form(request)
    sid = str(form.get("station_id", ""))
    try:
        _station(request, sid)
        device = am.check_device(str(form.get("device", "")))
        if await _storage(request).asset(sid, device) is not None:
            raise ValueError("asset %s/%s: registered already" % (sid, device))
        fields = am.check_fields(_form(form, *am.EDIT_FIELDS))
    except (ValueError, LookupError) as exc:
        await _refused(request, current.username, "asset_edit", sid or None, exc)
        return await assets_page(request, [str(exc)], 400)
    await _storage(request).save_asset(am.asset_row(sid, device, fields, "by hand", current.username, _now(request)),
                                       (_now(request), current.username, "%s/%s added" % (sid, device)))
    raise web.HTTPSeeOther("/assets/%s/%s" % (quote(sid), quote(device)))


async def _asset(request: web.Request) -> dict[str, Any]:
    sid, device = request.match_info["station_id"], request.match_info["device"]
    row = await _storage(request).asset(sid, device)
    if row is None:
        raise LookupError("no asset %s/%s" % (sid[:64], device[:64]))
    return row  # type: ignore[no-any-return]


async def asset_page(request: web.Request, problems: list[str] | None = None, status: int = 200) -> web.Response:
    current = require(request, "viewer", "see the asset register")
    a = await _asset(request)
    storage = _storage(request)
    counters = next((e for e in await storage.equipment(a["station_id"]) if e["device"] == a["device"]), None)
    orders = [o for o in await storage.work_orders(a["station_id"]) if o["device"] == a["device"]]
    return _page(request, "asset.html", "mt.asset", status=status, a=a, counters=counters,
                 docs=await storage.asset_documents(a["station_id"], a["device"]),
                 log=await storage.maintenance_log(a["station_id"], a["device"]), orders=orders,
                 admin=current.allows("admin"), operator=current.allows("operator"), problems=problems or [],
                 profiles=sorted(am.PROFILES), priorities=PRIORITIES, today=_today(request),
                 saved=request.query.get("saved", ""))


async def asset_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "edit an asset")
    a = await _asset(request)
    form = await read_form(request)
    try:
        fields = am.check_fields(_form(form, *am.EDIT_FIELDS))
    except ValueError as exc:
        await _refused(request, current.username, "asset_edit", a["station_id"], exc)
        return await asset_page(request, [str(exc)], 400)
    diff = ["%s %r -> %r" % (k, a[k], fields[k]) for k in am.EDIT_FIELDS if a[k] != fields[k]]
    if diff:
        await _storage(request).save_asset(
            am.asset_row(a["station_id"], a["device"], fields, a["source"], current.username, _now(request)),
            (_now(request), current.username, ("%s/%s: " % (a["station_id"], a["device"]) + "; ".join(diff))))
    raise web.HTTPSeeOther(_asset_url(a) + "?saved=asset")


def _asset_url(a: dict[str, Any]) -> str:
    return "/assets/%s/%s" % (quote(a["station_id"]), quote(a["device"]))


async def asset_document_add(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "add a document to an asset")
    a = await _asset(request)
    form = await read_form(request)
    field = form.get("file")
    now = _now(request)
    doc = {"doc_id": "D-%d-%s" % (int(now), secrets.token_hex(4)), "station_id": a["station_id"],
           "device": a["device"], "url": "", "content_type": "", "size": 0, "sha256": "", "added_by": current.username,
           "added_ts": now}
    data: str | None = None
    filename = "" if field is None or isinstance(field, str) else str(getattr(field, "filename", None) or "")
    try:
        if filename and field is not None and not isinstance(field, str):
            up = am.check_upload(filename, field.file.read())
            data = up.pop("data_b64")
            doc.update(up)
        elif str(form.get("url", "")).strip():
            doc["name"], doc["url"] = am.check_link(str(form.get("name", "")), str(form.get("url", "")))
        else:
            raise ValueError("document: choose a file or give a link")
    except ValueError as exc:
        await _refused(request, current.username, "asset_document", a["station_id"], exc)
        return await asset_page(request, [str(exc)], 400)
    await _storage(request).add_asset_document(doc, data, (now, current.username, "%s/%s: %s" % (
        a["station_id"], a["device"], doc["url"] or "%s (%d bytes, sha256 %s)" % (doc["name"], doc["size"],
                                                                                   doc["sha256"][:16]))))
    raise web.HTTPSeeOther(_asset_url(a) + "?saved=document")


async def asset_document(request: web.Request) -> web.StreamResponse:
    require(request, "viewer", "read an asset's documents")
    got = await _storage(request).asset_document(request.match_info["doc_id"])
    if got is None:
        raise LookupError("no document %r" % request.match_info["doc_id"][:64])
    doc, data = got
    if data is None:
        raise web.HTTPFound(doc["url"])
    return web.Response(body=base64.b64decode(data), content_type=doc["content_type"] or "application/octet-stream",
                        headers={"Content-Disposition": "attachment; filename*=UTF-8''%s" % quote(doc["name"])})


async def asset_log_add(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "write an asset's maintenance log")
    a = await _asset(request)
    form = await read_form(request)
    try:
        entry = am.check_log_entry(_form(form, "day", "done_by", "what", "parts"))
    except ValueError as exc:
        await _refused(request, current.username, "maintenance_log", a["station_id"], exc)
        return await asset_page(request, [str(exc)], 400)
    now = _now(request)
    await _storage(request).add_maintenance(
        {**entry, "entry_id": "L-%d-%s" % (int(now), secrets.token_hex(4)), "station_id": a["station_id"],
         "device": a["device"], "order_id": None, "recorded_by": current.username, "recorded_ts": now},
        (now, current.username, "%s/%s %s: %s%s" % (a["station_id"], a["device"], entry["day"], entry["what"],
                                                     "; parts: " + entry["parts"] if entry["parts"] else "")))
    raise web.HTTPSeeOther(_asset_url(a) + "?saved=log")


async def assets_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the asset register")
    storage = _storage(request)
    counters = {(e["station_id"], e["device"]): e for e in await storage.equipment(None)}
    return json_response({"assets": [{**a, "counters": counters.get((a["station_id"], a["device"]))}
                                     for a in await storage.assets(request.query.get("station") or None)]})


# --- work orders -----------------------------------------------------------------------------------
async def orders_page(request: web.Request, problems: list[str] | None = None, status: int = 200) -> web.Response:
    current = require(request, "viewer", "see the work orders")
    storage = _storage(request)
    state = request.query.get("state", "")
    if state and state not in wo.STATES:
        raise BadInput("state=%r: must be one of %s" % (state[:20], ", ".join(wo.STATES)))
    station = request.query.get("station", "")
    orders = await storage.work_orders(station or None, [state] if state else None)
    active = await storage.alarm_rows(None, True)
    episodes = {(o["station_id"], o["alarm_code"], o["alarm_raised_ts"]) for o in await storage.work_orders(
        since_ts=min(float(a["since_ts"]) for a in active))} if active else set()
    alarms = [a for a in active if (a["station_id"], a["code"], float(a["since_ts"])) not in episodes]
    return _page(request, "work_orders.html", "mt.orders", status=status, orders=orders, alarms=alarms,
                 figures=await wo.season_figures(storage, _config(request), _now(request)), states=wo.STATES,
                 state=state, station=station, stations=_stations(request), priorities=PRIORITIES,
                 auto=await wo.auto_priorities(storage), operator=current.allows("operator"),
                 admin=current.allows("admin"), problems=problems or [], repair_h=lambda o: _hours(wo.repair_s(o)),
                 prefill={k: request.query.get(k, "") for k in ("device",)})


def _hours(seconds: float | None) -> str:
    return "" if seconds is None else "%.1f" % (seconds / 3600.0)


async def order_open(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "open a work order")
    form = await read_form(request)
    values = _form(form, "station_id", "device", "alarm_code", "priority", "title")
    sid = values["station_id"]
    try:
        _station(request, sid)
        device = am.check_device(values["device"]) if values["device"].strip() else ""
        alarm = None
        if values["alarm_code"]:
            alarm = next((a for a in await _storage(request).alarm_rows(sid, True) if a["code"] == values["alarm_code"]),
                         None)
            if alarm is None:
                raise ValueError("alarm %s at %s: not active (any more)" % (values["alarm_code"][:64], sid))
        priority = values["priority"] or (alarm["severity"] if alarm else "")
        order = await wo.open_by_hand(_storage(request), sid, device, alarm, priority, values["title"],
                                      current.username, _now(request))
    except (ValueError, LookupError) as exc:
        await _refused(request, current.username, "work_order_open", sid or None, exc)
        return await orders_page(request, [str(exc)], 400)
    except wo.NumbersExhausted as exc:  # not the operator's input: try again later
        await _refused(request, current.username, "work_order_open", sid or None, exc)
        return await orders_page(request, [str(exc)], 503)
    raise web.HTTPSeeOther("/work-orders/%s" % quote(order["order_id"]))


async def orders_settings(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "change which alarms open work orders")
    form = await read_form(request)
    chosen = wo.check_priorities([str(p) for p in form.getall("auto", [])])
    await _storage(request).save_maintenance_setting("auto_priorities", chosen, (
        _now(request), current.username, "work orders open by themselves for alarms of priority: %s"
        % (", ".join(chosen) or "none")))
    raise web.HTTPSeeOther("/work-orders")


async def order_page(request: web.Request, problems: list[str] | None = None, status: int = 200) -> web.Response:
    current = require(request, "viewer", "see the work orders")
    storage = _storage(request)
    order = await storage.work_order(request.match_info["order_id"])
    if order is None:
        raise LookupError("no work order %r" % request.match_info["order_id"][:64])
    return _page(request, "work_order.html", "mt.order", status=status, o=order,
                 log=await storage.work_order_log(order["order_id"]), moves=wo.MOVES[order["state"]],
                 operator=current.allows("operator"), problems=problems or [], repair_h=_hours(wo.repair_s(order)),
                 users=[u["username"] for u in await storage.users()])


async def order_move(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "change a work order")
    form = await read_form(request)
    values = _form(form, "to_state", "assignee", "notes", "parts")
    oid = request.match_info["order_id"]
    try:
        await wo.move(_storage(request), oid, values["to_state"], current.username, _now(request),
                      values["assignee"], values["notes"], values["parts"], _today(request))
    except ValueError as exc:
        await _refused(request, current.username, "work_order_%s" % values["to_state"][:20], None, exc)
        return await order_page(request, [str(exc)], 400)
    raise web.HTTPSeeOther("/work-orders/%s" % quote(oid))


async def orders_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the work orders")
    storage = _storage(request)
    orders = await storage.work_orders(request.query.get("station") or None)
    return json_response({"orders": [{**o, "repair_s": wo.repair_s(o)} for o in orders],
                          "season": await wo.season_figures(storage, _config(request), _now(request)),
                          "auto_priorities": await wo.auto_priorities(storage)})


# --- inspections ---------------------------------------------------------------------------------------
async def _inspection_status(request: web.Request) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    storage = _storage(request)
    checklists = await storage.checklists()
    last = await storage.last_rounds()
    return checklists, ins.overdue(checklists, last, _now(request), set(_stations(request))), last


async def inspections_page(request: web.Request, problems: list[str] | None = None, status: int = 200) -> web.Response:
    current = require(request, "viewer", "see the inspection rounds")
    checklists, overdue, _last = await _inspection_status(request)
    return _page(request, "inspections.html", "mt.inspections", status=status, stations=_stations(request),
                 checklists=checklists, overdue=overdue, rounds=await _storage(request).rounds(None, 200),
                 admin=current.allows("admin"), problems=problems or [], default_interval=ins.DEFAULT_INTERVAL_H)


async def checklist_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "set an inspection checklist")
    sid = _station(request, request.match_info["station_id"])
    form = await read_form(request)
    try:
        items, interval = ins.check_checklist(str(form.get("items", "")), str(form.get("interval_h", "")))
    except ValueError as exc:
        await _refused(request, current.username, "inspection_checklist", sid, exc)
        return await inspections_page(request, [str(exc)], 400)
    await _storage(request).save_checklist(sid, items, interval, (
        _now(request), current.username, "%d item(s) every %g h: %s" % (len(items), interval, "; ".join(items))))
    raise web.HTTPSeeOther("/inspections")


async def round_page(request: web.Request, problems: list[str] | None = None, status: int = 200,
                     values: dict[str, str] | None = None) -> web.Response:
    current = require(request, "viewer", "see the inspection rounds")
    sid = _station(request, request.match_info["station_id"])
    checklists, overdue, _last = await _inspection_status(request)
    return _page(request, "inspection_round.html", "mt.round", status=status, sid=sid, checklist=checklists.get(sid),
                 status_=overdue.get(sid), operator=current.allows("operator"), problems=problems or [],
                 values=values or {"inspector": current.username}, done=request.query.get("done") == "1",
                 rounds=await _storage(request).rounds(sid, 5))


async def round_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "check in an inspection round")
    sid = _station(request, request.match_info["station_id"])
    checklist = (await _storage(request).checklists()).get(sid)
    form = await read_form(request)
    values = {str(k): str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        if checklist is None:
            raise ValueError("station %s has no inspection checklist yet (an admin sets it on /inspections)" % sid)
        inspector, results, notes = ins.check_round(checklist, values)
    except ValueError as exc:
        await _refused(request, current.username, "inspection_round", sid, exc)
        return await round_page(request, [str(exc)], 400, values)
    rnd = ins.new_round(sid, inspector, results, notes, current.username, _now(request))
    bad = [item for item, ok in results.items() if not ok]
    await _storage(request).add_round(rnd, "round by %s: %d item(s), %s" % (
        inspector, len(results), "not ok: " + "; ".join(bad) if bad else "all ok"))
    raise web.HTTPSeeOther("/inspections/%s/round?done=1" % quote(sid))


def round_url(request: web.Request, sid: str) -> str:
    """The absolute link a phone opens from the station's QR code."""
    base = str((_config(request).get("notify") or {}).get("base_url") or "")
    return ins.round_url(base, str(request.url.origin()), quote(sid))


async def round_qr(request: web.Request) -> web.Response:
    require(request, "viewer", "see the inspection rounds")
    sid = _station(request, request.match_info["station_id"])
    return web.Response(text=ins.qr_svg(round_url(request, sid)), content_type="image/svg+xml", charset="utf-8")


async def inspections_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the inspection rounds")
    checklists, overdue, _last = await _inspection_status(request)
    return json_response({"checklists": checklists, "status": overdue,
                          "rounds": await _storage(request).rounds(request.query.get("station") or None, 500)})


# --- hand-over ----------------------------------------------------------------------------------------
async def handover_page(request: web.Request, problems: list[str] | None = None, status: int = 200,
                        values: dict[str, str] | None = None) -> web.Response:
    current = require(request, "viewer", "see the hand-over log")
    storage = _storage(request)
    return _page(request, "handover.html", "mt.handover", status=status, rows=await storage.handovers(),
                 users=[u["username"] for u in await storage.users() if u["username"] != current.username],
                 open_alarms=len(await storage.alarm_rows(None, True)),
                 open_orders=len(await storage.work_orders(states=wo.OPEN_STATES)),
                 operator=current.allows("operator"), problems=problems or [], values=values or {})


async def handover_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "record a shift hand-over")
    form = await read_form(request)
    values = _form(form, "to_user", "notes")
    try:
        await ho.take(_storage(request), current.username, values["to_user"], values["notes"], _now(request))
    except ValueError as exc:
        await _refused(request, current.username, "handover", None, exc)
        return await handover_page(request, [str(exc)], 400, values)
    raise web.HTTPSeeOther("/handover")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/assets", assets_page)
    r.add_post("/assets", asset_add)
    r.add_post("/assets/seed", assets_seed)
    r.add_get("/assets/documents/{doc_id}", asset_document)
    r.add_get("/assets/{station_id}/{device}", asset_page)
    r.add_post("/assets/{station_id}/{device}", asset_submit)
    r.add_post("/assets/{station_id}/{device}/documents", asset_document_add)
    r.add_post("/assets/{station_id}/{device}/log", asset_log_add)
    r.add_get("/api/assets", assets_api)
    r.add_get("/work-orders", orders_page)
    r.add_post("/work-orders", order_open)
    r.add_post("/work-orders/settings", orders_settings)
    r.add_get("/work-orders/{order_id}", order_page)
    r.add_post("/work-orders/{order_id}", order_move)
    r.add_get("/api/work-orders", orders_api)
    r.add_get("/inspections", inspections_page)
    r.add_post("/inspections/{station_id}/checklist", checklist_submit)
    r.add_get("/inspections/{station_id}/round", round_page)
    r.add_post("/inspections/{station_id}/round", round_submit)
    r.add_get("/inspections/{station_id}/qr.svg", round_qr)
    r.add_get("/api/inspections", inspections_api)
    r.add_get("/handover", handover_page)
    r.add_post("/handover", handover_submit)
