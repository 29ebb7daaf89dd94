"""`heatkeeper pump-test`: run the duty pump, then the standby pump, and check their feedback.

Per pump (drive profile, unit id): command run at --speed-pct, wait for the running feedback,
hold for --run-s while watching running and fault, command stop and wait for running to
drop. The other pump is commanded stopped first so only one runs at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from heatkeeper.core import signals as S
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

NEEDS = (S.PUMP1_RUN, S.PUMP1_SPEED_CMD_PCT, S.PUMP1_RUNNING, S.PUMP1_FAULT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `heatkeeper pump-test`."""
    add_line_arguments(parser)
    parser.add_argument("--duty-id", type=int, required=True, help="unit id of the duty pump's drive")
    parser.add_argument("--standby-id", type=int, required=True, help="unit id of the standby pump's drive")
    parser.add_argument("--profile", default="danfoss_fc", help="drive profile of both (default %(default)s)")
    parser.add_argument("--standby-profile", help="drive profile of the standby pump if different")
    parser.add_argument("--speed-pct", type=float, default=30.0, help="test speed (default %(default)s %%)")
    parser.add_argument("--run-s", type=float, default=10.0, help="hold running this long (default %(default)s)")
    parser.add_argument("--start-timeout-s", type=float, default=30.0, help="wait for feedback (default %(default)s)")
    parser.add_argument("--poll-s", type=float, default=0.25, help="feedback poll period (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


async def _wait_for(transport: RtuTransport, uid: int, profile: str, point: str, want: float, timeout_s: float,
                    poll_s: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 <= timeout_s:
        value, ok, _r = await read_point(transport, uid, profile, point)
        if ok and value == want:
            return round(time.monotonic() - t0, 3)
        await asyncio.sleep(poll_s)
    return None


async def check_pump(transport: RtuTransport, uid: int, profile: str, speed_pct: float, run_s: float,
                    start_timeout_s: float, poll_s: float) -> dict[str, Any]:
    """Start, hold and stop one pump: {"started_after_s", "held_ok", "fault", "stopped_after_s", "ok", ...}."""
    run_p, speed_p = point_for(profile, S.PUMP1_RUN), point_for(profile, S.PUMP1_SPEED_CMD_PCT)
    running_p, fault_p = point_for(profile, S.PUMP1_RUNNING), point_for(profile, S.PUMP1_FAULT)
    assert run_p and speed_p and running_p and fault_p
    res: dict[str, Any] = {"unit_id": uid, "profile": profile, "ok": False}
    for point, value in ((speed_p, speed_pct), (run_p, 1.0)):
        reply = await write_point(transport, uid, profile, point, value)
        if not reply.ok:
            res["error"] = "write %s: %s %s" % (point, reply.error, reply.detail)
            return res
    res["started_after_s"] = await _wait_for(transport, uid, profile, running_p, 1.0, start_timeout_s, poll_s)
    if res["started_after_s"] is None:
        res["error"] = "no running feedback within %.0f s" % start_timeout_s
    else:
        t0, dropouts, faults = time.monotonic(), 0, 0
        while time.monotonic() - t0 < run_s:
            running, ok_r, _ = await read_point(transport, uid, profile, running_p)
            fault, ok_f, _ = await read_point(transport, uid, profile, fault_p)
            dropouts += 0 if (ok_r and running == 1.0) else 1
            faults += 1 if (ok_f and fault == 1.0) else 0
            await asyncio.sleep(poll_s)
        res["held_ok"] = dropouts == 0 and faults == 0
        res["running_dropouts"], res["fault_reads"] = dropouts, faults
        if not res["held_ok"]:
            res["error"] = "running dropped %d times, fault seen %d times while held" % (dropouts, faults)
    stop = await write_point(transport, uid, profile, run_p, 0.0)
    res["stopped_after_s"] = (await _wait_for(transport, uid, profile, running_p, 0.0, start_timeout_s, poll_s)
                              if stop.ok else None)
    if res["stopped_after_s"] is None and "error" not in res:
        res["error"] = "did not stop within %.0f s" % start_timeout_s
    res["ok"] = "error" not in res
    return res


async def pump_test(transport: RtuTransport, duty: tuple[int, str], standby: tuple[int, str], speed_pct: float,
                    run_s: float, start_timeout_s: float = 30.0, poll_s: float = 0.25) -> dict[str, Any]:
    """Duty then standby: {"duty": {...}, "standby": {...}, "ok"}."""
    out: dict[str, Any] = {}
    for role, (uid, profile), (other_uid, other_profile) in (("duty", duty, standby), ("standby", standby, duty)):
        other_run = point_for(other_profile, S.PUMP1_RUN)
        assert other_run is not None
        await write_point(transport, other_uid, other_profile, other_run, 0.0)
        out[role] = await check_pump(transport, uid, profile, speed_pct, run_s, start_timeout_s, poll_s)
    out["ok"] = bool(out["duty"]["ok"] and out["standby"]["ok"])
    return out


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    for opt, uid in (("--duty-id", args.duty_id), ("--standby-id", args.standby_id)):
        if not 1 <= uid <= 247:
            raise UsageError("%s=%r: must be in [1, 247]" % (opt, uid))
    if args.duty_id == args.standby_id:
        raise UsageError("--standby-id=%r: must differ from --duty-id" % args.standby_id)
    if not 0.0 < args.speed_pct <= 100.0:
        raise UsageError("--speed-pct=%r %%: must be in (0, 100]" % args.speed_pct)
    if args.run_s < 0 or args.start_timeout_s <= 0 or not 0.01 <= args.poll_s <= 10:
        raise UsageError("--run-s >= 0, --start-timeout-s > 0, --poll-s in [0.01, 10]")
    standby_profile = args.standby_profile or args.profile
    check_profile_arg(args.profile, NEEDS)
    check_profile_arg(standby_profile, NEEDS)
    transport = await open_line(args.port, parse_bauds(args.baud)[0], args.parity, args.timeout, args.profile)
    try:
        return await pump_test(transport, (args.duty_id, args.profile), (args.standby_id, standby_profile),
                               args.speed_pct, args.run_s, args.start_timeout_s, args.poll_s)
    finally:
        transport.close()


def _print_text(result: dict[str, Any]) -> int:
    for role in ("duty", "standby"):
        r = result[role]
        print("%-7s id %3d: %s" % (role, r["unit_id"], "started after %.2f s, held, stopped after %.2f s"
                                   % (r["started_after_s"], r["stopped_after_s"]) if r["ok"] else r["error"]))
    print("pump test %s" % ("passed" if result["ok"] else "FAILED"))
    return 0 if result["ok"] else 1


def run(args: argparse.Namespace) -> int:
    """Run the rotation test and print the outcome per pump."""
    return run_command("pump-test", args, _main, _print_text)
