"""Server-side page rendering (Jinja2, autoescaped) and the boot data handed to the scripts.

Pages are thin shells: the server renders the frame, navigation and labels in the user's
language, and the page's script fills in live data from the JSON API. The boot data travels
in a `<script type="application/json">` block, so the Content-Security-Policy can forbid
inline scripts altogether.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from heatkeeper.core.modes import MODE_NAMES
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..fleet_alarms import SITE_ID
from . import auth, i18n
from .common import CATALOGUES, SETTINGS, TEMPLATES, dumps, service, session

TEMPLATE_DIR = Path(__file__).parent / "templates"


def environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=select_autoescape(["html", "svg"]),
                       trim_blocks=True, lstrip_blocks=True)


def safe_next(target: str | None) -> str:
    """A local path to go to after login or a language switch (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def request_lang(request: web.Request) -> str:
    """The session's language, else the cookie's, else the browser's, else the configured default."""
    current = session(request)
    if current is not None and current.lang in i18n.LANGUAGES:
        return current.lang
    return (i18n.normalise_lang(request.cookies.get(auth.LANG_COOKIE))
            or i18n.lang_from_accept(request.headers.get("Accept-Language"))
            or request.app[SETTINGS]["default_lang"])


def translator(request: web.Request) -> i18n.Translator:
    lang = request_lang(request)
    return i18n.Translator(request.app[CATALOGUES][lang], lang)


def static_url(request: web.Request, name: str) -> str:
    return str(request.app.router["static"].url_for(filename=name))


def _site_offset_h(request: web.Request) -> float:
    """The site's UTC offset ([supervisor] utc_offset_h)."""
    return float(service(request).config["supervisor"]["utc_offset_h"])


def page(request: web.Request, template: str, title_key: str, nav: str, status: int = 200,
         boot: dict[str, Any] | None = None, csrf: str | None = None, **context: Any) -> web.Response:
    """Render one page with the common frame; `boot` is extra data for the page's script."""
    t = translator(request)
    current = session(request)
    settings = request.app[SETTINGS]
    token = csrf if csrf is not None else (current.csrf if current is not None else "")
    boot_data = {
        "lang": t.lang,
        "msgs": t.catalogue,
        "csrf": token,
        "user": current.username if current else None,
        "role": current.role if current else None,
        "refresh_s": settings["refresh_s"],
        "mode_names": MODE_NAMES,  # telemetry's integer `mode` -> name
        "site_id": SITE_ID,  # the pseudo station of the supervisor's own alarms: no station page
        "utc_offset_h": _site_offset_h(request),  # the site's clock: the reports' days and hours
    }
    boot_data.update(boot or {})
    html = request.app[TEMPLATES].get_template(template).render(
        t=t, lang=t.lang, title=t(title_key), app_title=settings["title"], nav=nav, user=current,
        csrf=token, boot_json=dumps(boot_data).replace("</", "<\\/"), static=lambda n: static_url(request, n),
        path_qs=request.path_qs, languages=i18n.LANGUAGES, **context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
