"""The acknowledgement page of a notification's link in a real headless Chromium at phone size
(390 x 844, touch, Chinese): the alarm and its button fit the screen without sideways
scrolling, tapping the button acknowledges the alarm through the dashboard's path and stops the
escalation; the notifications page then shows the time to acknowledge."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from heatkeeper.supervisor.notify.notifier import Notifier
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.web import create_app

from .conftest import PASSWORDS, WEB_CONFIG
from .test_browser import CHROMIUM, CHROMIUM_ARGS, login, new_page, save_shot
from .test_notify_pages import notify_cfg

pytestmark = pytest.mark.browser


async def test_ack_link_on_a_phone(tmp_path: Path, fast_kdf: None) -> None:
    from playwright.async_api import async_playwright, expect

    cfg = notify_cfg(tmp_path)
    cfg["notify"]["escalate_min"] = {"critical": 0.5}
    svc = SupervisorService(open_storage("sqlite", path=cfg["storage"]["path"]), cfg)
    await svc.start()
    for name, (role, password) in PASSWORDS.items():
        await svc.accounts.create_user(name, password, role)
    notifier = Notifier(svc.storage, cfg, svc.clock, ack=svc.alarm_desk.ack_alarm)
    await notifier.start()
    server = TestServer(create_app(svc, WEB_CONFIG, notifier), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        await svc.storage.record_alarm("st-a", "uplink_quarantined", "critical", True, time.time(), "3 uplinks", None)
        await notifier.tick()
        (msg,) = await svc.storage.messages(5)
        ack_path = json.loads(msg["body"])["fields"]["ack_url"].split("127.0.0.1:8080", 1)[1]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                phone, page, errors = await new_page(browser, viewport={"width": 390, "height": 844},
                                                     device_scale_factor=3, is_mobile=True, has_touch=True,
                                                     locale="zh-CN")
                await page.goto(base + ack_path)
                await expect(page.locator("h1")).to_have_text("确认报警")
                await expect(page.locator("#ack-alarm")).to_have_text("上行消息被隔离")
                button = page.locator("#ack-button")
                await expect(button).to_be_visible()
                box = await button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
                assert box["y"] + box["height"] <= 844 and box["height"] >= 44  # on the first screen, thumb-sized
                assert await page.evaluate("document.documentElement.scrollWidth") <= 390
                await page.screenshot(path=str(tmp_path / "ack-phone.png"))
                save_shot(tmp_path, "ack-phone.png")
                await button.tap()
                await expect(page.locator("#ack-done")).to_contain_text("notify:zhang")
                await page.screenshot(path=str(tmp_path / "ack-phone-done.png"))
                save_shot(tmp_path, "ack-phone-done.png")
                assert errors == []
                (row,) = await svc.storage.alarm_rows("st-a", True)
                assert row["acked_by"] == "notify:zhang"
                # acknowledged: the escalation due in 30 s never comes
                notifier.clock = lambda: time.time() + 3600.0
                await notifier.tick()
                assert len(await svc.storage.messages(10)) == 1

                # the notifications page on the phone too: what was sent, and the time to acknowledge
                await login(page, base, "vic", PASSWORDS["vic"][1])
                await page.goto(base + "/notifications")
                await expect(page.locator("#notify-messages tbody tr.notify-row")).to_have_count(1)
                await expect(page.locator("#notify-messages .notify-state")).to_contain_text("已送达")
                await expect(page.locator("#notify-incidents td.tta")).not_to_have_text("")
                await page.screenshot(path=str(tmp_path / "notifications-phone.png"), full_page=True)
                save_shot(tmp_path, "notifications-phone.png")
            finally:
                await browser.close()
    finally:
        await server.close()
        await notifier.close()
        await svc.stop()
