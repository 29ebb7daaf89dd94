"""Settings profiles on the dashboard: versions with their diff, assignment to stations, and
each station's fate (supervisor/settings_push.py does the work; everyone logged in sees it,
admins save and assign; every action is in the audit log).

`GET /settings-push`: the page (server-rendered forms, no script). `POST /settings-push/save`
(form, CSRF: profile, sections as JSON text, note) and `POST /settings-push/assign` (form:
version, stations as a comma-separated list and/or city).
JSON: `GET /api/settings/profiles` -> [{"profile", "versions": [...]}] (each version with
`sections`, `previous` and `diff`); `GET /api/settings/versions/{version}`;
`POST /api/settings/profiles` (admin, {"profile", "sections", "note"}) -> the new version;
`POST /api/settings/assign` (admin, {"version", "stations": [...], "city"}) -> the stations'
states; `GET /api/settings/stations` -> each station's state (assigned version, state,
reason, detail, running_version, reported_version from telemetry, online). A refused save or
assignment is a 400 with `problems` listing every one.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..settings_push import SettingsPush, SettingsPushError
from . import render
from .common import json_response, read_form, require, service
from .validation import BadInput


def _push(request: web.Request) -> SettingsPush:
    return service(request).settings_push  # type: ignore[no-any-return]


def _refused(exc: SettingsPushError) -> web.Response:
    return json_response({"error": str(exc), "reason": exc.reason, "problems": exc.problems}, status=400)


async def _with_diffs(push: SettingsPush) -> list[dict[str, Any]]:
    profiles = await push.profiles()
    for p in profiles:
        p["versions"] = [await push.version(v["version"]) for v in p["versions"]]
    return profiles


def _version_arg(value: Any) -> int:
    try:
        version = int(str(value).strip())
    except ValueError:
        raise BadInput("version=%r: must be a version number" % (str(value)[:40],)) from None
    return version


async def page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see the settings profiles")
    return await _page(request, current.allows("admin"), done=request.query.get("done", ""))


async def _page(request: web.Request, editable: bool, done: str = "", problems: list[str] | None = None,
                status: int = 200, form: dict[str, str] | None = None) -> web.Response:
    push = _push(request)
    cities = sorted({c.get("city", "") for c in service(request).stations_cfg.values() if c.get("city")})
    return render.page(request, "settings_push.html", "sp.title", nav="settings_push", status=status,
                       profiles=await _with_diffs(push), stations=await push.station_states(), cities=cities,
                       editable=editable, done=done, problems=problems or [], form=form or {})


async def save_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "save a settings profile")
    form = await read_form(request)
    fields = {k: str(form.get(k, "")) for k in ("profile", "sections", "note")}
    try:
        sections = json.loads(fields["sections"])
    except ValueError as exc:
        return await _page(request, True, problems=["sections: not JSON (%s)" % exc], status=400, form=fields)
    try:
        saved = await _push(request).save_version(fields["profile"], sections, current.username, fields["note"])
    except SettingsPushError as exc:
        return await _page(request, True, problems=exc.problems, status=400, form=fields)
    raise web.HTTPSeeOther("/settings-push?done=saved-%d" % saved["version"])


async def assign_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "assign settings to stations")
    form = await read_form(request)
    push = _push(request)
    stations = [s.strip() for s in str(form.get("stations", "")).split(",") if s.strip()]
    try:
        version = _version_arg(form.get("version", ""))
        targets = push.resolve(stations, str(form.get("city", "")).strip() or None)
        await push.assign(version, targets, current.username)
    except SettingsPushError as exc:
        return await _page(request, True, problems=exc.problems, status=400)
    raise web.HTTPSeeOther("/settings-push?done=assigned-%d" % version)


async def api_profiles(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings profiles")
    return json_response(await _with_diffs(_push(request)))


async def api_version(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings profiles")
    try:
        return json_response(await _push(request).version(_version_arg(request.match_info["version"])))
    except SettingsPushError as exc:
        raise LookupError(str(exc)) from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("body: must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadInput("body: must be a JSON object")
    return body


async def api_save(request: web.Request) -> web.Response:
    current = require(request, "admin", "save a settings profile")
    body = await _json_body(request)
    try:
        saved = await _push(request).save_version(body.get("profile", ""), body.get("sections"), current.username,
                                                  body.get("note", ""))
    except SettingsPushError as exc:
        return _refused(exc)
    return json_response(saved)


async def api_assign(request: web.Request) -> web.Response:
    current = require(request, "admin", "assign settings to stations")
    body = await _json_body(request)
    push = _push(request)
    stations = body.get("stations") or []
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
        raise BadInput("stations: must be a list of station ids")
    city = body.get("city")
    if city is not None and not isinstance(city, str):
        raise BadInput("city: must be a city name")
    try:
        version = _version_arg(body.get("version"))
        states = await push.assign(version, push.resolve(stations, city), current.username)
    except SettingsPushError as exc:
        return _refused(exc)
    return json_response(states)


async def api_stations(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings profiles")
    return json_response(await _push(request).station_states())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/settings-push", page)
    app.router.add_post("/settings-push/save", save_form)
    app.router.add_post("/settings-push/assign", assign_form)
    app.router.add_get("/api/settings/profiles", api_profiles)
    app.router.add_post("/api/settings/profiles", api_save)
    app.router.add_get("/api/settings/versions/{version}", api_version)
    app.router.add_post("/api/settings/assign", api_assign)
    app.router.add_get("/api/settings/stations", api_stations)
