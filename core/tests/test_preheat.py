"""Table tests of core.preheat: the start model, the phases, the re-plan from the rooms and the
forecast, what it learns while heating, the feed-forward, and the planner in the station."""

import unittest

from heatkeeper.core.forecast import Forecast
from heatkeeper.core.heating_curve import HeatingCurve
from heatkeeper.core.preheat import (
    DEFAULTS,
    LEARN_AFTER_S,
    MAX_NEEDED_H,
    P_HEAT,
    P_HOLD,
    P_INERT,
    P_OFF,
    P_SEASON,
    P_WAIT,
    Preheat,
    validate,
)
from heatkeeper.core.season import SeasonCalendar
from heatkeeper.core.settings import DEFAULTS as SETTINGS
from heatkeeper.core.tests.station_rig import Rig

H = 3600.0
START = 1794672000.0  # 00:00 of day one


def calendar(preheat_h=72.0):
    cal = SeasonCalendar()
    cal.accept({"city": "x", "version": 1, "issued_s": START - 100 * H, "start_s": START, "end_s": START + 100 * 24 * H,
                "preheat_s": preheat_h * H}, START - 100 * H)
    return cal


def forecast(wall_s, temps, step_h=1.0):
    fc = Forecast()
    problem = fc.accept({"ts": wall_s, "start_ts": wall_s, "step_s": step_h * H, "temp_c": list(temps)}, wall_s)
    assert problem == "", problem
    return fc


CURVE = HeatingCurve(SETTINGS["curve"])


def plan(p, wall_s, room_c=12.0, room_ok=True, fc_temps=None, cal=None, outdoor_c=0.0, trim_k=0.0, valve_pct=50.0,
         now_s=None, fc_at=None):
    """One plan at `wall_s`; the forecast issued then: `fc_temps` (from then on), or `fc_at(hours
    before 00:00 of day one)` for each of its 72 hours, else 0 degC throughout."""
    if fc_at is not None:
        fc_temps = [fc_at((START - wall_s) / H - j) for j in range(72)]
    fc = forecast(wall_s, fc_temps if fc_temps is not None else [0.0] * 72)
    p.plan(wall_s - START if now_s is None else now_s, wall_s, True, cal if cal is not None else calendar(), fc, room_c,
           room_ok, 18.0, outdoor_c, outdoor_c, CURVE, 18.5, trim_k, valve_pct)
    return p.phase


def _greater(test, a, b, msg=None):  # MicroPython's unittest has no assertGreater
    test.assertTrue(a > b, "%r not greater than %r (%r)" % (a, b, msg))


def _less(test, a, b, msg=None):
    test.assertTrue(a < b, "%r not less than %r (%r)" % (a, b, msg))


class TestSettings(unittest.TestCase):
    def test_defaults_valid_and_problems_named(self):
        self.assertEqual(validate(DEFAULTS), [])
        self.assertEqual(validate({"tau_h": 5.0}), ["preheat.tau_h=5.0 h: must be in [10.0, 1000.0]"])
        self.assertEqual(validate({"enabled": 1}), ["preheat.enabled=1: must be true or false"])


class TestModel(unittest.TestCase):
    def test_hours_needed_table(self):
        p = Preheat({})
        k_h = p.emitter_gain(CURVE)
        _greater(self, k_h, 0.0)
        fc0 = forecast(START, [0.0] * 72)
        fc_cold = forecast(START, [-20.0] * 72)
        # (room, target, forecast) -> more hours for colder rooms and colder weather, 0 when there
        h12 = p.hours_needed(12.0, 18.4, 90.0, k_h, fc0, START, 0.0)
        h15 = p.hours_needed(15.0, 18.4, 90.0, k_h, fc0, START, 0.0)
        h12_cold = p.hours_needed(12.0, 18.4, 90.0, k_h, fc_cold, START, 0.0)
        self.assertTrue(0.0 < h15 < h12 < h12_cold < MAX_NEEDED_H, (h15, h12, h12_cold))
        self.assertEqual(p.hours_needed(18.5, 18.4, 90.0, k_h, fc0, START, 0.0), 0.0)
        # a supply that cannot hold the target: never there
        self.assertEqual(p.hours_needed(12.0, 18.4, 20.0, k_h, fc_cold, START, 0.0), MAX_NEEDED_H)
        # without a forecast the fallback outdoor temperature is used throughout
        self.assertAlmostEqual(p.hours_needed(12.0, 18.4, 90.0, k_h, None, START, 0.0), h12, places=9)
        # the learnt factor scales the rate: twice as fast, about half the hours
        p.f = 2.0
        _less(self, p.hours_needed(12.0, 18.4, 90.0, k_h, fc0, START, 0.0), 0.55 * h12)


class TestPhases(unittest.TestCase):
    def test_phase_table(self):
        cal = calendar()
        # (wall, room_c, room_ok, calendar, forecast usable) -> phase
        cases = [
            (START - 200 * H, 12.0, True, cal, True, P_OFF),  # before the window
            (START - 60 * H, 12.0, True, cal, True, P_WAIT),  # early in the window
            (START - 10 * H, 12.0, True, cal, True, P_HEAT),  # late: heat
            (START - 10 * H, 18.5, True, cal, True, P_WAIT),  # already warm
            (START - 60 * H, 12.0, False, cal, True, P_WAIT),  # blind, far off: wait
            (START - 20 * H, 12.0, False, cal, True, P_INERT),  # blind, within fallback_lead_h: as today
            (START - 10 * H, 12.0, True, cal, False, P_INERT),  # no forecast: as today
            (START + 5 * H, 17.0, True, cal, True, P_SEASON),
            (START + 200 * 24 * H, 17.0, True, cal, True, P_OFF),  # after the end
            (START - 10 * H, 12.0, True, SeasonCalendar(), True, P_INERT),  # no calendar
        ]
        for wall, room_c, room_ok, cal_, usable, phase in cases:
            p = Preheat({})
            fc = forecast(wall if usable else wall - 48 * H, [0.0] * 72)
            p.plan(100.0, wall, True, cal_, fc, room_c, room_ok, 18.0, 0.0, 0.0, CURVE, 18.5, 0.0, 50.0)
            self.assertEqual(p.phase, phase, (wall - START) / H)
            self.assertEqual(p.holds_off(), phase in (P_OFF, P_WAIT))
        p = Preheat({})
        p.plan(100.0, START - 10 * H, False, cal, forecast(START, [0.0] * 72), 12.0, True, 18.0, 0.0, 0.0, CURVE, 18.5, 0.0,
               50.0)
        self.assertEqual(p.phase, P_INERT)  # no wall clock
        p = Preheat({"enabled": False})
        self.assertEqual(plan(p, START - 10 * H), P_INERT)

    def start_h(self, **kw):
        """Hours before 00:00 at which a planner re-planned every 5 min first heats."""
        p = Preheat({})
        wall = START - 72 * H
        while wall < START:
            if plan(p, wall, **kw) == P_HEAT:
                return (START - wall) / H
            wall += 300.0
        return 0.0

    def test_start_is_latest_and_corrects_itself(self):
        base = self.start_h()
        self.assertTrue(5.0 < base < 40.0, base)
        # warmer rooms, a warmer forecast: later; colder: earlier
        _less(self, self.start_h(room_c=15.0), base)
        _less(self, self.start_h(fc_temps=[10.0] * 72), base)
        _greater(self, self.start_h(fc_temps=[-15.0] * 72), base)
        # a cold spell forecast for the last night moves the start earlier than a mild one
        _greater(self, self.start_h(fc_at=lambda before_h: -25.0 if before_h < 12.0 else 0.0), base)

    def test_heats_through_to_the_target_then_holds(self):
        p = Preheat({})
        k_h = p.emitter_gain(CURVE)
        need = p.hours_needed(12.0, 18.3, 90.0, k_h, None, START, 0.0)  # the flat 0 degC forecast
        self.assertEqual(plan(p, START - (need + 1.2) * H, room_c=12.0), P_WAIT)  # margin_h 1 h
        self.assertEqual(plan(p, START - (need + 0.8) * H, room_c=12.0), P_HEAT)
        self.assertEqual(plan(p, START - (need - 2.0) * H, room_c=17.9), P_HEAT)  # early, but heats through
        self.assertEqual(plan(p, START - (need - 2.5) * H, room_c=18.35), P_HOLD)  # there: normal control
        self.assertEqual(plan(p, START - 5 * H, room_c=18.1), P_HOLD)  # ... holds it until 00:00
        self.assertFalse(p.holds_off())
        self.assertEqual(plan(p, START + 0.1 * H, room_c=18.4), P_SEASON)
        # warm rooms early in the window: off until they need the heat, then heat
        p = Preheat({})
        self.assertEqual(plan(p, START - 5 * H, room_c=18.5), P_WAIT)
        self.assertEqual(plan(p, START - 2 * H, room_c=18.25), P_WAIT)
        self.assertEqual(plan(p, START - 0.5 * H, room_c=18.2), P_HEAT)  # within the margin hour: heat

    def test_learns_how_fast_the_building_warms(self):
        # a run to the target in a building twice as fast as the model (f rises) and in one at
        # 0.6 of it (f falls); a run shorter than LEARN_AFTER_S teaches nothing
        for actual, room, higher in ((2.0, 14.0, True), (0.6, 17.0, False)):
            p = Preheat({"margin_h": 12.0})
            k_h = p.emitter_gain(CURVE)
            wall = START - (p.hours_needed(room, 18.3, 90.0, k_h, None, START, 0.0) + 11.9) * H
            now = 0.0
            self.assertEqual(plan(p, wall, room_c=room, now_s=now), P_HEAT, actual)
            steps = 0
            while p.phase == P_HEAT and steps < 400:
                room += actual * p.rate_k_per_h(room, 0.0, 90.0, k_h) / p.f * 300.0 / H
                now += 300.0
                wall += 300.0
                steps += 1
                plan(p, wall, room_c=room, now_s=now)
            self.assertEqual(p.phase, P_HOLD)
            _greater(self, steps * 300.0, LEARN_AFTER_S)
            self.assertEqual(p.f > 1.3, higher, p.f)
            self.assertEqual(p.f < 0.9, not higher, p.f)
            q = Preheat({})
            q.restore(p.snapshot())
            self.assertEqual(q.f, p.f)
            q.restore({"f": 99.0})
            self.assertEqual(q.f, p.f)
        self.assertEqual(Preheat({}).snapshot(), {"f": 1.0})
        p = Preheat({})
        self.assertEqual(plan(p, START - 1 * H, room_c=18.2, now_s=0.0), P_HEAT)
        self.assertEqual(plan(p, START - 0.5 * H, room_c=18.5, now_s=1800.0), P_HOLD)
        self.assertEqual(p.f, 1.0)


class TestFeedForward(unittest.TestCase):
    def test_table(self):
        p = Preheat({})
        # (attenuated outdoor now, forecast from the next hour, valve %, rooms warm) -> supply change (K)
        cases = [
            (0.0, [0.0] * 24, 50.0, True, 0.0),  # steady weather: nothing
            (0.0, [-4.0] * 24, 50.0, True, 0.0),  # 4 K colder ahead: within ff_drop_k
            (0.0, [-11.0] * 24, 50.0, True, 3.0),  # 11 K colder ahead: 0.5 x (11 - 5)
            (0.0, [0.0] * 6 + [-22.0] * 18, 50.0, True, 3.0),  # mean of the 12 h ahead 11 K colder
            (0.0, [0.0] * 13 + [-30.0] * 11, 50.0, True, 0.0),  # beyond ff_horizon_h
            (0.0, [-40.0] * 24, 50.0, True, 6.0),  # capped at ff_max_k
            (0.0, [-11.0] * 24, 99.0, True, 0.0),  # no travel left
            (0.0, [11.0] * 24, 50.0, True, -3.0),  # 11 K milder ahead, rooms warm: cut
            (0.0, [11.0] * 24, 50.0, False, 0.0),  # ... not with rooms near their floor
            (0.0, [40.0] * 24, 50.0, True, -6.0),
        ]
        for outdoor, temps, valve, warm, change_k in cases:
            fc = forecast(START, [outdoor] + temps)
            self.assertAlmostEqual(p.feed_forward(START, fc, outdoor, CURVE, 18.5, 0.0, valve, warm), change_k, places=6,
                                   msg=(outdoor, temps[-1], valve, warm))
        # the supply needed at the coldest hour beyond the curve's max: raise by the shortfall
        need = CURVE.unclamped_c(-45.0, 18.5) + 10.0 - CURVE.max_supply_c
        _greater(self, need, 0.0)
        fc = forecast(START, [-44.0] + [-45.0] * 23)
        self.assertAlmostEqual(p.feed_forward(START, fc, -44.0, CURVE, 18.5, 10.0, 50.0, True), min(6.0, 0.5 * need),
                               places=6)

    def test_only_in_the_season_with_a_forecast(self):
        p = Preheat({})
        self.assertEqual(plan(p, START + 5 * H, fc_temps=[-11.0] * 72, room_c=19.0), P_SEASON)
        self.assertAlmostEqual(p.ff_k, 3.0)
        self.assertEqual(plan(p, START + 5 * H, fc_temps=[11.0] * 72, room_c=19.0), P_SEASON)
        self.assertAlmostEqual(p.ff_k, -3.0)
        self.assertEqual(plan(p, START + 5 * H, fc_temps=[11.0] * 72, room_c=18.3), P_SEASON)
        self.assertEqual(p.ff_k, 0.0)  # rooms near the floor: no cut
        self.assertEqual(plan(p, START - 5 * H, fc_temps=[-11.0] * 72), P_HEAT)
        self.assertEqual(p.ff_k, 0.0)
        p = Preheat({"ff_enabled": False})
        plan(p, START + 5 * H, fc_temps=[-11.0] * 72)
        self.assertEqual(p.ff_k, 0.0)


class TestInStation(unittest.TestCase):
    def test_wait_then_heat_at_the_preheat_supply(self):
        rig = Rig(readings={"outdoor_temp_c": 0.0, "secondary_supply_temp_c": 30.0})
        ctl = rig.ctl
        rig.run_until(rig.t + 60.0)
        cold = [{"collector": "c%d" % i, "group": "g", "temp_c": 12.0, "age_s": 0.0} for i in range(3)]
        wall = START - 48 * H
        ctl.set_season({"city": "x", "version": 1, "issued_s": wall, "start_s": START, "end_s": START + 100 * 24 * H,
                        "preheat_s": 72 * H}, wall)
        ctl.set_forecast({"ts": wall, "start_ts": wall, "step_s": H, "temp_c": [0.0] * 72}, wall)
        ctl.set_room_readings(cold, rig.t)
        out = rig.run_until(rig.t + 60.0)
        self.assertEqual(ctl.preheat.phase, P_WAIT)
        self.assertEqual(out["supply_setpoint_c"], 20.0)  # frost floor (0 degC outdoor), the curve held off
        rec = ctl.telemetry(rig.inputs(), out)
        self.assertEqual(rec["preheat_phase"], P_WAIT)
        _greater(self, rec["preheat_left_h"], rec["preheat_needed_h"])
        # 40 h later (the wall clock learnt from the downlinks runs with the controller's)
        rig.t += 40 * H
        rig.step()
        ctl.set_room_readings(cold, rig.t)
        wall = START - 8 * H
        ctl.set_forecast({"ts": wall, "start_ts": wall, "step_s": H, "temp_c": [0.0] * 72}, wall)
        out = rig.run_until(rig.t + 3600.0)
        self.assertEqual(ctl.preheat.phase, P_HEAT)
        _greater(self, out["supply_setpoint_c"], 60.0)  # toward supply_c through the ramp and limiters
        # a remote supply lease still wins
        rig.command("set_mode", {"mode": "remote"})
        rig.command("set_supply_setpoint", {"supply_setpoint_c": 40.0, "lease_s": 3600})
        out = rig.run_until(rig.t + 3600.0)
        _less(self, out["supply_setpoint_c"], 40.5)


if __name__ == "__main__":
    unittest.main()
