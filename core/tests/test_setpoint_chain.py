"""Tests of core.setpoint_chain: the composed chain as tables of cycles in simulated time."""

import json
import unittest

from heatkeeper.core.modes import M_AUTO, M_MANUAL, M_SAFE, M_STARTUP_WARMUP, M_SUMMER
from heatkeeper.core.setpoint_chain import SupplySetpointChain

NO_FLAGS = {"summer_allowed": True, "remote_supply_c": None, "boost_k": 0.0}
H = 3600.0


def run(chain, start_s, end_s, step_s, outdoor_c, inputs=None, room_c=20.0, flags=None, ok=True):
    t = start_s
    sp = 0.0
    while t <= end_s:
        sp = chain.step(t, outdoor_c, ok, inputs or {}, room_c, flags or NO_FLAGS)
        t += step_s
    return sp


class TestSetpointChain(unittest.TestCase):
    def test_curve_through_the_chain(self):
        chain = SupplySetpointChain({"limiters": {"return_limit_enabled": False}})
        self.assertAlmostEqual(chain.step(0.0, -15.0, True, {}, 20.0, NO_FLAGS), 60.0, delta=1e-9)
        d = chain.diag
        self.assertEqual(d["outdoor_source"], 0)
        self.assertTrue(d["heating_on"])
        self.assertAlmostEqual(d["curve_c"], 60.0, delta=1e-9)

    def test_ramp_limits_rise_not_fall(self):
        chain = SupplySetpointChain({"curve": {"ramp_up_k_per_h": 10.0}, "outdoor": {"composite_actual_share": 1.0,
                                                                                  "jump_k": 50.0}})
        run(chain, 0.0, 600.0, 60.0, 5.0)  # 40 degC
        sp = run(chain, 660.0, 660.0 + 1800.0, 60.0, -15.0)  # the curve jumps to 60
        self.assertAlmostEqual(sp, 40.0 + 10.0 * (1860.0 / 3600.0), delta=0.01)
        sp = run(chain, 4000.0, 4000.0, 60.0, 15.0)  # falls at once
        self.assertAlmostEqual(sp, 28.0, delta=1e-9)

    def test_summer_cut_out_with_hysteresis(self):
        chain = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}})
        # (outdoor_c, expected heating_on)
        table = [(10.0, True), (16.9, True), (17.0, False), (16.5, False), (16.0, True), (16.9, True)]
        t = 0.0
        for outdoor_c, on in table:
            sp = chain.step(t, outdoor_c, True, {}, 20.0, NO_FLAGS)
            self.assertEqual(chain.heating_on, on, "outdoor %s" % outdoor_c)
            if not on:
                self.assertEqual(sp, 0.0)
            t += 60.0
        chain.step(t, 20.0, True, {}, 20.0, NO_FLAGS)
        self.assertTrue(not chain.heating_on)
        sp = chain.step(t + 60.0, 20.0, True, {}, 20.0, {"summer_allowed": False})
        self.assertTrue(chain.heating_on)
        self.assertTrue(sp >= 20.0)

    def test_summer_cut_out_held_while_a_group_is_below_its_floor(self):
        # A warm day (25 degC, far above the 17 degC heating limit): the cut-out waits for the
        # coldest group (median of its collectors) to reach floor_c + floor_release_k.
        chain = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}})
        # (coldest group's collectors degC, expected heating_on, held, event reason or None)
        table = [
            (17.5, True, True, "summer_cutout_held_by_rooms"),
            (17.9, True, True, None),
            (18.2, True, True, None),  # above the floor, below floor + 0.5 K: still held
            (18.5, False, False, "summer_cutout_hold_released"),
            (18.3, False, False, None),  # not below the floor: the cut-out stands
            (17.9, True, True, "summer_cutout_held_by_rooms"),
            (18.4, True, True, None),
            (19.0, False, False, "summer_cutout_hold_released"),
        ]
        t = 0.0
        for room_c, on, held, reason in table:
            chain.set_room_readings([{"collector": "a1", "group": "a", "temp_c": room_c, "age_s": 0.0},
                                     {"collector": "a2", "group": "a", "temp_c": room_c, "age_s": 0.0},
                                     {"collector": "b1", "group": "b", "temp_c": 21.0, "age_s": 0.0}], t)
            del chain.events[:]
            sp = chain.step(t, 25.0, True, {}, 20.0, NO_FLAGS)
            msg = "rooms %s" % room_c
            self.assertEqual(chain.heating_on, on, msg)
            self.assertEqual(chain.held_by_rooms, held, msg)
            self.assertEqual(chain.diag["summer_cutout_held_by_rooms"], held, msg)
            self.assertEqual(sp > 0.0, on, msg)
            if reason is None:
                self.assertEqual(chain.events, [], msg)
            else:
                self.assertEqual([(e["kind"], e["reason"], e["room_low_c"]) for e in chain.events],
                                 [("heating", reason, room_c)], msg)
            t += 600.0

    def test_summer_cut_out_not_held_without_fresh_collectors(self):
        cold = [{"collector": "a", "group": "a", "temp_c": 16.0, "age_s": 0.0}]
        # stale readings: today's behaviour, the heating limit alone
        chain = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}})
        chain.set_room_readings([{"collector": "a", "group": "a", "temp_c": 16.0, "age_s": 7200.0}], 0.0)
        self.assertEqual(chain.step(0.0, 25.0, True, {}, 20.0, NO_FLAGS), 0.0)
        self.assertTrue(not chain.heating_on and not chain.held_by_rooms)
        # fresh, then the collector falls silent: the hold ends once its reading turns stale
        chain = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}})
        chain.set_room_readings(cold, 0.0)
        self.assertTrue(run(chain, 0.0, 3000.0, 60.0, 25.0) > 0.0)
        self.assertTrue(chain.held_by_rooms)
        self.assertEqual(run(chain, 3060.0, 3 * H, 60.0, 25.0), 0.0)
        self.assertTrue(not chain.heating_on and not chain.held_by_rooms)
        # room feedback disabled: the collectors are not used
        chain = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0},
                                     "room_feedback": {"enabled": False}})
        chain.set_room_readings(cold, 0.0)
        self.assertEqual(chain.step(0.0, 25.0, True, {}, 20.0, NO_FLAGS), 0.0)
        self.assertTrue(not chain.held_by_rooms)
        self.assertEqual(chain.events, [])

    def test_floor_hold_survives_a_restart(self):
        chain = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}})
        chain.set_room_readings([{"collector": "a", "group": "a", "temp_c": 17.5, "age_s": 0.0}], 0.0)
        chain.step(0.0, 25.0, True, {}, 20.0, NO_FLAGS)
        other = SupplySetpointChain({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}})
        other.restore(json.loads(json.dumps(chain.snapshot())), 60.0)
        self.assertTrue(other.held_by_rooms)
        other.set_room_readings([{"collector": "a", "group": "a", "temp_c": 18.2, "age_s": 0.0}], 60.0)
        self.assertTrue(other.step(60.0, 25.0, True, {}, 20.0, NO_FLAGS) > 0.0)  # inside the hysteresis
        self.assertEqual(other.events, [])

    def test_sensor_loss_never_stops_heating(self):
        chain = SupplySetpointChain({"outdoor": {"hold_last_s": 600.0, "supervisor_max_age_s": 600.0},
                                     "curve": {"ramp_up_k_per_h": 0.0}})
        run(chain, 0.0, 600.0, 60.0, 20.0)
        self.assertTrue(not chain.heating_on)
        chain.set_supervisor_outdoor(-5.0, 660.0)
        run(chain, 660.0, 1200.0, 60.0, 0.0, ok=False)
        self.assertEqual(chain.diag["outdoor_source"], 1)
        sp = run(chain, 1260.0, 5000.0, 60.0, 0.0, ok=False)
        self.assertEqual(chain.diag["outdoor_source"], 3)
        self.assertTrue(chain.heating_on)
        self.assertTrue(sp >= 50.0)  # fixed -10 degC on the factory curve: 55 degC before trims
        chain.set_supervisor_outdoor("garbage", 5000.0)

    def test_schedule_from_time_of_day_input_and_boost_flag(self):
        chain = SupplySetpointChain({"schedule": {"periods": [[0.0, 6 * H, -5.0]]},
                                     "limiters": {"return_limit_enabled": False}})
        night = {"time_of_day_s": (H, True)}
        day = {"time_of_day_s": (12 * H, True)}
        self.assertAlmostEqual(chain.step(0.0, 10.0, True, night, 20.0, NO_FLAGS), 34.0 - 5.0, delta=1e-9)
        self.assertAlmostEqual(chain.diag["setback_k"], -5.0, delta=1e-9)
        self.assertAlmostEqual(chain.step(60.0, 10.0, True, day, 20.0, NO_FLAGS), 29.0 + 0.2, delta=0.01)
        chain2 = SupplySetpointChain({"curve": {"ramp_up_k_per_h": 0.0}})
        sp = chain2.step(0.0, 10.0, True, day, 20.0, {"boost_k": 6.0})
        self.assertAlmostEqual(sp, 40.0, delta=1e-9)
        self.assertEqual(chain2.step(1.0, 10.0, True, day, 20.0, {"boost_k": "x"}), 34.0)

    def test_remote_supply_setpoint_replaces_curve_but_stays_clamped(self):
        chain = SupplySetpointChain({"curve": {"ramp_up_k_per_h": 0.0}})
        self.assertEqual(chain.step(0.0, 0.0, True, {}, 20.0, {"remote_supply_c": 52.0}), 52.0)
        self.assertEqual(chain.step(1.0, 0.0, True, {}, 20.0, {"remote_supply_c": 150.0}), 90.0)
        self.assertEqual(chain.step(2.0, 0.0, True, {}, 20.0, {"remote_supply_c": float("nan")}), 45.0)
        self.assertEqual(chain.step(3.0, 0.0, True, {}, float("nan"), NO_FLAGS), 45.0)

    def test_return_limiter_trims_the_setpoint(self):
        chain = SupplySetpointChain({})
        inputs = {"primary_return_temp_c": (60.0, True)}  # 10 K over the 50 degC limit at 0 degC
        sp = run(chain, 0.0, 1800.0, 10.0, 0.0, inputs)
        self.assertTrue(sp < 45.0 - 15.0)
        self.assertTrue(chain.diag["return_limit_trim_k"] < -15.0)
        sp = run(chain, 1810.0, 1900.0, 10.0, 0.0, {"primary_return_temp_c": (60.0, False)})
        self.assertTrue(chain.diag["return_sensor_fault"])
        self.assertEqual(chain.diag["return_limit_trim_k"], 0.0)

    def test_room_feedback_lowers_curve_when_all_warm(self):
        chain = SupplySetpointChain({"limiters": {"return_limit_enabled": False}})
        warm = [{"collector": i, "group": "a", "temp_c": 22.0, "age_s": 0.0} for i in range(10)]
        t = 0.0
        for _ in range(8):
            chain.set_room_readings(warm, t)
            run(chain, t, t + H, 60.0, -5.0)
            t += H
        d = chain.diag
        self.assertTrue(d["room_trim_k"] < -3.0)
        self.assertAlmostEqual(d["supply_setpoint_c"], 50.0 + d["room_trim_k"], delta=1e-6)
        self.assertEqual(d["room_fresh"], 10)

    def test_room_trim_does_not_wind_down_below_the_supply_minimum(self):
        # Sunny mild day: rooms warm for hours while the curve is 8 K above the 20 degC supply
        # minimum (28 degC at +15 degC). The trim stops at -8 K, where the setpoint reaches the
        # minimum; going deeper would change nothing now and delay the heat when the sun goes.
        for min_supply_c, floor_k in ((20.0, -8.0), (15.0, -13.0)):
            chain = SupplySetpointChain({"limiters": {"return_limit_enabled": False},
                                         "curve": {"min_supply_c": min_supply_c},
                                         "outdoor": {"composite_actual_share": 1.0, "jump_k": 50.0},
                                         "room_feedback": {"trim_min_k": -20.0, "scale_with_load": False}})
            warm = [{"collector": i, "group": "a", "temp_c": 23.0, "age_s": 0.0} for i in range(4)]
            t = 0.0
            for _ in range(12):
                chain.set_room_readings(warm, t)
                sp = run(chain, t, t + H, 60.0, 15.0)
                t += H
            self.assertAlmostEqual(chain.diag["room_trim_k"], floor_k, delta=1e-6)
            self.assertAlmostEqual(sp, min_supply_c, delta=1e-6)
            # the sun goes: rooms at 18.2 degC; the first hour already lifts the setpoint
            cool = [{"collector": i, "group": "a", "temp_c": 18.2, "age_s": 0.0} for i in range(4)]
            chain.set_room_readings(cool, t)
            sp = run(chain, t, t + H, 60.0, 15.0)
            self.assertTrue(sp > min_supply_c + 1.0, "setpoint %.2f after one cool hour" % sp)

    def test_room_trim_follows_the_load_when_it_turns_cold(self):
        # Rooms just at target (no integration in the deadband): a trim learnt at -5 degC grows
        # with the curve's lift above the room setpoint when the outdoor temperature falls.
        at_target = [{"collector": i, "group": "a", "temp_c": 19.0, "age_s": 0.0} for i in range(4)]
        # (outdoor_c, expected trim K: 3 K at the -5 degC lift of 50 - 20 = 30 K)
        table = [(-5.0, 3.0), (-15.0, 4.0), (-30.0, 5.5), (-40.0, 6.5), (5.0, 2.0), (15.0, 1.0)]
        for scale, trims in ((True, [t[1] for t in table]), (False, [3.0] * len(table))):
            chain = SupplySetpointChain({"limiters": {"return_limit_enabled": False},
                                         "curve": {"ramp_up_k_per_h": 0.0},
                                         "outdoor": {"composite_actual_share": 1.0, "jump_k": 50.0},
                                         "room_feedback": {"target_c": 19.0, "deadband_k": 0.5,
                                                           "scale_with_load": scale}})
            t = 0.0
            chain.set_room_readings(at_target, t)
            run(chain, t, t + 60.0, 60.0, -5.0)
            chain.room.trim_k = 3.0
            for (outdoor_c, _), want in zip(table, trims):
                t += H
                chain.set_room_readings(at_target, t)
                sp = run(chain, t, t + 600.0, 60.0, outdoor_c)
                self.assertAlmostEqual(chain.diag["room_trim_k"], want, delta=1e-6, msg="outdoor %s" % outdoor_c)
                self.assertAlmostEqual(sp, min(90.0, chain.diag["curve_c"] + want), delta=1e-6)

    def test_snapshot_restore_is_json_safe_and_continues(self):
        chain = SupplySetpointChain({})
        chain.set_room_readings([{"collector": "a", "group": "g", "temp_c": 19.0, "age_s": 0.0}], 0.0)
        sp = run(chain, 0.0, 3600.0, 60.0, -8.0, {"primary_return_temp_c": (58.0, True)})
        snap = json.loads(json.dumps(chain.snapshot()))
        other = SupplySetpointChain({})
        other.restore(snap, 10.0)
        sp2 = other.step(70.0, -8.0, True, {"primary_return_temp_c": (58.0, True)}, 20.0, NO_FLAGS)
        self.assertAlmostEqual(sp2, sp, delta=0.5)
        other.restore({"ramp_c": "x", "outdoor": {"actual_c": "bad"}, "room": 5}, 0.0)
        self.assertTrue(other.step(1.0, -8.0, True, {}, 20.0, NO_FLAGS) > 20.0)

    def test_garbage_process_image_never_raises(self):
        chain = SupplySetpointChain({"limiters": {"power_limit_enabled": True}})
        for inputs in ({}, {"primary_return_temp_c": (float("nan"), True), "heat_power_kw": (1.0, False)},
                       {"time_of_day_s": (5.0, False)}):
            sp = chain.step(0.0, float("inf"), True, inputs, 20.0, {})
            self.assertTrue(20.0 <= sp <= 90.0)
        self.assertTrue(chain.diag["meter_fault"])

    def test_finish_gives_the_final_setpoint_for_the_mode(self):
        chain = SupplySetpointChain({"limiters": {"return_limit_enabled": False}})
        self.assertAlmostEqual(chain.step(0.0, -15.0, True, {}, 20.0, NO_FLAGS), 60.0, delta=1e-9)
        rows = (
            # mode, warm-up ramp, frost floor, protection off -> final setpoint
            (M_AUTO, 0.0, 0.0, False, 60.0),
            (M_STARTUP_WARMUP, 41.5, 0.0, False, 41.5),  # the warm-up ramp caps it
            (M_STARTUP_WARMUP, 70.0, 0.0, False, 60.0),
            (M_AUTO, 0.0, 65.0, False, 65.0),  # a frost floor lifts it
            (M_AUTO, 0.0, 20.0, False, 60.0),
            (M_SUMMER, 0.0, 20.0, False, 20.0),  # summer: the frost floor alone
            (M_SUMMER, 0.0, 0.0, False, 0.0),
            (M_SAFE, 0.0, 0.0, False, 0.0),
            (M_AUTO, 0.0, 0.0, True, 0.0),  # a trip or no circulation: heating off
            (M_AUTO, 0.0, 20.0, True, 0.0),
            (M_MANUAL, 0.0, 0.0, True, 60.0),  # manual: the operator holds the valve
        )
        for mode, ramp_c, floor_c, off, want in rows:
            self.assertAlmostEqual(chain.finish(mode, ramp_c, floor_c, off), want, delta=1e-9,
                                   msg=(mode, ramp_c, floor_c, off))

    def test_finish_after_the_summer_cut_out(self):
        chain = SupplySetpointChain({})
        self.assertEqual(run(chain, 0.0, 3 * H, 60.0, 25.0), 0.0)
        self.assertTrue(not chain.heating_on)
        self.assertEqual(chain.finish(M_AUTO, 0.0, 0.0, False), 0.0)
        self.assertEqual(chain.finish(M_AUTO, 0.0, 20.0, False), 20.0)  # frost outranks the season
        self.assertAlmostEqual(chain.finish(M_MANUAL, 0.0, 0.0, False), 0.0, delta=1e-9)

    def test_step_values_is_step_on_numbers(self):
        # The station's cycle calls step_values with its validated signals; step() parses the
        # dict image and flags into the same numbers: the two chains must stay identical.
        nan = float("nan")
        by_dict = SupplySetpointChain({})
        by_numbers = SupplySetpointChain({})
        t = 0.0
        k = 0
        while k < 400:
            outdoor_c = -15.0 + (k % 37) * 0.9
            ok = k % 53 != 0
            ret = (48.0 + (k % 11), k % 17 != 0)
            power = (300.0 + k, k % 23 != 0)
            flow = (float("inf") if k % 29 == 0 else 12.0, True)
            tod = (float(k * 600 % 86400), k % 3 != 0)
            remote = 58.0 if 100 <= k < 150 else None
            boost = 3.0 if 200 <= k < 260 else 0.0
            summer = not (300 <= k < 320)
            image = {"primary_return_temp_c": ret, "heat_power_kw": power, "primary_flow_m3h": flow}
            if k % 5 != 0:
                image["time_of_day_s"] = tod
            flags = {"summer_allowed": summer, "remote_supply_c": remote, "boost_k": boost}
            sp_dict = by_dict.step(t, outdoor_c, ok, image, 20.0, flags)

            def number(item):
                v = item[0]
                return v if item[1] and v - v == 0.0 else nan

            tod_s = tod[0] if k % 5 != 0 and tod[1] else -1.0
            sp_numbers = by_numbers.step_values(t, outdoor_c, ok, tod_s, number(ret), number(power), number(flow),
                                                20.0, summer, -1e9 if remote is None else remote, boost)
            self.assertEqual(sp_dict, sp_numbers, "cycle %d" % k)
            a = by_dict.diag
            b = by_numbers.diag
            self.assertEqual(sorted(a.keys()), sorted(b.keys()))
            for key in a:
                self.assertTrue(a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key)
            t += 60.0
            k += 1
        self.assertTrue(by_dict.diag["return_limit_trim_k"] < 0.0)  # the limiter took part


if __name__ == "__main__":
    unittest.main()
