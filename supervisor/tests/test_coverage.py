"""Room-collector coverage per station (supervisor/coverage.py) on hand-made cases: the register's
households over the configuration's count, live collectors, households named by collectors (and
one not registered there), cold positions first; the collectors' `household`/`placement` keys
checked in the configuration; the coverage alarm counting the register on both backends; the
households page and /api/coverage showing the same figures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.coverage import station_coverage

from .test_fleet_alarms import WINTER, active, at, reading, started


def hh(hid: str, sid: str) -> dict[str, str]:
    return {"household_id": hid, "station_id": sid}


def collector(sid: str, household: str = "", placement: str = "") -> dict[str, str]:
    return {"station": sid, "group": "g", "household": household, "placement": placement}


def test_coverage_counts_live_collectors_against_the_register_and_checks_the_cold_positions() -> None:
    stations = [{"id": "a", "name": "A", "households": 999}, {"id": "b", "households": 40}, {"id": "c"}]
    register = [hh("A%02d" % i, "a") for i in range(60)] + [hh("X1", "c")]
    collectors = {"a1": collector("a", "A01", "top_floor"), "a2": collector("a", "A02", "edge"),
                  "a3": collector("a", "A03", "ground_floor"), "a4": collector("a", "B99", "middle"),
                  "b1": collector("b", "", "middle"), "b2": collector("b")}
    latest = {"a1": (990.0, 20.0), "a2": (995.0, 20.0), "a3": (100.0, 20.0), "a4": (999.0, 21.0), "b1": (999.0, 21.0)}
    rows = {r["station_id"]: r for r in station_coverage(stations, collectors, register, latest, 1000.0, 600.0, 5.0)}
    a = rows["a"]
    # the register (60) wins over the configured 999; a3 is silent: 3 live of 60 = 5 %
    assert (a["households"], a["households_source"], a["live_collectors"], a["coverage_pct"]) == (60, "register", 3, 5.0)
    assert a["coverage_ok"] is True and a["required_collectors"] == 3
    assert a["households_with_collector"] == 3  # A01-A03; B99 is not registered at a
    assert a["problems"] == ["collector a4: household 'B99' is not registered at this station"]
    assert (a["cold_positions"], a["middle_positions"], a["unplaced"], a["cold_first"]) == (3, 1, 0, True)
    b = rows["b"]  # no register: the configuration's 40; 1 live = 2.5 %; its one placed collector in a middle flat
    assert (b["households"], b["households_source"], b["coverage_pct"], b["coverage_ok"]) == (40, "config", 2.5, False)
    assert (b["required_collectors"], b["cold_first"], b["unplaced"]) == (2, False, 1)
    c = rows["c"]  # registered, no collector at all
    assert (c["households"], c["collectors"], c["coverage_pct"], c["cold_first"]) == (1, 0, 0.0, None)


def test_the_collectors_household_and_placement_are_checked() -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"station": [{"id": "a"}], "collector": [
            {"id": "c1", "station": "a", "group": "g", "placement": "attic"},
            {"id": "c2", "station": "a", "group": "g", "household": 7}]})
    text = str(err.value)
    assert "[[collector]][0].placement='attic': must be one of top_floor, ground_floor, edge, middle" in text
    assert "[[collector]][1].household=7" in text
    cfg = sup_config.validate({"station": [{"id": "a"}], "collector": [
        {"id": "c1", "station": "a", "group": "g", "household": "H1", "placement": "edge"}]})
    assert cfg["collectors_map"]["c1"] == {"id": "c1", "station": "a", "group": "g", "household": "H1",
                                          "placement": "edge"}


async def test_the_coverage_alarm_counts_the_register(storage: Any) -> None:
    svc, clock = await started(storage, WINTER)  # st-a: households = 30 configured, collectors a1, a2
    reading(svc, "a1", 20.0)
    reading(svc, "a2", 20.0)
    await at(svc, clock, WINTER + 60)
    assert ("st-a", "collector_coverage_low") not in await active(svc)  # 2 of 30: 6.7 %
    await svc.storage.save_households([{
        "household_id": "H%03d" % i, "company": "", "branch": "", "residential_area": "", "station_id": "st-a",
        "building": "B", "area_m2": "80", "tariff_cny_per_m2": "20", "heating_type": "radiator", "metering": "area"}
        for i in range(50)], "ada", WINTER)
    reading(svc, "a1", 20.0)
    reading(svc, "a2", 20.0)
    await at(svc, clock, WINTER + 120)  # now 2 of the 50 registered: 4 %
    cov = (await active(svc))[("st-a", "collector_coverage_low")]
    assert cov["value"] == pytest.approx(4.0) and "50 households" in cov["text"]


async def test_the_households_page_and_the_api_show_the_coverage(tmp_path: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer
    from heatkeeper.supervisor.service import SupervisorService
    from heatkeeper.supervisor.storage import open_storage
    from heatkeeper.supervisor.web.app import create_app

    from .web.conftest import PASSWORDS, login

    cfg = sup_config.validate({"supervisor": {"data_dir": str(tmp_path / "sup")},
                               "station": [{"id": "st-a", "name": "Station A", "households": 20}],
                               "collector": [{"id": "c1", "station": "st-a", "group": "g", "household": "H1",
                                              "placement": "top_floor"}]})
    svc = SupervisorService(open_storage("sqlite", path=str(tmp_path / "sup.db")), cfg)
    await svc.start()
    try:
        await svc.accounts.create_user("vic", PASSWORDS["vic"][1], "viewer")
        assert svc.collectors.accept("c1", 20.5, svc.clock(), "test") == "stored"
        async with TestClient(TestServer(create_app(svc, {}), host="127.0.0.1")) as client:
            await login(client, "vic")
            data = json.loads(await (await client.get("/api/coverage")).text())
            assert [(r["station_id"], r["coverage_pct"], r["coverage_ok"]) for r in data["stations"]] == [
                ("st-a", 5.0, True)]
            page = await (await client.get("/households")).text()
            assert 'id="coverage"' in page and '<td class="num pct">5.0</td>' in page
    finally:
        await svc.stop()
