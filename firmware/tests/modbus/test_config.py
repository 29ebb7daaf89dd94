"""validate_bus_config: the example is sound, and bad input lists every problem."""

from __future__ import annotations

import copy
import tomllib

from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML, validate_bus_config


def example() -> dict:
    return tomllib.loads(EXAMPLE_BUS_TOML)


def test_example_is_valid() -> None:
    cfg, problems = validate_bus_config(example())
    assert problems == []
    assert cfg is not None
    assert [d.unit_id for d in cfg.devices_on("rs485-1")] == [1, 2, 3, 4, 5, 6]
    assert cfg.buses[0].timeout_s == 0.3


def test_every_problem_is_listed() -> None:
    raw = example()
    raw["bus"][0].update(baudrate=12345, parity="X", timeout_s=9.0, colour="red")
    raw["bus"].append({"name": "rs485-1", "port": ""})
    dev = raw["device"]
    dev[1]["unit_id"] = 1  # same as io_module on the same bus
    dev[2]["profile"] = "siemens_g120"
    dev[3]["points"]["outdoor_temp_k"] = "setpoint"
    dev[3]["points"]["valve_position_pct"] = "setpoint"  # a writable setpoint cannot feed the position input
    dev[4]["points"]["outdoor_temp_c"] = "t1"  # already bound to io_module.temp_1
    dev[5]["bus"] = "rs485-9"
    dev[5]["unit_id"] = 300
    cfg, problems = validate_bus_config(raw)
    assert cfg is None
    text = "\n".join(problems)
    for expected in (
        "bus[rs485-1].baudrate=12345: must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200",
        "bus[rs485-1].parity='X': must be one of 'N', 'E', 'O'",
        "bus[rs485-1].timeout_s=9.0 s: must be a number in [0.02, 5.0]",
        "bus[rs485-1].colour: unknown key",
        "duplicate bus name",
        "bus[rs485-1].port='': must be a non-empty string",
        "device[pump1_drive].unit_id=1: already used on bus 'rs485-1' by device 'io_module'",
        "device[pump2_drive].profile='siemens_g120': must be one of abb_acs580, belimo_energy_valve, belimo_mod",
        "device[valve].points.outdoor_temp_k: unknown signal; must be one of outdoor_temp_c",
        "device[valve].points.valve_position_pct='setpoint': point cannot serve valve_position_pct; "
        "points of belimo_mod that can: relative_position",
        "device[heat_meter].points.outdoor_temp_c: signal already bound to device 'io_module'",
        "device[makeup].bus='rs485-9': must be one of the [[bus]] names: rs485-1",
        "device[makeup].unit_id=300: must be an integer in [1, 247]",
    ):
        assert expected in text, expected


def test_garbage_never_raises() -> None:
    bad: object
    for bad in (None, [], "x", {"bus": "x", "device": 3}, {"bus": [1], "device": [None]},
                {"bus": [{"name": 5}], "device": [{"name": "d", "points": "x"}]}):
        cfg, problems = validate_bus_config(copy.deepcopy(bad))  # type: ignore[arg-type]
        assert cfg is None and problems


def test_a_bus_without_parity_takes_its_devices_factory_setting() -> None:
    # the example bus carries a Danfoss FC, whose factory 8-33 is even parity, 1 stop bit
    cfg, problems = validate_bus_config(example())
    assert cfg is not None, problems
    assert (cfg.buses[0].parity, cfg.buses[0].stopbits) == ("E", 1)
    raw = example()
    raw["bus"][0]["parity"] = "N"  # re-set on site: what the bus says wins
    cfg, _ = validate_bus_config(raw)
    assert cfg is not None and cfg.buses[0].parity == "N"
    raw = example()
    raw["device"] = [d for d in raw["device"] if d["profile"] not in ("danfoss_fc",)]
    cfg, _ = validate_bus_config(raw)
    assert cfg is not None and (cfg.buses[0].parity, cfg.buses[0].stopbits) == ("N", 1)  # nobody declares one


def test_devices_with_different_factory_parity_need_the_bus_to_say(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from heatkeeper.core.device_profiles import PROFILES

    odd = copy.deepcopy(PROFILES["belimo_mod"])
    odd["serial"] = {"parity": "O", "stopbits": 1, "baudrate": None, "source": "test"}
    monkeypatch.setitem(PROFILES, "belimo_mod", odd)
    cfg, problems = validate_bus_config(example())
    assert cfg is None
    assert problems == ["bus[rs485-1].parity: not set, and the devices' factory settings differ: E (danfoss_fc); "
                        "O (belimo_mod); set the devices alike on site and parity here"]
    raw = example()
    raw["bus"][0]["parity"] = "E"
    assert validate_bus_config(raw)[0] is not None
