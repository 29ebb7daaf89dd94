"""Tests of core.forecast and the forecast downlink of core.codec: validation, interpolation,
the age limit, horizon, persistence through the station snapshot."""

import json
import unittest

from heatkeeper.core import codec
from heatkeeper.core.forecast import DEFAULT_MAX_AGE_S, MAX_POINTS, Forecast, check
from heatkeeper.core.station import StationController

T0 = 1764000000.0  # an hour boundary (unix s)


def message(n=48, ts=T0, start=T0, step=3600.0, temps=None, **extra):
    msg = {"ts": ts, "start_ts": start, "step_s": step,
           "temp_c": temps if temps is not None else [-10.0 + 0.5 * i for i in range(n)], "source": "open-meteo"}
    msg.update(extra)
    return msg


class TestCheck(unittest.TestCase):
    def test_good_message_passes(self):
        self.assertEqual(check(message()), "")
        self.assertEqual(check(message(radiation_w_m2=[0.0] * 48, wind_m_s=[3.0] * 48)), "")

    def test_each_bad_field_is_named(self):
        cases = [
            (message(step=60.0), "step_s"),
            (message(temps=[1.0]), "temp_c"),
            (message(n=MAX_POINTS + 1), "temp_c"),
            (message(temps=[1.0, float("nan")]), "temp_c[1]"),
            (message(temps=[1.0, 99.0]), "temp_c[1]"),
            (message(temps=[1.0, True]), "temp_c[1]"),
            (message(ts=-5.0), "ts"),
            (message(start="x"), "start_ts"),
            (message(radiation_w_m2=[0.0] * 47), "radiation_w_m2"),
            (message(wind_m_s=[0.0] * 47 + [-1.0]), "wind_m_s[47]"),
            (message(source="x" * 65), "source"),
            ([], "forecast"),
        ]
        for msg, key in cases:
            problem = check(msg)
            self.assertTrue(problem.startswith(key), (key, problem))


class TestForecast(unittest.TestCase):
    def test_value_at_interpolates_and_is_none_outside(self):
        fc = Forecast()
        self.assertEqual(fc.accept(message(), T0 + 60.0), "")
        self.assertAlmostEqual(fc.value_at(T0, T0), -10.0)
        self.assertAlmostEqual(fc.value_at(T0 + 1800.0, T0), -9.75)
        self.assertAlmostEqual(fc.value_at(T0 + 47 * 3600.0, T0), 13.5)
        self.assertIsNone(fc.value_at(T0 - 1.0, T0))
        self.assertIsNone(fc.value_at(T0 + 47 * 3600.0 + 1.0, T0))
        self.assertIsNone(fc.radiation_at(T0, T0))  # the source gave none

    def test_no_forecast_is_nothing(self):
        fc = Forecast()
        self.assertIsNone(fc.value_at(T0, T0))
        self.assertEqual(fc.telemetry(T0), {"forecast_age_s": None, "forecast_horizon_h": None})
        self.assertEqual(fc.snapshot(), {})

    def test_stale_forecast_is_ignored(self):
        fc = Forecast()
        self.assertEqual(fc.accept(message(temps=[-5.0] * MAX_POINTS), T0), "")
        late = T0 + DEFAULT_MAX_AGE_S + 1.0
        self.assertIsNone(fc.value_at(late, late))
        self.assertEqual(fc.horizon_h(late), 0.0)
        self.assertIsNotNone(fc.value_at(late, T0 + DEFAULT_MAX_AGE_S))

    def test_refusals_keep_the_held_forecast(self):
        fc = Forecast()
        fc.accept(message(), T0)
        for bad in (message(temps=[1.0, float("inf")], ts=T0 + 10.0), message(ts=T0 - 10.0),
                    message(ts=T0 + 7200.0 + 3601.0), message(ts=T0 - DEFAULT_MAX_AGE_S - 1.0)):
            self.assertNotEqual(fc.accept(bad, T0 + 7200.0), "")
        self.assertEqual(fc.refused, 4)
        self.assertAlmostEqual(fc.value_at(T0, T0), -10.0)
        self.assertEqual(fc.issued_ts, T0)

    def test_telemetry_age_and_horizon(self):
        fc = Forecast()
        fc.accept(message(n=48), T0)
        tel = fc.telemetry(T0 + 3600.0)
        self.assertEqual(tel["forecast_age_s"], 3600.0)
        self.assertEqual(tel["forecast_horizon_h"], 46.0)

    def test_snapshot_round_trip(self):
        fc = Forecast()
        fc.accept(message(radiation_w_m2=[100.0] * 48), T0)
        back = Forecast()
        self.assertTrue(back.restore(json.loads(json.dumps(fc.snapshot()))))
        self.assertAlmostEqual(back.value_at(T0 + 5400.0, T0), fc.value_at(T0 + 5400.0, T0))
        self.assertAlmostEqual(back.radiation_at(T0, T0), 100.0)
        self.assertFalse(Forecast().restore({"temp_c": "garbage"}))


class TestCodecForecast(unittest.TestCase):
    def test_round_trip(self):
        topic, payload = codec.encode_forecast("st-1", T0, T0, 3600.0, [1.234, 2.0, 3.0], "open-meteo",
                                               wind_m_s=[1.0, 2.0, 3.0])
        self.assertEqual(topic, "heatkeeper/v1/stations/st-1/down/forecast")
        self.assertEqual(codec.parse_topic(topic), ("forecast", "st-1", ""))
        msg = codec.decode_forecast(topic, payload)
        self.assertEqual(msg["temp_c"], [1.2, 2.0, 3.0])
        self.assertEqual(msg["wind_m_s"], [1.0, 2.0, 3.0])
        self.assertIsNone(msg["radiation_w_m2"])
        self.assertEqual(msg["station"], "st-1")

    def test_full_week_fits(self):
        temps = [-23.4] * MAX_POINTS
        _, payload = codec.encode_forecast("st-1", T0, T0, 3600.0, temps, "open-meteo", [812.5] * MAX_POINTS,
                                           [12.3] * MAX_POINTS)
        self.assertTrue(len(payload) < 4096, len(payload))

    def test_bad_payloads_raise_codec_error(self):
        topic = codec.forecast_topic("st-1")
        good = {"v": 1, "ts": T0, "start_ts": T0, "step_s": 3600.0, "temp_c": [1.0, 2.0], "source": "x"}
        bad = [b"not json", b"[]", json.dumps(dict(good, v=2)).encode(),
               json.dumps(dict(good, temp_c=[1.0])).encode(), json.dumps(dict(good, source="")).encode(),
               json.dumps(dict(good, temp_c=[1.0, None])).encode(), b"[" * 5000,
               json.dumps(dict(good, ts=10 ** 400)).encode(), json.dumps(dict(good, start_ts=-(10 ** 400))).encode()]
        for payload in bad:
            with self.assertRaises(codec.CodecError):
                codec.decode_forecast(topic, payload)
        with self.assertRaises(codec.CodecError):
            codec.decode_forecast(codec.outdoor_topic("st-1"), json.dumps(good).encode())
        with self.assertRaises(codec.CodecError):
            codec.encode_forecast("st-1", T0, T0, 3600.0, [1.0], "x")


class TestStationKeepsForecast(unittest.TestCase):
    def test_set_snapshot_restore(self):
        ctl = StationController()
        self.assertEqual(ctl.set_forecast(message(), T0), "")
        self.assertNotEqual(ctl.set_forecast(message(step=1.0), T0), "")
        snap = json.loads(json.dumps(ctl.snapshot()))
        fresh = StationController()
        fresh.restore(snap, 5.0)
        self.assertAlmostEqual(fresh.forecast.value_at(T0 + 3600.0, T0), -9.5)
        self.assertEqual(fresh.forecast.telemetry(T0)["forecast_horizon_h"], 47.0)


if __name__ == "__main__":
    unittest.main()
