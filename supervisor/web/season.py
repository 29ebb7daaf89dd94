"""The heating season on the dashboard (supervisor/season.py and season_startup.py do the work).

`GET /season`: each city's calendar (version, first and last day, the legal last day when
extended, pre-heat window, in season now), its extensions, each station's calendar version and
whether it is in season by its own telemetry; the season start-ups scheduled and a form to
schedule one (operators and admins). `POST /season/{city}/extend` (form: end "YYYY-MM-DD",
reason; admins: the city's decision) makes a new version and pushes it.
`POST /season/startups` (form: stations comma separated, city, class, at: local date and time of
the site, [supervisor] utc_offset_h) schedules a start-up; `GET /season/startups/{id}` its
progress (each station's step); `POST /season/startups/{id}/cancel` before it fires.
JSON: `GET /api/season` (the calendars), `POST /api/season/{city}/extend` ({end, reason}) -> the
new calendar, `POST /api/season/startups` ({stations, city, class, at_s: unix s}) -> the start-up,
`GET /api/season/startups/{id}` -> it with `progress`.
Refusals are shown with every problem (400).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from aiohttp import web

from ..season import SeasonCalendars, SeasonError
from ..season_startup import STEPS, SeasonStartups, StartupError
from . import render
from .common import json_object, json_response, path_number, read_form, require, service
from .validation import BadInput


def _calendars(request: web.Request) -> SeasonCalendars:
    return service(request).season  # type: ignore[no-any-return]


def _startups(request: web.Request) -> SeasonStartups:
    return service(request).season_startups  # type: ignore[no-any-return]


def _offset_h(request: web.Request) -> float:
    return float(service(request).config["supervisor"]["utc_offset_h"])


def _local(ts: float | None, offset_h: float) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts + offset_h * 3600.0))


def parse_local(text: str, offset_h: float) -> float:
    """Unix time of a local "YYYY-MM-DDTHH:MM" (or with a space) at the site's UTC offset."""
    try:
        stamp = dt.datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise BadInput("at=%.40r: must be a date and time as YYYY-MM-DD HH:MM" % text) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone(dt.timedelta(hours=offset_h)))
    return stamp.timestamp()


async def page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see the heating season")
    return await _page(request, current)


async def _page(request: web.Request, current: Any, problems: list[str] | None = None, status: int = 200,
                form: dict[str, str] | None = None) -> web.Response:
    cfg = service(request).stations_cfg.values()
    offset = _offset_h(request)
    return render.page(request, "season.html", "sn.title", nav="season", status=status,
                       cities=await _calendars(request).status(), startups=await _startups(request).list(),
                       station_cities=sorted({c.get("city", "") for c in cfg if c.get("city")}),
                       classes=sorted({c.get("class", "") for c in cfg if c.get("class")}),
                       local=lambda ts: _local(ts, offset), offset_h=offset, problems=problems or [],
                       form=form or {}, can_extend=current.allows("admin"), can_schedule=current.allows("operator"))


async def extend_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "extend the heating season")
    form = await read_form(request)
    city = request.match_info["city"]
    fields = {k: str(form.get(k, "")).strip() for k in ("end", "reason")}
    try:
        await _calendars(request).extend(city, fields["end"], fields["reason"], current.username)
    except SeasonError as exc:
        return await _page(request, current, ["%s: %s" % (city, p) for p in exc.problems], 400,
                           {"city": city, **fields})
    raise web.HTTPSeeOther("/season")


async def schedule_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "schedule a season start-up")
    form = await read_form(request)
    fields = {k: str(form.get(k, "")).strip() for k in ("stations", "city", "class", "at")}
    stations = [s.strip() for s in fields["stations"].split(",") if s.strip()]
    try:
        fire_s = parse_local(fields["at"], _offset_h(request))
        item = await _startups(request).schedule(stations, fields["city"], fields["class"], fire_s, current.username)
    except BadInput as exc:
        return await _page(request, current, [str(exc)], 400, fields)
    except StartupError as exc:
        return await _page(request, current, exc.problems, 400, fields)
    raise web.HTTPSeeOther("/season/startups/%d" % item["startup_id"])


async def startup_page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see the heating season")
    return await _startup_page(request, current)


async def _startup_page(request: web.Request, current: Any, problems: list[str] | None = None,
                        status: int = 200) -> web.Response:
    try:
        item = await _startups(request).progress(path_number(request, "sid", "start-up"))
    except StartupError as exc:
        raise LookupError(str(exc)) from None
    offset = _offset_h(request)
    return render.page(request, "season_startup.html", "sn.startup_title", nav="season", status=status, item=item,
                       steps=STEPS, local=lambda ts: _local(ts, offset), problems=problems or [],
                       can_cancel=current.allows("operator"))


async def cancel_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "schedule a season start-up")
    await read_form(request)
    try:
        await _startups(request).cancel(path_number(request, "sid", "start-up"), current.username)
    except StartupError as exc:
        return await _startup_page(request, current, exc.problems, 400)
    raise web.HTTPSeeOther("/season/startups/%d" % path_number(request, "sid", "start-up"))


async def api_calendars(request: web.Request) -> web.Response:
    require(request, "viewer", "see the heating season")
    return json_response(await _calendars(request).status())


def _refused(reason: str, problems: list[str], text: str) -> web.Response:
    return json_response({"error": text, "reason": reason, "problems": problems}, status=400)


async def api_extend(request: web.Request) -> web.Response:
    current = require(request, "admin", "extend the heating season")
    body = await json_object(request)
    try:
        return json_response(await _calendars(request).extend(request.match_info["city"], body.get("end"),
                                                              body.get("reason"), current.username))
    except SeasonError as exc:
        return _refused(exc.reason, exc.problems, str(exc))


async def api_schedule(request: web.Request) -> web.Response:
    current = require(request, "operator", "schedule a season start-up")
    body = await json_object(request)
    stations = body.get("stations") or []
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
        raise BadInput("stations: must be a list of station ids")
    city, klass = str(body.get("city") or "").strip(), str(body.get("class") or "").strip()
    try:
        return json_response(await _startups(request).schedule(stations, city, klass, body.get("at_s"),
                                                               current.username))
    except StartupError as exc:
        return _refused(exc.reason, exc.problems, str(exc))


async def api_startup(request: web.Request) -> web.Response:
    require(request, "viewer", "see the heating season")
    try:
        return json_response(await _startups(request).progress(path_number(request, "sid", "start-up")))
    except StartupError as exc:
        raise LookupError(str(exc)) from None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/season", page)
    app.router.add_post("/season/startups", schedule_form)
    app.router.add_get("/season/startups/{sid}", startup_page)
    app.router.add_post("/season/startups/{sid}/cancel", cancel_form)
    app.router.add_post("/season/{city}/extend", extend_form)
    app.router.add_get("/api/season", api_calendars)
    app.router.add_get("/api/season/startups/{sid}", api_startup)
    app.router.add_post("/api/season/{city}/extend", api_extend)
    app.router.add_post("/api/season/startups", api_schedule)
