"""Households, official measurements and refunds on the dashboard (server-rendered, no script).

Pages (viewer and up see them):
- `GET /households`: the register (company > branch > residential area > station > building >
  household); an admin uploads a CSV or .xlsx file (`POST /households/import`, multipart, CSRF
  field): every bad row is listed (file, line or row, reason) and nothing is stored.
- `GET /households/{id}`, `POST /households/{id}` (admin): one household edited.
- `GET /measurements`: the official measurements (入户测温), a failed one (below the refund floor)
  marked; an operator records one (`POST /measurements`) or imports a file
  (`POST /measurements/import`).
- `GET /refunds?season=YEAR`: refunds per household, building, residential area and station.
API and exports: `GET /api/households`, `GET /api/measurements`, `POST /api/measurements` (JSON
{household_id, time, temperature_c, inspector}), `GET /api/refunds?season=YEAR`,
`GET /refunds/export.csv|.xlsx?season=YEAR`, `GET /refunds/inputs/{rules.toml,households.csv,
outages.csv,measurements.csv}?season=YEAR` (the files `heatkeeper refunds` reads). Every change
and every refused import is in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from .. import household_refunds as hr
from .. import households as hh
from ..coverage import station_coverage
from . import render
from .common import audit, json_response, read_form, require, service
from .validation import BadInput

MAX_PAGE_ROWS = 2000  # the latest measurements on the page; the API and the refunds' input export have all
PAGE_ROWS = 100  # households shown per page of the register
INPUT_FILES = ("rules.toml", "households.csv", "outages.csv", "measurements.csv")


def _config(request: web.Request) -> dict[str, Any]:
    return service(request).config  # type: ignore[no-any-return]


def _storage(request: web.Request) -> Any:
    return service(request).storage


def _stations(request: web.Request) -> set[str]:
    return set(service(request).stations_cfg)


def _now(request: web.Request) -> float:
    return float(service(request).clock())


def _local(request: web.Request, ts: float) -> str:
    """A measurement's time in the refund rules' time zone (the one a time without offset is read in)."""
    return datetime.fromtimestamp(ts, ZoneInfo(_config(request)["refunds"]["timezone"])).strftime("%Y-%m-%d %H:%M")


async def _upload(request: web.Request) -> tuple[str, bytes]:
    form = await read_form(request)
    field = form.get("file")
    if field is None or isinstance(field, str) or not getattr(field, "filename", ""):
        raise BadInput("file: choose a .csv or .xlsx file to import")
    return str(field.filename), field.file.read()


# --- households -------------------------------------------------------------------------------
async def households_page(request: web.Request, problems: list[str] | None = None, status: int = 200,
                          imported: int | None = None) -> web.Response:
    current = require(request, "viewer", "see the households")
    storage = _storage(request)
    if imported is None and request.query.get("imported", "").isdigit():
        imported = int(request.query["imported"])
    query = request.query.get("q", "").strip()[:100]
    station = request.query.get("station", "").strip() or None
    number = max(_page_number(request), 1)
    rows, total = await storage.households_page(query, station, PAGE_ROWS, (number - 1) * PAGE_ROWS)
    if number > page_count(total):  # past the end (the register shrank, or a typed URL): the last page
        number = page_count(total)
        rows, total = await storage.households_page(query, station, PAGE_ROWS, (number - 1) * PAGE_ROWS)
    pager = {"q": query, "station": station or "", "stations": sorted(_stations(request)),
             **page_figures(total, number, len(rows))}
    return render.page(request, "households.html", "hh.title", nav="households", status=status, rows=rows,
                       editable=current.allows("admin"), problems=problems or [], imported=imported,
                       columns=hh.HOUSEHOLD_COLUMNS, coverage=_coverage(request, await storage.households()),
                       pager=pager)


def _coverage(request: web.Request, households: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Room-collector coverage per station (supervisor/coverage.py) against the fleet alarms' limits."""
    svc = service(request)
    settings = svc.fleet_alarms.settings
    return station_coverage(svc.config["stations"], svc.collectors.collectors, households, svc.collectors.latest,
                            _now(request), float(settings["collector_stale_s"]), float(settings["coverage_min_pct"]))


async def coverage_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the collector coverage")
    return json_response({"stations": _coverage(request, await _storage(request).households())})


async def households_import(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "import households")
    filename, data = await _upload(request)
    try:
        rows = hh.parse_households(filename, data, _stations(request))
    except hh.ImportProblems as exc:
        await audit(request, current.username, "households_import", None,
                    "%s: %d problem(s): %s" % (filename, len(exc.problems), "; ".join(exc.problems[:20]))[:2000],
                    "refused")
        return await households_page(request, exc.problems, 400)
    await _storage(request).save_households(rows, current.username, _now(request))
    await audit(request, current.username, "households_import", None, "%s: %d household(s)" % (filename, len(rows)), "ok")
    raise web.HTTPSeeOther("/households?imported=%d" % len(rows))


async def household_page(request: web.Request, problems: list[str] | None = None, status: int = 200,
                         values: dict[str, str] | None = None) -> web.Response:
    current = require(request, "viewer", "see the households")
    hid = request.match_info["household_id"]
    row = await _storage(request).household(hid)
    if row is None:
        raise LookupError("no household %r" % hid)
    ms = await _storage(request).measurements(hid)
    floor = float(_config(request)["refunds"]["floor_c"])
    return render.page(request, "household.html", "hh.edit_title", nav="households", status=status,
                       h=values or row, hid=hid, editable=current.allows("admin"), problems=problems or [],
                       heating_types=hh.HEATING_TYPES, metering=hh.METERING,
                       stations=sorted(_stations(request) | {row["station_id"]}),  # a station no longer configured shows
                       measurements=[{**m, "when": _local(request, m["ts"]), "failed": m["temperature_c"] < floor}
                                     for m in ms], saved=request.query.get("saved") == "1")


async def household_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "admin", "edit a household")
    hid = request.match_info["household_id"]
    before = await _storage(request).household(hid)
    if before is None:
        raise LookupError("no household %r" % hid)
    form = await read_form(request)
    values = {c: str(form.get(c, "")) for c in hh.HOUSEHOLD_COLUMNS}
    values["household_id"] = hid
    problems: list[str] = []
    clean = hh.check_household("household %s" % hid, values, _stations(request), problems)
    if clean is None:
        await audit(request, current.username, "household_edit", None, "; ".join(problems)[:2000], "refused")
        return await household_page(request, problems, 400, values)
    diff = ["%s %s -> %s" % (c, before[c], clean[c]) for c in hh.HOUSEHOLD_COLUMNS if str(before[c]) != clean[c]]
    if diff:
        await _storage(request).save_households([clean], current.username, _now(request))
        await audit(request, current.username, "household_edit", clean["station_id"],
                    ("%s: " % hid + "; ".join(diff))[:2000], "ok")
    raise web.HTTPSeeOther("/households/%s?saved=1" % quote(hid, safe=""))


async def households_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the households")
    return json_response({"households": await _storage(request).households()})


# --- measurements -----------------------------------------------------------------------------
async def _measurement_rows(request: web.Request) -> list[dict[str, Any]]:
    floor = float(_config(request)["refunds"]["floor_c"])
    return [{**m, "when": _local(request, m["ts"]), "failed": m["temperature_c"] < floor}
            for m in await _storage(request).measurements()]


async def measurements_page(request: web.Request, problems: list[str] | None = None, status: int = 200,
                            values: dict[str, str] | None = None) -> web.Response:
    current = require(request, "viewer", "see the measurements")
    rows = await _measurement_rows(request)
    added = request.query.get("added", "")
    return render.page(request, "measurements.html", "meas.title", nav="measurements", status=status,
                       rows=list(reversed(rows))[:MAX_PAGE_ROWS], total=len(rows), editable=current.allows("operator"), problems=problems or [],
                       values=values or {}, floor_c=_config(request)["refunds"]["floor_c"],
                       timezone=_config(request)["refunds"]["timezone"], added=int(added) if added.isdigit() else None)


async def _store_measurements(request: web.Request, user: str, source: str, rows: list[dict[str, Any]]) -> None:
    now = _now(request)
    await _storage(request).add_measurements([{**m, "recorded_by": user, "recorded_ts": now} for m in rows])
    await audit(request, user, "measurements_add", None,
                ("%s: %d measurement(s): " % (source, len(rows)) + "; ".join(
                    "%s %.1f degC by %s" % (m["household_id"], m["temperature_c"], m["inspector"]) for m in rows[:20])
                 )[:2000], "ok")


async def _check_one(request: web.Request, values: dict[str, str]) -> dict[str, Any]:
    """One measurement from a form or JSON: checked, not yet stored (BadInput with every reason)."""
    problems: list[str] = []
    hid = values.get("household_id", "").strip()
    known = {hid} if hid and await _storage(request).household(hid) is not None else set()
    m = hh.check_measurement("measurement", values, known, _config(request)["refunds"]["timezone"], problems)
    if m is not None and (m["household_id"], m["ts"]) in {(x["household_id"], x["ts"])
                                                          for x in await _storage(request).measurements(m["household_id"])}:
        problems.append("measurement: household %r at %s: already recorded" % (m["household_id"], values["time"]))
    if problems or m is None:
        raise BadInput("; ".join(problems))
    return m


async def measurement_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "record a measurement")
    form = await read_form(request)
    values = {c: str(form.get(c, "")) for c in hh.MEASUREMENT_COLUMNS}
    try:
        m = await _check_one(request, values)
    except BadInput as exc:
        await audit(request, current.username, "measurements_add", None, str(exc)[:2000], "refused")
        return await measurements_page(request, [str(exc)], 400, values)
    await _store_measurements(request, current.username, "form", [m])
    raise web.HTTPSeeOther("/measurements?added=1")


async def measurements_import(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "import measurements")
    filename, data = await _upload(request)
    storage = _storage(request)
    known = {h["household_id"] for h in await storage.households()}
    stored = {(m["household_id"], float(m["ts"])) for m in await storage.measurements()}
    try:
        rows = hh.parse_measurements(filename, data, known, stored, _config(request)["refunds"]["timezone"])
    except hh.ImportProblems as exc:
        await audit(request, current.username, "measurements_import", None,
                    "%s: %d problem(s): %s" % (filename, len(exc.problems), "; ".join(exc.problems[:20]))[:2000],
                    "refused")
        return await measurements_page(request, exc.problems, 400)
    await _store_measurements(request, current.username, filename, rows)
    raise web.HTTPSeeOther("/measurements?added=%d" % len(rows))


async def measurements_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the measurements")
    return json_response({"floor_c": _config(request)["refunds"]["floor_c"],
                          "measurements": [{k: m[k] for k in ("household_id", "ts", "temperature_c", "inspector",
                                                              "recorded_by", "recorded_ts", "failed")}
                                           for m in await _measurement_rows(request)]})


async def measurements_api_post(request: web.Request) -> web.Response:
    current = require(request, "operator", "record a measurement")
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("body: must be a JSON object {household_id, time, temperature_c, inspector}") from None
    if not isinstance(body, dict):
        raise BadInput("body: must be a JSON object {household_id, time, temperature_c, inspector}")
    m = await _check_one(request, {c: "" if body.get(c) is None else str(body.get(c)) for c in hh.MEASUREMENT_COLUMNS})
    await _store_measurements(request, current.username, "api", [m])
    return json_response({"measurement": m}, status=201)


# --- refunds ----------------------------------------------------------------------------------
def _season(request: web.Request) -> int | None:
    text = request.query.get("season", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise BadInput("season=%r: must be the year the season starts in (2000-2100)" % text[:20])
    return int(text)


async def _report(request: web.Request) -> dict[str, Any]:
    return await hr.refund_report(_storage(request), _config(request), _season(request), _now(request))


def page_count(total: int, per_page: int = PAGE_ROWS) -> int:
    """Pages of `per_page` rows for `total` rows (one, empty, for none)."""
    return max(1, -(-total // per_page))


def page_figures(total: int, number: int, shown: int, per_page: int = PAGE_ROWS) -> dict[str, int]:
    """What the pager shows of page `number` (already within 1..page_count) holding `shown` rows."""
    first = (number - 1) * per_page + 1 if shown else 0
    return {"page": number, "pages": page_count(total, per_page), "total": total, "first": first,
            "last": first + shown - 1 if shown else 0}


def _page_number(request: web.Request) -> int:
    page = request.query.get("page", "")
    return int(page) if page.isdigit() else 1


def refund_rows(households: list[dict[str, Any]], show: str, text: str, number: int,
                per_page: int = PAGE_ROWS) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of the refunds' household list: those owed a refund (`show` "owed", the
    default) or all, whose id, residential area, station or building holds `text`; (rows,
    pager). A city has 100,000 households: the page never lists them all at once (the
    exports do)."""
    owed = [h for h in households if Decimal(h["refund_cny"]) > 0]
    chosen = households if show == "all" else owed
    needle = text.casefold()
    if needle:
        chosen = [h for h in chosen if any(needle in str(h[k]).casefold()
                                           for k in ("household_id", "residential_area", "station_id", "building"))]
    number = min(max(number, 1), page_count(len(chosen), per_page))
    rows = chosen[(number - 1) * per_page:number * per_page]
    return rows, {"show": "all" if show == "all" else "owed", "q": text, "owed": len(owed),
                  "households": len(households), **page_figures(len(chosen), number, len(rows), per_page)}


async def refunds_page(request: web.Request) -> web.Response:
    require(request, "viewer", "see the refunds")
    report = await _report(request)
    rows, pager = refund_rows(report["households"], request.query.get("show", "owed"),
                              request.query.get("q", "").strip()[:100], _page_number(request))
    return render.page(request, "refunds.html", "rf.title", nav="refunds", report=report, rows=rows, pager=pager,
                       query="season=%d" % report["season"]["year"], inputs=INPUT_FILES)


async def refunds_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the refunds")
    return json_response(await _report(request))


async def refunds_export(request: web.Request) -> web.StreamResponse:
    require(request, "viewer", "export the refunds")
    report = await _report(request)
    name = "refunds-%d" % report["season"]["year"]
    if request.match_info["ext"] == "csv":
        return web.Response(body=hr.report_csv(report).encode("utf-8"), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": 'attachment; filename="%s.csv"' % name})
    return web.Response(body=hr.report_xlsx(report),
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="%s.xlsx"' % name})


async def refund_inputs(request: web.Request) -> web.StreamResponse:
    require(request, "viewer", "export the refunds")
    name = request.match_info["name"]
    if name not in INPUT_FILES:
        raise LookupError("no input file %r; known: %s" % (name, ", ".join(INPUT_FILES)))
    report = await _report(request)
    text = hr.input_files(report, await _storage(request).measurements())[name]
    return web.Response(text=text, content_type="application/toml" if name.endswith(".toml") else "text/csv",
                        charset="utf-8", headers={"Content-Disposition": 'attachment; filename="%s"' % name})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/households", households_page)
    r.add_post("/households/import", households_import)
    r.add_get("/households/{household_id}", household_page)
    r.add_post("/households/{household_id}", household_submit)
    r.add_get("/api/households", households_api)
    r.add_get("/api/coverage", coverage_api)
    r.add_get("/measurements", measurements_page)
    r.add_post("/measurements", measurement_submit)
    r.add_post("/measurements/import", measurements_import)
    r.add_get("/api/measurements", measurements_api)
    r.add_post("/api/measurements", measurements_api_post)
    r.add_get("/refunds", refunds_page)
    r.add_get("/api/refunds", refunds_api)
    r.add_get("/refunds/export.{ext:csv|xlsx}", refunds_export)
    r.add_get("/refunds/inputs/{name}", refund_inputs)
