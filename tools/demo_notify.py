"""The demo's notification set-up: a rota of demo people who are told through a local outbox
(a JSON-lines file; the demo needs no network), and, with `heatkeeper demo --notify-webhook
URL`, through the generic JSON webhook as well (every notification POSTed to URL, signed with
the secret in <data_dir>/notify-webhook.secret, made fresh for each run)."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli_w


def url_problems(url: str) -> list[str]:
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.netloc):
        return ["--notify-webhook=%r: must be an http:// or https:// URL" % url]
    return []


def notify_toml(data_dir: Path, web_port: int, webhook_url: str) -> str:
    """The [notify] section of the demo supervisor's config (TOML text)."""
    channels: list[dict[str, Any]] = [{"name": "outbox", "kind": "outbox", "path": str(data_dir / "notify-outbox.jsonl")}]
    mine = ["outbox"]
    if webhook_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        secret_file = data_dir / "notify-webhook.secret"
        secret_file.write_text(secrets.token_hex(16) + "\n", encoding="utf-8")
        secret_file.chmod(0o600)
        channels.append({"name": "webhook", "kind": "webhook", "url": webhook_url, "secret_file": str(secret_file)})
        mine.append("webhook")
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    section = {
        "enabled": True, "base_url": "http://127.0.0.1:%d" % web_port, "poll_s": 2.0,
        "escalate_min": {"critical": 5, "major": 10, "alarm": 10, "warning": 30}, "channel": channels,
        "person": [{"id": "duty-zhang", "name": "张工 (值班)", "phone": "13800000001", "channels": mine},
                   {"id": "duty-li", "name": "Li (standby)", "language": "en", "channels": mine},
                   {"id": "lead-wang", "name": "王班长", "channels": mine},
                   {"id": "mgr-zhao", "name": "赵经理", "channels": mine}],
        "rota": [{"area": "demo", "stations": ["*"], "start": monday.isoformat(), "handover": "08:00",
                  "shifts": [["duty-zhang", "duty-li"], ["duty-li", "duty-zhang"]], "leader": "lead-wang",
                  "manager": "mgr-zhao"}],
    }
    return tomli_w.dumps({"notify": section})
