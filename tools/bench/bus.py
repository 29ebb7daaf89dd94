"""`heatkeeper bench bus`: full-scan time of the demo station's bus against the wire minimum.

For each baud rate a virtual RS-485 line (two ptys joined by a relay that holds every byte for
its wire time, keeps the line half-duplex and lets slaves answer only after t3.5) carries the
demo station's six devices, served by pymodbus RTU servers laid out from the device profiles.
The station's bus layer (`ProcessImageIO`) reads every bound point once per scan, first with
block coalescing, then point by point. Printed per baud and mode: transactions per scan, the
measured scan time, the theoretical minimum from the frame sizes and two t3.5 gaps per
transaction, and their ratio. 8N2 framing (11 bits per character, like 8E1) because ptys
reject even parity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from heatkeeper.firmware.modbus import ProcessImageIO, example_config
from heatkeeper.firmware.modbus.timing import t35_s, wire_minimum_s
from heatkeeper.tools.commissioning.devsim import serve, sim_device
from heatkeeper.tools.commissioning.ptyline import PtyLine

# The demo station's device set (ids and profiles as in firmware.modbus.config.EXAMPLE_BUS_TOML).
DEMO_DEVICES: dict[int, tuple[str, dict[str, float]]] = {
    1: ("generic_rtd8_ai4", {"temp_1": -8.5, "temp_2": 98.0, "temp_3": 52.0, "temp_4": 58.0, "temp_5": 44.0,
                             "pressure_1": 820.0, "pressure_2": 480.0, "pressure_3": 420.0, "pressure_4": 280.0}),
    2: ("danfoss_fc", {"status_running": 1.0, "status_bus_control": 1.0, "actual_speed": 62.0}),
    3: ("abb_acs580", {"status_running": 0.0, "status_remote": 1.0, "actual_1": 0.0}),
    4: ("belimo_mod", {"relative_position": 37.5}),
    5: ("kamstrup_multical_603", {"power": 1450.0, "flow_v1": 31.0, "energy_e1": 2.5e6}),
    6: ("makeup_io", {"tank_level": 72.0, "water_volume": 1234.5}),
}
BITS_PER_CHAR = 11


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `heatkeeper bench bus`."""
    parser.add_argument("--baud", default="9600,19200,38400", help="comma-separated baud rates (default %(default)s)")
    parser.add_argument("--scans", type=int, default=6, help="full scans per baud rate and mode (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


async def _measure(baudrate: int, coalesce: bool, scans: int) -> dict[str, Any]:
    with PtyLine(baudrate=baudrate, bits_per_char=BITS_PER_CHAR) as line:
        server = await serve(line.port_b, [sim_device(uid, prof, vals) for uid, (prof, vals) in DEMO_DEVICES.items()],
                             baudrate)
        io = ProcessImageIO(example_config(line.port_a, baudrate, stopbits=2, timeout_s=0.5, coalesce=coalesce,
                                           low_blocks_per_cycle=100))
        await io.start()
        try:
            bus = io.lines[0]
            plan = [(blk.fc, blk.count) for dev in bus.devices for blk in dev.blocks]
            await io.read_cycle(0.0)  # warm-up: open, first frames
            times: list[float] = []
            tx0, viol0 = bus.transport.transactions, line.gap_violations
            bad = 0
            for i in range(scans):
                t0 = time.perf_counter()
                inputs = await io.read_cycle(1000.0 * (i + 1))
                times.append(time.perf_counter() - t0)
                bad += sum(1 for _v, ok in inputs.values() if not ok)
            tx = (bus.transport.transactions - tx0) / scans
            wire_min = wire_minimum_s(plan, baudrate, BITS_PER_CHAR)
            median = statistics.median(times)
            return {
                "baudrate": baudrate,
                "mode": "coalesced" if coalesce else "point_by_point",
                "transactions_per_scan": tx,
                "registers_per_scan": sum(c for _fc, c in plan),
                "scan_s_median": round(median, 5),
                "scan_s_min": round(min(times), 5),
                "scan_s_max": round(max(times), 5),
                "wire_minimum_s": round(wire_min, 5),
                "ratio_to_wire_minimum": round(median / wire_min, 3),
                "t35_ms": round(t35_s(baudrate, BITS_PER_CHAR) * 1000.0, 3),
                "gap_violations": line.gap_violations - viol0,
                "not_ok_values": bad,
            }
        finally:
            await io.close()
            await server.shutdown()


async def _bench(bauds: list[int], scans: int) -> dict[str, Any]:
    results = []
    for baud in bauds:
        for coalesce in (True, False):
            results.append(await _measure(baud, coalesce, scans))
    speedup = {}
    for baud in bauds:
        c = next(r for r in results if r["baudrate"] == baud and r["mode"] == "coalesced")
        p = next(r for r in results if r["baudrate"] == baud and r["mode"] == "point_by_point")
        speedup[str(baud)] = round(p["scan_s_median"] / c["scan_s_median"], 2)
    return {
        "bench": "bus",
        "line": "throttled pty pair, 8N2 (%d bits/char), slaves answer after t3.5, zero device delay" % BITS_PER_CHAR,
        "devices": {str(uid): prof for uid, (prof, _v) in DEMO_DEVICES.items()},
        "scans": scans,
        "results": results,
        "point_by_point_over_coalesced": speedup,
        "target_ratio_to_wire_minimum": 1.15,
    }


def _table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="heatkeeper bench bus: demo station, full scan (%s)" % report["line"])
    for col in ("baud", "mode", "tx/scan", "regs", "scan ms (median)", "wire min ms", "ratio", "gap viol.", "not ok"):
        table.add_column(col, justify="right")
    for r in report["results"]:
        table.add_row(str(r["baudrate"]), r["mode"], "%g" % r["transactions_per_scan"], str(r["registers_per_scan"]),
                      "%.1f" % (r["scan_s_median"] * 1000), "%.1f" % (r["wire_minimum_s"] * 1000),
                      "%.3f" % r["ratio_to_wire_minimum"], str(r["gap_violations"]), str(r["not_ok_values"]))
    console = Console(width=max(Console().width, 120))
    console.print(table)
    console.print("point by point / coalesced scan time: %s" % ", ".join(
        "%s baud x%s" % (b, s) for b, s in report["point_by_point_over_coalesced"].items()))


def run(args: argparse.Namespace) -> int:
    """Run the bench and print a table or one JSON object."""
    try:
        bauds = [int(b) for b in str(args.baud).split(",") if b.strip()]
    except ValueError:
        print("bench bus: --baud=%r: must be comma-separated integers" % args.baud)
        return 2
    if not bauds or any(b not in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200) for b in bauds):
        print("bench bus: --baud=%r: each must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200" % args.baud)
        return 2
    if args.scans < 1:
        print("bench bus: --scans=%r: must be at least 1" % args.scans)
        return 2
    report = asyncio.run(_bench(bauds, args.scans))
    if args.json:
        print(json.dumps(report))
    else:
        _table(report)
    return 0


if __name__ == "__main__":
    import sys

    _parser = argparse.ArgumentParser(prog="heatkeeper bench bus", description=__doc__)
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
