"""Commands to many stations on the dashboard, confirmed twice (supervisor/group_commands.py does
the work; operators and admins draft and confirm, everyone logged in sees the progress).

`GET /group-commands`: the form and the recent batches. `POST /group-commands/draft` (form: kind,
args as JSON text, lease_s, stations comma separated, city, class) stores a draft and shows
`GET /group-commands/{id}`: what will go to whom (each station, online or not) and a second
button; `POST /group-commands/{id}/confirm` sends it (or opens an operation ticket when
[tickets] require has group_command), `POST /group-commands/{id}/cancel` drops the draft. The same
page then shows each station's fate.
JSON: `POST /api/group-commands` ({kind, args, lease_s, stations, city, class}) -> the draft;
`POST /api/group-commands/{id}/confirm` -> the batch; `GET /api/group-commands/{id}` -> the
batch with `progress`. Refusals are 400 with `problems`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..group_commands import GroupCommandError, GroupCommands
from . import render, validation
from .common import json_object, json_response, path_number, read_form, require, service
from .validation import BadInput

KINDS = ("set_mode", "boost", "set_room_setpoint", "set_supply_setpoint", "clear_lease", "set_valve_manual")
MODE_LEASE_S = (60.0, 7 * 86400.0)


def _gc(request: web.Request) -> GroupCommands:
    return service(request).group_commands  # type: ignore[no-any-return]


def _command(body: dict[str, Any]) -> tuple[str, dict[str, Any], float | None]:
    """(kind, args, lease_s) checked as a station command is; a mode change may carry its lease
    (`duration_s`: a remote summer or safe mode ends by itself)."""
    raw = body.get("args", {})
    duration = None
    if body.get("kind") == "set_mode" and isinstance(raw, dict) and "duration_s" in raw:
        raw = dict(raw)
        duration = validation.number(raw.pop("duration_s"), "duration_s", "s", *MODE_LEASE_S)
    kind, args, lease_s = validation.command({**body, "args": raw})
    if duration is not None:
        args["duration_s"] = duration
    return kind, args, lease_s


def _target_text(stations: list[str], city: str, klass: str) -> str:
    parts = []
    if stations:
        parts.append(", ".join(stations))
    if city:
        parts.append("city " + city)
    if klass:
        parts.append("class " + klass)
    return "; ".join(parts)


async def _draft(request: web.Request, body: dict[str, Any], user: str) -> dict[str, Any]:
    stations = body.get("stations") or []
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
        raise BadInput("stations: must be a list of station ids")
    city, klass = str(body.get("city") or "").strip(), str(body.get("class") or "").strip()
    kind, args, lease_s = _command(body)
    gc = _gc(request)
    targets = gc.resolve(stations, city, klass)
    return await gc.draft(kind, args, lease_s, targets, _target_text(stations, city, klass), user)


async def page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see commands to many stations")
    return await _page(request, current.allows("operator"))


async def _page(request: web.Request, editable: bool, problems: list[str] | None = None, status: int = 200,
                form: dict[str, str] | None = None) -> web.Response:
    cfg = service(request).stations_cfg.values()
    cities = sorted({c.get("city", "") for c in cfg if c.get("city")})
    classes = sorted({c.get("class", "") for c in cfg if c.get("class")})
    return render.page(request, "group_commands.html", "gc.title", nav="group_commands", status=status,
                       batches=await _gc(request).list(), kinds=KINDS, cities=cities, classes=classes,
                       editable=editable, problems=problems or [], form=form or {})


async def draft_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "send commands to many stations")
    form = await read_form(request)
    fields = {k: str(form.get(k, "")).strip() for k in ("kind", "args", "lease_s", "stations", "city", "class")}
    try:
        args = json.loads(fields["args"] or "{}")
    except ValueError as exc:
        return await _page(request, True, ["args: not JSON (%s)" % exc], 400, fields)
    body = {"kind": fields["kind"], "args": args, "lease_s": fields["lease_s"] or None, "city": fields["city"],
            "class": fields["class"], "stations": [s.strip() for s in fields["stations"].split(",") if s.strip()]}
    try:
        item = await _draft(request, body, current.username)
    except BadInput as exc:
        return await _page(request, True, [str(exc)], 400, fields)
    except GroupCommandError as exc:
        return await _page(request, True, exc.problems, 400, fields)
    raise web.HTTPSeeOther("/group-commands/%d" % item["batch_id"])


async def batch_page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see commands to many stations")
    return await _batch_page(request, current.username)


async def _batch_page(request: web.Request, user: str, problems: list[str] | None = None,
                      status: int = 200) -> web.Response:
    try:
        batch = await _gc(request).progress(path_number(request, "bid", "batch"))
    except GroupCommandError as exc:
        raise LookupError(str(exc)) from None
    return render.page(request, "group_command.html", "gc.title", nav="group_commands", status=status, batch=batch,
                       mine=batch["created_by"] == user, problems=problems or [])


async def confirm_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "send commands to many stations")
    await read_form(request)
    try:
        await _gc(request).confirm(path_number(request, "bid", "batch"), current.username)
    except GroupCommandError as exc:
        return await _batch_page(request, current.username, exc.problems, 400)
    raise web.HTTPSeeOther("/group-commands/%d" % path_number(request, "bid", "batch"))


async def cancel_form(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "send commands to many stations")
    await read_form(request)
    try:
        await _gc(request).cancel(path_number(request, "bid", "batch"), current.username)
    except GroupCommandError as exc:
        return await _batch_page(request, current.username, exc.problems, 400)
    raise web.HTTPSeeOther("/group-commands/%d" % path_number(request, "bid", "batch"))


def _refused(exc: GroupCommandError) -> web.Response:
    return json_response({"error": str(exc), "reason": exc.reason, "problems": exc.problems}, status=400)


async def api_draft(request: web.Request) -> web.Response:
    current = require(request, "operator", "send commands to many stations")
    body = await json_object(request)
    try:
        return json_response(await _draft(request, body, current.username))
    except GroupCommandError as exc:
        return _refused(exc)


async def api_confirm(request: web.Request) -> web.Response:
    current = require(request, "operator", "send commands to many stations")
    try:
        return json_response(await _gc(request).confirm(path_number(request, "bid", "batch"), current.username))
    except GroupCommandError as exc:
        return _refused(exc)


async def api_batch(request: web.Request) -> web.Response:
    require(request, "viewer", "see commands to many stations")
    try:
        return json_response(await _gc(request).progress(path_number(request, "bid", "batch")))
    except GroupCommandError as exc:
        raise LookupError(str(exc)) from None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/group-commands", page)
    app.router.add_post("/group-commands/draft", draft_form)
    app.router.add_get("/group-commands/{bid}", batch_page)
    app.router.add_post("/group-commands/{bid}/confirm", confirm_form)
    app.router.add_post("/group-commands/{bid}/cancel", cancel_form)
    app.router.add_post("/api/group-commands", api_draft)
    app.router.add_post("/api/group-commands/{bid}/confirm", api_confirm)
    app.router.add_get("/api/group-commands/{bid}", api_batch)
