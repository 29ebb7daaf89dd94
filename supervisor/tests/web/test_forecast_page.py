"""The forecast state on the dashboard: GET /api/forecast and the fleet page's section show each
city's last good forecast and a failing source with its error (English and Chinese)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.tests.test_forecast import NOW, open_meteo
from heatkeeper.supervisor.web import create_app

from .conftest import PASSWORDS, WEB_CONFIG, login


async def test_forecast_state_on_api_and_fleet_page(tmp_path: Any, fast_kdf: None) -> None:
    good, broken = tmp_path / "arxan.json", tmp_path / "hailar.json"
    good.write_text(json.dumps(open_meteo()))
    broken.write_text("<html>bad gateway</html>")
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "storage": {"path": str(tmp_path / "sup.db")},
        "forecast": {"retries": 0, "cities": {"Arxan": str(good), "Hailar": str(broken)}},
        "station": [{"id": "st-a", "city": "Arxan"}, {"id": "st-h", "city": "Hailar"}],
    })
    svc = SupervisorService(open_storage("sqlite", path=str(tmp_path / "sup.db")), cfg, wall_clock=lambda: NOW)
    await svc.start()
    try:
        for name, (role, password) in PASSWORDS.items():
            await svc.accounts.create_user(name, password, role)
        assert await svc.forecast.refresh_city("Arxan", None) is True
        assert await svc.forecast.refresh_city("Hailar", None) is False
        async with TestClient(TestServer(create_app(svc, WEB_CONFIG), host="127.0.0.1")) as client:
            assert (await client.get("/api/forecast")).status == 401
            csrf = await login(client, "vic")
            body = await (await client.get("/api/forecast")).json()
            cities = {c["city"]: c for c in body["cities"]}
            assert cities["Arxan"]["ok"] and cities["Arxan"]["points"] == 66
            assert not cities["Hailar"]["ok"] and cities["Hailar"]["error"].startswith("not JSON")
            for lang, title, failing in (("en", "Weather forecasts", "Failing (1 attempts)"),
                                         ("zh", "天气预报", "获取失败（1 次）")):
                resp = await client.post("/api/me/lang", json={"lang": lang}, headers={"X-CSRF-Token": csrf})
                assert resp.status == 200, await resp.text()
                page = await (await client.get("/")).text()
                section = page.split('id="forecasts"')[1]
                assert title in page and failing in section and "not JSON" in section
                assert "<html>" not in section  # the source's answer is never put into the page
    finally:
        await svc.stop()
