"""Staged pushes, commands to many stations and operation tickets through the dashboard's routes:
roles, refusals with their reasons, a single command that waits for a ticket, a settings push
ticket that only another admin approves."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from heatkeeper.supervisor.service import SupervisorService

from .conftest import login


async def body(resp: Any) -> Any:
    return json.loads(await resp.text())


async def test_staged_push_release_refused_and_rollback(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "ada")
    h = {"X-CSRF-Token": csrf}
    for shift in (2.0, 3.0):
        assert (await client.post("/api/settings/profiles", headers=h,
                                  json={"profile": "arxan", "sections": {"curve": {"shift_k": shift}}})).status == 200
    resp = await client.post("/api/settings/rollouts", headers=h,
                             json={"version": 2, "city": "Arxan", "pilots": ["st-a", "nowhere"], "watch_s": -5})
    assert resp.status == 400 and len((await body(resp))["problems"]) == 2
    resp = await client.post("/api/settings/rollouts", headers=h,
                             json={"version": 2, "city": "Arxan", "pilots": ["st-a"], "watch_s": 30})
    assert resp.status == 200, await resp.text()
    rid = (await body(resp))["rollout"]["rollout_id"]
    progress = await body(await client.get("/api/settings/rollouts/%d" % rid))
    assert [(p["station_id"], p["pilot"], p["fate"]) for p in progress["progress"]] == [
        ("st-a", True, "offline"), ("st-b", False, "waiting")]
    resp = await client.post("/api/settings/rollouts/%d/release" % rid, headers=h)
    assert resp.status == 400 and "still being watched" in (await body(resp))["problems"][0]
    page = await (await client.get("/settings-push")).text()
    assert 'data-rollout="%d"' % rid in page and 'data-fate="waiting"' in page and "ro-rollback" in page
    # the form: rolled back to version 1 in one action
    resp = await client.post("/settings-push/rollouts/%d/rollback" % rid, data={"csrf": csrf, "version": "1"},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()
    rollouts = await body(await client.get("/api/settings/rollouts"))
    assert [(r["rollout_id"], r["state"], r["version"], r["rollback_of"]) for r in rollouts] == [
        (rid + 1, "released", 1, rid), (rid, "rolled_back", 2, None)]
    await client.post("/logout", data={"csrf": csrf})
    csrf = await login(client, "vic")
    resp = await client.post("/api/settings/rollouts/%d/release" % rid, headers={"X-CSRF-Token": csrf})
    assert resp.status == 403


async def test_tickets_for_a_command_and_a_settings_push(client: TestClient, service: SupervisorService) -> None:
    service.tickets.require = {"set_valve_manual", "settings_push"}  # as [tickets] require would set it
    await service.accounts.create_user("ben", "admin-pass-2", "admin")
    csrf = await login(client, "oli")
    resp = await client.post("/api/stations/st-a/commands", headers={"X-CSRF-Token": csrf},
                             json={"kind": "set_valve_manual", "args": {"valve_pct": 40}})
    assert resp.status == 202, await resp.text()
    tid = (await body(resp))["ticket_id"]
    assert await service.storage.commands("st-a", 10) == []  # nothing sent
    resp = await client.post("/api/tickets/%d/approve" % tid, headers={"X-CSRF-Token": csrf})
    assert resp.status == 400 and (await body(resp))["reason"] == "own_ticket"
    page = await (await client.get("/tickets")).text()
    assert 'data-ticket="%d"' % tid in page and "tk-own" in page and "tk-approve" not in page
    await client.post("/logout", data={"csrf": csrf})

    csrf = await login(client, "ada")
    h = {"X-CSRF-Token": csrf}
    resp = await client.post("/tickets/%d/approve" % tid, data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    ticket = (await body(await client.get("/api/tickets")))[0]
    # approved; no broker here, so the command was refused on the way out, and the ticket says so
    assert (ticket["state"], ticket["decided_by"]) == ("failed", "ada") and "not sent" in ticket["result"]
    assert [c["kind"] for c in await service.storage.commands("st-a", 10)] == ["set_valve_manual"]

    assert (await client.post("/api/settings/profiles", headers=h,
                              json={"profile": "arxan", "sections": {"curve": {"shift_k": 2.0}}})).status == 200
    resp = await client.post("/api/settings/assign", headers=h, json={"version": 1, "stations": ["st-b"]})
    assert resp.status == 202
    push_tid = (await body(resp))["ticket"]["ticket_id"]
    assert await service.storage.assignment("st-b") is None
    await client.post("/logout", data={"csrf": csrf})
    csrf = await login(client, "oli")
    resp = await client.post("/api/tickets/%d/approve" % push_tid, headers={"X-CSRF-Token": csrf})
    assert resp.status == 403  # a settings push needs an admin's approval
    await client.post("/logout", data={"csrf": csrf})
    csrf = await login(client, "ben", "admin-pass-2")
    resp = await client.post("/api/tickets/%d/approve" % push_tid, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200 and (await body(resp))["state"] == "done"
    assert (await service.storage.assignment("st-b"))["version"] == 1
    resp = await client.post("/api/tickets/%d/reject" % push_tid, headers={"X-CSRF-Token": csrf})
    assert resp.status == 400 and (await body(resp))["reason"] == "decided"


async def test_group_command_api_confirmed_by_its_author(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "oli")
    h = {"X-CSRF-Token": csrf}
    resp = await client.post("/api/group-commands", headers=h,
                             json={"kind": "set_mode", "args": {"mode": "summer", "duration_s": 5}, "city": "Arxan"})
    assert resp.status == 400 and "duration_s=5" in await resp.text()
    resp = await client.post("/api/group-commands", headers=h,
                             json={"kind": "set_mode", "args": {"mode": "summer", "duration_s": 3600}, "city": "Arxan"})
    assert resp.status == 200, await resp.text()
    draft = await body(resp)
    assert (draft["stations"], draft["state"], draft["args"]) == (["st-a", "st-b"], "draft",
                                                                  {"mode": "summer", "duration_s": 3600.0})
    resp = await client.post("/group-commands/draft", data={"csrf": csrf, "kind": "boost", "args": "{oops",
                                                            "city": "Arxan"})
    assert resp.status == 400 and "args: not JSON" in await resp.text()
    await client.post("/logout", data={"csrf": csrf})
    csrf = await login(client, "ada")
    resp = await client.post("/api/group-commands/%d/confirm" % draft["batch_id"], headers={"X-CSRF-Token": csrf})
    assert resp.status == 400 and "drafted by oli" in await resp.text()
    page = await (await client.get("/group-commands/%d" % draft["batch_id"])).text()
    assert "gc-confirm-box" not in page and page.count("data-fate=\"waiting\"") == 2


async def test_station_page_shows_the_settings_file_against_the_push(client: TestClient,
                                                                     service: SupervisorService) -> None:
    from heatkeeper.core import codec

    csrf = await login(client, "vic")
    page = await (await client.get("/stations/st-a")).text()
    assert 'id="ls-none"' in page  # nothing reported yet
    body_ = {"kind": "local_settings", "reason": "start", "sha256": "ab" * 32,
             "sections": {"curve": {"shift_k": 1.0}, "station": {"cycle_s": 1.0}}}
    topic, payload = codec.encode_uplink("st-a", 1, codec.UP_EVENT, service.clock(), body_)
    assert service.ingest.handle(topic, payload) == "queued"
    await service.ingest.flush()
    await service.settings_push.save_version("arxan", {"curve": {"shift_k": 2.5}}, "ada")
    await service.settings_push.assign(1, ["st-a"], "ada")
    page = await (await client.get("/stations/st-a")).text()
    assert 'id="ls-none"' not in page and "abababababab" in page
    row = page.split('data-key="curve.shift_k"', 1)[1].split("</tr>", 1)[0]
    assert 'class="ls-differs"' in row and "<mark>1.0</mark>" in row and "<mark>2.5</mark>" in row
    row = page.split('data-key="station.cycle_s"', 1)[1].split("</tr>", 1)[0]
    assert "<mark>" not in row and "1.0" in row
    assert csrf
