"""Device behaviour the bus layer must honour, with real RTU frames on a pty pair.

Each test drives the real ProcessImageIO against pymodbus RTU servers that serve only the
blocks each profile documents (exception 2 elsewhere), as real devices do.
"""

from __future__ import annotations

import logging

import pytest
from heatkeeper.firmware.modbus import ProcessImageIO, example_config
from heatkeeper.firmware.modbus.transport import FRAMING, RtuTransport
from heatkeeper.tools.commissioning.devsim import serve, sim_device
from pymodbus.constants import ExcCodes

from .conftest import DEMO_VALUES, Rig

# replies come within milliseconds; a generous timeout keeps a loaded machine from turning them into timeouts
FAST = {"timeout_s": 1.0, "low_blocks_per_cycle": 0}


async def make_io(rig: Rig, **bus: object) -> ProcessImageIO:
    io = ProcessImageIO(example_config(rig.line.port_a, 19200, **{**FAST, **bus}))
    await io.start()
    return io


def alarms(messages: list[tuple[str, dict]]) -> dict[str, str]:
    return {body["code"]: body["state"] for kind, body in messages if kind == "alarm"}


async def test_a_reply_with_another_function_code_is_a_framing_error(rig: Rig) -> None:
    rig.mangle[1] = "fc4"  # the io module answers FC3 with a well-formed FC4 reply
    transport = RtuTransport(rig.line.port_a, timeout_s=1.0)
    assert await transport.open()
    try:
        reply = await transport.read(1, 3, 0, 2)
        assert reply.ok is False and reply.error == FRAMING and "function code 3" in reply.detail
        assert reply.registers == []
        rig.mangle.clear()
        assert (await transport.read(1, 3, 0, 2)).ok
    finally:
        transport.close()


async def test_danfoss_statuses_survive_a_drive_that_refuses_undocumented_registers(rig: Rig) -> None:
    # The simulated FC serves only 50000, 50010, 50200 and 50210 (and 16100/16900): an 11-register
    # read from 50199 answers exception 2, as the Design Guide allows.
    transport = RtuTransport(rig.line.port_a, timeout_s=1.0)
    assert await transport.open()
    try:
        reply = await transport.read(2, 3, 50199, 11)
        assert reply.error == "exception" and reply.exception_code == 2
    finally:
        transport.close()
    io = await make_io(rig)
    try:
        for now_s in (0.0, 1.0):
            inputs = await io.read_cycle(now_s)
            assert inputs["pump1_running"] == (1.0, True) and inputs["pump1_fault"] == (0.0, True)
            assert inputs["pump1_speed_pct"] == (50.0, True)
        assert io.health()["pump1_drive"]["exceptions"] == {}
    finally:
        await io.close()


async def test_belimo_setpoint_is_commanded_within_the_actuators_min_max(rig: Rig) -> None:
    await rig.server.async_setValues(4, 3, 106, [7000])  # type: ignore[attr-defined]  # Max (No. 107) = 70 %
    io = await make_io(rig)
    try:
        await io.read_cycle(0.0)
        assert io.telemetry()["valve_max_limit"] == 70.0
        await io.write_outputs({"valve_cmd_pct": 63.0}, 0.0)
        # 63 % of the stroke is 90 % of the actuator's 0..70 % range
        assert list(await rig.server.async_getValues(4, 3, 0, 1)) == [9000]  # type: ignore[attr-defined]
        h = io.health()["valve"]
        assert h["writes"] == 1 and h["write_mismatches"] == 0  # read-back compared with what was meant
        assert io.take_messages() == []
        await io.write_outputs({"valve_cmd_pct": 90.0}, 1.0)  # beyond Max: the nearest end, and an event
        assert list(await rig.server.async_getValues(4, 3, 0, 1)) == [10000]  # type: ignore[attr-defined]
        events = [body for kind, body in io.take_messages() if kind == "event"]
        assert events and events[0]["kind"] == "device_range" and events[0]["max"] == 70.0
        # Max back to 100 %: the setpoint is the position again
        await rig.server.async_setValues(4, 3, 106, [10000])  # type: ignore[attr-defined]
        await io.read_cycle(2.0)
        await io.write_outputs({"valve_cmd_pct": 42.0}, 2.0)
        assert list(await rig.server.async_getValues(4, 3, 0, 1)) == [4200]  # type: ignore[attr-defined]
    finally:
        await io.close()


async def test_belimo_setpoint_is_held_while_min_max_are_unknown(rig: Rig) -> None:
    await rig.server.async_setValues(4, 3, 106, [0])  # type: ignore[attr-defined]  # Max 0: implausible (> 20 %)
    io = await make_io(rig)
    try:
        await io.read_cycle(0.0)
        await io.write_outputs({"valve_cmd_pct": 63.0}, 0.0)
        assert io.health()["valve"]["writes"] == 0
        assert "max_limit are not known" in io.health()["valve"]["last_error"]
    finally:
        await io.close()


async def test_blocked_actuator_and_meter_info_code_are_alarmed_and_reported(rig: Rig) -> None:
    io = await make_io(rig, low_blocks_per_cycle=5)
    try:
        await io.read_cycle(0.0)
        assert alarms(io.take_messages()) == {}
        t = io.telemetry()
        assert t["valve_cannot_move"] == 0.0 and t["valve_malfunction"] == 0.0 and t["heat_meter_info_code"] == 0.0
        # No. 105: b2 actuator cannot move, b9 gear disengaged; the meter flags t1 below range
        await rig.server.async_setValues(4, 3, 104, [(1 << 2) | (1 << 9)])  # type: ignore[attr-defined]
        await rig.server.async_setValues(5, 4, 16, [0x0000, 20000])  # type: ignore[attr-defined]
        await io.read_cycle(1.0)
        raised = alarms(io.take_messages())
        assert raised == {"valve_actuator_blocked": "active", "valve_actuator_gear_disengaged": "active",
                          "heat_meter_meter_info_code": "active"}
        t = io.telemetry()
        assert t["valve_cannot_move"] == 1.0 and t["valve_malfunction"] == float((1 << 2) | (1 << 9))
        assert t["heat_meter_info_code"] == 20000.0
        assert sorted(io.health()["valve"]["alarms"]) == ["valve_actuator_blocked", "valve_actuator_gear_disengaged"]
        await io.read_cycle(2.0)
        assert io.take_messages() == []  # raised once, not every cycle
        await rig.server.async_setValues(4, 3, 104, [0])  # type: ignore[attr-defined]
        await io.read_cycle(3.0)
        assert alarms(io.take_messages()) == {"valve_actuator_blocked": "cleared",
                                              "valve_actuator_gear_disengaged": "cleared"}
    finally:
        await io.close()


async def test_rejected_writes_are_counted_logged_once_and_alarmed_when_they_persist(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    await rig.server.shutdown()  # type: ignore[attr-defined]

    async def refuse_setpoints(function_code, start_address, address, count, current_registers, set_values):  # type: ignore[no-untyped-def]
        if set_values is not None and address == 0:
            return ExcCodes.ILLEGAL_VALUE  # the actuator refuses every setpoint write
        return None

    prof, vals = DEMO_VALUES[4]
    devices = [sim_device(uid, p, v) for uid, (p, v) in DEMO_VALUES.items() if uid != 4]
    devices.append(sim_device(4, prof, vals, action=refuse_setpoints))
    rig.server = await serve(rig.line.port_b, devices)
    io = await make_io(rig, error_alarm_s=30.0, error_log_interval_s=60.0)
    caplog.set_level(logging.WARNING, logger="heatkeeper.modbus")
    try:
        for i in range(40):
            now_s = float(i)
            await io.read_cycle(now_s)
            await io.write_outputs({"valve_cmd_pct": 40.0 + (i % 2)}, now_s)
        h = io.health()["valve"]
        assert h["write_rejects"] == 40 and h["exceptions"] == {"3": 40}
        assert h["write_rejects_by_point"] == {"setpoint": 40} and h["exceptions_by_point"] == {"setpoint": 40}
        t = io.telemetry()
        assert t["valve_modbus_write_rejects"] == 40 and t["valve_setpoint_write_rejects"] == 40
        assert t["modbus_exceptions"] == 40 and t["valve_setpoint_exceptions"] == 40
        lines = [r.getMessage() for r in caplog.records if "exception 3" in r.getMessage()]
        assert len(lines) == 1 and "write setpoint: exception 3" in lines[0]  # once, then rate-limited
        assert alarms(io.take_messages()) == {"valve_modbus_errors": "active"}
        for i in range(40, 75):  # the actuator accepts again (no more writes): quiet for error_alarm_s
            await io.read_cycle(float(i))
        assert alarms(io.take_messages()) == {"valve_modbus_errors": "cleared"}
        assert any("x40" in r.getMessage() or "errors in the last" in r.getMessage() for r in caplog.records)
    finally:
        await io.close()


async def test_even_parity_on_a_pty_opens_without_parity(rig: Rig) -> None:
    # a Danfoss line at its factory 8E1 against the simulators' pty: Linux refuses parity on a
    # pty (termios EINVAL), which carries no parity bit anyway; the line opens and works
    transport = RtuTransport(rig.line.port_a, parity="E", timeout_s=1.0)
    try:
        assert await transport.open() is True
        assert transport.parity == "N"
        assert (await transport.read(2, 3, 50199, 1)).ok
    finally:
        transport.close()
