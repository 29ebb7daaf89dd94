"""Tests of core.alarms: delay, time hysteresis, latching, acknowledgement, listing."""

import json
import unittest

from heatkeeper.core import alarms, codec
from heatkeeper.core.alarms import A_PRESSURE_LOW, A_SAFE_MODE, A_SECONDARY_OVERTEMP, NO_LIMIT, AlarmTable


def make(**over):
    cfg = dict(alarms.DEFAULTS)
    cfg.update(over)
    return AlarmTable(cfg)


def states(table):
    return dict((row["code"], row["state"]) for row in table.listing_now())


class TestAlarmTable(unittest.TestCase):
    def test_on_delay_ignores_a_glitch(self):
        t = make(delay_s=10.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 0.0)
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 5.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 6.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 15.0)
        self.assertEqual(states(t), {})
        t.update(A_PRESSURE_LOW, True, 88.0, 150.0, 16.0)
        self.assertEqual(states(t), {"pressure_low": "active"})
        row = t.listing_now()[0]
        self.assertEqual(row["severity"], "major")
        self.assertEqual(row["since_s"], 16.0)
        self.assertEqual(row["value"], 88.0)
        self.assertEqual(t.events[-1]["reason"], "raised")

    def test_non_latching_clears_after_clear_delay(self):
        t = make(delay_s=0.0, clear_delay_s=5.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 0.0)
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 1.0)
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 5.0)
        self.assertEqual(states(t), {"pressure_low": "active"})
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 6.0)
        self.assertEqual(states(t), {})
        self.assertEqual(t.events[-1]["reason"], "cleared")

    def test_latching_needs_ack(self):
        t = make(clear_delay_s=0.0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 95.0, 0.0)
        self.assertEqual(states(t), {"secondary_overtemp": "active"})
        t.update(A_SECONDARY_OVERTEMP, False, 80.0, 95.0, 1.0)
        self.assertEqual(states(t), {"secondary_overtemp": "cleared_unacked"})
        self.assertTrue(t.is_on(A_SECONDARY_OVERTEMP))
        self.assertEqual(t.ack("secondary_overtemp", 2.0), "")
        self.assertEqual(states(t), {})
        self.assertTrue(not t.is_on(A_SECONDARY_OVERTEMP))

    def test_ack_while_active_then_clear(self):
        t = make(clear_delay_s=0.0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 95.0, 0.0)
        self.assertEqual(t.ack("secondary_overtemp", 1.0), "")
        self.assertEqual(states(t), {"secondary_overtemp": "acked"})
        self.assertEqual(t.ack("secondary_overtemp", 1.0), "already_acked")
        t.update(A_SECONDARY_OVERTEMP, False, 80.0, 95.0, 2.0)
        self.assertEqual(states(t), {})

    def test_ack_unknown_or_idle(self):
        t = make()
        self.assertEqual(t.ack("no_such_alarm", 0.0), "unknown_alarm")
        self.assertEqual(t.ack("pressure_low", 0.0), "not_active")

    def test_listing_is_rebuilt_only_on_change(self):
        t = make(delay_s=0.0)
        first = t.listing_now()
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 0.0)
        second = t.listing_now()
        self.assertTrue(first is not second)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 1.0)
        self.assertTrue(t.listing_now() is second)

    def test_codes_are_unique_and_cover_sensors(self):
        self.assertEqual(len(alarms.CODES), len(set(alarms.CODES)))
        self.assertIn("sensor_secondary_supply_temp_c", alarms.CODES)
        for row in alarms.catalogue():
            self.assertIn(row[1], alarms.SEVERITIES)

    def test_snapshot_round_trip(self):
        t = make(delay_s=0.0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 95.0, 100.0)
        snap = t.snapshot(160.0)
        other = make()
        other.restore(snap, 1000.0)
        row = other.listing_now()[0]
        self.assertEqual(row["code"], "secondary_overtemp")
        self.assertAlmostEqual(row["since_s"], 940.0, delta=1e-9)
        other.restore("garbage", 0.0)
        other.restore([["x", 1, 0, 0], [1, 2], None], 0.0)

    def test_limit_beside_value_in_listing_and_events(self):
        t = make(delay_s=0.0)
        t.update(A_PRESSURE_LOW, True, 120.0, 150.0, 10.0)
        t.update(A_SAFE_MODE, True, 0.0, NO_LIMIT, 10.0)
        rows = dict((row["code"], row) for row in t.listing_now())
        self.assertEqual((rows["pressure_low"]["value"], rows["pressure_low"]["limit"]), (120.0, 150.0))
        self.assertEqual(rows["safe_mode"]["limit"], None)  # no numeric limit: None, never NaN
        events = dict((ev["code"], ev) for ev in t.events)
        self.assertEqual(events["pressure_low"]["limit"], 150.0)
        self.assertEqual(events["safe_mode"]["limit"], None)
        for ev in t.events:  # what the firmware sends: accepted by the codec (no NaN)
            body = dict(ev, state="active")
            topic, payload = codec.encode_uplink("st-1", 1, codec.UP_ALARM, 100.0, body)
            self.assertEqual(codec.decode_uplink(topic, payload)["body"]["limit"], ev["limit"])

    def test_snapshot_keeps_the_limit_and_reads_old_rows(self):
        t = make(delay_s=0.0)
        t.update(A_PRESSURE_LOW, True, 120.0, 150.0, 10.0)
        t.update(A_SAFE_MODE, True, 0.0, NO_LIMIT, 10.0)
        snap = json.loads(json.dumps(t.snapshot(20.0)))
        other = make()
        other.restore(snap, 20.0)
        rows = dict((row["code"], row) for row in other.listing_now())
        self.assertEqual(rows["pressure_low"]["limit"], 150.0)
        self.assertEqual(rows["safe_mode"]["limit"], None)
        old = make()  # a snapshot taken before limits were kept: rows of four
        old.restore([["pressure_low", alarms.S_ACTIVE, 10.0, 120.0]], 20.0)
        row = old.listing_now()[0]
        self.assertEqual((row["code"], row["value"], row["limit"]), ("pressure_low", 120.0, None))

    def test_a_bad_alarm_index_is_an_error(self):
        t = make()
        for i in (-1, t.n):
            with self.assertRaises(IndexError):
                t.update(i, True, 1.0, NO_LIMIT, 0.0)
            with self.assertRaises(IndexError):
                t.is_on(i)
            with self.assertRaises(IndexError):
                t.limit_of(i)
        self.assertEqual(t.events, [])

    def assert_busy_mirrors_state(self, t):
        # bit i of busy (i < BUSY_BITS) set exactly while alarm i is listed or timing its on-delay
        for i in range(alarms.BUSY_BITS if alarms.BUSY_BITS < t.n else t.n):
            on = t.state[i] != alarms.S_NONE or t.on_since_s[i] >= 0.0
            self.assertEqual((t.busy >> i) & 1 == 1, on, t.codes[i])
        self.assertEqual(t.busy >> alarms.BUSY_BITS, 0)

    def test_busy_bits_follow_every_state_change(self):
        # Every process alarm has a bit: the pieces skip update() for a clear bit and a false condition.
        self.assertTrue(alarms.N_PROCESS <= alarms.BUSY_BITS)
        t = make(delay_s=10.0, clear_delay_s=5.0)
        self.assertEqual(t.busy, 0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 0.0)  # timing its on-delay
        self.assertEqual(t.busy, 1 << A_PRESSURE_LOW)
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 5.0)  # a glitch: idle again
        self.assertEqual(t.busy, 0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 6.0)
        t.update(A_PRESSURE_LOW, True, 90.0, 150.0, 16.0)  # raised
        self.assert_busy_mirrors_state(t)
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 17.0)  # still listed during the clear delay
        self.assertEqual(t.busy, 1 << A_PRESSURE_LOW)
        t.update(A_PRESSURE_LOW, False, 200.0, 150.0, 22.0)  # cleared
        self.assertEqual(t.busy, 0)
        t.update(A_SECONDARY_OVERTEMP, True, 97.0, 95.0, 30.0)  # latching, no delay
        t.update(A_SECONDARY_OVERTEMP, False, 80.0, 95.0, 31.0)
        t.update(A_SECONDARY_OVERTEMP, False, 80.0, 95.0, 40.0)  # returned: listed until acked
        self.assertEqual(t.busy, 1 << A_SECONDARY_OVERTEMP)
        self.assertEqual(t.ack("secondary_overtemp", 41.0), "")
        self.assertEqual(t.busy, 0)
        sensor = t.n - 1  # the last sensor alarm: beyond BUSY_BITS
        self.assertTrue(sensor >= alarms.BUSY_BITS)
        t.update(sensor, True, 1.0, NO_LIMIT, 50.0)  # no bit for it
        t.update(sensor, True, 1.0, NO_LIMIT, 60.0)
        self.assertTrue(t.is_on(sensor))
        self.assert_busy_mirrors_state(t)
        # a table restored from a snapshot carries the bits of what it lists
        t.update(A_SAFE_MODE, True, 0.0, NO_LIMIT, 70.0)
        t.update(A_SAFE_MODE, True, 0.0, NO_LIMIT, 80.0)
        other = make()
        other.restore(t.snapshot(90.0), 100.0)
        self.assertEqual(other.busy, 1 << A_SAFE_MODE)
        self.assert_busy_mirrors_state(other)

    def test_busy_bits_on_a_long_random_run(self):
        t = make(delay_s=3.0, clear_delay_s=2.0)
        x = 12345
        for k in range(3000):
            x = (x * 1103515245 + 12345) % 2147483648
            i = (x >> 8) % alarms.N_PROCESS
            t.update(i, (x >> 20) % 3 == 0, 1.0, NO_LIMIT, float(k))
            if (x >> 4) % 50 == 0:
                t.ack(t.codes[i], float(k))
            self.assert_busy_mirrors_state(t)


if __name__ == "__main__":
    unittest.main()
