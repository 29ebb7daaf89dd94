"""The primary allocation on the dashboard: the decisions the runner keeps, on the page and the
JSON API, to any logged-in user (routes), and in a real headless Chromium at phone size in
English and Chinese (browser marker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.allocation_runner import AllocationRunner
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login
from .test_browser import CHROMIUM, CHROMIUM_ARGS, new_page, save_shot
from .test_browser import login as browser_login
from .test_browser_phone import MEASURE_JS, MIN_TARGET_PX, PHONE

NETWORK = {"name": "north", "capacity_kw": 5000.0,
           "stations": {"st-a": {"class": "residential", "design_kw": 5000.0},
                        "st-b": {"class": "industrial", "design_kw": 5000.0}}}


async def _decide(service: SupervisorService, now: float) -> dict[str, Any]:
    """One real decision: both stations draw 3000 kW against a 5000 kW source."""
    storage = service.storage
    for sid in ("st-a", "st-b"):
        await storage.save_station_state(sid, {"values": {"heat_power_kw": 3000.0, "outdoor_temp_c": -20.0}})
    runner = AllocationRunner(storage, service.commands.send, NETWORK, {"residential_reserve": 0.0})
    return await runner.run_once(now)


async def test_the_page_and_api_show_capacity_demand_and_each_stations_cap(client: TestClient,
                                                                           service: SupervisorService) -> None:
    assert (await client.get("/api/allocation")).status == 401
    out = await _decide(service, 1_800_000_000.0)
    assert out["state"] == "non_residential_cut"
    await login(client, "vic")
    empty = await client.get("/allocation?network=south")
    assert empty.status == 200 and 'id="allocation-empty"' in await empty.text()
    data = json.loads(await (await client.get("/api/allocation?network=north")).text())
    row = data["decisions"][0]
    assert (row["network"], row["state"], row["capacity_kw"], row["demand_kw"]) == ("north", "non_residential_cut",
                                                                                   5000.0, 6000.0)
    assert {s["station_id"]: s["cap_kw"] for s in row["stations"]} == pytest.approx({"st-a": 3000.0, "st-b": 2000.0})
    assert (await client.get("/api/allocation?limit=0")).status == 400
    page = await client.get("/allocation")
    assert page.status == 200
    text = await page.text()
    assert 'data-network="north"' in text and 'data-state="non_residential_cut"' in text
    assert 'data-station="st-b" data-class="industrial"' in text and "2000" in text
    assert 'href="/allocation"' in text  # in the navigation



async def test_an_operator_sets_the_source_capacity_used_from_the_next_period(client: TestClient,
                                                                              service: SupervisorService) -> None:
    await _decide(service, 1_800_000_000.0)
    csrf = await login(client, "vic")
    refused = await client.post("/allocation/capacity", data={"csrf": csrf, "network": "north", "capacity_kw": "4000"})
    assert refused.status == 403
    client.session.cookie_jar.clear()
    csrf = await login(client, "oli")
    bad = await client.post("/allocation/capacity", data={"csrf": csrf, "network": "north", "capacity_kw": "-4"})
    assert bad.status == 400
    assert await service.storage.allocation_capacity("north") is None  # nothing changed
    ok = await client.post("/allocation/capacity", data={"csrf": csrf, "network": "north", "capacity_kw": "4000"},
                           allow_redirects=False)
    assert ok.status == 303
    assert (await service.storage.allocation_capacity("north"))["set_by"] == "oli"
    assert 'data-role="override"' in await (await client.get("/allocation")).text()
    # the next period decides against 4000 kW: industry to its 900 kW minimum, residential 3000 + 100 short
    out = await _decide(service, 1_800_000_900.0)
    assert out["capacity_kw"] == 4000.0 and out["state"] == "residential_short"
    audit = await service.storage.audit_rows(50, None)
    assert any(r["action"] == "allocation_capacity" and r["result"] == "ok" and r["user"] == "oli" for r in audit)
    assert any(r["action"] == "allocation_capacity" and r["result"] == "refused"
               and "capacity_kw=-4.0 kW: must be in [1, 1e+07]" in r["detail"] for r in audit)
    assert any(r["action"] == "allocation:residential_short" and "set by oli" in r["detail"] for r in audit)
    # cleared: the configured 5000 kW again
    await client.post("/allocation/capacity", data={"csrf": csrf, "network": "north", "capacity_kw": ""})
    assert (await _decide(service, 1_800_001_800.0))["capacity_kw"] == 5000.0


@pytest.mark.browser
async def test_allocation_page_on_a_phone_in_both_languages(client: TestClient, service: SupervisorService,
                                                            tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    await _decide(service, 1_800_000_000.0)
    base = str(client.make_url("")).rstrip("/")
    found: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang, state_text, class_text in (("en-US", "Short: non-residential cut", "Industrial"),
                                                 ("zh-CN", "热源不足：压减非居民", "工业")):
                ctx, page, errors = await new_page(browser, viewport={"width": PHONE[0], "height": PHONE[1]},
                                                   locale=lang, has_touch=True, is_mobile=True,
                                                   device_scale_factor=2)
                await browser_login(page, base, "vic", "view-pass-1")
                await page.tap('details[data-navgroup="operations"] > summary')
                await page.tap('nav.mainnav a[data-nav="allocation"]')
                await page.wait_for_url(base + "/allocation")
                net = page.locator('section.allocation-network[data-network="north"]')
                assert (await net.locator('[data-role="state"]').inner_text()).strip() == state_text
                assert "5000 kW" in await net.locator('[data-role="capacity"]').inner_text()
                assert "6000 kW" in await net.locator('[data-role="demand"]').inner_text()
                row = net.locator('tr[data-station="st-b"]')
                assert await row.locator('[data-role="cap"]').inner_text() == "2000"
                assert class_text in await row.inner_text()
                assert await page.locator("#allocation-log tbody tr").count() == 1
                shot = "phone-allocation-%s.png" % lang[:2]
                await page.screenshot(path=str(tmp_path / shot), full_page=True)
                save_shot(tmp_path, shot)
                problems = await page.evaluate(MEASURE_JS, [MIN_TARGET_PX, PHONE[0]])
                if problems:
                    found[lang] = problems
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
