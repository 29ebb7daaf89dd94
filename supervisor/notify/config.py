"""The `[notify]` part of the supervisor config: settings, channels, people and rotas.

    [notify]   enabled=false  base_url="http://127.0.0.1:8080"  language="zh"  poll_s=5
               ack_ttl_h=24  ack_key_file=""  rate_per_min=20  dedup_s=600  flap_window_s=900
               retries=5  retry_base_s=10  digest_hour=8  digest_severities=["info"]
               escalate_min={critical=5, major=15, alarm=15, warning=60}   (minutes; others: no escalation)
    [[notify.channel]] name kind="wecom"|"dingtalk"|"feishu"|"email"|"sms"|"webhook"|"outbox"
               url url_env secret secret_env secret_file timeout_s     (robots, sms, webhook)
               host port tls="starttls"|"implicit"|"none" tls_ca username password password_env
               password_file sender                                     (email)
               preset="custom"|"aliyun"|"tencent" method headers body params     (sms: custom)
               key_id key_id_env key_id_file sign_name template_code template_params
               sdk_app_id region="ap-guangzhou"   (sms: aliyun / tencent, signed; see sms.py)
               path                                                     (outbox: a JSON-lines file)
    [[notify.person]]  id name phone email wecom dingtalk feishu language="zh"|"en" channels=[...]
    [[notify.rota]]    area stations=["arxan-01", ...] or ["*"]  start="2026-11-02" handover="08:00"
                       shifts=[["zhang", "li"], ["li", "zhang"]]  leader="wang"  manager="zhao"

Secrets never need to be in the file: every secret has an `_env` (environment variable) and a
`_file` form. A rota's shifts are weekly: shift k runs from `start` + k weeks at the hand-over
time (local, supervisor.utc_offset_h) for a week, cycling; its first person is on call, the
others are next in line; then the leader, then the manager. Every problem is listed (key, value,
what is allowed), as in supervisor/config.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from typing import Any

from ..config_files import read_text
from ..config_tables import unique_tables

KINDS = ("wecom", "dingtalk", "feishu", "email", "sms", "webhook", "outbox")
# The stations' severities (core.alarms) and the supervisor's own, lowest first.
SEVERITIES = ("info", "minor", "warning", "major", "alarm", "critical")
LANGS = ("zh", "en")

DEFAULTS: dict[str, Any] = {
    "enabled": False, "base_url": "http://127.0.0.1:8080", "language": "zh", "poll_s": 5.0, "ack_ttl_h": 24.0,
    "ack_key_file": "", "rate_per_min": 20, "dedup_s": 600.0, "flap_window_s": 900.0, "retries": 5,
    "retry_base_s": 10.0, "digest_hour": 8, "digest_severities": ["info"],
    "escalate_min": {"critical": 5.0, "major": 15.0, "alarm": 15.0, "warning": 60.0},
}
_RANGES: dict[str, tuple[str, float, float]] = {
    "poll_s": ("s", 0.2, 600), "ack_ttl_h": ("h", 0.1, 24 * 14), "rate_per_min": ("messages", 1, 10000),
    "dedup_s": ("s", 0, 86400), "flap_window_s": ("s", 0, 86400), "retries": ("", 0, 20),
    "retry_base_s": ("s", 0.01, 3600), "digest_hour": ("h", 0, 23),
}
CHANNEL_KEYS: dict[str, tuple[str, ...]] = {
    "wecom": ("url", "url_env", "timeout_s"),
    "dingtalk": ("url", "url_env", "secret", "secret_env", "secret_file", "timeout_s"),
    "feishu": ("url", "url_env", "secret", "secret_env", "secret_file", "timeout_s"),
    "webhook": ("url", "url_env", "secret", "secret_env", "secret_file", "timeout_s"),
    "sms": ("preset", "url", "url_env", "method", "headers", "body", "params", "secret", "secret_env", "secret_file",
            "timeout_s", "key_id", "key_id_env", "key_id_file", "sign_name", "template_code", "template_params",
            "sdk_app_id", "region"),
    "email": ("host", "port", "tls", "tls_ca", "username", "password", "password_env", "password_file", "sender",
              "timeout_s"),
    "outbox": ("path",),
}
PERSON_KEYS = ("id", "name", "phone", "email", "wecom", "dingtalk", "feishu", "language", "channels")
ROTA_KEYS = ("area", "stations", "start", "handover", "shifts", "leader", "manager")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _valid_id(value: str) -> bool:
    return bool(_ID.match(value))


def validate(raw: Any, stations: list[str], base_dir: str, data_dir: str, problems: list[str],
             environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The notify config (defaults filled in, secrets resolved into `channels[i]["secret"]` /
    `["password"]` / `["url"]`), with each problem appended to `problems`."""
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = copy.deepcopy(DEFAULTS)
    cfg.update(channels=[], people={}, rotas=[])
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append("[notify]: must be a table")
        return cfg
    for key, value in raw.items():
        if key in ("channel", "person", "rota"):
            continue
        if key not in DEFAULTS:
            problems.append("notify.%s: unknown key; known: %s, [[notify.channel]], [[notify.person]], "
                            "[[notify.rota]]" % (key, ", ".join(DEFAULTS)))
            continue
        default = DEFAULTS[key]
        if key == "escalate_min":
            cfg[key] = _escalation(value, problems)
            continue
        if key == "digest_severities":
            if not isinstance(value, list) or any(v not in SEVERITIES for v in value):
                problems.append("notify.digest_severities=%r: must be a list of %s" % (value, ", ".join(SEVERITIES)))
            else:
                cfg[key] = list(value)
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            problems.append("notify.%s=%r: must be %s" % (key, value, type(default).__name__))
            continue
        rng = _RANGES.get(key)
        if rng is not None and not rng[1] <= value <= rng[2]:
            problems.append("notify.%s=%r %s: must be in [%g, %g]" % (key, value, rng[0], rng[1], rng[2]))
            continue
        cfg[key] = value
    if cfg["language"] not in LANGS:
        problems.append("notify.language=%r: must be one of %s" % (cfg["language"], ", ".join(LANGS)))
    if not re.match(r"^https?://[^/\s]+", cfg["base_url"]):
        problems.append("notify.base_url=%r: must be the dashboard's http(s) address as the on-call phones reach it"
                        % cfg["base_url"])
    cfg["base_url"] = cfg["base_url"].rstrip("/")
    cfg["ack_key_file"] = _resolve(cfg["ack_key_file"], base_dir) or os.path.join(data_dir, "notify-ack.key")
    cfg["channels"] = _channels(raw.get("channel", []), base_dir, data_dir, env, problems)
    names = {c["name"] for c in cfg["channels"]}
    cfg["people"] = _people(raw.get("person", []), names, problems)
    cfg["rotas"] = _rotas(raw.get("rota", []), set(stations), set(cfg["people"]), problems)
    if cfg["enabled"] and not cfg["rotas"]:
        problems.append("notify.enabled=true: needs at least one [[notify.rota]] (nobody would be told)")
    return cfg


def _resolve(path: str, base_dir: str) -> str:
    return path if not path or os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def _escalation(value: Any, problems: list[str]) -> dict[str, float]:
    if not isinstance(value, dict):
        problems.append("notify.escalate_min=%r: must be a table {severity = minutes}" % (value,))
        return dict(DEFAULTS["escalate_min"])
    out: dict[str, float] = {}
    for sev, minutes in value.items():
        if sev not in SEVERITIES:
            problems.append("notify.escalate_min.%s: unknown severity; known: %s" % (sev, ", ".join(SEVERITIES)))
        elif isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0.5 <= minutes <= 1440:
            problems.append("notify.escalate_min.%s=%r min: must be in [0.5, 1440]" % (sev, minutes))
        else:
            out[sev] = float(minutes)
    return out


def _secret(item: dict[str, Any], where: str, key: str, base_dir: str, env: Any, problems: list[str]) -> str:
    """`key`, else the environment variable named by `key_env`, else the file `key_file`; "" if none."""
    if item.get(key):
        return str(item[key])
    name = item.get(key + "_env")
    if name:
        if not isinstance(name, str) or name not in env:
            problems.append("%s.%s_env=%r: no such environment variable" % (where, key, name))
            return ""
        return str(env[name])
    path = item.get(key + "_file")
    if path:
        full = _resolve(str(path), base_dir)
        text, reason = read_text(full)
        if text is not None:
            return text.strip()
        problems.append("%s.%s_file=%r: cannot read (%s)" % (where, key, full, reason))
    return ""


def _channels(items: Any, base_dir: str, data_dir: str, env: Any, problems: list[str]) -> list[dict[str, Any]]:
    from .sms import PRESETS

    out: list[dict[str, Any]] = []
    for _i, name, item in unique_tables(items, "notify.channel", "name", _valid_id, "1-64 of A-Z a-z 0-9 _ . -",
                                        problems):
        kind = item.get("kind")
        where = "notify.channel %r" % name
        if kind not in KINDS:
            problems.append("%s.kind=%r: must be one of %s" % (where, kind, ", ".join(KINDS)))
            continue
        allowed = ("name", "kind") + CHANNEL_KEYS[kind]
        for key in sorted(set(item) - set(allowed)):
            problems.append("%s.%s: unknown key for kind %s; known: %s" % (where, key, kind, ", ".join(allowed)))
        ch: dict[str, Any] = {"name": name, "kind": kind, "timeout_s": 10.0}
        timeout = item.get("timeout_s", 10.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.1 <= timeout <= 120:
            problems.append("%s.timeout_s=%r s: must be in [0.1, 120]" % (where, timeout))
        else:
            ch["timeout_s"] = float(timeout)
        if kind in ("wecom", "dingtalk", "feishu", "webhook", "sms"):
            ch["url"] = _secret(item, where, "url", base_dir, env, problems)
            preset = item.get("preset", "custom") if kind == "sms" else None
            if kind == "sms" and preset not in PRESETS:
                problems.append("%s.preset=%r: must be one of %s" % (where, preset, ", ".join(PRESETS)))
                continue
            if not ch["url"] and not (kind == "sms" and PRESETS[str(preset)].get("url")):
                problems.append("%s: needs url (or url_env: it carries the robot's key)" % where)
            elif ch["url"] and not re.match(r"^https?://", ch["url"]):
                problems.append("%s.url: must start with http:// or https://" % where)
            ch["secret"] = _secret(item, where, "secret", base_dir, env, problems)
            if kind == "webhook" and not ch["secret"]:
                problems.append("%s: needs secret (or secret_env / secret_file): the receiver checks the signature"
                                % where)
            if kind == "sms":
                ch.update(_sms(item, str(preset), where, problems))
                if PRESETS[str(preset)].get("signed"):
                    ch.update(_sms_signed(item, ch, str(preset), where, base_dir, env, problems))
        elif kind == "email":
            ch.update(_email(item, where, base_dir, env, problems))
        else:
            ch["path"] = _resolve(str(item.get("path") or ""), base_dir) or os.path.join(data_dir, "notify-outbox.jsonl")
        out.append(ch)
    return out


def _sms(item: dict[str, Any], preset: str, where: str, problems: list[str]) -> dict[str, Any]:
    from .sms import PRESETS

    base = copy.deepcopy(PRESETS[preset])
    out: dict[str, Any] = {"preset": preset, "method": item.get("method", base.get("method", "POST")),
                           "body": item.get("body", base.get("body", ""))}
    for key in ("headers", "params"):  # the config's own entries over the preset's
        own = item.get(key, {})
        out[key] = {**base.get(key, {}), **own} if isinstance(own, dict) else own
    if out["method"] not in ("GET", "POST"):
        problems.append("%s.method=%r: must be GET or POST" % (where, out["method"]))
    for key in ("headers", "params"):
        if not isinstance(out[key], dict) or not all(isinstance(v, str) for v in out[key].values()):
            problems.append("%s.%s: must be a table of text values" % (where, key))
            out[key] = {}
    if not isinstance(out["body"], str):
        problems.append("%s.body: must be text (a template with {phone}, {text}, ...)" % where)
        out["body"] = ""
    if not item.get("url") and not item.get("url_env"):
        out["url"] = base.get("url", "")
    if not base.get("signed"):
        for key in _SMS_SIGNED_KEYS:
            if key in item:
                problems.append("%s.%s: only for the signed presets (aliyun, tencent), not %s" % (where, key, preset))
    return out


_SMS_SIGNED_KEYS = ("key_id", "key_id_env", "key_id_file", "sign_name", "template_code", "template_params",
                    "sdk_app_id", "region")


def _sms_signed(item: dict[str, Any], ch: dict[str, Any], preset: str, where: str, base_dir: str, env: Any,
                problems: list[str]) -> dict[str, Any]:
    """The aliyun / tencent presets: the AccessKey (key_id + secret), the console's signature
    name and template, and for tencent the SmsSdkAppId and region; the request itself is fixed."""
    from .sms import TEMPLATE_PARAMS

    for key in ("method", "headers", "body", "params"):
        if key in item:
            problems.append("%s.%s: not used by preset %s (the request is the vendor's SendSms, signed); "
                            "use preset = \"custom\" for a gateway" % (where, key, preset))
    out: dict[str, Any] = {"key_id": _secret(item, where, "key_id", base_dir, env, problems)}
    vendor = {"aliyun": "the AccessKey ID", "tencent": "the SecretId"}[preset]
    if not out["key_id"] and not item.get("key_id_env") and not item.get("key_id_file"):
        problems.append("%s: needs key_id (or key_id_env / key_id_file): %s of the API key" % (where, vendor))
    if not ch["secret"] and not item.get("secret_env") and not item.get("secret_file"):
        problems.append("%s: needs secret (or secret_env / secret_file): %s that signs each request"
                        % (where, {"aliyun": "the AccessKey Secret", "tencent": "the SecretKey"}[preset]))
    for key, what in (("sign_name", "the approved SMS signature (签名名称)"),
                      ("template_code", "the approved template's %s" % ("code, e.g. SMS_123456789"
                                                                        if preset == "aliyun" else "ID"))):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append("%s.%s=%r: must be %s" % (where, key, value, what))
            value = ""
        out[key] = str(value).strip()
    names = item.get("template_params", list(TEMPLATE_PARAMS))
    if (not isinstance(names, list) or not names or len(set(names)) != len(names)
            or not all(n in TEMPLATE_PARAMS for n in names)):
        problems.append("%s.template_params=%r: must be a list of distinct names from %s"
                        % (where, names, ", ".join(TEMPLATE_PARAMS)))
        names = list(TEMPLATE_PARAMS)
    out["template_params"] = [str(n) for n in names]
    if preset == "tencent":
        app = item.get("sdk_app_id")
        if isinstance(app, bool) or not isinstance(app, (str, int)) or not str(app).strip().isdigit():
            problems.append("%s.sdk_app_id=%r: must be the SMS application's SdkAppId (digits, e.g. 1400006666)"
                            % (where, app))
            app = ""
        out["sdk_app_id"] = str(app).strip()
        region = item.get("region", "ap-guangzhou")
        if not isinstance(region, str) or not re.match(r"^[a-z]+(-[a-z]+)+$", region):
            problems.append("%s.region=%r: must be a Tencent Cloud region such as ap-guangzhou" % (where, region))
            region = "ap-guangzhou"
        out["region"] = region
    else:
        for key in ("sdk_app_id", "region"):
            if key in item:
                problems.append("%s.%s: only for preset tencent" % (where, key))
    return out


def _email(item: dict[str, Any], where: str, base_dir: str, env: Any, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"host": item.get("host"), "tls": item.get("tls", "starttls"),
                           "tls_ca": _resolve(str(item.get("tls_ca") or ""), base_dir),
                           "username": str(item.get("username") or ""), "sender": item.get("sender")}
    if not isinstance(out["host"], str) or not out["host"]:
        problems.append("%s.host=%r: must name the SMTP server" % (where, out["host"]))
    if out["tls"] not in ("starttls", "implicit", "none"):
        problems.append("%s.tls=%r: must be starttls, implicit or none" % (where, out["tls"]))
    port = item.get("port", 465 if out["tls"] == "implicit" else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append("%s.port=%r: must be in [1, 65535]" % (where, port))
    out["port"] = port
    if out["tls_ca"] and not os.path.isfile(out["tls_ca"]):
        problems.append("%s.tls_ca=%r: file not found" % (where, out["tls_ca"]))
    if not isinstance(out["sender"], str) or "@" not in out["sender"]:
        problems.append("%s.sender=%r: must be an e-mail address" % (where, out["sender"]))
    out["password"] = _secret(item, where, "password", base_dir, env, problems)
    return out


def _people(items: Any, channels: set[str], problems: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for _i, pid, item in unique_tables(items, "notify.person", "id", _valid_id, "1-64 of A-Z a-z 0-9 _ . -",
                                       problems):
        where = "notify.person %r" % pid
        for key in sorted(set(item) - set(PERSON_KEYS)):
            problems.append("%s.%s: unknown key; known: %s" % (where, key, ", ".join(PERSON_KEYS)))
        person = {"id": pid, "name": str(item.get("name", pid)), "language": item.get("language", "")}
        for key in ("phone", "email", "wecom", "dingtalk", "feishu"):
            person[key] = str(item.get(key, ""))
        if person["language"] and person["language"] not in LANGS:
            problems.append("%s.language=%r: must be one of %s" % (where, person["language"], ", ".join(LANGS)))
        if person["phone"] and not re.match(r"^\+?[0-9]{5,20}$", person["phone"]):
            problems.append("%s.phone=%r: must be digits (with an optional leading +)" % (where, person["phone"]))
        chans = item.get("channels", [])
        if not isinstance(chans, list) or not chans:
            problems.append("%s.channels=%r: must list at least one [[notify.channel]] name" % (where, chans))
            chans = []
        for name in chans:
            if name not in channels:
                problems.append("%s.channels: %r is no [[notify.channel]]" % (where, name))
        person["channels"] = [c for c in chans if c in channels]
        out[pid] = person
    return out


def _rotas(items: Any, stations: set[str], people: set[str], problems: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(items, list):
        problems.append("[[notify.rota]]: must be an array of tables")
        return out
    claimed: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append("notify.rota[%d]: must be a table" % i)
            continue
        area = item.get("area")
        if not isinstance(area, str) or not area:
            problems.append("notify.rota[%d].area=%r: must name the area" % (i, area))
            continue
        where = "notify.rota %r" % area
        for key in sorted(set(item) - set(ROTA_KEYS)):
            problems.append("%s.%s: unknown key; known: %s" % (where, key, ", ".join(ROTA_KEYS)))
        rota: dict[str, Any] = {"area": area, "stations": item.get("stations", ["*"]), "leader": item.get("leader", ""),
                                "manager": item.get("manager", ""), "shifts": item.get("shifts")}
        if not isinstance(rota["stations"], list) or not rota["stations"]:
            problems.append("%s.stations=%r: must list station ids (or \"*\" for every other station)"
                            % (where, rota["stations"]))
            rota["stations"] = []
        for sid in rota["stations"]:
            if sid != "*" and sid not in stations:
                problems.append("%s.stations: %r is no [[station]]" % (where, sid))
            elif sid in claimed:
                problems.append("%s.stations: %r is already in rota %r" % (where, sid, claimed[sid]))
            else:
                claimed[sid] = area
        try:
            start = dt.date.fromisoformat(str(item.get("start", "2026-01-05")))
        except ValueError:
            problems.append("%s.start=%r: must be a date YYYY-MM-DD (the first shift's first day)"
                            % (where, item.get("start")))
            start = dt.date(2026, 1, 5)
        rota["start"] = start.isoformat()
        handover = str(item.get("handover", "08:00"))
        m = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", handover)
        if not m:
            problems.append("%s.handover=%r: must be HH:MM (local time)" % (where, handover))
            rota["handover_min"] = 480
        else:
            rota["handover_min"] = int(m.group(1)) * 60 + int(m.group(2))
        shifts = rota["shifts"]
        if (not isinstance(shifts, list) or not shifts
                or not all(isinstance(s, list) and s and all(isinstance(p, str) for p in s) for s in shifts)):
            problems.append("%s.shifts=%r: must be a list of weekly shifts, each a list of person ids (first: on call)"
                            % (where, shifts))
            rota["shifts"] = [[]]
        else:
            for shift in shifts:
                for pid in shift:
                    if pid not in people:
                        problems.append("%s.shifts: %r is no [[notify.person]]" % (where, pid))
        for key in ("leader", "manager"):
            if rota[key] and rota[key] not in people:
                problems.append("%s.%s=%r: is no [[notify.person]]" % (where, key, rota[key]))
        out.append(rota)
    return out
