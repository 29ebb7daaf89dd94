"""HTML pages: login and logout, the password change, the language switch, and the shells of
every screen."""

from __future__ import annotations

import asyncio
import math
import secrets
from typing import Any

from aiohttp import web

from ..service_errors import ServiceError
from . import auth, i18n, render, validation
from .common import (
    AUDIT_BUDGET,
    SESSIONS,
    SETTINGS,
    THROTTLE,
    audit,
    client_address,
    now_ts,
    read_form,
    require,
    service,
    session,
)
from .offer import FORM_KINDS


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age_s: int | None,
                http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age_s, path="/", httponly=http_only, samesite="Strict",
                        secure=bool(request.app[SETTINGS]["cookie_secure"]))


async def error_page(request: web.Request, status: int, reason: str) -> web.Response:
    titles = {503: "error.unavailable", 400: "error.bad_request", 401: "error.unauthenticated", 403: "error.forbidden", 404: "error.not_found",
              500: "error.internal"}
    return render.page(request, "error.html", titles.get(status, "error.internal"), nav="", status=status,
                       reason=reason, code=status)


# --- login / logout / language -----------------------------------------------------------------
async def login_form(request: web.Request) -> web.Response:
    if session(request) is not None:
        raise web.HTTPFound(render.safe_next(request.query.get("next")))
    token = request.cookies.get(auth.PRELOGIN_COOKIE) or secrets.token_urlsafe(32)
    return _login_page(request, token, error_key=None, username="")


def _login_page(request: web.Request, token: str, error_key: str | None, username: str, status: int = 200) -> web.Response:
    response = render.page(request, "login.html", "login.title", nav="", status=status, csrf=token,
                           next=render.safe_next(request.query.get("next")), error_key=error_key, username=username)
    _set_cookie(request, response, auth.PRELOGIN_COOKIE, token, max_age_s=3600)
    return response


async def login_submit(request: web.Request) -> web.Response:
    form = await read_form(request)
    token = request.cookies.get(auth.PRELOGIN_COOKIE, "")
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))
    if not auth.tokens_equal(str(form.get("csrf", "")), token):
        return _login_page(request, secrets.token_urlsafe(32), "login.error_csrf", username, status=403)
    throttle = request.app[THROTTLE]
    ip = client_address(request)
    verdict = throttle.attempt(username, ip)  # recorded now, before anything is awaited
    if verdict.refused:
        await refused_login_audit(request, username or "-", "too many attempts (%s limit) from %s" % (verdict.why, ip),
                                  "refused")
        response = _login_page(request, token, "login.error_throttled", username, status=429)
        response.headers["Retry-After"] = str(max(1, math.ceil(verdict.retry_after_s)))
        return response
    if verdict.delay_s > 0:
        await asyncio.sleep(verdict.delay_s)  # a growing delay for a name under attack, never a lock-out
    user = None
    if username and password:
        user = await service(request).accounts.authenticate(username, password, audit_failure=lambda: _audit_slot(request))
    if user is None:
        return _login_page(request, token, "login.error_bad", username, status=401)
    throttle.succeeded(username, ip)
    name = str(_field(user, "username", username))
    role = str(_field(user, "role", "viewer"))
    lang = i18n.normalise_lang(request.cookies.get(auth.LANG_COOKIE)) or render.request_lang(request)
    new = request.app[SESSIONS].create(name, role, lang, must_change=bool(_field(user, "must_change", False)))
    target = "/password" if new.must_change else render.safe_next(str(form.get("next", "/")))
    response = web.HTTPFound(target)
    _set_cookie(request, response, auth.SESSION_COOKIE, new.token, max_age_s=None)
    response.del_cookie(auth.PRELOGIN_COOKIE, path="/")
    raise response


async def _audit_slot(request: web.Request) -> bool:
    """Whether an unauthenticated failure may write an audit row now; first writes a summary
    row of the ones left out before it."""
    allowed, left_out = request.app[AUDIT_BUDGET].take()
    if allowed and left_out:
        await audit(request, "-", "login", None, "%d refused or failed logins were counted but not itemised "
                    "(audit rows for them are capped)" % left_out, "summary")
    return allowed


async def refused_login_audit(request: web.Request, user: str, detail: str, result: str) -> None:
    """An audit row for a refused login, within the cap of such rows."""
    if await _audit_slot(request):
        await audit(request, user, "login", None, detail, result)


def _field(obj: Any, name: str, default: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


async def password_form(request: web.Request) -> web.Response:
    """The password change: every role, and the only page of a session whose password must change."""
    current = require(request, "viewer", "change your password")
    return _password_page(request, current, error=None)


def _password_page(request: web.Request, current: auth.Session, error: str | None, status: int = 200) -> web.Response:
    return render.page(request, "password.html", "password.title", nav="password", status=status,
                       forced=current.must_change, error=error)


async def password_submit(request: web.Request) -> web.Response:
    """POST /password (form: current, new, confirm): every other session of the user ends and
    this one gets a new token."""
    current = require(request, "viewer", "change your password")
    form = await read_form(request)
    new_password = str(form.get("new", ""))
    if new_password != str(form.get("confirm", "")):
        return _password_page(request, current, render.translator(request)("password.mismatch"), status=400)
    try:
        await change_password(request, current, str(form.get("current", "")), new_password)
    except ServiceError as exc:
        return _password_page(request, current, exc.text, status=429 if exc.reason == "throttled" else 400)
    fresh = request.app[SESSIONS].rotate(current)
    response = web.HTTPFound("/?password=changed")
    _set_cookie(request, response, auth.SESSION_COOKIE, fresh.token, max_age_s=None)
    raise response


async def change_password(request: web.Request, current: auth.Session, old: str, new: str) -> None:
    """The user's own password change, throttled like a login (the current password is a guess
    for whoever holds a stolen session)."""
    throttle = request.app[THROTTLE]
    ip = client_address(request)
    verdict = throttle.attempt(current.username, ip)
    if verdict.refused:
        raise ServiceError("throttled", "too many attempts: wait %d s" % max(1, math.ceil(verdict.retry_after_s)))
    if verdict.delay_s > 0:
        await asyncio.sleep(verdict.delay_s)
    try:
        await service(request).accounts.change_own_password(current.username, old, new)
    except ServiceError as exc:
        if exc.reason != "wrong_password":  # the current password was right; the new one was refused
            throttle.succeeded(current.username, ip)
        raise
    throttle.succeeded(current.username, ip)


async def logout(request: web.Request) -> web.Response:
    current = require(request, "viewer", "log out")
    request.app[SESSIONS].drop(current.token)
    await audit(request, current.username, "logout", None, "", "ok")
    response = web.HTTPFound("/login")
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    raise response


async def set_lang(request: web.Request) -> web.Response:
    """POST /lang/{code}: remember the language in the session and a long-lived cookie."""
    lang = i18n.normalise_lang(request.match_info["code"])
    if lang is None:
        raise validation.BadInput("language=%r: must be one of %s" % (request.match_info["code"], ", ".join(i18n.LANGUAGES)))
    form = await read_form(request)
    current = session(request)
    expected = current.csrf if current is not None else request.cookies.get(auth.PRELOGIN_COOKIE, "")
    sent = request.headers.get("X-CSRF-Token", "") or str(form.get("csrf", ""))
    if not auth.tokens_equal(sent, expected):
        return await error_page(request, 403, "missing or wrong CSRF token: reload the page")
    if current is not None:
        current.lang = lang
    response = web.HTTPFound(render.safe_next(str(form.get("next", "/"))))
    _set_cookie(request, response, auth.LANG_COOKIE, lang, max_age_s=365 * 86400, http_only=False)
    raise response


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


# --- screens --------------------------------------------------------------------------------------
async def fleet(request: web.Request) -> web.Response:
    require(request, "viewer", "see the fleet")
    return render.page(request, "fleet.html", "fleet.title", nav="fleet",
                       forecasts=service(request).forecast.status(), now_ts=now_ts())


async def station(request: web.Request) -> web.Response:
    require(request, "viewer", "see a station")
    sid = validation.station_id(request.match_info["sid"])
    await service(request).fleet.station_detail(sid)  # an unknown station is a 404 page, not an empty shell
    boot = {"station_id": sid, "command_args": validation.COMMAND_ARGS, "modes": validation.MODES,
            "leased": validation.LEASED_KINDS, "clearable": validation.CLEARABLE, "form_kinds": FORM_KINDS}
    return render.page(request, "station.html", "station.title", nav="fleet", boot=boot, station_id=sid,
                       local_settings=await service(request).settings_push.local_settings(sid))


async def trends(request: web.Request) -> web.Response:
    require(request, "viewer", "see trends")
    sid = validation.station_id(request.match_info["sid"])
    await service(request).fleet.station_detail(sid)
    return render.page(request, "trends.html", "trends.title", nav="fleet", boot={"station_id": sid}, station_id=sid)


async def alarms(request: web.Request) -> web.Response:
    require(request, "viewer", "see alarms")
    return render.page(request, "alarms.html", "alarms.title", nav="alarms")


async def audit_page(request: web.Request) -> web.Response:
    require(request, "operator", "read the audit log")
    return render.page(request, "audit.html", "audit.title", nav="audit", boot={"command_args": validation.COMMAND_ARGS})


async def reports(request: web.Request) -> web.Response:
    require(request, "viewer", "see reports")
    return render.page(request, "reports.html", "reports.title", nav="reports")


async def users(request: web.Request) -> web.Response:
    require(request, "admin", "manage users")
    return render.page(request, "users.html", "users.title", nav="users")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/password", password_form)
    r.add_post("/password", password_submit)
    r.add_post("/lang/{code}", set_lang)
    r.add_get("/healthz", healthz)
    r.add_get("/", fleet)
    r.add_get("/stations/{sid}", station)
    r.add_get("/stations/{sid}/trends", trends)
    r.add_get("/alarms", alarms)
    r.add_get("/audit", audit_page)
    r.add_get("/reports", reports)
    r.add_get("/users", users)
