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
Staged pushes (supervisor/rollout.py): `POST /settings-push/rollout` (form: version, stations,
city, class, pilots, watch_s), `POST /settings-push/rollouts/{id}/release` and `/rollback` (form:
version); JSON `GET|POST /api/settings/rollouts`, `GET /api/settings/rollouts/{id}` (with each
station's fate in `progress`), `POST .../release`, `POST .../rollback` ({"version"}). When pushes
need an operation ticket, a push or an assignment answers 202 with the ticket.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..rollout import Rollouts
from ..settings_push import SettingsPush, SettingsPushError
from . import render
from .common import json_object, json_response, path_number, read_form, require, service
from .validation import BadInput


def _push(request: web.Request) -> SettingsPush:
    return service(request).settings_push  # type: ignore[no-any-return]


def _rollouts(request: web.Request) -> Rollouts:
    return service(request).rollouts  # type: ignore[no-any-return]


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
    classes = sorted({c.get("class", "") for c in service(request).stations_cfg.values() if c.get("class")})
    return render.page(request, "settings_push.html", "sp.title", nav="settings_push", status=status,
                       profiles=await _with_diffs(push), stations=await push.station_states(), cities=cities,
                       classes=classes, rollouts=await _rollouts(request).list(),
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


def _ids(text: Any) -> list[str]:
    return [s.strip() for s in str(text or "").split(",") if s.strip()]


def _done(started: dict[str, Any]) -> str:
    if "ticket" in started:
        return "ticket-%d" % started["ticket"]["ticket_id"]
    return "rollout-%d" % started["rollout"]["rollout_id"]


async def assign_form(request: web.Request) -> web.StreamResponse:
    """A push to the stations at once, no pilots (still a ticket when pushes need one)."""
    current = require(request, "admin", "assign settings to stations")
    form = await read_form(request)
    ro = _rollouts(request)
    try:
        version = _version_arg(form.get("version", ""))
        targets = ro.resolve(_ids(form.get("stations")), str(form.get("city", "")).strip() or None)
        started = await ro.push(version, targets, current.username, pilots=[], watch_s=0.0)
    except SettingsPushError as exc:
        return await _page(request, True, problems=exc.problems, status=400)
    raise web.HTTPSeeOther("/settings-push?done=" + _done(started))


def _watch_arg(value: Any) -> float | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise BadInput("watch_s=%r: must be a number of seconds" % text[:40]) from None


async def rollout_form(request: web.Request) -> web.StreamResponse:
    """A staged push: pilots first (chosen here, else the stations marked pilot), then the hold point."""
    current = require(request, "admin", "push settings to stations")
    form = await read_form(request)
    ro = _rollouts(request)
    try:
        version = _version_arg(form.get("version", ""))
        targets = ro.resolve(_ids(form.get("stations")), str(form.get("city", "")).strip() or None,
                             str(form.get("class", "")).strip() or None)
        pilots = _ids(form.get("pilots")) or None
        started = await ro.push(version, targets, current.username, pilots=pilots,
                                watch_s=_watch_arg(form.get("watch_s")))
    except SettingsPushError as exc:
        return await _page(request, True, problems=exc.problems, status=400)
    raise web.HTTPSeeOther("/settings-push?done=" + _done(started))


async def release_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "release a settings push")
    await read_form(request)
    rid = path_number(request, "rid", "rollout")
    try:
        await _rollouts(request).release(rid, current.username)
    except SettingsPushError as exc:
        return await _page(request, True, problems=exc.problems, status=400)
    raise web.HTTPSeeOther("/settings-push?done=released-%d" % rid)


async def rollback_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "roll back a settings push")
    form = await read_form(request)
    try:
        back = await _rollouts(request).rollback(path_number(request, "rid", "rollout"),
                                                 _version_arg(form.get("version", "")), current.username)
    except SettingsPushError as exc:
        return await _page(request, True, problems=exc.problems, status=400)
    raise web.HTTPSeeOther("/settings-push?done=rollout-%d" % back["rollout_id"])


async def api_profiles(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings profiles")
    return json_response(await _with_diffs(_push(request)))


async def api_version(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings profiles")
    try:
        return json_response(await _push(request).version(_version_arg(request.match_info["version"])))
    except SettingsPushError as exc:
        raise LookupError(str(exc)) from None


async def api_save(request: web.Request) -> web.Response:
    current = require(request, "admin", "save a settings profile")
    body = await json_object(request)
    try:
        saved = await _push(request).save_version(body.get("profile", ""), body.get("sections"), current.username,
                                                  body.get("note", ""))
    except SettingsPushError as exc:
        return _refused(exc)
    return json_response(saved)


async def api_assign(request: web.Request) -> web.Response:
    current = require(request, "admin", "assign settings to stations")
    body = await json_object(request)
    push = _push(request)
    stations = body.get("stations") or []
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
        raise BadInput("stations: must be a list of station ids")
    city = body.get("city")
    if city is not None and not isinstance(city, str):
        raise BadInput("city: must be a city name")
    try:
        version = _version_arg(body.get("version"))
        started = await _rollouts(request).push(version, push.resolve(stations, city), current.username, pilots=[],
                                                watch_s=0.0)
    except SettingsPushError as exc:
        return _refused(exc)
    if "ticket" in started:
        return json_response({"ticket": started["ticket"], "state": "awaiting_approval"}, status=202)
    return json_response([await push.station_state(sid) for sid in started["rollout"]["stations"]])


async def api_rollouts(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings pushes")
    return json_response(await _rollouts(request).list())


async def api_rollout(request: web.Request) -> web.Response:
    require(request, "viewer", "see the settings pushes")
    try:
        return json_response(await _rollouts(request).progress(path_number(request, "rid", "rollout")))
    except SettingsPushError as exc:
        raise LookupError(str(exc)) from None


async def api_start_rollout(request: web.Request) -> web.Response:
    """{"version", "stations", "city", "class", "pilots" (absent: the stations marked pilot), "watch_s"}."""
    current = require(request, "admin", "push settings to stations")
    body = await json_object(request)
    ro = _rollouts(request)
    for key in ("stations", "pilots"):
        value = body.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(s, str) for s in value)):
            raise BadInput("%s: must be a list of station ids" % key)
    try:
        targets = ro.resolve(body.get("stations") or [], body.get("city") or None, body.get("class") or None)
        started = await ro.push(_version_arg(body.get("version")), targets, current.username,
                                pilots=body.get("pilots"), watch_s=body.get("watch_s"))
    except SettingsPushError as exc:
        return _refused(exc)
    return json_response(started, status=202 if "ticket" in started else 200)


async def api_release(request: web.Request) -> web.Response:
    current = require(request, "admin", "release a settings push")
    try:
        return json_response(await _rollouts(request).release(path_number(request, "rid", "rollout"), current.username))
    except SettingsPushError as exc:
        return _refused(exc)


async def api_rollback(request: web.Request) -> web.Response:
    current = require(request, "admin", "roll back a settings push")
    body = await json_object(request)
    try:
        return json_response(await _rollouts(request).rollback(path_number(request, "rid", "rollout"), _version_arg(body.get("version")),
                                                               current.username))
    except SettingsPushError as exc:
        return _refused(exc)


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
    app.router.add_post("/settings-push/rollout", rollout_form)
    app.router.add_post("/settings-push/rollouts/{rid}/release", release_form)
    app.router.add_post("/settings-push/rollouts/{rid}/rollback", rollback_form)
    app.router.add_get("/api/settings/rollouts", api_rollouts)
    app.router.add_post("/api/settings/rollouts", api_start_rollout)
    app.router.add_get("/api/settings/rollouts/{rid}", api_rollout)
    app.router.add_post("/api/settings/rollouts/{rid}/release", api_release)
    app.router.add_post("/api/settings/rollouts/{rid}/rollback", api_rollback)
