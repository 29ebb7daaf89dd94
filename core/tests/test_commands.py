"""Tests of core.commands: arguments, leases."""

import unittest

from heatkeeper.core import commands
from heatkeeper.core.commands import L_DP, L_ROOM, Leases, lease_arg, number_arg


class TestArgs(unittest.TestCase):
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
        leases = Leases()
        leases.set(L_ROOM, 20.0, 100.0, 60.0)
        self.assertTrue(leases.active(L_ROOM))
        self.assertAlmostEqual(leases.remaining_s(L_ROOM, 130.0), 30.0, delta=1e-9)
        leases.expire(159.0)
        self.assertTrue(leases.active(L_ROOM))
        leases.expire(160.0)
        self.assertTrue(not leases.active(L_ROOM))
        self.assertEqual(leases.events[-1]["reason"], "expired")
        self.assertEqual(leases.events[-1]["what"], "room_setpoint")

    def test_snapshot_keeps_remaining_time(self):
        leases = Leases()
        leases.set(L_DP, 120.0, 0.0, 600.0)
        snap = leases.snapshot(100.0)
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
