"""`create_app(service, config)`: the dashboard and JSON API as one aiohttp application.

Request flow: errors (nothing escapes as a crash; bad input is a 400
with its reason) -> session (cookie to user, role, CSRF token, language) -> CSRF check on every
state-changing request -> the handler, which names the least role it needs. The security
headers are added to every response as it is prepared (redirects and raised errors too).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..broker_link import NotConnected
from ..service_errors import ServiceError
from . import (
    alarm_settings,
    api,
    auth,
    energy,
    households,
    i18n,
    metrics,
    notify,
    pages,
    quarantine,
    render,
    settings_profiles,
)
from . import allocation as allocation_page
from . import authority_reports as authority_report_pages
from . import config as web_config
from . import maintenance as maintenance_pages
from .common import (
    AUDIT_BUDGET,
    CATALOGUES,
    SERVICE,
    SESSION,
    SESSIONS,
    SETTINGS,
    TEMPLATES,
    THROTTLE,
    Forbidden,
    json_error,
    read_form,
    wants_json,
)
from .group_commands import add_routes as add_group_command_routes
from .season import add_routes as add_season_routes
from .tickets import add_routes as add_ticket_routes
from .validation import BadInput

log = logging.getLogger("heatkeeper.supervisor.web")

STATIC_DIR = Path(__file__).parent / "static"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths reachable without a session (the handlers check what they need themselves; /metrics:
# loopback or a bearer token, see metrics.py).
PUBLIC_PREFIXES = ("/static/", "/login", "/lang/", "/healthz", "/api/collectors/", "/metrics", "/ack/")
# Unsafe methods that skip the session CSRF check: the login form (pre-login token) and
# the collectors' API (bearer token, no cookie), an alarm notification's signed acknowledgement link.
CSRF_EXEMPT = ("/login", "/api/collectors/readings", "/lang/", "/ack/")

# All a session with a forced password change may reach until the password is changed.
MUST_CHANGE_ALLOWED = ("/password", "/api/me", "/logout", "/static/", "/lang/", "/favicon.ico", "/healthz")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


HSTS = "max-age=31536000"  # a year; sent only when the dashboard is known to be behind TLS


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response gets the headers, redirects and raised HTTP errors
    (401, 404, 405, 413...) included, which a middleware would miss."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.app[SETTINGS]["cookie_secure"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a response with a reason; unexpected ones are logged."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if wants_json(request) and exc.status >= 400 and exc.content_type != "application/json":
            return json_error(exc.status, exc.text or exc.reason, "http_%d" % exc.status)
        raise
    except Forbidden as exc:
        if wants_json(request):
            return json_error(403, str(exc), "forbidden")
        return await pages.error_page(request, 403, str(exc))
    except BadInput as exc:
        if wants_json(request):
            return json_error(400, str(exc), "bad_input")
        return await pages.error_page(request, 400, str(exc))
    except ServiceError as exc:
        status = 404 if exc.reason.startswith("unknown_") else 400
        if wants_json(request):
            return json_error(status, exc.text, exc.reason)
        return await pages.error_page(request, status, exc.text)
    except NotConnected:
        text = "the supervisor has no connection to the MQTT broker right now: nothing was sent"
        if wants_json(request):
            return json_error(503, text, "not_connected")
        return await pages.error_page(request, 503, text)
    except LookupError as exc:
        text = str(exc.args[0]) if exc.args else "not found"
        if wants_json(request):
            return json_error(404, text, "not_found")
        return await pages.error_page(request, 404, text)
    except ValueError as exc:  # the service refused the input (its reason is for the user)
        if wants_json(request):
            return json_error(400, str(exc), "refused")
        return await pages.error_page(request, 400, str(exc))
    except Exception:  # noqa: BLE001 - the boundary of one request: log it, answer 500, keep serving
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json(request):
            return json_error(500, "internal error (logged on the supervisor)", "internal")
        return await pages.error_page(request, 500, "internal error (logged on the supervisor)")


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the session; refuse unauthenticated and cross-site state-changing requests."""
    store = request.app[SESSIONS]
    session = store.get(request.cookies.get(auth.SESSION_COOKIE))
    request[SESSION] = session
    public = request.path == "/favicon.ico" or any(request.path.startswith(p) for p in PUBLIC_PREFIXES)
    if session is None and not public:
        if wants_json(request):
            return json_error(401, "not logged in (or the session expired)", "unauthenticated")
        raise web.HTTPFound(render.login_url(request.path_qs))
    if session is not None and session.must_change and not request.path.startswith(MUST_CHANGE_ALLOWED):
        if wants_json(request):
            return json_error(403, "change your password first (it was given to you): /password",
                              "password_change_required")
        raise web.HTTPFound("/password")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not any(request.path.startswith(p) for p in CSRF_EXEMPT):
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = str((await read_form(request)).get("csrf", ""))
        if session is None or not auth.tokens_equal(sent, session.csrf):
            if wants_json(request):
                return json_error(403, "missing or wrong CSRF token: reload the page", "csrf")
            return await pages.error_page(request, 403, "missing or wrong CSRF token: reload the page")
    return await handler(request)


def create_app(service: Any, config: Any = None, notifier: Any = None) -> web.Application:
    """The dashboard application serving `service` (heatkeeper.supervisor.service.SupervisorService:
    the handlers call its job modules, `service.fleet`, `service.reporting`, `service.alarm_desk` ...).

    `config` is the whole supervisor config (its `[web]` table is used) or that table itself;
    see config.DEFAULTS for the keys. Raises config.WebConfigError listing every problem.
    `notifier` (notify.notifier.Notifier, or None when notifications are off) serves the
    notifications page and the acknowledgement links.
    """
    settings = web_config.validate(config)
    app = web.Application(middlewares=[errors, sessions], client_max_size=1024 * 1024)
    app.on_response_prepare.append(security_headers)
    app[SERVICE] = service
    app[SETTINGS] = settings
    app[SESSIONS] = auth.SessionStore(settings["session_idle_s"], settings["session_max_age_s"])
    app[THROTTLE] = auth.LoginThrottle()
    app[AUDIT_BUDGET] = auth.AuditBudget()
    app[CATALOGUES] = i18n.load_catalogues()
    app[TEMPLATES] = render.environment()
    pages.add_routes(app)
    api.add_routes(app)
    quarantine.add_routes(app)
    alarm_settings.add_routes(app)
    settings_profiles.add_routes(app)
    add_group_command_routes(app)
    add_season_routes(app)
    add_ticket_routes(app)
    notify.add_routes(app, notifier)
    households.add_routes(app)
    energy.add_routes(app)
    authority_report_pages.add_routes(app)
    maintenance_pages.add_routes(app)
    allocation_page.add_routes(app)
    metrics.add_routes(app)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    return app
