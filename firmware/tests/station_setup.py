"""Build a station config for tests from the example (own data dir, broker and ports)."""

from __future__ import annotations

import os
import tomllib
from typing import Any

import tomli_w

from .broker import free_port

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "station.toml")


def station_toml(tmp_path: Any, mqtt_port: int, **sections: dict) -> tuple[str, dict]:
    """Write a station TOML into tmp_path; the bus points at a port that does not exist
    (every device unreachable: the controller runs on its fallbacks)."""
    with open(EXAMPLE, "rb") as fh:
        raw = tomllib.load(fh)
    raw["station"].update(id="test-st", data_dir=str(tmp_path / "data"), cycle_s=0.2, telemetry_interval_s=1.0,
                          snapshot_interval_s=5.0)
    raw["mqtt"].update(port=mqtt_port, keepalive_s=5, reconnect_min_s=0.1, reconnect_max_s=0.5)
    raw["modbus_slave"].update(enabled=True, port=free_port())
    raw["bus"][0]["port"] = str(tmp_path / "no-such-adapter.tty")
    raw["bus"][0]["timeout_s"] = 0.05
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path = str(tmp_path / "station.toml")
    with open(path, "wb") as fh:
        tomli_w.dump(raw, fh)
    return path, raw
