"""Maintenance in a real headless Chromium: the work-order flow (a critical alarm opens an order by
itself; an operator assigns it, starts it and closes it with notes and parts; the repair time
shows on the order and in the season's figures) at desktop size, and an inspection round checked
in at phone size from the station page's QR link, in English and Chinese; the maintenance pages
keep the phone rules of test_browser_phone (no sideways scrolling, no control too small to tap)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor import inspections
from heatkeeper.supervisor import work_orders as wo
from heatkeeper.supervisor.service import SupervisorService

from .test_browser import CHROMIUM, CHROMIUM_ARGS, login, new_page, save_shot
from .test_browser_phone import PHONE, check_phone_pages

pytestmark = pytest.mark.browser


async def test_work_order_from_alarm_to_close(client: TestClient, service: SupervisorService, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    base = str(client.make_url("")).rstrip("/")
    raised = service.clock() - 2 * 3600
    await service.storage.record_alarm("st-a", "heating_outage", "critical", True, raised, "no heat delivered", 0.0)
    assert await wo.open_from_alarms(service.storage, service.clock()) == 1
    order = (await service.storage.work_orders())[0]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
            await login(page, base, "oli", "oper-pass-1")
            await page.click('details[data-navgroup="maintenance"] > summary')
            await page.click("a[data-nav=work_orders]")
            # every section's menu in the bar (this one too) and still no sideways scrolling at 1280 px
            assert await page.evaluate("document.scrollingElement.scrollWidth") <= 1280
            assert await page.locator("#logout").is_visible()
            await page.click('#work-orders tr[data-order="%s"] a' % order["order_id"])
            assert await page.text_content("#wo-state") == "open"
            await page.select_option("#wo-to-state", "assigned")
            await page.fill("#wo-assignee-in", "Wang")
            await page.click("#wo-submit")
            await page.wait_for_selector('#wo-state[data-state="assigned"]')
            await page.select_option("#wo-to-state", "closed")  # without notes: refused, nothing changes
            await page.click("#wo-submit")
            await page.locator("#mt-problems").wait_for()
            assert "notes: say what was done" in await page.text_content("#mt-problems")
            assert (await service.storage.work_order(order["order_id"]))["state"] == "assigned"
            await page.goto(base + "/work-orders/" + order["order_id"])
            await page.select_option("#wo-to-state", "in_progress")
            await page.click("#wo-submit")
            await page.wait_for_selector('#wo-state[data-state="in_progress"]')
            await page.select_option("#wo-to-state", "closed")
            await page.fill("#wo-notes-in", "reset the heat meter, valve re-stroked")
            await page.fill("#wo-parts-in", "fuse 2 A")
            await page.click("#wo-submit")
            await page.wait_for_selector('#wo-state[data-state="closed"]')
            assert await page.text_content("#wo-parts") == "fuse 2 A"
            assert float(await page.text_content("#wo-repair")) >= 2.0  # raised two hours ago
            log = await page.text_content("#wo-log")
            assert "assigned to Wang" in log and "reset the heat meter" in log
            await page.goto(base + "/work-orders")
            assert await page.get_attribute('#work-orders tr[data-order="%s"]' % order["order_id"], "data-state") \
                == "closed"
            assert float(await page.text_content("#wo-repair-mean")) >= 2.0
            await page.screenshot(path=str(tmp_path / "work-orders.png"), full_page=True)
            save_shot(tmp_path, "work-orders.png")
            assert errors == [], errors
            await ctx.close()
        finally:
            await browser.close()
    closed = await service.storage.work_order(order["order_id"])
    assert (closed["closed_by"], closed["assignee"], closed["parts"]) == ("oli", "Wang", "fuse 2 A")
    assert wo.repair_s(closed) >= 2 * 3600


async def test_inspection_round_from_the_qr_link_on_a_phone(client: TestClient, service: SupervisorService,
                                                            tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    base = str(client.make_url("")).rstrip("/")
    await service.storage.save_checklist("st-a", ["Leaks", "Pump noise", "Pressure gauges"], 24.0,
                                         (service.clock() - 3 * 86400, "ada", "checklist"))
    found: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for n, lang in enumerate(("en-US", "zh-CN")):
                ctx, page, errors = await new_page(browser, viewport={"width": PHONE[0], "height": PHONE[1]},
                                                   locale=lang, has_touch=True, is_mobile=True,
                                                   device_scale_factor=2)
                await login(page, base, "oli", "oper-pass-1")
                await page.goto(base + "/stations/st-a")
                qr = page.locator("#st-round-qr")
                await qr.scroll_into_view_if_needed()
                assert await qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the SVG drew
                href = await page.get_attribute("#st-round-link", "href")
                # the QR code holds that link, absolute (segno draws the same SVG for the same text)
                svg = await page.evaluate("u => fetch(u).then(r => r.text())", "/inspections/st-a/qr.svg")
                assert svg == inspections.qr_svg(base + href)
                await page.goto(base + href)
                assert page.url == base + "/inspections/st-a/round"
                if n == 0:
                    await page.fill("#round-form input[name=inspector]", "Li")
                    await page.tap('fieldset[data-item="0"] input[value=ok]')
                    await page.tap('fieldset[data-item="1"] input[value=bad]')
                    await page.tap('fieldset[data-item="2"] input[value=ok]')
                    await page.tap("#round-submit")  # an item not ok without notes: refused, answers kept
                    await page.locator("#mt-problems").wait_for()
                    assert await page.is_checked('fieldset[data-item="1"] input[value=bad]')
                    await page.fill("#round-form textarea[name=notes]", "pump 2 bearing noise")
                    await page.tap("#round-submit")
                    await page.locator("#round-done").wait_for()
                    rounds = await service.storage.rounds("st-a")
                    assert len(rounds) == 1 and rounds[0]["results"] == {"Leaks": True, "Pump noise": False,
                                                                          "Pressure gauges": True}
                    assert rounds[0]["recorded_by"] == "oli" and rounds[0]["notes"] == "pump 2 bearing noise"
                await check_phone_pages(page, base, (("round", "/inspections/st-a/round", "#round-form"),
                                                     ("inspections", "/inspections", "#inspections"),
                                                     ("work-orders", "/work-orders", "#work-orders"),
                                                     ("assets", "/assets", "#assets"),
                                                     ("handover", "/handover", "#handovers")), lang, tmp_path, found)
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
