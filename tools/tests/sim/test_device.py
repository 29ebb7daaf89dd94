"""Simulated devices serve the firmware's own device profiles: values written by the plant
decode to the same engineering values, writes become actuator commands, bad writes get the
exception a device gives, an open sensor serves its sentinel."""

from __future__ import annotations

import struct

import pytest
from heatkeeper.core import device_profiles as dp
from heatkeeper.tools.sim import rtu
from heatkeeper.tools.sim.device import DeviceConfigError, SimulatedDevice


def request(unit: int, fc: int, address: int, count: int = 1, values: list[int] | None = None) -> rtu.Request:
    if fc in (1, 2, 3, 4):
        body = struct.pack(">BBHH", unit, fc, address, count)
    elif fc == 6:
        assert values is not None
        body = struct.pack(">BBHH", unit, fc, address, values[0])
    else:
        assert values is not None
        body = struct.pack(">BBHHB", unit, fc, address, len(values), 2 * len(values)) + struct.pack(
            ">%dH" % len(values), *values)
    frame = rtu.with_crc(body)
    req = rtu.RequestFramer().feed(frame)
    assert len(req) == 1
    return req[0]


def registers_of(reply: bytes | None) -> list[int]:
    assert reply is not None and rtu.crc_ok(reply) and not reply[1] & 0x80, reply
    n = reply[2] // 2
    return list(struct.unpack(">%dH" % n, reply[3:3 + 2 * n]))


def decode(profile: str, point: str, dev: SimulatedDevice) -> tuple[float, bool]:
    pt = dp.PROFILES[profile]["points"][point]
    regs = registers_of(dev.handle(request(dev.unit_id, pt["function_code"], pt["address"], dp.WIDTH[pt["type"]])))
    return dp.decode_point(profile, point, regs)


def test_heat_meter_floats_round_trip_through_the_profile() -> None:
    dev = SimulatedDevice("heat_meter", 5, "kamstrup_multical_603", {
        "primary_flow_m3h": "flow_v1", "heat_power_kw": "power", "primary_supply_temp_c": "t1",
        "primary_return_temp_c": "t2", "heat_energy_kwh": "energy_e1"})
    dev.update({"primary_flow_m3h": 12.5, "heat_power_kw": 850.0, "primary_supply_temp_c": 95.25,
                "primary_return_temp_c": 48.5, "heat_energy_kwh": 123456.0})
    value, ok = decode("kamstrup_multical_603", "power", dev)
    assert ok and value == pytest.approx(850.0)
    value, ok = decode("kamstrup_multical_603", "flow_v1", dev)
    assert ok and value == pytest.approx(12.5, rel=1e-5)
    # One block read over t1 and t2 (addresses 6..9) as the firmware coalesces it.
    regs = registers_of(dev.handle(request(5, 4, 6, 4)))
    assert dp.decode_point("kamstrup_multical_603", "t1", regs[0:2]) == pytest.approx((95.25, True))
    assert dp.decode_point("kamstrup_multical_603", "t2", regs[2:4]) == pytest.approx((48.5, True))
    # Input registers are not holding registers on this meter.
    reply = dev.handle(request(5, 3, 0, 2))
    assert reply is not None and reply[1] == 0x83 and reply[2] == 2


def test_drive_commands_and_status_bits() -> None:
    writes: list[tuple[str, float]] = []
    dev = SimulatedDevice("pump1", 11, "danfoss_fc", {
        "pump1_run": "control_word", "pump1_speed_cmd_pct": "reference", "pump1_running": "status_running",
        "pump1_fault": "status_trip", "pump1_speed_pct": "actual_speed"}, on_write=lambda s, v: writes.append((s, v)))
    ctw = dp.PROFILES["danfoss_fc"]["points"]["control_word"]
    ref = dp.PROFILES["danfoss_fc"]["points"]["reference"]
    assert decode("danfoss_fc", "control_word", dev) == (0.0, True)  # stopped after power-up
    reply = dev.handle(request(11, 6, ctw["address"], values=dp.encode_point("danfoss_fc", "control_word", 1.0)))
    assert reply is not None and not reply[1] & 0x80
    reply = dev.handle(request(11, 6, ref["address"], values=dp.encode_point("danfoss_fc", "reference", 75.0)))
    assert reply is not None and not reply[1] & 0x80
    assert writes[0] == ("pump1_run", 1.0)
    assert writes[1][0] == "pump1_speed_cmd_pct" and writes[1][1] == pytest.approx(75.0, abs=0.01)
    dev.update({"pump1_running": 1.0, "pump1_fault": 0.0, "pump1_speed_pct": 74.9})
    assert decode("danfoss_fc", "status_running", dev) == (1.0, True)
    assert decode("danfoss_fc", "status_trip", dev) == (0.0, True)
    dev.update({"pump1_running": 0.0, "pump1_fault": 1.0, "pump1_speed_pct": 0.0})
    assert decode("danfoss_fc", "status_running", dev) == (0.0, True)
    assert decode("danfoss_fc", "status_trip", dev) == (1.0, True)


def test_bad_writes_get_device_exceptions_and_change_nothing() -> None:
    writes: list[tuple[str, float]] = []
    dev = SimulatedDevice("valve", 3, "belimo_mod", {"valve_cmd_pct": "setpoint", "valve_position_pct": "relative_position"},
                          on_write=lambda s, v: writes.append((s, v)))
    setpoint = dp.PROFILES["belimo_mod"]["points"]["setpoint"]["address"]
    position = dp.PROFILES["belimo_mod"]["points"]["relative_position"]["address"]
    reply = dev.handle(request(3, 6, setpoint, values=[20000]))  # 200 %: implausible
    assert reply is not None and reply[1] == 0x86 and reply[2] == rtu.EXC_ILLEGAL_VALUE
    reply = dev.handle(request(3, 6, position, values=[5000]))  # read-only
    assert reply is not None and reply[1] == 0x86 and reply[2] == rtu.EXC_ILLEGAL_ADDRESS
    reply = dev.handle(request(3, 16, setpoint, values=[4200, 0]))  # setpoint + override 0: both writable
    assert reply is not None and reply[1] == 16
    assert writes == [("valve_cmd_pct", 42.0)]
    reply = dev.handle(request(3, 1, 0))  # coils: not on this device
    assert reply is not None and reply[1] == 0x81 and reply[2] == rtu.EXC_ILLEGAL_FUNCTION


def test_open_circuit_and_missing_values_serve_the_sentinel() -> None:
    dev = SimulatedDevice("temps", 2, "generic_rtd8_ai4", {"outdoor_temp_c": "temp_1", "secondary_supply_temp_c": "temp_2",
                                                            "secondary_supply_pressure_kpa": "pressure_1"})
    dev.update({"outdoor_temp_c": -12.3, "secondary_supply_temp_c": 55.0, "secondary_supply_pressure_kpa": 350.0})
    assert decode("generic_rtd8_ai4", "temp_1", dev) == pytest.approx((-12.3, True))
    assert decode("generic_rtd8_ai4", "pressure_1", dev) == pytest.approx((350.0, True))
    dev.open_circuit.add("outdoor_temp_c")
    dev.update({"outdoor_temp_c": -12.3, "secondary_supply_temp_c": 55.0, "secondary_supply_pressure_kpa": 350.0})
    assert decode("generic_rtd8_ai4", "temp_1", dev)[1] is False
    assert decode("generic_rtd8_ai4", "temp_2", dev) == pytest.approx((55.0, True))
    dev.update({"outdoor_temp_c": -12.3, "secondary_supply_temp_c": float("nan"), "secondary_supply_pressure_kpa": None})
    assert decode("generic_rtd8_ai4", "temp_2", dev)[1] is False
    assert decode("generic_rtd8_ai4", "pressure_1", dev)[1] is False


def test_block_reads_may_span_small_gaps_only() -> None:
    dev = SimulatedDevice("pump", 4, "grundfos_cim200", {})
    assert len(registers_of(dev.handle(request(4, 3, 300, 3)))) == 3
    assert len(registers_of(dev.handle(request(4, 3, 100, 4)))) == 4  # 101..104 with the gap in between
    reply = dev.handle(request(4, 3, 104, 100))  # from the control block into the status block: too far
    assert reply is not None and reply[1] == 0x83 and reply[2] == rtu.EXC_ILLEGAL_ADDRESS


def test_bad_bindings_are_reported_with_their_names() -> None:
    with pytest.raises(DeviceConfigError) as err:
        SimulatedDevice("x", 1, "belimo_mod", {"valve_cmd_pct": "nope", "valve_position_pct": "setpoint",
                                               "outdoor_temp_c": "relative_position", "bogus": "override"})
    text = str(err.value)
    assert "nope" in text and "bogus" in text
    with pytest.raises(DeviceConfigError):
        SimulatedDevice("x", 1, "no_such_profile", {})


def test_danfoss_answers_exception_2_across_its_undocumented_registers() -> None:
    dev = SimulatedDevice("pump1", 11, "danfoss_fc", {"pump1_running": "status_running"})
    dev.update({"pump1_running": 1.0})
    reply = dev.handle(request(11, 3, 50199, 11))  # STW..MAV in one read: 50201-50209 are not described
    assert reply is not None and reply[1] == 0x83 and reply[2] == rtu.EXC_ILLEGAL_ADDRESS
    assert registers_of(dev.handle(request(11, 3, 50199, 1))) == [1 << 11]
    assert len(registers_of(dev.handle(request(11, 3, 50209, 1)))) == 1
    reply = dev.handle(request(11, 3, 50200, 1))  # 50201 alone: reserved, not described
    assert reply is not None and reply[1] == 0x83


def test_belimo_maps_its_setpoint_into_min_max_and_reports_no_105() -> None:
    written: list[tuple[str, float]] = []
    dev = SimulatedDevice("valve", 3, "belimo_mod", {"valve_cmd_pct": "setpoint", "valve_position_pct": "relative_position"},
                          on_write=lambda sig, v: written.append((sig, v)))
    assert dev.value_of("max_limit") == (100.0, True) and dev.value_of("min_limit") == (0.0, True)  # factory
    dev.set_point("max_limit", 70.0)
    reply = dev.handle(request(3, 6, 0, 1, [9000]))  # setpoint 90 %
    assert reply is not None and not reply[1] & 0x80
    assert written == [("valve_cmd_pct", pytest.approx(63.0))]  # 90 % of 0..70 %
    dev.set_point("cannot_move", 1.0)
    dev.set_point("gear_disengaged", 1.0)
    dev.set_point("gear_disengaged", 0.0)
    assert registers_of(dev.handle(request(3, 3, 104, 3))) == [1 << 2, 0, 7000]
    dev.update({"valve_position_pct": 50.0})  # the plant never touches the diagnostics
    assert dev.value_of("cannot_move") == (1.0, True)


def test_kamstrup_info_code_is_served() -> None:
    dev = SimulatedDevice("heat_meter", 5, "kamstrup_multical_603", {"heat_power_kw": "power"})
    dev.set_point("info_code", 20000.0)
    assert registers_of(dev.handle(request(5, 4, 16, 2))) == [0, 20000]
    assert dp.alarm_active("kamstrup_multical_603", "info_code", dev.value_of("info_code")[0])


def test_uk24mod_gateway_serves_its_own_map() -> None:
    written: list[tuple[str, float]] = []
    dev = SimulatedDevice("valve", 3, "belimo_uk24mod", {"valve_cmd_pct": "setpoint", "valve_position_pct": "actual_position"},
                          on_write=lambda sig, v: written.append((sig, v)))
    assert dev.value_of("actuator_type")[0] >= 1.0  # an actuator is connected: no "actuator lost" alarm
    dev.set_point("max_limit", 80.0)
    assert registers_of(dev.handle(request(3, 3, 11, 4))) == [1, 0, 0, 8000]  # registers 12-15
    reply = dev.handle(request(3, 6, 0, 1, [5000]))
    assert reply is not None and not reply[1] & 0x80 and written == [("valve_cmd_pct", pytest.approx(40.0))]
    reply = dev.handle(request(3, 3, 4, 8))  # registers 5-12: across the undocumented 6-11
    assert reply is not None and reply[1] == 0x83
