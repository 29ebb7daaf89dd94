"""The energy figures on the dashboard: the page, the JSON API and the CSV agree on stored data,
a bad period is refused with its reason, and in a real headless Chromium the uPlot chart (served
from /static/vendor) draws every station's days, in English and Chinese, on a desktop and a phone
(no sideways scrolling, no control too small to tap)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login
from .test_browser import CHROMIUM, CHROMIUM_ARGS, new_page, save_shot
from .test_browser import login as browser_login
from .test_browser_phone import MEASURE_JS, MIN_TARGET_PX, PHONE

CST = ZoneInfo("Asia/Shanghai")


def _days_ago(n: int) -> dt.date:
    return dt.datetime.now(CST).date() - dt.timedelta(days=n)


async def _store_three_days(service: SupervisorService) -> tuple[dt.date, dt.date]:
    """st-a: 1,000 kWh per day for the last three local days (a totaliser reading at 23:00 of
    each and of the day before), outdoor -2 degC (HDD18 20); its households heat 1,000 m2."""
    first, last = _days_ago(2), _days_ago(0)
    rows = []
    for i in range(-1, 3):
        day = first + dt.timedelta(days=i)
        b = int(dt.datetime(day.year, day.month, day.day, 1, tzinfo=CST).timestamp())
        rows.append(("st-a", b, "heat_energy_kwh", 1, 1000.0 * (i + 1), 1000.0 * (i + 1), 1000.0 * (i + 1)))
        rows.append(("st-a", b, "outdoor_temp_c", 1, -2.0, -2.0, -2.0))
    await service.storage.upsert_aggregates(rows)
    await service.storage.save_households([{"household_id": "H1", "company": "", "branch": "", "residential_area": "花园小区",
                                            "station_id": "st-a", "building": "B1", "area_m2": "1000",
                                            "tariff_cny_per_m2": "24", "heating_type": "radiator", "metering": "area"}],
                                          "ada", 1.0)
    return first, last


async def test_page_api_and_csv_agree_and_a_bad_period_is_refused(client: TestClient, service: SupervisorService) -> None:
    assert (await client.get("/api/energy")).status == 401
    await login(client, "vic")
    q = "from=%s&to=%s" % (_days_ago(2), _days_ago(0))
    assert 'id="en-chart-empty"' in await (await client.get("/energy?" + q)).text()  # nothing stored yet: says why
    first, last = await _store_three_days(service)
    data = json.loads(await (await client.get("/api/energy?" + q)).text())
    st = {s["station_id"]: s for s in data["stations"]}
    assert [d["heat_kwh"] for d in st["st-a"]["days"]] == [1000.0, 1000.0, 1000.0]
    assert st["st-a"]["heat_kwh_per_m2_per_khdd"] == 50.0 and st["st-a"]["rank"] == 1
    assert st["st-a"]["heat_w_per_m2"] == pytest.approx(41.67, abs=0.01)  # 1,000 kWh a day on 1,000 m2: 1 kW/24 h
    assert st["st-b"]["rank"] is None and st["st-b"]["heat_kwh"] is None
    page = await (await client.get("/energy?" + q)).text()
    assert 'data-id="st-a"' in page and ">0.0108<" in page  # 3,000 kWh x 0.0036 / 1,000 m2 GJ
    assert 'id="en-chart-empty"' not in page
    csv_text = await (await client.get("/energy/export.csv?" + q)).text()
    assert csv_text.splitlines()[1].startswith("st-a,Station A,1000.0,1,")
    for bad, reason in (("from=2025-13-01", "from='2025-13-01'"), ("season=19", "season='19'"),
                        ("from=2020-01-01&to=2021-12-31", "at most 400"),
                        ("from=%s" % (last + dt.timedelta(days=5)), "empty")):
        resp = await client.get("/api/energy?" + bad)
        assert resp.status == 400, bad
        assert reason in await resp.text(), bad


@pytest.mark.browser
async def test_the_chart_draws_on_a_desktop_and_a_phone(client: TestClient, service: SupervisorService,
                                                        tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    first, last = await _store_three_days(service)
    base = str(client.make_url("")).rstrip("/")
    url = base + "/energy?from=%s&to=%s" % (first, last)
    found: dict[str, Any] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang, size, phone in (("en-US", (1280, 900), False), ("zh-CN", PHONE, True)):
                ctx, page, errors = await new_page(browser, viewport={"width": size[0], "height": size[1]},
                                                   locale=lang, has_touch=phone, is_mobile=phone)
                await browser_login(page, base, "vic", "view-pass-1")
                await page.goto(url)
                await page.locator("#en-chart[data-ready='1'] canvas").wait_for()
                legend = await page.locator("#en-chart .u-legend").inner_text()
                assert "st-a W/m²" in legend and "st-b W/m²" in legend
                width = await page.evaluate("document.querySelector('#en-chart canvas').getBoundingClientRect().width")
                assert 250 < width <= size[0]
                assert await page.locator("#en-stations tr[data-id='st-a'] td.heat").inner_text() == "0.0108"
                shot = "energy-%s.png" % lang[:2]
                await page.screenshot(path=str(tmp_path / shot), full_page=True)
                save_shot(tmp_path, shot)
                if phone:
                    problems = await page.evaluate(MEASURE_JS, [MIN_TARGET_PX, PHONE[0]])
                    if problems:
                        found[lang] = problems
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
