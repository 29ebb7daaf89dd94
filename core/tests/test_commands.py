"""Tests of core.commands: arguments, leases."""

import unittest

from heatkeeper.core import commands
from heatkeeper.core.commands import L_DP, L_ROOM, LEASE_NAMES, N_LEASES, Leases, lease_arg, number_arg


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

    def test_expiry_as_a_walk_over_every_lease_each_cycle(self):
        # expire() skips the walk until its earliest expiry: the same leases drop at the same
        # cycles as when every lease is looked at each cycle, through sets, clears, re-sets
        # with shorter times and a snapshot restored into a new Leases
        leases = Leases()
        until = [-1.0] * N_LEASES  # the walk, written out
        walked = []
        seed = 12345
        t = 1000.0
        for _ in range(3000):
            seed = (seed * 1103515245 + 12345) % 2147483648
            op, which, length = seed % 7, (seed // 7) % N_LEASES, 1.0 + (seed // 49) % 40
            if op == 0 or op == 1:
                leases.set(which, 20.0, t, length)
                until[which] = t + length
            elif op == 2:
                leases.clear(which)
                until[which] = -1.0
            elif op == 3 and seed % 5 == 0:
                restored = Leases()
                restored.restore(leases.snapshot(t), t)
                restored.events = leases.events
                leases = restored
            t += 0.5 + (seed // 7) % 3
            leases.expire(t)
            for i in range(N_LEASES):
                if until[i] >= 0.0 and t >= until[i]:
                    until[i] = -1.0
                    walked.append((LEASE_NAMES[i], t))
            self.assertEqual([leases.active(i) for i in range(N_LEASES)], [u >= 0.0 for u in until])
            self.assertEqual(leases.any_active(), any(u >= 0.0 for u in until))  # the cycle's one question
        self.assertEqual([(e["what"], e["at_s"]) for e in leases.events], walked)
        self.assertTrue(len(walked) > 100)

    def test_any_active_follows_every_change_of_the_leases(self):
        # any_active() answers from a count the leases keep themselves: a lease that ends
        # before 0 on the caller's clock is not active, a restore over active leases counts
        # them once, a clear of an inactive lease changes nothing
        leases = Leases()
        self.assertTrue(not leases.any_active())
        leases.set(L_ROOM, 20.0, -100.0, 60.0)
        self.assertTrue(not leases.active(L_ROOM))
        self.assertTrue(not leases.any_active())
        leases.set(L_ROOM, 20.0, 0.0, 60.0)
        leases.set(L_DP, 120.0, 0.0, 30.0)
        self.assertEqual(leases.n_active, 2)
        leases.restore({"room_setpoint": [21.0, 10.0], "boost": [2.0, 5.0]}, 10.0)
        self.assertEqual(leases.n_active, 3)
        self.assertTrue(not leases.clear(commands.L_SUPPLY))
        self.assertEqual(leases.n_active, 3)
        leases.expire(15.0)  # boost ends at 15
        self.assertEqual(leases.n_active, 2)
        leases.expire(30.0)  # room (20) and dp (30)
        self.assertEqual(leases.n_active, 0)
        self.assertTrue(not leases.any_active())

    def test_snapshot_keeps_remaining_time(self):
        leases = Leases()
        leases.set(L_DP, 120.0, 0.0, 600.0)
        snap = leases.snapshot(100.0)
        self.assertEqual(snap, {"dp_setpoint": [120.0, 500.0]})
        other = Leases()
        other.restore(snap, 5000.0)
        self.assertAlmostEqual(other.remaining_s(L_DP, 5000.0), 500.0, delta=1e-9)
        other.restore({"dp_setpoint": ["x", 1]}, 0.0)

    def test_lease_index_out_of_range_is_refused_with_the_range(self):
        # the compiled module reads the lease arrays without per-access checks: each method
        # checks its lease index itself, in both builds, and says which indexes exist
        leases = Leases()
        leases.set(L_ROOM, 20.0, 0.0, 60.0)
        calls = (lambda w: leases.set(w, 1.0, 0.0, 60.0), leases.clear, leases.active,
                 lambda w: leases.remaining_s(w, 0.0))
        for call in calls:
            for which in (-1, commands.N_LEASES, 1000):
                try:
                    call(which)
                except IndexError as exc:
                    self.assertEqual(str(exc), "lease %d not in 0..%d" % (which, commands.N_LEASES - 1))
                else:
                    self.fail("lease index %d accepted" % which)
        self.assertTrue(leases.active(L_ROOM))
        self.assertEqual(leases.snapshot(0.0), {"room_setpoint": [20.0, 60.0]})

    def test_validate(self):
        self.assertEqual(commands.validate(dict(commands.DEFAULTS)), [])
        bad = dict(commands.DEFAULTS)
        bad["default_lease_s"] = 200000.0
        self.assertEqual(len(commands.validate(bad)), 1)


if __name__ == "__main__":
    unittest.main()
