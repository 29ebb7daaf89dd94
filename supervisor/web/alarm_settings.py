"""The thresholds of the supervisor's own alarms on the dashboard (admins change them, everyone
logged in sees them); every change is in the audit log with the old and new values.

`GET /alarm-settings`: the page (server-rendered form, no script). `POST /alarm-settings` (form,
CSRF): the changed fields, and `reset` (keys going back to the configuration file's value).
`GET /api/alarm-settings` (viewer): {"settings", "file", "changed": [keys], "numbers": {key: [unit, low,
high]}, "priorities", "codes"}. `POST /api/alarm-settings` (admin, JSON {key: value or null}):
the same answer after the change; a refused change is a 400 listing every problem.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import fleet_alarm_settings as fas
from . import render
from .common import audit, json_response, read_form, require, service
from .validation import BadInput


def _engine(request: web.Request) -> Any:
    return service(request).fleet_alarms


async def _state(request: web.Request) -> dict[str, Any]:
    engine = _engine(request)
    await engine.start()
    return {"settings": dict(engine.settings), "file": dict(engine.file_settings), "changed": sorted(engine.overrides),
            "numbers": {k: list(v[1:]) for k, v in fas.NUMBERS.items()}, "priorities": list(fas.PRIORITIES),
            "codes": list(fas.CODES), "season": dict(engine.season)}


async def _apply(request: web.Request, user: str, changes: dict[str, Any]) -> None:
    """Change, then audit what changed (old -> new); a refusal is audited too."""
    engine = _engine(request)
    await engine.start()
    before = dict(engine.settings)
    try:
        after = await engine.change_settings(changes, user)
    except ValueError as exc:
        await audit(request, user, "alarm_settings", None, str(exc)[:2000], "refused")
        raise BadInput(str(exc)) from None
    diff = ["%s %s -> %s%s" % (k, before.get(k), after.get(k), " (file)" if changes[k] is None else "")
            for k in sorted(changes)]
    await audit(request, user, "alarm_settings", None, "; ".join(diff), "ok")


def _parse_form(form: Any, current: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The form's fields that differ from `current`, typed; `reset` keys as None."""
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key in fas.DEFAULTS:
        if key == "enabled":
            value: Any = form.get("enabled") == "on"
        elif key not in form:
            continue
        elif key.endswith("_priority"):
            value = str(form.get(key))
        else:
            text = str(form.get(key)).strip()
            try:
                value = int(text) if text.lstrip("-").isdigit() else float(text)  # messages show what was typed
            except ValueError:
                unit, low, high = fas.NUMBERS[key][1:]
                problems.append("%s=%r %s: must be a number in [%g, %g]" % (key, text[:40], unit, low, high))
                continue
        if value != current.get(key):
            changes[key] = value
    for key in form.getall("reset", []):
        if key in fas.DEFAULTS:
            changes[key] = None
    return changes, problems


async def page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see the alarm settings")
    return await _page(request, current.allows("admin"), saved=request.query.get("saved") == "1")


async def _page(request: web.Request, editable: bool, saved: bool = False, problems: str = "",
                status: int = 200) -> web.Response:
    state = await _state(request)
    rows = [{"key": k, "value": state["settings"][k], "file": state["file"][k], "unit": v[1].replace("degC", "°C"), "low": v[2],
             "high": v[3], "changed": k in state["changed"]} for k, v in fas.NUMBERS.items()]
    priorities = [{"code": code, "key": code + "_priority", "value": state["settings"][code + "_priority"],
                   "file": state["file"][code + "_priority"], "changed": code + "_priority" in state["changed"]}
                  for code in fas.CODES]
    return render.page(request, "alarm_settings.html", "fas.title", nav="alarms", status=status, rows=rows,
                       priority_rows=priorities, choices=fas.PRIORITIES, enabled=state["settings"]["enabled"],
                       season=state["season"], editable=editable, saved=saved, problems=problems)


async def submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "change the alarm settings")
    form = await read_form(request)
    engine = _engine(request)
    await engine.start()
    changes, problems = _parse_form(form, engine.settings)
    if problems:
        return await _page(request, True, problems="; ".join(problems), status=400)
    if changes:
        try:
            await _apply(request, current.username, changes)
        except BadInput as exc:
            return await _page(request, True, problems=str(exc), status=400)
    raise web.HTTPSeeOther("/alarm-settings?saved=1")


async def api_get(request: web.Request) -> web.Response:
    require(request, "viewer", "see the alarm settings")
    return json_response(await _state(request))


async def api_post(request: web.Request) -> web.Response:
    current = require(request, "admin", "change the alarm settings")
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("body: must be a JSON object {key: value or null}") from None
    if not isinstance(body, dict) or not body:
        raise BadInput("body: must be a non-empty JSON object {key: value or null}")
    await _apply(request, current.username, body)
    return json_response(await _state(request))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/alarm-settings", page)
    app.router.add_post("/alarm-settings", submit)
    app.router.add_get("/api/alarm-settings", api_get)
    app.router.add_post("/api/alarm-settings", api_post)
