"""The soak: simulated days of the real station against the simulator and a real broker,
accelerated, with faults injected at random, then one table of what survived.

    python -m heatkeeper.tools.sim.soak --days 30            (make soak)
    python -m heatkeeper.tools.sim.soak --days 2             (the default test run)

Faults, drawn as Poisson events per simulated day with a seeded RNG: bursts of corrupted
frames, dropped replies, a device that dies for a while, a broker outage, a station process
killed with SIGKILL (power cut) and restarted, and remote commands (valid and invalid).

The table: uplink messages produced (highest sequence number), delivered (distinct), duplicated
(extra copies), lost (gaps) and conflicting (same sequence number, different content);
commands sent, applied, rejected, expired, unanswered; restarts survived; the largest
excursion of the plant beyond a safety limit (sampled over the whole run). Target: nothing
lost, nothing conflicting, no excursion. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal as _signal
import sys
import tempfile
import time
from typing import Any

from .rig import Rig, sequence_report


def safety_limits() -> tuple[tuple[str, float | None, float | None], ...]:
    """Limits the plant must never pass whatever the faults, (signal, low, high): the station's
    own interlock settings (core.interlocks.DEFAULTS, the one place for them): secondary supply
    over-temperature and the frost limit of the water, over-pressure, and the under-pressure
    that would run the pumps dry."""
    from heatkeeper.core import interlocks

    d = interlocks.DEFAULTS
    return (
        ("secondary_supply_temp_c", float(d["frost_supply_c"]), float(d["overtemp_c"])),
        ("secondary_supply_pressure_kpa", None, float(d["over_pressure_kpa"])),
        ("secondary_return_pressure_kpa", float(d["under_pressure_kpa"]), None),
    )


# Fault kind -> (events per simulated day, duration in simulated seconds).
FAULTS: dict[str, tuple[float, float]] = {
    "corrupt": (3.0, 1800.0),
    "drop": (2.0, 1800.0),
    "dead_device": (2.0, 3600.0),
    "broker_outage": (1.0, 3600.0),
    "kill": (1.5, 60.0),
    "command": (12.0, 0.0),
}

GOOD_COMMANDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("set_room_setpoint", {"room_setpoint_c": 20.0, "lease_s": 7200}),
    ("boost", {"boost_k": 2.0, "duration_s": 1800}),
)
BAD_COMMANDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("set_room_setpoint", {"room_setpoint_c": 45.0, "lease_s": 3600}),  # outside the allowed range
    ("set_mode", {"mode": "party"}),  # no such mode
    ("set_supply_setpoint", {"supply_setpoint_c": 60.0, "lease_s": 3600}),  # only in remote mode
)


class Soak:
    """One soak run on a Rig; `run()` returns the result table as a dict."""

    def __init__(self, days: float, time_scale: float, cycle_s: float, seed: int, workdir: str,
                 devices: list[str] | None = None, telemetry_interval_s: float = 60.0) -> None:
        self.days, self.time_scale, self.cycle_s, self.seed = days, time_scale, cycle_s, seed
        self.telemetry_interval_s = telemetry_interval_s
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.devices = devices
        self.worst: dict[str, float] = {}
        self.commands: dict[str, str] = {}  # id -> "good" | "bad"
        self.restarts = 0
        self.log: list[str] = []
        self.wall0 = time.monotonic()

    def _schedule(self, horizon_s: float) -> list[tuple[float, str]]:
        events = []
        first_s, last_s = 1800.0, horizon_s - 4 * 3600  # after start-up; leave time to drain
        for kind, (per_day, _duration) in FAULTS.items():
            t = first_s
            drawn = 0
            while True:
                t += self.rng.expovariate(per_day / 86400.0)
                if t >= last_s:
                    break
                events.append((t, kind))
                drawn += 1
            if drawn == 0 and last_s > first_s:
                # A short run still sees every kind of fault once.
                events.append((self.rng.uniform(first_s, last_s), kind))
        return sorted(events)

    def _excursions(self, rig: Rig) -> None:
        """Largest excursion beyond each limit, from the simulator's extremes over every plant step."""
        extremes = rig.sim_cmd("extremes")["extremes"]
        for signal, low, high in safety_limits():
            span = extremes.get(signal)
            if not span:
                continue
            beyond = 0.0
            if high is not None and span[1] > high:
                beyond = span[1] - high
            if low is not None and span[0] < low:
                beyond = max(beyond, low - span[0])
            self.worst[signal] = round(beyond, 2)

    def _note(self, rig: Rig, text: str) -> None:
        line = "t=%8.0f s  %s" % (rig.sim_time_s(), text)
        self.log.append(line)
        print(line, flush=True)

    def run(self) -> dict[str, Any]:
        horizon_s = self.days * 86400.0
        self.wall0 = time.monotonic()
        # Snapshots every 5 wall seconds: a power cut may cost at most that much state.
        overrides: dict[str, Any] = {"station": {"telemetry_interval_s": self.telemetry_interval_s,
                                                 "snapshot_interval_s": 5.0}}
        rig = Rig(self.workdir, time_scale=self.time_scale, cycle_s=self.cycle_s, seed=self.seed,
                  station_overrides=overrides)
        try:
            rig.start()
            # The start-up transient (cold network being filled and heated) is not steady state.
            self._advance(rig, 1800.0, [])
            rig.sim_cmd("extremes reset")
            devices = self.devices or [d["name"] for d in _devices(rig)]
            pending: list[tuple[float, str, str]] = []  # (end time, kind, argument) of faults to undo
            for at_s, kind in self._schedule(horizon_s):
                self._advance(rig, at_s, pending)
                self._inject(rig, kind, devices, pending)
            self._advance(rig, horizon_s, pending)
            for _end, kind, arg in pending:
                self._undo(rig, kind, arg)
            self._excursions(rig)
            return self._result(rig)
        finally:
            rig.close()

    def _advance(self, rig: Rig, target_s: float, pending: list[tuple[float, str, str]]) -> None:
        while True:
            now_s = rig.sim_time_s()
            due = [p for p in pending if p[0] <= now_s]
            for item in due:
                pending.remove(item)
                self._undo(rig, item[1], item[2])
            if now_s >= target_s:
                return
            if rig.station is not None and not rig.station.alive():
                raise RuntimeError("the station process died on its own:\n" + rig.logs())
            time.sleep(min(1.0, max(0.05, (target_s - now_s) / self.time_scale)))

    def _inject(self, rig: Rig, kind: str, devices: list[str], pending: list[tuple[float, str, str]]) -> None:
        now_s = rig.sim_time_s()
        duration_s = FAULTS[kind][1] * self.rng.uniform(0.5, 1.5)
        if kind == "corrupt" or kind == "drop":
            rate = self.rng.choice((0.01, 0.05, 0.2))
            rig.sim_cmd("%s %s" % (kind, rate))
            pending.append((now_s + duration_s, kind, ""))
            self._note(rig, "%s %.2f for %.0f s" % (kind, rate, duration_s))
        elif kind == "dead_device":
            name = self.rng.choice(devices)
            if any(p[1] == kind and p[2] == name for p in pending):
                return
            rig.sim_cmd("dead %s" % name)
            pending.append((now_s + duration_s, kind, name))
            self._note(rig, "device %s dead for %.0f s" % (name, duration_s))
        elif kind == "broker_outage":
            if rig.broker is None or any(p[1] == kind for p in pending):
                return
            rig.broker.stop()
            pending.append((now_s + duration_s, kind, ""))
            self._note(rig, "broker down for %.0f s" % duration_s)
        elif kind == "kill":
            rig.kill_station()
            self._note(rig, "station killed (SIGKILL)")
            rig.start_station()
            self.restarts += 1
        elif kind == "command":
            if rig.broker is None or rig.broker.process is None:
                return
            good = self.rng.random() < 0.75
            kind_name, args = self.rng.choice(GOOD_COMMANDS if good else BAD_COMMANDS)
            command_id = "soak-%d-%d" % (self.seed, len(self.commands) + 1)
            try:
                rig.send_command(kind_name, args, command_id, ttl_s=600.0)
            except (TimeoutError, OSError) as exc:
                self._note(rig, "command %s not sent: %s" % (command_id, exc))
                return
            self.commands[command_id] = "good" if good else "bad"

    def _undo(self, rig: Rig, kind: str, arg: str) -> None:
        if kind in ("corrupt", "drop"):
            rig.sim_cmd("%s 0" % kind)
        elif kind == "dead_device":
            rig.sim_cmd("alive %s" % arg)
        elif kind == "broker_outage" and rig.broker is not None:
            rig.broker.start()
            self._note(rig, "broker back")

    def _result(self, rig: Rig) -> dict[str, Any]:
        assert rig.recorder is not None
        # Let the outbox drain. It sends in sequence order, so once a message stamped after this
        # point has arrived with no gap before it, everything produced earlier was delivered.
        drain_ts = rig.station_now_s()
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            uplinks = rig.recorder.uplinks(station=rig.station_id, copies=True)
            if any(float(m["ts"]) >= drain_ts for m in uplinks) and not sequence_report(uplinks)["missing"]:
                break
        uplinks = rig.recorder.uplinks(station=rig.station_id, copies=True)
        report = sequence_report(uplinks)
        telemetry = [m for m in uplinks if m["kind"] == "telemetry"]
        acks: dict[str, str] = {}
        for msg in uplinks:
            if msg["kind"] == "ack":
                acks.setdefault(msg["body"]["command_id"], msg["body"]["result"])
        results = {"applied": 0, "rejected": 0, "expired": 0, "unanswered": 0, "bad_applied": 0}
        for command_id, quality in self.commands.items():
            result = acks.get(command_id)
            if result is None:
                results["unanswered"] += 1
            else:
                results[result] += 1
                if quality == "bad" and result == "applied":
                    results["bad_applied"] += 1
        excursion = max(self.worst.values()) if self.worst else 0.0
        return {
            "simulated_days": self.days, "time_scale": self.time_scale, "cycle_s": self.cycle_s,
            "produced": report["last"] or 0, "delivered": report["distinct"], "duplicated": report["duplicates"],
            "lost": len(report["missing"]) + max(0, (report["first"] or 1) - 1), "conflicting": report["conflicting"],
            "telemetry_samples": len({m["seq"] for m in telemetry}),
            "telemetry_interval_s": self.telemetry_interval_s,
            "telemetry_expected": int(self.days * 86400.0 / self.telemetry_interval_s),
            "cycle_overruns": _overruns(telemetry),
            "commands_sent": len(self.commands), **{"commands_" + k: v for k, v in results.items()},
            "restarts_survived": self.restarts, "largest_excursion": excursion, "excursions": dict(self.worst),
            "missing_seq": report["missing"][:20], "wall_s": time.monotonic() - self.wall0,
        }


def _overruns(telemetry: list[dict[str, Any]]) -> int:
    """Control cycles that took longer than their wall period, summed over every station process
    (the counter restarts from 0 with each process). An accelerated station that overruns runs
    its loops with longer steps than configured: the time scale is too high for the machine."""
    total, last = 0, 0
    for msg in sorted(telemetry, key=lambda m: int(m["seq"])):
        value = msg["body"].get("values", {}).get("cycle_overruns")
        if not isinstance(value, (int, float)):
            continue
        if value < last:  # a restarted process
            total += last
        last = int(value)
    return total + last


def _devices(rig: Rig) -> list[dict[str, Any]]:
    status = rig.sim_cmd("status")
    names = []
    for line in status["lines"].values():
        names.extend(line["devices"].values())
    return [{"name": n} for n in names]


def format_table(result: dict[str, Any]) -> str:
    rows = [
        ("simulated days", "%g (x%g, cycle %g s, %.0f s wall)" % (
            result["simulated_days"], result["time_scale"], result["cycle_s"], result.get("wall_s", 0.0))),
        ("uplink messages produced", result["produced"]),
        ("  delivered (distinct)", result["delivered"]),
        ("  duplicated (extra copies)", result["duplicated"]),
        ("  lost", result["lost"]),
        ("  conflicting", result["conflicting"]),
        ("telemetry samples delivered", "%d (one per %g s would be %d)" % (
            result["telemetry_samples"], result.get("telemetry_interval_s", 60.0), result.get("telemetry_expected", 0))),
        ("control cycles overrun", result.get("cycle_overruns", 0)),
        ("commands sent", result["commands_sent"]),
        ("  applied", result["commands_applied"]),
        ("  rejected", result["commands_rejected"]),
        ("  expired", result["commands_expired"]),
        ("  unanswered", result["commands_unanswered"]),
        ("  invalid but applied", result["commands_bad_applied"]),
        ("restarts survived (SIGKILL)", result["restarts_survived"]),
        ("largest excursion beyond a safety limit", "%.2f" % result["largest_excursion"]),
    ]
    width = max(len(r[0]) for r in rows)
    lines = ["%-*s  %s" % (width, name, value) for name, value in rows]
    for signal, beyond in sorted(result["excursions"].items()):
        lines.append("%-*s  %.2f" % (width, "  " + signal, beyond))
    return "\n".join(lines)


def passed(result: dict[str, Any]) -> bool:
    return (result["lost"] == 0 and result["conflicting"] == 0 and result["largest_excursion"] == 0.0
            and result["commands_bad_applied"] == 0 and result["commands_unanswered"] == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heatkeeper.tools.sim.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=30.0, help="simulated days")
    parser.add_argument("--time-scale", type=float, default=None, help="acceleration (default 1440: a simulated day in a minute)")
    parser.add_argument("--cycle-s", type=float, default=60.0, help="station control cycle in simulated seconds")
    parser.add_argument("--telemetry-interval-s", type=float, default=60.0, help="station telemetry interval (simulated s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default="", help="keep configs and logs here (default: a temporary folder)")
    args = parser.parse_args(argv)

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt("signal %d" % signum)

    # SIGTERM (timeout, CI cancellation) unwinds like Ctrl-C: the rig stops what it started.
    _signal.signal(_signal.SIGTERM, _terminate)
    time_scale = args.time_scale or 1440.0
    workdir = args.workdir or tempfile.mkdtemp(prefix="heatkeeper-soak-")
    os.makedirs(workdir, exist_ok=True)
    print("soak: %g simulated days at x%g, station cycle %g s, logs in %s" % (args.days, time_scale, args.cycle_s, workdir))
    result = Soak(args.days, time_scale, args.cycle_s, args.seed, workdir,
                  telemetry_interval_s=args.telemetry_interval_s).run()
    print(format_table(result))
    ok = passed(result)
    print("soak: %s" % ("PASS" if ok else "FAIL (targets: nothing lost or conflicting, every command answered, no excursion)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
