"""The heating season in a real headless Chromium against the real supervisor (serve(): embedded
broker, SQLite, the season task pushing the city's calendar, commands signed with each station's
key) and two stations running core's StationController on the plant model over MQTT (a third is
configured and offline).

An admin opens Operations > Heating season: the city's calendar at version 1 and the version each
station reports; the city's extension (a refused one first: every problem shown) makes version 2,
which reaches the stations over the broker. An operator schedules the season start-up for the
city at the current minute; the progress page shows the two live stations go through the
start-up and the offline one waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from heatkeeper.core import codec
from heatkeeper.tools.procs import free_port

from .test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login, running_supervisor, save_shot

pytestmark = pytest.mark.browser

FAST_STARTUP = {"modes": {"fill_confirm_s": 0.0, "cold_circulation_s": 0.0, "warmup_rate_k_per_h": 60.0,
                          "warmup_done_band_k": 20.0}}


def month_day(day: dt.date) -> str:
    return (day + dt.timedelta(days=1) if (day.month, day.day) == (2, 29) else day).strftime("%m-%d")


@pytest.fixture
async def season_system(tmp_path: Path) -> Any:
    from heatkeeper.core.station import StationController
    from heatkeeper.supervisor import config as sup_config

    from .station_responder import StationResponder

    broker_port, web_port = free_port(), free_port()
    stations = [StationResponder("127.0.0.1", broker_port, "arxan-01", "", seed=1, tick_s=0.2, sim_dt_s=5.0),
                StationResponder("127.0.0.1", broker_port, "arxan-02", "", seed=2, tick_s=0.2, sim_dt_s=5.0)]
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": broker_port},
        "mqtt": {"port": broker_port},
        "storage": {"path": str(tmp_path / "sup.db"), "batch_interval_s": 0.05},
        "web": {"port": web_port},
        "season": {"cities": {"Arxan": {"start": month_day(today - dt.timedelta(days=10)),
                                        "end": month_day(today + dt.timedelta(days=10)), "preheat_h": 72}}},
        "station": [{"id": "arxan-01", "name": "Arxan No. 1", "city": "Arxan"},
                    {"id": "arxan-02", "name": "Arxan No. 2", "city": "Arxan"},
                    {"id": "arxan-03", "name": "Arxan No. 3", "city": "Arxan"}],
    })

    def prepare(st: Any, creds: Path) -> None:
        st.ctl = StationController(FAST_STARTUP)
        st.extra_values = {"season_version": 1, "in_season": 1}  # what the station's core.season reports

    async with running_supervisor(cfg, (("ada", "admin", "admin-pass-1"), ("oli", "operator", "oper-pass-1")),
                                  stations, prepare, online_s=30.0) as service:
        yield "http://127.0.0.1:%d" % web_port, service, stations, broker_port


async def test_season_calendar_extension_and_startup(season_system: Any, tmp_path: Path) -> None:
    import aiomqtt
    from playwright.async_api import async_playwright, expect

    base, service, stations, broker_port = season_system
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            ctx.set_default_timeout(TIMEOUT_MS)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await login(page, base, "ada", "admin-pass-1")
            await page.click('details[data-navgroup="operations"] > summary')
            await page.click('nav a[data-nav="season"]')
            city = page.locator('.sn-city[data-city="Arxan"]')
            await expect(city).to_have_attribute("data-version", "1")
            for _ in range(60):  # the stations' telemetry with their calendar version
                if await page.locator('.sn-stations tr[data-current="yes"]').count() == 2:
                    break
                await asyncio.sleep(0.5)
                await page.reload()
            await expect(page.locator('.sn-stations tr[data-current="yes"]')).to_have_count(2)
            await expect(page.locator('.sn-stations tr[data-station="arxan-03"]')).to_contain_text("not reported")

            # the city's extension: a refused one shows every problem, then version 2
            legal = dt.date.fromisoformat(service.season.calendars["Arxan"]["legal_last_day"])
            await city.locator('input[name="end"]').fill(legal.isoformat())
            await city.locator(".sn-extend button").click()
            await expect(page.locator("#sn-problems")).to_contain_text("must be after the legal last day")
            await expect(page.locator("#sn-problems")).to_contain_text("reason: must be text")
            new_last = legal + dt.timedelta(days=7)
            await city.locator('input[name="end"]').fill(new_last.isoformat())
            await city.locator('input[name="reason"]').fill("cold wave forecast")
            await city.locator(".sn-extend button").click()
            await expect(page.locator('.sn-city[data-city="Arxan"]')).to_have_attribute("data-version", "2")
            await expect(page.locator(".sn-extensions")).to_contain_text("cold wave forecast")
            await expect(page.locator(".sn-calendar .sn-last")).to_have_text(new_last.isoformat())
            await page.screenshot(path=str(tmp_path / "season-calendars.png"), full_page=True)
            save_shot(tmp_path, "season-calendars.png")
            got: list[dict[str, Any]] = []  # version 2 is retained at the broker for every station

            async with aiomqtt.Client("127.0.0.1", broker_port, username="arxan-03",
                                      password=(Path(service.config["supervisor"]["data_dir"]) / "credentials"
                                                / "arxan-03.password").read_text().strip(),
                                      identifier="arxan-03") as client:
                await client.subscribe(codec.season_topic("arxan-03"), qos=1)
                async with asyncio.timeout(15):
                    async for msg in client.messages:
                        got.append(codec.decode_season(str(msg.topic), bytes(msg.payload)))  # type: ignore[arg-type]
                        if got[-1]["version"] == 2:
                            break
            assert got[-1]["end_s"] == dt.datetime.combine(new_last + dt.timedelta(days=1), dt.time(),
                                                           ZoneInfo("Asia/Shanghai")).timestamp()

            # an operator schedules the start-up for the city, now
            ctx2 = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            ctx2.set_default_timeout(TIMEOUT_MS)
            page2 = await ctx2.new_page()
            page2.on("pageerror", lambda exc: errors.append(str(exc)))
            await login(page2, base, "oli", "oper-pass-1")
            await page2.click('details[data-navgroup="operations"] > summary')
            await page2.click('nav a[data-nav="season"]')
            await expect(page2.locator(".sn-extend")).to_have_count(0)  # extensions are the admin's
            await page2.select_option("#sn-city", "Arxan")
            await page2.fill("#sn-at", time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 8 * 3600)))
            await page2.click("#sn-schedule-go")
            await expect(page2.locator("#sn-progress tbody tr")).to_have_count(3)
            for _ in range(120):
                live = await page2.locator('#sn-progress tr[data-step="done"]').count()
                if live == 2:
                    break
                await asyncio.sleep(0.5)
                await page2.reload()
            await expect(page2.locator('#sn-progress tr[data-step="done"]')).to_have_count(2)
            await expect(page2.locator('#sn-progress tr[data-station="arxan-03"]')).to_have_attribute("data-step",
                                                                                                     "offline")
            await expect(page2.locator("#sn-startup")).to_have_attribute("data-state", "fired")
            assert [a["result"] for st in stations for a in st.applied] == ["applied", "applied"]
            await page2.screenshot(path=str(tmp_path / "season-startup.png"), full_page=True)
            save_shot(tmp_path, "season-startup.png")
            actions = {(r["action"], r["user"]) for r in await service.storage.audit_rows(500, None)}
            assert {("season:extend", "ada"), ("season:startup_schedule", "oli"), ("season:startup_fire", "oli"),
                    ("season:startup_done", "oli")} <= actions, actions
            assert errors == [], errors
        finally:
            await browser.close()
