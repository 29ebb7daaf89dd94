"""The alarm settings page: everyone logged in sees the thresholds, only an admin changes them
(form and JSON), a refused change lists its problems and changes nothing, every change and
refusal is in the audit log, and the change reaches the running alarm rules."""

from __future__ import annotations

import json
import re

from aiohttp.test_utils import TestClient
from heatkeeper.supervisor import fleet_alarm_settings as fas
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.web import i18n

from .conftest import login


async def test_viewers_see_the_settings_and_cannot_change_them(client: TestClient) -> None:
    assert (await client.get("/api/alarm-settings")).status == 401
    csrf = await login(client, "vic")
    page = await client.get("/alarm-settings")
    assert page.status == 200
    text = await page.text()
    assert 'name="offline_after_s" value="300"' in text and "fas-save" not in text
    # units and ranges as an operator reads them: °C, not the file's "degC"; 30 days of seconds
    # as 2592000, not "2.592e+06"
    assert "degC" not in text and "18 &ndash; 35 °C" in text.replace("–", "&ndash;")
    assert "e+06" not in text and "2592000 s" in text
    data = json.loads(await (await client.get("/api/alarm-settings")).text())
    assert data["settings"]["offline_after_s"] == 300.0 and data["numbers"]["offline_after_s"] == ["s", 30.0, 86400.0]
    resp = await client.post("/api/alarm-settings", headers={"X-CSRF-Token": csrf}, json={"offline_after_s": 60})
    assert resp.status == 403
    resp = await client.post("/alarm-settings", data={"csrf": csrf, "offline_after_s": "60"}, allow_redirects=False)
    assert resp.status == 403


async def test_an_admin_changes_a_threshold_in_the_form_and_it_is_audited(client: TestClient,
                                                                          service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    page = await (await client.get("/alarm-settings")).text()
    assert "fas-save" in page
    form = {"csrf": csrf, "enabled": "on", "offline_after_s": "120", "heating_outage_priority": "major",
            "overheat_c": "23"}
    resp = await client.post("/alarm-settings", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    assert service.fleet_alarms.settings["offline_after_s"] == 120.0
    assert service.fleet_alarms.settings["heating_outage_priority"] == "major"
    assert await service.storage.fleet_alarm_settings() == {"offline_after_s": 120.0,
                                                            "heating_outage_priority": "major"}
    entry = (await service.audit_log.rows(5))[0]
    assert (entry["user"], entry["action"], entry["result"]) == ("ada", "alarm_settings", "ok")
    assert "offline_after_s 300.0 -> 120.0" in entry["detail"] and "overheat_c" not in entry["detail"]
    page = await (await client.get("/alarm-settings?saved=1")).text()
    assert 'name="offline_after_s" value="120"' in page and 'name="reset" value="offline_after_s"' in page
    # back to the file's value
    resp = await client.post("/alarm-settings", data={"csrf": csrf, "enabled": "on", "reset": "offline_after_s"},
                             allow_redirects=False)
    assert resp.status == 303
    assert service.fleet_alarms.settings["offline_after_s"] == 300.0
    assert await service.storage.fleet_alarm_settings() == {"heating_outage_priority": "major"}


async def test_a_refused_change_lists_every_problem_and_changes_nothing(client: TestClient,
                                                                       service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    resp = await client.post("/alarm-settings", data={"csrf": csrf, "enabled": "on", "offline_after_s": "5",
                                                      "overheat_c": "99"})
    assert resp.status == 400
    text = await resp.text()
    assert "offline_after_s=5 s: must be a number in [30, 86400]" in text and "overheat_c=99" in text
    resp = await client.post("/alarm-settings", data={"csrf": csrf, "enabled": "on", "hysteresis_k": "warm"})
    assert resp.status == 400 and "hysteresis_k=&#39;warm&#39;" in await resp.text()
    resp = await client.post("/api/alarm-settings", headers={"X-CSRF-Token": csrf},
                             json={"collector_dead_s": 600, "collector_stale_s": 1200})
    assert resp.status == 400
    assert "collector_dead_s=600 s: must be above collector_stale_s=1200 s" in json.loads(await resp.text())["reason"]
    assert await service.storage.fleet_alarm_settings() == {}
    assert service.fleet_alarms.settings["offline_after_s"] == 300.0
    refused = [a for a in await service.audit_log.rows(10) if a["action"] == "alarm_settings"]
    assert refused and all(a["result"] == "refused" for a in refused)


async def test_the_json_api_changes_and_resets(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    resp = await client.post("/api/alarm-settings", headers={"X-CSRF-Token": csrf},
                             json={"floor_delay_s": 600, "comfort_below_floor_priority": "critical"})
    assert resp.status == 200, await resp.text()
    data = json.loads(await resp.text())
    assert data["settings"]["floor_delay_s"] == 600.0 and data["changed"] == ["comfort_below_floor_priority",
                                                                              "floor_delay_s"]
    resp = await client.post("/api/alarm-settings", headers={"X-CSRF-Token": csrf}, json={"floor_delay_s": None})
    assert json.loads(await resp.text())["settings"]["floor_delay_s"] == 1800.0


def test_every_alarm_code_and_setting_has_its_words_in_both_languages() -> None:
    cats = i18n.load_catalogues()
    for lang, cat in cats.items():
        missing = [k for k in ["alarm." + c for c in fas.CODES] + ["fas.key." + k for k in fas.NUMBERS] if k not in cat]
        assert missing == [], (lang, missing)
        template = (i18n.CATALOGUE_DIR.parent.parent / "templates" / "alarm_settings.html").read_text()
        assert all(k in cat for k in re.findall(r"t\('([a-z0-9_.]+)'\)", template)), lang
