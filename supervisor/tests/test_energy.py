"""Energy figures (supervisor/energy.py) on hand-made cases with known answers: a totaliser's day
across midnight and a meter replaced, heat from power without a totaliser, per m2, degree days,
the water-loss rate, over-heating hours by the groups' medians, the ranking and the areas' shares;
then the whole report from stored aggregates and readings on both backends."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import energy

CST = ZoneInfo("Asia/Shanghai")
D1, D2 = dt.date(2025, 12, 1), dt.date(2025, 12, 2)


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def bucket(text: str) -> int:
    return int(ts(text))


def agg(field: str, when: str, value: float, n: int = 1) -> tuple[Any, ...]:
    """One 5-minute aggregate row whose every sample was `value`."""
    return (field, bucket(when), n, value * n, value, value)


def test_a_totaliser_day_counts_its_rises_from_the_previous_days_last_reading() -> None:
    bounds = [energy.day_bounds(d, CST) for d in (D1, D2)]
    rows = energy._by_field([
        agg("heat_energy_kwh", "2025-11-30T23:55:00+08:00", 1000.0),  # the day before: only the start
        agg("heat_energy_kwh", "2025-12-01T00:00:00+08:00", 1010.0),  # +10 into 1 Dec
        agg("heat_energy_kwh", "2025-12-01T12:00:00+08:00", 1500.0),  # +490
        agg("heat_energy_kwh", "2025-12-01T23:55:00+08:00", 2000.0),  # +500
        agg("heat_energy_kwh", "2025-12-02T06:00:00+08:00", 2300.0),  # +300 into 2 Dec (a gap: still the rise)
        agg("heat_energy_kwh", "2025-12-02T07:00:00+08:00", 5.0),     # meter replaced: nothing, one reset
        agg("heat_energy_kwh", "2025-12-02T08:00:00+08:00", 105.0),   # +100
    ])["heat_energy_kwh"]
    days, hours, resets = energy.totaliser_days(rows, bounds)
    assert days == [1000.0, 400.0]
    assert hours == pytest.approx([24.0, 8 + 5 / 60])  # 23:55 -> 23:55, then 23:55 -> 08:00 the next morning
    assert resets == 1


def test_a_day_without_a_reading_is_empty_not_zero() -> None:
    bounds = [energy.day_bounds(d, CST) for d in (D1, D2)]
    rows = energy._by_field([agg("makeup_volume_m3", "2025-12-02T10:00:00+08:00", 7.0)])["makeup_volume_m3"]
    assert energy.totaliser_days(rows, bounds) == ([None, 0.0], [0.0, 0.0], 0)


def test_one_station_day_per_m2_degree_days_water_loss_and_power_fallback() -> None:
    # 1 Dec: heat meter 2,400 kWh over the day, 24 h of data; electricity 120 kWh; make-up 2 t;
    # outdoor -12 degC all day: HDD18 30. Area 10,000 m2, water volume 400 m3.
    rows = [agg("heat_energy_kwh", "2025-11-30T23:55:00+08:00", 0.0)]
    rows += [agg("outdoor_temp_c", "2025-12-01T00:00:00+08:00", -12.0, 300)]
    t = ts("2025-12-01T00:00:00+08:00")
    for i in range(288):
        b = dt.datetime.fromtimestamp(t + i * 300, CST).isoformat()
        rows.append(agg("heat_energy_kwh", b, (i + 1) * 2400.0 / 288))
        rows.append(agg("electricity_kwh", b, 50.0 + (i + 1) * 120.0 / 288))
        rows.append(agg("makeup_volume_m3", b, 10.0 + (i + 1) * 2.0 / 288))
    rows.append(agg("electricity_kwh", "2025-11-30T23:55:00+08:00", 50.0))
    rows.append(agg("makeup_volume_m3", "2025-11-30T23:55:00+08:00", 10.0))
    day = energy.station_days(rows, [], [D1], CST, 10000.0, 400.0, 23.0)["days"][0]
    assert day["heat_kwh"] == pytest.approx(2400.0)
    assert day["heat_gj_per_m2"] == pytest.approx(2400 * 0.0036 / 10000, abs=1e-6)
    assert day["heat_w_per_m2"] == pytest.approx(2400 * 1000 / 10000 / 24, abs=0.01)  # 10 W/m2
    assert day["electricity_kwh_per_m2"] == pytest.approx(0.012, abs=1e-6)
    assert day["makeup_t"] == pytest.approx(2.0) and day["water_loss_pct"] == pytest.approx(0.5)
    assert day["outdoor_mean_c"] == -12.0 and day["hdd18"] == 30.0 and day["data_hours"] == 24.0
    # without the totaliser: 1,000 kW for 6 buckets = 500 kWh, over 0.5 h of data
    power = [agg("heat_power_kw", dt.datetime.fromtimestamp(t + i * 300, CST).isoformat(), 1000.0) for i in range(6)]
    day = energy.station_days(power, [], [D1], CST, 1000.0, None, 23.0)["days"][0]
    assert day["heat_kwh"] == pytest.approx(500.0) and day["heat_w_per_m2"] == pytest.approx(1000.0)
    assert day["heat_hours"] == 0.5
    assert day["water_loss_pct"] is None and day["electricity_kwh"] is None
    # without an area: no per-m2 figure at all
    assert energy.station_days(power, [], [D1], CST, None, None, 23.0)["days"][0]["heat_gj_per_m2"] is None


def test_overheating_hours_count_a_groups_median_not_one_warm_room() -> None:
    bounds = [energy.day_bounds(D1, CST)]
    h10, h11 = ts("2025-12-01T10:10:00+08:00"), ts("2025-12-01T11:10:00+08:00")
    readings = [("c1", h10, 24.0, "s", "A"), ("c2", h10, 23.5, "s", "A"), ("c3", h10, 20.0, "s", "A"),  # median 23.5: hot
                ("c1", h11, 26.0, "s", "A"), ("c2", h11, 21.0, "s", "A"), ("c3", h11, 20.0, "s", "A"),  # median 21: not
                ("c4", h11, 23.0, "s", "B")]  # at the threshold: not above
    assert energy.overheat_hours(readings, bounds, 23.0) == [1]


def test_stations_rank_by_heat_per_m2_per_degree_days_and_areas_share_by_heated_area() -> None:
    day = {"date": "2025-12-01", "data_hours": 24.0, "heat_hours": 24.0, "heat_kwh": None, "electricity_kwh": None, "makeup_t": None,
           "heat_w_per_m2": None, "water_loss_pct": None, "hdd18": 20.0, "overheat_hours": 0}
    a = energy.season_row("a", "A", 1000.0, [{**day, "heat_kwh": 2000.0}], None, 0)   # 2 kWh/m2 / 20 HDD = 100/kHDD
    b = energy.season_row("b", "B", 1000.0, [{**day, "heat_kwh": 1000.0}], None, 0)   # 50/kHDD
    c = energy.season_row("c", "C", None, [{**day, "heat_kwh": 10.0}], None, 0)       # no area: unranked
    # minutes of heat figures (a new install, a meter that hardly reported): the least heat, unranked
    d = energy.season_row("d", "D", 1000.0, [{**day, "heat_kwh": 1.0, "heat_hours": 0.08}], None, 0)
    stations = [a, c, d, b]
    energy.rank(stations)
    assert [(s["station_id"], s["rank"], s["heat_kwh_per_m2_per_khdd"]) for s in stations] == [
        ("b", 1, 50.0), ("a", 2, 100.0), ("c", None, None), ("d", None, 0.05)]
    a["days"], b["days"] = [{**day, "heat_kwh": 2000.0}], [{**day, "heat_kwh": 1000.0}]
    area_of, shares = energy.households_by_station([
        {"station_id": "a", "area_m2": "750", "residential_area": "North"},
        {"station_id": "a", "area_m2": "250", "residential_area": "South"},
        {"station_id": "b", "area_m2": "1000", "residential_area": "South"}])
    assert area_of == {"a": 1000.0, "b": 1000.0} and shares["a"] == {"North": 0.75, "South": 0.25}
    areas = {x["residential_area"]: x for x in energy.area_days([a, b], shares)}
    assert areas["North"]["heat_kwh"] == 1500.0 and areas["North"]["area_m2"] == 750.0
    assert areas["South"]["heat_kwh"] == 1500.0 and areas["South"]["area_m2"] == 1250.0
    assert areas["South"]["stations"] == ["a", "b"]


async def test_the_report_from_stored_aggregates_and_readings(storage: Any) -> None:
    cfg = sup_config.validate({"station": [{"id": "st-a", "name": "A"},
                                           {"id": "st-b", "name": "B", "area_m2": 2000, "water_volume_m3": 100}]})
    await storage.save_households([{"household_id": "H1", "company": "", "branch": "", "residential_area": "Garden",
                                    "station_id": "st-a", "building": "B1", "area_m2": "1000", "tariff_cny_per_m2": "24",
                                    "heating_type": "radiator", "metering": "area"}], "ada", 1.0)
    rows = [("st-a", *agg("heat_energy_kwh", "2025-11-30T23:00:00+08:00", 100.0)),
            ("st-a", *agg("heat_energy_kwh", "2025-12-01T23:00:00+08:00", 1100.0)),
            ("st-a", *agg("outdoor_temp_c", "2025-12-01T12:00:00+08:00", -2.0)),
            ("st-b", *agg("heat_energy_kwh", "2025-11-30T23:00:00+08:00", 0.0)),
            ("st-b", *agg("heat_energy_kwh", "2025-12-01T23:00:00+08:00", 1000.0)),
            ("st-b", *agg("makeup_volume_m3", "2025-11-30T23:00:00+08:00", 1.0)),
            ("st-b", *agg("makeup_volume_m3", "2025-12-01T23:00:00+08:00", 2.0)),
            ("st-b", *agg("outdoor_temp_c", "2025-12-01T12:00:00+08:00", -2.0))]
    await storage.upsert_aggregates([(sid, b, f, n, total, lo, hi) for sid, f, b, n, total, lo, hi in rows])
    h = ts("2025-12-01T10:10:00+08:00")
    await storage.store_readings([("c1", h, 24.5, "st-a", "G", "mqtt"), ("c2", h, 24.0, "st-a", "G", "mqtt")])
    report = await energy.energy_report(storage, cfg, D1, D1)
    got = {s["station_id"]: s for s in report["stations"]}
    assert got["st-a"]["area_m2"] == 1000.0 and got["st-b"]["area_m2"] == 2000.0  # [[station]] area_m2, else the register
    assert got["st-a"]["heat_kwh"] == 1000.0 and got["st-b"]["heat_kwh"] == 1000.0
    assert got["st-a"]["hdd18"] == 20.0
    assert got["st-a"]["heat_kwh_per_m2_per_khdd"] == 50.0 and got["st-b"]["heat_kwh_per_m2_per_khdd"] == 25.0
    assert [s["station_id"] for s in report["stations"]] == ["st-b", "st-a"]  # st-b uses half the heat per m2
    assert got["st-b"]["makeup_t"] == 1.0 and got["st-b"]["water_loss_pct_per_day"] == 1.0
    assert got["st-a"]["overheat_hours"] == 1 and got["st-b"]["overheat_hours"] == 0
    assert [a["residential_area"] for a in report["areas"]] == ["", "Garden"]
    csv_text = energy.report_csv(report)
    assert csv_text.splitlines()[0].startswith("station_id,name,area_m2,rank")
    assert "st-a,2025-12-01," in csv_text


def test_the_stations_heated_area_and_water_volume_are_checked() -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"station": [{"id": "a", "area_m2": -5, "water_volume_m3": "lots"}]})
    text = str(err.value)
    assert "station[0].area_m2=-5" in text and "station[0].water_volume_m3='lots'" in text
