"""Tests of pushed settings: the apply_settings command, StationController.reconfigure and the
settings helpers (overlay over the station's own settings, the supervisor's standalone check)."""

import json
import unittest

from heatkeeper.core import codec, settings
from heatkeeper.core.commands import L_ROOM
from heatkeeper.core.station import StationController

from .station_rig import Rig

# The station's own settings (its TOML): a curve drawn for 22 degC rooms.
TOML = {"curve": {"design_room_c": 22.0}, "pumps": {"proof_s": 20.0}}
HOT_CURVE = {"curve": {"shift_k": 5.0}}


def push(rig, version, sections, kind="apply_settings"):
    return rig.command(kind, {"version": version, "sections": sections})


class TestApply(unittest.TestCase):
    def setUp(self):
        self.rig = Rig(settings=TOML)
        self.rig.run_until(self.rig.t + 120.0)

    def test_applied_version_in_telemetry_and_curve_in_effect(self):
        rig = self.rig
        before = rig.ctl.diagnostics()["curve_c"]
        rec = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertEqual(rec["settings_version"], 0)
        res = push(rig, 1, HOT_CURVE)
        self.assertEqual((res["result"], res["reason"]), ("applied", "ok"))
        self.assertIn("version 1", res["detail"])
        self.assertIn("chain", res["detail"])
        rig.run_until(rig.t + 2.0)
        self.assertAlmostEqual(rig.ctl.diagnostics()["curve_c"], before + 5.0, delta=1e-6)
        rec = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertEqual(rec["settings_version"], 1)
        # the station's own settings stand where the push says nothing
        self.assertEqual(rig.ctl.cfg["curve"]["design_room_c"], 22.0)
        self.assertEqual(rig.ctl.cfg["pumps"]["proof_s"], 20.0)
        events = [e for e in rig.out["events"] + rig.events if e.get("command") == "apply_settings"]
        self.assertEqual(events[-1]["result"], "applied")

    def test_each_push_replaces_the_last_and_version_0_is_the_toml(self):
        rig = self.rig
        push(rig, 1, HOT_CURVE)
        self.assertEqual(rig.ctl.cfg["curve"]["shift_k"], 5.0)
        res = push(rig, 2, {"pumps": {"proof_s": 30.0}})
        self.assertEqual(res["result"], "applied")
        self.assertEqual(rig.ctl.cfg["curve"]["shift_k"], 0.0)  # v2 does not carry v1's curve
        self.assertEqual(rig.ctl.cfg["pumps"]["proof_s"], 30.0)
        self.assertEqual(rig.ctl.pumps.proof_s, 30.0)
        res = push(rig, 0, {})
        self.assertEqual(res["result"], "applied")
        self.assertEqual(rig.ctl.settings_version, 0)
        self.assertEqual(rig.ctl.cfg["pumps"]["proof_s"], 20.0)
        self.assertEqual(push(rig, 0, {"curve": {"shift_k": 1.0}})["reason"], "bad_args")

    def test_rejected_with_every_problem_and_nothing_changed(self):
        rig = self.rig
        push(rig, 1, HOT_CURVE)
        cfg = json.dumps(rig.ctl.cfg)
        bad = {"curve": {"shift_k": 99.0, "colour": "red"}, "pumps": {"proof_s": -1}, "weather": {},
               "station": {"cycle_s": 2.0}}
        res = push(rig, 2, bad)
        self.assertEqual((res["result"], res["reason"]), ("rejected", "invalid_settings"))
        for text in ("weather: unknown section", "station.cycle_s=2.0"):
            self.assertIn(text, res["detail"])
        # structural problems first; once the shape is right, every value problem at once
        res = push(rig, 2, {"curve": {"shift_k": 99.0, "colour": "red"}, "pumps": {"proof_s": -1}})
        self.assertEqual(res["reason"], "invalid_settings")
        for text in ("curve.shift_k=99.0", "curve.colour: unknown key", "pumps.proof_s=-1 s: must be in [1, 600]"):
            self.assertIn(text, res["detail"])
        self.assertEqual(rig.ctl.settings_version, 1)
        self.assertEqual(json.dumps(rig.ctl.cfg), cfg)

    def test_rules_across_sections_use_the_station_settings(self):
        # Valid section by section, but above the station's over-temperature trip.
        rig = Rig(settings={"interlocks": {"overtemp_c": 85.0}, "commands": {"supply_max_c": 80.0}})
        res = push(rig, 3, {"commands": {"supply_max_c": 88.0}})
        self.assertEqual(res["reason"], "invalid_settings")
        self.assertIn("interlocks.overtemp_c=85.0", res["detail"])
        self.assertEqual(settings.check_sections({"commands": {"supply_max_c": 88.0}}), [])

    def test_bad_version(self):
        for version in (None, -1, 1.5, True, "2"):
            res = push(self.rig, version, HOT_CURVE)
            self.assertEqual(res["reason"], "bad_args", version)
        self.assertEqual(push(self.rig, 1, [1, 2])["reason"], "invalid_settings")

    def test_permitted_in_every_mode(self):
        rig = self.rig
        rig.command("set_mode", {"mode": "safe", "duration_s": 3600})
        self.assertEqual(rig.ctl.modes.mode, 6)
        self.assertEqual(push(rig, 1, HOT_CURVE)["result"], "applied")


class TestStateKept(unittest.TestCase):
    def test_leases_alarms_mode_pi_and_run_hours_survive(self):
        rig = Rig(settings=TOML)
        rig.run_until(rig.t + 600.0)
        rig.command("set_room_setpoint", {"room_setpoint_c": 21.0, "lease_s": 3600})
        rig.readings["tank_level_pct"] = None  # a sensor alarm
        rig.run_until(rig.t + 120.0)
        ctl = rig.ctl
        alarms = [(a["code"], a["state"]) for a in rig.out["alarms"]]
        self.assertTrue(alarms)
        pi_before = ctl.valve.pi.integral_pct
        est_before = ctl.valve.actuator.estimate_pct
        run_before = ctl.pumps.run_s[0]
        pumps, modes, alarm_table = ctl.pumps, ctl.modes, ctl.alarms
        mode = ctl.modes.mode
        lease_left = ctl.leases.remaining_s(L_ROOM, rig.t)
        res = push(rig, 1, {"curve": {"shift_k": 3.0}, "pi": {"xp_k": 50.0}})
        self.assertEqual(res["result"], "applied")
        # unchanged sections: the very same pieces
        self.assertIs(ctl.pumps, pumps)
        self.assertIs(ctl.modes, modes)
        self.assertIs(ctl.alarms, alarm_table)
        # rebuilt pieces: their state given back
        self.assertEqual(ctl.valve.pi.integral_pct, pi_before)
        self.assertEqual(ctl.valve.actuator.estimate_pct, est_before)
        self.assertEqual(ctl.valve.pi.kp_open, 2.0)
        res = push(rig, 2, {"pumps": {"proof_s": 25.0}, "alarms": {"deviation_k": 12.0}})
        self.assertEqual(res["result"], "applied", res["detail"])
        self.assertIsNot(ctl.pumps, pumps)
        self.assertAlmostEqual(ctl.pumps.run_s[0], run_before, delta=1e-6)
        self.assertEqual(ctl.modes.mode, mode)
        self.assertAlmostEqual(ctl.leases.remaining_s(L_ROOM, rig.t), lease_left, delta=1e-6)
        rig.run_until(rig.t + 2.0)
        self.assertEqual(sorted((a["code"], a["state"]) for a in rig.out["alarms"]), sorted(alarms))
        # the pieces built anew report into the controller's one event list
        self.assertIs(ctl.pumps.events, ctl.events)
        self.assertIs(ctl.alarms.events, ctl.events)

    def test_every_piece_built_anew_keeps_its_running_state(self):
        rig = Rig(settings=TOML)
        rig.ctl.set_room_readings([{"collector": "c1", "group": "g", "temp_c": 19.0, "age_s": 5.0}], rig.t)
        rig.run_until(rig.t + 3600.0)
        ctl = rig.ctl

        def live():
            return {
                "pumps.run": list(ctl.pumps.run), "pumps.started_s": list(ctl.pumps.started_s),
                "pumps.start_not_before_s": ctl.pumps.start_not_before_s,
                "signals.good_at_s": list(ctl.signals.good_at_s),
                "signals.changed_at_s": list(ctl.signals.changed_at_s),
                "modes.mode": ctl.modes.mode, "modes.entered_s": ctl.modes.entered_s,
                "valve.actuator.end_drive_s": ctl.valve.actuator.end_drive_s,
                "valve.actuator.estimate_pct": ctl.valve.actuator.estimate_pct,
                "valve.pi.integral_pct": ctl.valve.pi.integral_pct,
                "chain.room.trend_s": ctl.chain.room.trend_s, "chain.room.low_c": ctl.chain.room.low_c,
                "chain.outdoor.changed_since_s": ctl.chain.outdoor.changed_since_s,
                "make_up.total_m3": ctl.make_up.total_m3,
            }

        before = live()
        sections = {"pumps": {"proof_s": 25.0}, "curve": {"shift_k": 1.0}, "pi": {"xp_k": 50.0},
                    "alarms": {"deviation_k": 12.0}, "make_up": {"band_kpa": 30.0},
                    "interlocks": {"overtemp_c": 96.0}, "modes": {"fill_timeout_s": 1000.0},
                    "sensors": {"stale_s": 40.0}, "outdoor": {"building_time_constant_s": 36000.0}}
        res = push(rig, 1, sections)
        self.assertEqual(res["result"], "applied", res["detail"])
        for name in ("signals", "alarms", "modes", "pumps", "make_up", "interlocks", "chain", "valve"):
            self.assertIn(name, res["detail"])
        self.assertEqual(live(), before)
        # the new settings are in the pieces
        self.assertEqual(ctl.pumps.proof_s, 25.0)
        self.assertEqual(ctl.interlocks.overtemp_c, 96.0)
        self.assertEqual(ctl.signals.stale_s, 40.0)
        self.assertEqual(ctl.valve.pi.kp_open, 2.0)
        rig.run_until(rig.t + 3.0)
        self.assertTrue(rig.out["pump1_run"])  # the running pump never stopped

    def test_restart_keeps_nothing_pushed_by_itself(self):
        # The controller's snapshot holds state, not settings: the firmware persists the push.
        rig = Rig(settings=TOML)
        push(rig, 1, HOT_CURVE)
        other = StationController(TOML)
        other.restore(json.loads(json.dumps(rig.ctl.snapshot())), 5000.0)
        self.assertEqual(other.settings_version, 0)


class TestHelpers(unittest.TestCase):
    def test_overlay(self):
        problems = []
        out = settings.overlay(TOML, {"curve": {"shift_k": 2.0}}, problems)
        self.assertEqual(problems, [])
        self.assertEqual(out["curve"], {"design_room_c": 22.0, "shift_k": 2.0})
        self.assertEqual(TOML["curve"], {"design_room_c": 22.0})  # the base is not touched
        settings.overlay(TOML, {"curve": 3, "moon": {}}, problems)
        self.assertEqual(len(problems), 2)

    def test_check_sections_lists_every_problem(self):
        problems = settings.check_sections({"curve": {"shift_k": 99.0, "x": 1}, "pumps": {"proof_s": "5"},
                                            "nope": {}})
        self.assertEqual(len(problems), 4, problems)
        self.assertEqual(settings.check_sections(HOT_CURVE), [])

    def test_sections_travel_in_a_signed_command(self):
        args = {"version": 4, "sections": {"curve": {"table_supply_c": [70.0, 55.0], "mode": "table"}}}
        topic, payload = codec.encode_command("st1", "c1", "apply_settings", args, "admin", 1.0, 2.0)
        cmd = codec.decode_command(topic, payload)
        self.assertEqual(cmd["args"], args)
        with self.assertRaises(codec.CodecError):
            topic, payload = codec.encode_command("st1", "c1", "apply_settings", {"other": {"a": 1}}, "admin", 1.0, 2.0)
            codec.decode_command(topic, payload)
        with self.assertRaises(codec.CodecError):
            topic, payload = codec.encode_command("st1", "c1", "apply_settings",
                                                  {"sections": {"a": {"b": 1e300}}}, "admin", 1.0, 2.0)
            codec.decode_command(topic, payload)


if __name__ == "__main__":
    unittest.main()
