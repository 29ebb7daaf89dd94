"""`GET /metrics`: the supervisor's figures for Prometheus (text format 0.0.4, see
supervisor/metrics.py), outside the dashboard's sessions.

Who may read them: a client on loopback (a scraper or agent on the supervisor's own machine)
connecting directly, not through a reverse proxy (a request carrying X-Forwarded-For or
Forwarded is not local, whatever its peer); or any client sending
`Authorization: Bearer <web.metrics_token>` (the token, or `web.metrics_token_file`, set in
supervisor.toml). Anyone else gets 401 (a token is configured) or 403 (none is), with the
reason. A wrong token is refused even from loopback. The security headers stay on.
"""

from __future__ import annotations

from aiohttp import web

from .. import metrics
from . import auth
from .common import SETTINGS, service
from .config import is_loopback

PATH = "/metrics"
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def refusal(request: web.Request) -> web.Response | None:
    """None if the request may read the metrics, else the response refusing it."""
    token = request.app[SETTINGS]["metrics_token"]
    sent = request.headers.get("Authorization", "")
    challenge = {"WWW-Authenticate": 'Bearer realm="heatkeeper metrics"'}
    if sent:
        scheme, _, value = sent.partition(" ")
        if token and scheme.lower() == "bearer" and auth.tokens_equal(value.strip(), token):
            return None
        return web.Response(status=401, text="wrong metrics token (Authorization: Bearer <web.metrics_token>)\n",
                            headers=challenge)
    local = is_loopback(request.remote or "") and not any(h in request.headers for h in PROXY_HEADERS)
    if local:
        return None
    if token:
        return web.Response(status=401, text="the metrics need Authorization: Bearer <web.metrics_token> from "
                            "clients not on the supervisor's own machine\n", headers=challenge)
    return web.Response(status=403, text="the metrics are served to loopback clients only; set web.metrics_token "
                        "in supervisor.toml to let a remote scraper read them with a bearer token\n")


async def handle(request: web.Request) -> web.Response:
    refused = refusal(request)
    if refused is not None:
        return refused
    return web.Response(body=metrics.render(service(request)).encode("utf-8"),
                        headers={"Content-Type": metrics.CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, handle)
