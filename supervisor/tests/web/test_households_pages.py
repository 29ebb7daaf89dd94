"""Households, official measurements and refunds on the dashboard: an admin imports households
from an uploaded CSV or .xlsx file (a bad file lists every bad row and stores nothing) and edits
one; an operator records measurements (form, API, file); the refunds the page shows are the ones
the API and both exports give, and `heatkeeper refunds` on the exported inputs agrees. Every
change and refusal is audited. The compliance report carries no refund flag of its own."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.web.households import PAGE_ROWS, refund_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from .conftest import login

HEADER = "household_id,company,branch,residential_area,station_id,building,area_m2,tariff_cny_per_m2,heating_type,metering\n"
HOUSEHOLDS = HEADER + (
    "H1,North Heat,East,Sunny Garden,st-a,B1,100,24.2,radiator,area\n"
    "H2,North Heat,East,Sunny Garden,st-b,B7,50,24.2,floor,metered\n"
    "H3,North Heat,West,河畔小区,st-b,B8,80.55,26,radiator,area\n")
MEASUREMENTS = ("household_id,time,temperature_c,inspector\n"
                "H2,2025-12-01T10:00:00+08:00,17.0,Wang\n"
                "H2,2025-12-15T10:00:00+08:00,16.5,Wang\n"
                "H2,2025-12-30T10:00:00+08:00,17.9,Li\n"
                "H3,2025-12-02T10:00:00+08:00,17.2,Li\n")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def upload(csrf: str, name: str, data: bytes) -> FormData:
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return form


async def import_households(client: TestClient, csrf: str, text: str = HOUSEHOLDS) -> None:
    resp = await client.post("/households/import", data=upload(csrf, "h.csv", text.encode()), allow_redirects=False)
    assert resp.status == 303, await resp.text()


async def test_every_page_answers_and_viewers_cannot_change_anything(client: TestClient) -> None:
    for path in ("/households", "/measurements", "/refunds", "/api/households", "/api/measurements", "/api/refunds"):
        assert (await client.get(path, allow_redirects=False)).status in (302, 401), path
    admin = await login(client, "ada")
    await import_households(client, admin)
    client.session.cookie_jar.clear()
    csrf = await login(client, "vic")
    for path in ("/households", "/households/H1", "/measurements", "/refunds", "/refunds?season=2025",
                 "/refunds/export.csv", "/refunds/export.xlsx", "/refunds/inputs/rules.toml", "/api/households",
                 "/api/measurements", "/api/refunds"):
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
    page = await (await client.get("/households")).text()
    assert "hh-import" not in page and 'data-id="H3"' in page and "河畔小区" in page
    assert (await client.get("/households/nope")).status == 404
    assert (await client.get("/refunds?season=next")).status == 400
    resp = await client.post("/households/import", data=upload(csrf, "h.csv", HOUSEHOLDS.encode()))
    assert resp.status == 403
    resp = await client.post("/measurements", data={"csrf": csrf, "household_id": "H1", "time": "2025-12-01T10:00",
                                                    "temperature_c": "17", "inspector": "Wang"})
    assert resp.status == 403


async def test_a_large_register_is_shown_a_page_at_a_time_and_searched(client: TestClient) -> None:
    admin = await login(client, "ada")
    many = HEADER + "".join("K%04d,North Heat,East,Sunny Garden,%s,B%d,60,24.2,radiator,area\n"
                            % (i, "st-a" if i < 230 else "st-b", i % 9) for i in range(250))
    await import_households(client, admin, many)

    def ids(page: str) -> list[str]:
        return re.findall(r'<tr data-id="(K\d+)">', page.split('id="households"')[1])

    first = await (await client.get("/households")).text()
    assert ids(first) == ["K%04d" % i for i in range(100)]
    assert "第 1–100 户，共 250 户" in first and 'rel="next" href="/households?q=&amp;station=&amp;page=2"' in first
    assert 'rel="prev"' not in first
    last = await (await client.get("/households?page=3")).text()
    assert ids(last) == ["K%04d" % i for i in range(200, 250)] and 'rel="next"' not in last
    assert ids(await (await client.get("/households?page=99")).text()) == ids(last)  # past the end: the last page
    found = await (await client.get("/households?q=k024&station=st-b")).text()
    assert ids(found) == ["K%04d" % i for i in range(240, 250)] and "第 1–10 户，共 10 户" in found
    assert 'pager' in found and 'rel="next"' not in found
    none = await (await client.get("/households?q=%25")).text()  # a % is a character, not a wildcard
    assert ids(none) == [] and "没有符合条件的住户。" in none
    # the coverage table still counts the whole register, whatever page is shown
    assert re.search(r'<tr data-id="st-a">.*?<td class="num">230', found, re.S)


async def test_both_upload_forms_come_from_one_include_with_their_own_target(client: TestClient) -> None:
    await login(client, "ada")
    for path, action, form_id, columns in (
            ("/households", "/households/import", "hh-import", "household_id, company, branch"),
            ("/measurements", "/measurements/import", "meas-import", "household_id, time, temperature_c, inspector")):
        page = await (await client.get(path)).text()
        form = re.search(r'<form method="post" action="([^"]+)" enctype="multipart/form-data" id="([^"]+)">(.*?)</form>',
                         page, re.S)
        assert form is not None, path
        assert (form.group(1), form.group(2)) == (action, form_id)
        assert 'name="csrf"' in form.group(3) and 'name="file" accept=".csv,.xlsx"' in form.group(3)
        assert "<code>" + columns in page.replace("</code>", "")
    template = Path(__file__).parents[2] / "web" / "templates"
    for name in ("households.html", "measurements.html"):
        assert 'type="file"' not in (template / name).read_text() and "_upload_form.html" in (template / name).read_text()


async def test_an_admin_imports_households_from_csv_and_xlsx(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    resp = await client.post("/households/import", data=upload(csrf, "h.csv", HOUSEHOLDS.encode()))
    assert resp.status == 200 and 'id="hh-imported"' in await resp.text()
    assert [h["household_id"] for h in await service.storage.households()] == ["H1", "H2", "H3"]
    book = Workbook()
    book.active.append(HEADER.strip().split(","))
    book.active.append(["H4", "North Heat", "East", "Sunny Garden", "st-a", "B2", 66.5, 24.2, "floor", "area"])
    data = io.BytesIO()
    book.save(data)
    resp = await client.post("/households/import", data=upload(csrf, "more.xlsx", data.getvalue()),
                             allow_redirects=False)
    assert resp.status == 303
    h4 = await service.storage.household("H4")
    assert h4 is not None and h4["area_m2"] == "66.5" and h4["changed_by"] == "ada"
    entries = [a for a in await service.audit_log.rows(10) if a["action"] == "households_import"]
    assert [(a["result"], a["detail"]) for a in entries][:2] == [("ok", "more.xlsx: 1 household(s)"),
                                                                 ("ok", "h.csv: 3 household(s)")]
    # the multipart form needs the CSRF token like every other form
    form = FormData()
    form.add_field("file", HOUSEHOLDS.encode(), filename="h.csv")
    assert (await client.post("/households/import", data=form)).status == 403


async def test_a_bad_file_lists_every_bad_row_and_stores_nothing(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    bad = HEADER + ("H1,,,Sunny,st-a,B1,100,24,radiator,area\n"
                    "H2,,,Sunny,st-zz,B1,100,24,radiator,area\n"
                    "H3,,,Sunny,st-a,B1,100,24,steam,area\n")
    resp = await client.post("/households/import", data=upload(csrf, "h.csv", bad.encode()))
    assert resp.status == 400
    text = await resp.text()
    assert "h.csv:line 3: station_id=&#39;st-zz&#39;: no such station" in text
    assert "h.csv:line 4: heating_type=&#39;steam&#39;: must be one of radiator, floor" in text
    assert await service.storage.households() == []  # H1 was good, and is not stored either
    refused = [a for a in await service.audit_log.rows(10) if a["action"] == "households_import"]
    assert refused[0]["result"] == "refused" and "2 problem(s)" in refused[0]["detail"]
    resp = await client.post("/households/import", data=upload(csrf, "h.pdf", b"%PDF"))
    assert resp.status == 400 and "h.pdf: must be a .csv or .xlsx file" in await resp.text()


async def test_an_admin_edits_one_household_and_it_is_audited(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    await import_households(client, csrf)
    form = {"csrf": csrf, "company": "North Heat", "branch": "East", "residential_area": "Sunny Garden",
            "station_id": "st-a", "building": "B1", "area_m2": "120.5", "tariff_cny_per_m2": "24.2",
            "heating_type": "floor", "metering": "area"}
    resp = await client.post("/households/H1", data=form, allow_redirects=False)
    assert resp.status == 303
    h1 = await service.storage.household("H1")
    assert h1 is not None and (h1["area_m2"], h1["heating_type"]) == ("120.5", "floor")
    entry = next(a for a in await service.audit_log.rows(10) if a["action"] == "household_edit")
    assert entry["detail"] == "H1: area_m2 100 -> 120.5; heating_type radiator -> floor" and entry["result"] == "ok"
    resp = await client.post("/households/H1", data={**form, "area_m2": "-1"})
    assert resp.status == 400 and "area_m2=&#39;-1&#39;: must be a number &gt; 0" in await resp.text()
    assert (await service.storage.household("H1"))["area_m2"] == "120.5"  # type: ignore[index]
    client.session.cookie_jar.clear()
    op = await login(client, "oli")
    assert (await client.post("/households/H1", data={**form, "csrf": op})).status == 403


async def test_an_operator_records_measurements_by_form_api_and_file(client: TestClient,
                                                                     service: SupervisorService) -> None:
    await import_households(client, await login(client, "ada"))
    client.session.cookie_jar.clear()
    csrf = await login(client, "oli")
    resp = await client.post("/measurements", data={"csrf": csrf, "household_id": "H1", "time": "2025-12-01T10:00",
                                                    "temperature_c": "17.5", "inspector": "Wang"},
                             allow_redirects=False)
    assert resp.status == 303
    resp = await client.post("/api/measurements", headers={"X-CSRF-Token": csrf},
                             json={"household_id": "H1", "time": "2025-12-02T10:00:00+08:00", "temperature_c": 19,
                                   "inspector": "Li"})
    assert resp.status == 201
    resp = await client.post("/api/measurements", headers={"X-CSRF-Token": csrf},
                             json={"household_id": "H1", "time": "2025-12-02T02:00:00Z", "temperature_c": 19,
                                   "inspector": "Li"})
    assert resp.status == 400 and "already recorded" in json.loads(await resp.text())["reason"]
    resp = await client.post("/measurements/import", data=upload(csrf, "m.csv", MEASUREMENTS.encode()),
                             allow_redirects=False)
    assert resp.status == 303
    stored = await service.storage.measurements()
    assert len(stored) == 6 and stored[0] == {"household_id": "H1", "ts": ts("2025-12-01T10:00:00+08:00"),
                                              "temperature_c": 17.5, "inspector": "Wang", "recorded_by": "oli",
                                              "recorded_ts": stored[0]["recorded_ts"]}
    api = json.loads(await (await client.get("/api/measurements")).text())
    assert [(m["household_id"], m["failed"]) for m in api["measurements"]] == [
        ("H1", True), ("H2", True), ("H1", False), ("H3", True), ("H2", True), ("H2", True)]
    # the same file again: every row is a duplicate, nothing more is stored
    resp = await client.post("/measurements/import", data=upload(csrf, "m.csv", MEASUREMENTS.encode()))
    assert resp.status == 400 and "m.csv:line 2: household &#39;H2&#39;" in await resp.text()
    assert len(await service.storage.measurements()) == 6
    actions = [(a["action"], a["result"]) for a in await service.audit_log.rows(20) if a["action"].startswith("measurements")]
    assert actions[:4] == [("measurements_import", "refused"), ("measurements_add", "ok"), ("measurements_add", "ok"),
                           ("measurements_add", "ok")]


def page_cells(html: str, table: str) -> list[str]:
    body = re.search(r'<table class="grid" id="%s">.*?</table>' % table, html, re.S)
    assert body is not None, table
    return re.findall(r'<td class="num refund">([^<]*)</td>', body.group(0))


async def test_page_api_exports_and_the_command_line_agree(client: TestClient, service: SupervisorService,
                                                          tmp_path: Path) -> None:
    csrf = await login(client, "ada")
    await import_households(client, csrf)
    resp = await client.post("/measurements/import", data=upload(csrf, "m.csv", MEASUREMENTS.encode()),
                             allow_redirects=False)
    assert resp.status == 303
    storage = service.storage
    await storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2025-12-01T10:00:00+08:00"), "", 0.0)
    await storage.record_alarm("st-a", "heating_outage", "critical", False, ts("2025-12-03T09:00:00+08:00"), "", None)
    await storage.record_alarm("st-b", "heating_outage", "critical", True, ts("2026-03-14T12:00:00+08:00"), "", 0.0)
    await storage.record_alarm("st-b", "heating_outage", "critical", False, ts("2026-03-20T12:00:00+08:00"), "", None)

    api = json.loads(await (await client.get("/api/refunds?season=2025")).text())
    # 121 days; H1 2420 CNY: 3 outage days = 60.00; st-b: 14 and 15 Mar (the season ends) = 2 days:
    # H2 1210 CNY: 20.00 + one measurement month (3 failures within 30 days) 300.00; H3 2094.30 CNY: 34.62
    got = {h["household_id"]: (h["outage_days"], h["measurement_months"], h["refund_cny"]) for h in api["households"]}
    assert got == {"H1": (3, 0, "60.00"), "H2": (2, 1, "320.00"), "H3": (2, 0, "34.62")}
    assert api["total_cny"] == "414.62"

    page = await (await client.get("/refunds?season=2025")).text()
    assert page_cells(page, "rf-households") == [h["refund_cny"] for h in api["households"]]
    for table, level in (("rf-stations", "stations"), ("rf-areas", "areas"), ("rf-buildings", "buildings")):
        assert page_cells(page, table) == [g["refund_cny"] for g in api[level]], table
    assert re.search(r'<span class="refund-total">414.62</span>', page)

    text = (await (await client.get("/refunds/export.csv?season=2025")).read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows == [{k: str(v) for k, v in h.items()} for h in api["households"]]

    blob = await (await client.get("/refunds/export.xlsx?season=2025")).read()
    book = load_workbook(io.BytesIO(blob), read_only=True)
    sheet = list(book["households"].iter_rows(values_only=True))
    refund_col = sheet[0].index("refund_cny")
    assert [Decimal(str(r[refund_col])).quantize(Decimal("0.01")) for r in sheet[1:]] == [
        Decimal(h["refund_cny"]) for h in api["households"]]
    stations = list(book["stations"].iter_rows(values_only=True))
    assert [(r[0], Decimal(str(r[-1])).quantize(Decimal("0.01"))) for r in stations[1:]] == [
        (s["station_id"], Decimal(s["refund_cny"])) for s in api["stations"]]

    args = []
    for name, flag in (("rules.toml", "rules"), ("households.csv", "households"), ("outages.csv", "outages"),
                       ("measurements.csv", "measurements")):
        resp = await client.get("/refunds/inputs/%s?season=2025" % name)
        assert resp.status == 200
        (tmp_path / name).write_text(await resp.text(), encoding="utf-8")
        args += ["--" + flag, name]
    done = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "refunds", *args, "--json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert [(h["household_id"], Decimal(str(h["refund_cny"])), h["outage_days"], h["measurement_months"])
            for h in cli["households"]] == [(h["household_id"], Decimal(h["refund_cny"]), h["outage_days"],
                                             h["measurement_months"]) for h in api["households"]]
    assert Decimal(str(cli["total_cny"])) == Decimal(api["total_cny"])


async def test_the_compliance_report_has_no_refund_flag_of_its_own(client: TestClient) -> None:
    """The page used to flag a station at risk when it had an outage over the limit, the API only
    from the collectors' failed days, the CSV not per station at all: three answers. Refunds now
    come from the refund engine only (the Refunds page), and the compliance API, CSV and page
    show the same comfort figures without a refund flag."""
    await login(client, "vic")
    api = json.loads(await (await client.get("/api/reports/compliance")).text())["report"]
    assert not [k for k in api if "refund" in k]
    assert not [k for s in api["stations"] for k in s if "refund" in k]
    header = (await (await client.get("/export/compliance.csv")).text()).splitlines()[0]
    assert "refund" not in header
    page = await (await client.get("/reports")).text()
    assert 'href="/refunds"' in page
    for table, columns in (("c-stations", 6), ("c-groups", 8)):  # groups: + hours below the target band
        head = re.search(r'id="%s"><thead>(.*?)</thead>' % table, page, re.S)
        assert head is not None and head.group(1).count("<th") == columns, table
    script = await (await client.get("/static/reports.js")).text()
    assert "refund" not in script


async def test_the_refunds_page_lists_the_households_owed_a_refund_a_page_at_a_time(client: TestClient,
                                                                                     service: SupervisorService) -> None:
    # 250 households, the 120 of station st-a owed a refund (a 3-day outage there): the page shows
    # those 120 by default, 100 a page; "all" pages through the 250; a search narrows either;
    # the exports keep every household
    csrf = await login(client, "ada")
    await import_households(client, csrf, HEADER + "".join(
        "H%03d,North Heat,East,%s,%s,B%d,100,24.2,radiator,area\n" % (
            i, "Sunny Garden" if i % 2 else "河畔小区", "st-a" if i < 120 else "st-b", i % 7) for i in range(250)))
    await service.storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2025-12-01T10:00:00+08:00"), "", 0.0)
    await service.storage.record_alarm("st-a", "heating_outage", "critical", False, ts("2025-12-03T09:00:00+08:00"), "",
                                       None)

    def ids(page: str) -> list[str]:
        body = re.search(r'<table class="grid" id="rf-households">.*?</table>', page, re.S)
        assert body is not None
        return re.findall(r'<tr data-id="([^"]+)">', body.group(0))

    assert (await client.post("/api/me/lang", json={"lang": "en"}, headers={"X-CSRF-Token": csrf})).status == 200
    first = await (await client.get("/refunds?season=2025")).text()
    assert ids(first) == ["H%03d" % i for i in range(100)]
    assert "Households 1–100 of 120" in first and "owed a refund (120)" in first and "all (250)" in first
    assert 'href="/refunds?season=2025&amp;show=owed&amp;q=&amp;page=2"' in first
    second = await (await client.get("/refunds?season=2025&show=owed&page=2")).text()
    assert ids(second) == ["H%03d" % i for i in range(100, 120)] and "Households 101–120 of 120" in second
    last = await (await client.get("/refunds?season=2025&show=all&page=9")).text()  # past the end: the last page
    assert ids(last) == ["H%03d" % i for i in range(200, 250)] and "Page 3 of 3" in last
    found = await (await client.get("/refunds?season=2025&show=all&q=" + quote("河畔") + "&page=1")).text()
    assert ids(found) == ["H%03d" % i for i in range(0, 200, 2)]  # 125 match (every even id): the first 100
    assert "Households 1–100 of 125" in found
    assert ids(await (await client.get("/refunds?season=2025&q=h119")).text()) == ["H119"]  # case does not matter
    for garbage in ("show=xyz&page=-3", "page=abc", "show=&page=99999999999999999999", "q=" + "x" * 5000):
        # anything else in the query: the owed list, first or last page, the search cut to 100 characters
        resp = await client.get("/refunds?season=2025&" + garbage)
        assert resp.status == 200, garbage
        assert ids(await resp.text()) in (ids(first), ids(second), []), garbage
    none = await (await client.get("/refunds?season=2025&q=zzz")).text()
    assert ids(none) == [] and "No household matches." in none
    api = json.loads(await (await client.get("/api/refunds?season=2025")).text())
    assert len(api["households"]) == 250 and api["total_cny"] == first.split('class="refund-total">')[1].split("<")[0]
    text = (await (await client.get("/refunds/export.csv?season=2025")).read()).decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 250
    assert (await client.post("/api/me/lang", json={"lang": "zh"}, headers={"X-CSRF-Token": csrf})).status == 200
    zh = await (await client.get("/refunds?season=2025")).text()
    assert "应退费（120）" in zh and "全部（250）" in zh and ids(zh) == ids(first)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 350), owed_every=st.integers(1, 9), show=st.text(max_size=8), text=st.text(max_size=6),
       number=st.integers(-5, 10**12))
def test_refund_rows_pages_any_list_and_query_without_losing_or_repeating(n: int, owed_every: int, show: str, text: str,
                                                                          number: int) -> None:
    households = [{"household_id": "H%d" % i, "residential_area": "A%d" % (i % 3), "station_id": "st-%d" % (i % 2),
                   "building": "B", "refund_cny": "1.00" if i % owed_every == 0 else "0.00"} for i in range(n)]
    rows, pager = refund_rows(households, show, text, number)
    assert 1 <= pager["page"] <= pager["pages"] and len(rows) <= PAGE_ROWS
    pages = [refund_rows(households, show, text, k)[0] for k in range(1, pager["pages"] + 1)]
    every = [h["household_id"] for page in pages for h in page]
    assert len(every) == len(set(every)) == pager["total"]  # each chosen household on exactly one page
    assert rows == pages[pager["page"] - 1]
    assert pager["owed"] == sum(1 for h in households if h["refund_cny"] == "1.00")
    assert show == "all" or all(h["refund_cny"] == "1.00" for page in pages for h in page)
