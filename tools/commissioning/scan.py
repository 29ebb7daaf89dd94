"""`heatkeeper scan`: find the devices on a bus across unit ids and baud rates, and name them.

Per baud rate and id one short read (FC3, address 0, one register): any answer, even an
exception response, means a device is there; silence means none. Each device found is then
matched against the known profiles: every block of a profile's points is read, and a profile
whose reads all succeed scores the share of its points that decode to plausible values.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from heatkeeper.core.device_profiles import PROFILES, decode_point
from heatkeeper.firmware.modbus.plan import plan_reads
from heatkeeper.firmware.modbus.transport import RtuTransport

from .common import UsageError, open_line, parse_bauds, parse_ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `heatkeeper scan`."""
    parser.add_argument("--port", required=True, help="serial device, pty path, or socket://host:port")
    parser.add_argument("--baud", default="9600,19200,38400", help="baud rates to try (default %(default)s)")
    parser.add_argument("--ids", default="1-247", help="unit ids, e.g. 1-10,17 (default %(default)s)")
    parser.add_argument("--parity", default="N", choices=("N", "E", "O"), help="parity (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=0.1, help="reply timeout per probe in s (default %(default)s)")
    parser.add_argument("--no-identify", action="store_true", help="only list which ids answer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


async def identify(transport: RtuTransport, unit_id: int) -> list[dict[str, Any]]:
    """Profiles the device at `unit_id` may be, best first: [{"profile", "score", "points_ok"}]."""
    found = []
    for name in sorted(PROFILES):
        points = sorted(PROFILES[name]["points"])
        total = good = 0
        for blk in plan_reads("probe", name, points):
            reply = await transport.read(unit_id, blk.fc, blk.address, blk.count)
            if not reply.ok:
                total = -1
                break
            for point, offset, width in blk.points:
                total += 1
                good += 1 if decode_point(name, point, reply.registers[offset:offset + width])[1] else 0
        if total > 0:
            found.append({"profile": name, "score": round(good / total, 2), "points_ok": "%d/%d" % (good, total)})
    found.sort(key=lambda f: (-float(f["score"]), f["profile"]))
    return found


async def scan(port: str, bauds: list[int], ids: list[int], parity: str, timeout_s: float,
               do_identify: bool = True) -> list[dict[str, Any]]:
    """Every device that answered: [{"baudrate", "unit_id", "answer", "candidates"}]."""
    found: list[dict[str, Any]] = []
    for baud in bauds:
        transport = await open_line(port, baud, parity, timeout_s)
        try:
            for uid in ids:
                reply = await transport.read(uid, 3, 0, 1)
                if not reply.ok and reply.error != "exception":
                    continue
                item: dict[str, Any] = {"baudrate": baud, "unit_id": uid,
                                        "answer": "ok" if reply.ok else "exception %s" % reply.exception_code}
                item["candidates"] = await identify(transport, uid) if do_identify else []
                found.append(item)
        finally:
            transport.close()
    return found


def run(args: argparse.Namespace) -> int:
    """Scan and print what answered (table, or JSON with --json)."""
    try:
        bauds, ids = parse_bauds(args.baud), parse_ids(args.ids)
        found = asyncio.run(scan(args.port, bauds, ids, args.parity, args.timeout, not args.no_identify))
    except UsageError as exc:
        print("scan: %s" % exc)
        return 2
    if args.json:
        print(json.dumps({"port": args.port, "bauds": bauds, "ids": [ids[0], ids[-1]], "devices": found}))
        return 0
    if not found:
        print("scan: no device answered on %s at %s baud, ids %d-%d" % (args.port, args.baud, ids[0], ids[-1]))
        return 1
    for item in found:
        cands = ", ".join("%s %s" % (c["profile"], c["points_ok"]) for c in item["candidates"][:3]) or "-"
        print("baud %6d  id %3d  %-14s  %s" % (item["baudrate"], item["unit_id"], item["answer"], cands))
    return 0
