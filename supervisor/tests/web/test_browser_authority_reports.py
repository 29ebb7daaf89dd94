"""The reports to the authority and the complaints in a real headless Chromium at phone size, in
English and Chinese: an operator records a hotline complaint with the form and answers it with a
finger, downloads a report and asks for it to be sent again; no page scrolls sideways or has a
control too small to tap (the phone rules of test_browser_phone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login as api_login
from .test_authority_reports_pages import Clock, local, seed_aggregates
from .test_browser import CHROMIUM, CHROMIUM_ARGS, login, new_page
from .test_browser_phone import PHONE, check_phone_pages
from .test_households_pages import import_households

pytestmark = pytest.mark.browser

PAGES = [("authority-reports", "/authority-reports", "#arp-hourly"), ("complaints", "/complaints", "#complaints")]


async def test_complaints_and_reports_on_a_phone(client: TestClient, service: SupervisorService,
                                                 tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    service.clock = Clock(local("2026-12-02T18:00"))  # type: ignore[method-assign]
    service.config["authority_reports"].update(channels=["http"], http_url="http://127.0.0.1:9/push")
    await import_households(client, await api_login(client, "ada"))
    await seed_aggregates(service)
    base = str(client.make_url("")).rstrip("/")
    found: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for n, lang in enumerate(("en-US", "zh-CN")):
                ctx, page, errors = await new_page(browser, viewport={"width": PHONE[0], "height": PHONE[1]},
                                                   locale=lang, has_touch=True, is_mobile=True,
                                                   device_scale_factor=2, accept_downloads=True)
                await login(page, base, "oli", "oper-pass-1")
                if n == 0:
                    await page.goto(base + "/complaints")
                    await page.fill("#cpl-form input[name=hotline_no]", "12345-0042")
                    await page.fill("#cpl-form input[name=household_id]", "H2")
                    await page.fill("#cpl-form input[name=received]", "2026-12-02T08:30")
                    await page.fill("#cpl-form input[name=summary]", "卧室 16 度")
                    await page.tap("#cpl-form button[type=submit]")
                    await page.locator("#cpl-added").wait_for()
                    row = page.locator('tr[data-no="12345-0042"]')
                    assert await row.locator(".overdue").count() == 0  # 9.5 h after receipt: within 24 h
                    await row.locator("input[name=note]").fill("已派维修工")
                    await row.locator("button[type=submit]").tap()
                    await page.locator("#cpl-done").wait_for()
                    (c,) = await service.storage.complaints()
                    assert (c["hotline_no"], c["answer"], c["answered_ts"]) == ("12345-0042", "已派维修工",
                                                                                local("2026-12-02T18:00"))
                    await page.goto(base + "/authority-reports")
                    async with page.expect_download() as info:
                        await page.locator("#arp-hourly a.btn", has_text="CSV").first.tap()
                    download = await info.value
                    text = Path(await download.path()).read_text(encoding="utf-8")
                    assert download.suggested_filename == "heatkeeper-hourly-2026-12-02-1700.csv"
                    assert "Sunny Garden,2026-12-02 09:00,st-a;st-b,2,15.0," in text
                    await page.locator("#arp-hourly .arp-resend button").first.tap()
                    await page.locator("#arp-resent").wait_for()
                    (d,) = await service.storage.report_deliveries()
                    assert (d["report"], d["period_end_ts"], d["state"]) == ("hourly", local("2026-12-02T17:00"),
                                                                             "pending")
                await check_phone_pages(page, base, PAGES, lang, tmp_path, found)
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
