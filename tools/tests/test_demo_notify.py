"""The demo's notification set-up: the supervisor config the demo writes is valid with and
without --notify-webhook, every demo person reaches the outbox (and the webhook with the flag),
and a bad URL is refused before anything starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from heatkeeper.supervisor import config as sup_config
from heatkeeper.tools import demo, demo_notify


def _config(tmp_path: Path, url: str) -> dict:
    sup_dir = tmp_path / "supervisor"
    sup_dir.mkdir()
    path = sup_dir / "supervisor.toml"
    path.write_text(demo._supervisor_toml(sup_dir, 1883, 8080) + demo_notify.notify_toml(sup_dir / "data", 8080, url),
                    encoding="utf-8")
    return sup_config.load(str(path))


def test_demo_config_notifies_through_the_outbox_offline(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "")
    n = cfg["notify"]
    assert n["enabled"] and [c["kind"] for c in n["channels"]] == ["outbox"]
    assert all(p["channels"] == ["outbox"] for p in n["people"].values())
    assert n["base_url"] == "http://127.0.0.1:8080"


def test_demo_config_with_webhook(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "http://127.0.0.1:9999/phone")
    hook = [c for c in cfg["notify"]["channels"] if c["kind"] == "webhook"][0]
    assert hook["url"] == "http://127.0.0.1:9999/phone" and len(hook["secret"]) == 32
    secret_file = tmp_path / "supervisor" / "data" / "notify-webhook.secret"
    assert secret_file.read_text().strip() == hook["secret"] and secret_file.stat().st_mode & 0o077 == 0


def test_bad_webhook_url_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args(["--data-dir", str(tmp_path / "d"), "--notify-webhook", "ftp://x"])
    assert demo.run(args) == 2
    assert "--notify-webhook='ftp://x': must be an http:// or https:// URL" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
