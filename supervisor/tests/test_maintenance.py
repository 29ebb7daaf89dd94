"""Maintenance on both backends: the asset register (seeded from a station file and the
equipment records, edited, documents, log), work orders (opened from alarms by priority once
per alarm episode, moved through their states with every change audited, refused moves),
the season's repair figures and accident rate on hand-made cases, inspection checklists,
rounds and missed rounds, and the shift hand-over log."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from heatkeeper.supervisor import assets, handover, inspections
from heatkeeper.supervisor import work_orders as wo

CST = ZoneInfo("Asia/Shanghai")
STATION_TOML = b"""
[station]
id = "st-a"
[[device]]
name = "heat_meter"
bus = "rs485-1"
unit_id = 5
profile = "kamstrup_multical_603"
[[device]]
name = "pump1"
bus = "rs485-1"
unit_id = 11
profile = "danfoss_fc"
"""
CONFIG = {"season": {"start": "11-15", "end": "03-15"}, "refunds": {"timezone": "Asia/Shanghai"},
          "stations": [{"id": "st-a"}, {"id": "st-b"}]}


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=CST).timestamp()


# --- assets ------------------------------------------------------------------------------------
async def test_assets_seeded_from_station_file_and_equipment_never_overwrite_edits(storage: Any) -> None:
    await storage.save_equipment([("st-a", "pump1", 7200.0, 3, None, 0, None, 100.0, 0, 0, None),
                                  ("st-a", "makeup_pump", 60.0, 1, None, 0, None, 100.0, 0, 0, None),
                                  ("gone", "pump1", 1.0, 1, None, 0, None, 100.0, 0, 0, None)])
    await storage.seed_assets(assets.from_station_toml("st-a", STATION_TOML, "ada", 10.0))
    await assets.seed_from_equipment(storage, {"st-a", "st-b"}, 20.0)
    got = {a["device"]: a for a in await storage.assets("st-a")}
    assert sorted(got) == ["heat_meter", "makeup_pump", "pump1"]
    assert got["pump1"]["profile"] == "danfoss_fc" and got["pump1"]["source"] == "station file"
    assert got["pump1"]["model"].startswith("Danfoss VLT FC")
    assert got["heat_meter"]["notes"] == "bus rs485-1, Modbus unit 5"
    assert got["makeup_pump"]["source"] == "telemetry" and got["makeup_pump"]["profile"] == ""
    assert await storage.assets("gone") == []  # a station no longer configured is not seeded

    fields = assets.check_fields({"model": "Grundfos TP 65", "serial": "SN-42", "profile": "grundfos_cim200",
                                  "install_date": "2019-10-01", "notes": "replaced 2019"})
    await storage.save_asset(assets.asset_row("st-a", "pump1", fields, "station file", "bo", 30.0),
                             (30.0, "bo", "st-a/pump1: serial -> SN-42"))
    await storage.seed_assets(assets.from_station_toml("st-a", STATION_TOML, "ada", 40.0))  # a second seed
    pump = await storage.asset("st-a", "pump1")
    assert pump is not None and (pump["serial"], pump["model"], pump["changed_by"]) == ("SN-42", "Grundfos TP 65", "bo")
    assert (await storage.audit_rows(10, "st-a"))[0]["action"] == "asset_edit"


def test_asset_checks_name_field_value_and_allowed() -> None:
    with pytest.raises(ValueError) as exc:
        assets.check_fields({"profile": "acme", "install_date": "2019-13-01", "serial": "x" * 101})
    text = str(exc.value)
    assert "profile='acme': unknown" in text and "install_date='2019-13-01'" in text and "serial: at most 100" in text
    with pytest.raises(ValueError, match=r"device\[pump 2\].profile='nope': unknown|name='pump 2'"):
        assets.from_station_toml("st-a", b'[[device]]\nname = "pump 2"\nprofile = "nope"\n', "ada", 1.0)
    with pytest.raises(ValueError, match="not a UTF-8 TOML file"):
        assets.from_station_toml("st-a", b"[[device]\n", "ada", 1.0)
    with pytest.raises(ValueError, match="type .exe not kept"):
        assets.check_upload("setup.exe", b"MZ")
    with pytest.raises(ValueError, match="at most 524288"):
        assets.check_upload("manual.pdf", b"x" * (assets.MAX_DOC_BYTES + 1))
    with pytest.raises(ValueError, match="must be an http"):
        assets.check_link("manual", "javascript:alert(1)")
    with pytest.raises(ValueError) as exc:
        assets.check_log_entry({"day": "yesterday", "done_by": "", "what": ""})
    assert "day='yesterday'" in str(exc.value) and "done_by" in str(exc.value) and "what" in str(exc.value)


async def test_asset_documents_and_maintenance_log(storage: Any) -> None:
    up = assets.check_upload("C:\\docs\\pump manual.pdf", b"%PDF-1.4 manual")
    assert up["name"] == "pump manual.pdf" and up["content_type"] == "application/pdf"
    doc = {"doc_id": "D1", "station_id": "st-a", "device": "pump1", "name": up["name"], "url": "",
           "content_type": up["content_type"], "size": up["size"], "sha256": up["sha256"], "added_by": "ada",
           "added_ts": 5.0}
    await storage.add_asset_document(doc, up["data_b64"], (5.0, "ada", "doc"))
    name, url = assets.check_link("", "https://example.invalid/datasheet.pdf")
    await storage.add_asset_document({**doc, "doc_id": "D2", "name": name, "url": url, "content_type": "", "size": 0,
                                      "sha256": ""}, None, (6.0, "ada", "link"))
    docs = await storage.asset_documents("st-a", "pump1")
    assert [d["doc_id"] for d in docs] == ["D1", "D2"]
    got = await storage.asset_document("D1")
    assert got is not None and base64.b64decode(got[1] or "") == b"%PDF-1.4 manual"
    assert (await storage.asset_document("D2") or ({}, "x"))[1] is None
    entry = assets.check_log_entry({"day": "2026-11-20", "done_by": "Wang", "what": "bearing replaced",
                                    "parts": "SKF 6205"})
    await storage.add_maintenance({**entry, "entry_id": "L1", "station_id": "st-a", "device": "pump1",
                                   "order_id": None, "recorded_by": "bo", "recorded_ts": 7.0}, (7.0, "bo", "log"))
    log = await storage.maintenance_log("st-a", "pump1")
    assert [(x["day"], x["done_by"], x["what"], x["parts"]) for x in log] == [
        ("2026-11-20", "Wang", "bearing replaced", "SKF 6205")]


# --- work orders -------------------------------------------------------------------------------
async def test_orders_open_from_alarms_by_priority_once_per_episode(storage: Any) -> None:
    await storage.record_alarm("st-a", "heating_outage", "critical", True, 1000.0, "no heat", 0.0)
    await storage.record_alarm("st-a", "pump1_fault", "major", True, 1001.0, "pump 1 fault", 1)
    await storage.record_alarm("st-b", "collector_stale", "warning", True, 1002.0, "stale", None)
    await storage.record_alarm("st-b", "station_offline", "major", True, 1003.0, "offline", None)
    await storage.record_alarm("st-b", "station_offline", "major", False, 1004.0, "back", None)  # repaired itself
    await storage.seed_assets([assets.asset_row("st-a", d, {}, "telemetry", "system", 1.0) for d in ("pump", "pump1")])
    assert await wo.open_from_alarms(storage, 1100.0) == 2  # default: critical and major
    assert await wo.open_from_alarms(storage, 1130.0) == 0  # the same episodes: nothing new
    # a second supervisor racing for the same episode is refused whole by the unique index
    from heatkeeper.supervisor.storage import StorageError

    racing = {**(await storage.work_orders())[0], "order_id": "WO-race"}
    with pytest.raises(StorageError):
        await storage.transaction([("INSERT INTO work_orders (%s) VALUES (%s)" % (
            ", ".join(racing), ", ".join("?" for _ in racing)), [list(racing.values())])])
    orders = await storage.work_orders()
    assert sorted((o["station_id"], o["alarm_code"], o["raised_ts"], o["state"], o["created_by"]) for o in orders) == [
        ("st-a", "heating_outage", 1000.0, "open", "system"), ("st-a", "pump1_fault", 1001.0, "open", "system")]
    assert {o["alarm_code"]: o["device"] for o in orders} == {"heating_outage": "", "pump1_fault": "pump1"}
    # the alarm clears and is raised again: a new episode, a new order
    await storage.record_alarm("st-a", "pump1_fault", "major", False, 1200.0, "ok", 0)
    await storage.record_alarm("st-a", "pump1_fault", "major", True, 1300.0, "pump 1 fault", 1)
    assert await wo.open_from_alarms(storage, 1310.0) == 1
    # configured: warnings too, majors no longer
    await storage.save_maintenance_setting("auto_priorities", wo.check_priorities(["warning"]), (1, "ada", "x"))
    assert await wo.auto_priorities(storage) == ["warning"]
    assert await wo.open_from_alarms(storage, 1320.0) == 1
    assert len(await storage.work_orders()) == 4
    audit = [a for a in await storage.audit_rows(50, None) if a["action"] == "work_order_open"]
    assert len(audit) == 4 and all(a["user"] == "system" for a in audit)
    with pytest.raises(ValueError, match="auto_priorities=\\['urgent'\\]"):
        wo.check_priorities(["urgent"])


async def test_orders_whose_numbers_clash_get_fresh_ones(storage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # the random part of the number repeats: twice in one batch, then once with a stored order
    drawn = iter(["aaaaaa", "aaaaaa", "bbbbbb", "aaaaaa", "cccccc", "dddddd"])
    monkeypatch.setattr(wo.secrets, "token_hex", lambda n: next(drawn))
    await storage.record_alarm("st-a", "heating_outage", "critical", True, 1000.0, "no heat", 0.0)
    await storage.record_alarm("st-b", "heating_outage", "critical", True, 1000.0, "no heat", 0.0)
    assert await wo.open_from_alarms(storage, 1100.0) == 2
    day = "WO-19700101-"
    assert sorted(o["order_id"] for o in await storage.work_orders()) == [day + "aaaaaa", day + "bbbbbb"]
    order = await wo.open_by_hand(storage, "st-a", "", None, "minor", "door lock broken", "ada", 1200.0)
    assert order["order_id"] == day + "cccccc"
    assert len({o["order_id"] for o in await storage.work_orders()}) == 3
    assert await storage.taken_order_ids([day + "aaaaaa", day + "zzzzzz", day + "cccccc"]) == {
        day + "aaaaaa", day + "cccccc"}


async def test_orders_without_a_free_number_are_refused_with_the_reason_and_nothing_stored(
        storage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # every draw gives the number a stored order already has: the rounds run out with a clear
    # error instead of the unique key refusing the insert
    monkeypatch.setattr(wo.secrets, "token_hex", lambda n: "aaaaaa")
    first = await wo.open_by_hand(storage, "st-a", "", None, "minor", "door lock broken", "ada", 1200.0)
    assert first["order_id"] == "WO-19700101-aaaaaa"
    await storage.record_alarm("st-b", "heating_outage", "critical", True, 1000.0, "no heat", 0.0)
    with pytest.raises(wo.NumbersExhausted, match="after %d rounds of clashes" % wo.NUMBER_ROUNDS):
        await wo.open_from_alarms(storage, 1300.0)
    with pytest.raises(wo.NumbersExhausted, match="nothing was stored"):
        await wo.open_by_hand(storage, "st-a", "", None, "minor", "window", "ada", 1400.0)
    assert [o["order_id"] for o in await storage.work_orders()] == ["WO-19700101-aaaaaa"]
    monkeypatch.undo()  # the generator mended: the alarm's order opens at the next pass
    assert await wo.open_from_alarms(storage, 1500.0) == 1
    assert len(await storage.work_orders()) == 2


async def test_order_flow_is_audited_and_refuses_bad_or_stale_moves(storage: Any) -> None:
    await storage.record_alarm("st-a", "pump1_fault", "major", True, ts("2026-12-01 08:00"), "pump 1 fault", 1)
    alarm = (await storage.alarm_rows("st-a", True))[0]
    await storage.seed_assets([assets.asset_row("st-a", "pump1", {}, "telemetry", "system", 1.0)])
    order = await wo.open_by_hand(storage, "st-a", "pump1", alarm, "major", "", "olga", ts("2026-12-01 08:10"))
    assert order["title"].startswith("pump1_fault") and order["raised_ts"] == ts("2026-12-01 08:00")
    with pytest.raises(ValueError, match="has a work order already"):
        await wo.open_by_hand(storage, "st-a", "pump1", alarm, "major", "again", "olga", ts("2026-12-01 08:11"))
    oid = order["order_id"]
    with pytest.raises(ValueError, match="it may go to assigned, closed, not in_progress"):
        await wo.move(storage, oid, "in_progress", "olga", ts("2026-12-01 08:12"))
    with pytest.raises(ValueError, match="assignee: name who repairs it"):
        await wo.move(storage, oid, "assigned", "olga", ts("2026-12-01 08:12"))
    stale = await storage.work_order(oid)
    await wo.move(storage, oid, "assigned", "olga", ts("2026-12-01 08:15"), assignee="Wang")
    assert not await storage.update_work_order(stale, {**stale, "state": "closed"}, "x", 1.0, "")  # stale page
    await wo.move(storage, oid, "in_progress", "wang", ts("2026-12-01 09:00"))
    with pytest.raises(ValueError, match="notes: say what was done"):
        await wo.move(storage, oid, "closed", "wang", ts("2026-12-01 11:00"))
    done = await wo.move(storage, oid, "closed", "wang", ts("2026-12-01 11:30"), notes="replaced the contactor",
                         parts="contactor LC1D18", day="2026-12-01")
    assert (done["closed_by"], done["parts"]) == ("wang", "contactor LC1D18")
    assert wo.repair_s(done) == 3.5 * 3600  # raised 08:00 -> closed 11:30
    # the asset's maintenance log has the repair, linked to the order
    assert [(x["day"], x["done_by"], x["what"], x["parts"], x["order_id"])
            for x in await storage.maintenance_log("st-a", "pump1")] == [
        ("2026-12-01", "Wang", "replaced the contactor", "contactor LC1D18", oid)]
    with pytest.raises(ValueError, match="closed, not assigned|nothing \\(closed\\)"):
        await wo.move(storage, oid, "assigned", "olga", ts("2026-12-01 12:00"), assignee="Li")
    log = await storage.work_order_log(oid)
    assert [(x["from_state"], x["to_state"], x["user_name"]) for x in log] == [
        ("", "open", "olga"), ("open", "assigned", "olga"), ("assigned", "in_progress", "wang"),
        ("in_progress", "closed", "wang")]
    actions = [a["action"] for a in reversed(await storage.audit_rows(50, "st-a"))]
    assert actions == ["work_order_open", "work_order_assigned", "work_order_in_progress", "work_order_closed"]
    with pytest.raises(LookupError):
        await wo.move(storage, "WO-none", "closed", "x", 1.0, notes="x")


def _closed(sid: str, priority: str, raised: str, closed: str | None) -> dict[str, Any]:
    return {"station_id": sid, "priority": priority, "raised_ts": ts(raised), "state": "closed" if closed else "open",
            "closed_ts": ts(closed) if closed else None}


def test_season_figures_on_hand_made_orders() -> None:
    orders = [_closed("st-a", "critical", "2026-11-20 10:00", "2026-11-20 14:00"),  # 4 h
              _closed("st-a", "major", "2026-11-21 10:00", "2026-11-21 12:00"),  # 2 h
              _closed("st-b", "minor", "2026-11-22 10:00", None)]
    f = wo.figures(orders, ["st-a", "st-b", "st-c"], date(2026, 11, 15), date(2027, 3, 15), date(2026, 12, 4))
    # 20 days elapsed (15 Nov .. 4 Dec) x 3 stations = 60 station-days; one critical -> 1000/60
    assert (f["days_elapsed"], f["station_days"], f["faults"], f["accidents"]) == (20, 60, 3, 1)
    assert f["accident_rate_per_mille"] == pytest.approx(1000.0 / 60.0) and not f["within_target"]
    assert (f["repair_mean_h"], f["repair_median_h"], f["repair_max_h"]) == (3.0, 3.0, 4.0)
    per = {r["station_id"]: r for r in f["per_station"]}
    assert (per["st-a"]["faults"], per["st-a"]["closed"], per["st-a"]["repair_max_h"]) == (2, 2, 4.0)
    assert (per["st-b"]["open"], per["st-b"]["repair_mean_h"]) == (1, None)
    assert per["st-c"]["faults"] == 0
    # a whole season (121 days) of 10 stations with 2 critical faults: 2/1210 = 1.65 per mille, within target
    whole = wo.figures([_closed("st-a", "critical", "2026-12-01 00:00", "2026-12-01 01:00")] * 2,
                       ["s%d" % i for i in range(10)], date(2026, 11, 15), date(2027, 3, 15), date(2027, 6, 1))
    assert whole["station_days"] == 1210 and whole["within_target"]
    assert whole["accident_rate_per_mille"] == pytest.approx(2000.0 / 1210.0)
    before = wo.figures([], ["s"], date(2026, 11, 15), date(2027, 3, 15), date(2026, 10, 1))
    assert before["station_days"] == 0 and before["accident_rate_per_mille"] is None


async def test_season_figures_read_the_orders_of_the_season(storage: Any) -> None:
    await storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2026-11-10 08:00"), "before", 0)
    await wo.open_from_alarms(storage, ts("2026-11-10 08:01"))
    await storage.record_alarm("st-a", "heating_outage", "critical", False, ts("2026-11-10 09:00"), "ok", 0)
    await storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2026-11-16 08:00"), "in season", 0)
    await wo.open_from_alarms(storage, ts("2026-11-16 08:01"))
    f = await wo.season_figures(storage, CONFIG, ts("2026-11-25 12:00"))
    assert f["year"] == 2026 and f["faults"] == 1 and f["accidents"] == 1
    assert f["station_days"] == 2 * 11  # 15 .. 25 Nov


# --- inspections ---------------------------------------------------------------------------------
async def test_checklist_rounds_and_missed_rounds(storage: Any) -> None:
    items, interval = inspections.check_checklist("Pressure gauges\n\n  Leaks  \nPump noise\n", "24")
    assert items == ["Pressure gauges", "Leaks", "Pump noise"] and interval == 24.0
    await storage.save_checklist("st-a", items, interval, (ts("2026-12-01 08:00"), "ada", "checklist"))
    lists = await storage.checklists()
    assert lists["st-a"]["items"] == items
    # no round yet: due a day after the checklist was set
    now = ts("2026-12-02 07:59")
    assert not inspections.overdue(lists, await storage.last_rounds(), now)["st-a"]["missed"]
    late = inspections.overdue(lists, await storage.last_rounds(), ts("2026-12-02 09:00"))["st-a"]
    assert late["missed"] and late["overdue_s"] == 3600.0
    form = {"inspector": "Li", "item0": "ok", "item1": "bad", "item2": "ok", "notes": ""}
    with pytest.raises(ValueError, match="notes: say what is wrong"):
        inspections.check_round(lists["st-a"], form)
    with pytest.raises(ValueError, match="Pump noise: answer ok or not ok"):
        inspections.check_round(lists["st-a"], {**form, "item2": "", "notes": "drip"})
    inspector, results, notes = inspections.check_round(lists["st-a"], {**form, "notes": "drip at valve 3"})
    rnd = inspections.new_round("st-a", inspector, results, notes, "li", ts("2026-12-02 09:30"))
    await storage.add_round(rnd, "round")
    got = (await storage.rounds("st-a"))[0]
    assert got["results"] == {"Pressure gauges": True, "Leaks": False, "Pump noise": True}
    status = inspections.overdue(lists, await storage.last_rounds(), ts("2026-12-03 09:29"))["st-a"]
    assert not status["missed"] and status["due_ts"] == ts("2026-12-03 09:30")
    assert inspections.overdue(lists, {}, 0.0, stations={"st-b"}) == {}


def test_the_qr_link_is_on_the_address_phones_reach() -> None:
    assert inspections.round_url("https://heat.example.cn/", "http://10.0.0.5:8080", "st-a") == \
        "https://heat.example.cn/inspections/st-a/round"
    assert inspections.round_url(inspections.DEFAULT_BASE_URL, "http://10.0.0.5:8080", "st-a") == \
        "http://10.0.0.5:8080/inspections/st-a/round"
    assert inspections.round_url("", "http://10.0.0.5:8080", "st%20a") == "http://10.0.0.5:8080/inspections/st%20a/round"


def test_checklist_checks() -> None:
    with pytest.raises(ValueError) as exc:
        inspections.check_checklist("a\na\n" + "x" * 201, "0.5")
    text = str(exc.value)
    assert "listed twice: a" in text and "at most 200 characters" in text and "interval_h='0.5'" in text
    with pytest.raises(ValueError, match="at least one item"):
        inspections.check_checklist("  \n", "24")


# --- hand-over -------------------------------------------------------------------------------------
async def test_handover_snapshots_open_alarms_and_orders(storage: Any) -> None:
    await storage.insert_user("olga", "operator", "x", 1.0)
    await storage.insert_user("wang", "operator", "x", 1.0)
    await storage.record_alarm("st-a", "heating_outage", "critical", True, 100.0, "no heat", 0)
    await wo.open_from_alarms(storage, 110.0)
    with pytest.raises(ValueError, match="hand over to someone else"):
        await handover.take(storage, "olga", "olga", "", 120.0)
    with pytest.raises(ValueError, match="to_user='nobody': no such user"):
        await handover.take(storage, "olga", "nobody", "", 120.0)
    h = await handover.take(storage, "olga", "wang", "valve 3 drips; watch st-a", 120.0)
    assert [a["code"] for a in h["open_alarms"]] == ["heating_outage"]
    listed = await storage.handovers()
    assert len(listed) == 1 and listed[0]["open_orders"][0]["station_id"] == "st-a"
    assert (listed[0]["from_user"], listed[0]["to_user"], listed[0]["notes"]) == ("olga", "wang",
                                                                                   "valve 3 drips; watch st-a")
    assert (await storage.audit_rows(5, None))[0]["action"] == "handover"


async def test_missed_round_raises_a_supervisor_alarm_and_a_round_clears_it(storage: Any) -> None:
    from heatkeeper.supervisor import config as sup_config
    from heatkeeper.supervisor.fleet_alarms import ChannelFailures
    from heatkeeper.supervisor.service import SupervisorService

    t0 = 1_800_000_000.0
    clock = [t0]
    svc = SupervisorService(storage, sup_config.validate({"station": [{"id": "st-a"}, {"id": "st-b"}]}),
                            wall_clock=lambda: clock[0])
    svc.fleet_alarms.channels = ChannelFailures()
    await svc.start(open_storage=False)

    async def missed_at(t: float) -> dict[str, Any]:
        clock[0] = t
        await svc.fleet_alarms.evaluate()
        return {r["station_id"]: r for r in await storage.alarm_rows(None, True) if r["code"] == "inspection_missed"}

    await storage.save_checklist("st-a", ["Leaks"], 12.0, (t0, "ada", "checklist"))
    assert await missed_at(t0 + 12 * 3600) == {}  # due exactly now: not yet missed
    raised = await missed_at(t0 + 12 * 3600 + 60)
    assert list(raised) == ["st-a"]  # st-b has no checklist: nothing to miss
    assert raised["st-a"]["severity"] == "minor" and raised["st-a"]["limit"] == 12 * 3600.0
    assert "no inspection round for 12.0 h" in raised["st-a"]["text"]
    await storage.add_round(inspections.new_round("st-a", "Li", {"Leaks": True}, "", "li", t0 + 13 * 3600), "round")
    assert await missed_at(t0 + 13 * 3600 + 30) == {}
    await svc.stop()


async def test_the_opener_task_opens_orders_as_alarms_come(storage: Any) -> None:
    import asyncio
    import contextlib

    opener = wo.WorkOrderOpener(storage, lambda: 5000.0, interval_s=0.05)
    task = asyncio.ensure_future(opener.run())
    try:
        await storage.record_alarm("st-a", "heating_outage", "critical", True, 4000.0, "no heat", 0)
        for _ in range(100):
            if await storage.work_orders():
                break
            await asyncio.sleep(0.05)
        orders = await storage.work_orders()
        assert [(o["station_id"], o["alarm_code"], o["created_ts"]) for o in orders] == [("st-a", "heating_outage",
                                                                                          5000.0)]
        await asyncio.sleep(0.2)  # more passes: still one order
        assert len(await storage.work_orders()) == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
