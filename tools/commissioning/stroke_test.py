"""`heatkeeper stroke-test`: drive a valve actuator 0 -> 100 -> 0 % and time it from its feedback.

The actuator is first commanded closed and allowed to settle, then opened fully and closed
again; each run time is from the command to the first position reading within --band of the
end. A run that does not arrive within --max-run-s is reported as a failure with the last
position seen (a stuck valve or a wrong profile shows here, not in the first heating night).
An actuator that maps its setpoint into its own Min/Max (Belimo No. 106/107) strokes between
them: its Min and Max are read first, and arrival is judged at the position each end means.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from heatkeeper.core import signals as S
from heatkeeper.core.device_profiles import PROFILES, position_for_setpoint
from heatkeeper.firmware.modbus.transport import RtuTransport

from .common import (
    UsageError,
    add_line_arguments,
    check_profile_arg,
    open_line,
    parse_bauds,
    point_for,
    read_point,
    run_command,
    write_point,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `heatkeeper stroke-test`."""
    add_line_arguments(parser)
    parser.add_argument("--id", type=int, required=True, help="unit id of the actuator (1-247)")
    parser.add_argument("--profile", default="belimo_mod", help="device profile (default %(default)s)")
    parser.add_argument("--max-run-s", type=float, default=300.0, help="give up a run after this long (default %(default)s)")
    parser.add_argument("--band", type=float, default=1.0, help="arrived when within this many %% (default %(default)s)")
    parser.add_argument("--poll-s", type=float, default=0.2, help="position poll period (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


async def _run_to(transport: RtuTransport, unit_id: int, profile: str, cmd_point: str, pos_point: str,
                  target_pct: float, band_pct: float, max_run_s: float, poll_s: float,
                  expect_pct: float | None = None) -> dict[str, Any]:
    expect = target_pct if expect_pct is None else expect_pct
    t0 = time.monotonic()
    reply = await write_point(transport, unit_id, profile, cmd_point, target_pct)
    if not reply.ok:
        return {"target_pct": target_pct, "ok": False, "error": "write: %s %s" % (reply.error, reply.detail)}
    last: float | None = None
    errors = 0
    while True:
        value, ok, rr = await read_point(transport, unit_id, profile, pos_point)
        elapsed = time.monotonic() - t0
        if ok:
            last = value
            if abs(value - expect) <= band_pct:
                return {"target_pct": target_pct, "ok": True, "run_s": round(elapsed, 3), "position_pct": value,
                        "read_errors": errors}
        else:
            errors += 1
        if elapsed > max_run_s:
            return {"target_pct": target_pct, "ok": False, "run_s": None, "position_pct": last, "read_errors": errors,
                    "error": "not within %.1f %% after %.0f s (last %s)" % (band_pct, max_run_s, rr.error or "position")}
        await asyncio.sleep(poll_s)


async def stroke_test(transport: RtuTransport, unit_id: int, profile: str, band_pct: float = 1.0,
                      max_run_s: float = 300.0, poll_s: float = 0.2) -> dict[str, Any]:
    """Settle closed, open fully, close fully: {"settle", "open", "close", "ok"} with run times."""
    check_profile_arg(profile, (S.VALVE_CMD_PCT, S.VALVE_POSITION_PCT))
    cmd = point_for(profile, S.VALVE_CMD_PCT)
    pos = point_for(profile, S.VALVE_POSITION_PCT)
    assert cmd is not None and pos is not None
    result: dict[str, Any] = {"unit_id": unit_id, "profile": profile, "command_point": cmd, "position_point": pos}
    lo, hi = 0.0, 100.0
    scaled_by = PROFILES[profile]["points"][cmd].get("scaled_by")
    if scaled_by:
        limits = [await read_point(transport, unit_id, profile, p) for p in scaled_by]
        if not all(ok for _v, ok, _r in limits):
            result["ok"] = False
            result["error"] = "cannot read the actuator's %s: %s" % ("/".join(scaled_by), ", ".join(
                "%s %s" % (r.error or "implausible", r.detail) for _v, ok, r in limits if not ok))
            return result
        lo, hi = limits[0][0], limits[1][0]
        result["range_pct"] = [lo, hi]
    for step, target in (("settle", 0.0), ("open", 100.0), ("close", 0.0)):
        result[step] = await _run_to(transport, unit_id, profile, cmd, pos, target, band_pct, max_run_s, poll_s,
                                     position_for_setpoint(target, lo, hi))
        if not result[step]["ok"]:
            result["ok"] = False
            return result
    result["ok"] = True
    return result


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    if not 1 <= args.id <= 247:
        raise UsageError("--id=%r: must be in [1, 247]" % args.id)
    if not 0.1 <= args.band <= 10.0 or args.max_run_s <= 0 or not 0.01 <= args.poll_s <= 10.0:
        raise UsageError("--band in [0.1, 10] %%, --max-run-s > 0, --poll-s in [0.01, 10]")
    check_profile_arg(args.profile, (S.VALVE_CMD_PCT, S.VALVE_POSITION_PCT))
    transport = await open_line(args.port, parse_bauds(args.baud)[0], args.parity, args.timeout, args.profile)
    try:
        return await stroke_test(transport, args.id, args.profile, args.band, args.max_run_s, args.poll_s)
    finally:
        transport.close()


def _print_text(result: dict[str, Any]) -> int:
    for step in ("settle", "open", "close"):
        if step in result:
            r = result[step]
            print("%-6s -> %5.1f %%: %s" % (step, r["target_pct"], "%.2f s" % r["run_s"] if r["ok"] else r["error"]))
    print("stroke test %s" % ("passed" if result["ok"] else "FAILED"))
    return 0 if result["ok"] else 1


def run(args: argparse.Namespace) -> int:
    """Run the stroke test and print the run times."""
    return run_command("stroke-test", args, _main, _print_text)
