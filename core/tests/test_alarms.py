"""Tests of core.alarms: delay, time hysteresis, latching, acknowledgement, listing."""

import unittest

from heatkeeper.core import alarms
from heatkeeper.core.alarms import A_PRESSURE_LOW, A_SECONDARY_OVERTEMP, AlarmTable


def make(**over):
    cfg = dict(alarms.DEFAULTS)
    cfg.update(over)
    return AlarmTable(cfg)


def states(table):
    return dict((row["code"], row["state"]) for row in table.listing_now())


class TestAlarmTable(unittest.TestCase):
    def test_on_delay_ignores_a_glitch(self):
        t = make(delay_s=10.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 0.0)
        t.update(A_PRESSURE_LOW, False, 200.0, 5.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 6.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 15.0)
        self.assertEqual(states(t), {})
        t.update(A_PRESSURE_LOW, True, 88.0, 16.0)
        self.assertEqual(states(t), {"pressure_low": "active"})
        row = t.listing_now()[0]
        self.assertEqual(row["severity"], "major")
        self.assertEqual(row["since_s"], 16.0)
        self.assertEqual(row["value"], 88.0)
        self.assertEqual(t.events[-1]["reason"], "raised")

    def test_non_latching_clears_after_clear_delay(self):
        t = make(delay_s=0.0, clear_delay_s=5.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 0.0)
        t.update(A_PRESSURE_LOW, False, 200.0, 1.0)
        t.update(A_PRESSURE_LOW, False, 200.0, 5.0)
        self.assertEqual(states(t), {"pressure_low": "active"})
        t.update(A_PRESSURE_LOW, False, 200.0, 6.0)
        self.assertEqual(states(t), {})
        self.assertEqual(t.events[-1]["reason"], "cleared")

    def test_latching_needs_ack(self):
        t = make(clear_delay_s=0.0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 0.0)
        self.assertEqual(states(t), {"secondary_overtemp": "active"})
        t.update(A_SECONDARY_OVERTEMP, False, 80.0, 1.0)
        self.assertEqual(states(t), {"secondary_overtemp": "cleared_unacked"})
        self.assertTrue(t.is_on(A_SECONDARY_OVERTEMP))
        self.assertEqual(t.ack("secondary_overtemp", 2.0), "")
        self.assertEqual(states(t), {})
        self.assertTrue(not t.is_on(A_SECONDARY_OVERTEMP))

    def test_ack_while_active_then_clear(self):
        t = make(clear_delay_s=0.0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 0.0)
        self.assertEqual(t.ack("secondary_overtemp", 1.0), "")
        self.assertEqual(states(t), {"secondary_overtemp": "acked"})
        self.assertEqual(t.ack("secondary_overtemp", 1.0), "already_acked")
        t.update(A_SECONDARY_OVERTEMP, False, 80.0, 2.0)
        self.assertEqual(states(t), {})

    def test_ack_unknown_or_idle(self):
        t = make()
        self.assertEqual(t.ack("no_such_alarm", 0.0), "unknown_alarm")
        self.assertEqual(t.ack("pressure_low", 0.0), "not_active")

    def test_listing_is_rebuilt_only_on_change(self):
        t = make(delay_s=0.0)
        first = t.listing_now()
        t.update(A_PRESSURE_LOW, True, 90.0, 0.0)
        second = t.listing_now()
        self.assertTrue(first is not second)
        t.update(A_PRESSURE_LOW, True, 90.0, 1.0)
        self.assertTrue(t.listing_now() is second)

    def test_codes_are_unique_and_cover_sensors(self):
        self.assertEqual(len(alarms.CODES), len(set(alarms.CODES)))
        self.assertIn("sensor_secondary_supply_temp_c", alarms.CODES)
        for row in alarms.catalogue():
            self.assertIn(row[1], alarms.SEVERITIES)

    def test_snapshot_round_trip(self):
        t = make(delay_s=0.0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 100.0)
        snap = t.snapshot(160.0)
        other = make()
        other.restore(snap, 1000.0)
        row = other.listing_now()[0]
        self.assertEqual(row["code"], "secondary_overtemp")
        self.assertAlmostEqual(row["since_s"], 940.0, delta=1e-9)
        other.restore("garbage", 0.0)
        other.restore([["x", 1, 0, 0], [1, 2], None], 0.0)


if __name__ == "__main__":
    unittest.main()
