"""Scenarios: the secondary supply sensor fails (tables of cycles, leaping clock).

While the supply temperature is unknown the over-temperature interlock cannot see it, so the
station must not heat blind: the valve runs open-loop on the heating curve's feed-forward
position at most (never above what the PI held), closes as the secondary or primary return
rises, a backup trip acts on the return temperatures, and manual mode is refused (or, when
already in manual, limited the same way). With a healthy supply sensor none of this acts."""

import unittest

from heatkeeper.core import heating_curve, interlocks
from heatkeeper.core.tests.station_rig import SHUT, Rig, cmd, merged, run_table

# A position-commanded valve: the command is the position (no pulse bookkeeping in the asserts).
POSITION = {"valve": {"kind": "position"}}


def feed_forward_pct(setpoint_c):
    """The curve's feed-forward position with the default settings (see core.valve_loop)."""
    room = heating_curve.DEFAULTS["design_room_c"]
    span = heating_curve.DEFAULTS["design_supply_c"] - room
    phi = (setpoint_c - room) / span
    phi = 0.0 if phi < 0.0 else (1.0 if phi > 1.0 else phi)
    return interlocks.DEFAULTS["fallback_valve_design_pct"] * phi


def opened_wide(rig):
    """Auto, a cold supply: the PI drives the valve fully open (the probe's starting point)."""
    run_table(None, rig, [(1300.0, {"secondary_supply_temp_c": 25.0}, None, {})])
    return rig.out["valve_cmd_pct"]


class TestBlindSupply(unittest.TestCase):
    def test_auto_valve_limited_to_feed_forward_then_closed_on_rising_return(self):
        rig = Rig(POSITION)
        self.assertEqual(opened_wide(rig), 100.0)
        # The sensor wire breaks: held for stale_s (30 s), then bad. For an hour the valve
        # stays at the curve's feed-forward position at most, not at the 100 % the PI held.
        run_table(self, rig, [(1400.0, {"secondary_supply_temp_c": None}, None,
                               {"alarm:sensor_secondary_supply_temp_c": "active"})])
        ff = feed_forward_pct(rig.out["supply_setpoint_c"])
        self.assertTrue(20.0 < ff < 90.0, ff)
        peak = 0.0
        t = 1400.0
        while t < 5000.0:
            t += 300.0
            run_table(self, rig, [(t, {}, None, {"mode_name": "auto"})])
            ff = feed_forward_pct(rig.out["supply_setpoint_c"])
            self.assertTrue(rig.out["valve_cmd_pct"] <= ff + 1e-6, (t, rig.out["valve_cmd_pct"], ff))
            peak = max(peak, rig.out["valve_cmd_pct"])
        self.assertTrue(peak > 10.0, peak)  # still heating, open loop on the curve
        self.assertAlmostEqual(rig.ctl.diagnostics()["valve_fallback_limit_pct"], rig.out["valve_cmd_pct"], delta=1e-6)
        # The secondary return rises (too much heat for the load): the valve closes in
        # proportion, shut at fallback_return_rise_k (5 K) above the return at the failure.
        run_table(self, rig, [
            (5010.0, {"secondary_return_temp_c": 42.5}, None, {}),
        ])
        half = rig.out["valve_cmd_pct"]
        self.assertAlmostEqual(half, feed_forward_pct(rig.out["supply_setpoint_c"]) * 0.5, delta=0.5)
        run_table(self, rig, [
            (5020.0, {"secondary_return_temp_c": 45.0}, None, {"valve_cmd_pct": 0.0}),
            # The primary return alone rising does the same.
            (5030.0, {"secondary_return_temp_c": 40.0, "primary_return_temp_c": 60.0}, None, {"valve_cmd_pct": 0.0}),
            # Both back where they were: open loop on the curve again.
            (5040.0, {"primary_return_temp_c": 55.0}, None, {}),
        ])
        self.assertAlmostEqual(rig.out["valve_cmd_pct"], feed_forward_pct(rig.out["supply_setpoint_c"]), delta=1e-6)
        self.assertTrue(not rig.ctl.interlocks.tripped)

    def test_limit_never_opens_beyond_what_the_pi_held(self):
        rig = Rig(POSITION)
        run_table(self, rig, [(1300.0, {}, None, {"mode_name": "auto"})])
        held = rig.ctl.valve.pi.out_pct
        run_table(self, rig, [(1400.0, {"secondary_supply_temp_c": None}, None, {})])
        self.assertTrue(rig.out["valve_cmd_pct"] <= held + 1e-6, (rig.out["valve_cmd_pct"], held))
        self.assertTrue(rig.out["valve_cmd_pct"] <= feed_forward_pct(rig.out["supply_setpoint_c"]) + 1e-6)

    def test_sensor_back_resumes_control_from_the_limited_position(self):
        rig = Rig(POSITION)
        opened_wide(rig)
        run_table(self, rig, [(1400.0, {"secondary_supply_temp_c": None}, None, {})])
        limited = rig.out["valve_cmd_pct"]
        # Back at the setpoint: the PI takes over where the fallback left the valve (no jump
        # back to the 100 % it held before the failure).
        # (The step back from the last good 25 degC is held by the rate check for spike_hold_s.)
        run_table(self, rig, [(1412.0, {"secondary_supply_temp_c": rig.out["supply_setpoint_c"]}, None, {})])
        self.assertAlmostEqual(rig.out["valve_cmd_pct"], limited, delta=2.0)
        self.assertEqual(rig.ctl.diagnostics()["valve_fallback_limit_pct"], None)

    def test_backup_trip_on_the_secondary_return(self):
        rig = Rig(POSITION)
        opened_wide(rig)
        limit = interlocks.DEFAULTS["overtemp_c"] - interlocks.DEFAULTS["backup_return_margin_k"]
        run_table(self, rig, [
            (1400.0, {"secondary_supply_temp_c": None}, None, {"alarm:secondary_overtemp": None}),
            # The return passes the backup limit: trip after overtemp_delay_s, latched, safe.
            # (The jump is held back by the rate check for spike_hold_s, then the delay.)
            (1420.0, {"secondary_return_temp_c": limit + 2.0}, None,
             merged(SHUT, {"alarm:secondary_overtemp": "active", "event:backup_overtemp_trip_on": True,
                           "mode_name": "safe"})),
            # Cool again, acknowledged: the latch releases (the station stays in safe).
            (1500.0, {"secondary_return_temp_c": 40.0}, None, SHUT),
            (1510.0, {}, cmd("ack_alarm", {"code": "secondary_overtemp"}),
             {"result": ("applied", "ok"), "event:overtemp_trip_off": True, "mode_name": "safe"}),
        ])
        alarm = [a for a in rig.ctl.alarms.listing_now() if a["code"] == "secondary_overtemp"]
        self.assertEqual(alarm, [])

    def test_backup_trip_on_the_primary_return_when_the_secondary_return_is_missing(self):
        rig = Rig(POSITION)
        opened_wide(rig)
        limit = interlocks.DEFAULTS["overtemp_c"] - interlocks.DEFAULTS["backup_return_margin_k"]
        run_table(self, rig, [
            (1400.0, {"secondary_supply_temp_c": None, "secondary_return_temp_c": None}, None, {}),
            (1420.0, {"primary_return_temp_c": limit + 3.0}, None,
             merged(SHUT, {"alarm:secondary_overtemp": "active"})),
        ])
        self.assertTrue(rig.ctl.interlocks.tripped)

    def test_healthy_supply_hot_return_does_not_trip(self):
        # The backup acts only while the supply sensor is blind: a hot return beside a good
        # supply below overtemp_c is normal operation (small delta T at low load).
        rig = Rig(POSITION)
        limit = interlocks.DEFAULTS["overtemp_c"] - interlocks.DEFAULTS["backup_return_margin_k"]
        run_table(self, rig, [
            (1100.0, {"secondary_supply_temp_c": limit + 8.0, "secondary_return_temp_c": limit + 3.0,
                      "primary_return_temp_c": limit + 4.0}, None,
             {"alarm:secondary_overtemp": None, "mode_name": "auto"}),
        ])
        self.assertTrue(not rig.ctl.interlocks.tripped)
        self.assertEqual(rig.ctl.diagnostics()["valve_fallback_limit_pct"], None)

    def test_manual_refused_while_the_supply_sensor_is_bad(self):
        rig = Rig(POSITION)
        run_table(self, rig, [
            (1100.0, {"secondary_supply_temp_c": None}, None, {}),
            (1110.0, {}, cmd("set_mode", {"mode": "manual"}, "local"),
             {"result": ("rejected", "supply_sensor_bad"), "mode_name": "auto"}),
            # Sensor repaired: manual is allowed again.
            (1150.0, {"secondary_supply_temp_c": 52.0}, None, {}),
            (1160.0, {}, cmd("set_mode", {"mode": "manual"}, "local"), {"result": ("applied", "ok"), "mode_name": "manual"}),
        ])

    def test_manual_position_limited_when_the_sensor_fails_in_manual(self):
        rig = Rig(POSITION)
        run_table(self, rig, [
            (1005.0, {}, None, {}),
            (1010.0, {}, cmd("set_mode", {"mode": "manual"}, "local"), {"mode_name": "manual"}),
            (1020.0, {}, cmd("set_valve_manual", {"valve_pct": 100}, "local"), {"valve_cmd_pct": 100.0}),
            (1100.0, {"secondary_supply_temp_c": None}, None, {"mode_name": "manual"}),
        ])
        ff = feed_forward_pct(rig.out["supply_setpoint_c"])
        self.assertTrue(ff < 90.0, ff)
        run_table(self, rig, [(4700.0, {}, None, {"mode_name": "manual"})])
        self.assertTrue(rig.out["valve_cmd_pct"] <= feed_forward_pct(rig.out["supply_setpoint_c"]) + 1e-6,
                        rig.out["valve_cmd_pct"])
        # Rising return in manual: closed, as in auto.
        run_table(self, rig, [(4710.0, {"secondary_return_temp_c": 45.0}, None, {"valve_cmd_pct": 0.0})])
        # The sensor back: the manual position stands again.
        run_table(self, rig, [(4750.0, {"secondary_supply_temp_c": 52.0, "secondary_return_temp_c": 40.0}, None,
                               {"valve_cmd_pct": 100.0, "mode_name": "manual"})])


if __name__ == "__main__":
    unittest.main()
