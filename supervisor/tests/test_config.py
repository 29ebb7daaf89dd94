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
    assert cfg["collectors_map"]["c-0102"] == {"id": "c-0102", "station": "arxan-01", "group": "block-1-ground-edge",
                                               "household": "AX-1-0101", "placement": "edge"}
    assert os.path.isabs(cfg["storage"]["path"])


def test_every_problem_listed(tmp_path: Any) -> None:
    csv_path = tmp_path / "collectors.csv"
    csv_path.write_text("id,station,group\nc-9,nowhere,top\nbad id,st-1,top\n")
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({
            "storage": {"backend": "postgres", "batch_max": 0},
            "mqtt": {"protocol": "5", "port": "1883", "host": "10.1.2.3"},
            "broker": {"host": "0.0.0.0"},
            "collector_platform": [{"user": "st-1", "prefix": "c-"}, {"user": "rooms", "prefix": ""}],
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
                     "'bad id'", "broker.host='0.0.0.0': the embedded broker would take plain MQTT",
                     "mqtt.host='10.1.2.3': plain MQTT off loopback", "collector_platform[0].user='st-1': already",
                     "collector_platform[1].prefix=''"):
        assert expected in text, expected


def test_unreadable_file(tmp_path: Any) -> None:
    with pytest.raises(sup_config.ConfigError):
        sup_config.load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\nbackend=")
    with pytest.raises(sup_config.ConfigError):
        sup_config.load(str(bad))


def test_plaintext_off_loopback_only_when_said_so(tmp_path: Any) -> None:
    cfg = sup_config.validate({"broker": {"host": "0.0.0.0", "insecure_plaintext": True},
                               "mqtt": {"host": "10.1.2.3", "insecure_plaintext": True, "protocol": "5"}})
    assert cfg["broker"]["host"] == "0.0.0.0" and cfg["mqtt"]["protocol"] == "5"  # embedded Mosquitto speaks v5
    for key in ("tls_ca", "tls_cert", "tls_key"):
        (tmp_path / key).write_text("x")
    cfg = sup_config.validate({"broker": {"host": "0.0.0.0", "tls_ca": str(tmp_path / "tls_ca"),
                                          "tls_cert": str(tmp_path / "tls_cert"), "tls_key": str(tmp_path / "tls_key")},
                               "mqtt": {"host": "mq.example", "tls_ca": str(tmp_path / "tls_ca")}})
    assert cfg["broker"]["tls_cert"].endswith("tls_cert")


def test_collector_platforms_listed() -> None:
    cfg = sup_config.validate({"station": [{"id": "st-1"}],
                               "collector": [{"id": "a-1", "station": "st-1", "group": "g"}],
                               "collector_platform": [{"user": "rooms-a", "prefix": "a-"}]})
    assert cfg["collector_platforms"] == [{"user": "rooms-a", "prefix": "a-"}]


@pytest.mark.parametrize("section", ["station", "notify.person", "notify.channel"])
def test_arrays_of_tables_with_ids_report_the_same_problems_the_same_way(tmp_path: Any, section: str) -> None:
    """[[station]], [[notify.person]] and [[notify.channel]] share one check (config_tables.py):
    not an array, an entry not a table, a bad id, an id given twice, each named with its place."""
    id_key = "name" if section == "notify.channel" else "id"
    good: dict[str, dict[str, Any]] = {"notify.channel": {"name": "log", "kind": "outbox"},
                                       "notify.person": {"id": "wang", "channels": ["log"]}, "station": {"id": "st-1"}}

    def problems(entries: Any) -> list[str]:
        raw: dict[str, Any] = {"supervisor": {"data_dir": str(tmp_path)}, "station": [good["station"]],
                               "notify": {"channel": [good["notify.channel"]], "person": [good["notify.person"]]}}
        if section == "station":
            raw["station"] = entries
        else:
            raw["notify"][section.split(".")[1]] = entries
        with pytest.raises(sup_config.ConfigError) as err:
            sup_config.validate(raw)
        return err.value.problems

    assert "[[%s]]: must be an array of tables" % section in problems({"oops": 1})
    entry = good[section]
    found = "\n".join(problems([entry, "text", {**entry, id_key: "bad id!"}, dict(entry)]))
    for expected in ("%s[1]: must be a table" % section, "%s[2].%s='bad id!': must be 1-64 of" % (section, id_key),
                     "%s %s=%r: defined twice" % (section, id_key, entry[id_key])):
        assert expected in found, expected + "\n--- not in ---\n" + found


def test_a_collectors_file_saved_by_a_spreadsheet_with_a_byte_order_mark_is_read(tmp_path: Any) -> None:
    (tmp_path / "collectors.csv").write_bytes("\ufeffid,station,group\r\nc-1,st-1,top\r\n".encode())
    cfg = sup_config.validate({"station": [{"id": "st-1"}], "collectors": {"csv": "collectors.csv"}},
                              base_dir=str(tmp_path))
    assert cfg["collectors_map"]["c-1"]["station"] == "st-1" and cfg["collectors_map"]["c-1"]["group"] == "top"
