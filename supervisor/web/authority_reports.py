"""Reports to the authority and hotline complaints on the dashboard (server-rendered, no script).

- `GET /authority-reports`: the schedule (report times in the site's time zone, channels, next
  due), the recent periods of each report with their delivery state per channel, a download of
  each as .xlsx and CSV (`GET /authority-reports/download?report=hourly&end=UNIX&format=xlsx`),
  and (operator and up) `POST /authority-reports/resend` (report, end): sent again on every
  configured channel at the scheduler's next pass; the last attempts (status, error).
- `GET /complaints?station=ID&area=NAME`: complaints (投诉) with their deadlines, overdue ones
  flagged, counted per station and per residential area; an operator records one
  (`POST /complaints`: hotline_no, household_id, received, summary, measurement_time) and answers
  or closes one (`POST /complaints/{hotline_no}/answer|close`: time, note).
API: `GET /api/authority-reports`, `GET /api/complaints`. Every change and refusal is audited.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from .. import authority_reports as ar
from .. import authority_reports_schedule as schedule
from .. import complaints as cp
from ..storage import StorageError
from . import render
from .common import audit, json_response, read_form, require, service
from .validation import BadInput

RECENT = {"hourly": 10, "weekly": 4}
MAX_ATTEMPTS_SHOWN = 100


def _config(request: web.Request) -> dict[str, Any]:
    return service(request).config  # type: ignore[no-any-return]


def _storage(request: web.Request) -> Any:
    return service(request).storage


def _now(request: web.Request) -> float:
    return float(service(request).clock())


def _tz(request: web.Request) -> str:
    return str(_config(request)["authority_reports"]["timezone"])


def _local(request: web.Request, ts: float | None) -> str:
    return "" if ts is None else ar.local_text(float(ts), _tz(request))


# --- reports -------------------------------------------------------------------------------
async def _overview(request: web.Request) -> dict[str, Any]:
    settings = _config(request)["authority_reports"]
    now = _now(request)
    deliveries = await _storage(request).report_deliveries(limit=2000)
    by_period: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}
    for d in deliveries:
        by_period.setdefault((d["report"], float(d["period_end_ts"])), {})[d["channel"]] = d
    reports = []
    for report in schedule.REPORTS:
        periods = [(s, e) for s, e in schedule.recent(settings, report, now, RECENT[report])]
        known = {e for _s, e in periods}
        extra = sorted({e for (r, e) in by_period if r == report and e not in known}, reverse=True)[:RECENT[report]]
        periods += [(float(by_period[(report, e)][next(iter(by_period[(report, e)]))]["period_start_ts"]), e)
                    for e in extra]  # resent or caught up beyond the recent ones
        periods.sort(key=lambda p: -p[1])
        reports.append({
            "report": report, "next_due_ts": schedule.next_due(settings, report, now),
            "next_due": _local(request, schedule.next_due(settings, report, now)),
            "periods": [{"start_ts": s, "end_ts": e, "start": _local(request, s), "end": _local(request, e),
                         "deliveries": {c: {**d, "delivered": _local(request, d["delivered_ts"]),
                                            "next": _local(request, d["next_ts"])}
                                        for c, d in by_period.get((report, e), {}).items()}}
                        for s, e in periods]})
    attempts = [{**a, "when": _local(request, a["ts"]), "period_end": _local(request, a["period_end_ts"])}
                for a in await _storage(request).report_attempts(MAX_ATTEMPTS_SHOWN)]
    return {"enabled": settings["enabled"], "timezone": settings["timezone"], "hourly_times": settings["hourly_times"],
            "weekly_day": settings["weekly_day"], "weekly_time": settings["weekly_time"],
            "channels": settings["channels"], "email_to": settings["email_to"], "http_url": settings["http_url"],
            "reports": reports, "attempts": attempts}


async def reports_page(request: web.Request) -> web.Response:
    current = require(request, "viewer", "see the reports to the authority")
    data = await _overview(request)
    return render.page(request, "authority_reports.html", "arp.title", nav="authority_reports", data=data,
                       can_resend=current.allows("operator") and bool(data["channels"]),
                       resent=request.query.get("resent") == "1")


async def reports_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the reports to the authority")
    return json_response(await _overview(request))


def _period(request: web.Request, values: Any) -> tuple[str, float, float]:
    """(report, start, end) of a request naming a report and its period's end (unix s)."""
    report = str(values.get("report", ""))
    if report not in schedule.REPORTS:
        raise BadInput("report=%r: must be one of %s" % (report[:20], ", ".join(schedule.REPORTS)))
    try:
        end = float(str(values.get("end", "")))
    except ValueError:
        end = -1.0
    settings = _config(request)["authority_reports"]
    if not 0 < end < 4102444800 or not schedule.is_due(settings, report, end):
        raise BadInput("end=%r: not the end of a %s report period (%s, %s)" % (
            str(values.get("end", ""))[:20], report, settings["timezone"],
            ", ".join(settings["hourly_times"]) if report == "hourly" else "%s %s" % (settings["weekly_day"],
                                                                                       settings["weekly_time"])))
    if end > _now(request):
        raise BadInput("end=%s: that period has not ended yet" % _local(request, end))
    return report, schedule.period_start(settings, report, end), end


async def report_download(request: web.Request) -> web.StreamResponse:
    require(request, "viewer", "download a report to the authority")
    report, start, end = _period(request, request.query)
    fmt = request.query.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        raise BadInput("format=%r: must be xlsx or csv" % fmt[:20])
    built = await ar.build(_storage(request), _config(request), report, start, end)
    name = ar.filename(built, _config(request)["supervisor"]["site_name"])
    disposition = {"Content-Disposition": "attachment; filename=\"%s.%s\"" % (quote(name, safe="-_."), fmt)}
    if fmt == "csv":
        return web.Response(body=ar.report_csv(built).encode("utf-8"), content_type="text/csv", charset="utf-8",
                            headers=disposition)
    return web.Response(body=ar.report_xlsx(built), content_type=ar.XLSX_TYPE, headers=disposition)


async def report_resend(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "resend a report to the authority")
    form = await read_form(request)
    report, start, end = _period(request, form)
    channels = _config(request)["authority_reports"]["channels"]
    if not channels:
        raise BadInput("[authority_reports] has no channel (email_channel, http_url): nowhere to send it")
    await _storage(request).resend_report(report, end, channels, start, _now(request))
    await audit(request, current.username, "authority_report_resend", None,
                "%s %s on %s" % (report, _local(request, end), ", ".join(channels)), "ok")
    raise web.HTTPSeeOther("/authority-reports?resent=1")


# --- complaints ----------------------------------------------------------------------------
async def _complaint_rows(request: web.Request) -> list[dict[str, Any]]:
    rules, now = _config(request)["complaints"], _now(request)
    out = []
    for c in await _storage(request).complaints():
        d = cp.deadlines(c, rules, now)
        for key in ("received_ts", "answered_ts", "closed_ts", "answer_due_ts", "close_due_ts", "measurement_ts"):
            d[key[:-3]] = _local(request, d[key])
        out.append(d)
    return out


async def complaints_page(request: web.Request, problems: list[str] | None = None, status: int = 200,
                          values: dict[str, str] | None = None) -> web.Response:
    current = require(request, "viewer", "see the complaints")
    rows = await _complaint_rows(request)
    station, area = request.query.get("station", ""), request.query.get("area", "")
    shown = [r for r in rows if (not station or r["station_id"] == station)
             and (not area or r["residential_area"] == area)]
    added = request.query.get("added", "")
    return render.page(request, "complaints.html", "cpl.title", nav="complaints", status=status, rows=shown,
                       by_station=cp.summary(rows, "station_id"), by_area=cp.summary(rows, "residential_area"),
                       station=station, area=area, editable=current.allows("operator"), problems=problems or [],
                       values=values or {}, rules=_config(request)["complaints"], timezone=_tz(request),
                       added=added, done=request.query.get("done", ""))


async def complaint_submit(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "record a complaint")
    form = await read_form(request)
    values = {f: str(form.get(f, "")) for f in cp.FORM_FIELDS}
    storage = _storage(request)
    hid = values["household_id"].strip()
    households = {hid} if hid and await storage.household(hid) is not None else set()
    measured = {hid: {float(m["ts"]) for m in await storage.measurements(hid)}} if households else {}
    row, problems = cp.check_new(values, households, measured, _tz(request), _now(request))
    if row is not None and await storage.complaints(row["hotline_no"]):
        problems = ["hotline_no=%r: already recorded" % row["hotline_no"]]
        row = None
    if row is None:
        await audit(request, current.username, "complaint_add", None, "; ".join(problems)[:2000], "refused")
        return await complaints_page(request, problems, 400, values)
    try:
        await storage.add_complaint({**row, "recorded_by": current.username, "recorded_ts": _now(request)})
    except StorageError:
        if not await storage.complaints(row["hotline_no"]):
            raise
        # the same number recorded by someone else a moment before
        return await complaints_page(request, ["hotline_no=%r: already recorded" % row["hotline_no"]], 400, values)
    await audit(request, current.username, "complaint_add", None,
                ("%s: household %s: %s" % (row["hotline_no"], row["household_id"], row["summary"]))[:2000], "ok")
    raise web.HTTPSeeOther("/complaints?added=%s" % quote(row["hotline_no"], safe=""))


async def complaint_step(request: web.Request) -> web.StreamResponse:
    current = require(request, "operator", "answer or close a complaint")
    number, step = request.match_info["hotline_no"], request.match_info["step"]
    found = await _storage(request).complaints(number)
    if not found:
        raise LookupError("no complaint %r" % number)
    form = await read_form(request)
    values, problems = cp.check_step(found[0], step, str(form.get("time", "")), str(form.get("note", "")),
                                     _tz(request), _now(request))
    if values is None:
        await audit(request, current.username, "complaint_%s" % step, found[0]["station_id"],
                    ("%s: %s" % (number, "; ".join(problems)))[:2000], "refused")
        return await complaints_page(request, problems, 400)
    await _storage(request).update_complaint(number, **values)
    await audit(request, current.username, "complaint_%s" % step, found[0]["station_id"],
                ("%s: %s" % (number, form.get("note", "")))[:2000], "ok")
    raise web.HTTPSeeOther("/complaints?done=%s" % quote(number, safe=""))


async def complaints_api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the complaints")
    rows = await _complaint_rows(request)
    return json_response({"rules": _config(request)["complaints"], "complaints": rows,
                          "by_station": cp.summary(rows, "station_id"),
                          "by_area": cp.summary(rows, "residential_area")})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/authority-reports", reports_page)
    r.add_get("/authority-reports/download", report_download)
    r.add_post("/authority-reports/resend", report_resend)
    r.add_get("/api/authority-reports", reports_api)
    r.add_get("/complaints", complaints_page)
    r.add_post("/complaints", complaint_submit)
    r.add_post("/complaints/{hotline_no}/{step:answer|close}", complaint_step)
    r.add_get("/api/complaints", complaints_api)
