"""`heatkeeper bench station`: steady-state memory and CPU of the real station process.

Starts Mosquitto, `heatkeeper sim` (the example station's devices on a pty at 19200 baud
wire speed, plant in real time) and `heatkeeper station` with its 1 s cycle, lets it settle,
then samples /proc/<pid> of the station (and, side by side, of the simulator) once a second:
resident set size (VmRSS) and CPU time (utime + stime) over the measuring window.

Targets (ARM edge box budget): RSS below 80 MB and below 5 % of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

from heatkeeper.tools.sim.rig import Rig

RSS_TARGET_MB = 80.0
CPU_TARGET_PCT = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--warmup-s", type=float, default=20.0, help="seconds before measuring (default %(default)s)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="measuring window in seconds (default %(default)s)")
    parser.add_argument("--cycle-s", type=float, default=1.0, help="station control cycle (default %(default)s)")
    parser.add_argument("--workdir", default="", help="keep configs and logs here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _proc(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds used so far) of a live process, from /proc."""
    rss_kb = 0.0
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = float(line.split()[1])
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (float(fields[11]) + float(fields[12])) / ticks  # utime, stime (fields 14, 15)
    return rss_kb / 1024.0, cpu_s


def measure(warmup_s: float, duration_s: float, cycle_s: float, workdir: str) -> dict[str, Any]:
    """Run the rig and return the figures (see module docstring)."""
    rig = Rig(workdir, time_scale=1.0, cycle_s=cycle_s)
    try:
        rig.start()
        assert rig.station is not None and rig.sim is not None
        time.sleep(warmup_s)
        pids = {"station": rig.station.pid, "sim": rig.sim.pid}
        start = {name: _proc(pid) for name, pid in pids.items()}
        t0 = time.monotonic()
        telemetry0 = len(rig.telemetry())
        rss: dict[str, list[float]] = {name: [] for name in pids}
        while time.monotonic() - t0 < duration_s:
            time.sleep(1.0)
            for name, pid in pids.items():
                rss[name].append(_proc(pid)[0])
            if not rig.station.alive():
                raise RuntimeError("the station exited during the benchmark:\n" + rig.logs())
        elapsed = time.monotonic() - t0
        end = {name: _proc(pid) for name, pid in pids.items()}
        bus = rig.sim_cmd("status")["lines"]
        requests = sum(int(line["stats"]["requests"]) for line in bus.values())
        out: dict[str, Any] = {"window_s": round(elapsed, 1), "cycle_s": cycle_s,
                               "telemetry_messages": len(rig.telemetry()) - telemetry0, "bus_requests_total": requests}
        for name in pids:
            out[name] = {
                "rss_mb_max": round(max(rss[name]), 1),
                "rss_mb_mean": round(sum(rss[name]) / len(rss[name]), 1),
                "cpu_pct_of_one_core": round(100.0 * (end[name][1] - start[name][1]) / elapsed, 2),
            }
        return out
    finally:
        rig.close()


def run(args: argparse.Namespace) -> int:
    workdir = args.workdir or tempfile.mkdtemp(prefix="heatkeeper-bench-station-")
    figures = measure(args.warmup_s, args.duration_s, args.cycle_s, workdir)
    st, sim = figures["station"], figures["sim"]
    ok = st["rss_mb_max"] < RSS_TARGET_MB and st["cpu_pct_of_one_core"] < CPU_TARGET_PCT
    if args.json:
        print(json.dumps(dict(figures, targets_met=ok)))
        return 0
    print("heatkeeper bench station: %.0f s window after %.0f s warm-up, cycle %g s, logs in %s" % (
        figures["window_s"], args.warmup_s, args.cycle_s, workdir))
    print("%-28s %12s %12s %12s" % ("", "station", "target", "simulator"))
    print("%-28s %12.1f %12s %12.1f" % ("RSS max (MB)", st["rss_mb_max"], "< %g" % RSS_TARGET_MB, sim["rss_mb_max"]))
    print("%-28s %12.1f %12s %12.1f" % ("RSS mean (MB)", st["rss_mb_mean"], "", sim["rss_mb_mean"]))
    print("%-28s %12.2f %12s %12.2f" % ("CPU (% of one core)", st["cpu_pct_of_one_core"], "< %g" % CPU_TARGET_PCT,
                                        sim["cpu_pct_of_one_core"]))
    print("%-28s %12.2f" % ("RSS / target", st["rss_mb_max"] / RSS_TARGET_MB))
    print("%-28s %12.2f" % ("CPU / target", st["cpu_pct_of_one_core"] / CPU_TARGET_PCT))
    print("telemetry messages in window: %d; bus requests served by the simulator: %d" % (
        figures["telemetry_messages"], figures["bus_requests_total"]))
    print("targets %s" % ("met" if ok else "NOT met"))
    return 0
