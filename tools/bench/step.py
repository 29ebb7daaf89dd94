"""`heatkeeper bench step`: the control cycle and the season loop, µs per cycle, compiled vs interpreted.

Each figure is timed in a fresh process with the compiled modules (HEATKEEPER_REQUIRE_CEXT=1)
and again with the pure-Python sources (HEATKEEPER_DISABLE_CEXT=1), on the same inputs, and
printed side by side with the ratio:

* `StationController.step` on the plant's process image (a dict of (value, ok) per signal,
  built each cycle as firmware does) and `step_image` on the same image as arrays;
* the setpoint chain and the valve loop alone;
* the season benchmark's loop (tools/plant/local_control.StationLoop) per cycle, and its
  parts: the plant's instruments (fill_bound), the controller (step_image), the plant's
  integration (set_actuators + advance), and the season recorder.

The plant runs closed loop for a warm-up first, so the figures are for a station in normal
operation (Arxan synthetic weather, first season day).

`--callgrind N` counts instead of timing: the compiled season loop's instructions per cycle
over N cycles after an hour's warm-up, under valgrind's callgrind (collected only inside
StationLoop.run, so imports and the warm-up are not counted). Instruction counts do not move
with the machine's load, so two builds can be compared on a shared machine.

Every run says which compiled build it measured (`build`: "plain", or "pgo" after `make
build-pgo`, see build_kind), so figures of the two builds are never mixed up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

PARTS = (
    ("step_dict", "StationController.step(process image dict)"),
    ("step_image", "StationController.step_image(arrays)"),
    ("chain", "setpoint chain alone"),
    ("valve_loop", "valve loop alone"),
    ("season_loop", "season loop, per cycle"),
    ("plant_image", "  plant instruments (fill_bound)"),
    ("controller", "  controller (step_image)"),
    ("plant_advance", "  plant integration (set_actuators + advance)"),
    ("recorder", "  season recorder"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the step benchmark."""
    parser.add_argument("--cycles", type=int, default=100000, help="cycles timed per figure (default %(default)s)")
    parser.add_argument("--interpreted-cycles", type=int, default=10000,
                        help="cycles per figure for the interpreted run (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--callgrind", type=int, default=0, metavar="N",
                        help="instead: the compiled season loop's instructions per cycle over N cycles (valgrind)")


def measure(cycles: int) -> dict[str, float]:
    """µs per cycle of each part, in this process (compiled or not, as it was started)."""
    import time
    from array import array

    from heatkeeper.core import signals
    from heatkeeper.core.station import StationController
    from heatkeeper.tools.bench.season import CONTROL_PERIOD_S, HEATKEEPER_SETTINGS, ROOM_PERIOD_S, make_plant
    from heatkeeper.tools.plant.local_control import Recorder, StationLoop

    spec = {"city": "arxan", "weather": None, "days": 1, "start_day": 0, "seed": 0, "settings": dict(HEATKEEPER_SETTINGS)}
    plant, _days = make_plant(spec)
    rec = Recorder(plant.time_s)
    ctl = StationController(spec["settings"])
    loop = StationLoop(ctl, plant, ROOM_PERIOD_S)
    loop.run(plant, rec, 3600, CONTROL_PERIOD_S)  # warm up: pumps proven, valve in control
    clock = time.perf_counter
    us = 1e6 / cycles
    out: dict[str, float] = {}

    t0 = clock()
    loop.run(plant, rec, cycles, CONTROL_PERIOD_S)
    out["season_loop"] = (clock() - t0) * us

    n = len(signals.INPUTS)
    values = array("d", [0.0] * n)
    oks = array("b", [1] * n)
    plant.bind_image(values, oks)  # as the season loop: the arrays once, then fill_bound per cycle
    t0 = clock()
    for _ in range(cycles):
        plant.fill_bound()
    out["plant_image"] = (clock() - t0) * us

    # The controller on a moving image: the plant's, with the clock advancing each cycle.
    images = []
    for _ in range(100):
        plant.advance(CONTROL_PERIOD_S)
        images.append(plant.process_image())
    arrays = []
    for image in images:
        arrays.append((array("d", [image[name][0] for name in signals.INPUTS]),
                       array("b", [1 if image[name][1] else 0 for name in signals.INPUTS])))
    now_s = plant.time_s
    t0 = clock()
    for k in range(cycles):
        image = dict(images[k % 100])  # a fresh dict each cycle, as firmware builds one
        image["now_s"] = now_s + k
        ctl.step(image)
    out["step_dict"] = (clock() - t0) * us
    now_s += cycles
    t0 = clock()
    for k in range(cycles):
        v, o = arrays[k % 100]
        ctl.step_image(now_s + k, v, o)
    out["step_image"] = (clock() - t0) * us
    out["controller"] = out["step_image"]
    ctl.take_events()

    chain = ctl.chain
    # The chain's dict entry on the controller's validated image (the cycle passes these numbers).
    sq = ctl.signals
    chain_in = {name: (sq.values[signals.INPUTS.index(name)], sq.ok[signals.INPUTS.index(name)] != 0)
                for name in ("primary_return_temp_c", "heat_power_kw", "primary_flow_m3h")}
    flags = dict(ctl.mode_flags)
    now_s = ctl.now_s
    t0 = clock()
    for k in range(cycles):
        chain.step(now_s + k, -12.0, True, chain_in, 20.0, flags)
    out["chain"] = (clock() - t0) * us
    valve = ctl.valve
    now_s = max(now_s + cycles, valve.last_s)
    t0 = clock()
    for k in range(cycles):
        valve.step(now_s + k, 60.0, 59.5 + (k % 3) * 0.25, True, 40.0, True, None)
    out["valve_loop"] = (clock() - t0) * us

    act = ctl.act
    t0 = clock()
    for _ in range(cycles):
        plant.set_actuators(act.valve_cmd_pct, act.valve_open_pulse_s, act.valve_close_pulse_s, act.pump1_run,
                            act.pump1_speed_cmd_pct, act.pump2_run, act.pump2_speed_cmd_pct, act.makeup_pump_run,
                            act.makeup_pump_speed_cmd_pct, act.relief_valve_open)
        plant.advance(CONTROL_PERIOD_S)
    out["plant_advance"] = (clock() - t0) * us
    setpoint_c = ctl.supply_setpoint_c
    t0 = clock()
    for _ in range(cycles):
        rec.record(plant, setpoint_c)
    out["recorder"] = (clock() - t0) * us
    return out


# The compiled modules the season loop runs (build_kind reads them).
LOOP_MODULES = ("heatkeeper.core.station", "heatkeeper.tools.plant.model", "heatkeeper.tools.plant.local_control")


# What GCC records as -march= when none was given (x86-64's baseline; ARM64 records none).
GENERIC_MARCH = ("x86-64",)


def module_build(path: str) -> str:
    """"pgo" (built with -fprofile-use), "pgo-instrumented" (-fprofile-generate) or "plain", as the
    compiled module at `path` records its options (setup.py's PGO builds record them with
    -frecord-gcc-switches; GCC's debug info holds them too), followed by " -march=CPU" for a
    module built for one instruction set (setup.py's HEATKEEPER_MARCH; `native` is recorded as
    the CPU it named)."""
    import re

    with open(path, "rb") as handle:
        data = handle.read()
    if b"-fprofile-use" in data:
        kind = "pgo"
    elif b"-fprofile-generate" in data:
        kind = "pgo-instrumented"
    else:
        kind = "plain"
    marches = {m.decode() for m in re.findall(rb"-march=([A-Za-z0-9._+-]+)", data)} - set(GENERIC_MARCH)
    if marches:
        kind += " -march=" + ",".join(sorted(marches))
    return kind


def build_kind(modules: tuple[str, ...] = LOOP_MODULES) -> str:
    """Which build this process runs: "interpreted", "plain", "pgo" or "pgo-instrumented"
    (`make build-pgo`), with " -march=CPU" for a build for one instruction set
    (HEATKEEPER_MARCH), or "mixed (...)" when the season loop's modules differ."""
    import importlib

    from heatkeeper.core import _cext

    kinds = {}
    for name in modules:
        mod = importlib.import_module(name)
        kinds[name] = module_build(mod.__file__ or "") if _cext.compiled(mod) else "interpreted"
    found = sorted(set(kinds.values()))
    if len(found) == 1:
        return found[0]
    return "mixed (%s)" % ", ".join("%s: %s" % (name.rpartition(".")[2], kind) for name, kind in kinds.items())


# The training run of `make build-pgo`: one day of heatkeeper's Arxan season at each of these
# season days (cold start, deep winter, thaw), so the profile sees the season's branches.
PGO_TRAINING_DAYS = (0, 35, 70, 105, 140, 175)


def pgo_training(days: tuple[int, ...] = PGO_TRAINING_DAYS) -> int:
    """Run the compiled season loop over `days` (one simulated day each, in this process, which
    must exit normally so the instrumented modules write their profiles). Returns the cycles run."""
    from heatkeeper.tools.bench.season import CONTROL_PERIOD_S, load_settings, simulate

    cycles = 0
    for day in days:
        spec = {"city": "arxan", "weather": None, "days": 1, "start_day": day, "seed": 0, "settings": load_settings(None)}
        simulate("heatkeeper", spec)
        cycles += int(round(86400.0 / CONTROL_PERIOD_S))
    return cycles


# The season loop's compiled function: callgrind collects inside it only.
LOOP_SYMBOL = "__pyx_f_10heatkeeper_5tools_5plant_13local_control_11StationLoop_run"


def callgrind_target(cycles: int) -> float:
    """The process callgrind runs: the season loop warmed up for an hour outside StationLoop.run
    (the same calls, from Python), then `cycles` cycles inside it. Returns the heat delivered
    (kWh), the same for builds that keep the figures bit for bit."""
    from heatkeeper.core.station import StationController
    from heatkeeper.tools.bench.season import CONTROL_PERIOD_S, HEATKEEPER_SETTINGS, ROOM_PERIOD_S, make_plant
    from heatkeeper.tools.plant.local_control import Recorder, StationLoop

    spec = {"city": "arxan", "weather": None, "days": 1, "start_day": 0, "seed": 0, "settings": dict(HEATKEEPER_SETTINGS)}
    plant, _days = make_plant(spec)
    rec = Recorder(plant.time_s)
    ctl = StationController(spec["settings"])
    loop = StationLoop(ctl, plant, ROOM_PERIOD_S)
    values = loop.values
    oks = loop.oks
    ctl.bind_image(values, oks)
    for _ in range(3600):
        if plant.time_s >= loop.next_room_s:
            ctl.set_room_temps(loop.room_ids, loop.room_groups, plant.collector_temps_now(), plant.time_s)
            loop.next_room_s += loop.room_period_s
        plant.fill_image(values, oks)
        if ctl.step_bound(plant.time_s) > 0:
            ctl.take_events()
        act = ctl.act
        plant.set_actuators(act.valve_cmd_pct, act.valve_open_pulse_s, act.valve_close_pulse_s, act.pump1_run,
                            act.pump1_speed_cmd_pct, act.pump2_run, act.pump2_speed_cmd_pct, act.makeup_pump_run,
                            act.makeup_pump_speed_cmd_pct, act.relief_valve_open)
        plant.advance(CONTROL_PERIOD_S)
        rec.record(plant, ctl.supply_setpoint_c)
    loop.run(plant, rec, cycles, CONTROL_PERIOD_S)
    return plant.heat_kwh


def run_callgrind(cycles: int, valgrind: str = "valgrind") -> dict[str, Any]:
    """Instructions per season-loop cycle of the compiled build, counted by callgrind."""
    import re
    import shutil
    import tempfile

    if shutil.which(valgrind) is None:
        return {"error": "valgrind not found (apt-get install valgrind)"}
    env = dict(os.environ)
    env.pop("HEATKEEPER_DISABLE_CEXT", None)
    env["HEATKEEPER_REQUIRE_CEXT"] = "1"
    code = ("import json; from heatkeeper.tools.bench.step import build_kind, callgrind_target; "
            "print(json.dumps([callgrind_target(%d), build_kind()]))" % cycles)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([valgrind, "--tool=callgrind", "--toggle-collect=" + LOOP_SYMBOL,
                               "--callgrind-out-file=" + os.path.join(tmp, "callgrind.out"),
                               sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    found = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else "valgrind failed (exit %d)" % proc.returncode}
    instructions = int(found.group(1))
    if instructions == 0:
        return {"error": "nothing collected in %s: is the season loop compiled?" % LOOP_SYMBOL}
    heat_kwh, build = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"cycles": cycles, "instructions": instructions, "per_cycle": instructions / cycles,
            "heat_kwh": float(heat_kwh), "build": build}


def run_both(cycles: int, interpreted_cycles: int) -> dict[str, Any]:
    """Both builds in fresh processes: {"compiled": {...}, "interpreted": {...}} (or *_error)."""
    result: dict[str, Any] = {"cycles": cycles, "interpreted_cycles": interpreted_cycles}
    for label, env_key, n in (("compiled", "HEATKEEPER_REQUIRE_CEXT", cycles),
                              ("interpreted", "HEATKEEPER_DISABLE_CEXT", interpreted_cycles)):
        env = dict(os.environ)
        env.pop("HEATKEEPER_DISABLE_CEXT", None)
        env.pop("HEATKEEPER_REQUIRE_CEXT", None)
        env[env_key] = "1"
        code = ("import json; from heatkeeper.tools.bench.step import build_kind, measure; "
                "print(json.dumps([measure(%d), build_kind()]))" % n)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            result[label + "_error"] = lines[-1] if lines else "failed"
            continue
        result[label], build = json.loads(proc.stdout.strip().splitlines()[-1])
        if label == "compiled":
            result["build"] = build  # "plain" or "pgo" (`make build-pgo`): figures of the two are not comparable
    # the headline: a full station cycle as firmware calls it (heating circuit, limiters, room
    # feedback, pumps, make-up, alarms, interlocks), compiled vs interpreted
    compiled_us = result.get("compiled", {}).get("step_dict")
    interpreted_us = result.get("interpreted", {}).get("step_dict")
    result["compiled_us_per_step"] = compiled_us
    result["interpreted_us_per_step"] = interpreted_us
    result["speedup"] = interpreted_us / compiled_us if compiled_us and interpreted_us else None
    return result


def run(args: argparse.Namespace) -> int:
    """Measure and print the table (or one JSON object)."""
    if args.callgrind:
        if args.callgrind < 1000:
            print("heatkeeper bench step: --callgrind needs >= 1000 cycles", file=sys.stderr)
            return 2
        counted = run_callgrind(args.callgrind)
        if args.json:
            print(json.dumps(counted, indent=1))
        elif "error" in counted:
            print("heatkeeper bench step --callgrind: %s" % counted["error"], file=sys.stderr)
        else:
            print("season loop, compiled (%s build): %.0f instructions per cycle (callgrind, %d cycles after an "
                  "hour's warm-up; heat %r kWh)" % (counted["build"], counted["per_cycle"], counted["cycles"],
                                                   counted["heat_kwh"]))
        return 1 if "error" in counted else 0
    if args.cycles < 1000 or args.interpreted_cycles < 1000:
        print("heatkeeper bench step: --cycles and --interpreted-cycles must be >= 1000", file=sys.stderr)
        return 2
    result = run_both(args.cycles, args.interpreted_cycles)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0 if "compiled" in result and "interpreted" in result else 1
    comp = result.get("compiled", {})
    interp = result.get("interpreted", {})
    print("heatkeeper bench step: µs per cycle (compiled: %d cycles, %s build; interpreted: %d)" % (
        args.cycles, result.get("build", "-"), args.interpreted_cycles))
    print("%-48s %12s %12s %8s" % ("", "compiled", "interpreted", "ratio"))
    for key, label in PARTS:
        c = comp.get(key)
        i = interp.get(key)
        ratio = "%7.1fx" % (i / c) if c and i else ""
        print("%-48s %12s %12s %8s" % (label, "%.2f" % c if c is not None else "-", "%.2f" % i if i is not None else "-",
                                       ratio))
    if result["speedup"]:
        print("full station step (StationController.step): %.2f us compiled, %.2f us interpreted, %.1fx" % (
            result["compiled_us_per_step"], result["interpreted_us_per_step"], result["speedup"]))
    for label in ("compiled", "interpreted"):
        if label + "_error" in result:
            print("%s run failed: %s" % (label, result[label + "_error"]))
    return 0 if comp and interp else 1
