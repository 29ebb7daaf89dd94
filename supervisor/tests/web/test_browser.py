"""The dashboard in a real headless Chromium against a real supervisor.

Everything is real: `heatkeeper supervisor`'s serve() (embedded MQTT broker, SQLite, ingest,
command tracking, the web app), two stations running core's StationController on the plant
model over MQTT, and Debian's Chromium driven by Playwright. The test logs in, sees the
fleet, changes a setpoint and sees the station apply it, sees a setpoint the station refuses
with its reason, acknowledges an alarm, checks a viewer is read-only, switches language, changes
its own password; the first admin must change the install password at first login, then adds a
user and disables the viewer.

Screenshots go to tmp_path, and also to $HEATKEEPER_SCREENSHOTS when set (docs/ for the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.tools.procs import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30000  # generous: the 2-core CI box may be busy; a passing run does not wait for it


async def new_page(browser: Any, **options: Any) -> tuple[Any, Any, list[str]]:
    """(context, page, errors): a new browser context with `options` (viewport, locale, touch...),
    the CI-generous timeout, and one page whose uncaught script errors are collected in `errors`
    (a test asserts the list stays empty). The caller closes the context."""
    ctx = await browser.new_context(**options)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = await ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return ctx, page, errors


def save_shot(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    target = os.environ.get("HEATKEEPER_SCREENSHOTS")
    if target:
        os.makedirs(target, exist_ok=True)
        shutil.copy(path, os.path.join(target, name))
    return path


@contextlib.asynccontextmanager
async def running_supervisor(cfg: dict[str, Any], users: Any = (), stations: Any = (), prepare: Any = None,
                             online_s: float = 0.0) -> Any:
    """`heatkeeper supervisor`'s serve() on `cfg`, with `users` ((name, role, password)) created
    and the StationResponders `stations` running on the credentials it wrote (`prepare(station,
    credentials_dir)` first, when given); waits up to `online_s` for every station to be online.
    Yields the service; stops the stations and the supervisor after."""
    from heatkeeper.firmware.tasks import cancel_and_wait
    from heatkeeper.supervisor.main import serve

    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve(cfg, on_ready=ready.set_result))
    tasks: list[asyncio.Future[Any]] = []
    try:
        service = await asyncio.wait_for(ready, 30)
        for name, role, password in users:
            await service.accounts.create_user(name, password, role)
        creds = Path(cfg["supervisor"]["data_dir"]) / "credentials"
        for st in stations:
            st.password = (creds / (st.station_id + ".password")).read_text().strip()
            if prepare is not None:
                prepare(st, creds)
            tasks.append(asyncio.ensure_future(st.run()))
        for _ in range(int(online_s * 10)):
            if all(service.ingest.state.get(st.station_id, {}).get("online") for st in stations):
                break
            await asyncio.sleep(0.1)
        yield service
    finally:
        await cancel_and_wait([*tasks, server])  # a dropped cancel is repeated (firmware/tasks.py)


@pytest.fixture
async def system(tmp_path: Path) -> Any:
    """A running supervisor with its web app and two live stations; yields (base_url, service, stations)."""
    from heatkeeper.supervisor import config as sup_config

    from .station_responder import StationResponder

    broker_port, web_port = free_port(), free_port()
    stations = [StationResponder("127.0.0.1", broker_port, "arxan-01", "", seed=1),
                StationResponder("127.0.0.1", broker_port, "arxan-02", "", seed=2, faults=("pump_trip",))]
    collectors = [{"id": cid, "station": st.station_id, "group": group} for st in stations for cid, group in st.collector_ids()]
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": broker_port},
        "mqtt": {"port": broker_port},
        "storage": {"path": str(tmp_path / "sup.db"), "batch_interval_s": 0.05},
        "commands": {"timeout_s": 15.0},
        "collectors": {"forward_interval_s": 1.0},
        "web": {"port": web_port},
        "station": [{"id": "arxan-01", "name": "Arxan No. 1 (Xincheng)", "city": "Arxan"},
                    {"id": "arxan-02", "name": "Arxan No. 2 (Tianchi Rd)", "city": "Arxan"},
                    {"id": "arxan-03", "name": "Arxan No. 3 (Station Sq.)", "city": "Arxan"}],
        "collector": collectors,
        # each station's flats report through their own collector platform account
        "collector_platform": [{"user": st.collectors_user, "prefix": st.station_id + "-"} for st in stations],
    })
    cfg["web"]["refresh_s"] = 1.0  # the dashboard's poll period (a [web] key of the dashboard)

    def prepare(st: Any, creds: Path) -> None:
        st.collectors_password = (creds / (st.collectors_user + ".password")).read_text().strip()
        st.warm_up(2 * 3600.0)

    async with running_supervisor(cfg, (("oli", "operator", "oper-pass-1"), ("vic", "viewer", "view-pass-1")),
                                  stations, prepare) as service:
        yield "http://127.0.0.1:%d" % web_port, service, stations


async def login(page: Any, base: str, user: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#username", user)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url(base + "/")


async def test_dashboard_in_a_real_browser(system: Any, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    base, service, stations = system
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 1440, "height": 1000}, locale="zh-CN")

            # Unauthenticated: the login page, in Chinese by default.
            await page.goto(base + "/")
            assert "/login" in page.url
            await expect(page.locator("#login-submit")).to_have_text("登录")
            await page.fill("#username", "oli")
            await page.fill("#password", "wrong-password")
            await page.click("#login-submit")
            await expect(page.locator("#login-error")).to_be_visible()
            await login(page, base, "oli", "oper-pass-1")

            # Fleet: both live stations online, the third offline, the tripped pump's alarm counted.
            rows = page.locator("#stations tbody tr.station-row")
            await expect(rows).to_have_count(3)
            await expect(page.locator("#broker-banner")).to_be_hidden()
            await expect(page.locator('tr[data-station="arxan-01"]')).to_have_class(lambda_re(r"\brow-on\b"))
            await expect(page.locator('tr[data-station="arxan-03"]')).to_have_class(lambda_re(r"\brow-off\b"))
            await expect(page.locator('tr[data-station="arxan-03"] .pill-off')).to_be_visible()
            await expect(page.locator('tr[data-station="arxan-02"] .pill-bad').first).to_be_visible()
            await expect(page.locator('tr[data-station="arxan-01"] td.comfort')).not_to_have_text("–")
            await page.screenshot(path=str(tmp_path / "dashboard-fleet-zh.png"))
            save_shot(tmp_path, "dashboard-fleet-zh.png")

            # Language switch, remembered across pages and reloads.
            await page.click("#lang-switch")
            await expect(page.locator("h1")).to_have_text("Fleet overview")
            await page.reload()
            await expect(page.locator("h1")).to_have_text("Fleet overview")
            await expect(rows).to_have_count(3)
            await expect(page.locator('tr[data-station="arxan-01"] td.comfort')).not_to_have_text("–")
            # the fleet row names its alarm, not only how many
            await expect(page.locator('tr[data-station="arxan-02"] .fleet-alarm')).to_contain_text("Circulation pump 1 fault")
            await expect(page.locator('tr[data-station="arxan-02"] .alarm-evidence')).to_contain_text(lambda_re(r"for \d+ (s|min)"))
            await page.screenshot(path=str(tmp_path / "dashboard-fleet.png"))
            save_shot(tmp_path, "dashboard-fleet.png")

            # A command to the station that is off line: nobody answers, it must end as timed out.
            await page.goto(base + "/stations/arxan-03")
            await expect(page.locator("#st-stale")).to_be_visible()
            await page.select_option("#cmd-kind", "set_mode")
            await page.select_option("#arg-mode", "summer")
            await page.click("#cmd-send")
            await page.click("#confirm-ok")
            await expect(page.locator('#cmd-list .cmd-state[data-state="sent"]').first).to_be_visible()
            await page.goto(base + "/")

            # Station detail: the live diagram fills in.
            await page.click('a[href="/stations/arxan-01"]')
            await expect(page.locator("#st-online")).to_have_class("pill pill-ok")
            await expect(page.locator("#d-s-sup-t")).to_have_text(lambda_re(r"^\d+\.\d °C$"))
            await expect(page.locator("#d-valve")).to_have_text(lambda_re(r"^\d+ %$"))
            await expect(page.locator("#pump1")).to_have_class(lambda_re(r"pump-run"))
            # what the room feedback does to the supply, with the coldest rooms it acts on
            await expect(page.locator("#fact-room-trim")).to_contain_text("Room feedback trim")
            await expect(page.locator("#fact-room-trim .v")).to_have_text(lambda_re(r"^[+-]?\d+\.\d K( · coldest rooms \d+\.\d °C)?$"))

            # A room setpoint within the station's limits: confirmed, sent, applied.
            await page.select_option("#cmd-kind", "set_room_setpoint")
            await page.fill("#arg-room_setpoint_c", "20.5")
            await page.select_option("#cmd-lease", "7200")
            await page.click("#cmd-send")
            await expect(page.locator("#confirm-dialog")).to_contain_text("20.5")
            await page.click("#confirm-ok")
            await expect(page.locator('#cmd-list .cmd-state[data-state="applied"]').first).to_be_visible()
            assert any(r["result"] == "applied" for r in stations[0].applied)
            await expect(page.locator("#lease-room_setpoint")).to_contain_text("20.5 °C")
            # the form's range is the station's own (16-24 degC), so 27 cannot be sent
            await expect(page.locator("#arg-room_setpoint_c")).to_have_attribute("max", "24")

            # One the station refuses for a reason only it knows: shown as rejected with that reason.
            await page.select_option("#cmd-kind", "set_mode")
            await page.select_option("#arg-mode", "summer")
            await page.click("#cmd-send")
            await page.click("#confirm-ok")
            await expect(page.locator('#cmd-list .cmd-state[data-state="rejected"]').first).to_be_visible()
            await expect(page.locator("#cmd-list .why").first).to_contain_text("outdoor_too_cold")
            await page.screenshot(path=str(tmp_path / "dashboard-station.png"), full_page=True)
            save_shot(tmp_path, "dashboard-station.png")

            # The make-up rate while the core is still measuring it: "measuring", never a false 0 l/h.
            stations[0].extra_values["makeup_rate_measuring"] = 1
            await expect(page.locator("#fact-makeup-rate .v")).to_have_text("measuring")
            stations[0].extra_values["makeup_rate_measuring"] = 0
            await expect(page.locator("#fact-makeup-rate .v")).to_have_text(lambda_re(r"^\d+ l/h$"))

            # On the station page the alarm says since when and for how long, and acknowledging
            # it names it in words, not by its code.
            await page.goto(base + "/stations/arxan-02")
            alarm = page.locator('#st-alarms tr.alarm-row[data-code="pump1_fault"]')
            await expect(alarm).to_contain_text("Circulation pump 1 fault")
            await expect(alarm).to_contain_text(lambda_re(r"for \d+ (s|min)"))
            await alarm.locator(".ack-btn").click()
            await expect(page.locator("#confirm-dialog")).to_contain_text('Acknowledge "Circulation pump 1 fault"')
            await page.click("#confirm-cancel")

            # Alarms: acknowledge the tripped pump at arxan-02.
            await page.goto(base + "/alarms")
            row = page.locator('tr.alarm-row[data-station="arxan-02"][data-code="pump1_fault"]')
            await row.locator(".ack-btn").click()
            await page.click("#confirm-ok")
            await expect(row).to_contain_text("acknowledged by oli")
            await expect(row).to_contain_text(lambda_re(r"for \d+ (s|min)"))
            await page.screenshot(path=str(tmp_path / "dashboard-alarms.png"))
            save_shot(tmp_path, "dashboard-alarms.png")
            acked = [a for a in await service.alarm_desk.alarms("arxan-02", True) if a["code"] == "pump1_fault"]
            assert acked and acked[0]["acked_by"] == "oli"

            # Trends draw real lines for the station.
            await page.goto(base + "/stations/arxan-01/trends")
            await page.click('#presets [data-span="3600"]')
            await expect(page.locator('svg[data-panel="temps"] path.line').first).to_have_attribute("d", lambda_re(r"^M[\d.]+,[\d.]+L"))
            await page.screenshot(path=str(tmp_path / "dashboard-trends.png"), full_page=True)
            save_shot(tmp_path, "dashboard-trends.png")

            # The unanswered command to arxan-03 timed out, and the page says so.
            await page.goto(base + "/stations/arxan-03")
            await expect(page.locator('#cmd-list .cmd-state[data-state="timed_out"]').first).to_be_visible(timeout=45000)
            await expect(page.locator("#cmd-list .why").first).to_contain_text("no answer from the station")

            # Audit: the operator's actions, attributed.
            await page.goto(base + "/audit")
            await expect(page.locator("#audit tbody")).to_contain_text("Room temperature setpoint: Room setpoint 20.5 °C, lease 2.0 h")
            await expect(page.locator("#audit tbody")).to_contain_text("too cold outside for summer mode (outdoor_too_cold)")
            assert errors == [], errors

            # The operator changes their own password: this tab goes on, the old password is dead.
            await page.goto(base + "/password")
            await expect(page.locator("#pw-forced")).to_have_count(0)
            await page.fill("#pw-current", "oper-pass-1")
            await page.fill("#pw-new", "oper-pass-2")
            await page.fill("#pw-confirm", "oper-pass-2")
            await page.click("#pw-submit")
            await page.wait_for_url(base + "/?password=changed")
            await expect(page.locator("#toast")).to_be_visible()
            await page.goto(base + "/alarms")
            await expect(page.locator("#nav-password")).to_be_visible()
            assert "/login" not in page.url
            assert await service.accounts.authenticate("oli", "oper-pass-1") is None
            assert (await service.accounts.authenticate("oli", "oper-pass-2") or {}).get("role") == "operator"

            # A viewer sees the station but no command form and no acknowledge buttons.
            viewer, vpage, _ = await new_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
            await login(vpage, base, "vic", "view-pass-1")
            await vpage.goto(base + "/stations/arxan-02")
            await expect(vpage.locator("#cmd-readonly")).to_be_visible()
            assert await vpage.locator("#cmd-form").count() == 0
            await expect(vpage.locator("#st-alarms tbody tr.alarm-row").first).to_be_visible()
            assert await vpage.locator(".ack-btn").count() == 0

            # The first admin (password written once at install) must choose a new one before
            # anything else; the file with the old one is then deleted.
            initial_file = tmp_path / "sup" / "initial-admin-password"
            admin_pw = initial_file.read_text().strip()
            admin, apage, _ = await new_page(browser, viewport={"width": 1280, "height": 900}, locale="en-US")
            await apage.goto(base + "/login")
            await apage.fill("#username", "admin")
            await apage.fill("#password", admin_pw)
            await apage.click("#login-submit")
            await apage.wait_for_url(base + "/password")
            await expect(apage.locator("#pw-forced")).to_be_visible()
            await apage.goto(base + "/users")
            await apage.wait_for_url(base + "/password")  # nothing else until the password is changed
            await apage.fill("#pw-current", admin_pw)
            await apage.fill("#pw-new", "admin-chosen-1")
            await apage.fill("#pw-confirm", "admin-chosen-2")
            await apage.click("#pw-submit")
            await expect(apage.locator("#pw-error")).to_contain_text("differ")
            await apage.fill("#pw-current", admin_pw)
            await apage.fill("#pw-new", "admin-chosen-1")
            await apage.fill("#pw-confirm", "admin-chosen-1")
            await apage.click("#pw-submit")
            await apage.wait_for_url(base + "/?password=changed")
            await expect(apage.locator("#toast")).to_contain_text("Password changed")
            assert not initial_file.exists()
            await apage.screenshot(path=str(tmp_path / "dashboard-password.png"))

            # The admin adds a user from the Users page ...
            await apage.goto(base + "/users")
            await apage.fill("#nu-name", "nina")
            await apage.fill("#nu-pass", "nina-pass-1")
            await apage.select_option("#nu-role", "operator")
            await apage.click("#nu-submit")
            await expect(apage.locator('tr.user-row[data-user="nina"]')).to_contain_text("operator")
            assert {"username": "nina", "role": "operator"} in [{k: u[k] for k in ("username", "role")}
                                                                for u in await service.accounts.list_users()]
            # ... and disables the viewer: their open session ends and they can no longer log in.
            await apage.locator('tr.user-row[data-user="vic"] .user-toggle').click()
            await apage.click("#confirm-ok")
            await expect(apage.locator('tr.user-row[data-user="vic"] .user-status')).to_have_text("disabled")
            await expect(apage.locator('tr.user-row[data-user="admin"] .user-toggle')).to_have_count(0)  # not yourself
            await apage.screenshot(path=str(tmp_path / "dashboard-users.png"))
            save_shot(tmp_path, "dashboard-users.png")
            # The viewer's open tab (still on arxan-02) is sent to the login page by its own next poll
            # (a goto here would race that redirect).
            await vpage.wait_for_url(re.compile(r"/login\?next=%2Fstations%2Farxan-02$"), timeout=30_000)
            await vpage.fill("#username", "vic")
            await vpage.fill("#password", "view-pass-1")
            await vpage.click("#login-submit")
            await expect(vpage.locator("#login-error")).to_be_visible()
            await viewer.close()
            await admin.close()
        finally:
            await browser.close()


def lambda_re(pattern: str) -> Any:
    import re

    return re.compile(pattern)
