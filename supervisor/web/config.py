"""The `[web]` section of supervisor.toml, validated once with every problem listed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import i18n

DEFAULTS: dict[str, Any] = {
    "session_idle_s": 8 * 3600.0,
    "session_max_age_s": 24 * 3600.0,
    "cookie_secure": False,  # set true when the dashboard is served over TLS
    "default_lang": i18n.DEFAULT_LANG,
    "refresh_s": 5.0,
    "collector_tokens": {},  # {source name: API token} for POST /api/collectors/readings
    "collector_tokens_file": "",  # or a file of "source token" lines (# comments); relative to data_dir
    "title": "heatkeeper",
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
    if "cookie_secure" in raw:
        if not isinstance(raw["cookie_secure"], bool):
            problems.append("web.cookie_secure=%r: must be true or false" % (raw["cookie_secure"],))
        else:
            out["cookie_secure"] = raw["cookie_secure"]
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
        problems.append("web.collector_tokens: must be a table {source = \"token\"}")
    else:
        clean: dict[str, str] = {}
        for source, token in tokens.items():
            if not isinstance(token, str) or len(token) < 16:
                problems.append("web.collector_tokens.%s: token must be text of at least 16 characters" % source)
            else:
                clean[str(source)] = token
        out["collector_tokens"] = clean
    path = raw.get("collector_tokens_file", "")
    if not isinstance(path, str):
        problems.append("web.collector_tokens_file=%r: must be a file path" % (path,))
    elif path:
        out["collector_tokens_file"] = path
        out["collector_tokens"].update(read_tokens_file(_resolve(path, config), problems))
    unknown = sorted(set(raw) - set(DEFAULTS) - set(SERVER_KEYS))
    # Only complain about unknown keys when we were handed the [web] section itself.
    if unknown and isinstance(config, Mapping) and "web" in config:
        problems.append("web: unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULTS))))
    if problems:
        raise WebConfigError(problems)
    return out


def _resolve(path: str, config: Any) -> str:
    if os.path.isabs(path) or not isinstance(config, Mapping):
        return path
    data_dir = config.get("supervisor", {}).get("data_dir", "") if isinstance(config.get("supervisor"), Mapping) else ""
    return os.path.join(data_dir, path) if data_dir else path


def read_tokens_file(path: str, problems: list[str]) -> dict[str, str]:
    """{source: token} from lines "source token" ("#" starts a comment); problems appended."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        problems.append("web.collector_tokens_file=%r: cannot read (%s)" % (path, exc.strerror))
        return out
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) != 2 or len(parts[1]) < 16:
            problems.append("%s:%d: must be \"source token\" with a token of at least 16 characters" % (path, n))
            continue
        if parts[0] in out:
            problems.append("%s:%d: source %r defined twice" % (path, n, parts[0]))
        out[parts[0]] = parts[1]
    return out
