"""Tests of core.command_handler: the envelope every command passes and the table of kinds."""

import unittest

from heatkeeper.core import command_handler, commands
from heatkeeper.core.command_handler import KIND_TABLE, KINDS, check_envelope
from heatkeeper.core.modes import M_AUTO, M_MANUAL, M_REMOTE, M_SAFE
from heatkeeper.core.station import StationController


class TestEnvelope(unittest.TestCase):
    def test_garbage_commands(self):
        self.assertEqual(check_envelope("x", 0.0, M_AUTO)["reason"], "bad_command")
        self.assertEqual(check_envelope({"kind": "explode"}, 0.0, M_AUTO)["reason"], "unknown_kind")
        self.assertEqual(check_envelope({"kind": 3}, 0.0, M_AUTO)["reason"], "unknown_kind")
        self.assertEqual(check_envelope({"kind": "boost", "source": "moon"}, 0.0, M_AUTO)["reason"], "bad_source")
        self.assertEqual(check_envelope({"kind": "boost", "args": [1]}, 0.0, M_AUTO)["reason"], "bad_args")

    def test_permission_and_locality(self):
        cmd = {"kind": "set_supply_setpoint", "args": {}, "source": "remote"}
        self.assertEqual(check_envelope(cmd, 0.0, M_AUTO)["reason"], "not_permitted_in_mode")
        self.assertEqual(check_envelope(cmd, 0.0, M_REMOTE), {})
        manual = {"kind": "set_valve_manual", "args": {}, "source": "remote"}
        self.assertEqual(check_envelope(manual, 0.0, M_MANUAL)["reason"], "local_only")
        manual["source"] = "local"
        self.assertEqual(check_envelope(manual, 0.0, M_MANUAL), {})
        room = {"kind": "set_room_setpoint", "args": {}, "source": "remote"}
        self.assertEqual(check_envelope(room, 0.0, M_SAFE)["reason"], "not_permitted_in_mode")
        ack = {"kind": "ack_alarm", "args": {}, "source": "remote"}
        self.assertEqual(check_envelope(ack, 0.0, M_SAFE), {})

    def test_expired(self):
        res = check_envelope({"kind": "boost", "expires_s": 10.0}, 11.0, M_AUTO)
        self.assertEqual((res["result"], res["reason"]), ("expired", "expired"))

class TestTable(unittest.TestCase):
    def test_every_kind_has_one_row(self):
        self.assertEqual(sorted(KINDS), sorted(KIND_TABLE))
        self.assertEqual(len(KINDS), len(KIND_TABLE))

    def test_rows_name_real_leases_and_settings(self):
        for kind in KINDS:
            row = KIND_TABLE[kind]
            self.assertTrue(callable(row[command_handler.HANDLER]), kind)
            lease = row[command_handler.LEASE]
            self.assertTrue(lease == -1 or 0 <= lease < commands.N_LEASES, kind)
            arg = row[command_handler.ARG]
            if arg is not None:
                key, unit, low, high = arg
                for bound in (low, high):
                    if isinstance(bound, str):
                        self.assertIn(bound, commands.DEFAULTS, kind)

    def test_a_leased_setpoint_row_sets_its_lease(self):
        ctl = StationController()
        for kind, what in (("set_room_setpoint", "room_setpoint"), ("set_dp_setpoint", "dp_setpoint"),
                           ("set_makeup_pressure", "makeup_pressure")):
            key, unit, low, high = KIND_TABLE[kind][command_handler.ARG]
            value = commands.DEFAULTS[high]
            res = ctl.handle_command({"kind": kind, "args": {key: value, "lease_s": 600}}, 0.0)
            self.assertEqual(res["result"], "applied", res)
            which = KIND_TABLE[kind][command_handler.LEASE]
            self.assertEqual(commands.LEASE_NAMES[which], what)
            self.assertTrue(ctl.leases.active(which))
            self.assertEqual(ctl.leases.value[which], value)
            self.assertEqual(ctl.events[-1]["command"], kind)


class TestOffer(unittest.TestCase):
    """offer(): what the station tells the supervisor it accepts now, as flat uplink fields."""

    def permitted(self, fields):
        return [kind for i, kind in enumerate(KINDS) if fields["commands_permitted"] >> i & 1]

    def test_the_kinds_follow_the_mode(self):
        ctl = StationController()
        fields = command_handler.offer(ctl)
        self.assertEqual(ctl.modes.mode, M_AUTO)
        self.assertTrue("set_supply_setpoint" not in self.permitted(fields))  # auto refuses it
        self.assertIn("set_room_setpoint", self.permitted(fields))
        self.assertTrue("set_valve_manual" not in self.permitted(fields))  # local panel only
        self.assertEqual(ctl.handle_command({"kind": "set_mode", "args": {"mode": "remote"}}, 0.0)["result"], "applied")
        self.assertIn("set_supply_setpoint", self.permitted(command_handler.offer(ctl)))
        for kind in KINDS:  # every kind it says it takes passes the envelope, and no other
            bad = check_envelope({"kind": kind, "args": {}}, 0.0, ctl.modes.mode)
            self.assertEqual(kind in self.permitted(command_handler.offer(ctl)), bad == {}, kind)

    def test_limits_ramp_and_lease_targets(self):
        ctl = StationController({"commands": {"room_max_c": 23.0}, "curve": {"ramp_up_k_per_h": 6.0}})
        fields = command_handler.offer(ctl)
        self.assertEqual(fields["commands_room_max_c"], 23.0)
        self.assertEqual(fields["commands_supply_max_c"], commands.DEFAULTS["supply_max_c"])
        self.assertEqual(fields["commands_max_lease_s"], commands.DEFAULTS["max_lease_s"])
        self.assertAlmostEqual(fields["ramp_up_k_per_h"], 6.0, delta=1e-9)
        self.assertEqual(fields["room_setpoint_lease_c"], None)
        self.assertEqual(fields["mode_lease_return"], -1)
        ctl.handle_command({"kind": "set_room_setpoint", "args": {"room_setpoint_c": 21.5, "lease_s": 600}}, 0.0)
        fields = command_handler.offer(ctl)
        self.assertEqual(fields["room_setpoint_lease_c"], 21.5)
        self.assertEqual(fields["room_setpoint_c"], 21.5)
        for name in fields:  # uplink field names (core.codec: [a-z0-9_]{1,64})
            self.assertTrue(0 < len(name) <= 64 and all(c in "abcdefghijklmnopqrstuvwxyz0123456789_" for c in name), name)


if __name__ == "__main__":
    unittest.main()
