"""[notify] validation: every problem listed at once with its key, value and what is allowed;
secrets from the environment or a file, never required in the config file itself; the weekly
rota and its hand-over."""

from __future__ import annotations

from typing import Any

import pytest
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.notify import rota

from .conftest import ROTA_START_TS, notify_config


def validate(tmp_path: Any, notify: dict[str, Any]) -> dict[str, Any]:
    return sup_config.validate({"supervisor": {"data_dir": str(tmp_path)},
                                "station": [{"id": "arxan-01"}], "notify": notify})


def test_every_problem_is_listed(tmp_path: Any) -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        validate(tmp_path, {
            "enabled": True, "rate_per_min": 0, "language": "fr", "base_url": "heat.example.cn", "bogus": 1,
            "escalate_min": {"critical": 0, "urgent": 5},
            "channel": [{"name": "w", "kind": "wecom"}, {"name": "d", "kind": "dingtalk", "url": "x",
                                                         "secret_env": "NO_SUCH_VAR_HK"},
                        {"name": "m", "kind": "email", "host": "", "tls": "ssl", "sender": "nobody"},
                        {"name": "s", "kind": "sms", "preset": "huawei", "url": "https://x"},
                        {"name": "h", "kind": "webhook", "url": "https://x"}, {"name": "w", "kind": "outbox"},
                        {"name": "p", "kind": "pager"}],
            "person": [{"id": "a", "channels": ["w", "nope"], "phone": "call me", "language": "de"},
                       {"id": "b", "channels": []}],
            "rota": [{"area": "x", "stations": ["arxan-01", "nowhere"], "start": "next monday", "handover": "25:00",
                      "shifts": [["a", "ghost"]], "leader": "boss"},
                     {"area": "y", "stations": ["arxan-01"], "shifts": "a"}],
        })
    text = "\n".join(err.value.problems)
    for expected in (
            "notify.rate_per_min=0 messages: must be in [1, 10000]", "notify.language='fr': must be one of zh, en",
            "notify.base_url='heat.example.cn'", "notify.bogus: unknown key",
            "notify.escalate_min.critical=0 min: must be in [0.5, 1440]", "notify.escalate_min.urgent: unknown severity",
            "notify.channel 'w': needs url", "notify.channel 'd'.secret_env='NO_SUCH_VAR_HK': no such environment variable",
            "notify.channel 'd'.url: must start with http:// or https://", "notify.channel 'm'.host=''",
            "notify.channel 'm'.tls='ssl'", "notify.channel 'm'.sender='nobody'",
            "notify.channel 's'.preset='huawei': must be one of custom, aliyun, tencent",
            "notify.channel 'h': needs secret", "notify.channel name='w': defined twice",
            "notify.channel 'p'.kind='pager'", "notify.person 'a'.channels: 'nope' is no [[notify.channel]]",
            "notify.person 'a'.phone='call me'", "notify.person 'a'.language='de'",
            "notify.person 'b'.channels=[]: must list at least one", "notify.rota 'x'.stations: 'nowhere' is no [[station]]",
            "notify.rota 'x'.start='next monday'", "notify.rota 'x'.handover='25:00'",
            "notify.rota 'x'.shifts: 'ghost' is no [[notify.person]]", "notify.rota 'x'.leader='boss'",
            "notify.rota 'y'.stations: 'arxan-01' is already in rota 'x'", "notify.rota 'y'.shifts='a'"):
        assert expected in text, expected + "\n--- not in ---\n" + text


def test_secrets_from_env_and_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HK_TEST_DING", "ding-secret")
    monkeypatch.setenv("HK_TEST_WECOM_URL", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K")
    (tmp_path / "mail.pw").write_text("mail-secret\n")
    cfg = validate(tmp_path, {"channel": [
        {"name": "d", "kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=T",
         "secret_env": "HK_TEST_DING"},
        {"name": "w", "kind": "wecom", "url_env": "HK_TEST_WECOM_URL"},
        {"name": "m", "kind": "email", "host": "smtp.example.cn", "sender": "hk@example.cn", "username": "hk",
         "password_file": str(tmp_path / "mail.pw")}]})
    chans = {c["name"]: c for c in cfg["notify"]["channels"]}
    assert chans["d"]["secret"] == "ding-secret" and chans["w"]["url"].endswith("key=K")
    assert chans["m"]["password"] == "mail-secret" and chans["m"]["port"] == 587
    assert cfg["notify"]["enabled"] is False  # off unless asked


@pytest.mark.parametrize("name, reason", [("mail\x00.pw", "not a file name"), ("mail\ud800.pw", "not a file name"),
                                          ("latin1.pw", "not UTF-8 text"), ("missing.pw", "No such file")])
def test_a_secret_file_that_cannot_be_read_is_a_problem_not_a_crash(tmp_path: Any, name: str, reason: str) -> None:
    (tmp_path / "latin1.pw").write_bytes(b"geheim\xe4\n")
    with pytest.raises(sup_config.ConfigError) as err:
        validate(tmp_path, {"channel": [{"name": "m", "kind": "email", "host": "smtp.example.cn", "sender": "hk@example.cn",
                                         "username": "hk", "password_file": str(tmp_path / name)}]})
    assert any("'m'.password_file=" in p and "cannot read (%s" % reason in p for p in err.value.problems), err.value.problems


def test_rota_shifts_and_chain(tmp_path: Any) -> None:
    n = notify_config(tmp_path, "http://127.0.0.1:1/hook")["notify"]
    r = n["rotas"][0]
    assert rota.shift_start_ts(r, 8.0) == ROTA_START_TS
    assert rota.chain(n["rotas"], "arxan-01", ROTA_START_TS, 8.0) == ["zhang", "li", "wang", "zhao"]
    assert rota.chain(n["rotas"], "arxan-01", ROTA_START_TS - 1, 8.0) == ["li", "zhang", "wang", "zhao"]
    assert rota.chain(n["rotas"], "supervisor", ROTA_START_TS + 7 * 86400.0, 8.0)[0] == "li"
    assert rota.chain(n["rotas"], "arxan-01", ROTA_START_TS + 14 * 86400.0 + 3600, 8.0)[0] == "zhang"
    assert rota.next_handover_ts(r, ROTA_START_TS + 100, 8.0) == ROTA_START_TS + 7 * 86400.0


def test_the_example_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import os
    import tomllib

    path = os.path.join(os.path.dirname(sup_config.__file__), "examples", "notify.toml")
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    for name in ("WECOM_URL", "DINGTALK_URL", "FEISHU_URL"):
        monkeypatch.setenv("HEATKEEPER_" + name, "https://robot.example.cn/" + name.lower())
    for name in ("DINGTALK_SECRET", "FEISHU_SECRET", "SMTP_PASSWORD", "SMS_TOKEN", "WEBHOOK_SECRET"):
        monkeypatch.setenv("HEATKEEPER_" + name, "secret-" + name.lower())
    cfg = sup_config.validate({"supervisor": {"data_dir": str(tmp_path)}, "station": [{"id": "arxan-01"}], **raw})
    n = cfg["notify"]
    assert [c["kind"] for c in n["channels"]] == ["wecom", "dingtalk", "feishu", "email", "sms", "webhook"]
    assert rota.chain(n["rotas"], "arxan-01", ROTA_START_TS, 8.0) == ["zhang", "li", "wang", "zhao"]
    monkeypatch.delenv("HEATKEEPER_SMS_TOKEN")
    with pytest.raises(sup_config.ConfigError, match="HEATKEEPER_SMS_TOKEN'?: no such environment variable"):
        sup_config.validate({"supervisor": {"data_dir": str(tmp_path)}, "station": [{"id": "arxan-01"}], **raw})
