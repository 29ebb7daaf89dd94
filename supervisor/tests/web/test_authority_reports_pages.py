"""The reports to the authority and the hotline complaints on the dashboard: the schedule and the
delivery record, downloads (the .xlsx holds the CSV's rows), resend (operator and up; the
scheduler then sends the period again); complaints recorded from the form (every problem listed,
nothing stored), linked to an official measurement, answered and closed, overdue flagged by the
city's deadlines, counted per station and area. Every change and refusal is audited."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from heatkeeper.supervisor import complaints as cp
from heatkeeper.supervisor.service import SupervisorService

from ..test_authority_reports import same_table
from .conftest import login
from .test_households_pages import MEASUREMENTS, import_households, upload

TZ = ZoneInfo("Asia/Shanghai")


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def seed_aggregates(service: SupervisorService) -> None:
    t0 = int(local("2026-12-02T09:00"))
    await service.storage.upsert_aggregates([(sid, t0 + k * 300, "primary_flow_m3h", 1, flow, flow, flow)
                                             for k in range(96) for sid, flow in (("st-a", 12.0), ("st-b", 3.0))])


async def test_schedule_downloads_and_resend(client: TestClient, service: SupervisorService) -> None:
    service.clock = Clock(local("2026-12-02T18:00"))  # type: ignore[method-assign]
    admin = await login(client, "ada")
    await import_households(client, admin)
    await seed_aggregates(service)
    client.session.cookie_jar.clear()
    viewer = await login(client, "vic")
    page = await client.get("/authority-reports")
    text = await page.text()
    assert page.status == 200 and 'id="arp-off"' in text  # delivery off in this config: downloads still there
    assert "2026-12-02 09:00 – 2026-12-02 17:00" in text and "2026-11-30 09:00 – 2026-12-07 09:00" not in text
    assert "2026-11-23 09:00 – 2026-11-30 09:00" in text  # the last weekly period
    end = int(local("2026-12-02T17:00"))
    xlsx = await client.get("/authority-reports/download?report=hourly&end=%d&format=xlsx" % end)
    csv_resp = await client.get("/authority-reports/download?report=hourly&end=%d&format=csv" % end)
    assert xlsx.status == 200 and csv_resp.status == 200
    assert 'filename="heatkeeper-hourly-2026-12-02-1700.csv"' in csv_resp.headers["Content-Disposition"]
    csv_text = await csv_resp.text()
    same_table(csv_text, await xlsx.read(), "hourly")
    assert "Sunny Garden,2026-12-02 09:00,st-a;st-b,2,15.0," in csv_text  # 12 + 3 m3/h
    for bad in ("report=monthly&end=%d" % end, "report=hourly&end=%d" % (end + 60), "report=hourly&end=x",
                "report=hourly&end=%d&format=pdf" % end, "report=hourly&end=%d" % (end + 86400)):
        resp = await client.get("/authority-reports/download?" + bad)
        assert resp.status == 400, bad
    # a viewer may not resend; an operator may when a channel is configured
    resp = await client.post("/authority-reports/resend", data={"csrf": viewer, "report": "hourly", "end": str(end)})
    assert resp.status == 403
    client.session.cookie_jar.clear()
    oper = await login(client, "oli")
    assert 'class="inline arp-resend"' not in await (await client.get("/authority-reports")).text()  # no channel
    service.config["authority_reports"].update(channels=["http"], http_url="http://127.0.0.1:9/push")
    resp = await client.post("/authority-reports/resend", data={"csrf": oper, "report": "hourly", "end": str(end)},
                             allow_redirects=False)
    assert resp.status == 303
    (d,) = await service.storage.report_deliveries()
    assert (d["report"], d["period_end_ts"], d["period_start_ts"], d["channel"], d["state"]) == (
        "hourly", end, local("2026-12-02T09:00"), "http", "pending")
    api = await (await client.get("/api/authority-reports")).json()
    hourly = api["reports"][0]
    assert hourly["periods"][0]["deliveries"]["http"]["state"] == "pending"
    audit = await service.storage.fetch("SELECT action, result FROM audit WHERE action = 'authority_report_resend'")
    assert audit == [("authority_report_resend", "ok")]


async def test_complaints_form_deadlines_and_overdue(client: TestClient, service: SupervisorService) -> None:
    clock = Clock(local("2025-12-03T12:00"))
    service.clock = clock  # type: ignore[method-assign]
    admin = await login(client, "ada")
    await import_households(client, admin)
    resp = await client.post("/measurements/import", data=upload(admin, "m.csv", MEASUREMENTS.encode()),
                             allow_redirects=False)
    assert resp.status == 303
    client.session.cookie_jar.clear()
    oper = await login(client, "oli")
    form = {"csrf": oper, "hotline_no": "12345-0001", "household_id": "H2", "received": "2025-12-01T08:00",
            "summary": "客厅只有 17 度", "measurement_time": "2025-12-01T10:00"}
    resp = await client.post("/complaints", data=form, allow_redirects=False)
    assert resp.status == 303, re.findall(r"<li>(.*?)</li>", await resp.text())
    # every problem listed, nothing stored
    bad = {"csrf": oper, "hotline_no": "12345 0002", "household_id": "H9", "received": "2025-13-01",
           "summary": "", "measurement_time": "2025-12-01T11:00"}
    resp = await client.post("/complaints", data=bad)
    text = await resp.text()
    assert resp.status == 400 and 'id="cpl-problems"' in text
    for needle in ("hotline_no=&#39;12345 0002&#39;", "household_id=&#39;H9&#39;", "not an ISO 8601 time",
                   "summary: empty"):
        assert needle in text, needle
    resp = await client.post("/complaints", data={**form, "measurement_time": "2025-12-01T11:00"})
    assert resp.status == 400 and "no official measurement at that time" in await resp.text()
    assert (await client.post("/complaints", data=form)).status == 400  # the same hotline number twice
    form2 = {"csrf": oper, "hotline_no": "12345-0002", "household_id": "H3", "summary": "暖气不热"}
    assert (await client.post("/complaints", data=form2, allow_redirects=False)).status == 303  # received: now
    rows = {c["hotline_no"]: c for c in await service.storage.complaints()}
    assert set(rows) == {"12345-0001", "12345-0002"}
    assert rows["12345-0001"]["measurement_ts"] == local("2025-12-01T10:00")
    assert rows["12345-0002"]["received_ts"] == clock.t and rows["12345-0002"]["station_id"] == "st-b"

    api = await (await client.get("/api/complaints")).json()
    one = {c["hotline_no"]: c for c in api["complaints"]}["12345-0001"]
    assert one["state"] == "open" and one["answer_overdue"] and not one["close_overdue"]  # 52 h after receipt
    assert one["answer_due"] == "2025-12-02 08:00" and one["close_due"] == "2025-12-04 08:00"
    assert api["by_area"] == [{"residential_area": "Sunny Garden", "complaints": 1, "open": 1, "overdue": 1},
                              {"residential_area": "河畔小区", "complaints": 1, "open": 1, "overdue": 0}]
    # answer, then close; steps out of order are refused
    resp = await client.post("/complaints/12345-0001/answer", data={"csrf": oper, "note": "派人上门", "time": ""},
                             allow_redirects=False)
    assert resp.status == 303
    resp = await client.post("/complaints/12345-0001/answer", data={"csrf": oper, "note": "again"})
    assert resp.status == 400 and "already answered" in await resp.text()
    resp = await client.post("/complaints/12345-0001/close", data={"csrf": oper, "note": "x",
                                                                   "time": "2025-11-30T00:00"})
    assert resp.status == 400 and "before the complaint was received" in await resp.text()
    clock.t = local("2025-12-04T09:00")
    resp = await client.post("/complaints/12345-0001/close", data={"csrf": oper, "note": "阀门已调，复测 19.5 度"},
                             allow_redirects=False)
    assert resp.status == 303
    one = {c["hotline_no"]: c for c in (await (await client.get("/api/complaints")).json())["complaints"]}["12345-0001"]
    assert one["state"] == "closed" and one["answer_overdue"] and one["close_overdue"]  # both late
    page = await (await client.get("/complaints?area=%E6%B2%B3%E7%95%94%E5%B0%8F%E5%8C%BA")).text()
    assert "12345-0002" in page and 'data-no="12345-0001"' not in page
    assert len(re.findall(r'class="cpl-step"', page)) == 1
    actions = await service.storage.fetch("SELECT action, result FROM audit WHERE action LIKE 'complaint%' ORDER BY ts")
    assert ("complaint_add", "refused") in actions and ("complaint_close", "ok") in actions
    # a viewer sees, never changes
    client.session.cookie_jar.clear()
    viewer = await login(client, "vic")
    assert 'id="cpl-form"' not in await (await client.get("/complaints")).text()
    assert (await client.post("/complaints", data={**form2, "csrf": viewer, "hotline_no": "x1"})).status == 403


def test_deadlines_by_the_city_rules() -> None:
    rules = {"answer_h": 24.0, "close_h": 72.0}
    base: dict[str, Any] = {"hotline_no": "1", "received_ts": 0.0, "answered_ts": None, "closed_ts": None}
    d = cp.deadlines(base, rules, 24 * 3600.0)  # exactly at the deadline: not yet late
    assert (d["state"], d["answer_overdue"], d["close_overdue"]) == ("open", False, False)
    assert cp.deadlines(base, rules, 24 * 3600.0 + 1)["answer_overdue"]
    d = cp.deadlines({**base, "answered_ts": 3600.0}, rules, 100 * 3600.0)
    assert (d["state"], d["answer_overdue"], d["close_overdue"]) == ("answered", False, True)
    d = cp.deadlines({**base, "answered_ts": 25 * 3600.0, "closed_ts": 70 * 3600.0}, rules, 500 * 3600.0)
    assert (d["state"], d["answer_overdue"], d["close_overdue"]) == ("closed", True, False)
    closing, problems = cp.check_step(base, "close", "", "fixed on the first visit", "Asia/Shanghai", 7200.0)
    assert problems == [] and closing == {"closed_ts": 7200.0, "closing": "fixed on the first visit",
                                          "answered_ts": 7200.0, "answer": "fixed on the first visit"}
