"""Tests of core.balancing: each building group's valve from its collectors (or its return
temperature), the coldest group binding, travel limits, the guard at the floor, bad input."""

import unittest

from heatkeeper.core.balancing import DEFAULTS, MODES, Balancing, median, validate
from heatkeeper.core.settings import SettingsError, load
from heatkeeper.core.tests.station_rig import Rig

GROUPS = ("a", "b", "c")
# the settings the tables below are worked out for (independent of the defaults)
TABLE_SETTINGS = {"smooth_s": 0.0, "target_c": 18.6, "period_s": 1800.0, "gain_pct_per_k": 3.0, "max_step_pct": 3.0,
                  "deadband_k": 0.15, "guard_k": 0.15, "fast_step_pct": 10.0, "guard_period_s": 300.0, "min_pct": 10.0,
                  "min_move_pct": 1.0, "max_age_s": 3600.0, "hold_s": 7200.0, "spread_max_k": 2.0,
                  "return_gain_pct_per_k": 1.0, "return_deadband_k": 1.0, "fallback_min_pct": 50.0,
                  "swing_gain_pct_per_k": 0.0, "floor_period_s": 300.0}


def rooms(temps, age_s=0.0):
    """{group: [temp, ...]} -> collector readings (ids group-k)."""
    out = []
    for group in sorted(temps):
        for k, temp in enumerate(temps[group]):
            out.append({"collector": "%s-%d" % (group, k), "group": group, "temp_c": temp, "age_s": age_s})
    return out


def branches(positions, returns=None):
    """{group: position %} (+ {group: return degC}) -> energy valve readings."""
    returns = returns or {}
    return [{"group": g, "valve_position_pct": positions[g], "return_temp_c": returns.get(g, 40.0)}
            for g in sorted(positions)]


def start(settings=None, positions=None, temps=None, returns=None):
    """A controller that has seen the groups once at t=0; returns (controller, its first commands)."""
    s = dict(TABLE_SETTINGS)
    s.update(settings or {})
    bal = Balancing(s)
    positions = positions or {g: 100.0 for g in GROUPS}
    temps = temps if temps is not None else {g: [18.6] for g in positions}
    return bal, bal.step(0.0, {"rooms": rooms(temps), "branches": branches(positions, returns)})


class TestSettings(unittest.TestCase):
    def test_defaults_are_valid_and_problems_name_key_value_and_range(self):
        self.assertEqual(validate({}), [])
        self.assertEqual(validate(dict(DEFAULTS)), [])
        table = [
            ({"min_pct": 95.0}, "balancing.min_pct=95.0 %: must be in [0.0, 90.0]"),
            ({"period_s": "fast"}, "balancing.period_s='fast' s: must be in [60.0, 86400.0]"),
            ({"enabled": 1}, "balancing.enabled=1: must be true or false"),
            ({"bogus": 1}, "balancing.bogus: unknown key"),
            ({"floor_c": 19.0, "target_c": 18.5}, "balancing.floor_c=19.0 degC: must be below balancing.target_c=18.5 degC"),
            ({"min_pct": 60.0, "fallback_min_pct": 40.0},
             "balancing.fallback_min_pct=40.0 %: must not be below balancing.min_pct=60.0 %"),
            ({"swing_gain_pct_per_k": -1.0}, "balancing.swing_gain_pct_per_k=-1.0 %/K: must be in [0.0, 100.0]"),
        ]
        for section, problem in table:
            problems = validate(section)
            self.assertEqual(len(problems), 1, (section, problems))
            self.assertTrue(problems[0].startswith(problem), (problems, problem))
        self.assertEqual(len(validate({"min_pct": -1, "gain_pct_per_k": 0, "deadband_k": 9})), 3)  # all at once
        self.assertEqual(validate(None), ["balancing=None: must be a table of settings"])

    def test_bad_settings_refuse_to_build(self):
        with self.assertRaises(ValueError) as caught:
            Balancing({"max_step_pct": 0.0})
        self.assertIn("balancing.max_step_pct=0.0 %: must be in [0.5, 50.0]", str(caught.exception))

    def test_median(self):
        for values, expected in (([3.0], 3.0), ([2.0, 1.0], 1.5), ([5.0, 1.0, 2.0], 2.0), ([4.0, 1.0, 3.0, 2.0], 2.5)):
            self.assertEqual(median(values), expected)


class TestReadings(unittest.TestCase):
    def test_a_reading_is_a_number_by_the_settings_checker_s_rule(self):
        # balancing checks each reading itself (every room reading passes through it): the same
        # answer as checks.is_number, and the value as a plain float
        from heatkeeper.core import balancing, checks

        nan, inf = float("nan"), float("inf")
        for value in (True, False, 0, 1, -7, 1.5, -0.0, nan, inf, -inf, "18.5", None, [18.5], 10 ** 15):
            got = balancing._number(value)
            if checks.is_number(value):
                self.assertEqual(got, float(value), repr(value))
                self.assertIs(type(got), float)
            else:
                self.assertIsNone(got, repr(value))


class TestBalancing(unittest.TestCase):
    def test_groups_come_from_the_energy_valves_and_start_at_their_position(self):
        bal, commands = start(positions={"a": 100.0, "b": 70.0, "c": 55.5})
        self.assertEqual(bal.groups, ["a", "b", "c"])
        self.assertEqual(bal.sent, {"a": 100.0, "b": 70.0, "c": 55.5})
        self.assertEqual(commands, {})  # every group at the target: nothing to move

    def test_one_period_moves_each_group_by_its_error_from_the_coldest(self):
        # gain 3 %/K, dead band 0.15 K, at most 3 % a period; ref = max(target 18.6, coldest group)
        # (temps a, b, c; positions a, b, c; expected positions after the first period)
        table = [
            # a warm group closes in proportion to its error, the coldest (a, ref) stays open
            ((18.6, 19.1, 18.7), (100.0, 100.0, 100.0), (100.0, 98.5, 100.0)),
            # a large error closes by the rate limit only
            ((18.6, 21.0, 18.6), (100.0, 100.0, 100.0), (100.0, 97.0, 100.0)),
            # the coldest group above the target is the reference: b is only 0.5 K above it
            ((19.5, 20.0, 19.6), (100.0, 100.0, 100.0), (100.0, 98.5, 100.0)),
            # a group below the target opens, and the most open valve is shifted back to 100 %
            ((18.6, 18.3, 18.6), (100.0, 60.0, 100.0), (100.0, 60.9, 100.0)),
            ((18.9, 18.3, 19.0), (80.0, 60.0, 70.0), (100.0, 81.8, 89.7)),  # a -0.9, b +0.9, c -1.2, then all +20.9
            # inside the dead band nothing moves
            ((18.6, 18.7, 18.5), (100.0, 50.0, 90.0), (100.0, 50.0, 90.0)),
        ]
        for temps, positions, expected in table:
            bal, _ = start(positions=dict(zip(GROUPS, positions)), temps={g: [t] for g, t in zip(GROUPS, temps)})
            for group, want in zip(GROUPS, expected):
                self.assertAlmostEqual(bal.pos[group], want, delta=1e-9, msg=(temps, positions, group))
            self.assertEqual(set(bal.mode.values()), {"room"})

    def test_between_periods_only_the_guard_moves(self):
        bal, _ = start(positions={"a": 100.0, "b": 50.0, "c": 50.0}, temps={"a": [18.6], "b": [20.0], "c": [20.0]})
        self.assertAlmostEqual(bal.pos["b"], 47.0, delta=1e-9)  # closed by 3; a stays at 100, so no shift
        before = dict(bal.pos)
        moved = bal.step(600.0, {"rooms": rooms({"a": [18.6], "b": [20.0], "c": [18.05]})})
        self.assertEqual(bal.pos["b"], before["b"])  # no regular step before period_s
        self.assertEqual(bal.mode["c"], "guard")
        self.assertAlmostEqual(bal.pos["c"], before["c"] + 10.0, delta=1e-9)  # fast, at once
        self.assertEqual(moved, {"c": bal.pos["c"]})
        # the guard opens again every guard_period_s while the group stays near the floor, never closes it
        bal.step(700.0, {"rooms": rooms({"a": [18.6], "b": [20.0], "c": [18.05]})})
        self.assertAlmostEqual(bal.pos["c"], before["c"] + 10.0, delta=1e-9)
        bal.step(900.0, {"rooms": rooms({"a": [18.6], "b": [20.0], "c": [17.5]})})
        self.assertAlmostEqual(bal.pos["c"], before["c"] + 20.0, delta=1e-9)
        for t in range(1200, 3601, 300):
            bal.step(float(t), {"rooms": rooms({"a": [18.6], "b": [20.0], "c": [17.9]})})
        self.assertEqual(bal.pos["c"], 100.0)

    def test_a_warm_group_is_throttled_no_further_than_min_pct_and_the_coldest_stays_open(self):
        bal, first = start(settings={"min_pct": 20.0}, temps={"a": [18.6], "b": [22.0], "c": [18.6]})
        commands = [first]
        for k in range(1, 60):
            commands.append(bal.step(k * 1800.0, {"rooms": rooms({"a": [18.6], "b": [22.0], "c": [18.6]})}))
        self.assertEqual(bal.pos["b"], 20.0)
        self.assertEqual(bal.pos["a"], 100.0)
        self.assertEqual(bal.pos["c"], 100.0)
        # never more than max_step_pct a period
        sent = [c["b"] for c in commands if "b" in c]
        steps = [x - y for x, y in zip([100.0] + sent, sent)]
        self.assertTrue(all(0.0 < s <= 3.0 + 1e-9 for s in steps), steps)

    def test_small_moves_are_not_sent_until_they_add_up(self):
        bal, _ = start(settings={"min_move_pct": 1.0, "gain_pct_per_k": 2.0, "deadband_k": 0.0})
        t = 0.0
        sent = []
        for _ in range(4):
            t += 1800.0
            sent.append(bal.step(t, {"rooms": rooms({"a": [18.6], "b": [18.9], "c": [18.6]})}))  # -0.6 % a period
        self.assertEqual([sorted(c) for c in sent], [[], ["b"], [], ["b"]])
        self.assertAlmostEqual(sent[1]["b"], 98.8, delta=1e-9)
        self.assertAlmostEqual(sent[3]["b"], 97.6, delta=1e-9)
        self.assertAlmostEqual(bal.sent["b"], 97.6, delta=1e-9)

    def test_stale_collectors_hold_the_valve_then_the_return_temperature_steers_it(self):
        bal, _ = start(settings={"hold_s": 7200.0, "max_age_s": 3600.0, "fallback_min_pct": 50.0},
                       positions={"a": 100.0, "b": 80.0, "c": 70.0},
                       temps={"a": [18.6], "b": [18.6], "c": [18.6]}, returns={"a": 40.0, "b": 40.0, "c": 46.0})
        # c's collectors go silent: the others keep reporting
        t = 0.0
        modes = []
        while t < 4.0 * 3600.0:
            t += 1800.0
            bal.step(t, {"rooms": rooms({"a": [18.6], "b": [18.6]}),
                         "branches": branches({"a": 100.0, "b": 80.0, "c": 70.0}, {"a": 40.0, "b": 40.0, "c": 46.0})})
            modes.append(bal.mode["c"])
        # fresh for max_age_s, held for hold_s after, then steered by its return (6 K hotter: closes)
        self.assertEqual(modes[:5], ["room", "room", "hold", "hold", "hold"])
        self.assertEqual(modes[5:], ["return"] * 3)
        self.assertAlmostEqual(bal.pos["c"], 70.0 - 3 * 3.0, delta=1e-9)
        for _ in range(20):
            t += 1800.0
            bal.step(t, {"rooms": rooms({"a": [18.6], "b": [18.6]}),
                         "branches": branches({"a": 100.0, "b": 80.0, "c": 70.0}, {"a": 40.0, "b": 40.0, "c": 46.0})})
        self.assertEqual(bal.pos["c"], 50.0)  # never below fallback_min_pct on its return alone
        # a collector comes back: the rooms steer again
        bal.step(t + 1800.0, {"rooms": rooms({"a": [18.6], "b": [18.6], "c": [17.9]})})
        self.assertEqual(bal.mode["c"], "guard")
        self.assertEqual(bal.pos["c"], 60.0)

    def test_without_collectors_or_return_the_valve_holds(self):
        bal = Balancing(dict(TABLE_SETTINGS, hold_s=0.0))
        bal.step(0.0, {"branches": [{"group": "a", "valve_position_pct": 64.0, "return_temp_c": None},
                                    {"group": "b", "valve_position_pct": 30.0}]})
        for k in range(1, 30):
            self.assertEqual(bal.step(k * 1800.0, {"rooms": []}), {})
        self.assertEqual(bal.mode, {"a": "hold", "b": "hold"})
        self.assertEqual(bal.pos, {"a": 64.0, "b": 30.0})  # held valves are not shifted open either

    def test_wrong_collectors(self):
        # (collectors of group b, the statistic it is steered by)
        table = [
            ([19.0, 19.4], 19.2),  # the median
            ([19.0, 19.4, 85.0], 19.2),  # implausible: ignored
            ([-40.0, 19.0, 19.4], 19.2),
            ([19.0, 24.0], 19.0),  # further apart than spread_max_k: the coldest (a high one must not throttle)
            ([float("nan"), 19.0, 19.4], 19.2),  # not a number: ignored
        ]
        for temps, stat in table:
            bal, _ = start(temps={"a": [18.6], "b": temps, "c": [18.6]})
            self.assertAlmostEqual(bal.stat["b"], stat, delta=1e-9, msg=temps)
        bal = Balancing({})
        commands = bal.step(0.0, {"rooms": [{"collector": None, "group": "a", "temp_c": 18.0}, "junk",
                                            {"collector": "x", "group": "a", "temp_c": "warm"},
                                            {"collector": "y", "group": "a", "temp_c": 18.0, "age_s": -5.0}],
                                  "branches": ["junk", {"group": 3}, {"group": "a", "valve_position_pct": "open"}]})
        self.assertEqual(commands, {})
        self.assertEqual(bal.groups, ["a"])
        self.assertEqual(bal.pos["a"], 100.0)  # no usable position: assumed open (as found)
        self.assertEqual(bal.collectors, {})
        self.assertEqual(bal.step(1.0, None), {})
        self.assertEqual(bal.step(2.0, "garbage"), {})

    def test_collectors_of_unknown_groups_and_old_readings(self):
        bal, _ = start()
        bal.step(1800.0, {"rooms": rooms({"a": [18.6], "b": [18.6], "c": [18.6], "zz": [10.0]})})
        self.assertFalse("zz" in bal.pos)
        # a reading that arrives already older than max_age_s does not count
        bal.step(4000.0, {"rooms": rooms({"a": [18.6], "b": [18.6]}) + rooms({"c": [30.0]}, age_s=4000.0)})
        self.assertIsNone(bal.stat["c"])

    def test_smoothing_damps_the_noise_but_the_guard_sees_every_reading(self):
        bal, _ = start(settings={"smooth_s": 21600.0}, temps={"a": [18.6], "b": [19.6], "c": [18.6]})
        bal.step(1800.0, {"rooms": rooms({"a": [18.6], "b": [20.6], "c": [18.6]})})
        self.assertAlmostEqual(bal.stat["b"], 19.6 + 1800.0 / 21600.0, delta=1e-9)
        bal.step(2100.0, {"rooms": rooms({"a": [18.6], "b": [18.0], "c": [18.6]})})
        self.assertEqual(bal.mode["b"], "guard")

    def test_the_swing_moves_a_valve_against_a_reading_off_the_smoothed_statistic_at_once(self):
        # smoothing over 6 h, the swing 40 %/K within +-30 %: the first reading at 18.6 everywhere,
        # 300 s later (before the next regular step) group b reads `temp`; its statistic has moved by
        # 300/21600 of the difference, and b's valve moves at once by -40 %/K x (reading - statistic)
        # (b's position, its reading, the command expected; None: no command)
        swing = {"smooth_s": 21600.0, "swing_gain_pct_per_k": 40.0, "swing_max_pct": 30.0, "swing_smooth_s": 0.0}
        left = 1.0 - 300.0 / 21600.0  # the part of a jump the statistic has not followed yet
        table = [
            (100.0, 18.85, 100.0 - 40.0 * 0.25 * left),  # warmer than its statistic (sun): closes
            (100.0, 19.6, 70.0),  # at most swing_max_pct
            (20.0, 19.6, 10.0),  # never below min_pct
            (50.0, 18.35, 50.0 + 40.0 * 0.25 * left),  # cooler: opens
            (95.0, 18.35, 100.0),  # never above 100 %
            (100.0, 18.62, None),  # a swing under min_move_pct is not sent
        ]
        for position, temp, expected in table:
            positions = {"a": 100.0, "b": position, "c": 100.0}
            bal, _ = start(settings=swing, positions=positions)
            commands = bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [temp], "c": [18.6]})})
            self.assertEqual(bal.mode["b"], "room", (position, temp))
            self.assertEqual(bal.pos["b"], position)  # the steered position is not touched by the swing
            if expected is None:
                self.assertEqual(commands, {}, (position, temp))
            else:
                self.assertEqual(sorted(commands), ["b"], (position, temp))
                self.assertAlmostEqual(commands["b"], expected, delta=1e-9, msg=(position, temp))
                self.assertAlmostEqual(bal.snapshot()["groups"][1]["valve_wanted_pct"], expected, delta=1e-9)
        # back at its statistic: the swing is gone and the valve returns to its steered position
        bal, _ = start(settings=swing, positions={"a": 100.0, "b": 60.0, "c": 100.0})
        self.assertAlmostEqual(bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [19.1], "c": [18.6]})})["b"],
                               60.0 - 20.0 * left, delta=1e-9)
        self.assertEqual(bal.step(600.0, {"rooms": rooms({"a": [18.6], "b": [bal.stat["b"]], "c": [18.6]})}), {"b": 60.0})
        self.assertEqual(bal.swing["b"], 0.0)
        # with swing_smooth_s the swing follows the reading smoothed over that time (collector noise):
        # 300 s after a 1 K jump, 300/1800 of it, less the statistic's 300/21600
        bal, _ = start(settings=dict(swing, swing_smooth_s=1800.0))
        commands = bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [19.6], "c": [18.6]})})
        self.assertAlmostEqual(commands["b"], 100.0 - 40.0 * (300.0 / 1800.0 - 300.0 / 21600.0), delta=1e-9)
        # a statistic smoothed no longer than the swing's own smoothing has no swing to follow (the
        # swing would otherwise chase the reading's own lag: a cooling group closed)
        for smooth_s in (0.0, 1800.0):
            bal, _ = start(settings=dict(swing, smooth_s=smooth_s, swing_smooth_s=1800.0))
            self.assertEqual(bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [18.3], "c": [18.6]})}), {})
            self.assertEqual(bal.swing["b"], 0.0)
        # off (0 %/K): nothing moves between regular steps
        bal, _ = start(settings={"smooth_s": 21600.0, "swing_gain_pct_per_k": 0.0}, positions={"a": 100.0, "b": 60.0, "c": 100.0})
        self.assertEqual(bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [19.6], "c": [18.6]})}), {})

    def test_the_swing_never_closes_a_group_in_the_guard_nor_moves_a_held_one(self):
        swing = {"smooth_s": 21600.0, "swing_gain_pct_per_k": 40.0, "swing_max_pct": 30.0, "swing_smooth_s": 0.0}
        # b's statistic near the floor (18.10 < floor 18 + guard 0.15), its reading 18.5 above it
        bal, _ = start(settings=swing, positions={"a": 100.0, "b": 50.0, "c": 100.0},
                       temps={"a": [18.6], "b": [18.1], "c": [18.6]})
        commands = bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [18.5], "c": [18.6]})})
        self.assertEqual(bal.mode["b"], "guard")
        self.assertEqual(bal.swing["b"], 0.0)
        self.assertEqual(commands, {"b": 70.0})  # the guard's second fast step (60 at t=0), nothing taken off
        # a group whose collectors went stale holds its valve: no swing
        bal, _ = start(settings=dict(swing, max_age_s=600.0, hold_s=7200.0), positions={"a": 100.0, "b": 50.0, "c": 100.0})
        bal.step(300.0, {"rooms": rooms({"a": [18.6], "b": [19.6], "c": [18.6]})})
        self.assertTrue(bal.sent["b"] < 50.0, bal.sent)
        bal.step(1200.0, {"rooms": rooms({"a": [18.6], "c": [18.6]})})
        self.assertEqual(bal.mode["b"], "hold")
        self.assertEqual(bal.sent["b"], 50.0)  # back at the position it holds

    def test_near_the_floor_the_guard_waits_for_the_room_below_it_every_floor_period(self):
        # guard_period_s 1800: near the floor (18.0-18.15) one fast step, then it waits for the room
        # to answer; below the floor itself it opens every floor_period_s (300 s)
        bal, _ = start(settings={"guard_period_s": 1800.0, "floor_period_s": 300.0, "period_s": 86400.0},
                       positions={"a": 100.0, "b": 20.0, "c": 100.0})
        table = [  # (time, b's reading, b's position after)
            (300.0, 18.1, 30.0),  # near the floor: opens at once
            (600.0, 18.1, 30.0),  # ... and waits
            (1800.0, 18.05, 30.0),
            (2100.0, 18.05, 40.0),  # 1800 s after its last step
            (2400.0, 17.95, 50.0),  # below the floor: every 300 s
            (2700.0, 17.95, 60.0),
            (2800.0, 17.9, 60.0),  # not before 300 s
            (3000.0, 18.1, 60.0),  # near it again: 1800 s from the last step
            (4500.0, 18.1, 70.0),
        ]
        for t, temp, expected in table:
            bal.step(t, {"rooms": rooms({"a": [18.6], "b": [temp], "c": [18.6]})})
            self.assertEqual(bal.mode["b"], "guard", t)
            self.assertAlmostEqual(bal.pos["b"], expected, delta=1e-9, msg=t)
        # the station steps it without a collector reading at the shorter of the two periods
        self.assertEqual(bal.due_s, 4500.0 + 300.0)
        # a guard period shorter than floor_period_s holds below the floor too
        bal, _ = start(settings={"guard_period_s": 60.0, "floor_period_s": 300.0, "period_s": 86400.0},
                       positions={"a": 100.0, "b": 20.0, "c": 100.0})
        for t, expected in ((60.0, 30.0), (120.0, 40.0), (150.0, 40.0), (180.0, 50.0)):
            bal.step(t, {"rooms": rooms({"a": [18.6], "b": [17.5], "c": [18.6]})})
            self.assertAlmostEqual(bal.pos["b"], expected, delta=1e-9, msg=t)
        self.assertEqual(bal.due_s, 180.0 + 60.0)

    def test_disabled_sends_nothing(self):
        bal, commands = start(settings={"enabled": False}, temps={"a": [18.6], "b": [25.0], "c": [17.0]})
        self.assertEqual(commands, {})
        self.assertEqual(bal.step(3600.0, {"rooms": rooms({"a": [18.6], "b": [25.0], "c": [17.0]})}), {})

    def test_snapshot(self):
        bal, _ = start(temps={"a": [18.6], "b": [19.6], "c": [18.7]})
        snap = bal.snapshot()
        self.assertEqual(snap["ref_c"], 18.6)
        self.assertEqual([row["group"] for row in snap["groups"]], ["a", "b", "c"])
        self.assertEqual(snap["groups"][1]["mode"], "room")
        self.assertEqual(snap["groups"][1]["valve_cmd_pct"], 97.0)
        self.assertEqual(snap["groups"][1]["room_c"], 19.6)


def answer(positions, returns=None, silent=()):
    """Energy valve readings as the firmware gives them: the groups in `silent` did not answer."""
    out = branches(positions, returns)
    for row in out:
        if row["group"] in silent:
            row["ok"] = False
            row["valve_position_pct"] = None
            row["return_temp_c"] = None
    return out


class TestValveFaults(unittest.TestCase):
    def test_a_valve_that_stops_answering_is_lost_after_lost_s_and_held(self):
        bal, _ = start(settings={"lost_s": 60.0}, positions={"a": 100.0, "b": 70.0, "c": 60.0},
                       temps={"a": [18.6], "b": [20.0], "c": [18.6]})
        pos_b = bal.pos["b"]
        # (time, readings b answers?, expected lost, n_lost)
        table = [(30.0, False, False, 0), (59.0, False, False, 0), (61.0, False, True, 1), (4000.0, False, True, 1),
                 (4030.0, True, False, 0)]
        for t, answers, lost, n_lost in table:
            bal.step(t, {"rooms": rooms({"a": [18.6], "b": [20.0], "c": [18.6]}),
                         "branches": answer({"a": 100.0, "b": 70.0, "c": 60.0}, silent=() if answers else ("b",))})
            self.assertEqual((bal.lost["b"], bal.n_lost), (lost, n_lost), t)
            if lost:
                self.assertEqual(bal.mode["b"], "lost")
                self.assertEqual(bal.pos["b"], pos_b)  # held: no command can reach it
        # its last answer stands meanwhile: the position it gave, its return temperature
        self.assertEqual(bal.position["b"], 70.0)
        # no readings at all is not a fault of the valve (the firmware says when one fails)
        bal.step(90000.0, {"rooms": rooms({"a": [18.6], "b": [20.0], "c": [18.6]})})
        self.assertEqual(bal.n_lost, 0)

    def test_a_lost_valve_takes_no_part_in_the_shift_to_open(self):
        bal, _ = start(settings={"lost_s": 60.0}, positions={"a": 100.0, "b": 40.0, "c": 60.0},
                       temps={"a": [18.6], "b": [18.6], "c": [18.6]})
        bal.step(100.0, {"branches": answer({"a": 100.0, "b": 40.0, "c": 60.0}, silent=("a",))})
        # a (the open one) is lost; c, warm, closes by 3 % and b (at ref) stays: without a the most
        # open valve is c (57 %), and the steered ones are shifted by 43 % (a holds at its command)
        bal.step(1800.0, {"rooms": rooms({"a": [18.6], "b": [18.6], "c": [19.6]}),
                          "branches": answer({"a": 100.0, "b": 40.0, "c": 60.0}, silent=("a",))})
        self.assertEqual(bal.mode["a"], "lost")
        self.assertAlmostEqual(bal.pos["b"], 83.0, delta=1e-9)
        self.assertAlmostEqual(bal.pos["c"], 100.0, delta=1e-9)
        self.assertEqual(bal.pos["a"], 100.0)

    def test_a_valve_off_its_command_for_stuck_s_is_stuck(self):
        bal, _ = start(settings={"stuck_band_pct": 10.0, "stuck_s": 600.0}, temps={"a": [18.6], "b": [21.0], "c": [18.6]})
        self.assertAlmostEqual(bal.sent["b"], 97.0, delta=1e-9)
        # (time, b's position feedback, expected stuck)
        table = [(100.0, 100.0, False),  # 3 % off: moving, within the band
                 (200.0, 80.0, False), (700.0, 80.0, False),  # 17 % off since 200 s
                 (800.0, 80.0, True), (900.0, 96.0, False)]  # follows again
        for t, pos, stuck in table:
            bal.step(t, {"branches": branches({"a": 100.0, "b": pos, "c": 100.0})})
            self.assertEqual((bal.stuck["b"], bal.n_stuck), (stuck, 1 if stuck else 0), t)


def branch_settings(**balancing):
    # the tables below are worked out for these (independent of the defaults)
    section = {"smooth_s": 0.0, "period_s": 1800.0, "guard_period_s": 300.0, "lost_s": 60.0, "stuck_s": 600.0,
               "target_c": 18.5, "deadband_k": 0.2, "gain_pct_per_k": 3.0, "max_step_pct": 3.0, "guard_k": 0.25,
               "fast_step_pct": 15.0, "min_pct": 10.0, "stuck_band_pct": 10.0}
    section.update(balancing)
    return {"balancing": section, "alarms": {"delay_s": 10.0}}


class TestStationBalancing(unittest.TestCase):
    """core.balancing as a piece of the station: settings, cycle, alarms, telemetry."""

    def test_the_section_is_validated_with_every_problem_listed(self):
        self.assertEqual(load(None)["balancing"], DEFAULTS)
        with self.assertRaises(SettingsError) as caught:
            load({"balancing": {"min_pct": 95.0, "bogus": 1, "stuck_s": 1.0}})
        problems = caught.exception.problems
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("balancing.min_pct=95.0 %: must be in [0.0, 90.0]", problems)
        self.assertTrue(any(p.startswith("balancing.bogus: unknown key") for p in problems), problems)
        self.assertIn("balancing.stuck_s=1.0 s: must be in [10.0, 86400.0]", problems)

    def test_without_branch_valves_nothing_of_it_shows(self):
        rig = Rig()
        rig.ctl.set_room_readings(rooms({"a": [18.6]}), rig.t)
        rig.run_until(rig.t + 5.0)
        self.assertEqual(rig.ctl.branch_commands(), {})
        rec = rig.ctl.telemetry({}, rig.out)
        self.assertEqual([k for k in rec if k.startswith("branch")], [])

    def test_a_warm_group_is_closed_down_on_a_collector_reading_and_the_cold_one_opened(self):
        rig = Rig(branch_settings())
        ctl = rig.ctl
        positions = {"a": 100.0, "b": 100.0, "c": 60.0}
        ctl.set_branch_readings(branches(positions), rig.t)
        ctl.set_room_readings(rooms({"a": [18.6], "b": [20.5], "c": [18.1]}), rig.t)
        self.assertEqual(ctl.branch_commands(), positions)  # nothing before the cycle
        rig.run_until(rig.t + 1.0)
        cmds = ctl.branch_commands()
        # b 1.9 K above the coldest at/above target: -3 % (rate limit); c near the floor: the guard +15 %
        self.assertAlmostEqual(cmds["b"], 97.0, delta=1e-9)
        self.assertAlmostEqual(cmds["c"], 75.0, delta=1e-9)
        self.assertEqual(cmds["a"], 100.0)
        self.assertEqual(ctl.balancing.mode, {"a": "room", "b": "room", "c": "guard"})
        # the guard steps again every guard_period_s without a new reading; the rooms don't move
        rig.run_until(rig.t + 299.0)
        self.assertAlmostEqual(ctl.branch_commands()["c"], 75.0, delta=1e-9)
        rig.run_until(rig.t + 2.0)
        self.assertAlmostEqual(ctl.branch_commands()["c"], 90.0, delta=1e-9)
        rec = ctl.telemetry({}, rig.out)
        self.assertAlmostEqual(rec["branch_c_cmd_pct"], 90.0, delta=1e-9)
        self.assertEqual(rec["branch_c_valve_pct"], 60.0)
        self.assertEqual(rec["branch_c_mode"], MODES.index("guard"))
        self.assertEqual(rec["branch_b_return_c"], 40.0)
        self.assertEqual(rec["branches_lost"], 0)

    def test_telemetry_names_come_from_the_group_names(self):
        rig = Rig(branch_settings())
        long_name = "x" * 40
        rig.ctl.set_branch_readings([{"group": "Block-03", "valve_position_pct": 55.0},
                                     {"group": long_name, "valve_position_pct": 45.0},
                                     {"group": "b/7", "valve_position_pct": 35.0, "ok": False}], rig.t)
        rig.run_until(rig.t + 1.0)
        rec = rig.ctl.telemetry({}, rig.out)
        self.assertEqual(rec["branch_block_03_valve_pct"], 55.0)  # lower case, "-" as "_"
        self.assertEqual(rec["branch_2_valve_pct"], 45.0)  # too long for a field name: its number
        self.assertEqual(rec["branch_3_valve_pct"], None)  # not a field name's characters; never answered
        self.assertEqual(rec["branch_3_cmd_pct"], 100.0)  # as found: assumed open

    def test_an_unreachable_and_a_stuck_valve_are_alarmed_and_the_others_are_steered(self):
        rig = Rig(branch_settings())
        ctl = rig.ctl
        positions = {"a": 100.0, "b": 100.0, "c": 100.0}
        ctl.set_branch_readings(branches(positions), rig.t)
        ctl.set_room_readings(rooms({"a": [18.6], "b": [21.0], "c": [18.6]}), rig.t)
        rig.run_until(rig.t + 1.0)
        self.assertEqual(rig.alarm_state("branch_valve_unreachable"), None)
        t0 = rig.t
        # c stops answering (the firmware says so each poll); b answers but stays at 100 % (stuck)
        while rig.t < t0 + 90.0:
            ctl.set_branch_readings(answer(positions, silent=("c",)), rig.t)
            rig.run_until(rig.t + 5.0)
        # lost after lost_s (60 s; the balancing checks on its next step, every guard period at the
        # latest) and alarmed after alarms.delay_s (10 s)
        while rig.t < t0 + 400.0:
            ctl.set_branch_readings(answer(positions, silent=("c",)), rig.t)
            rig.run_until(rig.t + 5.0)
        self.assertEqual(rig.alarm_state("branch_valve_unreachable"), "active")
        row = [a for a in rig.out["alarms"] if a["code"] == "branch_valve_unreachable"][0]
        self.assertEqual(row["value"], 1.0)
        self.assertEqual(ctl.balancing.mode["c"], "lost")
        self.assertEqual(rig.alarm_state("branch_valve_stuck"), None)
        # b was closed to 97 % and stays at 100 %: inside the band, no stuck alarm; the rooms go on:
        # b is closed further each period while its valve does not move: 12 % off
        # at 5400 s, stuck 600 s later
        while rig.t < t0 + 4 * 1800.0:
            ctl.set_branch_readings(answer(positions, silent=("c",)), rig.t)
            if rig.t - t0 >= 300.0 and int(rig.t) % 300 < 10:
                ctl.set_room_readings(rooms({"a": [18.6], "b": [21.0], "c": [18.6]}), rig.t)
            rig.run_until(rig.t + 10.0)
        self.assertTrue(ctl.branch_commands()["b"] < 90.0, ctl.branch_commands())
        self.assertEqual(rig.alarm_state("branch_valve_stuck"), "active")
        self.assertEqual(ctl.branch_commands()["c"], 100.0)  # held
        # c answers again: the unreachable alarm clears
        ctl.set_branch_readings(branches(positions), rig.t)
        rig.run_until(rig.t + 320.0)
        self.assertEqual(rig.alarm_state("branch_valve_unreachable"), None)

    def test_reconfigure_keeps_the_branches_and_takes_the_new_limits(self):
        rig = Rig(branch_settings())
        ctl = rig.ctl
        ctl.set_branch_readings(branches({"a": 100.0, "b": 80.0}), rig.t)
        ctl.set_room_readings(rooms({"a": [18.6], "b": [21.0]}), rig.t)
        rig.run_until(rig.t + 1.0)
        before = ctl.branch_commands()
        rebuilt = ctl.reconfigure(branch_settings(min_pct=30.0), 2)
        self.assertEqual(rebuilt, ["balancing"])
        self.assertEqual(ctl.branch_commands(), before)
        self.assertEqual(ctl.balancing.min_pct, 30.0)
        self.assertEqual(ctl.balancing.groups, ["a", "b"])
        self.assertEqual(ctl.reconfigure(branch_settings(min_pct=30.0), 3), [])


if __name__ == "__main__":
    unittest.main()
