"""Build a station config for tests from the example (own data dir, broker and ports, and a
command key as the supervisor would provision it); sign commands with that key."""

from __future__ import annotations

import os
import secrets
import tomllib
from typing import Any

import tomli_w
from heatkeeper.firmware import command_auth
from heatkeeper.tools.procs import free_port

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "station.toml")


def station_toml(tmp_path: Any, mqtt_port: int, **sections: dict) -> tuple[str, dict]:
    """Write a station TOML into tmp_path; the bus points at a port that does not exist
    (every device unreachable: the controller runs on its fallbacks)."""
    with open(EXAMPLE, "rb") as fh:
        raw = tomllib.load(fh)
    raw["station"].update(id="test-st", data_dir=str(tmp_path / "data"), cycle_s=0.2, telemetry_interval_s=1.0,
                          snapshot_interval_s=5.0)
    raw["mqtt"].update(port=mqtt_port, keepalive_s=5, reconnect_min_s=0.1, reconnect_max_s=0.5)
    key_path = tmp_path / "test-st.cmdkey"
    if not key_path.exists():
        key_path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
        os.chmod(key_path, 0o600)
    raw["mqtt"]["command_key_file"] = str(key_path)
    raw["modbus_slave"].update(enabled=True, port=free_port())
    raw["bus"][0]["port"] = str(tmp_path / "no-such-adapter.tty")
    raw["bus"][0]["timeout_s"] = 0.05
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path = str(tmp_path / "station.toml")
    with open(path, "wb") as fh:
        tomli_w.dump(raw, fh)
    return path, raw


def signed_command(raw: dict, command_id: str, kind: str, args: dict, user: str = "operator", issued_ts: float = 0.0,
                   expires_ts: float = 0.0) -> tuple[str, bytes]:
    """(topic, payload) of a command signed with the key of the station config `raw`."""
    key = command_auth.read_command_key(raw["mqtt"]["command_key_file"])
    return command_auth.sign_command(key, raw["station"]["id"], command_id, kind, args, user, issued_ts, expires_ts)
