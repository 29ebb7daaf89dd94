"""Tests of core.drive_reset: the bus-reset policy as tables of cycles in simulated time."""

import unittest

from heatkeeper.core import drive_reset
from heatkeeper.core.drive_reset import R_IDLE, R_LATCHED, R_RESETTING, DriveReset


def policy(**over):
    cfg = dict(drive_reset.DEFAULTS)
    cfg.update(over)
    return DriveReset(cfg)


def run(p, rows):
    """rows: (t_s, known, tripped, resettable_known, resettable) -> [(t, reset, state, [reasons])]."""
    out = []
    for t, known, tripped, rk, r in rows:
        p.step(t, known, tripped, rk, r, 0)
        out.append((t, p.reset, p.state, [e["reason"] for e in p.take_events()]))
    return out


class TestTable(unittest.TestCase):
    def test_transient_trip_is_reset_once_and_clears(self):
        got = run(policy(), [
            (0.0, True, False, True, True),
            (1.0, True, True, True, True),  # trips: reset at once
            (2.0, True, True, True, True),  # reset held for pulse_s (2 s)
            (3.0, True, True, True, True),  # pulse over: waiting for the trip to clear
            (4.0, True, False, True, True),  # cleared
            (5.0, True, False, True, True),
        ])
        self.assertEqual(got, [
            (0.0, False, R_IDLE, []),
            (1.0, True, R_RESETTING, ["reset"]),
            (2.0, True, R_RESETTING, []),
            (3.0, False, R_RESETTING, []),
            (4.0, False, R_IDLE, ["reset_ok"]),
            (5.0, False, R_IDLE, []),
        ])

    def test_non_resettable_fault_latches_without_a_reset(self):
        p = policy()
        got = run(p, [(0.0, True, True, True, False), (1.0, True, True, True, True), (50.0, True, True, True, True)])
        self.assertEqual([g[1] for g in got], [False, False, False])
        self.assertEqual(got[0][3], ["latched"])
        self.assertEqual(p.state, R_LATCHED)
        self.assertEqual(drive_reset.LATCH_REASONS[p.latched_reason], "not_resettable")
        self.assertEqual(p.total, 0)

    def test_limit_then_latch_then_visit_unlatches(self):
        p = policy(max_resets=3, window_s=3600.0, wait_s=10.0)
        reasons = []
        t = 0.0
        while t < 200.0:  # a drive that trips again at once after every reset
            p.step(t, True, True, True, True, 0)
            reasons.extend(e["reason"] for e in p.take_events())
            t += 1.0
        self.assertEqual(reasons, ["reset", "reset_failed", "reset", "reset_failed", "reset", "reset_failed", "latched"])
        self.assertEqual(p.total, 3)
        self.assertEqual(drive_reset.LATCH_REASONS[p.latched_reason], "reset_limit")
        # An hour later it is still latched: only a person (or a mains cycle) clears it.
        p.step(4000.0, True, True, True, True, 0)
        self.assertEqual((p.state, p.reset), (R_LATCHED, False))
        p.step(4001.0, True, False, True, True, 0)  # reset on site
        self.assertEqual(p.state, R_IDLE)
        self.assertEqual([e["reason"] for e in p.take_events()], ["unlatched"])
        p.step(4002.0, True, True, True, True, 0)  # a new trip later: resets start afresh
        self.assertEqual((p.state, p.reset), (R_RESETTING, True))

    def test_resets_spread_over_the_window_are_allowed(self):
        p = policy(max_resets=3, window_s=3600.0)
        for k in range(5):  # one transient trip every 30 min: each one cleared
            t0 = k * 1800.0
            p.step(t0, True, True, True, True, 0)
            self.assertTrue(p.reset, k)
            p.step(t0 + 1.0, True, False, True, True, 0)
            self.assertEqual(p.state, R_IDLE)
        self.assertEqual(p.total, 5)

    def test_unknown_status_holds_everything(self):
        p = policy()
        got = run(p, [(0.0, False, True, True, True), (1.0, False, True, True, True)])
        self.assertEqual(got, [(0.0, False, R_IDLE, []), (1.0, False, R_IDLE, [])])
        p.step(2.0, True, True, True, True, 0)
        self.assertEqual(p.state, R_RESETTING)
        p.step(3.0, False, False, True, True, 0)  # bus lost mid-reset: no conclusion drawn
        self.assertEqual((p.state, p.reset), (R_RESETTING, False))

    def test_unknown_fault_code_waits_then_latches(self):
        p = policy(wait_s=10.0)
        got = run(p, [(0.0, True, True, False, False), (5.0, True, True, False, False), (10.0, True, True, False, False)])
        self.assertEqual([g[2] for g in got], [R_IDLE, R_IDLE, R_LATCHED])
        self.assertEqual(drive_reset.LATCH_REASONS[p.latched_reason], "fault_unknown")
        # ... but a code that arrives in time decides.
        q = policy(wait_s=10.0)
        got = run(q, [(0.0, True, True, False, False), (3.0, True, True, True, True)])
        self.assertEqual([g[1] for g in got], [False, True])

    def test_validate(self):
        self.assertEqual(drive_reset.validate(dict(drive_reset.DEFAULTS)), [])
        bad = dict(drive_reset.DEFAULTS, max_resets=-1, pulse_s=20.0, wait_s=10.0)
        problems = drive_reset.validate(bad)
        self.assertEqual(len(problems), 2)
        self.assertIn("drive_reset.max_resets=-1", problems[0])


if __name__ == "__main__":
    unittest.main()
