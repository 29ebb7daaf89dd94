"""`heatkeeper scan`: find the devices on a bus across unit ids, baud rates and parities, and name them.

Per baud rate, parity and id one short read (FC3, address 0, one register): any answer, even
an exception response, means a device is there; silence means none. Parities: the factory
settings the device profiles declare (a Danfoss FC leaves the factory at 8E1) and none.

Each device found is then named by the profiles' signatures: reads that only that model
answers that way (a Danfoss FC's status word at 50200, an ACS580's parameter 04.01, a Belimo's
Max above 20 %). A profile whose signature holds is a "signature" match; a profile with a
signature that fails is ruled out, however plausible its values look. Generic profiles (I/O
modules, no signature) are listed after as "fits" when every documented block reads and
scored by the share of points that decode to plausible values.
"""

from __future__ import annotations

import argparse
from typing import Any

from heatkeeper.core.device_profiles import PROFILES, decode_point
from heatkeeper.firmware.modbus.plan import plan_reads
from heatkeeper.firmware.modbus.transport import RtuTransport

from .common import UsageError, open_line, parse_bauds, parse_ids, run_command


def factory_parities() -> str:
    """The parities to try by default: every profile's factory parity, then none ("E,N")."""
    found = sorted({str(p["serial"]["parity"]) for p in PROFILES.values() if p["serial"].get("parity")} - {"N"})
    return ",".join(found + ["N"])


def parse_parities(text: str) -> list[str]:
    """'E,N' -> ["E", "N"]; each one of N, E, O."""
    items = [p.strip().upper() for p in str(text).split(",") if p.strip()]
    if not items or any(p not in ("N", "E", "O") for p in items):
        raise UsageError("--parity=%r: must be N, E or O, or a comma-separated list such as E,N" % text)
    return list(dict.fromkeys(items))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `heatkeeper scan`."""
    parser.add_argument("--port", required=True, help="serial device, pty path, or socket://host:port")
    parser.add_argument("--baud", default="9600,19200,38400", help="baud rates to try (default %(default)s)")
    parser.add_argument("--ids", default="1-247", help="unit ids, e.g. 1-10,17 (default %(default)s)")
    parser.add_argument("--parity", default=factory_parities(),
                        help="parities to try, e.g. E,N (default %(default)s: the devices' factory settings, then none)")
    parser.add_argument("--timeout", type=float, default=0.1, help="reply timeout per probe in s (default %(default)s)")
    parser.add_argument("--no-identify", action="store_true", help="only list which ids answer")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


async def signature_holds(transport: RtuTransport, unit_id: int, profile: str) -> bool | None:
    """True when every signature read of `profile` answers as the model does, False when one
    does not, None for a generic profile (no signature)."""
    prof = PROFILES[profile]
    if not prof["signature"]:
        return None
    for item in prof["signature"]:
        if "point" in item:
            pt = prof["points"][item["point"]]
            fc, address, count = pt["function_code"], pt["address"], 2 if pt["type"] in ("int32", "uint32", "float32") else 1
        else:
            fc, address, count = item["function_code"], item["address"], item["count"]
        reply = await transport.read(unit_id, fc, address, count)
        if not reply.ok:
            return False
        if "point" in item and not decode_point(profile, item["point"], reply.registers)[1]:
            return False
        word = reply.registers[0]
        if item.get("min") is not None and not item["min"] <= word <= item["max"]:
            return False
    return True


async def plausibility(transport: RtuTransport, unit_id: int, profile: str) -> tuple[int, int]:
    """(points that decode plausibly, points) over every documented block; (0, -1) when a block fails."""
    total = good = 0
    for blk in plan_reads("probe", profile, sorted(PROFILES[profile]["points"])):
        reply = await transport.read(unit_id, blk.fc, blk.address, blk.count)
        if not reply.ok:
            return 0, -1
        for point, offset, width in blk.points:
            total += 1
            good += 1 if decode_point(profile, point, reply.registers[offset:offset + width])[1] else 0
    return good, total


async def identify(transport: RtuTransport, unit_id: int) -> list[dict[str, Any]]:
    """Profiles the device at `unit_id` may be, best first:
    [{"profile", "match": "signature" | "fits", "score", "points_ok"}]."""
    found = []
    for name in sorted(PROFILES):
        signature = await signature_holds(transport, unit_id, name)
        if signature is False:
            continue  # the model would answer its signature: this device is not one
        good, total = await plausibility(transport, unit_id, name)
        if signature is None and total <= 0:
            continue
        score = round(good / total, 2) if total > 0 else 0.0
        found.append({"profile": name, "match": "signature" if signature else "fits", "score": score,
                      "points_ok": "%d/%d" % (good, max(total, 0))})
    found.sort(key=lambda f: (f["match"] != "signature", -float(f["score"]), f["profile"]))
    return found


async def scan(port: str, bauds: list[int], ids: list[int], parity: str | list[str], timeout_s: float,
               do_identify: bool = True) -> list[dict[str, Any]]:
    """Every device that answered: [{"baudrate", "parity", "unit_id", "answer", "candidates"}]."""
    parities = [parity] if isinstance(parity, str) else list(parity)
    found: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    for baud in bauds:
        for par in parities:
            transport = await open_line(port, baud, par, timeout_s)
            try:
                for uid in ids:
                    if (baud, uid) in seen:
                        continue  # answered at another parity already (a pty carries no parity bit)
                    reply = await transport.read(uid, 3, 0, 1)
                    if not reply.ok and reply.error != "exception":
                        continue
                    seen.add((baud, uid))
                    item: dict[str, Any] = {"baudrate": baud, "parity": par, "unit_id": uid,
                                            "answer": "ok" if reply.ok else "exception %s" % reply.exception_code}
                    item["candidates"] = await identify(transport, uid) if do_identify else []
                    found.append(item)
            finally:
                transport.close()
    return found


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    bauds, ids, parities = parse_bauds(args.baud), parse_ids(args.ids), parse_parities(args.parity)
    found = await scan(args.port, bauds, ids, parities, args.timeout, not args.no_identify)
    return {"port": args.port, "bauds": bauds, "parities": parities, "ids": [ids[0], ids[-1]], "devices": found}


def _print_text(result: dict[str, Any], args: argparse.Namespace) -> int:
    found = result["devices"]
    if not found:
        print("scan: no device answered on %s at %s baud, parity %s, ids %d-%d" % (args.port, args.baud, args.parity,
                                                                                 *result["ids"]))
        return 1
    for item in found:
        cands = ", ".join("%s (%s %s)" % (c["profile"], c["match"], c["points_ok"]) for c in item["candidates"][:3]) or "-"
        print("baud %6d  parity %s  id %3d  %-14s  %s" % (item["baudrate"], item["parity"], item["unit_id"],
                                                          item["answer"], cands))
    return 0


def run(args: argparse.Namespace) -> int:
    """Scan and print what answered (table, or JSON with --json)."""
    return run_command("scan", args, _main, lambda result: _print_text(result, args))
