"""Households, measurements and refunds in a real headless Chromium at phone size, in English and
Chinese: an admin uploads the households file and records a measurement with a finger, and no
page scrolls sideways or has a control too small to tap (the phone rules of test_browser_phone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService

from .test_browser import CHROMIUM, CHROMIUM_ARGS, login, new_page
from .test_browser_phone import PHONE, check_phone_pages
from .test_households_pages import HOUSEHOLDS

pytestmark = pytest.mark.browser

PAGES = [("households", "/households", "#households"), ("household", "/households/H1", "#hh-edit"),
         ("measurements", "/measurements", "#measurements"), ("refunds", "/refunds?season=2025", "#rf-households")]


async def test_households_and_refunds_on_a_phone(client: TestClient, service: SupervisorService,
                                                 tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    base = str(client.make_url("")).rstrip("/")
    upload = tmp_path / "households.csv"
    upload.write_text(HOUSEHOLDS, encoding="utf-8")
    found: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for n, lang in enumerate(("en-US", "zh-CN")):
                ctx, page, errors = await new_page(browser, viewport={"width": PHONE[0], "height": PHONE[1]},
                                                   locale=lang, has_touch=True, is_mobile=True,
                                                   device_scale_factor=2)
                await login(page, base, "ada", "admin-pass-1")
                if n == 0:
                    await page.goto(base + "/households")
                    await page.set_input_files("#hh-import input[type=file]", str(upload))
                    await page.tap("#hh-import button[type=submit]")
                    await page.locator("#hh-imported").wait_for()
                    await page.fill("#hh-search input[name=q]", "河畔")  # the search form, with a finger
                    await page.tap("#hh-search button[type=submit]")
                    await page.wait_for_url("**/households?q=*")
                    assert await page.locator("#households tbody tr").evaluate_all(
                        "rows => rows.map(r => r.dataset.id)") == ["H3"]
                    await page.goto(base + "/measurements")
                    await page.fill("#meas-form input[name=household_id]", "H2")
                    await page.fill("#meas-form input[name=time]", "2025-12-01T10:00")
                    await page.fill("#meas-form input[name=temperature_c]", "16.5")
                    await page.fill("#meas-form input[name=inspector]", "Wang")
                    await page.tap("#meas-form button[type=submit]")
                    await page.locator("#meas-added").wait_for()
                    assert [h["household_id"] for h in await service.storage.households()] == ["H1", "H2", "H3"]
                    assert [m["temperature_c"] for m in await service.storage.measurements()] == [16.5]
                await check_phone_pages(page, base, PAGES, lang, tmp_path, found)
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
