"""The settings profiles page and API: everyone logged in sees profiles, versions with their
diff and each station's state; only an admin saves and assigns; a refused save lists every
problem and stores nothing."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login


async def test_viewer_sees_admin_saves_and_assigns(client: TestClient, service: SupervisorService) -> None:
    assert (await client.get("/api/settings/profiles")).status == 401
    csrf = await login(client, "vic")
    page = await client.get("/settings-push")
    assert page.status == 200 and "sp-save" not in await page.text()
    resp = await client.post("/api/settings/profiles", headers={"X-CSRF-Token": csrf},
                             json={"profile": "arxan", "sections": {"curve": {"shift_k": 2.0}}})
    assert resp.status == 403
    await client.post("/logout", data={"csrf": csrf})

    csrf = await login(client, "ada")
    resp = await client.post("/settings-push/save", data={"csrf": csrf, "profile": "arxan", "note": "warmer",
                                                          "sections": '{"curve": {"shift_k": 2.0}}'},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    resp = await client.post("/api/settings/profiles", headers={"X-CSRF-Token": csrf},
                             json={"profile": "arxan", "sections": {"curve": {"shift_k": 3.0}}})
    assert resp.status == 200
    v2 = json.loads(await resp.text())
    assert (v2["version"], v2["previous"]) == (2, 1)
    assert v2["diff"] == [{"key": "curve.shift_k", "old": 2.0, "new": 3.0}]
    # every problem, nothing stored
    resp = await client.post("/api/settings/profiles", headers={"X-CSRF-Token": csrf},
                             json={"profile": "arxan", "sections": {"curve": {"shift_k": 99.0}, "pumps": {"x": 1}}})
    assert resp.status == 400
    body = json.loads(await resp.text())
    assert body["reason"] == "invalid_settings" and len(body["problems"]) == 2
    resp = await client.post("/settings-push/save", data={"csrf": csrf, "profile": "arxan", "sections": "{not json"})
    assert resp.status == 400 and "sections: not JSON" in await resp.text()
    assert len(await service.storage.settings_versions()) == 2

    resp = await client.post("/api/settings/assign", headers={"X-CSRF-Token": csrf},
                             json={"version": 2, "city": "Arxan"})
    assert resp.status == 200
    states = json.loads(await resp.text())
    assert [(s["station_id"], s["version"], s["state"]) for s in states] == [("st-a", 2, "pending"),
                                                                            ("st-b", 2, "pending")]
    resp = await client.post("/api/settings/assign", headers={"X-CSRF-Token": csrf},
                             json={"version": 2, "stations": ["nowhere"]})
    assert resp.status == 400 and "nowhere" in await resp.text()
    resp = await client.post("/settings-push/assign", data={"csrf": csrf, "version": "1", "stations": "st-b"},
                             allow_redirects=False)
    assert resp.status == 303
    stations = json.loads(await (await client.get("/api/settings/stations")).text())
    assert {s["station_id"]: s["version"] for s in stations} == {"st-a": 2, "st-b": 1}
    assert json.loads(await (await client.get("/api/settings/versions/1")).text())["note"] == "warmer"
    assert (await client.get("/api/settings/versions/99")).status == 404
    text = await (await client.get("/settings-push")).text()
    assert 'data-version="2"' in text and "curve.shift_k" in text and 'data-station="st-b"' in text
