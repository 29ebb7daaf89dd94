"""Helpers for station and scenario tests: a healthy process image and a table runner.

A scenario is a table of rows `(until_s, changes, command, expect)`: the station is stepped
every `dt_s` from the previous row's time up to `until_s` with the inputs as changed so far
(`changes` maps a signal to a value, or to None to make it not ok); `command` (or None) is
handled at the start of the row; `expect` is checked on the last output of the row:
    "<output key>": value           exact (floats within 1e-6)
    "alarm:<code>": state | None    the alarm's state, None for not listed
    "event:<reason>": True | False  an event with this reason was (not) raised in the row
    "result": (result, reason)      the command's answer
"""

from heatkeeper.core.station import StationController

HEALTHY = {
    "outdoor_temp_c": -10.0,
    "primary_supply_temp_c": 100.0,
    "primary_return_temp_c": 55.0,
    "secondary_supply_temp_c": 52.0,
    "secondary_return_temp_c": 40.0,
    "secondary_supply_pressure_kpa": 350.0,
    "secondary_return_pressure_kpa": 250.0,
    "tank_level_pct": 80.0,
    "pump1_fault": 0.0,
    "pump2_fault": 0.0,
    "makeup_pump_fault": 0.0,
    "makeup_volume_m3": 10.0,
}


class Rig:
    """A controller plus a process image; pump running feedback follows the commands."""

    def __init__(self, settings=None, readings=None, t0=1000.0):
        self.ctl = StationController(settings)
        self.readings = dict(HEALTHY)
        if readings:
            self.readings.update(readings)
        self.t = t0
        self.out = None
        self.events = []
        self.follow_pumps = True
        self.pump_broken = [False, False]

    def inputs(self):
        inp = {"now_s": self.t}
        for name, value in self.readings.items():
            inp[name] = (0.0, False) if value is None else (value, True)
        if self.follow_pumps and self.out is not None:
            inp["pump1_running"] = (1.0 if self.out["pump1_run"] and not self.pump_broken[0] else 0.0, True)
            inp["pump2_running"] = (1.0 if self.out["pump2_run"] and not self.pump_broken[1] else 0.0, True)
            inp["makeup_pump_running"] = (1.0 if self.out["makeup_pump_run"] else 0.0, True)
        return inp

    def step(self):
        self.out = self.ctl.step(self.inputs())
        self.events.extend(self.out["events"])
        return self.out

    def run_until(self, until_s, dt_s=1.0):
        while self.t < until_s - 1e-9:
            self.t += dt_s
            self.step()
        return self.out

    def command(self, kind, args=None, source="remote"):
        return self.ctl.handle_command({"id": "c1", "kind": kind, "args": args or {}, "user": "test",
                                        "source": source}, self.t)

    def alarm_state(self, code):
        for row in self.out["alarms"]:
            if row["code"] == code:
                return row["state"]
        return None


# The valve driven fully shut (what a safety rule's table rows expect of the outputs).
SHUT = {"valve_cmd_pct": 0.0, "valve_open_pulse_s": 0.0, "valve_close_pulse_s": 1.0}


def merged(*dicts):
    """One dict of several (later keys win): a table row's inputs or expected outputs."""
    out = {}
    for d in dicts:
        out.update(d)
    return out


def cmd(kind, args=None, source="remote"):
    """A command as the station receives it (fixed id and user)."""
    return {"id": "x", "kind": kind, "args": args or {}, "user": "op", "source": source}


def run_table(case, rig, rows, dt_s=1.0):
    """Run scenario rows (see the module docstring) with unittest assertions on `case`."""
    for n, row in enumerate(rows):
        until_s, changes, command, expect = row
        where = "row %d (t=%s)" % (n, until_s)
        for name in changes:
            rig.readings[name] = changes[name]
        result = None
        start = len(rig.events)
        if command is not None:
            result = rig.ctl.handle_command(command, rig.t)  # its event comes out of the next step
        rig.run_until(until_s, dt_s)
        reasons = [e.get("reason") for e in rig.events[start:]]
        for key in expect:
            want = expect[key]
            if key == "result":
                case.assertEqual((result["result"], result["reason"]), want, where + " " + str(result))
            elif key.startswith("alarm:"):
                case.assertEqual(rig.alarm_state(key[6:]), want, where + " " + key)
            elif key.startswith("event:"):
                case.assertEqual(key[6:] in reasons, want, where + " " + key + " in " + str(reasons))
            elif isinstance(want, float):
                case.assertAlmostEqual(rig.out[key], want, delta=1e-6, msg=where + " " + key)
            else:
                case.assertEqual(rig.out[key], want, where + " " + key)
