"""Trends, reports and exports as the dashboard asks for them: a station's trends (raw samples
up to 6 h, 5-minute means beyond, thinned), the compliance report (rooms against the floor,
heating outages), the daily 09:00 / 17:00 hourly report, and each of them (and the alarm,
command, audit and equipment lists) as CSV. The figures themselves are reports.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import reports
from .alarm_desk import AlarmDesk
from .audit_log import AuditLog
from .collectors import CollectorHub
from .fleet_view import FleetView
from .ingest import Ingest
from .remote_commands import RemoteCommands
from .service_errors import ServiceError, known_station
from .storage.base import Storage

RAW_SPAN_S = 6 * 3600.0  # trends up to this span are raw samples, longer ones 5-minute means
EXPORT_KINDS = ("compliance", "daily", "equipment", "audit", "alarms", "commands", "trends")


class Reporting:
    """Trends, the compliance and daily reports, CSV exports."""

    def __init__(self, storage: Storage, config: dict[str, Any], stations_cfg: dict[str, dict[str, Any]],
                 ingest: Ingest, collectors: CollectorHub, wall_clock: Callable[[], float], fleet: FleetView,
                 alarm_desk: AlarmDesk, remote: RemoteCommands, audit: AuditLog) -> None:
        self.storage = storage
        self.config = config
        self.stations_cfg = stations_cfg
        self.ingest = ingest
        self.collectors = collectors
        self.clock = wall_clock
        self.fleet = fleet
        self.alarm_desk = alarm_desk
        self.remote = remote
        self.audit = audit

    async def trends(self, station_id: str, fields: list[str], t0_ts: float, t1_ts: float,
                     max_points: int = 1000) -> dict[str, list[list[float]]]:
        """{field: [[ts, value], ...]}: raw samples for spans up to 6 h, 5-minute means beyond;
        thinned to at most `max_points` per field by averaging neighbours."""
        known_station(self.stations_cfg, station_id)
        if t1_ts <= t0_ts:
            raise ServiceError("bad_range", "t1_ts must be after t0_ts")
        max_points = max(10, min(int(max_points), 20000))
        out: dict[str, list[list[float]]] = {f: [] for f in fields}
        if t1_ts - t0_ts <= RAW_SPAN_S:
            for ts, body in await self.storage.telemetry_bodies(station_id, t0_ts, t1_ts, 200000):
                values = body.get("values", {})
                for f in fields:
                    v = values.get(f)
                    if v is not None:
                        out[f].append([ts, float(v)])
        else:
            await self.ingest.flush(force_aggregates=True)
            for field, bucket, n, total, _lo, _hi in await self.storage.aggregates(station_id, fields, t0_ts, t1_ts):
                out[field].append([float(bucket), float(total) / max(int(n), 1)])
        return {f: _thin(series, max_points) for f, series in out.items()}

    async def compliance_report(self, t0_ts: float, t1_ts: float) -> dict[str, Any]:
        """Per station and building group: hours below the floor and below the city's target band
        (target_c - tolerance_k), failed days; per station: heating
        outages over the limit. Comfort figures from the room collectors, not refunds: those are
        computed per household from the official measurements and outages (household_refunds.py,
        the Refunds page), the one source of refund figures."""
        comp = self.config["compliance"]
        off = self.config["supervisor"]["utc_offset_h"]
        await self.collectors.flush()
        await self.ingest.flush(force_aggregates=True)
        groups = reports.group_compliance(await self.storage.readings(None, t0_ts, t1_ts), t1_ts, comp["floor_c"], off,
                                          comp["refund_failures"], comp["refund_window_days"])
        # the city's target with its tolerance (e.g. 21 degC, at most 2 K below): hours under the band
        band_c = float(comp["target_c"]) - float(comp["tolerance_k"])
        band = {(g["station_id"], g["group"]): g["hours_below_floor"] for g in reports.group_compliance(
            await self.storage.readings(None, t0_ts, t1_ts), t1_ts, band_c, off, comp["refund_failures"],
            comp["refund_window_days"])}
        for g in groups:  # a collector proxy that disagreed with the refunds: not shown anywhere
            g.pop("refund_risk", None)
            g["hours_below_target_band"] = band.get((g["station_id"], g["group"]), 0.0)
        stations = []
        for sid in sorted(self.stations_cfg):
            rows = await self.storage.aggregates(sid, list(reports.OUTAGE_FIELDS), t0_ts, t1_ts)
            out = reports.outages(rows, t0_ts, t1_ts, comp["outage_h"], self.clock())
            mine = [g for g in groups if g["station_id"] == sid]
            stations.append({"station_id": sid, "name": self.stations_cfg[sid]["name"],
                             "hours_below_floor": max((g["hours_below_floor"] for g in mine), default=0.0),
                             "hours_below_target_band": max((g["hours_below_target_band"] for g in mine), default=0.0),
                             **out})
        return {"t0_ts": t0_ts, "t1_ts": t1_ts, "floor_c": comp["floor_c"], "outage_h": comp["outage_h"],
                "target_c": comp["target_c"], "tolerance_k": comp["tolerance_k"], "target_band_c": band_c,
                "stations": stations, "groups": groups}

    async def daily_report(self, date: str, hour: int) -> dict[str, Any]:
        """Hourly means of flow, pressures and temperatures per station for the 24 h ending at
        `hour`:00 (9 or 17) local time on `date` (YYYY-MM-DD)."""
        if hour not in (9, 17):
            raise ServiceError("bad_hour", "hour=%r: must be 9 or 17" % hour)
        try:
            t0, t1 = reports.daily_window(date, hour, self.config["supervisor"]["utc_offset_h"])
        except (TypeError, ValueError) as exc:
            raise ServiceError("bad_date", "date=%r: must be YYYY-MM-DD" % date) from exc
        await self.ingest.flush(force_aggregates=True)
        stations = []
        for sid in sorted(self.stations_cfg):
            rows = await self.storage.aggregates(sid, list(reports.DAILY_FIELDS), t0, t1 - 1)
            stations.append({"station_id": sid, "name": self.stations_cfg[sid]["name"],
                             "hourly": reports.hourly(rows, t0, 24)})
        return {"date": date, "hour": hour, "t0_ts": t0, "t1_ts": t1, "fields": list(reports.DAILY_FIELDS),
                "hours_ts": [t0 + 3600.0 * h for h in range(24)], "stations": stations}

    async def export_csv(self, kind: str, **kw: Any) -> str:
        """CSV text of: compliance(t0_ts, t1_ts), daily(date, hour), equipment(station_id),
        audit(limit, station_id), alarms(station_id), commands(station_id), trends(station_id,
        fields, t0_ts, t1_ts)."""
        if kind == "compliance":
            rep = await self.compliance_report(float(kw["t0_ts"]), float(kw["t1_ts"]))
            return reports.to_csv(
                ("station_id", "group", "collectors", "readings", "min_temp_c", "mean_temp_c", "hours_below_floor",
                 "failed_days", "hours_below_target_band"),
                [(g["station_id"], g["group"], g["collectors"], g["readings"], g["min_temp_c"], g["mean_temp_c"],
                  g["hours_below_floor"], " ".join(g["failed_days"]), g["hours_below_target_band"])
                 for g in rep["groups"]])
        if kind == "daily":
            rep = await self.daily_report(str(kw["date"]), int(kw["hour"]))
            rows = []
            for s in rep["stations"]:
                for h, ts in enumerate(rep["hours_ts"]):
                    rows.append([s["station_id"], reports.local_day(ts, self.config["supervisor"]["utc_offset_h"]),
                                 h] + [s["hourly"].get(f, [None] * 24)[h] for f in rep["fields"]])
            return reports.to_csv(["station_id", "window_day", "hour_index", *rep["fields"]], rows)
        if kind == "equipment":
            recs = await self.fleet.equipment_records(kw.get("station_id"))
            keys: tuple[str, ...] = ("station_id", "device", "run_hours", "starts", "rotations", "last_rotation_ts",
                                     "exercises", "last_exercise_ts", "faults", "last_fault_ts")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in recs])
        if kind == "audit":
            rows_a = await self.audit.rows(int(kw.get("limit", 10000)), kw.get("station_id"))
            keys = ("ts", "user", "action", "station_id", "detail", "result")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in rows_a])
        if kind == "alarms":
            rows_b = await self.alarm_desk.alarms(kw.get("station_id"), False)
            keys = ("station_id", "code", "severity", "active", "since_ts", "cleared_ts", "acked_by", "acked_ts", "text",
                    "value", "limit")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in rows_b])
        if kind == "commands":
            rows_c = await self.remote.recent_commands(kw.get("station_id"), int(kw.get("limit", 10000)))
            keys = ("command_id", "station_id", "kind", "args", "user", "issued_ts", "state", "reason", "detail", "done_ts")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in rows_c])
        if kind == "trends":
            fields = list(kw["fields"])
            series = await self.trends(str(kw["station_id"]), fields, float(kw["t0_ts"]), float(kw["t1_ts"]),
                                       int(kw.get("max_points", 20000)))
            rows_t = [(f, ts, v) for f in fields for ts, v in series.get(f, [])]
            return reports.to_csv(("field", "ts", "value"), rows_t)
        raise ServiceError("bad_kind", "kind=%r: must be %s or %s" % (kind, ", ".join(EXPORT_KINDS[:-1]),
                                                                       EXPORT_KINDS[-1]))


def _thin(series: list[list[float]], max_points: int) -> list[list[float]]:
    if len(series) <= max_points:
        return series
    step = len(series) / max_points
    out = []
    for i in range(max_points):
        chunk = series[int(i * step):int((i + 1) * step)] or [series[-1]]
        out.append([chunk[0][0], sum(p[1] for p in chunk) / len(chunk)])
    return out
