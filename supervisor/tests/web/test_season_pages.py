"""The heating-season pages through the dashboard's routes: the cities' calendars with their
versions and extensions, each station's version, an extension by an admin (refusals list every
problem; others may not), a season start-up scheduled by an operator and its progress page,
both languages."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.web.app import create_app
from heatkeeper.supervisor.web.season import parse_local

from .conftest import PASSWORDS, WEB_CONFIG, login

TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def month_day(day: dt.date) -> str:
    return (day + dt.timedelta(days=1) if (day.month, day.day) == (2, 29) else day).strftime("%m-%d")


def season_config(tmp_path: Any) -> dict[str, Any]:
    return sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "storage": {"batch_interval_s": 0.05, "path": str(tmp_path / "sup.db")},
        "season": {"cities": {"Arxan": {"start": month_day(TODAY - dt.timedelta(days=10)),
                                        "end": month_day(TODAY + dt.timedelta(days=10)), "preheat_h": 48}}},
        "station": [{"id": "st-a", "name": "Station A", "city": "Arxan", "class": "tower"},
                    {"id": "st-b", "name": "Station B", "city": "Arxan"}, {"id": "st-h", "city": "Hailar"}],
    })


@pytest.fixture
async def season_service(tmp_path: Any, fast_kdf: None) -> AsyncIterator[SupervisorService]:
    cfg = season_config(tmp_path)
    CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(["st-a", "st-b", "st-h"])
    svc = SupervisorService(open_storage("sqlite", path=str(tmp_path / "sup.db")), cfg)
    await svc.start()
    for name, (role, password) in PASSWORDS.items():
        await svc.accounts.create_user(name, password, role)
    await svc.season.load()
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
async def season_client(season_service: SupervisorService) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(season_service, WEB_CONFIG), host="127.0.0.1")) as c:
        yield c


async def test_calendars_stations_and_extension(season_client: TestClient, season_service: SupervisorService) -> None:
    svc = season_service
    topic, payload = codec.encode_uplink("st-a", 1, codec.UP_TELEMETRY, time.time(),
                                         {"values": {"mode": 3, "season_version": 1, "in_season": 1}})
    svc.ingest.handle(codec.status_topic("st-a"), codec.STATUS_ONLINE.encode())
    assert svc.ingest.handle(topic, payload) == "queued"
    await svc.ingest.flush()
    csrf = await login(season_client, "vic")
    page = await (await season_client.get("/season")).text()
    assert 'data-city="Arxan" data-version="1"' in page and "Hailar" not in page.split("sn-startups")[0]
    assert 'data-station="st-a" data-current="yes"' in page and 'data-station="st-b" data-current="no"' in page
    assert "sn-extend" not in page and "sn-schedule" not in page, "a viewer only looks"
    cal = (json.loads(await (await season_client.get("/api/season")).text()))[0]
    assert cal["calendar"]["version"] == 1 and cal["in_season"] and cal["stations"][0]["season_version"] == 1
    legal = dt.date.fromisoformat(cal["calendar"]["legal_last_day"])
    resp = await season_client.post("/season/Arxan/extend", data={"csrf": csrf, "end": "2099-01-01", "reason": "x"},
                                    allow_redirects=False)
    assert resp.status == 403
    await season_client.post("/logout", data={"csrf": csrf})
    csrf = await login(season_client, "ada")
    resp = await season_client.post("/season/Arxan/extend", data={"csrf": csrf, "end": str(legal), "reason": ""})
    text = await resp.text()
    assert resp.status == 400 and "must be after the legal last day" in text and "reason: must be text" in text
    new_last = legal + dt.timedelta(days=9)
    resp = await season_client.post("/season/Arxan/extend", allow_redirects=False,
                                    data={"csrf": csrf, "end": new_last.isoformat(), "reason": "寒潮 cold wave"})
    assert resp.status == 303, await resp.text()
    page = await (await season_client.get("/season")).text()
    assert 'data-city="Arxan" data-version="2"' in page and "寒潮 cold wave" in page and new_last.isoformat() in page
    assert 'data-station="st-a" data-current="no"' in page
    await season_client.get("/lang/zh")
    page = await (await season_client.get("/season")).text()
    assert "延长供暖季" in page and "法定末日" in page


async def test_startup_scheduled_by_an_operator_and_its_progress(season_client: TestClient,
                                                                  season_service: SupervisorService) -> None:
    csrf = await login(season_client, "oli")
    page = await (await season_client.get("/season")).text()
    assert "sn-schedule" in page and "sn-extend" not in page
    resp = await season_client.post("/season/startups", data={"csrf": csrf, "stations": "st-x", "city": "",
                                                              "class": "", "at": "tomorrow"})
    assert resp.status == 400 and "must be a date and time" in await resp.text()
    resp = await season_client.post("/season/startups", data={"csrf": csrf, "stations": "st-x", "city": "",
                                                              "class": "", "at": "2020-01-01T08:00"})
    text = await resp.text()
    assert resp.status == 400 and "station &#39;st-x&#39;: not configured" in text and "in the past" in text
    at = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 8 * 3600 + 7200))  # the site is UTC+8
    resp = await season_client.post("/season/startups", allow_redirects=False,
                                    data={"csrf": csrf, "stations": "st-h", "city": "", "class": "tower", "at": at})
    assert resp.status == 303, await resp.text()
    where = resp.headers["Location"]
    page = await (await season_client.get(where)).text()
    assert 'id="sn-startup" data-state="scheduled"' in page
    assert 'data-station="st-h" data-step="scheduled"' in page and 'data-station="st-a" data-step="scheduled"' in page
    item = json.loads(await (await season_client.get("/api" + where)).text())
    assert item["stations"] == ["st-h", "st-a"] and abs(item["fire_s"] - parse_local(at, 8.0)) < 1
    resp = await season_client.post(where + "/cancel", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    page = await (await season_client.get(where)).text()
    assert 'data-state="cancelled"' in page and "sn-cancel" not in page
    resp = await season_client.post(where + "/cancel", data={"csrf": csrf})
    assert resp.status == 400 and "only a scheduled one" in await resp.text()
    assert (await season_client.get("/season/startups/99")).status == 404
    actions = [r["action"] for r in await season_service.storage.audit_rows(50, None)]
    assert "season:startup_schedule" in actions and "season:startup_cancel" in actions


def test_local_times_at_the_site_offset() -> None:
    assert parse_local("2025-11-15T00:00", 8.0) == dt.datetime(2025, 11, 14, 16, tzinfo=dt.UTC).timestamp()
    assert parse_local("2025-11-15 06:30", 0.0) == dt.datetime(2025, 11, 15, 6, 30, tzinfo=dt.UTC).timestamp()


async def test_json_api_refusals_and_roles(season_client: TestClient, season_service: SupervisorService) -> None:
    csrf = await login(season_client, "oli")
    h = {"X-CSRF-Token": csrf}
    resp = await season_client.post("/api/season/Arxan/extend", headers=h, json={"end": "2099-01-01", "reason": "x"})
    assert resp.status == 403
    resp = await season_client.post("/api/season/startups", headers=h, json={"city": "Nowhere", "at_s": "soon"})
    problems = json.loads(await resp.text())["problems"]
    assert resp.status == 400 and problems == ["city 'Nowhere': no station", "at='soon': must be a date and time"]
    resp = await season_client.post("/api/season/startups", headers=h, json={"stations": ["st-b"], "at_s": time.time()})
    assert resp.status == 200 and json.loads(await resp.text())["stations"] == ["st-b"]
    await season_client.post("/logout", data={"csrf": csrf})
    csrf = await login(season_client, "ada")
    h = {"X-CSRF-Token": csrf}
    resp = await season_client.post("/api/season/Hailar/extend", headers=h, json={"end": "2099-01-01", "reason": "x"})
    assert resp.status == 400 and json.loads(await resp.text())["reason"] == "unknown_city"
    resp = await season_client.post("/api/season/Arxan/extend", headers=h, json=["x"])
    assert resp.status == 400 and "body: must be a JSON object" in await resp.text()
    resp = await season_client.get("/api/season/startups/next")
    assert resp.status == 400 and "start-up='next': must be a number" in await resp.text()
    legal = dt.date.fromisoformat(season_service.season.calendars["Arxan"]["legal_last_day"])
    resp = await season_client.post("/api/season/Arxan/extend", headers=h,
                                    json={"end": (legal + dt.timedelta(days=3)).isoformat(), "reason": "the city"})
    assert resp.status == 200 and json.loads(await resp.text())["version"] == 2
