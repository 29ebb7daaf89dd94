"""Every operator page at phone size, and every page in Chinese, in a real headless Chromium
against a real supervisor with live stations (the `system` fixture of test_browser).

Phone: at 390 x 844 no page scrolls sideways (wide tables scroll inside their own box), and
every control a thumb needs (header links and buttons, buttons, selects, inputs, button-like
links, check boxes' labels) is at least 40 px in both directions, inside the dark bar when it
is in the header, and hit-testable: elementFromPoint at its centre lands on it, not on
something covering it.

Chinese: see `untranslated` for the rule.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.supervisor.web import i18n

from .test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login, save_shot, system  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

ADMIN = ("ada", "admin-pass-1")
MIN_TARGET_PX = 40
PHONE = (390, 844)

# (name, path, a selector that shows the page's data has arrived)
PAGES = [
    ("fleet", "/", "#stations tr.station-row"),
    ("station", "/stations/arxan-02", "#st-alarms tr.alarm-row"),
    ("alarms", "/alarms", "#alarms tr.alarm-row"),
    ("trends", "/stations/arxan-01/trends", 'svg[data-panel="temps"] path.line'),
    ("reports", "/reports", "#d-out table, #d-out .daily-empty"),
    ("audit", "/audit", "#audit tr.audit-row"),
    ("quarantine", "/quarantine", "#quarantine"),
    ("users", "/users", "#users tr.user-row"),
    ("password", "/password", "#pw-form"),
]

# Run in the page: what is wrong with it at the current viewport.
MEASURE_JS = """
([minPx, width]) => {
  const problems = [];
  const sw = document.scrollingElement.scrollWidth;
  if (sw > width) problems.push("page is " + sw + " px wide on a " + width + " px screen");
  if (window.innerWidth !== width) problems.push("the browser zoomed out to a " + window.innerWidth + " px layout");
  const header = document.querySelector("header.topbar");
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "") +
    " '" + (el.textContent || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 30) + "'";
  const shown = (el) => {
    if (!el.getClientRects().length) return false;
    const cs = getComputedStyle(el);
    return cs.visibility !== "hidden" && cs.display !== "none" && !el.closest("[hidden], dialog:not([open])");
  };
  const selector = "header a, header button, header select, main button, main select, main a.btn, main label.check, " +
    "main input:not([type=hidden]):not([type=checkbox]), main a";
  for (const el of document.querySelectorAll(selector)) {
    if (!shown(el)) continue;
    if (el.tagName === "A" && !el.closest("header") && !el.classList.contains("btn") && el.closest("p.prose")) continue;
    el.scrollIntoView({ block: "center", inline: "center" });
    const r = el.getBoundingClientRect();
    if (r.width < minPx || r.height < minPx) problems.push(name(el) + " is " + Math.round(r.width) + " x " + Math.round(r.height) + " px");
    if (header && header.contains(el)) {
      const h = header.getBoundingClientRect();
      if (r.left < h.left - 0.5 || r.right > h.right + 0.5 || r.top < h.top - 0.5 || r.bottom > h.bottom + 0.5)
        problems.push(name(el) + " lies outside the header bar");
    }
    const x = Math.min(Math.max(r.left + r.width / 2, 1), width - 1), y = r.top + r.height / 2;
    if (r.right < 1 || r.left > width - 1) { problems.push(name(el) + " is off screen"); continue; }
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(el === hit || el.contains(hit) || (el.tagName === "LABEL" && el.control === hit)))
      problems.push(name(el) + " is covered by " + (hit ? name(hit) : "nothing"));
  }
  window.scrollTo(0, 0);
  return problems;
}
"""


async def prepare(service: Any) -> None:
    """An admin, an applied and a rejected command (the audit log then has both), a live alarm."""
    await service.create_user(*ADMIN, role="admin")
    ok = await service.send_command("arxan-01", "set_room_setpoint", {"room_setpoint_c": 20.5}, "oli", 1800.0)
    bad = await service.send_command("arxan-01", "set_room_setpoint", {"room_setpoint_c": 27.0}, "oli", 1800.0)
    for _ in range(300):
        states = [(await service.command_status(c))["state"] for c in (ok, bad)]
        if "sent" not in states:
            break
        await asyncio.sleep(0.1)
    assert states == ["applied", "rejected"], states


async def open_page(page: Any, base: str, path: str, ready: str) -> None:
    await page.goto(base + path)
    await page.locator(ready).first.wait_for(state="attached")
    await page.wait_for_timeout(400)  # the last poll's rows drawn


async def test_every_page_fits_a_phone(system: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    from playwright.async_api import async_playwright

    base, service, _stations = system
    await prepare(service)
    found: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang in ("en-US", "zh-CN"):
                ctx = await browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]}, locale=lang, has_touch=True,
                                                is_mobile=True, device_scale_factor=2)
                ctx.set_default_timeout(TIMEOUT_MS)
                page = await ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(base + "/login")
                found["%s login" % lang] = await page.evaluate(MEASURE_JS, [MIN_TARGET_PX, PHONE[0]])
                await login(page, base, *ADMIN)
                for name, path, ready in PAGES:
                    await open_page(page, base, path, ready)
                    shot = "phone-%s-%s.png" % (name, lang[:2])
                    await page.screenshot(path=str(tmp_path / shot), full_page=True)
                    save_shot(tmp_path, shot)
                    problems = await page.evaluate(MEASURE_JS, [MIN_TARGET_PX, PHONE[0]])
                    if problems:
                        found["%s %s" % (lang, name)] = problems
                assert errors == [], errors
                await ctx.close()
        finally:
            await browser.close()
    found = {k: v for k, v in found.items() if v}
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)


# --- Chinese -----------------------------------------------------------------------------------
WORD = re.compile(r"[A-Za-z]{3,}")
IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")  # snake_case: a code, a key, a field name
CODE_LIKE = re.compile(r"[{}]|\b[a-z]+:[a-z_]+\b")  # a Python dict or an "ack:set_mode" action


def english_only_words() -> set[str]:
    """Words of the English catalogue that the Chinese one never uses (units, brand names and
    codes such as kW, CSV, MQTT, Modbus appear in both and are allowed)."""
    cats = i18n.load_catalogues()
    en = {w.lower() for text in cats["en"].values() for w in WORD.findall(re.sub(r"\{\w+\}", " ", text))}
    zh = {w.lower() for text in cats["zh"].values() for w in WORD.findall(re.sub(r"\{\w+\}", " ", text))}
    return en - zh


def untranslated(text: str, allowed: set[str], english: set[str]) -> list[str]:
    """What in `text` (a page's visible text in Chinese) is not Chinese: any snake_case
    identifier, any dict or `kind:code` pair, and any word of the English catalogue that is not
    in the Chinese catalogue too. Words of the data (station names and ids, cities, user names,
    building groups) are `allowed`: they are the operator's own names, not the interface's."""
    bad = set(IDENTIFIER.findall(text)) | set(CODE_LIKE.findall(text))
    bad |= {w for w in WORD.findall(text) if w.lower() in english and w.lower() not in allowed}
    return sorted(bad)


async def test_every_page_in_chinese_has_no_english_left(system: Any, tmp_path: Path) -> None:  # noqa: F811
    from playwright.async_api import async_playwright

    base, service, _stations = system
    await prepare(service)
    # the data's own words: station names, ids and cities, users, building groups
    data = json.dumps([await service.list_stations(), await service.list_users(), await service.collector_map()])
    allowed = {w.lower() for w in WORD.findall(data)}
    english = english_only_words()
    found: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            ctx.set_default_timeout(TIMEOUT_MS)
            page = await ctx.new_page()
            await page.goto(base + "/login")
            found["login"] = untranslated(await page.inner_text("body"), allowed, english)
            await login(page, base, *ADMIN)
            for name, path, ready in PAGES:
                await open_page(page, base, path, ready)
                text = await page.inner_text("body")
                text += "\n" + "\n".join(await page.eval_on_selector_all(
                    "[title], [placeholder], [aria-label]",
                    "els => els.map(e => [e.title, e.placeholder, e.getAttribute('aria-label')].filter(Boolean).join(' '))"))
                found[name] = untranslated(text, allowed, english)
                await page.screenshot(path=str(tmp_path / ("zh-%s.png" % name)), full_page=True)
        finally:
            await browser.close()
    found = {k: v for k, v in found.items() if v}
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)
