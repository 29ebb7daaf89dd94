"""The top bar's menu groups in a real headless Chromium, on a desktop and a phone, in English and
Chinese: each group opens under the bar with every page of it reachable (on the phone inside the
screen, big enough to tap, not covered by anything), one group at a time, closed by a click
elsewhere; a page of a group marks its group; every link leads to its page."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService

from .test_browser import CHROMIUM, CHROMIUM_ARGS, login, new_page, save_shot
from .test_browser_phone import MIN_TARGET_PX, PHONE

pytestmark = pytest.mark.browser

MENU_JS = """
([group, width]) => {
  const menu = document.querySelector(`details[data-navgroup="${group}"] .navmenu`);
  const out = [];
  for (const a of menu.querySelectorAll("a")) {
    const r = a.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    out.push({nav: a.dataset.nav, href: a.getAttribute("href"), w: r.width, h: r.height, left: r.left, right: r.right,
              covered: !(hit === a || a.contains(hit)), width});
  }
  return out;
}
"""


async def test_menu_groups_on_a_desktop_and_a_phone(client: TestClient, service: SupervisorService,
                                                    tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang, size, phone in (("en-US", (1280, 800), False), ("zh-CN", PHONE, True)):
                ctx, page, errors = await new_page(browser, viewport={"width": size[0], "height": size[1]},
                                                   locale=lang, has_touch=phone, is_mobile=phone)
                await login(page, base, "ada", "admin-pass-1")
                await page.goto(base + "/")
                groups = await page.eval_on_selector_all("details.navgroup", "els => els.map(e => e.dataset.navgroup)")
                assert groups == ["reports", "customers", "maintenance", "operations"]
                for group in groups:
                    summary = page.locator('details[data-navgroup="%s"] > summary' % group)
                    await summary.scroll_into_view_if_needed()
                    await (summary.tap() if phone else summary.click())
                    links = await page.evaluate(MENU_JS, [group, size[0]])
                    assert links, group
                    for link in links:
                        assert not link["covered"], link
                        assert link["left"] >= -0.5 and link["right"] <= size[0] + 0.5, link
                        if phone:
                            assert link["h"] >= MIN_TARGET_PX and link["w"] >= MIN_TARGET_PX, link
                    # one group open at a time
                    opened = await page.eval_on_selector_all("details.navgroup[open]", "els => els.map(e => e.dataset.navgroup)")
                    assert opened == [group]
                    if group == "reports":
                        shot = "nav-%s.png" % lang[:2]
                        await page.screenshot(path=str(tmp_path / shot))
                        save_shot(tmp_path, shot)
                # a click elsewhere closes it
                await page.mouse.click(size[0] // 2, size[1] - 20)
                assert await page.eval_on_selector_all("details.navgroup[open]", "els => els.length") == 0
                # every link leads to its page, which marks its group and itself
                for group, nav, path in (("reports", "energy", "/energy"), ("customers", "measurements", "/measurements"),
                                         ("operations", "settings_push", "/settings-push")):
                    summary = page.locator('details[data-navgroup="%s"] > summary' % group)
                    await summary.scroll_into_view_if_needed()
                    await (summary.tap() if phone else summary.click())
                    link = page.locator('details[data-navgroup="%s"] a[data-nav="%s"]' % (group, nav))
                    await (link.tap() if phone else link.click())
                    await page.wait_for_url(base + path)
                    assert await page.locator('details.navgroup.active[data-navgroup="%s"]' % group).count() == 1
                    assert await page.locator('a.active[data-nav="%s"]' % nav).count() == 1
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()


BAR_JS = """
() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right, h: r.height}; };
  const nav = document.querySelector(".mainnav");
  return {bar: box(document.querySelector(".topbar")), right: box(document.querySelector(".topright")),
          controls: [...document.querySelectorAll(".topright .btn-ghost, #conn-state, .who, .lang-switch, .topright a")]
            .map((el) => ({id: el.id || el.className, h: el.getBoundingClientRect().height, text: el.innerText})),
          badge: !document.getElementById("nav-alarm-count").hidden,
          navScrolls: nav.scrollWidth > nav.clientWidth + 1};
}
"""


async def test_the_users_controls_stay_whole_on_laptop_widths(client: TestClient, service: SupervisorService,
                                                              tmp_path: Path) -> None:
    # an admin (every link) with an alarm up (the badge): on a 1366 px laptop every link is in
    # view, narrower they scroll inside the bar; the clock, language, password and log-out stay
    # one line each
    from playwright.async_api import async_playwright

    await service.storage.record_alarm("st-a", "pump1_fault", "major", True, service.clock() - 60, "pump 1 fault", 1)
    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang, width in (("en-US", 1366), ("zh-CN", 1366), ("en-US", 1024), ("en-US", 800)):
                ctx, page, errors = await new_page(browser, viewport={"width": width, "height": 768}, locale=lang)
                await login(page, base, "ada", "admin-pass-1")
                await page.goto(base + "/alarms")
                await page.wait_for_selector("#nav-alarm-count:not([hidden])")
                bar = await page.evaluate(BAR_JS)
                assert bar["badge"]
                assert bar["bar"]["h"] <= 52.5, (lang, width, bar)  # one row, as designed
                assert bar["right"]["right"] <= width + 0.5, (lang, width, bar)
                password = next(c for c in bar["controls"] if c["id"] == "nav-password")
                for control in bar["controls"]:
                    assert "\n" not in control["text"].strip() and control["h"] <= max(password["h"], 24.0) + 0.5, (
                        lang, width, control)
                # at 1366 px every link is in view; narrower, they scroll inside the bar
                assert bar["navScrolls"] == (width <= 1024), (lang, width, bar)
                if (lang, width) == ("en-US", 1366):
                    await page.screenshot(path=str(tmp_path / "bar-1366.png"))
                    save_shot(tmp_path, "bar-1366.png")
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()


HINT_JS = """
() => Array.from(document.querySelectorAll("input[type=search]")).map(input => {
  const style = getComputedStyle(input);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {id: input.id || input.name, hint: input.placeholder, need: ctx.measureText(input.placeholder).width, room};
})
"""


async def test_every_search_box_shows_its_hint_whole_on_a_laptop(client: TestClient, service: SupervisorService,
                                                                 tmp_path: Path) -> None:
    # the placeholder says what the box searches (household, area, station, building...): at
    # 1366 px it is read whole, not cut off mid-word (the title repeats it on hover)
    from playwright.async_api import async_playwright

    base = str(client.make_url("")).rstrip("/")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang in ("en-US", "zh-CN"):
                ctx, page, errors = await new_page(browser, viewport={"width": 1366, "height": 768}, locale=lang)
                await login(page, base, "ada", "admin-pass-1")
                seen = 0
                for path in ("/", "/households", "/refunds", "/audit"):
                    await page.goto(base + path)
                    for box in await page.evaluate(HINT_JS):
                        assert box["hint"] and box["need"] <= box["room"] + 0.5, (lang, path, box)
                        seen += 1
                assert seen >= 4, seen
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
