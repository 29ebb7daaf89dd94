"""Tests of core.station.StationController: the contract (outputs, commands, telemetry,
snapshot) and totality under garbage."""

import json
import unittest

from heatkeeper.core import codec, signals
from heatkeeper.core.settings import SettingsError
from heatkeeper.core.station import StationController
from heatkeeper.core.tests.station_rig import Rig


class TestContract(unittest.TestCase):
    def test_output_keys(self):
        rig = Rig()
        out = rig.step()
        self.assertEqual(sorted(out.keys()), sorted(signals.OUTPUTS))
        self.assertEqual(out["mode_name"], "auto")
        self.assertTrue(isinstance(out["alarms"], list))
        self.assertTrue(isinstance(out["events"], list))
        self.assertFalse("diag" in out)  # step() builds no diagnostics; diagnostics() does, when asked
        diag = rig.ctl.diagnostics()
        self.assertTrue(isinstance(diag, dict))
        self.assertEqual(diag["duty_pump"], 1)
        self.assertEqual(rig.ctl.telemetry(None, out)["curve_c"], diag["curve_c"])

    def test_a_mode_off_the_table_is_refused_by_name(self):
        # step() names the mode from a table the compiled build indexes without a check: a
        # mode number set from outside is an IndexError with the range.
        rig = Rig()
        rig.step()
        rig.ctl.modes.mode = 42
        rig.t += 1.0
        try:
            rig.step()
            self.assertTrue(False, "no IndexError")
        except IndexError as exc:
            self.assertIn("mode 42 is not a mode (0..7)", str(exc))

    def test_bad_settings_list_every_problem(self):
        bad = {"pumps": {"proof_s": -1, "nonsense": 1}, "make_up": {"band_kpa": "wide"}, "bogus": {}}
        try:
            StationController(bad)
            self.assertTrue(False, "no SettingsError")
        except SettingsError as exc:
            problems = exc.problems
            self.assertEqual(len(problems), 4)
            self.assertIn("pumps.proof_s=-1 s: must be in [1, 600]", problems)
            self.assertTrue(isinstance(exc, ValueError))
        self.assertRaises(SettingsError, StationController, "not a dict")

    def test_supply_deviation_thresholds_are_settings(self):
        self.assertEqual(StationController().valve.deviation_k, 10.0)
        ctl = StationController({"alarms": {"deviation_k": 20.0, "deviation_min_setpoint_c": 35.0}})
        self.assertEqual(ctl.valve.deviation_k, 20.0)
        self.assertEqual(ctl.valve.deviation_min_setpoint_c, 35.0)
        try:
            StationController({"alarms": {"deviation_k": 0.5}})
            self.assertTrue(False, "no SettingsError")
        except SettingsError as exc:
            self.assertIn("alarms.deviation_k=0.5 K: must be in [2, 50]", exc.problems)

    def test_garbage_inputs_never_raise(self):
        ctl = StationController()
        for garbage in (None, {}, {"now_s": "x"}, {"now_s": float("nan")}, {"now_s": 5.0, "outdoor_temp_c": "cold"},
                        {"now_s": 6.0, "secondary_supply_temp_c": (None, None)}, [], {"now_s": 1.0}):
            out = ctl.step(garbage)
            self.assertEqual(sorted(out.keys()), sorted(signals.OUTPUTS))
        # An essential sensor missing for long enough raises its alarm.
        for t in range(10, 80):
            out = ctl.step({"now_s": float(t)})
        codes = [a["code"] for a in out["alarms"]]
        self.assertIn("sensor_secondary_supply_temp_c", codes)

    def test_commands_answer_with_reasons(self):
        rig = Rig()
        rig.step()
        cases = (
            ("explode", {}, "remote", ("rejected", "unknown_kind")),
            ("set_room_setpoint", {"room_setpoint_c": "warm"}, "remote", ("rejected", "bad_args")),
            ("set_room_setpoint", {"room_setpoint_c": 40}, "remote", ("rejected", "out_of_range")),
            ("set_room_setpoint", {"room_setpoint_c": 20, "lease_s": 600}, "remote", ("applied", "ok")),
            ("set_supply_setpoint", {"supply_setpoint_c": 60}, "remote", ("rejected", "not_permitted_in_mode")),
            ("set_mode", {"mode": "manual"}, "remote", ("rejected", "local_only")),
            ("set_mode", {"mode": "party"}, "remote", ("rejected", "bad_args")),
            ("set_valve_manual", {"valve_pct": 30}, "local", ("rejected", "not_permitted_in_mode")),
            ("ack_alarm", {"code": "pressure_low"}, "remote", ("rejected", "not_active")),
            ("ack_alarm", {"code": "nope"}, "remote", ("rejected", "unknown_alarm")),
            ("clear_lease", {"what": "room_setpoint"}, "remote", ("applied", "ok")),
            ("clear_lease", {"what": "everything"}, "remote", ("rejected", "bad_args")),
            ("boost", {"boost_k": 3, "duration_s": 1800}, "remote", ("applied", "ok")),
            ("boost", {"boost_k": 99}, "remote", ("rejected", "out_of_range")),
            ("set_dp_setpoint", {"dp_setpoint_kpa": 120}, "remote", ("applied", "ok")),
            ("set_makeup_pressure", {"pressure_setpoint_kpa": 2000}, "remote", ("rejected", "out_of_range")),
            ("set_mode", {"mode": "remote"}, "remote", ("applied", "ok")),
            ("set_supply_setpoint", {"supply_setpoint_c": 60}, "remote", ("applied", "ok")),
            ("set_mode", {"mode": "manual"}, "local", ("applied", "ok")),
            ("set_valve_manual", {"valve_pct": 30}, "local", ("applied", "ok")),
        )
        for kind, args, source, want in cases:
            res = rig.command(kind, args, source)
            self.assertEqual((res["result"], res["reason"]), want, kind + " " + str(res))
            self.assertIn(res["result"], codec.ACK_RESULTS)
            self.assertTrue(isinstance(res["detail"], str) and len(res["detail"]) > 0)
        self.assertEqual(rig.ctl.handle_command("garbage", rig.t)["reason"], "bad_command")
        expired = rig.ctl.handle_command({"kind": "boost", "args": {}, "source": "remote", "expires_s": 1.0}, rig.t)
        self.assertEqual(expired["result"], "expired")
        out = rig.step()
        kinds = [e["kind"] for e in out["events"]]
        self.assertEqual(kinds.count("command"), len(cases) + 2)

    def test_telemetry_is_flat_numbers(self):
        rig = Rig()
        rig.readings["heat_power_kw"] = None
        inputs = rig.inputs()
        out = rig.ctl.step(inputs)
        rec = rig.ctl.telemetry(inputs, out)
        for name in signals.INPUTS:
            self.assertIn(name, rec)
        for name in signals.ACTUATORS:
            self.assertIn(name, rec)
        self.assertEqual(rec["heat_power_kw"], None)
        self.assertEqual(rec["outdoor_temp_c"], -10.0)
        self.assertEqual(rec["mode"], 3)
        for key in rec:
            v = rec[key]
            self.assertTrue(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)), key)
        json.dumps(rec)

    def test_summer_cut_out_held_by_cold_rooms_reaches_telemetry_and_events(self):
        # A warm afternoon with the coldest group below 18 degC: heating stays on, the telemetry
        # says why, one "heating" event marks it; it reports into the station's event list even
        # after the chain is rebuilt by a settings push.
        rig = Rig({"outdoor": {"building_time_constant_s": 0.0, "jump_k": 50.0}}, {"outdoor_temp_c": 25.0})
        ctl = rig.ctl
        cold = [{"collector": "c%d" % i, "group": "g", "temp_c": 17.4, "age_s": 0.0} for i in range(3)]
        ctl.set_room_readings(cold, rig.t)
        out = rig.run_until(rig.t + 600.0)
        rec = ctl.telemetry(rig.inputs(), out)
        self.assertEqual(rec["summer_cutout_held_by_rooms"], 1)
        self.assertEqual(rec["heating_on"], 1)
        self.assertTrue(codec.valid_field_name("summer_cutout_held_by_rooms"))
        self.assertEqual([e["reason"] for e in rig.events if e["kind"] == "heating"], ["summer_cutout_held_by_rooms"])
        res = rig.command("apply_settings", {"version": 2, "sections": {"room_feedback": {"floor_release_k": 1.0}}})
        self.assertEqual(res["result"], "applied", res)
        self.assertIs(ctl.chain.events, ctl.events)
        warm = [{"collector": "c%d" % i, "group": "g", "temp_c": 19.5, "age_s": 0.0} for i in range(3)]
        ctl.set_room_readings(warm, rig.t)
        out = rig.run_until(rig.t + 120.0)
        self.assertEqual(ctl.diagnostics()["summer_cutout_held_by_rooms"], 0)
        self.assertEqual(ctl.diagnostics()["heating_on"], 0)
        self.assertEqual([e["reason"] for e in rig.events if e["kind"] == "heating"][-1], "summer_cutout_hold_released")

    def test_snapshot_is_json_and_round_trips(self):
        rig = Rig()
        rig.run_until(rig.t + 120.0)
        rig.command("set_room_setpoint", {"room_setpoint_c": 21.0, "lease_s": 3600})
        rig.command("set_mode", {"mode": "remote"})
        rig.run_until(rig.t + 600.0)
        snap = json.loads(json.dumps(rig.ctl.snapshot()))
        other = StationController()
        other.restore(snap, 50000.0)
        self.assertEqual(other.modes.mode, rig.ctl.modes.mode)
        self.assertAlmostEqual(other.leases.remaining_s(0, 50000.0), 3000.0, delta=1.5)
        self.assertAlmostEqual(other.pumps.run_s[0], rig.ctl.pumps.run_s[0], delta=1e-6)
        out = other.step(dict(rig.inputs(), now_s=50001.0))
        self.assertEqual(out["mode_name"], "remote")
        other.restore({"v": 1, "modes": "x", "leases": [], "pumps": {"run_s": None}}, 60000.0)
        other.restore(None, 0.0)

    def test_a_lease_ends_in_the_cycle_of_its_expiry(self):
        # the cycle asks the leases to expire only from their earliest expiry on: a lease still
        # ends in the very cycle whose time reaches it, with its event, not a cycle later
        rig = Rig()
        rig.step()
        t_set = rig.t
        rig.command("set_room_setpoint", {"room_setpoint_c": 21.0, "lease_s": 60})
        rig.run_until(t_set + 59.0)
        self.assertTrue(rig.ctl.leases.active(0))
        rig.run_until(t_set + 60.0)
        self.assertTrue(not rig.ctl.leases.active(0))
        ends = [e for e in rig.events if e["kind"] == "lease" and e["reason"] == "expired"]
        self.assertEqual([(e["what"], e["at_s"]) for e in ends], [("room_setpoint", t_set + 60.0)])

    def test_clock_going_backwards_is_survived(self):
        rig = Rig()
        rig.run_until(rig.t + 10.0)
        out = rig.ctl.step(dict(rig.inputs(), now_s=5.0))
        self.assertEqual(sorted(out.keys()), sorted(signals.OUTPUTS))
        self.assertTrue(rig.ctl.now_s >= rig.t)


if __name__ == "__main__":
    unittest.main()


class TestImageEntry(unittest.TestCase):
    """step_image (arrays in) runs the same cycle as step (dict in): same commands, setpoint,
    mode, alarms, events and diag, cycle by cycle, through faults and garbage."""

    def test_same_cycle_as_step_through_faults(self):
        from array import array

        by_dict = Rig()
        by_image = StationController()
        by_bound = StationController()  # step_bound on the same two arrays, handed over once
        n = len(signals.INPUTS)
        values = array("d", [0.0] * n)
        oks = array("b", [0] * n)
        by_bound.bind_image(values, oks)
        changes = {200: {"secondary_supply_temp_c": None}, 260: {"secondary_supply_temp_c": 52.0},
                   300: {"secondary_supply_temp_c": 120.0}, 330: {"secondary_supply_temp_c": 60.0},
                   400: {"pump1_fault": 1.0}, 450: {"outdoor_temp_c": float("nan")},
                   470: {"outdoor_temp_c": 2.0, "secondary_return_pressure_kpa": 20.0},
                   520: {"secondary_return_pressure_kpa": 250.0}}
        for k in range(600):
            by_dict.readings.update(changes.get(k, {}))
            if k == 350:
                for rig_ctl in (by_dict.ctl, by_image, by_bound):
                    rig_ctl.handle_command({"id": "a", "kind": "ack_alarm", "args": {"code": "secondary_overtemp"},
                                            "user": "t", "source": "remote"}, by_dict.t)
            by_dict.t += 1.0
            inputs = by_dict.inputs()
            for i in range(n):
                item = inputs.get(signals.INPUTS[i])
                values[i] = item[0] if item is not None else 0.0
                oks[i] = 1 if item is not None and item[1] else 0
            out = by_dict.step()
            by_image.step_image(by_dict.t, values, oks)
            self.assertEqual(by_bound.step_bound(by_dict.t), len(by_bound.events))
            act = by_image.act
            for name in signals.ACTUATORS:
                self.assertEqual(out[name], getattr(act, name), "cycle %d %s" % (k, name))
                self.assertEqual(out[name], getattr(by_bound.act, name), "cycle %d %s" % (k, name))
            self.assertEqual(by_bound.supply_setpoint_c, by_image.supply_setpoint_c)
            self.assertEqual(by_bound.alarms.listing_now(), by_image.alarms.listing_now())
            self.assertEqual(by_bound.telemetry(None, None), by_image.telemetry(None, None))
            by_bound.take_events()
            self.assertEqual(out["supply_setpoint_c"], by_image.supply_setpoint_c)
            self.assertEqual(out["mode"], by_image.modes.mode)
            self.assertEqual(out["alarms"], by_image.alarms.listing_now())
            self.assertEqual(out["events"], by_image.take_events(), "cycle %d" % k)
            tele = by_image.telemetry(None, None)
            diag = by_dict.ctl.diagnostics()
            for key in diag:
                self.assertEqual(diag[key], tele[key], "cycle %d %s" % (k, key))
        codes = [row["code"] for row in out["alarms"]]
        self.assertIn("pump1_fault", codes)


class TestBoundImage(unittest.TestCase):
    def test_step_bound_needs_arrays_of_the_image_length_first(self):
        from array import array

        ctl = StationController()
        n = len(signals.INPUTS)
        with self.assertRaises(IndexError) as caught:
            ctl.step_bound(1000.0)
        self.assertIn("bind_image first", str(caught.exception))
        with self.assertRaises(IndexError) as caught:
            ctl.bind_image(array("d", [0.0] * (n - 1)), array("b", [1] * n))
        self.assertIn("values and oks need %d entries (INPUTS order), got %d and %d" % (n, n - 1, n),
                      str(caught.exception))
        with self.assertRaises(IndexError):
            ctl.step_bound(1000.0)  # nothing was bound
        ctl.bind_image(array("d", [0.0] * n), array("b", [0] * n))
        self.assertEqual(ctl.step_bound(1000.0), len(ctl.events))
        self.assertEqual(ctl.signals.n_bad, n)  # nothing read: every signal bad, nothing raised


class TestRoomTemps(unittest.TestCase):
    """set_room_temps (parallel sequences, age 0) leaves the same state as set_room_readings with
    the same readings as dicts: room feedback, balancing, the commands after, bad entries too."""

    def test_same_state_and_commands_as_the_dicts(self):
        from array import array

        settings = {"balancing": {"smooth_s": 0.0, "guard_period_s": 300.0, "target_c": 18.5}}
        by_dicts = Rig(settings)
        by_arrays = Rig(settings)
        valves = [{"group": g, "valve_position_pct": 80.0, "return_temp_c": 40.0} for g in ("a", "b")]
        # an int id, a group that is no name, not a number, infinities, an id that is no id, a repeat
        ids = ["a-1", "a-2", "b-1", 7, "b-2", "c-1", "c-2", 2.5, "a-1"]
        groups = ["a", "a", "b", "b", None, "c", "c", "c", "a"]
        rounds = ([18.7, 19.1, 20.4, 20.0, 19.5, float("nan"), float("inf"), 18.0, 18.9],
                  [18.2, 18.4, 21.0, float("-inf"), 19.0, 17.0, 18.1, 18.0, 18.3])
        for temps in rounds:
            for rig in (by_dicts, by_arrays):
                rig.ctl.set_branch_readings(valves, rig.t)
            by_dicts.ctl.set_room_readings([{"collector": ids[i], "group": groups[i], "temp_c": temps[i], "age_s": 0.0}
                                            for i in range(len(ids))], by_dicts.t)
            by_arrays.ctl.set_room_temps(ids, groups, array("d", temps), by_arrays.t)
            room_a, room_b = by_dicts.ctl.chain.room, by_arrays.ctl.chain.room
            self.assertEqual(room_a.readings, room_b.readings)
            self.assertEqual(room_a.rejected, room_b.rejected)
            self.assertEqual((room_a.low_c, room_a.n_fresh), (room_b.low_c, room_b.n_fresh))
            self.assertEqual(by_dicts.ctl.balancing.collectors, by_arrays.ctl.balancing.collectors)
            self.assertEqual(by_dicts.ctl.balancing.due, by_arrays.ctl.balancing.due)
            for _ in range(400):
                out_a = by_dicts.run_until(by_dicts.t + 1.0)
                out_b = by_arrays.run_until(by_arrays.t + 1.0)
                self.assertEqual(out_a, out_b)
            self.assertEqual(by_dicts.ctl.branch_commands(), by_arrays.ctl.branch_commands())
        self.assertEqual(by_arrays.ctl.chain.room.rejected, 3)  # nan once, the id 2.5 twice (inf is a number here)
        self.assertEqual(by_arrays.ctl.balancing.collectors[7][0], 20.0)  # -inf is no number there...
        self.assertEqual(by_arrays.ctl.chain.room.readings[7][0], float("-inf"))  # ...and implausible here

    def test_sequences_of_different_lengths_are_refused_with_the_counts(self):
        from array import array

        rig = Rig()
        with self.assertRaises(ValueError) as caught:
            rig.ctl.set_room_temps(["a-1", "a-2"], ["a"], array("d", [18.0, 19.0]), rig.t)
        self.assertIn("2 ids need as many groups and temperatures, got 1 and 2", str(caught.exception))
        with self.assertRaises(ValueError):
            rig.ctl.set_room_temps(["a-1", "a-2"], ["a", "a"], array("d", [18.0]), rig.t)
        self.assertEqual(rig.ctl.chain.room.readings, {})
        self.assertEqual(rig.ctl.balancing.collectors, {})


class TestSensorAlarmsIdle(unittest.TestCase):
    """The sensor-alarm loop is skipped while every signal is fine and every sensor alarm idle;
    an alarm raised, cleared or restored from a snapshot still runs its course."""

    def test_raise_clear_and_restore(self):
        rig = Rig()
        rig.run_until(1010.0)
        rig.readings["secondary_return_temp_c"] = None
        rig.run_until(1100.0)
        self.assertEqual(rig.alarm_state("sensor_secondary_return_temp_c"), "active")
        snap = json.loads(json.dumps(rig.ctl.snapshot()))
        rig.readings["secondary_return_temp_c"] = 40.0
        rig.run_until(1130.0)
        self.assertEqual(rig.alarm_state("sensor_secondary_return_temp_c"), None)
        other = Rig(t0=rig.t)
        other.ctl.restore(snap, other.t)
        other.step()
        self.assertEqual(other.alarm_state("sensor_secondary_return_temp_c"), "active")
        other.run_until(other.t + 30.0)
        self.assertEqual(other.alarm_state("sensor_secondary_return_temp_c"), None)


class TestOneClock(unittest.TestCase):
    """The valve exercise runs on the same validated time of day as the schedule."""

    def test_valve_exercise_at_the_given_time_of_day(self):
        rig = Rig({"modes": {"initial_mode": "summer"},
                   "valve": {"exercise_after_days": 0.05, "exercise_time_s": 43200.0}},
                  {"outdoor_temp_c": 15.0})
        # Local time runs 6 h ahead of the monotonic clock (day_offset_s is 0).
        first_tod = -1.0
        while rig.t < 1000.0 + 2 * 86400.0 and first_tod < 0.0:
            rig.t += 60.0
            rig.readings["time_of_day_s"] = (rig.t + 21600.0) % 86400.0
            rig.step()
            if rig.ctl.valve.exercise_start_s >= 0.0:  # the stroke started (the interlocks may hold it shut)
                first_tod = rig.readings["time_of_day_s"]
        self.assertTrue(43200.0 <= first_tod < 43200.0 + 3600.0, first_tod)

    def test_wall_clock_input_drives_the_week_programme(self):
        # Saturday 12 December 2026, 12:00 in China (UTC+8): the weekend saving, not the weekday comfort.
        sat_noon_s = 20799 * 86400.0 - 8 * 3600.0 + 12 * 3600.0
        week = {"schedule": {"periods": [[64800.0, 25200.0, -6.0]], "sat": [[0.0, 86400.0, -8.0]], "sun": "sat",
                             "setback_fade_start_c": -20.0, "setback_disable_c": -40.0}}
        rig = Rig(week)
        # (wall_s item, taken, expected schedule_k): Saturday, Sunday (a copy), Monday noon; garbage and
        # missing clocks fall back to the daily programme at the time of day (12:00: comfort).
        day_s = 86400.0
        table = [((sat_noon_s, True), True, -8.0), ((sat_noon_s + day_s, True), True, -8.0),
                 ((sat_noon_s + 2 * day_s, True), True, 0.0), ((sat_noon_s, False), False, 0.0),
                 (("noon", True), False, 0.0), ((-5.0, True), False, 0.0), (None, False, 0.0),
                 ((int(sat_noon_s), True), True, -8.0)]
        for item, taken, schedule_k in table:
            rig.t += 1.0
            inputs = rig.inputs()
            inputs["time_of_day_s"] = (43200.0, True)
            if item is not None:
                inputs["wall_s"] = item
            rig.ctl.step(inputs)
            self.assertEqual(rig.ctl.chain.schedule_k, schedule_k, msg=repr(item))
            self.assertEqual(rig.ctl.wall_ok, taken)


class TestAlarmEvidence(unittest.TestCase):
    """Each station alarm carries the reading it was raised on and the limit it broke."""

    def test_value_and_limit_of_station_alarms(self):
        rig = Rig({"make_up": {"tank_low_pct": 30.0}}, {"secondary_return_pressure_kpa": 120.0, "tank_level_pct": 25.0})
        rig.run_until(1030.0)
        rows = dict((row["code"], row) for row in rig.out["alarms"])
        self.assertEqual((rows["pressure_low"]["value"], rows["pressure_low"]["limit"]), (120.0, 150.0))
        self.assertEqual((rows["tank_level_low"]["value"], rows["tank_level_low"]["limit"]), (25.0, 30.0))
        rig.readings["outdoor_temp_c"] = -3276.8  # out of range: the limit is the range's end
        rig.run_until(1100.0)
        rows = dict((row["code"], row) for row in rig.out["alarms"])
        self.assertEqual((rows["sensor_outdoor_temp_c"]["value"], rows["sensor_outdoor_temp_c"]["limit"]), (-3276.8, -50.0))
        raised = [ev for ev in rig.events if ev.get("kind") == "alarm" and ev["reason"] == "raised"]
        self.assertTrue(len(raised) >= 3)
        for ev in raised:
            self.assertIn("limit", ev)
            topic, payload = codec.encode_uplink("st-1", 1, codec.UP_ALARM, 100.0, dict(ev, state="active"))
            self.assertEqual(codec.decode_uplink(topic, payload)["body"]["limit"], ev["limit"])  # NaN would fail


class TestMakeUpRateMeasuring(unittest.TestCase):
    """No false 0 l/h while the make-up rate's window is still filling: "measuring" instead."""

    def test_measuring_until_the_window_covers_a_quarter(self):
        rig = Rig({"make_up": {"leak_window_s": 3600.0}})
        rig.run_until(1010.0)
        tele = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertEqual(tele["makeup_rate_measuring"], 1)
        self.assertEqual(tele["makeup_rate_l_per_h"], None)
        rig.run_until(1000.0 + 900.0 + 10.0, dt_s=10.0)
        tele = rig.ctl.telemetry(rig.inputs(), rig.out)
        self.assertEqual(tele["makeup_rate_measuring"], 0)
        self.assertEqual(tele["makeup_rate_l_per_h"], 0.0)  # a measured 0: no make-up water drawn
        topic, payload = codec.encode_uplink("st-1", 1, codec.UP_TELEMETRY, 100.0, {"values": tele})
        self.assertEqual(codec.decode_uplink(topic, payload)["body"]["values"]["makeup_rate_measuring"], 0)
