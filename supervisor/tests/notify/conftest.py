"""Fixtures of the notification tests: real HTTP servers on loopback standing in for the robots,
the SMS gateway and the company's webhook (aiohttp test servers recording every request and
answering as the real service documents), and a supervisor config with people and a rota."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from heatkeeper.supervisor import channel_failures
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.channel_failures import ChannelFailures


@pytest.fixture(autouse=True)
def process_channels(monkeypatch: pytest.MonkeyPatch) -> ChannelFailures:
    """The process's failing channels (channel_failures.CHANNELS), fresh for each test: the
    notifier reports into it and the supervisor's alarm engine reads it, as in `serve`."""
    fresh = ChannelFailures()
    monkeypatch.setattr(channel_failures, "CHANNELS", fresh)
    return fresh


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """One loopback HTTP server: `answers` is what it replies next (a list consumed in order,
    then `default`); `seen` every request it got."""

    server: TestServer
    seen: list[Seen] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    default: tuple[int, Any] = (200, {"errcode": 0, "errmsg": "ok"})

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec: Receiver

    async def handle(request: web.Request) -> web.Response:
        rec.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers),
                             await request.read()))
        status, body = rec.answers.pop(0) if rec.answers else rec.default
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec = Receiver(server)
    try:
        yield rec
    finally:
        await server.close()


STATIONS = [{"id": "arxan-01", "name": "阿尔山 1 号站", "city": "Arxan"},
            {"id": "arxan-02", "name": "阿尔山 2 号站", "city": "Arxan"}]
# Monday 2 November 2026, 08:00 at UTC+8 = 00:00 UTC: the first shift's hand-over.
ROTA_START_TS = 1793577600.0


def notify_config(tmp_path: Any, hook_url: str, **notify: Any) -> dict[str, Any]:
    """A validated supervisor config: a webhook channel and an outbox, four people, one rota
    (two weekly shifts, leader, manager) over every station."""
    raw_notify = {
        "enabled": True, "base_url": "https://heat.example.cn", "escalate_min": {"critical": 5, "alarm": 10},
        "flap_window_s": 600, "dedup_s": 600, "retries": 2, "retry_base_s": 30, "digest_hour": 8,
        "channel": [{"name": "hook", "kind": "webhook", "url": hook_url, "secret": "hook-secret-1"},
                    {"name": "box", "kind": "outbox", "path": str(tmp_path / "outbox.jsonl")}],
        "person": [{"id": "zhang", "name": "张工", "phone": "13800000001", "channels": ["hook"]},
                   {"id": "li", "name": "李工", "language": "en", "channels": ["hook"]},
                   {"id": "wang", "name": "王班长", "channels": ["hook", "box"]},
                   {"id": "zhao", "name": "赵经理", "channels": ["box"]}],
        "rota": [{"area": "arxan", "stations": ["*"], "start": "2026-11-02", "handover": "08:00",
                  "shifts": [["zhang", "li"], ["li", "zhang"]], "leader": "wang", "manager": "zhao"}],
    }
    raw_notify.update(notify)
    return sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "storage": {"path": str(tmp_path / "sup.db")},
        "station": STATIONS,
        "notify": raw_notify,
    })


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s
