"""Scenarios: remote summer and safe are leases that lapse back to the station's own mode, and
remote summer is refused in the cold (tables of cycles, leaping clock). Local mode commands
are not leased."""

import json
import unittest

from heatkeeper.core import commands, settings
from heatkeeper.core.station import StationController
from heatkeeper.core.tests.station_rig import Rig, cmd, run_table

DEFAULT_LEASE_S = commands.DEFAULTS["default_lease_s"]  # 3600 s
MAX_LEASE_S = commands.DEFAULTS["max_lease_s"]


def warm_rig(**kw):
    return Rig(readings={"outdoor_temp_c": 15.0}, **kw)


class TestModeLeases(unittest.TestCase):
    def test_remote_summer_refused_in_the_cold(self):
        # The review's probe: remote summer at -20 degC was applied and never expired.
        rig = Rig(readings={"outdoor_temp_c": -20.0})
        run_table(self, rig, [
            (1010.0, {}, None, {"mode_name": "auto"}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer"}), {"result": ("rejected", "outdoor_too_cold"),
                                                             "mode_name": "auto"}),
            (1620.0, {}, None, {"mode_name": "auto"}),
        ])
        self.assertTrue(rig.out["supply_setpoint_c"] > 50.0, rig.out["supply_setpoint_c"])
        # The local panel decides for itself (unchanged): summer, for good.
        run_table(self, rig, [
            (1630.0, {}, cmd("set_mode", {"mode": "summer"}, "local"), {"result": ("applied", "ok"), "mode_name": "summer"}),
            (1630.0 + MAX_LEASE_S + 100.0, {}, None, {"mode_name": "summer"}),
        ], dt_s=50.0)

    def test_cold_by_the_attenuated_outdoor_or_unknown_is_refused_too(self):
        # A warm afternoon after a cold spell: the attenuated (12 h) temperature is still low.
        rig = Rig(readings={"outdoor_temp_c": 5.0})
        run_table(self, rig, [
            (1000.0 + 4 * 3600.0, {}, None, {}),
            (1000.0 + 4 * 3600.0 + 1200.0, {"outdoor_temp_c": 16.0}, None, {}),
            (1000.0 + 4 * 3600.0 + 1210.0, {}, cmd("set_mode", {"mode": "summer"}),
             {"result": ("rejected", "outdoor_too_cold"), "mode_name": "auto"}),
        ], dt_s=10.0)
        # No outdoor value at all (the curve on its fixed cold value): refused.
        blind = Rig(readings={"outdoor_temp_c": None})
        run_table(self, blind, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer"}), {"result": ("rejected", "outdoor_unknown")}),
        ])

    def test_threshold_is_a_setting(self):
        rig = Rig({"commands": {"summer_min_outdoor_c": 5.0}}, readings={"outdoor_temp_c": 8.0})
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer"}), {"result": ("applied", "ok"), "mode_name": "summer"}),
        ])
        problems = settings.validate({"commands": {"summer_min_outdoor_c": 40.0}})
        self.assertEqual(problems, ["commands.summer_min_outdoor_c=40.0 degC: must be in [-10, 30]"])
        self.assertEqual(settings.validate({"commands": {"summer_min_outdoor_c": "warm"}}),
                         ["commands.summer_min_outdoor_c='warm' degC: must be in [-10, 30]"])

    def test_remote_summer_lapses_back_to_auto(self):
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {"mode_name": "auto"}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer"}), {"result": ("applied", "ok"), "mode_name": "summer"}),
            # Issued at t=1010 for the default lease.
            (1010.0 + DEFAULT_LEASE_S - 1.0, {}, None, {"mode_name": "summer", "event:mode_lease_ended": False}),
            (1010.0 + DEFAULT_LEASE_S + 1.0, {}, None, {"mode_name": "auto", "event:mode_lease_ended": True,
                                                         "event:expired": True}),
        ])
        self.assertEqual(rig.ctl.diagnostics()["mode_lease_s"], 0.0)
        ended = [e for e in rig.events if e.get("reason") == "mode_lease_ended"]
        self.assertEqual((ended[0]["from"], ended[0]["to"]), ("summer", "auto"))

    def test_duration_argument_bounds(self):
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1011.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": MAX_LEASE_S + 1}),
             {"result": ("rejected", "out_of_range"), "mode_name": "auto"}),
            (1012.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": "long"}),
             {"result": ("rejected", "bad_args"), "mode_name": "auto"}),
            (1013.0, {}, cmd("set_mode", {"mode": "remote", "duration_s": 600}),
             {"result": ("rejected", "bad_args"), "mode_name": "auto"}),
            (1014.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": 600}), {"result": ("applied", "ok")}),
            (1500.0, {}, None, {"mode_name": "summer"}),
        ])
        self.assertAlmostEqual(rig.ctl.diagnostics()["mode_lease_s"], 1013.0 + 600.0 - 1500.0, delta=1e-6)
        run_table(self, rig, [(1620.0, {}, None, {"mode_name": "auto"})])

    def test_remote_safe_lapses_back_to_remote(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("set_mode", {"mode": "remote"}), {"mode_name": "remote"}),
            (1020.0, {}, cmd("set_mode", {"mode": "safe", "duration_s": 900}),
             {"result": ("applied", "ok"), "mode_name": "safe", "valve_cmd_pct": 0.0}),
            (1900.0, {}, None, {"mode_name": "safe"}),
            (1940.0, {}, None, {"mode_name": "remote", "event:mode_lease_ended": True}),
        ])

    def test_safe_lease_ends_in_safe_while_a_trip_is_latched(self):
        rig = Rig()
        run_table(self, rig, [
            (1010.0, {}, cmd("set_mode", {"mode": "safe", "duration_s": 600}), {"mode_name": "safe"}),
            (1100.0, {"secondary_supply_temp_c": 99.0}, None, {"alarm:secondary_overtemp": "active"}),
            (1700.0, {"secondary_supply_temp_c": 50.0}, None, {"mode_name": "safe", "event:mode_lease_ended": False}),
            (1800.0, {}, None, {"mode_name": "safe"}),
        ])
        self.assertEqual(rig.ctl.mode_lease_return, -1)

    def test_trip_during_a_summer_lease_voids_it(self):
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": 600}), {"mode_name": "summer"}),
            (1100.0, {"secondary_supply_temp_c": 99.0}, None, {"mode_name": "safe"}),
            (1900.0, {"secondary_supply_temp_c": 50.0}, None, {"mode_name": "safe", "event:mode_lease_ended": False}),
        ])

    def test_other_mode_commands_end_the_lease_and_clear_lease_returns_at_once(self):
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer"}), {"mode_name": "summer"}),
            # Remote auto: the lease ends; nothing happens when its time would have run out.
            (1030.0, {}, cmd("set_mode", {"mode": "auto"}), {"mode_name": "auto"}),
            (1030.0 + DEFAULT_LEASE_S, {}, None, {"mode_name": "auto", "event:mode_lease_ended": False}),
        ], dt_s=10.0)
        t = rig.t
        run_table(self, rig, [
            (t + 10.0, {}, cmd("set_mode", {"mode": "remote"}), {"mode_name": "remote"}),
            (t + 20.0, {}, cmd("set_mode", {"mode": "safe"}), {"mode_name": "safe"}),
            # A remote summer on top of the safe lease: still back to remote in the end.
            (t + 30.0, {}, cmd("set_mode", {"mode": "summer"}), {"mode_name": "summer"}),
            (t + 40.0, {}, cmd("clear_lease", {"what": "mode"}), {"mode_name": "remote", "event:mode_lease_ended": True}),
        ])

    def test_local_summer_makes_a_leased_summer_permanent(self):
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": 600}), {"mode_name": "summer"}),
            (1030.0, {}, cmd("set_mode", {"mode": "summer"}, "local"), {"result": ("applied", "ok")}),
            (2000.0, {}, None, {"mode_name": "summer", "event:mode_lease_ended": False}),
        ])
        # And a remote summer renews a running lease explicitly.
        rig2 = warm_rig()
        run_table(self, rig2, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": 600}), {"mode_name": "summer"}),
            (1500.0, {}, None, {}),
            # (A row's command is handled at the start of the row: here at t=1500, to 2100.)
            (1510.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": 600}), {"result": ("applied", "ok")}),
            (2090.0, {}, None, {"mode_name": "summer"}),
            (2110.0, {}, None, {"mode_name": "auto"}),
        ])

    def test_restart_in_the_middle_of_a_mode_lease(self):
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer", "duration_s": 1200}), {"mode_name": "summer"}),
            (1500.0, {}, None, {}),
        ])
        snap = json.loads(json.dumps(rig.ctl.snapshot()))
        fresh = warm_rig()
        fresh.ctl = StationController(None)
        fresh.t = 50000.0  # another monotonic clock after the restart
        fresh.ctl.restore(snap, fresh.t)
        run_table(self, fresh, [
            (50000.0 + 600.0, {}, None, {"mode_name": "summer"}),
            (50000.0 + 800.0, {}, None, {"mode_name": "auto", "event:mode_lease_ended": True}),
        ])

    def test_a_return_mode_off_the_table_is_refused_by_name(self):
        # The compiled cycle indexes its table of return triggers without an index check: a
        # return mode that is not a mode (state set from outside) is an IndexError with the
        # range, never a read past the table.
        rig = warm_rig()
        run_table(self, rig, [
            (1010.0, {}, None, {"mode_name": "auto"}),
            (1020.0, {}, cmd("set_mode", {"mode": "summer"}), {"result": ("applied", "ok"), "mode_name": "summer"}),
        ])
        rig.ctl.mode_lease_return = 42
        rig.t = 1010.0 + DEFAULT_LEASE_S + 1.0
        try:
            rig.step()
            self.assertTrue(False, "no IndexError")
        except IndexError as exc:
            self.assertIn("mode_lease_return 42 is not a mode (0..7)", str(exc))


if __name__ == "__main__":
    unittest.main()
