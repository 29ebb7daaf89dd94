"""`heatkeeper check-config`: plain MQTT to a broker off loopback is a problem unless the station
config says `mqtt.insecure_plaintext = true` (or gives TLS). The station itself still starts."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import tomli_w

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "station.toml")


def _check(tmp_path: Any, **mqtt: Any) -> subprocess.CompletedProcess[str]:
    with open(EXAMPLE, "rb") as fh:
        raw = tomllib.load(fh)
    raw.setdefault("mqtt", {}).update(mqtt)
    path = tmp_path / "station.toml"
    path.write_bytes(tomli_w.dumps(raw).encode())
    (tmp_path / "ca.crt").write_text("not checked here\n")
    return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path))


@pytest.mark.parametrize("host", ["10.20.0.5", "mqtt.heat.example", "0.0.0.0"])
def test_remote_plaintext_broker_is_a_problem(tmp_path: Any, host: str) -> None:
    res = _check(tmp_path, host=host, enabled=True)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "mqtt.host=%r: plain MQTT off this host" % host in res.stderr
    assert "mqtt.insecure_plaintext = true" in res.stderr


@pytest.mark.parametrize("mqtt", [{"host": "10.20.0.5", "insecure_plaintext": True},
                                  {"host": "10.20.0.5", "tls_ca": "ca.crt"},
                                  {"host": "127.0.0.1"}, {"host": "localhost"}, {"host": "::1"},
                                  {"host": "10.20.0.5", "enabled": False}])
def test_tls_loopback_or_explicit_plaintext_is_fine(tmp_path: Any, mqtt: dict[str, Any]) -> None:
    res = _check(tmp_path, **mqtt)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "plain MQTT" not in res.stderr


def test_insecure_plaintext_must_be_a_bool(tmp_path: Any) -> None:
    res = _check(tmp_path, host="10.20.0.5", insecure_plaintext="yes")
    assert res.returncode == 2 and "mqtt.insecure_plaintext='yes': must be true or false" in res.stderr
