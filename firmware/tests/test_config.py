"""Station config: the example is valid; garbage and bad values are listed completely."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
import tomli_w
from heatkeeper.core import settings as core_settings
from heatkeeper.firmware.config import SECTIONS, check_value, load_config, validate_config
from heatkeeper.firmware.errors import ConfigError
from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML, validate_bus_config

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "station.toml")


def example() -> dict:
    with open(EXAMPLE, "rb") as fh:
        return tomllib.load(fh)


def test_example_is_valid_and_frozen(tmp_path) -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.station.id == "arxan-01"
    assert os.path.isabs(cfg.station.data_dir)
    assert cfg.station.data_dir == os.path.join(os.path.dirname(EXAMPLE), "var", "arxan-01")
    assert len(cfg.bus.devices) == 7
    with pytest.raises(AttributeError):
        cfg.station.cycle_s = 5.0  # type: ignore[misc]


def test_garbage_toml_is_one_clear_problem(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"[station\nid = = 3\n\x00\xff")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert len(err.value.problems) == 1
    assert "not valid TOML" in err.value.problems[0]


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as err:
        load_config("/nonexistent/station.toml")
    assert "file not found" in err.value.problems[0]


def test_every_bad_value_listed_with_key_value_unit_range(tmp_path) -> None:
    raw = example()
    raw["station"].update(id="bad id/with slash", cycle_s=0.0, telemetry_interval_s="often", colour="red")
    raw["mqtt"].update(port=70000, keepalive_s=True, tls_cert="missing.crt", reconnect_min_s=50.0, reconnect_max_s=2.0)
    raw["storage"]["outbox_synchronous"] = "sometimes"
    raw["modbus_slave"]["unit_id"] = 300
    raw["bus"][0]["baudrate"] = 12345
    raw["device"][0]["profile"] = "no_such_meter"
    raw["frobnicate"] = {"x": 1}
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is None
    text = "\n".join(problems)
    expected = [
        "station.id='bad id/with slash'",
        "station.cycle_s=0.0 s: must be a number in [0.1, 60.0]",
        "station.telemetry_interval_s='often' s: must be a number in [1.0, 3600.0]",
        "station.colour: unknown key",
        "mqtt.port=70000: must be an integer in [1, 65535]",
        "mqtt.keepalive_s=True s: must be an integer in [5, 600]",
        "mqtt.tls_cert='missing.crt': file not found",
        "give both (client certificate) or neither",
        "mqtt.reconnect_min_s=50.0 s: must not exceed mqtt.reconnect_max_s=2.0 s",
        "storage.outbox_synchronous='sometimes': must be one of 'full', 'normal'",
        "modbus_slave.unit_id=300: must be an integer in [0, 247]",
        "frobnicate: unknown section",
        "baudrate=12345",
        "no_such_meter",
    ]
    for item in expected:
        assert item in text, "missing problem %r in:\n%s" % (item, text)


def test_every_default_passes_its_own_check() -> None:
    for section, spec in SECTIONS.items():
        for key, (default, kind, allowed, unit) in spec.items():
            if default is None or kind in ("path", "id"):
                continue  # required, or a file / id the operator names
            problems: list[str] = []
            check_value("%s.%s" % (section, key), default, kind, allowed, unit, problems)
            assert problems == [], problems


def test_station_cycle_is_cores_setting() -> None:
    low, high, unit = core_settings.STATION_RANGES["cycle_s"]
    assert SECTIONS["station"]["cycle_s"] == (core_settings.STATION_DEFAULTS["cycle_s"], "float", (low, high), unit)


def test_station_and_bus_values_are_judged_alike(tmp_path) -> None:
    """One checker for [station]/[mqtt]/... and [[bus]]: the same bad value, the same words."""
    for bad, what in ((True, "True"), (float("nan"), "nan"), (float("inf"), "inf"), ("fast", "'fast'")):
        raw = example()
        raw["station"]["telemetry_interval_s"] = bad
        raw["storage"]["outbox_synchronous"] = bad
        _, problems = validate_config(raw, str(tmp_path / "station.toml"))
        assert "station.telemetry_interval_s=%s s: must be a number in [1.0, 3600.0]" % what in problems
        assert "storage.outbox_synchronous=%s: must be one of 'full', 'normal'" % what in problems
        bus_raw = tomllib.loads(EXAMPLE_BUS_TOML)
        bus_raw["bus"][0].update(timeout_s=bad, parity=bad)
        _, problems = validate_bus_config(bus_raw)
        assert "bus[rs485-1].timeout_s=%s s: must be a number in [0.02, 5.0]" % what in problems
        assert "bus[rs485-1].parity=%s: must be one of 'N', 'E', 'O'" % what in problems


def test_control_sections_validated_by_core(tmp_path) -> None:
    pytest.importorskip("heatkeeper.core.settings")
    raw = example()
    raw["control"] = {"station": {"room_setpoint_c": 99.0}, "nonsense": {"a": 1}}
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is None
    assert any(p.startswith("control.station.room_setpoint_c=99") for p in problems), problems
    assert any("nonsense" in p for p in problems), problems


def test_season_dates_may_be_written_as_dates_and_a_bad_one_is_named_once(tmp_path) -> None:
    # the installer writes the season as the holidays are written (or as a TOML date); the
    # controller gets core's YYYYMMDD, and the calendar it holds is the same either way
    from heatkeeper.core.season import SeasonCalendar

    text = open(EXAMPLE, encoding="utf-8").read()
    held = []
    for dates in ("start_date = 20261115\nend_date = 20270315", "start_date = 2026-11-15\nend_date = \"2027-03-15\""):
        path = tmp_path / "station.toml"
        path.write_text(text + "\n[control.season]\n%s\nutc_offset_h = 8.0\n" % dates, encoding="utf-8")
        cfg = load_config(str(path))
        season = cfg.control_settings()["season"]
        assert (season["start_date"], season["end_date"]) == (20261115, 20270315)
        held.append((SeasonCalendar(season).start_s, SeasonCalendar(season).end_s))
    assert held[0] == held[1] and held[0][0] > 0
    raw = example()
    raw["control"] = {"season": {"start_date": "2026-11-31", "end_date": tomllib.loads("d = 2027-03-15T08:00:00")["d"],
                                 "preheat_h": -5.0}}
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is None
    season_problems = [p for p in problems if p.startswith("control.season")]
    assert season_problems == [
        "control.season.start_date='2026-11-31': must be a local date: 2026-11-15, \"2026-11-15\" or 20261115",
        "control.season.end_date=datetime.datetime(2027, 3, 15, 8, 0): must be a local date: 2026-11-15, "
        "\"2026-11-15\" or 20261115",
        "control.season.preheat_h=-5.0 h: must be in [0.0, 720.0]"], problems
    assert raw["control"]["season"]["start_date"] == "2026-11-31"  # the caller's mapping is left as it was


def test_week_programme_example_is_valid_and_its_problems_listed(tmp_path) -> None:
    pytest.importorskip("heatkeeper.core.settings")
    with open(EXAMPLE, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    start = lines.index("# [control.schedule]")
    block: list[str] = []
    for line in lines[start:]:
        if not line.startswith("# ") or (block and line.startswith("# [")):
            break
        block.append(line[2:])
    raw = example()
    raw["control"] = tomllib.loads("\n".join(block))["control"]
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert problems == [] and cfg is not None, problems
    assert cfg.control["schedule"]["sun"] == "sat"
    raw["control"]["schedule"].update(tue="monday", holidays=["2026-02-30", ["2026-10-07", "2026-10-01"]],
                                      holiday_programme="party", optimum_max_advance_s=90000)
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is None
    text = "\n".join(problems)
    for part in ("control.schedule.tue='monday': must be periods or the name of a day",
                 "control.schedule.holidays[0]='2026-02-30': must be a date",
                 "control.schedule.holidays[1]=['2026-10-07', '2026-10-01']: the range must not end before it starts",
                 "control.schedule.holiday_programme='party': must be one of",
                 "control.schedule.optimum_max_advance_s=90000 s: must be in [0.0, 43200.0]"):
        assert part in text, problems


def test_check_config_cli_exit_codes(tmp_path) -> None:
    good = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "check-config", EXAMPLE],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "ok" in good.stdout
    raw = example()
    raw["station"]["cycle_s"] = 1000
    raw["mqtt"]["port"] = -1
    bad_path = tmp_path / "bad.toml"
    bad_path.write_bytes(tomli_w.dumps(raw).encode())
    bad = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "check-config", str(bad_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "station.cycle_s=1000" in bad.stderr and "mqtt.port=-1" in bad.stderr
    pytest.importorskip("heatkeeper.core.station")
    run = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "station", "--config", str(bad_path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "2 problem(s)" in run.stderr
