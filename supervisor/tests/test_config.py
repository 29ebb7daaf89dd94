"""Supervisor configuration: the example loads; a bad file lists every problem at once."""

from __future__ import annotations

import os
from typing import Any

import pytest
from heatkeeper.supervisor import config as sup_config

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "supervisor.toml")


def test_example_loads() -> None:
    cfg = sup_config.load(EXAMPLE)
    assert [s["id"] for s in cfg["stations"]] == ["arxan-01", "arxan-02"]
    assert cfg["collectors_map"]["c-0102"] == {"id": "c-0102", "station": "arxan-01", "group": "block-1-ground-edge"}
    assert os.path.isabs(cfg["storage"]["path"])


def test_every_problem_listed(tmp_path: Any) -> None:
    csv_path = tmp_path / "collectors.csv"
    csv_path.write_text("id,station,group\nc-9,nowhere,top\nbad id,st-1,top\n")
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({
            "storage": {"backend": "postgres", "batch_max": 0},
            "mqtt": {"protocol": "5", "port": "1883"},
            "compliance": {"floor_c": 40},
            "colour": {"x": 1},
            "web": {"prot": 1},
            "station": [{"id": "st-1"}, {"id": "st-1"}, {"id": "bad/id"}],
            "collectors": {"csv": str(csv_path)},
        })
    text = "\n".join(err.value.problems)
    for expected in ("storage.batch_max=0 messages: must be in [1, 100000]", "storage.dsn=''",
                     "mqtt.port='1883': must be int", "compliance.floor_c=40 degC: must be in [10, 25]",
                     "[colour]: unknown section", "web.prot: unknown key", "station id='st-1': defined twice",
                     "station[2].id='bad/id'", "collector id='c-9' station='nowhere': no such [[station]]",
                     "'bad id'", "embedded broker speaks MQTT 3.1.1 only"):
        assert expected in text, expected


def test_unreadable_file(tmp_path: Any) -> None:
    with pytest.raises(sup_config.ConfigError):
        sup_config.load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\nbackend=")
    with pytest.raises(sup_config.ConfigError):
        sup_config.load(str(bad))
