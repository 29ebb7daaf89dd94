"""Fixtures of the web tests: the real SupervisorService on a real SQLite file, with users of
every role, and the dashboard app served by aiohttp's test server on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import users
from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.web import create_app

COLLECTOR_TOKEN = "tok-collectors-0123456789abcdef"
C2_ONLY_TOKEN = "tok-c2-only-0123456789abcdef"
PASSWORDS = {"ada": ("admin", "admin-pass-1"), "oli": ("operator", "oper-pass-1"), "vic": ("viewer", "view-pass-1")}


def supervisor_config(tmp_path: Any) -> dict[str, Any]:
    return sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "storage": {"batch_interval_s": 0.05, "path": str(tmp_path / "sup.db")},
        "commands": {"timeout_s": 30.0},
        "station": [{"id": "st-a", "name": "Station A", "city": "Arxan"}, {"id": "st-b", "name": "Station B", "city": "Arxan"}],
        "collector": [{"id": "c1", "station": "st-a", "group": "top"}, {"id": "c2", "station": "st-a", "group": "edge"}],
    })


WEB_CONFIG = {"collector_tokens": {"vendor-x": {"token": COLLECTOR_TOKEN, "collectors": ["c*"]},
                                   "vendor-y": {"token": C2_ONLY_TOKEN, "collectors": ["c2"]}}, "refresh_s": 1.0}


@pytest.fixture
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt at N=2^14 instead of 2^17 (0.05 s instead of 0.4 s per hash): these tests create
    and log in users many times; test_units checks the production cost and the upgrade path."""
    monkeypatch.setattr(users, "SCRYPT_N", 2**14)


@pytest.fixture
async def service(tmp_path: Any, fast_kdf: None) -> AsyncIterator[SupervisorService]:
    cfg = supervisor_config(tmp_path)
    CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(["st-a", "st-b"])  # as `serve` does
    svc = SupervisorService(open_storage("sqlite", path=str(tmp_path / "sup.db")), cfg)
    await svc.start()
    for name, (role, password) in PASSWORDS.items():
        await svc.accounts.create_user(name, password, role)
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
async def client(service: SupervisorService) -> AsyncIterator[TestClient]:
    app = create_app(service, WEB_CONFIG)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


def app_of(client: TestClient) -> web.Application:
    """The application a test client serves (to adjust its throttle for a test)."""
    app = client.app
    assert app is not None
    return app


async def login(client: TestClient, username: str, password: str | None = None) -> str:
    """Log in through the real form; returns the session's CSRF token (from the page)."""
    if password is None:
        password = PASSWORDS[username][1]
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token is not None
    resp = await client.post("/login", data={"username": username, "password": password, "csrf": token.group(1),
                                             "next": "/"}, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    home = await client.get("/")
    assert home.status == 200
    csrf = re.search(r'"csrf":"([^"]+)"', await home.text())
    assert csrf is not None
    return csrf.group(1)
