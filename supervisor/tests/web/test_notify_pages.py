"""The notifications page and the acknowledgement page of a notification's link, served by the
real dashboard app over a real supervisor service and notifier (SQLite), in both languages."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.notify.notifier import Notifier
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.web import create_app

from .conftest import PASSWORDS, WEB_CONFIG, login


async def box(locator: Any) -> dict[str, float]:
    """The element's bounding box (it must be rendered)."""
    rect = await locator.bounding_box()
    assert rect is not None, locator
    return dict(rect)

def notify_cfg(tmp_path: Any) -> dict[str, Any]:
    return sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "storage": {"path": str(tmp_path / "sup.db")},
        "station": [{"id": "st-a", "name": "Station A", "city": "Arxan"}],
        "notify": {"enabled": True, "base_url": "http://127.0.0.1:8080",
                   "channel": [{"name": "box", "kind": "outbox", "path": str(tmp_path / "outbox.jsonl")}],
                   "person": [{"id": "zhang", "name": "张工", "channels": ["box"]},
                              {"id": "li", "name": "Li", "language": "en", "channels": ["box"]}],
                   "rota": [{"area": "a", "stations": ["*"], "shifts": [["zhang", "li"]]}]},
    })


@pytest.fixture
async def served(tmp_path: Any, fast_kdf: None) -> AsyncIterator[tuple[TestClient, SupervisorService, Notifier]]:
    cfg = notify_cfg(tmp_path)
    svc = SupervisorService(open_storage("sqlite", path=cfg["storage"]["path"]), cfg)
    await svc.start()
    for name, (role, password) in PASSWORDS.items():
        await svc.accounts.create_user(name, password, role)
    notifier = Notifier(svc.storage, cfg, svc.clock, ack=svc.alarm_desk.ack_alarm)
    await notifier.start()
    app = create_app(svc, WEB_CONFIG, notifier)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client, svc, notifier
    finally:
        await notifier.close()
        await svc.stop()


async def raised(svc: SupervisorService, notifier: Notifier) -> str:
    """Raise a supervisor alarm at st-a, let the notifier send it; the acknowledgement path."""
    await svc.storage.record_alarm("st-a", "uplink_quarantined", "critical", True, time.time(), "3 uplinks", None)
    await notifier.tick()
    (msg,) = await svc.storage.messages(5)
    assert msg["state"] == "sent"
    import json

    url = json.loads(msg["body"])["fields"]["ack_url"]
    return url.split("127.0.0.1:8080", 1)[1]


async def test_ack_page_get_shows_post_acknowledges(served: Any) -> None:
    client, svc, notifier = served
    path = await raised(svc, notifier)
    page = await client.get(path, headers={"Accept-Language": "zh-CN"})
    text = await page.text()
    assert page.status == 200 and "上行消息被隔离" in text and 'id="ack-button"' in text and "张工" in text
    assert (await svc.storage.alarm_rows("st-a", True))[0]["acked_by"] is None  # a GET never acknowledges
    done = await client.post(path, headers={"Accept-Language": "en"})
    text = await done.text()
    assert done.status == 200 and 'id="ack-done"' in text and "notify:zhang" in text
    (row,) = await svc.storage.alarm_rows("st-a", True)
    assert row["acked_by"] == "notify:zhang"
    audit = [(r["user"], r["action"], r["result"]) for r in await svc.audit_log.rows(50)]
    assert ("notify:zhang", "ack_alarm", "recorded") in audit  # the dashboard's own path
    assert ("notify", "notify_ack_link", "ok") in audit
    again = await client.post(path)  # a second tap: shown as done, nothing sent or recorded again
    assert again.status == 200 and 'id="ack-done"' in await again.text()
    assert [r["action"] for r in await svc.audit_log.rows(50)].count("notify_ack_link") == 1


async def test_forged_or_garbage_link_is_refused(served: Any) -> None:
    client, svc, notifier = served
    path = await raised(svc, notifier)
    forged = path[:-10] + ("x" if path[-10] != "x" else "y") + path[-9:]  # one signature byte changed
    for bad in (forged, "/ack/nonsense", "/ack/a.b"):
        resp = await client.post(bad)
        assert resp.status == 403, bad
        assert "ack-problem" in await resp.text()
    assert (await svc.storage.alarm_rows("st-a", True))[0]["acked_by"] is None
    refused = [r for r in await svc.audit_log.rows(50) if r["action"] == "notify_ack_link"]
    assert len(refused) == 3 and all(r["result"] == "refused" for r in refused)
    assert "not signed by this supervisor" in refused[-1]["detail"]


async def test_notifications_page_and_api(served: Any) -> None:
    client, svc, notifier = served
    await raised(svc, notifier)
    resp = await client.get("/notifications")
    assert resp.status in (200, 401) and "/login" in str(resp.url)  # login first
    csrf = await login(client, "vic")
    text = await (await client.get("/notifications")).text()
    assert "报警通知" in text and "张工" in text and "已送达" in text and 'id="notify-messages"' in text
    await client.post("/lang/en", data={"csrf": csrf, "next": "/notifications"})
    data = await (await client.get("/api/notifications")).json()
    assert data["enabled"] and data["messages"][0]["person"] == "zhang" and data["messages"][0]["state"] == "sent"
    assert data["messages"][0]["attempt_list"][0]["ok"] is True
    assert re.search(r"Alarm notifications", await (await client.get("/notifications")).text())


async def test_without_notifier_the_pages_say_so(client: TestClient) -> None:
    await login(client, "vic")
    assert 'id="notify-off"' in await (await client.get("/notifications")).text()
    assert (await (await client.get("/api/notifications")).json())["enabled"] is False
    resp = await client.get("/ack/anything.at-all")
    assert resp.status == 404 and "ack-problem" in await resp.text()


async def test_notifications_page_reads_for_the_night_shift(served: Any) -> None:
    """The supervisor's own alarm names the supervisor, not a dead /stations/supervisor link; the
    time to acknowledge carries its unit; the times say their time zone (the site's, UTC+8 by
    default, while the browser's pages show the browser's)."""
    from heatkeeper.supervisor.fleet_alarms import SITE_ID

    client, svc, notifier = served
    path = await raised(svc, notifier)
    await client.post(path)  # acknowledged: the incident has its time to acknowledge
    await svc.storage.record_alarm(SITE_ID, "notify_channel_failed", "major", True, time.time(), "wecom: timed out", 1.0)
    await notifier.tick()
    csrf = await login(client, "vic")
    await client.post("/lang/en", data={"csrf": csrf, "next": "/notifications"})
    text = await (await client.get("/notifications")).text()
    assert 'data-incident' in text and "Notification channel failing" in text
    assert 'href="/stations/%s"' % SITE_ID not in text
    assert "Supervisor (this site)" in text
    assert re.search(r'<td class="tta">\d+\.\d min</td>', text), text[text.find("notify-incidents"):][:3000]
    assert "Time (UTC+8)" in text
    await client.post("/lang/zh", data={"csrf": csrf, "next": "/notifications"})
    text = await (await client.get("/notifications")).text()
    assert "监控中心" in text and 'href="/stations/%s"' % SITE_ID not in text
    assert re.search(r'<td class="tta">\d+\.\d 分钟</td>', text)


async def test_a_supervisor_alarm_notification_links_to_the_alarms_page(served: Any) -> None:
    """The supervisor's own alarm (pseudo station `supervisor`) has no station page: its
    notification and its acknowledgement page link to the alarms page, not /stations/supervisor."""
    import json

    from heatkeeper.supervisor.fleet_alarms import SITE_ID

    client, svc, notifier = served
    await svc.storage.record_alarm(SITE_ID, "notify_channel_failed", "major", True, time.time(), "wecom: timed out", 1.0)
    await notifier.tick()
    msgs = [m for m in await svc.storage.messages(10) if m["station_id"] == SITE_ID]
    assert msgs and msgs[0]["state"] == "sent", msgs
    body = json.loads(msgs[0]["body"])
    assert body["fields"]["station_url"] == "http://127.0.0.1:8080/alarms", body["fields"]
    assert "/stations/" not in json.dumps(body), body
    assert body["fields"]["station_name"] == "监控中心（本系统）" and "监控中心" in msgs[0]["subject"], msgs[0]["subject"]
    path = body["fields"]["ack_url"].split("127.0.0.1:8080", 1)[1]
    text = await (await client.get(path)).text()
    assert 'id="ack-button"' in text and 'href="/stations/%s"' % SITE_ID not in text
    assert 'id="ack-station-link"' in text and 'href="/alarms"' in text
    assert "(supervisor)" not in text


@pytest.mark.browser
async def test_notifications_page_reads_on_a_phone(served: Any, tmp_path: Any) -> None:
    """At 390 x 844 in headless Chromium the message and the alarm keep a readable width (the
    tables scroll in their box): they were squeezed to two characters a line."""
    from playwright.async_api import async_playwright, expect

    from .test_browser import CHROMIUM, CHROMIUM_ARGS, new_page, save_shot
    from .test_browser import login as browser_login

    client, svc, notifier = served
    await raised(svc, notifier)
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, _ = await new_page(browser, viewport={"width": 390, "height": 844}, locale="zh-CN")
            await browser_login(page, base, "vic", "view-pass-1")
            await page.goto(base + "/notifications")
            message = page.locator("#notify-messages tr.notify-row td").nth(4)
            await expect(message).to_contain_text("上行消息被隔离")
            alarm = page.locator("#notify-incidents tr[data-incident] td").nth(2)
            assert (await box(message))["width"] >= 150
            assert (await box(alarm))["width"] >= 120
            assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390
            await page.screenshot(path=str(tmp_path / "night-notifications-phone.png"), full_page=True)
            save_shot(tmp_path, "night-notifications-phone.png")
        finally:
            await browser.close()
