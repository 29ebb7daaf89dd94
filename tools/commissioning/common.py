"""What the commissioning commands share: the command frame, argument parsing and point-level reads and writes."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from heatkeeper.core.device_profiles import PROFILES, WIDTH, decode_point, encode_point
from heatkeeper.firmware.modbus.config import BAUDRATES
from heatkeeper.firmware.modbus.transport import Reply, RtuTransport


class UsageError(ValueError):
    """A bad command-line value: printed with the option, the value and what is allowed."""


def run_command(name: str, args: argparse.Namespace,
                main: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
                print_text: Callable[[dict[str, Any]], int]) -> int:
    """The frame of every commissioning command: run `main(args)` to its result; a UsageError
    prints "NAME: what is wrong" and exits 2. With --json the result is printed as one JSON object
    (exit 1 when it says "ok": false, else 0); otherwise `print_text(result)` prints it and gives
    the exit code."""
    try:
        result = asyncio.run(main(args))
    except UsageError as exc:
        print("%s: %s" % (name, exc))
        return 2
    if args.json:
        print(json.dumps(result))
        return 0 if result.get("ok", True) else 1
    return print_text(result)


def parse_ids(text: str) -> list[int]:
    """'1-5,9' -> [1, 2, 3, 4, 5, 9]; every id in [1, 247]."""
    ids: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                ids.extend(range(lo, hi + 1))
            else:
                ids.append(int(part))
    except ValueError:
        raise UsageError("--ids=%r: must be ids or ranges such as 1-10,17" % text) from None
    if not ids or any(not 1 <= i <= 247 for i in ids):
        raise UsageError("--ids=%r: every id must be in [1, 247]" % text)
    return sorted(set(ids))


def parse_bauds(text: str) -> list[int]:
    """'9600,19200' -> [9600, 19200], each a standard rate."""
    try:
        bauds = [int(b) for b in str(text).split(",") if b.strip()]
    except ValueError:
        raise UsageError("--baud=%r: must be comma-separated integers" % text) from None
    if not bauds or any(b not in BAUDRATES for b in bauds):
        raise UsageError("--baud=%r: each must be one of %s" % (text, ", ".join(str(b) for b in BAUDRATES)))
    return bauds


def check_profile_arg(name: str | None, need_signals: tuple[str, ...] = ()) -> None:
    """UsageError unless `name` is a profile whose points serve every signal in need_signals."""
    if name is None:
        return
    if name not in PROFILES:
        raise UsageError("--profile=%r: must be one of %s" % (name, ", ".join(sorted(PROFILES))))
    for sig in need_signals:
        if point_for(name, sig) is None:
            can = sorted(p for p in PROFILES if point_for(p, sig) is not None)
            raise UsageError("--profile=%r has no point for %s; profiles that do: %s" % (name, sig, ", ".join(can)))


def point_for(profile: str, signal: str) -> str | None:
    """The first point of `profile` that can serve `signal`."""
    for name in sorted(PROFILES[profile]["points"]):
        if signal in PROFILES[profile]["points"][name]["signals"]:
            return name
    return None


def add_line_arguments(parser: argparse.ArgumentParser, baud_default: str = "19200") -> None:
    """--port, --baud, --parity, --timeout."""
    parser.add_argument("--port", required=True, help="serial device, pty path, or socket://host:port")
    parser.add_argument("--baud", default=baud_default, help="baud rate (default %(default)s)")
    parser.add_argument("--parity", default="", choices=("", "N", "E", "O"),
                        help="parity (default: the --profile's factory setting, e.g. E for danfoss_fc; else N)")
    parser.add_argument("--timeout", type=float, default=0.3, help="reply timeout in s (default %(default)s)")


def factory_parity(profile: str | None) -> str:
    """The parity a device of `profile` leaves the factory with (N when not documented)."""
    if profile in PROFILES:
        return str(PROFILES[str(profile)]["serial"].get("parity") or "N")
    return "N"


async def open_line(port: str, baudrate: int, parity: str, timeout_s: float, profile: str | None = None) -> RtuTransport:
    """An open transport, or UsageError naming the port. An empty `parity` is the profile's factory one."""
    if not 0.01 <= timeout_s <= 10.0:
        raise UsageError("--timeout=%r s: must be in [0.01, 10]" % timeout_s)
    parity = parity or factory_parity(profile)
    transport = RtuTransport(port, baudrate=baudrate, parity=parity, timeout_s=timeout_s)
    if not await transport.open():
        raise UsageError("--port=%r: cannot open (%s)" % (port, transport.open_error))
    return transport


async def read_point(transport: RtuTransport, unit_id: int, profile: str, point: str) -> tuple[float, bool, Reply]:
    """(value, ok, reply) of one profile point."""
    pt = PROFILES[profile]["points"][point]
    reply = await transport.read(unit_id, pt["function_code"], pt["address"], WIDTH[pt["type"]])
    if not reply.ok:
        return 0.0, False, reply
    value, ok = decode_point(profile, point, reply.registers)
    return value, ok, reply


async def write_point(transport: RtuTransport, unit_id: int, profile: str, point: str, value: float) -> Reply:
    """Write one profile point (ValueError from encode_point for an impossible value)."""
    regs = encode_point(profile, point, value)
    return await transport.write(unit_id, PROFILES[profile]["points"][point]["address"], regs)
