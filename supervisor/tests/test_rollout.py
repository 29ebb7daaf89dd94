"""Staged settings pushes, commands to many stations and operation tickets, on both storage
backends, through the real service and command tracker (the broker connection is a recorder;
the end-to-end test with real stations and Mosquitto is hil_tests/test_settings_push.py)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
from heatkeeper.supervisor.group_commands import DRAFT_TTL_S, GroupCommandError
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.settings_push import SettingsPushError
from heatkeeper.supervisor.tickets import TicketError

from .test_service import T0, Clock, Wire
from .test_settings_push import ack, online, sent_commands

STATIONS = ["p-1", "s-2", "s-3"]
CURVE = {"curve": {"shift_k": 3.0}}


def rollout_config(data_dir: str, require: list[str] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "supervisor": {"data_dir": data_dir},
        "storage": {"batch_interval_s": 0.05},
        "rollout": {"watch_s": 60.0},
        "station": [{"id": "p-1", "city": "Arxan", "pilot": True, "class": "tower"},
                    {"id": "s-2", "city": "Arxan", "class": "tower"},
                    {"id": "s-3", "city": "Arxan"}],
    }
    if require is not None:
        raw["tickets"] = {"require": require}
    return sup_config.validate(raw)


async def make_service(storage: Any, tmp_path: Any, require: list[str] | None = None) -> SupervisorService:
    clock = Clock(T0)
    cfg = rollout_config(str(tmp_path / "sup"), require)
    CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(STATIONS)
    svc = SupervisorService(storage, cfg, wall_clock=clock)
    await svc.start(open_storage=False)
    svc.clock_ = clock  # type: ignore[attr-defined]
    svc.wire_ = Wire()  # type: ignore[attr-defined]
    svc.link.set_publisher(svc.wire_)  # type: ignore[attr-defined]
    return svc


@pytest.fixture
async def service(storage: Any, tmp_path: Any) -> Any:
    yield await make_service(storage, tmp_path)


@pytest.fixture
async def ticketed(storage: Any, tmp_path: Any) -> Any:
    yield await make_service(storage, tmp_path, ["set_mode", "group_command", "settings_push"])


def test_config_checks_tickets_and_stations() -> None:
    with pytest.raises(sup_config.ConfigError) as bad:
        sup_config.validate({"tickets": {"require": ["set_mode", "launch", "ack_alarm"], "colour": 1},
                             "rollout": {"watch_s": -1},
                             "station": [{"id": "a", "pilot": "yes", "class": 3}]})
    text = str(bad.value)
    for part in ("'launch' is not an operation", "'ack_alarm' is not an operation", "tickets.colour: unknown key", "rollout.watch_s=-1",
                 "station[0].pilot='yes'", "station[0].class=3"):
        assert part in text, text
    cfg = sup_config.validate({"station": [{"id": "a"}]})
    assert cfg["tickets"] == {"require": []} and cfg["stations"][0]["pilot"] is False


async def all_online(svc: SupervisorService, seq: int, **values: Any) -> None:
    for sid in STATIONS:
        await online(svc, sid, seq, **values)


async def ack_last(svc: SupervisorService, sid: str, result: str = "applied", reason: str = "ok",
                   detail: str = "") -> None:
    await ack(svc, sid, sent_commands(svc.wire_, svc, sid)[-1], result, reason, detail)  # type: ignore[attr-defined]


async def fates(svc: SupervisorService, rid: int) -> dict[str, str]:
    return {r["station_id"]: r["fate"] for r in (await svc.rollouts.progress(rid))["progress"]}


async def test_pilots_first_hold_point_release_and_rollback(service: SupervisorService) -> None:
    svc = service
    ro = svc.rollouts
    await all_online(svc, 1, settings_version=0)
    v1 = (await svc.settings_push.save_version("arxan", CURVE, "ada"))["version"]
    v2 = (await svc.settings_push.save_version("arxan", {"curve": {"shift_k": 4.0}}, "ada"))["version"]
    with pytest.raises(SettingsPushError) as bad:
        await ro.push(v1, ["p-1", "s-2"], "ada", pilots=["s-3"], watch_s=1e9)
    assert len(bad.value.problems) == 2, bad.value.problems
    assert ro.resolve(station_class="tower") == ["p-1", "s-2"]

    # the pilot marked in the config gets it first; the rest wait
    started = (await ro.push(v1, ro.resolve(city="Arxan"), "ada"))["rollout"]
    rid = started["rollout_id"]
    assert (started["state"], started["pilots"]) == ("pilot", ["p-1"])
    assert await fates(svc, rid) == {"p-1": "sent", "s-2": "waiting", "s-3": "waiting"}
    assert sent_commands(svc.wire_, svc, "s-2") == []  # type: ignore[attr-defined]
    with pytest.raises(SettingsPushError, match="still being watched"):
        await ro.release(rid, "ada")
    await ack_last(svc, "p-1")
    await svc.settings_push.converge()
    assert (await ro.get(rid))["state"] == "pilot"  # applied, the watch runs
    svc.clock_.t += 61.0  # type: ignore[attr-defined]
    await all_online(svc, 2, settings_version=v1)
    await svc.settings_push.converge()
    assert (await ro.get(rid))["state"] == "hold"
    assert await fates(svc, rid) == {"p-1": "applied", "s-2": "waiting", "s-3": "waiting"}

    # released: the rest get it; s-3 is offline and converges when it returns
    svc.clock_.t += svc.config["ingest"]["stale_after_s"] + 1.0  # type: ignore[attr-defined]
    await online(svc, "p-1", 3, settings_version=v1)
    await online(svc, "s-2", 3, settings_version=0)
    await ro.release(rid, "bob")
    assert await fates(svc, rid) == {"p-1": "applied", "s-2": "sent", "s-3": "offline"}
    await ack_last(svc, "s-2")
    svc.clock_.t += 3 * 86400.0  # type: ignore[attr-defined]  # three days away
    assert await svc.settings_push.converge() == 0 and (await fates(svc, rid))["s-3"] == "offline"
    await online(svc, "s-3", 3, settings_version=0)
    assert await svc.settings_push.converge() == 1
    await ack_last(svc, "s-3")
    assert set((await fates(svc, rid)).values()) == {"applied"}

    # a second push, then one action rolls every station it reached back to v1
    second = (await ro.push(v2, STATIONS, "ada", pilots=[], watch_s=0))["rollout"]
    assert second["state"] == "released"
    for sid in STATIONS:
        await ack_last(svc, sid)
    assert await fates(svc, rid) == {sid: "superseded" for sid in STATIONS}
    with pytest.raises(SettingsPushError, match="earlier"):
        await ro.rollback(second["rollout_id"], v2, "ada")
    back = await ro.rollback(second["rollout_id"], v1, "ada")
    assert (back["rollback_of"], back["version"], back["stations"]) == (second["rollout_id"], v1, STATIONS)
    for sid in STATIONS:
        assert sent_commands(svc.wire_, svc, sid)[-1]["args"]["version"] == v1  # type: ignore[attr-defined]
    assert (await ro.get(second["rollout_id"]))["state"] == "rolled_back"
    actions = [(r["action"], r["result"]) for r in await svc.storage.audit_rows(500, None)]
    for entry in (("settings:rollout", "pilot"), ("settings:rollout", "hold"), ("settings:release", "released"),
                  ("settings:release", "refused"), ("settings:rollback", "rolled_back")):
        assert entry in actions, entry


async def test_a_pilot_rejecting_or_alarming_holds_the_push(service: SupervisorService) -> None:
    svc = service
    ro = svc.rollouts
    await all_online(svc, 1, settings_version=0)
    v1 = (await svc.settings_push.save_version("arxan", CURVE, "ada"))["version"]
    rid = (await ro.push(v1, STATIONS, "ada", pilots=["p-1", "s-2"]))["rollout"]["rollout_id"]
    await ack_last(svc, "p-1")
    await ack_last(svc, "s-2", "rejected", "invalid_settings", "curve.shift_k=3.0: must be below 2")
    await svc.settings_push.converge()
    item = await ro.get(rid)
    assert item["state"] == "halted" and "pilot s-2 rejected it: invalid_settings" in item["reason"]
    with pytest.raises(SettingsPushError, match="held"):
        await ro.release(rid, "ada")
    assert sent_commands(svc.wire_, svc, "s-3") == []  # type: ignore[attr-defined]

    # an alarm within the watch holds it too
    v2 = (await svc.settings_push.save_version("arxan", {"curve": {"shift_k": 1.0}}, "ada"))["version"]
    rid2 = (await ro.push(v2, STATIONS, "ada", pilots=["p-1"], watch_s=120))["rollout"]["rollout_id"]
    await ack_last(svc, "p-1")
    svc.clock_.t += 30.0  # type: ignore[attr-defined]
    await svc.storage.record_alarm("p-1", "SUPPLY_HIGH", "alarm", True, svc.clock(), "supply above limit", 96.0)
    await svc.settings_push.converge()
    item = await ro.get(rid2)
    assert item["state"] == "halted" and "pilot p-1 raised alarm SUPPLY_HIGH" in item["reason"]
    assert ("settings:rollout", "halted") in [(r["action"], r["result"]) for r in await svc.storage.audit_rows(500, None)]


async def test_group_command_confirmed_twice_with_progress(service: SupervisorService) -> None:
    svc = service
    gc = svc.group_commands
    await online(svc, "p-1", 1)
    await online(svc, "s-2", 1)
    with pytest.raises(GroupCommandError):
        gc.resolve(city="Nowhere")
    with pytest.raises(GroupCommandError, match="mode"):
        await gc.draft("set_mode", {}, None, ["p-1"], "p-1", "ada")
    targets = gc.resolve(city="arxan")
    draft = await gc.draft("set_mode", {"mode": "summer", "duration_s": 3600.0}, None, targets, "city Arxan", "ada")
    bid = draft["batch_id"]
    assert all(sent_commands(svc.wire_, svc, sid) == [] for sid in STATIONS)  # type: ignore[attr-defined]
    assert {r["fate"] for r in (await gc.progress(bid))["progress"]} == {"waiting"}
    with pytest.raises(GroupCommandError, match="drafted by ada"):
        await gc.confirm(bid, "bob")
    sent = await gc.confirm(bid, "ada")
    assert sent["state"] == "sent" and set(sent["commands"]) == set(STATIONS)
    with pytest.raises(GroupCommandError, match="confirmed once"):
        await gc.confirm(bid, "ada")
    cmd = sent_commands(svc.wire_, svc, "p-1")[-1]  # type: ignore[attr-defined]
    assert (cmd["kind"], cmd["args"]) == ("set_mode", {"mode": "summer", "duration_s": 3600.0})
    await ack_last(svc, "p-1")
    await ack_last(svc, "s-2", "rejected", "not_permitted_in_mode", "manual")
    progress = {r["station_id"]: r for r in (await gc.progress(bid))["progress"]}
    assert [progress[s]["fate"] for s in STATIONS] == ["applied", "rejected", "sent"]
    assert progress["s-2"]["reason"] == "not_permitted_in_mode" and not progress["s-3"]["online"]

    # a station without its command key keeps the reason; the others still get theirs
    os.unlink(CommandKeys(keys_dir(svc.config["supervisor"]["data_dir"])).path("s-3"))
    second = await gc.draft("boost", {"boost_k": 1.0, "duration_s": 600.0}, None, STATIONS, "all", "ada")
    await gc.confirm(second["batch_id"], "ada")
    progress = {r["station_id"]: r for r in (await gc.progress(second["batch_id"]))["progress"]}
    assert [progress[s]["fate"] for s in STATIONS] == ["sent", "sent", "not_sent"]
    assert progress["s-3"]["reason"] == "no_command_key" and "s-3" in progress["s-3"]["detail"]

    stale = await gc.draft("boost", {"boost_k": 2.0, "duration_s": 600.0}, None, ["p-1"], "p-1", "ada")
    svc.clock_.t += DRAFT_TTL_S + 1  # type: ignore[attr-defined]
    with pytest.raises(GroupCommandError, match="draft it again"):
        await gc.confirm(stale["batch_id"], "ada")


async def test_tickets_need_a_second_person(ticketed: SupervisorService) -> None:
    svc = ticketed
    await online(svc, "p-1", 1, settings_version=0)
    assert svc.tickets.required("set_mode") and not svc.tickets.required("boost")

    # a group command: confirmed by the requester, then waits for a ticket
    draft = await svc.group_commands.draft("set_mode", {"mode": "summer", "duration_s": 600.0}, None, ["p-1"],
                                           "p-1", "ada")
    waiting = await svc.group_commands.confirm(draft["batch_id"], "ada")
    assert waiting["state"] == "awaiting_approval" and sent_commands(svc.wire_, svc, "p-1") == []  # type: ignore[attr-defined]
    tid = waiting["ticket_id"]
    with pytest.raises(TicketError) as own:
        await svc.tickets.approve(tid, "ada")
    assert own.value.reason == "own_ticket" and (await svc.tickets.get(tid))["state"] == "awaiting"
    done = await svc.tickets.approve(tid, "bob")
    assert (done["state"], done["decided_by"]) == ("done", "bob") and "sent to 1 of 1 stations" in done["result"]
    assert sent_commands(svc.wire_, svc, "p-1")[-1]["kind"] == "set_mode"  # type: ignore[attr-defined]
    with pytest.raises(TicketError, match="decided once"):
        await svc.tickets.approve(tid, "cy")

    # a settings push: nothing assigned until approved
    v1 = (await svc.settings_push.save_version("arxan", CURVE, "ada"))["version"]
    asked = await svc.rollouts.push(v1, ["p-1"], "ada")
    assert "rollout" not in asked and await svc.storage.assignment("p-1") is None
    done = await svc.tickets.approve(asked["ticket"]["ticket_id"], "bob")
    assert done["state"] == "done" and (await svc.storage.assignment("p-1"))["version"] == v1

    # a single command's ticket rejected by another person, one withdrawn by its requester
    t1 = await svc.tickets.request("set_mode", {"station_id": "p-1", "kind": "set_mode", "args": {"mode": "summer"},
                                                "lease_s": None}, "p-1 set_mode summer", "ada")
    t2 = await svc.tickets.request("set_mode", {"station_id": "p-1", "kind": "set_mode", "args": {"mode": "safe"},
                                                "lease_s": None}, "p-1 set_mode safe", "ada")
    assert (await svc.tickets.reject(t1["ticket_id"], "bob", "not today"))["state"] == "rejected"
    assert (await svc.tickets.reject(t2["ticket_id"], "ada"))["state"] == "cancelled"
    states = [(t["ticket_id"], t["state"]) for t in await svc.tickets.list()]
    assert states == [(4, "cancelled"), (3, "rejected"), (2, "done"), (1, "done")]
    actions = [(r["action"], r["result"]) for r in await svc.storage.audit_rows(500, None)]
    for entry in (("ticket:request", "awaiting"), ("ticket:approve", "refused:own_ticket"), ("ticket:done", "done"),
                  ("ticket:rejected", "rejected"), ("ticket:cancelled", "cancelled")):
        assert entry in actions, entry


async def test_station_settings_file_against_the_pushed_version(service: SupervisorService) -> None:
    from heatkeeper.core import codec
    from heatkeeper.firmware.pushed_settings import local_settings_event

    svc = service
    push = svc.settings_push
    assert (await push.local_settings("p-1"))["sha256"] is None  # never reported
    await online(svc, "p-1", 1, settings_version=0)
    toml = {"curve": {"shift_k": 1.5, "slope": 1.4}, "station": {"cycle_s": 1.0}}
    event = local_settings_event(toml, "start")
    topic, payload = codec.encode_uplink("p-1", 2, codec.UP_EVENT, svc.clock(), event)
    assert svc.ingest.handle(topic, payload) == "queued"
    await svc.ingest.flush()
    v1 = (await push.save_version("arxan", {"curve": {"shift_k": 3.0, "slope": 1.4}, "pumps": {"proof_s": 20}},
                                  "ada"))["version"]
    await push.assign(v1, ["p-1"], "ada")
    view = await push.local_settings("p-1")
    assert (view["version"], view["sha256"], view["reason"]) == (v1, event["sha256"], "start")
    rows = {r["key"]: (r["local"], r["pushed"], r["in_file"], r["differs"]) for r in view["rows"]}
    assert rows["curve.shift_k"] == (1.5, 3.0, True, True)
    assert rows["curve.slope"] == (1.4, 1.4, True, False)
    assert rows["station.cycle_s"] == (1.0, None, True, False)  # the file's own, not pushed
    proof = rows["pumps.proof_s"]
    assert proof[1:] == (20, False, proof[0] != 20) and proof[0] is not None  # the default the file leaves
