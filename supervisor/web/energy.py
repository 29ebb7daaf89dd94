"""Energy figures on the dashboard (supervisor/energy.py has the definitions).

- `GET /energy?season=YEAR` or `?from=YYYY-MM-DD&to=YYYY-MM-DD` (viewer): the stations ranked by
  heat per m2 per 1,000 degree days, their heat, electricity, make-up water and over-heating
  hours, the residential areas, and a chart of every station's daily heat (W/m2) with the
  degree days (uPlot, served from /static/vendor: nothing from the internet).
- `GET /api/energy` (same query): the report as JSON, every day of every station and area.
- `GET /energy/export.csv` (same query): the period rows, then the days.
The period defaults to the current heating season (`[season]`, the site's `[refunds] timezone`)
up to today; it never reaches past today, and at most MAX_DAYS days are computed at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from .. import energy
from .. import household_refunds as hr
from . import render
from .common import json_response, now_ts, require, service
from .validation import BadInput

MAX_DAYS = 400


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput("%s=%r: must be a date YYYY-MM-DD" % (name, text[:20])) from None


def period(request: web.Request) -> tuple[dt.date, dt.date, int | None]:
    """(first, last day, season year or None) asked for, the last day at most today."""
    config = service(request).config
    today = dt.datetime.fromtimestamp(now_ts(), ZoneInfo(config["refunds"]["timezone"])).date()
    q = request.query
    if q.get("from") or q.get("to"):
        first = _date(q.get("from", "").strip(), "from")
        last = _date(q.get("to", "").strip(), "to") if q.get("to") else today
        year = None
    else:
        text = q.get("season", "").strip()
        if text and (not text.isdigit() or not 2000 <= int(text) <= 2100):
            raise BadInput("season=%r: must be the year the season starts in (2000-2100)" % text[:20])
        year = int(text) if text else hr.current_season_year(config["season"], config["refunds"]["timezone"], now_ts())
        first, last = hr.season_dates(config["season"], year)
    last = min(last, today)
    if last < first:
        raise BadInput("the period %s to %s is empty (it may not start after today)" % (first, last))
    if (last - first).days + 1 > MAX_DAYS:
        raise BadInput("the period %s to %s is %d days: at most %d at once" % (first, last, (last - first).days + 1,
                                                                             MAX_DAYS))
    return first, last, year


async def _report(request: web.Request) -> dict[str, Any]:
    first, last, year = period(request)
    svc = service(request)
    report = await energy.energy_report(svc.storage, svc.config, first, last)
    report["season"] = year
    return report


def _query(report: dict[str, Any]) -> str:
    return "season=%d" % report["season"] if report["season"] else "from=%s&to=%s" % (report["from"], report["to"])


async def page(request: web.Request) -> web.Response:
    require(request, "viewer", "see the energy figures")
    report = await _report(request)
    chart = {"dates": [d["date"] for d in report["stations"][0]["days"]] if report["stations"] else [],
             "hdd": [d["hdd18"] for d in report["stations"][0]["days"]] if report["stations"] else [],
             "stations": [{"id": s["station_id"], "w_per_m2": [d["heat_w_per_m2"] for d in s["days"]]}
                          for s in report["stations"]]}
    # no day with a heat figure (a new install, or stations that have not reported in the period):
    # the page says why the chart is empty instead of drawing empty axes alone
    chart_empty = not any(w is not None for s in chart["stations"] for w in s["w_per_m2"])
    return render.page(request, "energy.html", "energy.title", nav="energy", report=report, query=_query(report),
                       chart_empty=chart_empty, boot={"energy_chart": chart})


async def api(request: web.Request) -> web.Response:
    require(request, "viewer", "see the energy figures")
    return json_response(await _report(request))


async def export_csv(request: web.Request) -> web.StreamResponse:
    require(request, "viewer", "export the energy figures")
    report = await _report(request)
    name = "energy-%s-%s" % (report["from"], report["to"])
    return web.Response(body=energy.report_csv(report).encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="%s.csv"' % name})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/energy", page)
    app.router.add_get("/api/energy", api)
    app.router.add_get("/energy/export.csv", export_csv)
