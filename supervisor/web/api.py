"""The JSON API under /api/... used by the pages (and by scripts of the heating company).

Every handler checks the role it needs, validates its input (400 with a reason), calls the
service and returns JSON. The collectors' endpoint authenticates by bearer token instead of
a session.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..service_errors import ServiceError
from . import audit_view, auth, i18n, pages, validation
from .common import (
    AUDIT_BUDGET,
    SESSIONS,
    SETTINGS,
    audit,
    json_error,
    json_response,
    now_ts,
    require,
    service,
    session,
)
from .offer import station_offer

TREND_FIELDS = (
    "secondary_supply_temp_c", "secondary_return_temp_c", "supply_setpoint_c", "outdoor_temp_c",
    "primary_supply_temp_c", "primary_return_temp_c", "valve_position_pct", "pump1_speed_pct", "pump2_speed_pct",
    "heat_power_kw", "primary_flow_m3h", "secondary_supply_pressure_kpa", "secondary_return_pressure_kpa",
    "tank_level_pct",
)
MAX_TREND_FIELDS = 24
MAX_TREND_SPAN_S = 400 * 86400.0
# The least role per export: the same as the screen or API showing those data (the audit log
# is operator-only there, so it is here).
EXPORT_ROLES = {"trends": "viewer", "alarms": "viewer", "audit": "operator", "compliance": "viewer",
                "daily": "viewer", "equipment": "viewer", "commands": "viewer"}
EXPORT_KINDS = tuple(EXPORT_ROLES)


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise validation.BadInput("body: must be JSON (Content-Type: application/json)")
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise validation.BadInput("body: not valid JSON (%s)" % exc) from None


# --- who am I -------------------------------------------------------------------------------------
async def me(request: web.Request) -> web.Response:
    current = require(request, "viewer", "read the session")
    return json_response({"username": current.username, "role": current.role, "lang": current.lang})


async def health(request: web.Request) -> web.Response:
    """The supervisor's own state: broker link, ingest counters, storage backend."""
    require(request, "viewer", "see the supervisor's health")
    out = await service(request).fleet.health()
    out["refused_logins_not_itemised"] = request.app[AUDIT_BUDGET].left_out_total  # audit rows are capped
    return json_response(out)


# --- stations -------------------------------------------------------------------------------------
async def stations(request: web.Request) -> web.Response:
    require(request, "viewer", "see the fleet")
    svc = service(request)
    fleet = await svc.fleet.list_stations()
    # which alarms, not only how many: each row names its active alarms (worst first)
    by_station: dict[str, list[dict[str, Any]]] = {}
    for a in await svc.alarm_desk.alarms(None, True):
        by_station.setdefault(a["station_id"], []).append(
            {k: a.get(k) for k in ("code", "severity", "since_ts", "acked_by", "value", "limit", "text")})
    for item in fleet:
        item["alarms"] = sorted(by_station.get(item["station_id"], []),
                                key=lambda a: (SEVERITY_ORDER.get(str(a["severity"]), 2), -(a["since_ts"] or 0)))
    return json_response({"stations": fleet, "now_ts": now_ts()})


SEVERITY_ORDER = {"critical": 0, "major": 1, "alarm": 1, "minor": 2, "warning": 2, "info": 3}


async def station_detail(request: web.Request) -> web.Response:
    require(request, "viewer", "see a station")
    sid = validation.station_id(request.match_info["sid"])
    detail = await service(request).fleet.station_detail(sid)
    if detail is None:
        raise LookupError("station %s is not known to this supervisor" % sid)
    detail["offer"] = station_offer(detail.get("values") or {})  # what the command form may offer now
    return json_response({"station": detail, "now_ts": now_ts()})


def _fields(text: str | None) -> list[str]:
    """Telemetry field names (any uplink field; the common ones are TREND_FIELDS)."""
    names = [f for f in (text or ",".join(TREND_FIELDS[:6])).split(",") if f]
    bad = [f for f in names if not (0 < len(f) <= 64 and all(c.islower() or c.isdigit() or c == "_" for c in f))]
    if bad or not names or len(names) > MAX_TREND_FIELDS:
        raise validation.BadInput("fields=%s: 1-%d field names of a-z 0-9 _ such as %s"
                                  % (",".join(bad) or text, MAX_TREND_FIELDS, ", ".join(TREND_FIELDS[:4])))
    return names


def _report_hour(text: str | None) -> int:
    hour = validation.integer(text, "hour", 0, 23, 9)
    if hour not in (9, 17):
        raise validation.BadInput("hour=%d: the daily report is made at 9 or 17" % hour)
    return hour


async def trends(request: web.Request) -> web.Response:
    require(request, "viewer", "see trends")
    sid = validation.station_id(request.match_info["sid"])
    q = request.query
    names = _fields(q.get("fields"))
    t0, t1 = validation.time_range(q.get("t0"), q.get("t1"), now_ts(), 24 * 3600.0, MAX_TREND_SPAN_S)
    max_points = validation.integer(q.get("max_points"), "max_points", 10, 5000, 600)
    svc = service(request)
    data = await svc.reporting.trends(sid, names, t0, t1, max_points)
    clock = station_clock(await svc.storage.uplinks(sid, "event", t0 - CLOCK_LOOKBACK_S, t1, 10000))
    return json_response({"station_id": sid, "t0": t0, "t1": t1, "fields": names, "data": data, "clock": clock})


# How far before a trend's range a station's start is looked for (an accelerated run is a demo
# or a test: hours, not weeks).
CLOCK_LOOKBACK_S = 2 * 86400.0


def station_clock(events: list[tuple[float, int, dict[str, Any]]]) -> dict[str, float] | None:
    """The simulated clock of an accelerated station (`heatkeeper station --time-scale K`, the
    demo): its messages carry wall-clock times while its controller and plant run K times
    faster from its start, so its trends belong on simulated time, wall_ts + (ts - wall_ts) * K.
    {"wall_ts", "scale"} of the last start in `events` ((ts, seq, body) rows), None when the
    station runs in real time (or its start is not among them)."""
    for ts, _seq, body in reversed(events):
        if isinstance(body, dict) and body.get("kind") == "station_started":
            scale = body.get("time_scale")
            if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0 and scale != 1.0:
                return {"wall_ts": float(ts), "scale": float(scale)}
            return None
    return None


async def rooms(request: web.Request) -> web.Response:
    """Room temperatures of a station's collectors: per building group, the coldest reading of
    each time bucket (the flats the 18 degC floor is about)."""
    require(request, "viewer", "see trends")
    sid = validation.station_id(request.match_info["sid"])
    q = request.query
    t0, t1 = validation.time_range(q.get("t0"), q.get("t1"), now_ts(), 24 * 3600.0, MAX_TREND_SPAN_S)
    max_points = validation.integer(q.get("max_points"), "max_points", 10, 5000, 600)
    svc = service(request)
    await svc.fleet.station_detail(sid)  # unknown station -> 404
    rows = await svc.storage.readings(sid, t0, t1)
    return json_response({"station_id": sid, "t0": t0, "t1": t1, "groups": room_series(rows, t0, t1, max_points)})


def room_series(rows: list[Any], t0: float, t1: float, max_points: int) -> dict[str, list[list[float]]]:
    """{group: [[bucket_ts, coldest temp_c], ...]} from (collector, ts, temp_c, station, group) rows."""
    width_s = max((t1 - t0) / max_points, 1.0)
    buckets: dict[str, dict[int, float]] = {}
    for row in rows:
        ts, temp_c, group = float(row[1]), float(row[2]), str(row[4])
        index = int((ts - t0) // width_s)
        per_group = buckets.setdefault(group, {})
        if index not in per_group or temp_c < per_group[index]:
            per_group[index] = temp_c
    return {group: [[t0 + i * width_s, temp] for i, temp in sorted(per_group.items())]
            for group, per_group in sorted(buckets.items())}


async def forecasts(request: web.Request) -> web.Response:
    """The weather forecast of each configured city: last good fetch, horizon, failures."""
    require(request, "viewer", "see the weather forecasts")
    return json_response({"cities": service(request).forecast.status(), "now_ts": now_ts()})


async def equipment(request: web.Request) -> web.Response:
    require(request, "viewer", "see equipment records")
    sid = request.query.get("station") or None
    if sid is not None:
        sid = validation.station_id(sid)
    return json_response({"equipment": await service(request).fleet.equipment_records(sid)})


# --- alarms ---------------------------------------------------------------------------------------
async def alarms(request: web.Request) -> web.Response:
    require(request, "viewer", "see alarms")
    sid = request.query.get("station") or None
    if sid is not None:
        sid = validation.station_id(sid)
    active_only = request.query.get("active", "1") not in ("0", "false", "no")
    return json_response({"alarms": await service(request).alarm_desk.alarms(sid, active_only)})


async def ack_alarm(request: web.Request) -> web.Response:
    current = await _require_logged(request, "operator", "acknowledge alarms")
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise validation.BadInput("body: must be a JSON object {station_id, code}")
    sid = validation.station_id(body.get("station_id"))
    code = body.get("code")
    if not isinstance(code, str) or not 0 < len(code) <= 64:
        raise validation.BadInput("code=%r: must be an alarm code of 1-64 characters" % (code,))
    result = await service(request).alarm_desk.ack_alarm(sid, code, current.username)
    return json_response({"ok": True, "result": result})


# --- commands -------------------------------------------------------------------------------------
async def send_command(request: web.Request) -> web.Response:
    current = await _require_logged(request, "operator", "send commands to stations")
    sid = validation.station_id(request.match_info["sid"])
    body = await _json_body(request)
    detail = await service(request).fleet.station_detail(sid)  # an unknown station: 404
    kind, args, lease_s = validation.command(body, station_offer((detail or {}).get("values") or {}))
    tickets = service(request).tickets
    if tickets.required(kind):  # an operation ticket: sent once a second person approves
        ticket = await tickets.request(kind, {"station_id": sid, "kind": kind, "args": args, "lease_s": lease_s},
                                       "%s %s %s%s" % (sid, kind, args, " lease %g s" % lease_s if lease_s else ""),
                                       current.username)
        return json_response({"ticket_id": ticket["ticket_id"], "state": "awaiting_approval"}, status=202)
    command_id = await service(request).remote.send_command(sid, kind, args, current.username, lease_s)
    return json_response({"command_id": command_id, "state": "sent"}, status=202)


async def command_status(request: web.Request) -> web.Response:
    require(request, "viewer", "see commands")
    command_id = request.match_info["cid"]
    if not 0 < len(command_id) <= 64:
        raise validation.BadInput("command id: must be 1-64 characters")
    status = await service(request).remote.command_status(command_id)
    if status is None:
        raise LookupError("command %s is not known" % command_id)
    return json_response(status)


async def recent_commands(request: web.Request) -> web.Response:
    require(request, "viewer", "see commands")
    sid = request.query.get("station") or None
    if sid is not None:
        sid = validation.station_id(sid)
    return json_response({"commands": await service(request).remote.recent_commands(sid)})


# --- audit, users ---------------------------------------------------------------------------------
async def audit_log(request: web.Request) -> web.Response:
    require(request, "operator", "read the audit log")
    limit = validation.integer(request.query.get("limit"), "limit", 1, 5000, 200)
    sid = request.query.get("station") or None
    if sid is not None:
        sid = validation.station_id(sid)
    rows = await service(request).audit_log.rows(limit, sid)
    return json_response({"audit": [{**row, "words": audit_view.describe(row)} for row in rows]})


async def list_users(request: web.Request) -> web.Response:
    require(request, "admin", "manage users")
    return json_response({"users": await service(request).accounts.list_users()})


async def create_user(request: web.Request) -> web.Response:
    current = await _require_logged(request, "admin", "manage users")
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise validation.BadInput("body: must be a JSON object {username, password, role}")
    name = validation.username(body.get("username"))
    password = validation.password(body.get("password"))
    role = validation.role(body.get("role"))
    created = await service(request).accounts.create_user(name, password, role, by=current.username)
    return json_response({"ok": True, "user": created}, status=201)


async def update_user(request: web.Request) -> web.Response:
    """POST /api/users/{name}: {"role"?, "password"?, "disabled"?}; the user's open sessions end
    (your own: every other one, and this one gets a new token)."""
    current = await _require_logged(request, "admin", "manage users")
    name = validation.username(request.match_info["name"])
    body = await _json_body(request)
    if not isinstance(body, dict) or not ({"role", "password", "disabled"} & set(body)):
        raise validation.BadInput("body: must be a JSON object with role, password and/or disabled")
    role = validation.role(body["role"]) if "role" in body else None
    password = validation.password(body["password"]) if "password" in body else None
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise validation.BadInput("disabled=%r: must be true or false" % (disabled,))
    if name == current.username and role is not None and role != "admin":
        raise validation.BadInput("role=%r: you cannot take the admin role from yourself" % role)
    if name == current.username and disabled:
        raise validation.BadInput("disabled=true: you cannot disable yourself")
    await service(request).accounts.set_user(name, current.username, role=role, password=password, disabled=disabled)
    if name != current.username:
        ended = request.app[SESSIONS].drop_user(name)
        return json_response({"ok": True, "username": name, "sessions_ended": ended})
    if password is None:
        return json_response({"ok": True, "username": name, "sessions_ended": 0})
    return _rotated(request, current, {"ok": True, "username": name})


async def delete_user(request: web.Request) -> web.Response:
    """DELETE /api/users/{name}: never yourself, never the last enabled admin; sessions end."""
    current = await _require_logged(request, "admin", "manage users")
    name = validation.username(request.match_info["name"])
    if name == current.username:
        raise validation.BadInput("username=%r: you cannot delete yourself" % name)
    await service(request).accounts.delete_user(name, current.username)
    ended = request.app[SESSIONS].drop_user(name)
    return json_response({"ok": True, "username": name, "sessions_ended": ended})


async def change_own_password(request: web.Request) -> web.Response:
    """POST /api/me/password {"current_password", "new_password"}: every role. Every other
    session of the user ends; this one continues under a new token and CSRF token."""
    current = require(request, "viewer", "change your password")
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise validation.BadInput("body: must be a JSON object {current_password, new_password}")
    old = body.get("current_password")
    if not isinstance(old, str):
        raise validation.BadInput("current_password: must be text")
    new = validation.password(body.get("new_password"))
    try:
        await pages.change_password(request, current, old, new)
    except ServiceError as exc:
        if exc.reason == "throttled":
            return json_error(429, exc.text, "throttled")
        if exc.reason == "wrong_password":
            return json_error(403, exc.text, "wrong_password")
        raise
    return _rotated(request, current, {"ok": True, "username": current.username})


def _rotated(request: web.Request, current: auth.Session, body: dict[str, Any]) -> web.Response:
    """`body` as JSON, after ending the user's other sessions and renewing this one's tokens."""
    fresh = request.app[SESSIONS].rotate(current)
    response = json_response({**body, "csrf": fresh.csrf})
    response.set_cookie(auth.SESSION_COOKIE, fresh.token, path="/", httponly=True, samesite="Strict",
                        secure=bool(request.app[SETTINGS]["cookie_secure"]))
    return response


# --- language preference --------------------------------------------------------------------------
async def set_lang(request: web.Request) -> web.Response:
    current = require(request, "viewer", "change the language")
    body = await _json_body(request)
    lang = i18n.normalise_lang(body.get("lang") if isinstance(body, dict) else None)
    if lang is None:
        raise validation.BadInput("lang: must be one of %s" % ", ".join(i18n.LANGUAGES))
    current.lang = lang
    response = json_response({"lang": lang})
    response.set_cookie(auth.LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Strict",
                        secure=bool(request.app[SETTINGS]["cookie_secure"]))
    return response


# --- reports --------------------------------------------------------------------------------------
async def compliance(request: web.Request) -> web.Response:
    require(request, "viewer", "see reports")
    t0, t1 = validation.time_range(request.query.get("t0"), request.query.get("t1"), now_ts(), 7 * 86400.0,
                                   MAX_TREND_SPAN_S)
    return json_response({"t0": t0, "t1": t1, "report": await service(request).reporting.compliance_report(t0, t1)})


async def daily(request: web.Request) -> web.Response:
    require(request, "viewer", "see reports")
    day = validation.date(request.query.get("date")).isoformat()
    hour = _report_hour(request.query.get("hour"))
    return json_response({"date": day, "hour": hour, "report": await service(request).reporting.daily_report(day, hour)})


async def export_csv(request: web.Request) -> web.StreamResponse:
    require(request, "viewer", "export data")
    kind = request.match_info["kind"]
    if kind not in EXPORT_KINDS:
        raise validation.BadInput("export %r: must be one of %s" % (kind, ", ".join(EXPORT_KINDS)))
    require(request, EXPORT_ROLES[kind], "export %s" % kind)
    params: dict[str, Any] = {}
    q = request.query
    if q.get("station"):
        params["station_id"] = validation.station_id(q["station"])
    if kind in ("trends", "compliance"):
        params["t0_ts"], params["t1_ts"] = validation.time_range(q.get("t0"), q.get("t1"), now_ts(), 7 * 86400.0,
                                                                 MAX_TREND_SPAN_S)
    if kind == "trends":
        if "station_id" not in params:
            raise validation.BadInput("station: the trends export needs a station")
        params["fields"] = _fields(q.get("fields"))
    if kind == "daily":
        params["date"] = validation.date(q.get("date")).isoformat()
        params["hour"] = _report_hour(q.get("hour"))
    text = await service(request).reporting.export_csv(kind, **params)
    response = web.Response(text=text, content_type="text/csv", charset="utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="heatkeeper-%s.csv"' % kind
    return response


# --- collectors' platforms ------------------------------------------------------------------------
async def collector_readings(request: web.Request) -> web.Response:
    """POST /api/collectors/readings with `Authorization: Bearer <token>` from [web.collector_tokens];
    the token writes only the collectors in its scope, and each refused reading says why."""
    header = request.headers.get("Authorization", "")
    sent = header[7:].strip() if header.lower().startswith("bearer ") else ""
    source = None
    scope: list[str] = []
    for name, entry in request.app[SETTINGS]["collector_tokens"].items():
        if auth.tokens_equal(sent, entry["token"]):
            source, scope = name, entry["collectors"]
    if source is None:
        return web.json_response({"error": "unauthenticated", "reason": "missing or unknown API token"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="heatkeeper"'})
    payload = await _json_body(request)
    result = await service(request).collector_intake.ingest_collector_http(payload, source, scope)
    return json_response({"ok": True, "result": result})


async def _require_logged(request: web.Request, needed: str, action: str) -> auth.Session:
    """Like `require`, but a refused state-changing request is also written to the audit log."""
    current = session(request)
    if current is not None and not current.allows(needed):
        await audit(request, current.username, "denied", request.match_info.get("sid"),
                    "%s %s: %s" % (request.method, request.path, action), "forbidden")
    return require(request, needed, action)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/me", me)
    r.add_get("/api/health", health)
    r.add_post("/api/me/lang", set_lang)
    r.add_get("/api/stations", stations)
    r.add_get("/api/stations/{sid}", station_detail)
    r.add_get("/api/stations/{sid}/trends", trends)
    r.add_get("/api/stations/{sid}/rooms", rooms)
    r.add_post("/api/stations/{sid}/commands", send_command)
    r.add_get("/api/commands", recent_commands)
    r.add_get("/api/commands/{cid}", command_status)
    r.add_get("/api/alarms", alarms)
    r.add_post("/api/alarms/ack", ack_alarm)
    r.add_get("/api/equipment", equipment)
    r.add_get("/api/forecast", forecasts)
    r.add_get("/api/audit", audit_log)
    r.add_get("/api/users", list_users)
    r.add_post("/api/users", create_user)
    r.add_post("/api/users/{name}", update_user)
    r.add_delete("/api/users/{name}", delete_user)
    r.add_post("/api/me/password", change_own_password)
    r.add_get("/api/reports/compliance", compliance)
    r.add_get("/api/reports/daily", daily)
    r.add_get("/export/{kind}.csv", export_csv)
    r.add_post("/api/collectors/readings", collector_readings)
