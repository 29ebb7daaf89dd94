"""The audit log in words: each stored row's action and detail (written as text by the service,
the command tracker and the web layer, in every format they have ever used) read back into a
structured event that the page translates. Nothing is lost: an unrecognised row comes back as
event "other" with its text, and the stored row is never changed.

Events (`event`, then the fields it carries besides the row's own):
- "command": `stage` sent | refused | answer | timeout, `kind`, `command_id`, `args` (without
  lease_s), `lease_s`, and for refused/answer the `reason` code and the `detail` text.
- "login" (`limit`, `from` for a throttled attempt; `count` for a summary row), "logout",
  "change_password", "ack_alarm" (`code`), "create_user" (`target`, `role`), "update_user"
  (`target`, `role`, `password`, `disabled`), "delete_user" (`target`), "denied" (`request`),
  "daily_report" (`path` or `detail`).
- "notify" (the notifier's rows): `stage` queued | sent | failed | attempt | suppressed (with `kind`,
  `code`, `person`, `channel`; `attempt` and the channel's `detail` once tried), escalate (`code`,
  `minutes`, `person`), ack (`code`, `by`, `after_s`), ack_link (`code`, `person`).
"""

from __future__ import annotations

import ast
import re
from typing import Any

COMMAND_STAGES = {"command": "sent", "ack": "answer", "timeout": "timeout"}
_DICT = re.compile(r"\{.*\}", re.S)
_THROTTLED = re.compile(r"too many attempts \((?P<limit>\w+) limit\) from (?P<ip>\S+)")
_SUMMARY = re.compile(r"(?P<n>\d+) refused or failed logins")
# supervisor/notify/delivery.py and notifier.py, as they write them
_NOTIFY_MSG = re.compile(r"^(?P<kind>\w+) (?P<code>\S*) to (?P<person>\S+) via (?P<channel>\S+)"
                         r"(?: \(message \S+?(?:, attempt (?P<attempt>\d+))?\))?(?:: (?P<detail>.*))?$", re.S)
_NOTIFY_ESCALATE = re.compile(r"^(?P<code>\S+) unacknowledged for (?P<min>[\d.]+) min: to (?P<person>\S+)$")
_NOTIFY_ACK = re.compile(r"^(?P<code>\S+) acknowledged by (?P<by>\S+) after (?P<s>[\d.]+) s$")
_NOTIFY_LINK = re.compile(r"^(?P<code>\S+) by (?P<person>\S+) \(message \S+\)$")


def _args(text: str) -> tuple[dict[str, Any] | None, str]:
    """The first {...} of `text` read as a literal dict, and the text around it."""
    match = _DICT.search(text)
    if not match:
        return None, text
    try:
        value = ast.literal_eval(match.group(0))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, text
    if not isinstance(value, dict):
        return None, text
    rest = (text[:match.start()] + " " + text[match.end():]).strip()
    return {str(k): v for k, v in value.items()}, rest


def describe(row: dict[str, Any]) -> dict[str, Any]:
    """The structured event of one audit row ({ts, user, action, station_id, detail, result})."""
    action = str(row.get("action") or "")
    detail = str(row.get("detail") or "")
    result = str(row.get("result") or "")
    prefix, _, kind = action.partition(":")
    if kind and prefix in COMMAND_STAGES:
        return _command(prefix, kind, detail, result)
    if action == "login":
        throttled = _THROTTLED.search(detail)
        if throttled:
            return {"event": "login", "limit": throttled.group("limit"), "from": throttled.group("ip")}
        summary = _SUMMARY.match(detail)
        if summary:
            return {"event": "login", "count": int(summary.group("n"))}
        return {"event": "login"}
    if action in ("logout", "change_password"):
        return {"event": action}
    if action == "ack_alarm":
        return {"event": "ack_alarm", "code": detail.strip()}
    if action == "create_user":
        name, _, role = detail.partition(" as ")
        return {"event": "create_user", "target": name.strip(), "role": role.strip()}
    if action == "update_user":
        words = detail.split()
        out: dict[str, Any] = {"event": "update_user", "target": words[0] if words else ""}
        for word in words[1:]:
            if word.startswith("role="):
                out["role"] = word[5:]
            elif word == "password":
                out["password"] = True
            elif word in ("disabled", "enabled"):
                out["disabled"] = word == "disabled"
        return out
    if action == "delete_user":
        return {"event": "delete_user", "target": detail.strip()}
    if action == "denied":
        return {"event": "denied", "request": detail.partition(":")[0].strip()}
    if action == "daily_report":
        return {"event": "daily_report", "path": detail} if result == "ok" else {"event": "daily_report", "detail": detail}
    if action.startswith("notify_"):
        return _notify(action[7:], detail)
    return {"event": "other"}


def _notify(stage: str, detail: str) -> dict[str, Any]:
    """A notifier row in words; "other" when its text is not one the notifier writes."""
    if stage in ("queued", "sent", "failed", "attempt", "suppressed"):
        m = _NOTIFY_MSG.match(detail)
        if m:
            out: dict[str, Any] = {"event": "notify", "stage": stage, "kind": m.group("kind"), "code": m.group("code"),
                                   "person": m.group("person"), "channel": m.group("channel")}
            if m.group("attempt"):
                out["attempt"] = int(m.group("attempt"))
            if m.group("detail") is not None:
                out["detail"] = m.group("detail")
            return out
    elif stage == "escalate" and (m := _NOTIFY_ESCALATE.match(detail)):
        return {"event": "notify", "stage": stage, "code": m.group("code"), "minutes": float(m.group("min")),
                "person": m.group("person")}
    elif stage == "ack" and (m := _NOTIFY_ACK.match(detail)):
        return {"event": "notify", "stage": stage, "code": m.group("code"), "by": m.group("by"),
                "after_s": float(m.group("s"))}
    elif stage == "ack_link" and (m := _NOTIFY_LINK.match(detail)):
        return {"event": "notify", "stage": stage, "code": m.group("code"), "person": m.group("person")}
    return {"event": "other"}


def _command(prefix: str, kind: str, detail: str, result: str) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "command", "stage": COMMAND_STAGES[prefix], "kind": kind}
    if prefix == "command" and result.startswith("refused"):
        args, rest = _args(detail)
        out.update(stage="refused", reason=result.partition(":")[2], detail=rest)
    elif prefix == "ack":
        command_id, _, rest = detail.partition(" ")
        reason, _, text = rest.partition(" ")
        out.update(command_id=command_id, reason=reason, detail=text)
        return out
    elif prefix == "timeout":
        out["command_id"] = detail.strip()
        return out
    else:
        args, rest = _args(detail)
        if rest:
            out["command_id"] = rest.split()[0]
    if args is not None:
        out["lease_s"] = args.pop("lease_s", None)
        out["args"] = args
    return out
