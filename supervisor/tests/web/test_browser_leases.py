"""A remote lease end to end, in a real headless Chromium, on a real station.

The real `heatkeeper station` process (Modbus RTU over a pty to `heatkeeper sim`, the plant
model behind it, configured as `heatkeeper demo` configures its stations) reports to the real
supervisor (serve(): embedded broker, SQLite, ingest, commands signed with the station's key).
The operator's form offers only what the station accepts now (no supply setpoint in Auto, the
station's own 16-24 degC room range and 20-90 degC supply range); after Remote and a 30-minute
supply lease the station page says, in words and on the diagram, the target, the time left, the
climb at the station's 12 K/h and that it cannot arrive before the lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.tools import demo
from heatkeeper.tools.procs import ProcessGroup, free_port, wait_path

from .test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login, new_page, save_shot

pytestmark = pytest.mark.browser

SID = "arxan-01"


@pytest.fixture
async def real_station(tmp_path: Path) -> Any:
    """The supervisor in this process and one real station with its simulator as children;
    yields (base_url, service)."""
    from heatkeeper.supervisor import config as sup_config
    from heatkeeper.supervisor.main import serve

    broker_port, web_port = free_port(), free_port()
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": broker_port},
        "mqtt": {"port": broker_port, "protocol": demo._protocol()},
        "storage": {"path": str(tmp_path / "sup.db"), "batch_interval_s": 0.05},
        "commands": {"timeout_s": 30.0},
        "web": {"port": web_port},
        "station": [{"id": SID, "name": "Arxan No. 1 station", "city": "Arxan"}],
    })
    cfg["web"]["refresh_s"] = 1.0
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    server = asyncio.ensure_future(serve(cfg, on_ready=ready.set_result))
    service = await asyncio.wait_for(ready, 60)
    await service.accounts.create_user("oli", "oper-pass-1", "operator")
    creds = tmp_path / "sup" / "credentials"
    st = demo.STATIONS[0]
    assert st["id"] == SID
    root = tmp_path / SID
    root.mkdir()
    (root / "station.toml").write_text(demo._station_toml(st, root, broker_port, free_port(), free_port(), 1.0, creds / (SID + ".password"),
                                                          creds / (SID + ".cmdkey")), encoding="utf-8")
    # the simulator without its room collectors ([mqtt]): they are not what this test is about
    sim_toml = re.sub(r"\[mqtt\]\n(?:.+\n)+\n", "", demo._sim_toml(st, root, 1.0, broker_port, root / "none"))
    assert "[mqtt]" not in sim_toml
    (root / "sim.toml").write_text(sim_toml, encoding="utf-8")
    group = ProcessGroup(tmp_path / "logs")
    try:
        sim = group.start("sim", ["sim", "--config", str(root / "sim.toml")])
        assert wait_path(root / "line.tty", 60, sim), group.log_tail("sim")
        group.start("station", ["station", "--config", str(root / "station.toml")])
        for _ in range(600):  # the station's first telemetry with what it accepts
            if "commands_permitted" in service.ingest.state[SID]["values"]:
                break
            assert not group.dead(), [group.log_tail(name) for name in ("sim", "station")]
            await asyncio.sleep(0.1)
        yield "http://127.0.0.1:%d" % web_port, service
    finally:
        await asyncio.to_thread(group.stop_all)
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await server


async def test_a_supply_lease_in_words_on_a_real_station(real_station: Any, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    base, service = real_station
    expect.set_options(timeout=TIMEOUT_MS)  # the page shows what the station's next telemetry (every 5 s) says
    values = service.ingest.state[SID]["values"]
    assert values["commands_supply_max_c"] == 90.0 and values["ramp_up_k_per_h"] == 12.0, values
    assert len(values) <= codec.MAX_FIELDS  # one telemetry message still carries everything
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx, page, errors = await new_page(browser, viewport={"width": 1440, "height": 1000}, locale="en-US")
            await login(page, base, "oli", "oper-pass-1")
            await page.goto(base + "/stations/" + SID)
            await expect(page.locator("#st-mode")).to_contain_text("Auto")

            # Auto: the form offers no supply setpoint, and says why; the room range is the station's
            kinds = page.locator("#cmd-kind option")
            await expect(page.locator('#cmd-kind option[value="set_room_setpoint"]')).to_have_count(1)
            await expect(page.locator('#cmd-kind option[value="set_supply_setpoint"]')).to_have_count(0)
            await expect(page.locator("#cmd-offer-note")).to_contain_text("Supply temperature setpoint")
            await page.select_option("#cmd-kind", "set_room_setpoint")
            await expect(page.locator("#arg-room_setpoint_c")).to_have_attribute("min", "16")
            await expect(page.locator("#arg-room_setpoint_c")).to_have_attribute("max", "24")
            await page.select_option("#cmd-kind", "set_mode")
            modes = await page.locator("#arg-mode option").evaluate_all("(os) => os.map((o) => o.value)")
            assert "manual" not in modes and "auto" not in modes and "remote" in modes, modes

            # Remote: confirmed as current -> new, applied, and the page reminds that Remote stays
            await page.select_option("#arg-mode", "remote")
            await page.click("#cmd-send")
            await expect(page.locator("#confirm-dialog")).to_contain_text("Auto → Remote")
            await expect(page.locator("#confirm-dialog")).to_contain_text("stays in Remote until someone sets Auto")
            await page.click("#confirm-ok")
            await expect(page.locator('#cmd-list .cmd-state[data-state="applied"]').first).to_be_visible()
            await expect(page.locator("#st-mode")).to_contain_text("Remote")
            await expect(page.locator("#st-remote-reminder")).to_be_visible()

            # now the station accepts a supply setpoint, up to its own 90 degC
            await expect(page.locator('#cmd-kind option[value="set_supply_setpoint"]')).to_have_count(1)
            await expect(page.locator("#cmd-offer-note")).to_be_hidden()
            await page.select_option("#cmd-kind", "set_supply_setpoint")
            await expect(page.locator("#arg-supply_setpoint_c")).to_have_attribute("max", "90")
            now_sp = float(service.ingest.state[SID]["values"]["supply_setpoint_c"])
            target = min(90.0, round(now_sp) + 13.0)  # 13 K at 12 K/h: 65 minutes, longer than the lease
            await page.fill("#arg-supply_setpoint_c", str(target))
            await page.select_option("#cmd-lease", "1800")
            await page.click("#cmd-send")
            dialog = page.locator("#confirm-dialog")
            await expect(dialog).to_contain_text(lambda_re(r"Supply setpoint: \d+\.\d °C → %.1f °C" % target))
            await expect(dialog).to_contain_text("It cannot arrive")
            await expect(dialog).to_contain_text("follows its own heating curve again")
            await page.click("#confirm-ok")
            await expect(page.locator('#cmd-list .cmd-state[data-state="applied"]').first).to_be_visible()

            # the lease in words, on the page and the diagram: target, time left, climb, no arrival
            lease = page.locator("#lease-supply_setpoint")
            await expect(lease).to_contain_text("Remote supply setpoint %.1f °C" % target)
            await expect(lease).to_contain_text(lambda_re(r"(29|30) min left"))
            await expect(lease).to_contain_text("at 12 K/h")
            await expect(lease).to_contain_text("cannot arrive before the lease ends")
            await expect(lease).to_have_class(lambda_re(r"\bbad\b"))
            await expect(page.locator("#d-s-lease")).to_contain_text("%.1f °C" % target)
            await expect(page.locator("#d-s-lease2")).to_contain_text("cannot arrive")
            await expect(page.locator("#st-remote-reminder")).to_be_hidden()
            await expect(page.locator("#facts")).not_to_contain_text("lease_s")
            await page.screenshot(path=str(tmp_path / "dashboard-lease.png"), full_page=True)
            save_shot(tmp_path, "dashboard-lease.png")
            assert await kinds.count() >= 5
            # the same in Chinese
            await page.click("#lang-switch")
            await expect(page.locator("#lease-supply_setpoint")).to_contain_text("租约结束前无法达到")
            await expect(page.locator("#lease-supply_setpoint")).to_contain_text("12 K/h")
            await expect(page.locator("#d-s-lease2")).to_contain_text("无法达到")
            await page.screenshot(path=str(tmp_path / "dashboard-lease-zh.png"), full_page=True)
            save_shot(tmp_path, "dashboard-lease-zh.png")
            assert errors == [], errors
        finally:
            await browser.close()


def lambda_re(pattern: str) -> Any:
    return re.compile(pattern)
