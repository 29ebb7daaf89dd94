"""Reports over both backends: compliance (hours below 18 degC per building group, failed days,
refund risk, heating outages over 24 h), the daily 09:00/17:00 hourly report, equipment
records from telemetry, CSV export. Simulated time: readings and telemetry carry the clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import reports
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.service_errors import ServiceError

# 2026-01-05 00:00 local (UTC+8)
DAY0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp() - 8 * 3600


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
async def service(storage: Any) -> Any:
    cfg = sup_config.validate({
        "station": [{"id": "st-a", "name": "A"}, {"id": "st-b", "name": "B"}],
        "collector": [{"id": "c-top", "station": "st-a", "group": "top"},
                      {"id": "c-mid", "station": "st-a", "group": "middle"},
                      {"id": "c-b", "station": "st-b", "group": "edge"}],
        "collectors": {"max_age_s": 86400},
    })
    svc = SupervisorService(storage, cfg, wall_clock=Clock(DAY0 + 40 * 86400))
    await svc.start(open_storage=False)
    yield svc


async def test_compliance_hours_and_failed_days(service: SupervisorService) -> None:
    # c-top: days 0, 10 and 20 each have 3 h below 18 (17.0 degC) at night, else 20 degC;
    # c-mid always 21 degC; c-b: one bad day only. Readings every 30 min.
    # The platform sends each day's readings at the end of that day (the supervisor refuses
    # readings older than collectors.max_age_s, one day here).
    clock = service.clock
    for day in range(30):
        readings = []
        for half_hour in range(48):
            ts = DAY0 + day * 86400 + half_hour * 1800
            cold = day in (0, 10, 20) and half_hour < 6
            readings += [{"collector": "c-top", "temp_c": 17.0 if cold else 20.0, "ts": ts},
                         {"collector": "c-mid", "temp_c": 21.0, "ts": ts},
                         {"collector": "c-b", "temp_c": 16.0 if (day == 3 and half_hour < 4) else 19.0, "ts": ts}]
        clock.t = DAY0 + (day + 1) * 86400 - 1  # type: ignore[attr-defined]
        res = await service.collector_intake.ingest_collector_http({"readings": readings}, "test")
        assert res["accepted"] == len(readings), res["rejected"][:3]
    clock.t = DAY0 + 40 * 86400  # type: ignore[attr-defined]
    rep = await service.reporting.compliance_report(DAY0, DAY0 + 30 * 86400)
    groups = {(g["station_id"], g["group"]): g for g in rep["groups"]}
    top = groups[("st-a", "top")]
    assert top["hours_below_floor"] == pytest.approx(9.0)
    assert top["failed_days"] == ["2026-01-05", "2026-01-15", "2026-01-25"]
    assert groups[("st-a", "middle")]["hours_below_floor"] == 0.0
    edge = groups[("st-b", "edge")]
    assert edge["hours_below_floor"] == pytest.approx(2.0)
    # the default target band (21 - 2 = 19 degC) catches the same cold nights; c-b's 19.0 is not below it
    assert top["hours_below_target_band"] == pytest.approx(9.0) and edge["hours_below_target_band"] == pytest.approx(2.0)
    assert rep["target_band_c"] == 19.0
    # a city with 21 degC and at most 0.5 K below: c-top's 20 degC is under it all month, c-mid's 21 never
    service.config["compliance"]["tolerance_k"] = 0.5
    band = await service.reporting.compliance_report(DAY0, DAY0 + 30 * 86400)
    by = {(g["station_id"], g["group"]): g for g in band["groups"]}
    assert by[("st-a", "top")]["hours_below_target_band"] == pytest.approx(720.0)
    assert by[("st-a", "middle")]["hours_below_target_band"] == 0.0
    assert by[("st-a", "top")]["hours_below_floor"] == pytest.approx(9.0)  # the floor's figures unchanged
    service.config["compliance"]["tolerance_k"] = 2.0
    text = await service.reporting.export_csv("compliance", t0_ts=DAY0, t1_ts=DAY0 + 30 * 86400)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["group"] for r in rows} == {"top", "middle", "edge"}


def test_refund_window() -> None:
    assert reports._window_hits(["2026-01-01", "2026-01-15", "2026-01-30"], 3, 30) is True
    assert reports._window_hits(["2026-01-01", "2026-01-15", "2026-01-31"], 3, 30) is False
    assert reports._window_hits(["2026-01-01", "2026-01-02"], 3, 30) is False


def test_missing_data_is_a_gap_before_the_first_and_after_the_last_message() -> None:
    # 15 minutes of telemetry (three 5-minute buckets) in a 7-day report asked for on its last
    # day at noon: everything else up to now is a gap, the rest of the day is not (yet) one.
    t0 = DAY0
    now = DAY0 + 6 * 86400 + 12 * 3600
    first = int(now - 3600)
    rows = [(f, first + i * 300, 1, 1.0, 1.0, 1.0) for f in ("pump1_running",) for i in range(3)]
    out = reports.outages(rows, t0, DAY0 + 7 * 86400, 24.0, now_ts=now)
    assert out["data_hours"] == pytest.approx(0.25)
    assert out["period_hours"] == pytest.approx(6 * 24 + 12)
    assert out["data_gap_hours"] == pytest.approx(6 * 24 + 12 - 0.25)
    # a gap in the middle, and a report of the past (now after t1)
    rows = [("pump1_running", int(DAY0) + i * 300, 1, 1.0, 1.0, 1.0) for i in range(288) if not 100 <= i < 112]
    out = reports.outages(rows, DAY0, DAY0 + 86400, 24.0, now_ts=DAY0 + 10 * 86400)
    assert out["data_gap_hours"] == pytest.approx(1.0) and out["data_hours"] == pytest.approx(23.0)
    assert reports.outages([], DAY0, DAY0 + 86400, 24.0)["data_gap_hours"] == pytest.approx(24.0)


def _telemetry(svc: SupervisorService, seq: int, ts: float, **values: float) -> None:
    assert svc.ingest.handle(*codec.encode_uplink("st-a", seq, codec.UP_TELEMETRY, ts, {"values": values})) == "queued"


async def test_outage_daily_report_and_equipment(service: SupervisorService) -> None:
    # st-a: one sample a minute for 3 days. Pump 1 runs, except a 26 h stop from hour 20 to
    # hour 46; during the stop the supply drops to 25 degC. At hour 60 the duty rotates to pump 2.
    seq = 0
    for minute in range(3 * 24 * 60):
        seq += 1
        h = minute / 60.0
        stopped = 20 <= h < 46
        p1 = 0.0 if stopped or h >= 60 else 1.0
        p2 = 1.0 if h >= 60 else 0.0
        _telemetry(service, seq, DAY0 + minute * 60, pump1_running=p1, pump2_running=p2,
                   secondary_supply_temp_c=25.0 if stopped else 55.0, primary_flow_m3h=10.0 + (h % 24),
                   secondary_supply_pressure_kpa=400.0, outdoor_temp_c=-15.0)
        if minute % 500 == 0:
            await service.ingest.flush()
    await service.ingest.flush(force_aggregates=True)
    rep = await service.reporting.compliance_report(DAY0, DAY0 + 3 * 86400)
    a = next(s for s in rep["stations"] if s["station_id"] == "st-a")
    assert len(a["outages_over_limit"]) == 1
    assert a["outages_over_limit"][0]["hours"] == pytest.approx(26.0, abs=0.1)
    assert a["longest_outage_h"] == pytest.approx(26.0, abs=0.1)
    b = next(s for s in rep["stations"] if s["station_id"] == "st-b")
    assert b["outages_over_limit"] == [] and b["buckets_with_data"] == 0
    # a station that sent nothing has the whole period as data gap, the one that sent all none
    assert b["data_gap_hours"] == pytest.approx(72.0) and b["data_hours"] == 0.0
    assert a["data_gap_hours"] == pytest.approx(0.0) and a["data_hours"] == pytest.approx(72.0)

    # daily report at 09:00 on day 1 covers day 0 09:00 .. day 1 09:00 local
    daily = await service.reporting.daily_report("2026-01-06", 9)
    assert daily["t1_ts"] == pytest.approx(DAY0 + 86400 + 9 * 3600)
    hourly = next(s for s in daily["stations"] if s["station_id"] == "st-a")["hourly"]
    assert len(hourly["primary_flow_m3h"]) == 24
    assert hourly["primary_flow_m3h"][0] == pytest.approx(10.0 + 9 + 29.5 / 60, abs=0.01)  # hour 09:00-10:00
    assert hourly["secondary_supply_pressure_kpa"][5] == pytest.approx(400.0)
    empty = next(s for s in daily["stations"] if s["station_id"] == "st-b")["hourly"]
    assert empty == {}
    with pytest.raises(ServiceError):
        await service.reporting.daily_report("2026-01-06", 12)
    with pytest.raises(ServiceError):
        await service.reporting.daily_report("yesterday", 9)
    text = await service.reporting.export_csv("daily", date="2026-01-06", hour=17)
    assert text.splitlines()[0].startswith("station_id,window_day,hour_index,outdoor_temp_c")
    assert len(text.splitlines()) == 1 + 2 * 24

    eq = {r["device"]: r for r in await service.fleet.equipment_records("st-a")}
    # pump 1 ran hours 0-20 and 46-60 = 34 h, started twice (at t0 it was already running: no start counted)
    assert eq["pump1"]["run_hours"] == pytest.approx(34.0, abs=0.05)
    assert eq["pump1"]["starts"] == 1
    assert eq["pump2"]["starts"] == 1 and eq["pump2"]["run_hours"] == pytest.approx(12.0, abs=0.05)
    # pump 1 -> pump 2 in telemetry alone is no rotation (a fault change-over looks the same): a
    # rotation is the station's "rotated" event (test_equipment.py)
    assert eq["pump2"]["rotations"] == 0 and eq["pump1"]["last_rotation_ts"] is None
    assert "pump1" in await service.reporting.export_csv("equipment", station_id="st-a")
    # duplicates of stored telemetry change nothing
    _telemetry(service, 10, DAY0 + 9 * 60, pump1_running=0.0, pump2_running=1.0, secondary_supply_temp_c=55.0)
    await service.ingest.flush(force_aggregates=True)
    again = {r["device"]: r for r in await service.fleet.equipment_records("st-a")}
    assert again["pump1"]["starts"] == 1 and again["pump1"]["run_hours"] == eq["pump1"]["run_hours"]


def test_the_city_target_band_is_checked() -> None:
    from heatkeeper.supervisor import config as sup_config

    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"compliance": {"target_c": 40, "tolerance_k": -1}})
    assert "compliance.target_c=40 degC: must be in [16, 26]" in str(err.value)
    assert "compliance.tolerance_k=-1 K: must be in [0, 5]" in str(err.value)
