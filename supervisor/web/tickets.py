"""Operation tickets on the dashboard (supervisor/tickets.py does the work): every ticket with its
state, who asked, who decided and what went out; a second person approves or rejects, the
requester may withdraw. Approving a settings push needs an admin, any other operation an
operator; nobody approves their own ticket.

`GET /tickets`; `POST /tickets/{id}/approve`, `POST /tickets/{id}/reject` (form: note).
JSON: `GET /api/tickets` -> [tickets], `POST /api/tickets/{id}/approve` and `/reject` -> the
ticket; a refusal is 400 (403 for a role) with the reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..tickets import SETTINGS_PUSH, TicketError, Tickets
from . import render
from .common import Forbidden, json_response, path_number, read_form, require, service
from .validation import BadInput


def _tickets(request: web.Request) -> Tickets:
    return service(request).tickets  # type: ignore[no-any-return]


async def _decider(request: web.Request, tid: int) -> Any:
    """The session, when its role may decide this ticket's operation."""
    current = require(request, "operator", "decide operation tickets")
    try:
        item = await _tickets(request).get(tid)
    except TicketError as exc:
        raise LookupError(str(exc)) from None
    if item["operation"] == SETTINGS_PUSH and not current.allows("admin"):
        raise Forbidden("role %s may not decide a settings push ticket (needs admin)" % current.role)
    return current


async def page(request: web.Request, problems: list[str] | None = None, status: int = 200) -> web.Response:
    current = require(request, "viewer", "see operation tickets")
    return render.page(request, "tickets.html", "tk.title", nav="tickets", status=status,
                       tickets=await _tickets(request).list(), me=current.username,
                       can_decide=current.allows("operator"), problems=problems or [],
                       required=sorted(_tickets(request).require))


async def _decide(request: web.Request, approve: bool, note: str) -> dict[str, Any]:
    tid = path_number(request, "tid", "ticket")
    current = await _decider(request, tid)
    if approve:
        return await _tickets(request).approve(tid, current.username)
    return await _tickets(request).reject(tid, current.username, note[:500])


async def approve_form(request: web.Request) -> web.StreamResponse:
    await read_form(request)
    try:
        await _decide(request, True, "")
    except TicketError as exc:
        return await page(request, [exc.text], 400)
    raise web.HTTPSeeOther("/tickets")


async def reject_form(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        await _decide(request, False, str(form.get("note", "")))
    except TicketError as exc:
        return await page(request, [exc.text], 400)
    raise web.HTTPSeeOther("/tickets")


async def api_list(request: web.Request) -> web.Response:
    require(request, "viewer", "see operation tickets")
    return json_response(await _tickets(request).list())


async def _api_decide(request: web.Request, approve: bool) -> web.Response:
    note = ""
    if not approve and request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise BadInput("body: must be a JSON object {note}") from None
        note = str(body.get("note", "")) if isinstance(body, dict) else ""
    try:
        return json_response(await _decide(request, approve, note))
    except TicketError as exc:
        return json_response({"error": exc.text, "reason": exc.reason}, status=400)


async def api_approve(request: web.Request) -> web.Response:
    return await _api_decide(request, True)


async def api_reject(request: web.Request) -> web.Response:
    return await _api_decide(request, False)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/tickets", page)
    app.router.add_post("/tickets/{tid}/approve", approve_form)
    app.router.add_post("/tickets/{tid}/reject", reject_form)
    app.router.add_get("/api/tickets", api_list)
    app.router.add_post("/api/tickets/{tid}/approve", api_approve)
    app.router.add_post("/api/tickets/{tid}/reject", api_reject)
