"""A command to many stations, confirmed twice, and its operation ticket approved by a second
person, in a real headless Chromium against the real supervisor (serve(): embedded broker,
SQLite, commands signed with each station's key) and two stations running core's
StationController on the plant model over MQTT (a third is configured and offline).

The operator drafts a boost for the city; the next page lists what will go to which station
(nothing sent yet) and asks again; confirmed, it waits for a ticket ([tickets] require has
group_command), which the operator cannot approve; a second operator approves it, and the
progress view shows each station's fate: applied on the two live stations, no answer from the
offline one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.tools.procs import free_port

from .test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login, new_page, running_supervisor, save_shot

pytestmark = pytest.mark.browser


@pytest.fixture
async def ticketed_system(tmp_path: Path) -> Any:
    from heatkeeper.supervisor import config as sup_config

    from .station_responder import StationResponder

    broker_port, web_port = free_port(), free_port()
    stations = [StationResponder("127.0.0.1", broker_port, "arxan-01", "", seed=1),
                StationResponder("127.0.0.1", broker_port, "arxan-02", "", seed=2)]
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": broker_port},
        "mqtt": {"port": broker_port},
        "storage": {"path": str(tmp_path / "sup.db"), "batch_interval_s": 0.05},
        "commands": {"timeout_s": 60.0},
        "web": {"port": web_port},
        "tickets": {"require": ["group_command", "set_valve_manual"]},
        "station": [{"id": "arxan-01", "name": "Arxan No. 1", "city": "Arxan", "class": "tower"},
                    {"id": "arxan-02", "name": "Arxan No. 2", "city": "Arxan"},
                    {"id": "arxan-03", "name": "Arxan No. 3", "city": "Arxan"}],
    })
    async with running_supervisor(cfg, (("oli", "operator", "oper-pass-1"), ("otto", "operator", "oper-pass-1")),
                                  stations, online_s=30.0) as service:
        yield "http://127.0.0.1:%d" % web_port, service, stations


async def test_group_command_second_confirmation_and_ticket(ticketed_system: Any, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    base, service, stations = ticketed_system
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            ctx, page, _ = await new_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await login(page, base, "oli", "oper-pass-1")
            await page.click('details[data-navgroup="operations"] > summary')
            await page.click('nav a[data-nav="group_commands"]')
            await page.select_option("select[name=kind]", "boost")
            await page.fill("#gc-args", '{"boost_k": 2, "duration_s": 600}')
            await page.select_option("#gc-city", "Arxan")
            await page.click("#gc-preview")

            # the second confirmation: what goes to whom, nothing sent yet
            await expect(page.locator("#gc-confirm-box")).to_contain_text("these 3 stations")
            await expect(page.locator("#gc-what")).to_contain_text("boost_k")
            rows = page.locator("#gc-progress tbody tr")
            await expect(rows).to_have_count(3)
            await expect(page.locator('#gc-progress tr[data-fate="waiting"]')).to_have_count(3)
            await expect(page.locator('#gc-progress tr[data-station="arxan-03"]')).to_contain_text("no")
            assert all(not st.applied for st in stations)
            await page.screenshot(path=str(tmp_path / "group-command-confirm.png"), full_page=True)
            save_shot(tmp_path, "group-command-confirm.png")
            await page.click("#gc-confirm")
            await expect(page.locator("#gc-batch")).to_have_attribute("data-state", "awaiting_approval")
            await asyncio.sleep(1.0)
            assert all(not st.applied for st in stations)  # a ticket waits: still nothing sent

            # the requester cannot approve their own ticket
            await page.click('details[data-navgroup="operations"] > summary')
            await page.click('nav a[data-nav="tickets"]')
            row = page.locator("#tk-list tr[data-ticket]").first
            await expect(row).to_have_attribute("data-state", "awaiting")
            await expect(row.locator(".tk-own")).to_be_visible()
            await expect(row.locator(".tk-approve")).to_have_count(0)

            # a second person approves: the commands go out
            ctx2, page2, _ = await new_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
            page2.on("pageerror", lambda exc: errors.append(str(exc)))
            await login(page2, base, "otto", "oper-pass-1")
            await page2.goto(base + "/tickets")
            row2 = page2.locator("#tk-list tr[data-ticket]").first
            await expect(row2).to_contain_text("boost")
            await expect(row2).to_contain_text("3 stations")
            await row2.locator(".tk-approve").click()
            await expect(page2.locator("#tk-list tr[data-ticket]").first).to_have_attribute("data-state", "done")
            await expect(page2.locator("#tk-list tr[data-ticket]").first).to_contain_text("otto")

            # the progress view: applied on the live stations, no answer yet from the offline one
            await page2.goto(base + "/group-commands/1")
            for _ in range(60):
                if await page2.locator('#gc-progress tr[data-fate="applied"]').count() == 2:
                    break
                await asyncio.sleep(0.5)
                await page2.reload()
            await expect(page2.locator('#gc-progress tr[data-fate="applied"]')).to_have_count(2)
            await expect(page2.locator('#gc-progress tr[data-station="arxan-03"]')).to_have_attribute("data-fate",
                                                                                                     "sent")
            assert [a["result"] for st in stations for a in st.applied] == ["applied", "applied"]
            await page2.screenshot(path=str(tmp_path / "group-command-progress.png"), full_page=True)
            save_shot(tmp_path, "group-command-progress.png")
            actions = {(r["action"], r["user"]) for r in await service.storage.audit_rows(500, None)}
            assert {("group:draft", "oli"), ("ticket:request", "oli"), ("ticket:done", "otto"),
                    ("group:send", "oli")} <= actions, actions
            assert errors == [], errors
        finally:
            await browser.close()
