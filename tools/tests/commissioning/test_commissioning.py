"""The commissioning commands against pymodbus RTU servers on a real pty pair."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from heatkeeper.core.device_profiles import PROFILES
from heatkeeper.tools.commissioning import probe, pump_test, scan, stroke_test
from heatkeeper.tools.commissioning.devsim import serve, sim_device
from heatkeeper.tools.commissioning.ptyline import PtyLine
from pymodbus.simulator import DataType, SimData, SimDevice


class ValveSim:
    """Belimo-style actuator: position runs toward the setpoint at `rate_pct_s`."""

    def __init__(self, rate_pct_s: float, stuck: bool = False, max_pct: float = 100.0):
        self.rate, self.stuck, self.max_pct = rate_pct_s, stuck, max_pct
        self.pos, self.target, self.t = 50.0, 50.0, time.monotonic()

    def _advance(self) -> None:
        now = time.monotonic()
        if not self.stuck:
            step = self.rate * (now - self.t)
            self.pos = min(self.pos + step, self.target) if self.target > self.pos else max(self.pos - step, self.target)
        self.t = now

    async def action(self, fc: int, start: int, address: int, count: int, regs: list[int], values: Any) -> None:
        self._advance()
        if values is not None and address == 0:
            self.target = values[0] / 100.0 * self.max_pct / 100.0  # Belimo No. 1: between Min (0) and Max
        if address <= 4 < address + count:
            regs[4 - start] = int(round(self.pos * 100))
        return None


class DriveSim:
    """Drive whose running bit follows the control word (Danfoss FC map)."""

    def __init__(self, trips: bool = False):
        self.run, self.trips = False, trips
        self.ctw = PROFILES["danfoss_fc"]["points"]["control_word"]["address"]
        self.stw = PROFILES["danfoss_fc"]["points"]["status_running"]["address"]

    async def action(self, fc: int, start: int, address: int, count: int, regs: list[int], values: Any) -> None:
        if values is not None and address == self.ctw:
            self.run = values[0] == 0x047C
        if address <= self.stw < address + count:  # regs is the device's whole register span from `start`
            regs[self.stw - start] = ((1 << 11) if self.run else 0) | ((1 << 3) if self.trips and self.run else 0)
        return None


@pytest.fixture
async def bus() -> AsyncIterator[dict[str, Any]]:
    present = {2, 3, 4, 5}
    line = PtyLine(tamper=lambda d, b: b if d == "b2a" or (b and b[0] in present) else None).start()
    valve, duty, standby = ValveSim(250.0), DriveSim(), DriveSim(trips=True)
    devices = [sim_device(2, "danfoss_fc", action=duty.action), sim_device(3, "danfoss_fc", action=standby.action),
               sim_device(4, "belimo_mod", {"relative_position": 50.0, "setpoint": 50.0, "max_limit": 100.0},
                          action=valve.action),
               sim_device(5, "kamstrup_multical_603", {"t1": 95.0, "t2": 55.0, "power": 800.0, "flow_v1": 12.0})]
    server = await serve(line.port_b, devices)
    try:
        yield {"port": line.port_a, "valve": valve, "duty": duty, "standby": standby}
    finally:
        await server.shutdown()
        line.close()


def parse(module: Any, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


async def test_scan_finds_and_names_devices(bus: dict[str, Any]) -> None:
    found = await scan.scan(bus["port"], [19200], list(range(1, 8)), "N", 0.05)
    assert [f["unit_id"] for f in found] == [2, 3, 4, 5]
    by_id = {f["unit_id"]: f for f in found}
    assert by_id[4]["candidates"][0] == {"profile": "belimo_mod", "match": "signature", "score": 1.0,
                                         "points_ok": "11/11"}
    assert by_id[2]["candidates"][0]["profile"] == "danfoss_fc"
    assert by_id[2]["candidates"][0]["match"] == "signature"
    assert by_id[5]["candidates"][0]["profile"] == "kamstrup_multical_603"
    assert by_id[5]["candidates"][0]["match"] == "signature"
    assert all(c["match"] == "fits" for c in by_id[5]["candidates"][1:])  # only generic modules may also fit
    assert by_id[2]["answer"] == "exception 2"  # nothing at address 0 on a Danfoss drive: still there


async def test_probe_shows_every_interpretation(bus: dict[str, Any]) -> None:
    args = parse(probe, ["--port", bus["port"], "--id", "5", "--address", "4", "--count", "6", "--fc", "4",
                         "--profile", "kamstrup_multical_603", "--json", "--timeout", "0.1"])
    out = await probe._probe(args)
    assert out["ok"] is True
    rows = {r["address"]: r for r in out["rows"]}
    assert rows[6]["float32_big"] == 95.0 and rows[6]["point"] == "t1" and rows[6]["ok"] is True
    assert rows[4]["float32_big"] == 800.0 and rows[4]["point"] == "power"
    assert rows[6]["float32_little"] != 95.0  # the other word order is shown, and is wrong here
    assert rows[6]["number"] == 7 and rows[6]["hex"] == "0x42BE"
    assert "float32_big" not in rows[9]  # last register: no pair


async def test_stroke_test_measures_run_times(bus: dict[str, Any]) -> None:
    transport = await stroke_test.open_line(bus["port"], 19200, "N", 0.1)
    try:
        result = await stroke_test.stroke_test(transport, 4, "belimo_mod", band_pct=1.0, max_run_s=5.0, poll_s=0.02)
    finally:
        transport.close()
    assert result["ok"], result
    # 100 % at 250 %/s is 0.4 s of travel; polling and bus time add a little
    assert 0.3 <= result["open"]["run_s"] <= 2.0 and 0.3 <= result["close"]["run_s"] <= 2.0


async def test_stroke_test_reports_a_stuck_valve(bus: dict[str, Any]) -> None:
    bus["valve"].stuck = True
    transport = await stroke_test.open_line(bus["port"], 19200, "N", 0.1)
    try:
        result = await stroke_test.stroke_test(transport, 4, "belimo_mod", max_run_s=0.3, poll_s=0.05)
    finally:
        transport.close()
    assert result["ok"] is False and "not within" in result["settle"]["error"]
    assert result["settle"]["position_pct"] == 50.0


async def test_pump_test_runs_duty_then_standby(bus: dict[str, Any]) -> None:
    transport = await pump_test.open_line(bus["port"], 19200, "N", 0.1)
    try:
        result = await pump_test.pump_test(transport, (2, "danfoss_fc"), (3, "danfoss_fc"), 40.0, 0.2, 2.0, 0.05)
    finally:
        transport.close()
    assert result["duty"]["ok"] is True and result["duty"]["held_ok"] is True
    assert result["standby"]["ok"] is False and "fault seen" in result["standby"]["error"]  # the standby trips
    assert result["ok"] is False
    assert bus["duty"].run is False and bus["standby"].run is False  # both left stopped


async def test_cli_commands_end_to_end(bus: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, scan.run, parse(scan, ["--port", bus["port"], "--baud", "19200", "--ids",
                                                                   "1-5", "--timeout", "0.05", "--json"]))
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and [d["unit_id"] for d in out["devices"]] == [2, 3, 4, 5]
    code = await loop.run_in_executor(None, probe.run, parse(probe, ["--port", bus["port"], "--id", "4", "--address",
                                                                     "0", "--count", "5", "--profile", "belimo_mod"]))
    text = capsys.readouterr().out
    assert code == 0 and "relative_position" in text and "setpoint" in text
    for module, argv in ((scan, ["--port", bus["port"], "--ids", "0-300"]), (scan, ["--port", bus["port"], "--baud", "12"]),
                         (probe, ["--port", bus["port"], "--id", "4", "--address", "0", "--count", "500"]),
                         (probe, ["--port", bus["port"], "--id", "4", "--address", "0", "--profile", "nope"]),
                         (stroke_test, ["--port", bus["port"], "--id", "4", "--profile", "danfoss_fc"]),
                         (pump_test, ["--port", bus["port"], "--duty-id", "2", "--standby-id", "2"]),
                         (probe, ["--port", "/dev/nonexistent-hk", "--id", "4", "--address", "0"])):
        code = await loop.run_in_executor(None, module.run, parse(module, argv))
        assert code == 2, argv
    text = capsys.readouterr().out
    for expected in ("--ids='0-300': every id must be in [1, 247]", "--baud='12': each must be one of",
                     "count in [1, 125]", "--profile='nope': must be one of", "has no point for valve_cmd_pct",
                     "--standby-id=2: must differ",
                     "--port='/dev/nonexistent-hk': cannot open (No such file or directory: is the adapter plugged in?"):
        assert expected in text, expected


async def test_scan_names_a_freshly_powered_acs580_by_its_signature() -> None:
    # An ACS580 just powered up: the classic table 400001-400013 reads as zeros except SW (switch-on
    # inhibited, bit 6), parameter 04.01 is 0. Zeros decode plausibly for a generic make-up I/O module,
    # which the old scan ranked first; the ACS580's signature (04.01 answers) names it.
    line = PtyLine().start()
    acs = SimDevice(id=9, simdata=[SimData(0, count=1, values=[0, 0, 0, 0x0040] + [0] * 9, datatype=DataType.REGISTERS),
                                   SimData(400, count=1, values=[0], datatype=DataType.REGISTERS)])
    server = await serve(line.port_b, [acs])
    try:
        found = await scan.scan(line.port_a, [19200], [9], ["E", "N"], 1.0)
    finally:
        await server.shutdown()
        line.close()
    assert len(found) == 1  # one device, although it answers at both parities on a pty
    cands = found[0]["candidates"]
    assert cands[0]["profile"] == "abb_acs580" and cands[0]["match"] == "signature"
    assert sorted(c["profile"] for c in cands if c["match"] == "fits") == ["generic_rtd8_ai4", "makeup_io"]
    assert "danfoss_fc" not in [c["profile"] for c in cands]


def test_probe_decodes_every_bit_of_a_tripped_danfoss_status_word() -> None:
    rows = probe.interpret(50199, [0x0708], 3, "danfoss_fc")
    row = rows[0]
    assert row["points"]["status_trip"] == {"value": 1.0, "unit": "bool", "ok": True}
    assert row["points"]["status_running"]["value"] == 0.0
    assert "status_trip=1" in row["point"] and "status_running=0" in row["point"]
    assert row["bits"] == "3 status_trip, 8 bit 8, 9 status_bus_control, 10 bit 10"
    valve = probe.interpret(104, [(1 << 2) | (1 << 9)], 3, "belimo_mod")[0]
    assert valve["bits"] == "2 cannot_move, 9 gear_disengaged"


def test_scan_tries_the_factory_parities_first() -> None:
    assert scan.factory_parities() == "E,N"
    assert scan.parse_parities("e, n,E") == ["E", "N"]
    with pytest.raises(ValueError, match="--parity='X'"):
        scan.parse_parities("X")


async def test_stroke_test_strokes_between_the_actuators_min_and_max() -> None:
    # Max (No. 107) set to 70 % on site: setpoint 100 % stops the valve at 70 %, which is its open end
    line = PtyLine().start()
    valve = ValveSim(250.0, max_pct=70.0)
    server = await serve(line.port_b, [sim_device(4, "belimo_mod", {"relative_position": 50.0, "max_limit": 70.0},
                                                  action=valve.action)])
    transport = await stroke_test.open_line(line.port_a, 19200, "N", 1.0)
    try:
        result = await stroke_test.stroke_test(transport, 4, "belimo_mod", band_pct=1.0, max_run_s=20.0, poll_s=0.02)
    finally:
        transport.close()
        await server.shutdown()
        line.close()
    assert result["ok"], result
    assert result["range_pct"] == [0.0, 70.0]
    assert abs(result["open"]["position_pct"] - 70.0) <= 1.0
