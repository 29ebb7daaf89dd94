"""Settings profiles on both storage backends: versions with their diff, refusals listing every
problem, and each station's fate through the real service and command tracker (the broker
connection is a recorder; the end-to-end test with a real station and Mosquitto is
hil_tests/test_settings_push.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.firmware import command_auth
from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.settings_push import DRIFT_GRACE_S, SettingsPushError

from .test_service import T0, Clock, Wire, make_config, telemetry

CURVE = {"curve": {"shift_k": 3.0}}


@pytest.fixture
async def service(storage: Any, tmp_path: Any) -> Any:
    """The real service on each backend, its clock in the test's hand (`clock_`)."""
    clock = Clock(T0)
    cfg = make_config(str(tmp_path / "sup"))
    CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(["st-a", "st-b"])  # as `serve` does
    svc = SupervisorService(storage, cfg, wall_clock=clock)
    await svc.start(open_storage=False)
    svc.clock_ = clock  # type: ignore[attr-defined]
    yield svc


async def audit_actions(svc: SupervisorService) -> list[tuple[str, str]]:
    return [(r["action"], r["result"]) for r in await svc.storage.audit_rows(500, None)]


async def test_versions_diff_and_refusals(service: SupervisorService) -> None:
    push = service.settings_push
    with pytest.raises(SettingsPushError) as bad:
        await push.save_version("", {"curve": {"shift_k": 99.0, "colour": 1}, "moon": {}}, "ada")
    assert len(bad.value.problems) == 4, bad.value.problems  # the name, two curve keys, the section
    assert await service.storage.settings_versions() == []
    with pytest.raises(SettingsPushError):
        await push.save_version("arxan", {}, "ada")
    v1 = await push.save_version("arxan", CURVE, "ada", "warmer")
    assert (v1["version"], v1["previous"], v1["note"]) == (1, None, "warmer")
    assert v1["diff"] == [{"key": "curve.shift_k", "old": None, "new": 3.0}]
    other = await push.save_version("hulun", {"pumps": {"proof_s": 20}}, "ada")
    v3 = await push.save_version("arxan", {"curve": {"shift_k": 4.0, "slope": 1.2}}, "ada")
    assert (other["version"], v3["version"], v3["previous"]) == (2, 3, 1)
    assert v3["diff"] == [{"key": "curve.shift_k", "old": 3.0, "new": 4.0},
                          {"key": "curve.slope", "old": None, "new": 1.2}]
    profiles = await push.profiles()
    assert [(p["profile"], [v["version"] for v in p["versions"]]) for p in profiles] == [("arxan", [3, 1]),
                                                                                          ("hulun", [2])]
    actions = await audit_actions(service)
    assert actions.count(("settings:save", "ok")) == 3 and actions.count(("settings:save", "refused")) == 2
    with pytest.raises(SettingsPushError):
        push.resolve(["st-a", "nowhere"])
    assert push.resolve(city="Arxan") == ["st-a"]
    assert push.resolve(["st-b"], city="Arxan") == ["st-b", "st-a"]


async def online(svc: SupervisorService, sid: str, seq: int, **values: Any) -> None:
    """The station's status and one telemetry sample through the real ingest."""
    svc.ingest.handle(codec.status_topic(sid), codec.STATUS_ONLINE.encode())
    topic, payload = telemetry(sid, seq, svc.clock(), **values)
    assert svc.ingest.handle(topic, payload) == "queued"
    await svc.ingest.flush()


def sent_commands(wire: Wire, svc: SupervisorService, sid: str) -> list[dict[str, Any]]:
    """The apply_settings commands published to `sid`, each checked against the station's key."""
    key = CommandKeys(keys_dir(svc.config["supervisor"]["data_dir"])).key(sid)
    out = []
    for topic, payload, qos, retain in wire.sent:
        if topic != codec.command_topic(sid):
            continue
        cmd = codec.decode_command(topic, payload)
        assert command_auth.verify(key, sid, cmd) is None and qos == 1 and not retain
        out.append(cmd)
    return out


async def ack(svc: SupervisorService, sid: str, cmd: dict[str, Any], result: str, reason: str, detail: str) -> None:
    svc.commands.on_ack(sid, codec.ack_body(cmd["id"], result, reason, detail), svc.clock())
    await acks_recorded(svc)


async def acks_recorded(svc: SupervisorService) -> None:
    """Wait (up to 0.5 s) until the tracker has recorded the acks it was handed (its own tasks)."""
    for _ in range(50):
        await asyncio.sleep(0.01)
        if not svc.commands._tasks:
            return


async def test_each_station_fate_and_convergence(service: SupervisorService) -> None:
    svc = service
    push = svc.settings_push
    wire = Wire()
    svc.link.set_publisher(wire)
    await online(svc, "st-a", 1, settings_version=0)
    v1 = (await push.save_version("arxan", CURVE, "ada"))["version"]
    v2 = (await push.save_version("arxan", {"commands": {"supply_max_c": 100.0}}, "ada"))["version"]
    states = {s["station_id"]: s for s in await push.assign(v1, ["st-a", "st-b"], "ada")}
    assert states["st-a"]["state"] == "sent" and states["st-b"]["state"] == "pending"  # st-b never came online
    [cmd] = sent_commands(wire, svc, "st-a")
    assert (cmd["kind"], cmd["args"]) == ("apply_settings", {"version": v1, "sections": CURVE})
    await ack(svc, "st-a", cmd, "applied", "ok", "settings version 1 running")
    a = await svc.storage.assignment("st-a")
    assert (a["state"], a["running_version"]) == ("applied", v1)

    # rejected by the station: its reasons kept, the running version still known
    await push.assign(v2, ["st-a"], "ada")
    cmd = sent_commands(wire, svc, "st-a")[-1]
    await ack(svc, "st-a", cmd, "rejected", "invalid_settings", "commands.supply_max_c=100.0 degC: must be below "
                                                                  "interlocks.overtemp_c=95.0 degC")
    a = await svc.storage.assignment("st-a")
    assert (a["state"], a["reason"], a["running_version"]) == ("rejected", "invalid_settings", v1)
    assert "interlocks.overtemp_c" in a["detail"]
    assert await push.converge() == 0  # a rejection is final until someone assigns again

    # roll back to v1; no answer in time: pending again, and sent again by the next pass
    await push.assign(v1, ["st-a"], "ada")
    first = sent_commands(wire, svc, "st-a")[-1]
    svc.clock_.t += 120.0  # type: ignore[attr-defined]
    await online(svc, "st-a", 2, settings_version=v1)
    assert await svc.commands.sweep() == 1
    assert (await svc.storage.assignment("st-a"))["state"] == "pending"
    assert await push.converge() == 1
    again = sent_commands(wire, svc, "st-a")[-1]
    assert again["id"] != first["id"] and again["args"]["version"] == v1
    await ack(svc, "st-a", again, "applied", "ok", "")
    assert (await svc.storage.assignment("st-a"))["state"] == "applied"

    # the station later reports its own settings only (it fell back): sent again
    svc.clock_.t += DRIFT_GRACE_S + 1.0  # type: ignore[attr-defined]
    await online(svc, "st-a", 3, settings_version=0)
    assert await push.converge() == 1
    a = await svc.storage.assignment("st-a")
    assert (a["state"], a["command_id"]) == ("sent", sent_commands(wire, svc, "st-a")[-1]["id"])

    # st-b, offline all along, converges when it comes back
    assert sent_commands(wire, svc, "st-b") == []
    await online(svc, "st-b", 1, settings_version=0)
    assert await push.converge() == 1
    [cmd_b] = sent_commands(wire, svc, "st-b")
    await ack(svc, "st-b", cmd_b, "applied", "ok", "")
    assert (await svc.storage.assignment("st-b"))["running_version"] == v1
    actions = await audit_actions(svc)
    assert ("settings:fate", "rejected") in actions and ("settings:fate", "pending") in actions
    assert actions.count(("settings:assign", "pending")) == 4

    # no broker connection: nothing is sent, the station stays pending
    svc.link.set_publisher(None)
    await push.assign(v2, ["st-b"], "ada")
    assert (await svc.storage.assignment("st-b"))["state"] == "pending"
