"""The `[web]` section of supervisor.toml, validated once with every problem listed.

Transport security: session cookies and passwords must not cross a network in clear. The
dashboard itself speaks plain HTTP, so off loopback it must sit behind a TLS-terminating
reverse proxy and say so (`cookie_secure = true`: cookies marked Secure, HSTS sent); a
non-loopback `host` without it is refused unless `insecure_plaintext = true` says the risk is
accepted (a closed lab network).

Collector API tokens are each tied to the collectors they may write:
`collector_tokens = {vendor-x = {token = "...", collectors = ["c1", "vx-*"]}}` (an entry
ending in "*" is an id prefix), or a tokens file of "source token scope[,scope...]" lines.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any

from ..config_files import read_text
from ..hosts import is_loopback
from . import i18n

DEFAULTS: dict[str, Any] = {
    "session_idle_s": 8 * 3600.0,
    "session_max_age_s": 24 * 3600.0,
    "cookie_secure": False,  # true behind a TLS-terminating reverse proxy: Secure cookies, HSTS
    "insecure_plaintext": False,  # true accepts a non-loopback host without TLS (closed networks only)
    "trusted_proxies": [],  # addresses of reverse proxies whose X-Forwarded-For names the client
    "default_lang": i18n.DEFAULT_LANG,
    "refresh_s": 5.0,
    # {source: {token = "...", collectors = ["c1", "vx-*"]}} for POST /api/collectors/readings
    "collector_tokens": {},
    "collector_tokens_file": "",  # or a file of "source token scope,..." lines (# comments); relative to data_dir
    "title": "heatkeeper",
    # GET /metrics (Prometheus): loopback clients, or any client sending "Authorization: Bearer <token>"
    "metrics_token": "",  # at least 16 characters; "" = loopback only
    "metrics_token_file": "",  # or a file holding the token (its first line); relative to data_dir
}


# Keys of the same table read by the supervisor's main (where to listen), not by the app.
SERVER_KEYS = ("enabled", "host", "port")


class WebConfigError(ValueError):
    """Bad `[web]` settings; `.problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("web config: " + "; ".join(problems))
        self.problems = problems


def web_section(config: Any) -> Mapping[str, Any]:
    """The web settings inside a whole supervisor config (dict or object) or the section itself."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        section = config.get("web", config)
        return section if isinstance(section, Mapping) else {}
    section = getattr(config, "web", None)
    if isinstance(section, Mapping):
        return section
    return {}


def validate(config: Any) -> dict[str, Any]:
    """Settings with defaults filled in; raises WebConfigError listing every problem."""
    raw = web_section(config)
    out = dict(DEFAULTS)
    problems: list[str] = []
    for key in ("session_idle_s", "session_max_age_s", "refresh_s"):
        if key in raw:
            value = raw[key]
            lo, hi = (1.0, 60.0) if key == "refresh_s" else (60.0, 30 * 86400.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                problems.append("web.%s=%r s: must be in [%g, %g]" % (key, value, lo, hi))
            else:
                out[key] = float(value)
    for key in ("cookie_secure", "insecure_plaintext"):
        if key in raw:
            if not isinstance(raw[key], bool):
                problems.append("web.%s=%r: must be true or false" % (key, raw[key]))
            else:
                out[key] = raw[key]
    proxies = raw.get("trusted_proxies", [])
    if not isinstance(proxies, list) or not all(isinstance(p, str) and _is_ip(p) for p in proxies):
        problems.append("web.trusted_proxies=%r: must be a list of IP addresses (the reverse proxies in front of "
                        "the dashboard)" % (proxies,))
    else:
        out["trusted_proxies"] = list(proxies)
    host = raw.get("host")
    if isinstance(host, str) and not is_loopback(host) and not out["cookie_secure"] and not out["insecure_plaintext"]:
        problems.append("web.host=%r: not a loopback address, and the dashboard speaks plain HTTP: passwords and "
                        "session cookies would cross the network in clear. Serve it behind a TLS-terminating "
                        "reverse proxy and set web.cookie_secure = true (or set web.insecure_plaintext = true to "
                        "accept the risk on a closed network)" % host)
    if "default_lang" in raw:
        if raw["default_lang"] not in i18n.LANGUAGES:
            problems.append("web.default_lang=%r: must be one of %s" % (raw["default_lang"], ", ".join(i18n.LANGUAGES)))
        else:
            out["default_lang"] = raw["default_lang"]
    if "title" in raw:
        if not isinstance(raw["title"], str) or not 0 < len(raw["title"]) <= 80:
            problems.append("web.title=%r: must be text of 1-80 characters" % (raw["title"],))
        else:
            out["title"] = raw["title"]
    tokens = raw.get("collector_tokens", {})
    if not isinstance(tokens, Mapping):
        problems.append("web.collector_tokens: must be a table {source = {token = \"...\", collectors = [...]}}")
    else:
        clean: dict[str, dict[str, Any]] = {}
        for source, entry in tokens.items():
            parsed = _token_entry("web.collector_tokens.%s" % source, entry, problems)
            if parsed is not None:
                clean[str(source)] = parsed
        out["collector_tokens"] = clean
    path = raw.get("collector_tokens_file", "")
    if not isinstance(path, str):
        problems.append("web.collector_tokens_file=%r: must be a file path" % (path,))
    elif path:
        out["collector_tokens_file"] = path
        out["collector_tokens"].update(read_tokens_file(_resolve(path, config), problems))
    _metrics_token(raw, config, out, problems)
    unknown = sorted(set(raw) - set(DEFAULTS) - set(SERVER_KEYS))
    # Only complain about unknown keys when we were handed the [web] section itself.
    if unknown and isinstance(config, Mapping) and "web" in config:
        problems.append("web: unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULTS))))
    if problems:
        raise WebConfigError(problems)
    return out


MIN_METRICS_TOKEN = 16


def _metrics_token(raw: Mapping[str, Any], config: Any, out: dict[str, Any], problems: list[str]) -> None:
    """web.metrics_token, or the first line of web.metrics_token_file (not both)."""
    token, path = raw.get("metrics_token", ""), raw.get("metrics_token_file", "")
    if not isinstance(token, str):
        problems.append("web.metrics_token: must be text (a secret of at least %d characters)" % MIN_METRICS_TOKEN)
        return
    if not isinstance(path, str):
        problems.append("web.metrics_token_file=%r: must be a file path" % (path,))
        return
    if token and path:
        problems.append("web.metrics_token and web.metrics_token_file are both set: keep one")
        return
    where = "web.metrics_token"
    if path:
        where = "web.metrics_token_file=%r" % path
        text, reason = read_text(_resolve(path, config))
        if text is None:
            problems.append("%s: cannot read (%s)" % (where, reason))
            return
        token = (text.splitlines() or [""])[0].strip()
        out["metrics_token_file"] = path
    if token and (len(token) < MIN_METRICS_TOKEN or any(c.isspace() for c in token)):
        problems.append("%s: the token must be at least %d characters without spaces (it has %d)"
                        % (where, MIN_METRICS_TOKEN, len(token)))
        return
    if path and not token:
        problems.append("%s: the file holds no token on its first line" % where)
        return
    out["metrics_token"] = token


def _resolve(path: str, config: Any) -> str:
    if os.path.isabs(path) or not isinstance(config, Mapping):
        return path
    data_dir = config.get("supervisor", {}).get("data_dir", "") if isinstance(config.get("supervisor"), Mapping) else ""
    return os.path.join(data_dir, path) if data_dir else path


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True




def _scope_problem(scope: Any) -> str | None:
    if not isinstance(scope, list) or not scope:
        return "must list the collectors the token may write (ids, or prefixes ending in *)"
    for entry in scope:
        if not isinstance(entry, str) or not entry or entry == "*" or len(entry) > 65:
            return "%r: each entry is a collector id or a prefix ending in * (not * alone)" % (entry,)
    return None


def _token_entry(where: str, entry: Any, problems: list[str]) -> dict[str, Any] | None:
    if isinstance(entry, str):
        problems.append("%s: a token must name the collectors it may write: {token = \"...\", collectors = "
                        "[\"c1\", \"vx-*\"]} (one shared token could otherwise forge every flat's temperature)"
                        % where)
        return None
    if not isinstance(entry, Mapping):
        problems.append("%s: must be a table {token = \"...\", collectors = [...]}" % where)
        return None
    ok = True
    token = entry.get("token")
    if not isinstance(token, str) or len(token) < 16:
        problems.append("%s.token: must be text of at least 16 characters" % where)
        ok = False
    why = _scope_problem(entry.get("collectors"))
    if why is not None:
        problems.append("%s.collectors: %s" % (where, why))
        ok = False
    extra = sorted(set(entry) - {"token", "collectors"})
    if extra:
        problems.append("%s: unknown keys %s (known: token, collectors)" % (where, ", ".join(extra)))
        ok = False
    return {"token": token, "collectors": list(entry["collectors"])} if ok else None


def read_tokens_file(path: str, problems: list[str]) -> dict[str, dict[str, Any]]:
    """{source: {token, collectors}} from lines "source token scope[,scope...]" ("#" starts a
    comment; a scope is a collector id or a prefix ending in *); problems appended."""
    out: dict[str, dict[str, Any]] = {}
    text, reason = read_text(path)
    if text is None:
        problems.append("web.collector_tokens_file=%r: cannot read (%s)" % (path, reason))
        return out
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 3 or len(parts[1]) < 16:
            problems.append("%s:%d: must be \"source token scope,...\" with a token of at least 16 characters and "
                            "the collectors it may write (ids, or prefixes ending in *)" % (path, n))
            continue
        scope = [p for p in parts[2].split(",") if p]
        why = _scope_problem(scope)
        if why is not None:
            problems.append("%s:%d: scope %s" % (path, n, why))
            continue
        if parts[0] in out:
            problems.append("%s:%d: source %r defined twice" % (path, n, parts[0]))
        out[parts[0]] = {"token": parts[1], "collectors": scope}
    return out
