"""The dashboard's routes against the real service and SQLite: login, sessions, roles, CSRF,
garbage input, the collectors' token API. Nothing may answer 500 or crash."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient
from heatkeeper.core import codec
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.web.common import THROTTLE

from .conftest import COLLECTOR_TOKEN, app_of, login

PAGES = ["/", "/stations/st-a", "/stations/st-a/trends", "/alarms", "/reports"]
APIS = ["/api/me", "/api/health", "/api/stations", "/api/stations/st-a", "/api/stations/st-a/trends", "/api/stations/st-a/rooms",
        "/api/alarms", "/api/commands", "/api/equipment", "/api/reports/compliance",
        "/api/reports/daily?date=2026-11-20&hour=9"]


async def test_unauthenticated_pages_redirect_and_api_is_401(client: TestClient) -> None:
    for path in PAGES + ["/audit", "/users"]:
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302, path
        assert resp.headers["Location"].startswith("/login?next="), path
    for path in APIS + ["/api/audit", "/api/users", "/export/audit.csv"]:
        resp = await client.get(path)
        assert resp.status == 401, path
        assert (await resp.json())["error"] == "unauthenticated"
    resp = await client.post("/api/stations/st-a/commands", json={"kind": "set_mode", "args": {"mode": "auto"}})
    assert resp.status == 401
    login_page = await client.get("/login")
    assert login_page.status == 200
    assert "Content-Security-Policy" in login_page.headers


async def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(client: TestClient) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token
    resp = await client.post("/login", data={"username": "oli", "password": "oper-pass-1", "csrf": token.group(1),
                                             "next": "/alarms"}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/alarms"
    cookie = [h for h in resp.headers.getall("Set-Cookie") if h.startswith("hk_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = await (await client.get("/api/me")).json()
    assert me == {"username": "oli", "role": "operator", "lang": "zh"}
    home = await (await client.get("/")).text()
    csrf = re.search(r'"csrf":"([^"]+)"', home)
    assert csrf
    assert (await client.post("/logout", data={"csrf": "wrong"}, allow_redirects=False)).status == 403
    out = await client.post("/logout", data={"csrf": csrf.group(1)}, allow_redirects=False)
    assert out.status == 302
    assert (await client.get("/api/me")).status == 401


async def test_wrong_password_csrf_and_throttle(client: TestClient, service: SupervisorService) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token
    bad = await client.post("/login", data={"username": "oli", "password": "nope", "csrf": token.group(1)})
    assert bad.status == 401
    assert "login-error" in await bad.text()
    no_csrf = await client.post("/login", data={"username": "oli", "password": "oper-pass-1", "csrf": "forged"})
    assert no_csrf.status == 403
    token = re.search(r'name="csrf" value="([^"]+)"', await (await client.get("/login")).text())
    assert token
    app_of(client)[THROTTLE].max_delay_s = 0.1  # the growing delay, kept short for the test
    for _ in range(5):
        await client.post("/login", data={"username": "vic", "password": "wrong", "csrf": token.group(1)})
    # failures delay the next attempts for that name, they never lock the real user out
    late = await client.post("/login", data={"username": "vic", "password": "view-pass-1", "csrf": token.group(1)},
                             allow_redirects=False)
    assert late.status == 302
    client.session.cookie_jar.clear()
    token = re.search(r'name="csrf" value="([^"]+)"', await (await client.get("/login")).text())
    assert token
    actions = [(a["user"], a["action"], a["result"]) for a in await service.audit_log.rows(50)]
    assert ("oli", "login", "denied") in actions
    assert actions.count(("vic", "login", "denied")) == 5 and ("vic", "login", "ok") in actions
    # a redirect target is never another site
    ok = await client.post("/login", data={"username": "ada", "password": "admin-pass-1", "csrf": token.group(1),
                                           "next": "//evil.example/x"}, allow_redirects=False)
    assert ok.headers["Location"] == "/"


async def test_every_page_and_api_answers_when_logged_in(client: TestClient) -> None:
    await login(client, "vic")
    for path in PAGES:
        resp = await client.get(path)
        assert resp.status == 200, path
        text = await resp.text()
        assert 'id="hk-boot"' in text and "<script>" not in text  # boot data only, no inline script
    for path in APIS:
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
        json.loads(await resp.text())
    assert (await client.get("/export/equipment.csv")).headers["Content-Type"].startswith("text/csv")


async def test_viewer_is_refused_with_a_reason_and_it_is_audited(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "vic")
    resp = await client.post("/api/stations/st-a/commands", headers={"X-CSRF-Token": csrf},
                             json={"kind": "set_room_setpoint", "args": {"room_setpoint_c": 20}, "lease_s": 3600})
    assert resp.status == 403
    body = await resp.json()
    assert body["error"] == "forbidden" and "viewer" in body["reason"] and "operator" in body["reason"]
    resp = await client.post("/api/alarms/ack", headers={"X-CSRF-Token": csrf}, json={"station_id": "st-a", "code": "x"})
    assert resp.status == 403
    for path in ("/api/audit", "/api/users"):
        assert (await client.get(path)).status == 403
    page = await client.get("/users")
    assert page.status == 403 and "viewer" in await page.text()
    assert (await client.get("/audit")).status == 403
    assert (await client.post("/api/users", headers={"X-CSRF-Token": csrf},
                              json={"username": "eve", "password": "12345678", "role": "admin"})).status == 403
    assert [a for a in await service.audit_log.rows(20) if a["user"] == "vic" and a["result"] == "forbidden"]
    assert "eve" not in [u["username"] for u in await service.accounts.list_users()]


async def test_operator_cannot_manage_users_admin_can(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "oli")
    assert (await client.get("/api/audit")).status == 200
    assert (await client.post("/api/users", headers={"X-CSRF-Token": csrf},
                              json={"username": "eve", "password": "12345678", "role": "viewer"})).status == 403
    client.session.cookie_jar.clear()
    csrf = await login(client, "ada")
    resp = await client.post("/api/users", headers={"X-CSRF-Token": csrf},
                             json={"username": "eve", "password": "eve-pass-1", "role": "viewer"})
    assert resp.status == 201, await resp.text()
    resp = await client.post("/api/users/eve", headers={"X-CSRF-Token": csrf}, json={"role": "operator"})
    assert resp.status == 200
    assert {"username": "eve", "role": "operator"} in [{k: u[k] for k in ("username", "role")}
                                                       for u in await service.accounts.list_users()]
    dup = await client.post("/api/users", headers={"X-CSRF-Token": csrf},
                            json={"username": "eve", "password": "eve-pass-1", "role": "viewer"})
    assert dup.status == 400 and "already exists" in (await dup.json())["reason"]
    self_demote = await client.post("/api/users/ada", headers={"X-CSRF-Token": csrf}, json={"role": "viewer"})
    assert self_demote.status == 400


async def test_state_changes_need_the_csrf_token(client: TestClient) -> None:
    await login(client, "ada")
    body = {"kind": "set_mode", "args": {"mode": "auto"}}
    assert (await client.post("/api/stations/st-a/commands", json=body)).status == 403
    resp = await client.post("/api/stations/st-a/commands", json=body, headers={"X-CSRF-Token": "forged"})
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"


GARBAGE_COMMANDS = [
    ("not json", "text/plain"),
    ("{", "application/json"),
    ("[]", "application/json"),
    ('{"kind": "format_disk"}', "application/json"),
    ('{"kind": "set_room_setpoint", "args": {"room_setpoint_c": "hot"}, "lease_s": 3600}', "application/json"),
    ('{"kind": "set_room_setpoint", "args": {"room_setpoint_c": NaN}, "lease_s": 3600}', "application/json"),
    ('{"kind": "set_room_setpoint", "args": {"room_setpoint_c": 95}, "lease_s": 3600}', "application/json"),
    ('{"kind": "set_room_setpoint", "args": {"room_setpoint_c": 20}}', "application/json"),
    ('{"kind": "set_room_setpoint", "args": {"room_setpoint_c": 20}, "lease_s": -5}', "application/json"),
    ('{"kind": "set_room_setpoint", "args": {"room_setpoint_c": 20, "x": 1}, "lease_s": 60}', "application/json"),
    ('{"kind": "set_mode", "args": {"mode": "turbo"}}', "application/json"),
    ('{"kind": "set_mode", "args": "auto"}', "application/json"),
    ('{"kind": "set_mode", "args": {"mode": "auto"}, "lease_s": 60}', "application/json"),
    ('{"kind": "clear_lease", "args": {"what": true}}', "application/json"),
]


async def test_garbage_input_is_400_with_a_reason(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "oli")
    h = {"X-CSRF-Token": csrf}
    for text, ctype in GARBAGE_COMMANDS:
        resp = await client.post("/api/stations/st-a/commands", data=text, headers={**h, "Content-Type": ctype})
        assert resp.status == 400, text
        assert (await resp.json())["reason"], text
    assert await service.remote.recent_commands() == []
    for path in ("/api/stations/bad%20id", "/api/stations/st-a/trends?t0=abc", "/api/stations/st-a/trends?t0=10&t1=5",
                 "/api/stations/st-a/trends?fields=DROP%20TABLE", "/api/stations/st-a/trends?max_points=1e9",
                 "/api/reports/daily?date=yesterday", "/api/reports/daily?date=2026-11-20&hour=12",
                 "/api/audit?limit=-1", "/export/passwords.csv", "/api/reports/compliance?t0=0&t1=99999999999"):
        resp = await client.get(path)
        assert resp.status == 400, path
        assert (await resp.json())["reason"], path
    assert (await client.get("/api/stations/nope")).status == 404
    assert (await client.get("/stations/nope")).status == 404
    assert (await client.get("/api/commands/nope")).status == 404
    for body in ('{"station_id": "st-a"}', '{"station_id": "../x", "code": "a"}', "[1]"):
        resp = await client.post("/api/alarms/ack", data=body, headers={**h, "Content-Type": "application/json"})
        assert resp.status == 400, body
    resp = await client.post("/api/alarms/ack", json={"station_id": "nope", "code": "a"}, headers=h)
    assert resp.status == 404


async def test_command_is_recorded_attributed_and_tracked(client: TestClient, service: SupervisorService) -> None:
    csrf = await login(client, "oli")
    resp = await client.post("/api/stations/st-a/commands", headers={"X-CSRF-Token": csrf},
                             json={"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": "55.5"}, "lease_s": 1800})
    assert resp.status == 202, await resp.text()
    cid = (await resp.json())["command_id"]
    status = await (await client.get("/api/commands/" + cid)).json()
    assert status["user"] == "oli" and status["kind"] == "set_supply_setpoint"
    assert status["args"]["supply_setpoint_c"] == 55.5
    # no broker in this test: the command could not be sent, and the page is told why
    assert status["state"] in ("sent", "rejected")
    listed = await (await client.get("/api/commands?station=st-a")).json()
    assert [c["command_id"] for c in listed["commands"]] == [cid]


async def test_collectors_api_needs_its_token_and_rejects_garbage(client: TestClient, service: SupervisorService) -> None:
    reading = {"collector": "c1", "temp_c": 17.2, "ts": service.clock()}
    assert (await client.post("/api/collectors/readings", json=reading)).status == 401
    bad_tok = await client.post("/api/collectors/readings", json=reading, headers={"Authorization": "Bearer nope"})
    assert bad_tok.status == 401
    auth = {"Authorization": "Bearer " + COLLECTOR_TOKEN}
    resp = await client.post("/api/collectors/readings", json=reading, headers=auth)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["result"]["accepted"] == 1
    garbage = await client.post("/api/collectors/readings", data="{{{", headers={**auth, "Content-Type": "application/json"})
    assert garbage.status == 400
    mixed = await client.post("/api/collectors/readings", headers=auth, json={"readings": [
        {"collector": "c2", "temp_c": 19.0, "ts": service.clock()}, {"collector": "c1", "temp_c": "warm"}]})
    result = (await mixed.json())["result"]
    assert result["accepted"] == 1 and result["problems"]
    await login(client, "vic")
    detail = await (await client.get("/api/stations/st-a")).json()
    assert sorted(r["temp_c"] for r in detail["station"]["rooms"]) == [17.2, 19.0]


async def test_ingested_station_shows_in_fleet_and_detail(client: TestClient, service: SupervisorService) -> None:
    now = service.clock()
    topic, payload = codec.encode_uplink("st-a", 1, codec.UP_TELEMETRY, now, {
        "values": {"secondary_supply_temp_c": 52.5, "outdoor_temp_c": -12.0, "valve_position_pct": 40.0},
        "mode_name": "auto"})
    assert service.ingest.handle(topic, payload) == "queued"
    topic, payload = codec.encode_uplink("st-a", 2, codec.UP_ALARM, now, {"code": "pump1_fault", "severity": "alarm",
                                                                          "state": "active", "text": "pump 1 tripped"})
    service.ingest.handle(topic, payload)
    await service.ingest.flush(force_aggregates=True)
    await login(client, "vic")
    fleet = await (await client.get("/api/stations")).json()
    a = [s for s in fleet["stations"] if s["station_id"] == "st-a"][0]
    assert a["supply_temp_c"] == 52.5 and a["active_alarms"] == 1
    alarms = await (await client.get("/api/alarms?station=st-a")).json()
    assert [x["code"] for x in alarms["alarms"]] == ["pump1_fault"]
    trend = await (await client.get("/api/stations/st-a/trends?fields=secondary_supply_temp_c&t0=%d&t1=%d"
                                    % (now - 60, now + 60))).json()
    assert trend["data"]["secondary_supply_temp_c"] == [[now, 52.5]]


async def test_language_switch_is_remembered(client: TestClient) -> None:
    csrf = await login(client, "vic")
    assert "站点总览" in await (await client.get("/")).text()
    resp = await client.post("/lang/en", data={"csrf": csrf, "next": "/alarms"}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/alarms"
    assert "Fleet overview" in await (await client.get("/")).text()
    assert (await (await client.get("/api/me")).json())["lang"] == "en"
    assert (await client.post("/lang/fr", data={"csrf": csrf})).status == 400
    assert (await client.post("/lang/zh", data={"csrf": "forged"})).status == 403
    resp = await client.post("/api/me/lang", json={"lang": "zh"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert "站点总览" in await (await client.get("/")).text()


async def test_a_failing_service_is_a_500_with_a_reason_not_a_crash(client: TestClient, service: SupervisorService,
                                                                     monkeypatch: Any) -> None:
    await login(client, "vic")

    async def broken() -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(service.fleet, "list_stations", broken)
    resp = await client.get("/api/stations")
    assert resp.status == 500
    body = await resp.json()
    assert body["error"] == "internal" and "fire" not in body["reason"]  # details stay in the log
    monkeypatch.setattr(service.fleet, "station_detail", broken)
    page = await client.get("/stations/st-a")
    assert page.status == 500 and "Traceback" not in await page.text()
    assert (await client.get("/api/alarms")).status == 200  # the server keeps serving


async def test_odd_requests(client: TestClient) -> None:
    await login(client, "vic")
    for path in ("/stations/" + "x" * 300, "/stations/%E4%B8%AD", "/api/stations/%00", "/api/commands/" + "c" * 100):
        resp = await client.get(path)
        assert resp.status in (400, 404), path
    assert (await client.get("/nowhere")).status == 404
    for ctype, data in (("multipart/form-data; boundary=x", b"--x\r\nbroken"), ("application/x-www-form-urlencoded", b"\xff=\xfe")):
        for path in ("/login", "/lang/en"):
            resp = await client.post(path, data=data, headers={"Content-Type": ctype})
            assert resp.status == 400, (path, ctype)
    assert (await client.get("/static/../app.py")).status in (403, 404)
    big = await client.post("/api/collectors/readings", data=b"x" * (2 * 1024 * 1024),
                            headers={"Authorization": "Bearer " + COLLECTOR_TOKEN, "Content-Type": "application/json"})
    assert big.status == 413
