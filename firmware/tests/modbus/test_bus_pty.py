"""The bus layer against real pymodbus RTU servers on a real pty pair.

Faults are made on the wire: requests to a "dead" id vanish, replies are CRC-corrupted,
truncated or replaced by garbage by the relay between the two ptys.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import tomllib
from pathlib import Path

import pytest
from heatkeeper.firmware.modbus import ProcessImageIO, example_config, transport, validate_bus_config
from heatkeeper.firmware.modbus.config import EXAMPLE_BUS_TOML
from heatkeeper.firmware.modbus.transport import RtuTransport, open_problem
from heatkeeper.tools.commissioning.devsim import serve, sim_device
from heatkeeper.tools.commissioning.ptyline import PtyLine
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.simulator import DataType, SimData, SimDevice

from .conftest import Rig

FAST = {"timeout_s": 0.05}


async def make_io(rig: Rig, **bus: object) -> ProcessImageIO:
    io = ProcessImageIO(example_config(rig.line.port_a, 19200, **{**FAST, **bus}))
    await io.start()
    return io


async def test_one_cycle_reads_every_signal_in_coalesced_blocks(rig: Rig) -> None:
    io = await make_io(rig, low_blocks_per_cycle=0)
    try:
        inputs = await io.read_cycle(0.0)
        tx = io.lines[0].transport.transactions
        assert inputs["outdoor_temp_c"] == (-5.0, True)
        assert inputs["primary_supply_pressure_kpa"] == (800.0, True)
        assert inputs["pump1_running"] == (1.0, True) and inputs["pump1_fault"] == (0.0, True)
        assert inputs["pump2_speed_pct"] == (40.0, True)
        assert inputs["valve_position_pct"] == (33.0, True)
        assert inputs["heat_power_kw"] == (800.0, True)
        assert inputs["tank_level_pct"] == (70.0, True)
        # a low-priority point alone in its block is not read yet: not ok rather than a made-up value;
        # one next to a high block rides along (make-up volume beside the pump status)
        assert inputs["heat_energy_kwh"][1] is False
        assert inputs["makeup_volume_m3"] == (12.5, True)
        # one block per documented range: io (12 regs), Danfoss STW and MAV apart (50201-50209 are
        # not documented), ABB SW..ACT1 and its fault code (04.01, read every cycle for the drive
        # reset policy), valve No. 1-5 and its No. 105-107 diagnostics, meter, make-up
        assert tx == 9
        # point by point the same signals take one transaction each
        raw = tomllib.loads(EXAMPLE_BUS_TOML)
        raw["bus"][0].update(port=rig.line.port_a, coalesce=False, low_blocks_per_cycle=0, **FAST)
        cfg, problems = validate_bus_config(raw)
        assert cfg is not None, problems
        single = ProcessImageIO(cfg)
        await io.close()
        await single.start()
        try:
            again = await single.read_cycle(0.0)
            # 21 high-priority input points, the valve's 8 diagnostic points, both drives' status
            # words and the ABB fault code, one each
            assert single.lines[0].transport.transactions == 32
            expected = {k: v for k, v in inputs.items() if v[1] and k != "makeup_volume_m3"}
            assert {k: v for k, v in again.items() if v[1]} == expected
        finally:
            await single.close()
    finally:
        await io.close()


async def test_low_priority_points_round_robin(rig: Rig) -> None:
    # uncoalesced, the low-priority points (meter energy and info code, make-up volume) are three
    # blocks that take turns
    io = await make_io(rig, low_blocks_per_cycle=1, stale_s=5.0, coalesce=False)
    try:
        per_cycle = []
        for i in range(3):
            inputs = await io.read_cycle(float(i))
            per_cycle.append({k for k in ("heat_energy_kwh", "makeup_volume_m3") if inputs[k][1]})
        assert len(per_cycle[0]) == 1 and per_cycle[2] == {"heat_energy_kwh", "makeup_volume_m3"}
        assert io.telemetry()["heat_meter_info_code"] == 0.0
        assert inputs["heat_energy_kwh"] == (123456.0, True)
        assert inputs["makeup_volume_m3"][0] == 12.5
        late = await io.read_cycle(20.0)  # energy last read long ago: stale -> not ok
        stale = [k for k in ("heat_energy_kwh", "makeup_volume_m3") if not late[k][1]]
        assert len(stale) == 1
    finally:
        await io.close()


async def test_dead_device_backs_off_and_others_keep_polling(rig: Rig) -> None:
    rig.drop_ids.add(4)  # the valve actuator goes silent
    io = await make_io(rig, low_blocks_per_cycle=0, backoff_base_s=1.0, backoff_max_s=8.0)
    try:
        tx = io.lines[0].transport
        attempts = []
        for now_s in (0.0, 0.5, 1.0, 1.5, 2.5, 3.0, 5.0):
            before = io.health()["valve"]["requests"]
            inputs = await io.read_cycle(now_s)
            attempts.append(io.health()["valve"]["requests"] - before)
            assert inputs["valve_position_pct"][1] is False
            assert inputs["outdoor_temp_c"] == (-5.0, True)
            assert inputs["heat_power_kw"] == (800.0, True)
        # retried at 0, 1 (after 1 s), 3 (after 2 s); then backed off for 4 s
        assert attempts == [1, 0, 1, 0, 0, 1, 0]
        h = io.health()["valve"]
        assert h["timeouts"] == 3 and h["backed_off"] is True and h["available"] is False
        assert h["last_error"].startswith("timeout")
        assert io.health()["io_module"]["timeouts"] == 0
        rig.drop_ids.clear()
        inputs = await io.read_cycle(7.0)
        assert inputs["valve_position_pct"] == (33.0, True)
        assert io.health()["valve"]["available"] is True
        assert tx.transactions > 0
    finally:
        await io.close()


async def test_corrupted_frames_become_counters_and_not_ok(rig: Rig) -> None:
    # Every device answers here (mangled or not): a generous timeout keeps a reply that a loaded
    # machine delivers late from being counted as a timeout instead of a bad frame.
    io = await make_io(rig, low_blocks_per_cycle=0, backoff_base_s=0.1, timeout_s=0.3)
    try:
        for uid, kind, counter in ((5, "crc", "crc_errors"), (2, "truncate", "framing_errors"),
                                   (4, "garbage", "framing_errors")):
            rig.mangle = {uid: kind}
            name = {5: "heat_meter", 2: "pump1_drive", 4: "valve"}[uid]
            inputs = await io.read_cycle(10.0 * uid)
            assert io.health()[name][counter] == 1, (kind, io.health()[name])
            assert io.health()[name]["last_error"].startswith(counter.split("_")[0])
            bound = [s for s, v in inputs.items() if v[1] is False]
            assert bound, kind
            assert inputs["outdoor_temp_c"] == (-5.0, True)
        rig.mangle = {}
        inputs = await io.read_cycle(100.0)
        assert all(ok for sig, (_v, ok) in inputs.items() if sig not in ("heat_energy_kwh", "makeup_volume_m3"))
    finally:
        await io.close()


async def test_exception_responses_are_counted_without_back_off(rig: Rig) -> None:
    await rig.server.shutdown()  # type: ignore[attr-defined]
    # A valve whose firmware lacks the position register: reads of it answer exception 2.
    partial = SimDevice(id=4, simdata=[SimData(0, count=1, values=[0, 0], datatype=DataType.REGISTERS)])
    rig.server = await serve(rig.line.port_b, [partial])
    transport = RtuTransport(rig.line.port_a, timeout_s=0.05)
    assert await transport.open()
    try:
        reply = await transport.read(4, 3, 4, 1)
        assert reply.ok is False and reply.error == "exception" and reply.exception_code == 2
        reply = await transport.read(4, 3, 0, 2)
        assert reply.ok and reply.registers == [0, 0]
    finally:
        transport.close()
    io = await make_io(rig, low_blocks_per_cycle=0)
    try:
        inputs = await io.read_cycle(0.0)
        h = io.health()["valve"]
        assert inputs["valve_position_pct"][1] is False
        # the position read (No. 1-5) and the diagnostics read (No. 105-107): exception 2 each
        assert h["exceptions"] == {"2": 2} and h["backed_off"] is False
        assert h["exceptions_by_point"]["relative_position"] == 1 and h["exceptions_by_point"]["cannot_move"] == 1
        # the other devices are gone from this server: pymodbus answers unknown ids with exception 4
        assert io.health()["io_module"]["exceptions"] == {"4": 1}
    finally:
        await io.close()


async def test_writes_are_confirmed_refreshed_and_rejected(rig: Rig) -> None:
    io = await make_io(rig, low_blocks_per_cycle=0, refresh_s=10.0)
    try:
        await io.read_cycle(0.0)
        out = {"pump1_run": 1.0, "pump1_speed_cmd_pct": 60.0, "valve_cmd_pct": 42.0, "pump2_run": 1.0,
               "pump2_speed_cmd_pct": 55.0}
        await io.write_outputs(out, 0.0)
        h = io.health()
        assert h["pump1_drive"]["writes"] == 2 and h["pump2_drive"]["writes"] == 1  # ABB CW+REF1 in one FC16
        assert h["valve"]["writes"] == 1 and h["valve"]["write_mismatches"] == 0
        regs = await rig.server.async_getValues(4, 3, 0, 1)  # type: ignore[attr-defined]
        assert list(regs) == [4200]
        abb = await rig.server.async_getValues(3, 3, 0, 2)  # type: ignore[attr-defined]
        assert list(abb) == [0x047F, 11000]  # the ABB reports "operation enabled": the run word at once
        await io.write_outputs(out, 5.0)  # unchanged and fresh: nothing written
        assert io.health()["valve"]["writes"] == 1 and io.health()["pump2_drive"]["writes"] == 1
        await io.write_outputs({**out, "valve_cmd_pct": 43.0}, 6.0)
        assert io.health()["valve"]["writes"] == 2 and io.health()["pump1_drive"]["writes"] == 2
        await io.write_outputs({**out, "valve_cmd_pct": 43.0}, 16.0)  # refresh due
        assert io.health()["pump1_drive"]["writes"] == 4
        await io.write_outputs({**out, "valve_cmd_pct": 150.0}, 17.0)  # impossible command
        h = io.health()["valve"]
        assert h["write_rejects"] == 1 and "valve_cmd_pct=150.0" in h["last_error"]
        assert list(await rig.server.async_getValues(4, 3, 0, 1)) == [4300]  # type: ignore[attr-defined]
    finally:
        await io.close()


async def test_bus_wide_silence_reopens_the_port(rig: Rig) -> None:
    rig.drop_ids.update(range(1, 7))
    io = await make_io(rig, low_blocks_per_cycle=0, reopen_after_cycles=2, backoff_base_s=0.1, backoff_max_s=1.0)
    try:
        for i in range(3):
            inputs = await io.read_cycle(10.0 * i)
            assert not any(ok for _v, ok in inputs.values())
        assert io.health()["valve"]["bus_reopens"] == 1
        rig.drop_ids.clear()
        inputs = await io.read_cycle(100.0)
        assert inputs["outdoor_temp_c"] == (-5.0, True)
        assert io.health()["valve"]["bus_connected"] is True
    finally:
        await io.close()


async def test_missing_port_is_not_fatal_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    cfg = example_config("/dev/nonexistent-heatkeeper-tty", 19200, **FAST)
    io = ProcessImageIO(cfg)
    with caplog.at_level(logging.WARNING, logger="heatkeeper.modbus"):
        await io.start()
    try:
        inputs = await io.read_cycle(0.0)
        assert inputs and not any(ok for _v, ok in inputs.values())
        assert io.health()["valve"]["bus_connected"] is False
        # the engineer at the box reads what to do: the system's reason, not "lost"
        assert io.health()["valve"]["last_error"] == (
            "disconnected: port /dev/nonexistent-heatkeeper-tty not open (No such file or directory: is the adapter "
            "plugged in? (ls /dev/serial/by-id/))")
        assert [r.getMessage() for r in caplog.records if "nonexistent" in r.getMessage()] == [
            "modbus bus rs485-1: port /dev/nonexistent-heatkeeper-tty cannot be opened (No such file or directory: is "
            "the adapter plugged in? (ls /dev/serial/by-id/)); trying again each cycle"]
        await io.write_outputs({"valve_cmd_pct": 10.0}, 0.0)
    finally:
        await io.close()


def test_why_a_port_does_not_open_is_the_systems_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_problem(str(tmp_path / "ttyUSB9")).startswith("No such file or directory")
    assert open_problem(str(tmp_path)) == "Is a directory"
    assert open_problem("bad\0name") == "not a device path"
    with monkeypatch.context() as m:  # a user outside the dialout group (root here opens anything)
        def refused(path: str, flags: int) -> int:
            raise PermissionError(errno.EACCES, "Permission denied", path)

        m.setattr(transport.os, "open", refused)
        assert open_problem("/dev/ttyS0") == ("Permission denied: the station's user needs read-write access (the "
                                              "dialout group)")
    assert open_problem("socket://127.0.0.1:1", ConnectionRefusedError(111, "Connection refused")) == (
        "ConnectionRefusedError: [Errno 111] Connection refused")
    with PtyLine(baudrate=9600) as line:  # a device that opens: the driver's refusal is all that is left to say
        assert open_problem(line.port_a) == "the serial driver refused it (settings: baud rate, parity, stop bits)"


async def test_the_t35_gap_is_enforced_on_a_wire_speed_line() -> None:
    # The throttled line counts requests that start less than t3.5 after a reply ended.
    with PtyLine(baudrate=38400) as line:
        server = await serve(line.port_b, [sim_device(4, "belimo_mod", {"relative_position": 10.0})], 38400)
        try:
            raw = AsyncModbusSerialClient(line.port_a, framer=FramerType.RTU, baudrate=38400, timeout=0.5, retries=0)
            assert await raw.connect()
            for _ in range(10):
                assert not (await raw.read_holding_registers(4, count=1, device_id=4)).isError()
            raw.close()
            await asyncio.sleep(0.01)  # the line is quiet before our transport's first request
            bare = line.gap_violations
            ours = RtuTransport(line.port_a, baudrate=38400, timeout_s=0.5)
            assert await ours.open()
            for _ in range(10):
                assert (await ours.read(4, 3, 4, 1)).registers == [1000]
            ours.close()
            # pymodbus alone sends back-to-back (9-10 of 10 on a quiet machine, fewer when the CPU is
            # busy); at least one proves the line detects violations, so "none with ours" means something.
            assert bare >= 1
            assert line.gap_violations == bare  # with the transport: none
        finally:
            await server.shutdown()


async def test_an_internal_error_degrades_the_cycle_instead_of_raising(rig: Rig) -> None:
    io = await make_io(rig, low_blocks_per_cycle=0)
    try:
        assert (await io.read_cycle(0.0))["outdoor_temp_c"] == (-5.0, True)

        async def broken(now_s: float) -> None:
            raise RuntimeError("planner bug")

        io.lines[0].read_cycle = broken  # type: ignore[method-assign]
        inputs = await io.read_cycle(1.0)
        assert inputs and not any(ok for _v, ok in inputs.values())
        assert "internal: RuntimeError: planner bug" in io.health()["valve"]["last_error"]
    finally:
        await io.close()


async def test_a_vanishing_port_makes_values_not_ok_and_is_logged_once(rig: Rig, caplog) -> None:  # type: ignore[no-untyped-def]
    io = await make_io(rig, low_blocks_per_cycle=0)
    try:
        assert (await io.read_cycle(0.0))["valve_position_pct"] == (33.0, True)
        rig.line.close()  # the USB adapter is unplugged
        for now_s in (1.0, 2.0, 3.0):
            inputs = await io.read_cycle(now_s)
            assert not any(ok for _v, ok in inputs.values())
        await io.write_outputs({"valve_cmd_pct": 20.0}, 3.0)
        h = io.health()["valve"]
        assert h["bus_connected"] is False and h["last_error"].startswith("disconnected")
        assert h["timeouts"] == 0 and h["backed_off"] is False  # the line's fault, not the device's
        lost = [r for r in caplog.records if "lost" in r.getMessage()]
        assert len(lost) == 1
    finally:
        await io.close()
