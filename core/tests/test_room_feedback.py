"""Tests of core.room_feedback: robust low statistic, stale/implausible collectors, bounded trim."""

import unittest
from array import array

from heatkeeper.core.room_feedback import RoomFeedback, validate


def readings(temps, age_s=60.0):
    return [{"collector": "c%d" % i, "group": "g%d" % (i % 3), "temp_c": t, "age_s": age_s}
            for i, t in enumerate(temps)]


def run(room, start_s, seconds, step_s):
    t = start_s
    trim = room.trim_k
    while t < start_s + seconds:
        t += step_s
        trim = room.step(t, step_s)
    return trim


class TestRoomFeedback(unittest.TestCase):
    def test_percentile_statistic_ignores_the_single_coldest(self):
        room = RoomFeedback({"statistic": "percentile"})
        room.set_readings(readings([15.0, 19.0, 19.5, 20.0, 21.0, 22.0]), 0.0)
        self.assertEqual(room.low_c, 19.0)  # second-lowest, not the broken 15.0
        room = RoomFeedback({"statistic": "percentile", "percentile": 10.0})
        room.set_readings(readings([18.0 + 0.1 * i for i in range(41)]), 0.0)
        self.assertAlmostEqual(room.low_c, 18.4, delta=1e-9)  # 10th percentile of 41: index 4
        room = RoomFeedback({"statistic": "percentile"})
        room.set_readings(readings([17.0, 19.0]), 0.0)
        self.assertEqual(room.low_c, 17.0)  # with two readings the minimum is all there is

    def test_group_statistic_coldest_group_median(self):
        def grouped(rows):
            return [{"collector": "%s-%d" % (g, i), "group": g, "temp_c": t, "age_s": 0.0}
                    for g, temps in rows for i, t in enumerate(temps)]
        # (groups and their collectors, expected low statistic, outliers ignored)
        table = [
            ([("a", [19.0, 19.4, 25.0]), ("b", [20.0, 20.2]), ("c", [21.0])], 19.4, 0),  # median of a
            ([("a", [17.6, 17.8]), ("b", [20.0, 20.2]), ("c", [21.0])], 17.7, 0),  # a cold group counts
            ([("a", [19.0, 19.2]), ("b", [20.0, 20.2]), ("c", [15.0])], 19.1, 1),  # a lone 15.0 does not
            ([("a", [19.0, 19.2]), ("b", [20.0, 20.2]), ("c", [18.5])], 18.5, 0),  # a lone 18.5 is near: counts
        ]
        for rows, low_c, outliers in table:
            room = RoomFeedback({})
            room.set_readings(grouped(rows), 0.0)
            self.assertAlmostEqual(room.low_c, low_c, delta=1e-9)
            self.assertEqual(room.n_outliers, outliers)
            self.assertEqual(room.n_groups, len(rows))

    def test_stale_and_implausible_collectors_are_ignored(self):
        room = RoomFeedback({"max_age_s": 3600.0})
        room.set_readings(readings([2.0, 40.0, 19.0, 20.0, 21.0]), 0.0)
        self.assertEqual(room.n_fresh, 3)
        self.assertEqual(room.n_ignored, 2)
        room.set_readings([{"collector": "old", "group": "g", "temp_c": 16.0, "age_s": 7200.0}], 0.0)
        self.assertEqual(room.n_fresh, 3)
        # all readings turn stale an hour later: the trim then decays
        room.step(3700.0, 10.0)
        self.assertEqual(room.n_fresh, 0)

    def test_malformed_readings_are_counted_not_raised(self):
        room = RoomFeedback({})
        room.set_readings([{"temp_c": 20.0}, {"collector": "a", "temp_c": "warm"}, None,
                           {"collector": "b", "temp_c": float("nan"), "age_s": 0.0},
                           {"collector": "c", "temp_c": 20.0, "age_s": -5.0},
                           {"collector": "d", "temp_c": 20.5, "age_s": 0.0}], 0.0)
        self.assertEqual(room.rejected, 5)
        self.assertEqual(room.n_fresh, 1)
        room.set_readings("garbage", 0.0)
        self.assertEqual(room.rejected, 6)

    def test_warm_rooms_lower_the_curve_cold_rooms_raise_it(self):
        room = RoomFeedback({})
        # all homes warm (low statistic 21.5, target 18.5): the trim goes down to save heat
        t = 0.0
        for _ in range(12):
            room.set_readings(readings([21.5, 21.5, 22.0, 23.0]), t)
            run(room, t, 1800.0, 60.0)
            t += 1800.0
        self.assertTrue(room.trim_k < -4.0)
        self.assertTrue(room.trim_k >= -8.0)
        # cold homes near the floor: the trim rises again
        low_trim = room.trim_k
        for _ in range(4):
            room.set_readings(readings([18.1, 18.1, 19.0, 20.0]), t)
            run(room, t, 1800.0, 60.0)
            t += 1800.0
        self.assertTrue(room.trim_k > low_trim)

    def test_raises_faster_than_it_lowers(self):
        # (low statistic, expected trim after one hour from 0): 1 K warm -> -3 K/4 h; 1 K cold -> 3x faster
        for low_c, trim_k in ((19.5, -0.75), (17.5, 2.25)):
            room = RoomFeedback({"gain_k_per_k": 3.0, "integral_time_s": 14400.0, "raise_factor": 3.0,
                                 "deadband_k": 0.0})
            room.set_readings(readings([low_c, low_c], 0.0), 0.0)
            self.assertAlmostEqual(run(room, 0.0, 3600.0, 60.0), trim_k, delta=1e-6)

    def test_trim_is_bounded_and_below_floor_only_rises(self):
        room = RoomFeedback({"trim_min_k": -8.0, "trim_max_k": 8.0})
        t = 0.0
        for _ in range(48):
            room.set_readings(readings([16.0, 16.5, 17.0, 17.5], 0.0), t)
            run(room, t, 3600.0, 300.0)
            t += 3600.0
        self.assertEqual(room.trim_k, 8.0)
        self.assertEqual(room.n_below_floor, 4)
        room.trim_k = -3.0
        before = room.trim_k
        room.set_readings(readings([17.9, 17.9, 17.9]), t)
        run(room, t, 3600.0, 60.0)
        self.assertTrue(room.trim_k >= before)

    def test_trim_follows_the_load(self):
        # (lift before K, trim before K, lift after K, expected trim K): a positive trim scales with the
        # curve's lift above the room setpoint; lifts below min_lift_k count as min_lift_k; bounded
        # a negative trim (free gains) stays a shift
        table = ((40.0, 4.0, 60.0, 6.0), (40.0, 4.0, 20.0, 2.0), (40.0, -4.0, 60.0, -4.0), (40.0, -4.0, 20.0, -4.0),
                 (40.0, 4.0, 5.0, 1.0), (5.0, 1.0, 40.0, 4.0), (40.0, 6.0, 80.0, 8.0), (40.0, 4.0, 40.0, 4.0))
        for lift0, trim0, lift1, want in table:
            room = RoomFeedback({"min_lift_k": 10.0, "trim_max_k": 8.0})
            room.follow_load(lift0)
            room.trim_k = trim0
            room.follow_load(lift1)
            self.assertAlmostEqual(room.trim_k, want, delta=1e-9)
        fixed = RoomFeedback({"scale_with_load": False})
        fixed.follow_load(40.0)
        fixed.trim_k = 4.0
        fixed.follow_load(60.0)
        self.assertEqual(fixed.trim_k, 4.0)
        # the first lift only sets the reference; NaN is ignored
        room = RoomFeedback({})
        room.trim_k = 3.0
        room.follow_load(30.0)
        room.follow_load(float("nan"))
        self.assertEqual(room.trim_k, 3.0)
        self.assertEqual(room.lift_k, 30.0)
        snap = room.snapshot(0.0)
        other = RoomFeedback({})
        other.restore(snap, 0.0)
        other.follow_load(60.0)
        self.assertAlmostEqual(other.trim_k, 6.0, delta=1e-9)
        other.restore({"trim_k": 1.0, "lift_k": "bad"}, 0.0)
        self.assertEqual(other.lift_k, 0.0)
        self.assertIn("room_feedback.min_lift_k=0 K: must be in [1.0, 100.0]", validate({"min_lift_k": 0}))
        self.assertIn("room_feedback.scale_with_load=1: must be true or false", validate({"scale_with_load": 1}))

    def test_trend_acts_ahead_of_a_falling_room(self):
        # Readings every 5 min falling at 0.3 K/h from 19.2 degC; target 19.0, deadband 0.2 K.
        # (hours, low statistic, trim with a 1 h trend horizon > 0, trim without > 0)
        table = ((1.0, 18.9, True, False), (2.0, 18.6, True, True))
        trims = {}
        for horizon_s in (3600.0, 0.0):
            room = RoomFeedback({"target_c": 19.0, "trend_horizon_s": horizon_s, "trend_tau_s": 1800.0,
                                 "scale_with_load": False})
            t = 0.0
            out = []
            for hours, low_c, _, _ in table:
                while t < hours * 3600.0 - 1.0:
                    temp = 19.2 - 0.3 * (t + 300.0) / 3600.0
                    room.set_readings(readings([temp, temp, temp]), t + 300.0)
                    run(room, t, 300.0, 60.0)
                    t += 300.0
                self.assertAlmostEqual(room.low_c, low_c, delta=0.01)
                out.append(room.trim_k)
            trims[horizon_s] = out
        for i in range(len(table)):
            self.assertEqual(trims[3600.0][i] > 0.0, table[i][2], "row %d" % i)
            self.assertEqual(trims[0.0][i] > 0.0, table[i][3], "row %d" % i)
        self.assertTrue(trims[3600.0][1] > trims[0.0][1] + 0.2)
        # the smoothed trend is about -0.3 K/h after 3 h; it restarts after a gap without readings
        self.assertAlmostEqual(room.trend_k_per_s * 3600.0, -0.3, delta=0.05)  # horizon 0 still tracks
        room = RoomFeedback({"trend_tau_s": 1800.0})
        for k in range(36):
            room.set_readings(readings([20.0 - 0.3 * k / 12.0] * 3), 300.0 * k)
        self.assertAlmostEqual(room.trend_k_per_s * 3600.0, -0.3, delta=0.05)
        room.set_readings(readings([15.0] * 3), 300.0 * 36 + 86400.0)
        self.assertEqual(room.trend_k_per_s, 0.0)
        self.assertIn("room_feedback.trend_horizon_s=-1 s: must be in [0.0, 21600.0]",
                      validate({"trend_horizon_s": -1}))

    def test_no_readings_decay_to_zero(self):
        room = RoomFeedback({"decay_s": 3600.0})
        room.trim_k = 6.0
        trim = run(room, 0.0, 3600.0, 60.0)
        self.assertAlmostEqual(trim, 6.0 * 0.3679, delta=0.01)
        trim = run(room, 3600.0, 86400.0, 600.0)
        self.assertAlmostEqual(trim, 0.0, delta=1e-6)

    def test_deadband_holds_the_trim(self):
        room = RoomFeedback({})
        room.trim_k = 1.5
        room.set_readings(readings([18.6, 18.6, 19.0]), 0.0)
        self.assertEqual(run(room, 0.0, 600.0, 60.0), 1.5)

    def test_after_a_shortage_the_target_holds_a_margin(self):
        # rooms 0.1 K above the target: inside the dead band, the trim holds; after the station
        # ran short of heat the target is 0.5 K higher for a day, so the trim rises (heat is
        # stored in the buildings before the next cold night), then the margin lapses
        room = RoomFeedback({"target_c": 18.5, "trend_horizon_s": 0.0})
        room.set_readings(readings([18.6, 18.6, 18.6], age_s=0.0), 0.0)
        self.assertEqual(run(room, 0.0, 600.0, 60.0), 0.0)
        room.note_shortage(600.0)
        raised = run(room, 600.0, 3000.0, 60.0)
        self.assertTrue(raised > 0.5, raised)
        self.assertEqual(room.margin_k, 0.5)
        snap = room.snapshot(3600.0)
        self.assertAlmostEqual(snap["short_left_s"], 86400.0 - 3000.0, delta=1e-6)
        other = RoomFeedback({"target_c": 18.5})
        other.restore(snap, 10000.0)  # a restart inside the day keeps what is left of it
        self.assertAlmostEqual(other.short_until_s, 10000.0 + 86400.0 - 3000.0, delta=1e-6)
        room.set_readings(readings([18.6, 18.6, 18.6], age_s=0.0), 86400.0)
        later = run(room, 86400.0, 600.0, 60.0)
        self.assertTrue(later > raised, (later, raised))  # still inside the day: still rising
        room.set_readings(readings([18.6, 18.6, 18.6], age_s=0.0), 87600.0)
        self.assertEqual(run(room, 87600.0, 600.0, 60.0), later)  # margin over, back in the dead band
        self.assertEqual(room.margin_k, 0.0)
        off = RoomFeedback({"target_c": 18.5, "shortage_margin_k": 0.0, "trend_horizon_s": 0.0})
        off.set_readings(readings([18.6, 18.6, 18.6], age_s=0.0), 0.0)
        off.note_shortage(0.0)
        self.assertEqual(run(off, 0.0, 3000.0, 60.0), 0.0)

    def test_snapshot_restore_keeps_trim_and_readings(self):
        room = RoomFeedback({})
        room.set_readings(readings([19.0, 19.5, 20.0]), 100.0)
        room.trim_k = -2.5
        snap = room.snapshot(200.0)
        other = RoomFeedback({})
        other.restore(snap, 1000.0)
        self.assertEqual(other.trim_k, -2.5)
        self.assertEqual(other.n_fresh, 3)
        self.assertEqual(other.low_c, 19.0)
        other.restore({"trim_k": "bad", "readings": "bad"}, 0.0)
        self.assertEqual(other.trim_k, 0.0)

    def test_validation(self):
        self.assertEqual(validate({}), [])
        problems = validate({"target_c": 17.5, "floor_c": 18.0})
        self.assertIn("room_feedback.target_c=17.5 degC: must not be below room_feedback.floor_c=18.0 degC",
                      problems)
        self.assertIn("room_feedback.trim_max_k=99 K: must be in [0.0, 30.0]", validate({"trim_max_k": 99}))
        self.assertIn("room_feedback.statistic='min': must be one of group, percentile", validate({"statistic": "min"}))

    def test_a_known_collector_updated_in_place_reads_as_a_new_one(self):
        # A collector read again replaces its time, temperature and group (also a bad group: its
        # own id); a snapshot taken before keeps what was then; order stays first-seen.
        room = RoomFeedback({})
        room.set_temps(["a", "b"], ["g1", "g2"], array("d", [19.0, 20.0]), 100.0)
        before = room.snapshot(100.0)
        room.set_temps(["b", "a"], ["g3", 1.5], array("d", [21.0, 18.0]), 400.0)
        self.assertEqual(list(room.readings), ["a", "b"])
        self.assertEqual(room.readings["a"], [18.0, 400.0, "a"])
        self.assertEqual(room.readings["b"], [21.0, 400.0, "g3"])
        self.assertEqual(before["readings"], [["a", 19.0, 0.0, "g1"], ["b", 20.0, 0.0, "g2"]])
        fresh = RoomFeedback({})
        fresh.set_readings([{"collector": "a", "group": 1.5, "temp_c": 18.0, "age_s": 0.0},
                            {"collector": "b", "group": "g3", "temp_c": 21.0, "age_s": 0.0}], 400.0)
        self.assertEqual(fresh.readings, room.readings)
        self.assertEqual(fresh.low_c, room.low_c)


if __name__ == "__main__":
    unittest.main()
