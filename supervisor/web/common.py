"""What every handler shares: application keys, the JSON encoding, role checks, audit."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from jinja2 import Environment
from multidict import MultiDictProxy

from . import auth
from .validation import BadInput

log = logging.getLogger("heatkeeper.supervisor.web")

SERVICE = web.AppKey("service", object)
SETTINGS = web.AppKey("settings", dict)
SESSIONS = web.AppKey("sessions", auth.SessionStore)
THROTTLE = web.AppKey("throttle", auth.LoginThrottle)
AUDIT_BUDGET = web.AppKey("audit_budget", auth.AuditBudget)
CATALOGUES = web.AppKey("catalogues", dict)
TEMPLATES = web.AppKey("templates", Environment)
SESSION = web.RequestKey("session", object)


def service(request: web.Request) -> Any:
    return request.app[SERVICE]


def session(request: web.Request) -> auth.Session | None:
    value = request.get(SESSION)
    return value if isinstance(value, auth.Session) else None


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/export/")


class Forbidden(Exception):
    """The user's role does not allow the action; str() says why."""


def require(request: web.Request, needed: str, action: str) -> auth.Session:
    """The session when its role allows `needed`; else Forbidden naming role and action."""
    current = session(request)
    if current is None:
        raise web.HTTPUnauthorized(text="not logged in")
    if not current.allows(needed):
        raise Forbidden("role %s may not %s (needs %s or higher)" % (current.role, action, needed))
    return current


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """JSON text for responses: NaN and infinities become null, unknown objects their text."""
    return json.dumps(_finite(obj), default=_json_default, ensure_ascii=False, separators=(",", ":"))


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status, dumps=dumps)


def json_error(status: int, reason: str, code: str) -> web.Response:
    return web.json_response({"error": code, "reason": reason}, status=status)


async def audit(request: web.Request, user: str, action: str, station_id: str | None, detail: str,
                result: str) -> None:
    """Record a dashboard action (login, user change, refused request) in the service's audit log."""
    try:
        await service(request).audit_log.record(user=user, action=action, station_id=station_id, detail=detail,
                                            result=result)
    except (AttributeError, TypeError, ValueError, OSError, RuntimeError) as exc:
        # The action itself already happened or was refused; a failed audit write is logged loudly.
        log.error("audit write failed (%s %s %s): %s", user, action, result, exc)


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form; a malformed body is bad input (400), not an internal error."""
    try:
        return await request.post()
    except (ValueError, HttpProcessingError) as exc:
        raise BadInput("form: cannot be read (%s)" % (getattr(exc, "message", "") or exc)) from None


def client_address(request: web.Request) -> str:
    """The client's address for throttling: the peer, or, when the peer is one of
    `web.trusted_proxies`, the address that proxy appended last to X-Forwarded-For (earlier
    entries come from the client and prove nothing)."""
    peer = request.remote or "-"
    if peer in request.app[SETTINGS]["trusted_proxies"]:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
        if forwarded:
            return forwarded[-1][:64]
    return peer


def now_ts() -> float:
    return time.time()


def path_number(request: web.Request, key: str, what: str) -> int:
    """The whole number in the URL's `{key}` part (a start-up, a batch, a ticket...), or BadInput
    naming `what` and the first 20 characters given."""
    try:
        return int(request.match_info[key])
    except ValueError:
        raise BadInput("%s=%r: must be a number" % (what, request.match_info[key][:20])) from None


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object, or BadInput."""
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("body: must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadInput("body: must be a JSON object")
    return body
