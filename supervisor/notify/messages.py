"""The texts of the notifications, in Chinese (default) or English per recipient.

Every message names the station, what happened (the alarm's name as the dashboard shows it),
since when (local time), the value against its limit when known, the priority, how often it
came and went, and links to the station page and to the acknowledgement page. Three shapes:
`subject` (a title line), `markdown` (robots, e-mail) and `text` (SMS: short, no markup).
"""

from __future__ import annotations

import time
from typing import Any

from heatkeeper.supervisor.web import i18n

_CATALOGUES: dict[str, dict[str, str]] | None = None

WORDS = {
    "zh": {"raise": "报警", "escalate": "升级", "clear": "已恢复", "digest": "每日汇总", "station": "站点",
           "what": "报警", "priority": "级别", "since": "开始", "value": "数值", "limit": "限值", "flaps": "反复出现",
           "times": "次", "detail": "详情", "page": "站点页面", "ack": "确认报警", "unacked": "未确认",
           "minutes": "分钟", "lasted": "持续", "cleared": "恢复时间", "acked_by": "已确认", "level": "通知第 {n} 人",
           "digest_intro": "过去 24 小时的低优先级报警 {n} 条：", "test": "测试消息",
           "site": "监控中心（本系统）"},
    "en": {"raise": "ALARM", "escalate": "ESCALATED", "clear": "CLEARED", "digest": "Daily digest",
           "station": "Station", "what": "Alarm", "priority": "Priority", "since": "Since", "value": "Value",
           "limit": "limit", "flaps": "Came and went", "times": "times", "detail": "Detail", "page": "Station page",
           "ack": "Acknowledge", "unacked": "unacknowledged", "minutes": "min", "lasted": "Lasted",
           "cleared": "Cleared", "acked_by": "Acknowledged by", "level": "escalation step {n}",
           "digest_intro": "{n} low-priority alarm(s) in the last 24 h:", "test": "Test message",
           "site": "Supervisor (this site)"},
}


def catalogue(lang: str) -> dict[str, str]:
    global _CATALOGUES
    if _CATALOGUES is None:
        _CATALOGUES = i18n.load_catalogues()
    return _CATALOGUES.get(lang) or _CATALOGUES[i18n.DEFAULT_LANG]


def alarm_name(code: str, lang: str) -> str:
    """The alarm's name as the dashboard shows it (its code when the catalogue has none)."""
    cat = catalogue(lang)
    if "alarm." + code in cat:
        return cat["alarm." + code]
    if code.startswith("sensor_") and "alarm.sensor" in cat:
        signal = code[len("sensor_"):]
        return cat["alarm.sensor"].replace("{name}", cat.get("field." + signal, signal))
    return code


def severity_name(severity: str, lang: str) -> str:
    return catalogue(lang).get("sev." + severity, severity)


def local_time(ts: float, utc_offset_h: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts + utc_offset_h * 3600.0))


def value_and_limit(value: Any, lim: Any) -> tuple[Any, Any]:
    """(value, limit) of an alarm's recorded value: a number, or {"value": .., "limit": ..}."""
    if isinstance(value, dict):
        return value.get("value"), value.get("limit", lim)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value, lim
    return None, lim


def _num(x: Any) -> str:
    return ("%.2f" % x).rstrip("0").rstrip(".") if isinstance(x, float) else str(x)


def render(kind: str, inc: dict[str, Any], station_name: str, lang: str, utc_offset_h: float, station_url: str,
           ack_url: str, now_ts: float, level: int = 0) -> dict[str, str]:
    """{subject, markdown, text} of one message about incident `inc` (kind: raise, escalate, clear)."""
    w = WORDS.get(lang, WORDS["zh"])
    sev = severity_name(inc["severity"], lang)
    name = alarm_name(inc["code"], lang)
    head = {"raise": w["raise"], "escalate": w["escalate"], "clear": w["clear"]}.get(kind, w["test"])
    subject = "[%s · %s] %s · %s" % (head, sev, station_name, name)
    rows = [(w["station"], "%s (%s)" % (station_name, inc["station_id"])), (w["what"], name), (w["priority"], sev),
            (w["since"], local_time(inc["since_ts"], utc_offset_h))]
    value, lim = value_and_limit(inc.get("value"), inc.get("lim"))
    if value is not None:
        rows.append((w["value"], _num(value) + (" (%s %s)" % (w["limit"], _num(lim)) if lim is not None else "")))
    if inc.get("flaps"):
        rows.append((w["flaps"], "%d %s" % (inc["flaps"] + 1, w["times"])))
    if kind == "escalate":
        rows.append((w["unacked"], "%d %s · %s" % ((now_ts - inc["since_ts"]) // 60, w["minutes"],
                                                   w["level"].replace("{n}", str(level + 1)))))
    if kind == "clear" and inc.get("cleared_ts"):
        rows.append((w["cleared"], local_time(inc["cleared_ts"], utc_offset_h)))
        rows.append((w["lasted"], "%d %s" % ((inc["cleared_ts"] - inc["since_ts"]) // 60, w["minutes"])))
    if inc.get("acked_by"):
        rows.append((w["acked_by"], str(inc["acked_by"])))
    if inc.get("text"):
        rows.append((w["detail"], str(inc["text"])[:200]))
    md = ["**%s**" % subject, ""] + ["- %s: %s" % r for r in rows] + ["", "[%s](%s)" % (w["page"], station_url)]
    text = "%s; %s %s" % (subject, w["since"], local_time(inc["since_ts"], utc_offset_h))
    if value is not None:
        text += "; %s %s" % (w["value"], _num(value)) + (" (%s %s)" % (w["limit"], _num(lim)) if lim is not None else "")
    if inc.get("flaps"):
        text += "; %s %d %s" % (w["flaps"], inc["flaps"] + 1, w["times"])
    if ack_url and kind != "clear":
        md.append("[%s](%s)" % (w["ack"], ack_url))
        text += " %s: %s" % (w["ack"], ack_url)
    else:
        text += " %s" % station_url
    return {"subject": subject, "markdown": "\n".join(md), "text": text}


def render_digest(items: list[dict[str, Any]], names: dict[str, str], lang: str, utc_offset_h: float,
                  base_url: str) -> dict[str, str]:
    """One message listing the low-priority incidents of the last day."""
    w = WORDS.get(lang, WORDS["zh"])
    subject = "[%s] %s" % (w["digest"], w["digest_intro"].replace("{n}", str(len(items))))
    lines = []
    for inc in items:
        count = " ×%d" % (inc["flaps"] + 1) if inc.get("flaps") else ""
        lines.append("%s %s · %s%s" % (local_time(inc["since_ts"], utc_offset_h),
                                       names.get(inc["station_id"], inc["station_id"]),
                                       alarm_name(inc["code"], lang), count))
    md = "**%s**\n\n" % subject + "\n".join("- " + line for line in lines) + "\n\n%s/alarms" % base_url
    return {"subject": subject, "markdown": md, "text": subject + " " + "; ".join(lines[:5])}
