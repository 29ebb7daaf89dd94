"""The operator's night shift in a real headless Chromium against a real supervisor with live
stations (the `system` fixture of test_browser: arxan-02 runs with a tripped circulation pump).

What an operator stumbled on, each checked where only the browser shows it:
- a station that has stopped heating (its final supply setpoint is 0, the station's "heating off")
  read "58.6 / 0.0 °C" on the fleet row and "0.0 °C" on its page, as if 0 °C were the target;
- a pump-fault alarm read "value 1.0" (the pump's number, not a reading), and readings had no unit;
- the supervisor's own alarms (pseudo station `supervisor`) linked to /stations/supervisor, a 404;
- a room-feedback trim of -0.04 K read "-0.0 K".
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.supervisor.fleet_alarms import SITE_ID

from .test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login, new_page, save_shot, system  # noqa: F401 - fixture

pytestmark = pytest.mark.browser



async def box(locator: Any) -> dict[str, float]:
    """The element's bounding box (it must be rendered)."""
    rect = await locator.bounding_box()
    assert rect is not None, locator
    return dict(rect)

async def test_night_shift_reads_what_it_means(system: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    from playwright.async_api import async_playwright, expect

    base, service, stations = system
    expect.set_options(timeout=TIMEOUT_MS)
    # arxan-02's controller reports 0 ("heating off") while its tripped pump leaves no proven flow,
    # until it has switched to the other pump: held here so the pages are checked on it at leisure
    stations[1].extra_values["supply_setpoint_c"] = 0.0
    # the supervisor's own alarm, as fleet_alarms records it when a notification channel fails
    await service.storage.record_alarm(SITE_ID, "notify_channel_failed", "major", True, time.time(),
                                       "wecom: timed out", 1.0, limit=None)
    # a station's make-up leak alarm with its reading (l/h), as the station reports it
    await service.storage.record_alarm("arxan-01", "makeup_leak_rate", "major", True, time.time(),
                                       "", 720.0, limit=None)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 1280, "height": 800}, locale="en-US")
            await login(page, base, "oli", "oper-pass-1")

            # the station that has stopped heating says so with setpoint 0
            for _ in range(300):
                values = service.ingest.state.get("arxan-02", {}).get("values", {})
                if values.get("supply_setpoint_c") == 0.0:
                    break
                await page.wait_for_timeout(100)
            assert values.get("supply_setpoint_c") == 0.0, values
            row = page.locator('#stations tr[data-station="arxan-02"]')
            await expect(row).to_contain_text("heating off")
            assert not re.search(r"/ 0\.0 °C", await row.inner_text()), await row.inner_text()

            await page.goto(base + "/stations/arxan-02")
            await expect(page.locator("#fact-supply-sp")).to_contain_text("heating off")
            await expect(page.locator("#fact-supply-sp")).not_to_contain_text("0.0 °C")
            await expect(page.locator("#d-s-sup-sp")).not_to_contain_text("0.0 °C")
            # the pump-fault alarm: its "value" is the pump's number, no reading to show
            alarm = page.locator('#st-alarms tr.alarm-row[data-code="pump1_fault"]')
            await expect(alarm).to_contain_text("Circulation pump 1 fault")
            assert "value" not in (await alarm.inner_text()), await alarm.inner_text()
            # a small negative number does not read "-0.0"
            assert await page.evaluate("HK.fmt(-0.04, 1, 'K')") == "0.0 K"
            assert await page.evaluate("HK.fmt(-0.4, 0)") == "0"
            assert await page.evaluate("HK.fmt(-0.06, 1)") == "-0.1"
            await page.screenshot(path=str(tmp_path / "night-station.png"), full_page=True)
            save_shot(tmp_path, "night-station.png")

            await page.goto(base + "/alarms")
            site = page.locator('#alarms tr.alarm-row[data-station="%s"]' % SITE_ID)
            await expect(site).to_contain_text("Notification channel failing")
            await expect(site.locator('a[href="/stations/%s"]' % SITE_ID)).to_have_count(0)
            await expect(site).to_contain_text("Supervisor")
            leak = page.locator('#alarms tr.alarm-row[data-station="arxan-01"][data-code="makeup_leak_rate"]')
            await expect(leak).to_contain_text("720.0 l/h")
            pump = page.locator('#alarms tr.alarm-row[data-station="arxan-02"][data-code="pump1_fault"]')
            await expect(pump).to_be_visible()
            assert "value" not in (await pump.inner_text()), await pump.inner_text()
            await page.screenshot(path=str(tmp_path / "night-alarms.png"), full_page=True)
            save_shot(tmp_path, "night-alarms.png")

            # in Chinese too
            await page.click("#lang-switch")
            await expect(page.locator("#alarms tr.alarm-row").first).to_be_visible()
            await expect(leak).to_contain_text("720.0 l/h")
            await expect(site.locator('a[href="/stations/%s"]' % SITE_ID)).to_have_count(0)
            assert await page.evaluate("HK.setpoint(0)") == "停止供热"
            assert await page.evaluate("HK.setpoint(52.04)") == "52.0 °C"
            assert errors == [], errors
        finally:
            await browser.close()


async def test_reports_read_in_site_time_and_say_minutes(system: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    """The daily report is the site's 09:00/17:00 report: its window and hours read in the site's
    time (UTC+8 here) whatever the browser's zone (UTC here), so the 09:00 report reads
    "09:00 – 09:00", not "01:00 – 01:00"; and a quarter of an hour below the floor reads
    "15 min", not a red "0.0" hours beside a 16 °C room."""
    from playwright.async_api import async_playwright, expect

    base, service, _stations = system
    expect.set_options(timeout=TIMEOUT_MS)
    assert service.config["supervisor"]["utc_offset_h"] == 8.0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 1280, "height": 800}, locale="en-US",
                                               timezone_id="UTC")
            await login(page, base, "oli", "oper-pass-1")
            await page.goto(base + "/reports")
            await page.fill("#d-date", "2026-01-15")
            await page.select_option("#d-hour", "9")
            await page.click("#d-run")
            await expect(page.locator("#d-out .daily-empty")).to_contain_text("(2026-01-14 09:00 – 2026-01-15 09:00)")
            # the compliance window starts at the site's midnight (16:00 UTC the day before)
            await page.fill("#c-from", "2026-01-10")
            await page.fill("#c-to", "2026-01-11")
            async with page.expect_response(lambda r: "/api/reports/compliance" in r.url) as resp:
                await page.click("#c-run")
            body = await (await resp.value).json()
            assert body["t0"] == 1768003200.0 - 8 * 3600 and body["t1"] == body["t0"] + 2 * 86400, body
            # durations under an hour in minutes
            assert await page.evaluate("HK.hours(0.25)") == "15 min"
            assert await page.evaluate("HK.hours(0.004)") == "1 min"
            assert await page.evaluate("HK.hours(0)") == "0.0"
            assert await page.evaluate("HK.hours(3.26)") == "3.3"
            assert errors == [], errors
        finally:
            await browser.close()


async def test_alarms_come_first_and_stay_readable_on_a_phone(system: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    """At 390 x 844 the station page shows its active alarms before the diagram (they were below the
    diagram, the setpoints and the rooms, 1300 px down), and the alarms table keeps the alarm's
    name readable: it was squeezed to two characters a line, the sentence stacked down the screen."""
    from playwright.async_api import async_playwright, expect

    base, service, _stations = system
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 390, "height": 844}, locale="zh-CN")
            await login(page, base, "oli", "oper-pass-1")
            await page.goto(base + "/stations/arxan-02")
            alarm = page.locator('#st-alarms tr.alarm-row[data-code="pump1_fault"]')
            await expect(alarm).to_be_visible()
            alarms_top = (await box(page.locator("#st-alarms")))["y"]
            diagram_top = (await box(page.locator(".diagram")))["y"]
            assert alarms_top < diagram_top, (alarms_top, diagram_top)
            assert alarms_top < 844, alarms_top  # on the first screen
            name = await box(alarm.locator("td").first)
            assert name["width"] >= 150, name
            await page.screenshot(path=str(tmp_path / "night-station-phone.png"), full_page=True)
            save_shot(tmp_path, "night-station-phone.png")

            await page.goto(base + "/alarms")
            row = page.locator('#alarms tr.alarm-row[data-station="arxan-02"][data-code="pump1_fault"]')
            await expect(row).to_be_visible()
            cell = await box(row.locator("td").nth(2))
            assert cell["width"] >= 150, cell
            assert await page.evaluate("document.scrollingElement.scrollWidth") <= 390  # the table scrolls in its box
            await page.screenshot(path=str(tmp_path / "night-alarms-phone.png"), full_page=True)
            save_shot(tmp_path, "night-alarms-phone.png")

            # the audit log: the action and its detail keep a readable width (the time took the
            # screen, the action read one character a line and the detail was cut off); a row of
            # the supervisor's own alarm does not link to /stations/supervisor
            await service.audit_log.record(user="notify", action="notify_sent", station_id=SITE_ID,
                                       detail="raise notify_channel_failed to zhang via outbox (message m1, attempt 1): "
                                              "written", result="sent")
            await page.goto(base + "/audit")
            created = page.locator('#audit tr.audit-row[data-action="create_user"]').first
            await expect(created).to_be_visible()
            action, detail = (await box(created.locator("td.audit-action")),
                              await box(created.locator("td.audit-detail")))
            assert action["width"] >= 90 and detail["width"] >= 150, (action, detail)
            site = page.locator('#audit tr.audit-row[data-action="notify_sent"]').first
            await expect(site).to_contain_text("通知已送达")
            await expect(site.locator('a[href="/stations/%s"]' % SITE_ID)).to_have_count(0)
            await page.screenshot(path=str(tmp_path / "night-audit-phone.png"), full_page=True)
            save_shot(tmp_path, "night-audit-phone.png")
            assert errors == [], errors
        finally:
            await browser.close()


async def test_trends_do_not_plot_heating_off_as_zero_degrees(system: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    """The station's final supply setpoint is 0 while it does not heat (tripped pump here): the
    trend drew that as a dashed setpoint line down at 0 °C; it is a break in the line instead."""
    from playwright.async_api import async_playwright, expect

    base, service, _stations = system
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 1280, "height": 800}, locale="en-US")
            await login(page, base, "oli", "oper-pass-1")
            for _ in range(300):  # the station's "heating off" reached the store
                now = time.time()
                data = await page.evaluate(
                    "(q) => fetch('/api/stations/arxan-02/trends?fields=supply_setpoint_c&' + q).then((r) => r.json())",
                    "t0=%d&t1=%d" % (now - 3600, now + 60))
                if 0.0 in [p[1] for p in data["data"].get("supply_setpoint_c", [])]:
                    break
                await page.wait_for_timeout(200)
            await page.goto(base + "/stations/arxan-02/trends")
            await page.click('#presets [data-span="3600"]')
            line = page.locator('svg[data-panel="temps"] path.line[stroke="#a16207"]')
            await expect(page.locator('svg[data-panel="temps"] path.line').first).to_have_attribute("d", re.compile(r"^M[\d.]+,[\d.]+"))
            await page.wait_for_timeout(1000)
            values = [p[1] for p in data["data"]["supply_setpoint_c"]]
            assert 0.0 in values, values  # the station did report "heating off"
            zero_y = await page.evaluate("""() => {
              const t = [...document.querySelectorAll('svg[data-panel="temps"] text.tick')].find((e) => e.textContent === "0");
              return t ? Number(t.getAttribute("y")) - 4 : null; }""")
            assert zero_y is not None
            d = await line.get_attribute("d") or ""
            ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", d)]
            assert all(abs(y - zero_y) > 1.0 for y in ys), (zero_y, d[:300])
            assert errors == [], errors
        finally:
            await browser.close()


async def test_the_fleet_at_a_glance_on_a_phone(system: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    """At 390 x 844 the fleet row shows which station, its state, its coldest room and which alarm
    without scrolling sideways: the alarm was off the right edge and the names four lines high.
    Mode, outdoor, supply and last heard are on the station page (and the row at desktop size)."""
    from playwright.async_api import async_playwright, expect

    base, _service, _stations = system
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, _ = await new_page(browser, viewport={"width": 390, "height": 844}, locale="zh-CN")
            await login(page, base, "oli", "oper-pass-1")
            row = page.locator('#stations tr[data-station="arxan-02"]')
            alarm = row.locator(".fleet-alarm")
            await expect(alarm).to_contain_text("循环泵")
            cell = await box(row.locator("td").nth(6))  # the alarm's cell, readable and on screen
            assert cell["x"] + cell["width"] <= 390 and cell["width"] >= 90, cell
            comfort = await box(row.locator("td.comfort"))
            assert comfort["x"] + comfort["width"] <= 390, comfort
            name = await box(row.locator("a.station-link"))
            assert name["width"] >= 85, name  # was 60: four lines a name
            await page.screenshot(path=str(tmp_path / "night-fleet-phone.png"), full_page=True)
            save_shot(tmp_path, "night-fleet-phone.png")
            # at desktop size every column is there
            await page.set_viewport_size({"width": 1280, "height": 800})
            await expect(row.locator("td").nth(4)).to_be_visible()
            await expect(page.locator("#stations th").nth(7)).to_be_visible()
        finally:
            await browser.close()
