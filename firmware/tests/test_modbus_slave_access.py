"""The local Modbus TCP slave as a control surface: read-only by default (a write answers
exception 1 and raises an alarm and a rate-limited event), writes only when enabled, clients
only from allow_from (checked at connect). A real station in-process, a real pymodbus client
over TCP; a client on 127.0.0.2 stands for the HMI, one on 127.0.0.1 for anyone else."""

from __future__ import annotations

import asyncio
import json
import math
import struct
import tomllib
from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.firmware import modbus_slave  # noqa: E402
from heatkeeper.firmware.config import validate_config  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import wait_until  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402
from pymodbus.exceptions import ModbusException  # noqa: E402

from .station_setup import EXAMPLE, station_toml  # noqa: E402
from .test_station import running_station  # noqa: E402

ILLEGAL_FUNCTION = 1


def f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def to_f32(regs: Sequence[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", regs[0], regs[1]))[0])


def uplinks(station: Any, kind: str) -> list[dict]:
    """Every alarm or event of one kind the station committed (its journal keeps them all)."""
    return [r["body"] for r in station.journal.read_all() if r["kind"] == kind]


async def client_from(source: str, port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, source_address=(source, 0))
    await client.connect()
    return client


async def test_read_only_by_default_refused_writes_are_exceptions_and_alarms(tmp_path: Any) -> None:
    path, raw = station_toml(tmp_path, 1, mqtt={"enabled": False})
    port = raw["modbus_slave"]["port"]
    async with running_station(path) as station:
        client = await client_from("127.0.0.1", port)
        try:
            assert not (await client.read_input_registers(0, count=20, device_id=1)).isError()  # reads work
            mode_before = station.last_out.get("mode_name")
            for _ in range(3):
                res = await client.write_registers(0, f32(19.5), device_id=1)
                assert res.isError() and res.exception_code == ILLEGAL_FUNCTION
            for address, value in ((14, 1), (15, 0), (16, 1)):  # manual mode, alarm ack, clear leases
                res = await client.write_register(address, value, device_id=1)
                assert res.isError() and res.exception_code == ILLEGAL_FUNCTION
            back = await client.read_holding_registers(0, count=2, device_id=1)
            assert math.isnan(to_f32(back.registers))  # nothing was applied
            await asyncio.sleep(0.5)
            assert station.last_out.get("mode_name") == mode_before
            assert station.slave.writes_ok == 0 and station.slave.writes_refused == 6
        finally:
            client.close()
        await wait_until(lambda: uplinks(station, "alarm"), what="refusal alarm queued")
    alarms = [a for a in uplinks(station, "alarm") if a.get("code") == "local_write_refused"]
    assert len(alarms) == 1 and alarms[0]["state"] == "active"
    events = [e for e in uplinks(station, "event") if e.get("kind") == "local_write_refused"]
    assert len(events) == 1 and events[0]["reason"] == "writes_disabled"  # six refusals, one event per minute
    assert not [e for e in uplinks(station, "event") if e.get("kind") == "local_write"]  # no command was tried


async def test_refusal_alarm_clears_after_a_quiet_spell(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modbus_slave, "REFUSAL_ALARM_CLEAR_S", 1.0)
    path, raw = station_toml(tmp_path, 1, mqtt={"enabled": False})
    async with running_station(path) as station:
        client = await client_from("127.0.0.1", raw["modbus_slave"]["port"])
        try:
            assert (await client.write_register(16, 1, device_id=1)).exception_code == ILLEGAL_FUNCTION
        finally:
            client.close()
        await wait_until(lambda: not station.slave.refusal_alarm, what="refusal alarm cleared")
        await wait_until(lambda: len([a for a in uplinks(station, "alarm") if a.get("code") == "local_write_refused"]) == 2,
                         what="cleared alarm committed")
    states = [a["state"] for a in uplinks(station, "alarm") if a.get("code") == "local_write_refused"]
    assert states == ["active", "cleared"]


async def test_writes_when_enabled_only_from_allowed_addresses(tmp_path: Any) -> None:
    path, raw = station_toml(tmp_path, 1, mqtt={"enabled": False},
                             modbus_slave={"writes_enabled": True, "allow_from": ["127.0.0.2/32", "10.1.0.0/16"]})
    port = raw["modbus_slave"]["port"]
    async with running_station(path) as station:
        hmi = await client_from("127.0.0.2", port)
        try:
            ok = await hmi.write_registers(0, f32(19.5), device_id=1)
            assert not ok.isError()
            assert to_f32((await hmi.read_holding_registers(0, count=2, device_id=1)).registers) == 19.5
            coil = await hmi.write_coil(0, True, device_id=1)  # no coils: refused even with writes on
            assert coil.isError() and coil.exception_code == ILLEGAL_FUNCTION
        finally:
            hmi.close()
        stranger = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0, reconnect_delay=0)
        await stranger.connect()
        try:
            with pytest.raises(ModbusException):
                res = await stranger.write_registers(0, f32(23.0), device_id=1)
                assert res.isError()  # not reached: the connection was closed before anything was served
        finally:
            stranger.close()
        await wait_until(lambda: station.slave.connections_refused >= 1, what="refused connection counted")
        assert station.slave.writes_ok == 1
        assert to_f32(station.slave.hr[0:2]) == 19.5  # the stranger's 23.0 never arrived
    events = [e for e in uplinks(station, "event") if e.get("kind") == "local_write_refused"]
    assert {e["reason"] for e in events} == {"write_function_refused", "address_not_allowed"}
    assert any(e.get("peer") == "127.0.0.1" for e in events)


def test_config_lists_bad_access_settings(tmp_path: Any) -> None:
    with open(EXAMPLE, "rb") as fh:
        base = tomllib.load(fh)
    raw = json.loads(json.dumps(base))
    raw["modbus_slave"].update(allow_from=["192.168.1.300", "10.0.0.0/33", "hmi.local", "192.168.20.0/24"],
                               writes_enabled="yes")
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is None
    for bad in ("192.168.1.300", "10.0.0.0/33", "hmi.local"):
        assert any("modbus_slave.allow_from" in p and bad in p for p in problems), (bad, problems)
    assert not any("192.168.20.0/24" in p for p in problems)
    assert any(p.startswith("modbus_slave.writes_enabled='yes'") for p in problems)
    raw = json.loads(json.dumps(base))
    raw["modbus_slave"].update(host="0.0.0.0", writes_enabled=True)
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is None and any("allow_from" in p and "0.0.0.0" in p for p in problems)
    raw["modbus_slave"]["allow_from"] = ["192.168.10.20"]
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is not None, problems
    assert cfg.modbus_slave.writes_enabled is True and cfg.modbus_slave.allow_from == ("192.168.10.20",)
    default, _ = validate_config(json.loads(json.dumps(base)), str(tmp_path / "station.toml"))
    assert default is not None and default.modbus_slave.writes_enabled is False


def test_address_filter() -> None:
    f = modbus_slave.AddressFilter(["192.168.10.0/24", "10.0.0.5", "fd00::/8"])
    assert f.allows("192.168.10.77") and f.allows("10.0.0.5") and f.allows("::ffff:192.168.10.1") and f.allows("fd12::1")
    assert not f.allows("192.168.11.1") and not f.allows("10.0.0.6") and not f.allows("") and not f.allows("garbage")
    assert modbus_slave.AddressFilter([]).allows("203.0.113.9")
