"""Tests of core.commands: envelope checks, arguments, leases."""

import unittest

from heatkeeper.core import commands
from heatkeeper.core.commands import L_DP, L_ROOM, Leases, check_envelope, lease_arg, number_arg
from heatkeeper.core.modes import M_AUTO, M_MANUAL, M_REMOTE, M_SAFE


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

    def test_number_and_lease_args(self):
        self.assertEqual(number_arg({"x": 5}, "x", "K", 0, 10), (5.0, None))
        self.assertEqual(number_arg({"x": True}, "x", "K", 0, 10)[1]["reason"], "bad_args")
        self.assertEqual(number_arg({"x": float("nan")}, "x", "K", 0, 10)[1]["reason"], "bad_args")
        self.assertEqual(number_arg({"x": 11}, "x", "K", 0, 10)[1]["reason"], "out_of_range")
        cfg = dict(commands.DEFAULTS)
        self.assertEqual(lease_arg({}, cfg), (3600.0, None))
        self.assertEqual(lease_arg({"lease_s": 1e9}, cfg)[1]["reason"], "out_of_range")


class TestLeases(unittest.TestCase):
    def test_expiry_and_events(self):
        lz = Leases()
        lz.set(L_ROOM, 20.0, 100.0, 60.0)
        self.assertTrue(lz.active(L_ROOM))
        self.assertAlmostEqual(lz.remaining_s(L_ROOM, 130.0), 30.0, delta=1e-9)
        lz.expire(159.0)
        self.assertTrue(lz.active(L_ROOM))
        lz.expire(160.0)
        self.assertTrue(not lz.active(L_ROOM))
        self.assertEqual(lz.events[-1]["reason"], "expired")
        self.assertEqual(lz.events[-1]["what"], "room_setpoint")

    def test_snapshot_keeps_remaining_time(self):
        lz = Leases()
        lz.set(L_DP, 120.0, 0.0, 600.0)
        snap = lz.snapshot(100.0)
        self.assertEqual(snap, {"dp_setpoint": [120.0, 500.0]})
        other = Leases()
        other.restore(snap, 5000.0)
        self.assertAlmostEqual(other.remaining_s(L_DP, 5000.0), 500.0, delta=1e-9)
        other.restore({"dp_setpoint": ["x", 1]}, 0.0)

    def test_validate(self):
        self.assertEqual(commands.validate(dict(commands.DEFAULTS)), [])
        bad = dict(commands.DEFAULTS)
        bad["default_lease_s"] = 200000.0
        self.assertEqual(len(commands.validate(bad)), 1)


if __name__ == "__main__":
    unittest.main()
