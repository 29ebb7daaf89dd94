"""`heatkeeper probe`: dump registers with every interpretation side by side.

Each row is one register: PDU address, the vendor's 1-based number, hex, uint16, int16, and
the 32-bit values that start there (uint32, int32, float32) in big (high word first) and
little word order. With --profile the point at that address is named and decoded.
"""

from __future__ import annotations

import argparse
from typing import Any

from heatkeeper.core.device_profiles import PROFILES, WIDTH, bits_set, decode_point, raw_value

from .common import UsageError, add_line_arguments, check_profile_arg, open_line, parse_bauds, run_command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `heatkeeper probe`."""
    add_line_arguments(parser)
    parser.add_argument("--id", type=int, required=True, help="unit id (1-247)")
    parser.add_argument("--address", type=int, required=True, help="first PDU address (0-based)")
    parser.add_argument("--count", type=int, default=10, help="registers to read, 1-125 (default %(default)s)")
    parser.add_argument("--fc", type=int, default=3, choices=(3, 4), help="3 holding, 4 input (default %(default)s)")
    parser.add_argument("--profile", help="name the points of this device profile")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def interpret(address: int, registers: list[int], fc: int, profile: str | None = None) -> list[dict[str, Any]]:
    """One row per register with every interpretation (pure; 32-bit columns need the next word).

    With a profile, every point at the register is named and decoded (a shared status word has
    several: `points`), and every set bit of a 16-bit status word is listed by name (`bits`), so a
    tripped drive cannot hide behind one "running 0 ok" column."""
    names: dict[int, list[str]] = {}
    if profile:
        for name in sorted(PROFILES[profile]["points"]):
            pt = PROFILES[profile]["points"][name]
            if pt["function_code"] == fc or pt["access"] == "rw":
                names.setdefault(pt["address"], []).append(name)
    rows = []
    for i, word in enumerate(registers):
        addr = address + i
        row: dict[str, Any] = {"address": addr, "number": addr + 1, "hex": "0x%04X" % word,
                               "uint16": raw_value("uint16", [word]), "int16": raw_value("int16", [word])}
        if i + 1 < len(registers):
            pair = [word, registers[i + 1]]
            for order in ("big", "little"):
                row["uint32_" + order] = raw_value("uint32", pair, order)
                row["int32_" + order] = raw_value("int32", pair, order)
                f = float(raw_value("float32", pair, order))
                row["float32_" + order] = f if f == f and abs(f) != float("inf") else None
        if addr in names and profile:
            decoded: dict[str, dict[str, Any]] = {}
            for point in names[addr]:
                pt = PROFILES[profile]["points"][point]
                value, ok = decode_point(profile, point, registers[i:i + WIDTH[pt["type"]]])
                decoded[point] = {"value": value, "unit": pt["unit"], "ok": ok}
            first = names[addr][0]
            row["point"] = first if len(decoded) == 1 else " ".join(
                "%s=%s" % (n, _fmt(d["value"])) for n, d in decoded.items())
            row["points"] = decoded
            row["value"] = decoded[first]["value"]
            row["unit"] = decoded[first]["unit"]
            row["ok"] = all(d["ok"] for d in decoded.values())
            if any("bit" in PROFILES[profile]["points"][n] or "bit_names" in PROFILES[profile]["points"][n]
                   for n in names[addr]):
                row["bits"] = ", ".join("%d %s" % (b, n) for b, n in bits_set(profile, fc, addr, word)) or "none set"
        rows.append(row)
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


async def _probe(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.id <= 247:
        raise UsageError("--id=%r: must be in [1, 247]" % args.id)
    if not 0 <= args.address <= 65535 or not 1 <= args.count <= 125 or args.address + args.count > 65536:
        raise UsageError("--address=%r --count=%r: address in [0, 65535], count in [1, 125]" % (args.address, args.count))
    check_profile_arg(args.profile)
    transport = await open_line(args.port, parse_bauds(args.baud)[0], args.parity, args.timeout, args.profile)
    try:
        reply = await transport.read(args.id, args.fc, args.address, args.count)
    finally:
        transport.close()
    out: dict[str, Any] = {"port": args.port, "unit_id": args.id, "fc": args.fc, "address": args.address,
                           "count": args.count, "ok": reply.ok, "error": reply.error, "detail": reply.detail}
    if reply.ok:
        out["rows"] = interpret(args.address, reply.registers, args.fc, args.profile)
    return out


def run(args: argparse.Namespace) -> int:
    """Read and print the registers."""
    return run_command("probe", args, _probe, lambda out: _print_text(out, args.profile))


def _print_text(out: dict[str, Any], profile: str | None) -> int:
    if not out["ok"]:
        print("probe: id %d fc%d %d+%d: %s (%s)" % (out["unit_id"], out["fc"], out["address"], out["count"], out["error"],
                                                   out["detail"]))
        return 1
    from rich.console import Console
    from rich.table import Table

    cols = ["address", "number", "hex", "uint16", "int16", "uint32_big", "int32_big", "float32_big",
            "uint32_little", "int32_little", "float32_little"]
    extra = ["point", "value", "unit", "ok", "bits"] if profile else []
    table = Table(title="id %d, fc%d, %d registers from address %d" % (out["unit_id"], out["fc"], out["count"],
                                                                      out["address"]))
    for c in cols + extra:
        table.add_column(c, justify="right")
    for row in out["rows"]:
        table.add_row(*(_fmt(row.get(c)) for c in cols + extra))
    Console(width=200).print(table)
    return 0
