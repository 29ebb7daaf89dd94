"""The reports to the authority end to end on both databases: the scheduler on a leaping clock
across 09:00, 17:00, a week boundary and a supervisor outage, delivering to a real SMTP server
(aiosmtpd on loopback, STARTTLS with a login) and a real aiohttp HTTP server that fails once and
is retried; the .xlsx read back with openpyxl and checked against the CSV; the figures checked
against hand-made aggregates."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from heatkeeper.supervisor import authority_reports as ar
from heatkeeper.supervisor import authority_reports_schedule as schedule
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.authority_reports_scheduler import AuthorityReportScheduler, backoff_s
from heatkeeper.supervisor.notify.webhook import verify
from heatkeeper.tools.procs import free_port
from hypothesis import given, settings
from hypothesis import strategies as st

from .notify.conftest import Receiver, receiver  # noqa: F401 - the loopback HTTP server fixture
from .notify.test_mail import Inbox, authenticator, pki, server_context  # noqa: F401 - the test PKI fixture

TZ = ZoneInfo("Asia/Shanghai")
SECRET = "push-secret-1"
STATIONS = [{"id": "st-a", "name": "Station A"}, {"id": "st-b", "name": "Station B"},
            {"id": "st-c", "name": "Station C"}, {"id": "st-d", "name": "Station D"}]


def local(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_config(smtp_port: int, ca: str, http_url: str, **extra: Any) -> dict[str, Any]:
    return sup_config.validate({
        "supervisor": {"site_name": "arxan-heat"},
        "station": STATIONS,
        "notify": {"channel": [{"name": "mail", "kind": "email", "host": "127.0.0.1", "port": smtp_port,
                                "tls": "starttls", "tls_ca": ca, "username": "alarm", "password": "mail-pass-1",
                                "sender": "heatkeeper@example.cn", "timeout_s": 10}]},
        "authority_reports": {"enabled": True, "email_channel": "mail", "email_to": ["heat@authority.example.cn"],
                              "http_url": http_url, "http_secret": SECRET, "http_headers": {"X-City": "arxan"},
                              "retry_base_s": 60, "retry_max_s": 600, "delay_min": 10, **extra},
    })


HOUSEHOLDS = [("H1", "Sunny Garden", "st-a"), ("H2", "Sunny Garden", "st-b"), ("H3", "River Court", "st-c")]


async def seed(storage: Any) -> None:
    await storage.save_households([{"household_id": hid, "company": "", "branch": "", "residential_area": area,
                                    "station_id": sid, "building": "1", "area_m2": "80", "tariff_cny_per_m2": "25",
                                    "heating_type": "radiator", "metering": "area"} for hid, area, sid in HOUSEHOLDS],
                                  "test", 0.0)
    rows: list[tuple[Any, ...]] = []
    t0 = local("2026-12-01T17:00")
    for k in range(24 * 12):  # 5-minute buckets 17:00 Dec 1 to 17:00 Dec 2
        b = int(t0) + k * 300
        for sid, flow in (("st-a", 20.0), ("st-b", 10.0), ("st-c", 0.0 if k >= 23 * 12 else 8.0)):
            for field, value in (("primary_flow_m3h", flow), ("primary_supply_temp_c", 90.0 if sid == "st-a" else 80.0),
                                 ("primary_return_temp_c", 50.0), ("secondary_supply_pressure_kpa", 400.0),
                                 ("pump1_running", 1.0), ("heat_power_kw", 500.0)):
                rows.append((sid, b, field, 2, 2 * value, value, value))  # two samples per bucket
    # heat meter readings around the week's boundaries (Monday 30 Nov and Monday 7 Dec, 09:00)
    for sid, start_kwh, end_kwh in (("st-a", 1000.0, 1500.5), ("st-c", 700.0, 650.0)):
        for boundary, value in ((local("2026-11-30T09:00"), start_kwh), (local("2026-12-07T09:00"), end_kwh)):
            rows.append((sid, int(boundary) - 600, "heat_energy_kwh", 1, value - 1, value - 1, value - 1))
            rows.append((sid, int(boundary) - 300, "heat_energy_kwh", 1, value, value, value))
            rows.append((sid, int(boundary), "heat_energy_kwh", 1, value + 99, value + 99, value + 99))  # after it
    rows.append(("st-a", int(local("2026-12-07T08:55")), "makeup_volume_m3", 1, 12.5, 12.5, 12.5))
    await storage.upsert_aggregates(rows)


@pytest.fixture
def smtp(pki: dict[str, str]) -> Iterator[tuple[Inbox, int]]:  # noqa: F811 - pki is the imported fixture
    inbox, port = Inbox(), free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="localhost",
                     tls_context=server_context(pki), require_starttls=True, authenticator=authenticator,
                     auth_require_tls=True)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def xlsx_rows(data: bytes, sheet: str) -> list[list[str]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return [["" if v is None else str(v) for v in row] for row in book[sheet].iter_rows(values_only=True)]
    finally:
        book.close()


def same_table(csv_text: str, xlsx: bytes, sheet: str) -> None:
    """The .xlsx sheet holds the CSV's cells (numbers compared as numbers)."""
    a, b = csv_rows(csv_text), xlsx_rows(xlsx, sheet)
    assert len(a) == len(b) and a[0] == b[0]
    for ra, rb in zip(a[1:], b[1:], strict=True):
        for x, y in zip(ra, rb, strict=True):
            try:
                assert float(x) == pytest.approx(float(y))
            except ValueError:
                assert x == y


async def test_hourly_report_figures_and_xlsx_equal_csv(storage: Any, tmp_path: Any) -> None:
    cfg = make_config(25, "", "http://127.0.0.1:9/x")
    await seed(storage)
    report = await ar.build(storage, cfg, "hourly", local("2026-12-02T09:00"), local("2026-12-02T17:00"))
    rows = [dict(zip(ar.HOURLY_COLUMNS, r, strict=True)) for r in report["rows"]]
    assert [r["residential_area"] for r in rows] == [""] * 8 + ["River Court"] * 8 + ["Sunny Garden"] * 8
    sunny = [r for r in rows if r["residential_area"] == "Sunny Garden"]
    assert sunny[0]["hour_start"] == "2026-12-02 09:00" and sunny[-1]["hour_start"] == "2026-12-02 16:00"
    assert sunny[0]["stations"] == "st-a;st-b" and sunny[0]["stations_reporting"] == 2
    assert sunny[0]["primary_flow_m3h"] == 30.0  # 20 + 10
    assert sunny[0]["primary_supply_temp_c"] == 85.0  # mean of 90 and 80
    assert sunny[0]["heat_power_kw"] == 1000.0 and sunny[0]["supplied"] == 1
    assert {r["area_status"] for r in sunny} == {"supplied"}
    river = [r for r in rows if r["residential_area"] == "River Court"]
    assert [r["supplied"] for r in river] == [1] * 7 + [0]  # st-c's flow stopped at 16:00
    assert {r["area_status"] for r in river} == {"not_supplied"}
    alone = [r for r in rows if r["residential_area"] == ""]  # st-d: configured, no household, no data
    assert alone[0]["stations"] == "st-d" and alone[0]["stations_reporting"] == 0 and alone[0]["supplied"] is None
    areas = {a[0]: a for a in report["areas"]}
    assert areas["River Court"][2:] == ["not_supplied", "st-c: no flow"]
    assert areas["Sunny Garden"][2:] == ["supplied", ""]
    assert areas[""][2:] == ["not_supplied", "st-d: no data"]
    text, data = ar.report_csv(report), ar.report_xlsx(report)
    same_table(text, data, "hourly")
    assert xlsx_rows(data, "areas")[0] == list(ar.AREA_COLUMNS)
    assert ["period_end", "2026-12-02 17:00"] in xlsx_rows(data, "about")


async def test_weekly_meter_readings(storage: Any) -> None:
    cfg = make_config(25, "", "http://127.0.0.1:9/x")
    await seed(storage)
    report = await ar.build(storage, cfg, "weekly", local("2026-11-30T09:00"), local("2026-12-07T09:00"))
    rows = {(r[0], r[3]): dict(zip(ar.WEEKLY_COLUMNS, r, strict=True)) for r in report["rows"]}
    a = rows[("st-a", "heat")]
    assert (a["start_reading"], a["end_reading"], a["consumption"]) == (1000.0, 1500.5, 500.5)
    assert a["consumption_gj"] == 1.802 and a["unit"] == "kWh"
    assert a["start_time"] == "2026-11-30 09:00" and a["end_time"] == "2026-12-07 09:00"
    assert a["residential_area"] == "Sunny Garden" and a["station_name"] == "Station A"
    assert rows[("st-a", "make_up_water")]["note"] == "no reading before the start"
    assert rows[("st-b", "heat")]["note"] == "no reading before the start"
    assert rows[("st-c", "heat")]["consumption"] is None and rows[("st-c", "heat")]["note"] == "meter went backwards"
    same_table(ar.report_csv(report), ar.report_xlsx(report), "weekly")


def test_schedule_in_the_site_time_zone() -> None:
    cfg = make_config(25, "", "http://127.0.0.1:9/x")["authority_reports"]
    ends = schedule.due_between(cfg, "hourly", local("2026-12-02T08:00"), local("2026-12-03T09:00"))
    assert ends == [local("2026-12-02T09:00"), local("2026-12-02T17:00"), local("2026-12-03T09:00")]
    assert schedule.period_start(cfg, "hourly", local("2026-12-02T09:00")) == local("2026-12-01T17:00")
    assert schedule.period_start(cfg, "hourly", local("2026-12-02T17:00")) == local("2026-12-02T09:00")
    assert schedule.due_between(cfg, "weekly", local("2026-12-02T08:00"), local("2026-12-14T09:00")) == [
        local("2026-12-07T09:00"), local("2026-12-14T09:00")]
    assert schedule.period_start(cfg, "weekly", local("2026-12-07T09:00")) == local("2026-11-30T09:00")
    assert schedule.is_due(cfg, "hourly", local("2026-12-02T17:00"))
    assert not schedule.is_due(cfg, "hourly", local("2026-12-02T17:01"))
    assert [backoff_s(cfg, n) for n in (1, 2, 3, 4, 5, 9)] == [60, 120, 240, 480, 600, 600]


async def test_scheduler_across_0900_1700_a_week_boundary_and_an_outage(
        storage: Any, smtp: tuple[Inbox, int], receiver: Receiver, pki: dict[str, str]) -> None:  # noqa: F811
    inbox, port = smtp
    cfg = make_config(port, pki["ca"], receiver.url("/authority/push"))
    await seed(storage)
    clock = Clock(local("2026-12-02T08:00"))
    sched = AuthorityReportScheduler(storage, cfg, clock)
    try:
        await sched.tick()  # first start: nothing due, nothing back-filled
        assert await storage.report_deliveries() == [] and receiver.seen == [] and inbox.mails == []

        clock.t = local("2026-12-02T09:00")
        await sched.tick()  # registered, first try at 09:10 (the last aggregates are in by then)
        pending = await storage.report_deliveries()
        assert {(d["report"], d["channel"], d["state"]) for d in pending} == {("hourly", "email", "pending"),
                                                                              ("hourly", "http", "pending")}
        assert {d["period_start_ts"] for d in pending} == {local("2026-12-01T17:00")}
        assert inbox.mails == []

        receiver.answers = [(503, {"error": "maintenance"})]  # the authority's endpoint fails once
        clock.t = local("2026-12-02T09:10")
        await sched.tick()
        state = {d["channel"]: d for d in await storage.report_deliveries()}
        assert state["email"]["state"] == "delivered" and state["http"]["state"] == "pending"
        assert "HTTP 503" in state["http"]["last_error"] and state["http"]["attempts"] == 1
        assert state["http"]["next_ts"] == local("2026-12-02T09:10") + 60

        clock.t += 30
        await sched.tick()  # not yet: back-off
        assert len(receiver.seen) == 1
        clock.t += 30
        await sched.tick()
        assert len(receiver.seen) == 2
        assert {d["state"] for d in await storage.report_deliveries()} == {"delivered"}
        attempts = sorted((a["channel"], a["attempt"], a["status"]) for a in await storage.report_attempts())
        assert attempts == [("email", 1, "ok"), ("http", 1, "failed"), ("http", 2, "ok")]

        # what arrived: the HTTP push, signed, with the same rows as the CSV and the .xlsx
        push = receiver.seen[-1]
        assert push.method == "POST" and push.headers["X-City"] == "arxan"
        assert verify(SECRET, push.headers["X-Heatkeeper-Timestamp"], push.body, push.headers["X-Heatkeeper-Signature"])
        body = json.loads(push.body)
        assert body["report_id"] == "hourly-2026-12-02T09:00:00+08:00"
        assert body["period_start"] == "2026-12-01T17:00:00+08:00" and body["columns"] == list(ar.HOURLY_COLUMNS)
        first = json.loads(receiver.seen[0].body)  # the retry carries the same report (the same report_id)
        assert len(body["rows"]) == 3 * 16 and {k: v for k, v in body.items() if k != "xlsx_base64"} == {
            k: v for k, v in first.items() if k != "xlsx_base64"}
        import base64

        same_table(body["csv"], base64.b64decode(body["xlsx_base64"]), "hourly")
        # the e-mail: to the authority, both files attached, the same rows
        ((sender, rcpts, msg),) = inbox.mails
        assert sender == "heatkeeper@example.cn" and rcpts == ["heat@authority.example.cn"]
        assert "2026-12-01 17:00 - 2026-12-02 09:00" in msg["Subject"]
        files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
        assert set(files) == {"arxan-heat-hourly-2026-12-02-0900.xlsx", "arxan-heat-hourly-2026-12-02-0900.csv"}
        csv_text = files["arxan-heat-hourly-2026-12-02-0900.csv"]
        assert csv_text == body["csv"]
        same_table(csv_text, files["arxan-heat-hourly-2026-12-02-0900.xlsx"], "hourly")

        clock.t = local("2026-12-02T17:10")
        await sched.tick()
        assert len(inbox.mails) == 2 and len(receiver.seen) == 3
        assert json.loads(receiver.seen[-1].body)["period_start"] == "2026-12-02T09:00:00+08:00"

        # the supervisor is down from Wednesday 17:10 to Monday 12:00: a new process catches up
        # every period that ended meanwhile, each for the period it covers, and the week's readings
        clock.t = local("2026-12-07T12:00")
        sched2 = AuthorityReportScheduler(storage, cfg, clock)
        try:
            await sched2.tick()
        finally:
            await sched2.http.close()
        pushed = [json.loads(s.body) for s in receiver.seen[3:]]
        hourly_ends = [p["period_end"][:16] for p in pushed if p["report"] == "hourly"]
        assert hourly_ends == ["2026-12-%02dT%s" % (d, h) for d in (3, 4, 5, 6) for h in ("09:00", "17:00")] + [
            "2026-12-07T09:00"]
        ((week,),) = [[p for p in pushed if p["report"] == "weekly"]]
        assert (week["period_start"], week["period_end"]) == ("2026-11-30T09:00:00+08:00", "2026-12-07T09:00:00+08:00")
        row = dict(zip(week["columns"], week["rows"][0], strict=True))
        assert (row["station_id"], row["meter"], row["consumption"]) == ("st-a", "heat", 500.5)
        assert len(inbox.mails) == 2 + 10
        assert {d["state"] for d in await storage.report_deliveries()} == {"delivered"}
        assert len(await storage.report_deliveries()) == 2 * 12
    finally:
        await sched.http.close()


async def test_a_failing_endpoint_is_never_dropped_and_resend_sends_again(
        storage: Any, receiver: Receiver) -> None:  # noqa: F811 - the imported fixture
    cfg = sup_config.validate({"station": STATIONS, "authority_reports": {
        "enabled": True, "http_url": receiver.url("/push"), "http_secret": SECRET, "retry_base_s": 60,
        "retry_max_s": 300, "delay_min": 0}})
    await seed(storage)
    clock = Clock(local("2026-12-02T08:59"))
    sched = AuthorityReportScheduler(storage, cfg, clock)
    try:
        await sched.tick()
        receiver.default = (500, {"error": "down"})
        clock.t = local("2026-12-02T09:00")
        for _ in range(8):  # down for hours: tried with back-off 60, 120, 240, 300, 300 ... never given up
            await sched.tick()
            (d,) = await storage.report_deliveries()
            clock.t = d["next_ts"]
        assert d["state"] == "pending" and d["attempts"] == 8 and "HTTP 500" in d["last_error"]
        gaps = [b.ts - a.ts for a, b in zip(await _attempts(storage), (await _attempts(storage))[1:], strict=False)]
        assert gaps == [60, 120, 240, 300, 300, 300, 300]
        receiver.default = (200, {"ok": True})
        await sched.tick()
        (d,) = await storage.report_deliveries()
        assert d["state"] == "delivered" and d["attempts"] == 9
        # the authority asks for it again
        await storage.resend_report("hourly", d["period_end_ts"], ["http"], d["period_start_ts"], clock.t)
        await sched.tick()
        assert len(receiver.seen) == 10
        assert (await storage.report_deliveries())[0]["state"] == "delivered"
    finally:
        await sched.http.close()


class _Attempt:
    def __init__(self, row: dict[str, Any]) -> None:
        self.ts = row["ts"]


async def _attempts(storage: Any) -> list[_Attempt]:
    return [_Attempt(a) for a in sorted(await storage.report_attempts(), key=lambda a: a["attempt"])]


def test_config_problems_are_all_listed() -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"station": STATIONS, "authority_reports": {
            "enabled": True, "hourly_times": ["9:00", "17:00"], "weekly_day": "moonday", "email_channel": "nope",
            "email_to": ["not-an-address"], "http_url": "ftp://x", "http_headers": {"Content-Type": "x"},
            "retry_base_s": 600, "retry_max_s": 60, "timezone": "Mars/Olympus"},
            "complaints": {"answer_h": 48, "close_h": 24, "extra": 1}})
    text = "\n".join(err.value.problems)
    for needle in ("hourly_times=['9:00', '17:00']", "weekly_day='moonday'", "email_channel='nope'",
                   "'not-an-address': not an e-mail address", "http_url='ftp://x'", "'Content-Type'",
                   "retry_max_s=60 s", "timezone='Mars/Olympus'", "complaints.close_h=24 h",
                   "complaints.extra: unknown key", "give http_secret"):
        assert needle in text, needle
    with pytest.raises(sup_config.ConfigError, match="nowhere to deliver"):
        sup_config.validate({"authority_reports": {"enabled": True}})


async def test_complaints_storage(storage: Any) -> None:
    from heatkeeper.supervisor.storage import StorageError

    await seed(storage)
    row = {"hotline_no": "12345-7", "household_id": "H3", "received_ts": 100.0, "summary": "冷", "measurement_ts": None,
           "recorded_by": "oli", "recorded_ts": 101.0}
    await storage.add_complaint(row)
    with pytest.raises(StorageError):
        await storage.add_complaint({**row, "summary": "again"})
    await storage.update_complaint("12345-7", answered_ts=200.0, answer="on the way")
    (c,) = await storage.complaints()
    assert (c["summary"], c["answered_ts"], c["answer"], c["closed_ts"], c["closing"]) == ("冷", 200.0, "on the way",
                                                                                           None, "")
    assert (c["station_id"], c["residential_area"]) == ("st-c", "River Court")
    assert await storage.complaints("nope") == []


async def test_a_dead_endpoint_costs_one_attempt_per_pass(storage: Any, receiver: Receiver) -> None:  # noqa: F811
    cfg = sup_config.validate({"station": STATIONS, "authority_reports": {
        "enabled": True, "http_url": receiver.url("/push"), "http_secret": SECRET, "retry_base_s": 60,
        "delay_min": 0}})
    clock = Clock(local("2026-12-01T08:00"))
    sched = AuthorityReportScheduler(storage, cfg, clock)
    try:
        await sched.register_due()
        clock.t = local("2026-12-03T08:00")  # four hourly periods due at once
        receiver.default = (502, {"error": "bad gateway"})
        await sched.tick()
        assert len(receiver.seen) == 1
        assert sorted(d["attempts"] for d in await storage.report_deliveries()) == [0, 0, 0, 1]
        receiver.default = (200, {"ok": True})
        clock.t += 60
        await sched.tick()  # back: everything goes, oldest first
        ends = [json.loads(s.body)["period_end"][:16] for s in receiver.seen[1:]]
        assert ends == ["2026-12-01T09:00", "2026-12-01T17:00", "2026-12-02T09:00", "2026-12-02T17:00"]
        assert {d["state"] for d in await storage.report_deliveries()} == {"delivered"}
    finally:
        await sched.http.close()


@settings(deadline=None)
@given(st.floats(0, 400 * 86400.0), st.floats(0, 30 * 86400.0), st.floats(0, 30 * 86400.0),
       st.lists(st.sampled_from(["00:00", "06:30", "09:00", "17:00", "23:59"]), min_size=1, max_size=4, unique=True))
def test_periods_tile_time_without_gaps(t0: float, a: float, b: float, times: list[str]) -> None:
    """Whatever the passes' instants, every due period is found exactly once, and each hourly
    period starts where the one before ended (hours are neither lost nor counted twice)."""
    cfg = sup_config.validate({"authority_reports": {"hourly_times": times}})["authority_reports"]
    start = local("2026-01-01T00:00") + t0
    mid, until = start + a, start + a + b
    for report in schedule.REPORTS:
        whole = schedule.due_between(cfg, report, start, until)
        assert schedule.due_between(cfg, report, start, mid) + schedule.due_between(cfg, report, mid, until) == whole
        for prev, end in zip(whole, whole[1:], strict=False):
            assert schedule.period_start(cfg, report, end) == prev
