"""The `[authority_reports]` and `[complaints]` parts of the supervisor config.

    [authority_reports]  enabled=false  timezone=""  (empty: [refunds] timezone, the site's zone)
        hourly_times=["09:00", "17:00"]   (local; each report covers the hours since the one before)
        weekly_day="monday"  weekly_time="09:00"   (the meter-reading week ends then, local)
        delay_min=10          (a period is first sent this long after it ends: the last 5-minute
                               aggregates are written by then)
        supplied_flow_m3h=0.5 (a station supplies heat in an hour when its primary flow averages at
                               least this and, where it reports pumps, a circulation pump runs)
        email_channel=""      (the name of a [[notify.channel]] of kind "email": its SMTP server,
                               TLS, login and sender are used)   email_to=["a@b.cn", ...]
        http_url=""  http_secret / http_secret_env / http_secret_file  http_headers={}  http_timeout_s=30
        retry_base_s=60  retry_max_s=3600   (a failed delivery is tried again after base, 2x base,
                               ... at most max; never given up)
        poll_s=30
    [complaints]  answer_h=24  close_h=72   (the city's hotline rules: hours from receipt)

Every problem is listed (key, value, what is allowed), as in config.py; the caller stops.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config_files import read_text

SECTIONS = ("authority_reports", "complaints")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULTS: dict[str, Any] = {
    "enabled": False, "timezone": "", "hourly_times": ["09:00", "17:00"], "weekly_day": "monday",
    "weekly_time": "09:00", "delay_min": 10.0, "supplied_flow_m3h": 0.5, "email_channel": "", "email_to": [],
    "http_url": "", "http_secret": "", "http_secret_env": "", "http_secret_file": "", "http_headers": {},
    "http_timeout_s": 30.0, "retry_base_s": 60.0, "retry_max_s": 3600.0, "poll_s": 30.0,
}
COMPLAINT_DEFAULTS: dict[str, Any] = {"answer_h": 24.0, "close_h": 72.0}
_RANGES: dict[str, tuple[str, float, float]] = {
    "delay_min": ("min", 0, 720), "supplied_flow_m3h": ("m3/h", 0, 10000), "http_timeout_s": ("s", 1, 600),
    "retry_base_s": ("s", 1, 86400), "retry_max_s": ("s", 1, 7 * 86400), "poll_s": ("s", 0.5, 3600),
    "answer_h": ("h", 0.1, 24 * 60), "close_h": ("h", 0.1, 24 * 365),
}
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def _number(section: str, key: str, value: Any, problems: list[str]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append("%s.%s=%r: must be a number" % (section, key, value))
        return None
    unit, low, high = _RANGES[key]
    if not low <= value <= high:
        problems.append("%s.%s=%r %s: must be in [%g, %g]" % (section, key, value, unit, low, high))
        return None
    return float(value)


def validate(raw: dict[str, Any], cfg: dict[str, Any], base_dir: str, problems: list[str],
             environ: dict[str, str] | None = None) -> None:
    """Check raw's two sections into cfg["authority_reports"] and cfg["complaints"] (defaults
    filled in, the HTTP secret resolved); needs cfg["refunds"] and cfg["notify"] already checked."""
    env = os.environ if environ is None else environ
    ar: dict[str, Any] = copy.deepcopy(DEFAULTS)
    cm: dict[str, Any] = dict(COMPLAINT_DEFAULTS)
    for section, target, defaults in (("authority_reports", ar, DEFAULTS), ("complaints", cm, COMPLAINT_DEFAULTS)):
        values = raw.get(section, {})
        if not isinstance(values, dict):
            problems.append("[%s]: must be a table" % section)
            continue
        for key, value in values.items():
            if key not in defaults:
                problems.append("%s.%s: unknown key; known: %s" % (section, key, ", ".join(defaults)))
                continue
            default = defaults[key]
            if key in _RANGES:
                number = _number(section, key, value, problems)
                if number is not None:
                    target[key] = number
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    problems.append("%s.%s=%r: must be true or false" % (section, key, value))
                else:
                    target[key] = value
            elif isinstance(default, list):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    problems.append("%s.%s=%r: must be a list of strings" % (section, key, value))
                else:
                    target[key] = list(value)
            elif isinstance(default, dict):
                if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                    problems.append("%s.%s=%r: must be a table of strings" % (section, key, value))
                else:
                    target[key] = dict(value)
            elif not isinstance(value, str):
                problems.append("%s.%s=%r: must be a string" % (section, key, value))
            else:
                target[key] = value
    _check_reports(ar, cfg, base_dir, env, problems)
    if cm["close_h"] < cm["answer_h"]:
        problems.append("complaints.close_h=%g h: must be at least complaints.answer_h=%g h" % (cm["close_h"],
                                                                                               cm["answer_h"]))
    cfg["authority_reports"], cfg["complaints"] = ar, cm


def _check_reports(ar: dict[str, Any], cfg: dict[str, Any], base_dir: str, env: Any, problems: list[str]) -> None:
    s = "authority_reports"
    ar["timezone"] = ar["timezone"] or cfg["refunds"]["timezone"]
    try:
        ZoneInfo(ar["timezone"])
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append("%s.timezone=%r: must be an IANA time zone name such as 'Asia/Shanghai'" % (s, ar["timezone"]))
    bad = [t for t in ar["hourly_times"] if not _TIME.match(t)]
    if bad or not ar["hourly_times"]:
        problems.append("%s.hourly_times=%r: must be one or more local times HH:MM (00:00-23:59)" % (s, ar["hourly_times"]))
    elif len(set(ar["hourly_times"])) != len(ar["hourly_times"]):
        problems.append("%s.hourly_times=%r: a time is given twice" % (s, ar["hourly_times"]))
    ar["hourly_times"] = sorted(ar["hourly_times"])
    if ar["weekly_day"] not in WEEKDAYS:
        problems.append("%s.weekly_day=%r: must be one of %s" % (s, ar["weekly_day"], ", ".join(WEEKDAYS)))
    if not _TIME.match(ar["weekly_time"]):
        problems.append("%s.weekly_time=%r: must be a local time HH:MM (00:00-23:59)" % (s, ar["weekly_time"]))
    if ar["retry_max_s"] < ar["retry_base_s"]:
        problems.append("%s.retry_max_s=%g s: must be at least retry_base_s=%g s" % (s, ar["retry_max_s"],
                                                                                   ar["retry_base_s"]))
    # e-mail: through a configured notify channel of kind email
    ar["email"] = None
    if ar["email_channel"]:
        found = [c for c in cfg["notify"]["channels"] if c["name"] == ar["email_channel"]]
        if not found or found[0]["kind"] != "email":
            emails = [c["name"] for c in cfg["notify"]["channels"] if c["kind"] == "email"]
            problems.append("%s.email_channel=%r: no [[notify.channel]] of kind \"email\" has this name; known: %s"
                            % (s, ar["email_channel"], ", ".join(emails) or "none"))
        else:
            ar["email"] = found[0]
        if not ar["email_to"]:
            problems.append("%s.email_to=[]: give the authority's address(es) when email_channel is set" % s)
    bad = [a for a in ar["email_to"] if not _EMAIL.match(a)]
    if bad:
        problems.append("%s.email_to: %s: not an e-mail address" % (s, ", ".join(repr(a) for a in bad)))
    if ar["email_to"] and not ar["email_channel"]:
        problems.append("%s.email_to is set but email_channel='' (which SMTP server sends it?)" % s)
    # HTTP push: signed like the notify webhook
    if ar["http_url"] and not re.match(r"^https?://[^/\s]+", ar["http_url"]):
        problems.append("%s.http_url=%r: must be an http(s) URL" % (s, ar["http_url"]))
    bad = [k for k in ar["http_headers"] if not _HEADER.match(k)
           or k.lower() in ("content-type", "content-length", "x-heatkeeper-signature", "x-heatkeeper-timestamp")]
    if bad:
        problems.append("%s.http_headers: %s: not a header name of A-Z a-z 0-9 - that heatkeeper does not set itself"
                        % (s, ", ".join(repr(k) for k in bad)))
    ar["http_secret"] = _secret(ar, base_dir, env, problems)
    if ar["http_url"] and not ar["http_secret"]:
        problems.append("%s.http_url is set: give http_secret, http_secret_env or http_secret_file (the push is "
                        "signed with HMAC-SHA256, as the notify webhook)" % s)
    if ar["enabled"] and not ar["email_channel"] and not ar["http_url"]:
        problems.append("%s.enabled=true: give email_channel + email_to and/or http_url (nowhere to deliver)" % s)
    ar["channels"] = [c for c, on in (("email", bool(ar["email_channel"])), ("http", bool(ar["http_url"]))) if on]


def _secret(ar: dict[str, Any], base_dir: str, env: Any, problems: list[str]) -> str:
    given = [k for k in ("http_secret", "http_secret_env", "http_secret_file") if ar[k]]
    if len(given) > 1:
        problems.append("authority_reports: %s: give only one of them" % ", ".join(given))
        return ""
    if ar["http_secret_env"]:
        try:
            value = env.get(ar["http_secret_env"], "")
        except (ValueError, UnicodeError):  # a lone surrogate or a NUL: no such variable can exist
            value = ""
        if not value:
            problems.append("authority_reports.http_secret_env=%r: the environment variable is not set"
                            % ar["http_secret_env"])
        return str(value)
    if ar["http_secret_file"]:
        path = ar["http_secret_file"]
        path = path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))
        text, reason = read_text(path)
        if text is not None:
            return text.strip()
        problems.append("authority_reports.http_secret_file=%r: cannot read (%s)" % (path, reason))
        return ""
    return str(ar["http_secret"])
