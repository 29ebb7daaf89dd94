"""Pure helpers of the web layer: input validation, sessions, throttling, config, rooms."""

from __future__ import annotations

import math
from typing import Any

import pytest
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


def test_login_throttle() -> None:
    clock = Clock()
    th = auth.LoginThrottle(limit=3, window_s=60.0, clock=clock)
    for _ in range(3):
        assert not th.blocked("vic")
        th.failed("vic")
    assert th.blocked("vic") and not th.blocked("oli")
    clock.t += 61.0
    assert not th.blocked("vic")


def test_web_config_lists_every_problem() -> None:
    assert config.validate(None)["default_lang"] == "zh"
    assert config.validate({"web": {"enabled": True, "port": 8080}})["refresh_s"] == 5.0
    with pytest.raises(config.WebConfigError) as info:
        config.validate({"web": {"refresh_s": 0, "cookie_secure": "yes", "default_lang": "fr",
                                 "collector_tokens": {"x": "short"}, "colour": 1}})
    assert len(info.value.problems) == 5


def test_collector_tokens_file(tmp_path: Any) -> None:
    (tmp_path / "tokens").write_text("# vendor platforms\nvendor-x  tok-0123456789abcdef\nvendor-y tok-fedcba9876543210 # spare\n")
    cfg = {"supervisor": {"data_dir": str(tmp_path)}, "web": {"collector_tokens_file": "tokens"}}
    assert config.validate(cfg)["collector_tokens"] == {"vendor-x": "tok-0123456789abcdef",
                                                        "vendor-y": "tok-fedcba9876543210"}
    (tmp_path / "bad").write_text("only-one-field\nshort tok\n")
    with pytest.raises(config.WebConfigError) as info:
        config.validate({"supervisor": {"data_dir": str(tmp_path)}, "web": {"collector_tokens_file": "bad"}})
    assert len(info.value.problems) == 2
    with pytest.raises(config.WebConfigError):
        config.validate({"web": {"collector_tokens_file": str(tmp_path / "missing")}})


def test_safe_next_stays_on_this_site() -> None:
    assert safe_next("/alarms?x=1") == "/alarms?x=1"
    for bad in (None, "", "https://evil.example/", "//evil.example", "/\\evil", "alarms"):
        assert safe_next(bad) == "/"


def test_room_series_keeps_the_coldest_flat_per_bucket() -> None:
    rows = [("c1", 0.0, 19.0, "st", "top"), ("c2", 5.0, 17.5, "st", "top"), ("c3", 12.0, 20.0, "st", "edge"),
            ("c1", 15.0, 18.5, "st", "top")]
    assert room_series(rows, 0.0, 20.0, 2) == {"edge": [[10.0, 20.0]], "top": [[0.0, 17.5], [10.0, 18.5]]}
