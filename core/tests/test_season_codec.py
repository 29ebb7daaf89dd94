"""Tests of the season-calendar downlink of core.codec (encode_season / decode_season): the
agreed shape (exactly six keys), round trip, and every bad field refused with its name."""

import json
import unittest

from heatkeeper.core import codec

T0 = 1762531200.0  # 2025-11-07 16:00 UTC = 2025-11-08 00:00 Asia/Shanghai


def calendar(**changes):
    cal = {"city": "arxan", "version": 3, "issued_s": T0 - 86400.0, "start_s": T0 + 7 * 86400.0,
           "end_s": T0 + 150 * 86400.0, "preheat_s": 72 * 3600.0}
    cal.update(changes)
    return cal


class TestSeasonCodec(unittest.TestCase):
    def test_round_trip_has_exactly_the_agreed_keys(self):
        topic, payload = codec.encode_season("st-1", T0, calendar())
        self.assertEqual(topic, "heatkeeper/v1/stations/st-1/down/season")
        self.assertEqual(codec.parse_topic(topic), ("season", "st-1", ""))
        msg = codec.decode_season(topic, payload)
        self.assertEqual(sorted(msg), sorted(["city", "version", "issued_s", "start_s", "end_s", "preheat_s"]))
        self.assertEqual(msg, calendar())
        self.assertTrue(isinstance(msg["version"], int))
        for key in ("issued_s", "start_s", "end_s", "preheat_s"):
            self.assertTrue(isinstance(msg[key], float), key)

    def test_integers_come_back_as_floats(self):
        topic, payload = codec.encode_season("st-1", T0, calendar(start_s=1762531200, preheat_s=0))
        msg = codec.decode_season(topic, payload)
        self.assertEqual(msg["start_s"], 1762531200.0)
        self.assertTrue(isinstance(msg["start_s"], float))
        self.assertEqual(msg["preheat_s"], 0.0)

    def test_extra_keys_of_the_caller_are_not_sent(self):
        _, payload = codec.encode_season("st-1", T0, calendar(season_year=2025, reason="x"))
        sent = json.loads(payload)
        self.assertFalse("season_year" in sent)
        self.assertFalse("reason" in sent)

    def test_each_bad_field_is_named(self):
        topic = codec.season_topic("st-1")
        cases = [
            (calendar(version=0), "version"),
            (calendar(version=1.5), "version"),
            (calendar(version=True), "version"),
            (calendar(city=""), "city"),
            (calendar(city="a\nb"), "city"),
            (calendar(city=7), "city"),
            (calendar(start_s="x"), "start_s"),
            (calendar(start_s=-5.0), "start_s"),
            (calendar(issued_s=0.0), "issued_s"),
            (calendar(end_s=T0), "end_s"),
            (calendar(preheat_s=-1.0), "preheat_s"),
            (calendar(preheat_s=31 * 86400.0), "preheat_s"),
            (calendar(end_s=10 ** 400), "end_s"),
            (calendar(preheat_s=None), "preheat_s"),
        ]
        for cal, key in cases:
            body = dict(cal)
            body["v"] = 1
            body["ts"] = T0
            with self.assertRaises(codec.CodecError) as caught:
                codec.decode_season(topic, json.dumps(body).encode())
            self.assertTrue(caught.exception.reason in ("bad_field", "bad_text"), (cal, key))
            self.assertTrue(caught.exception.text.startswith(key), (key, caught.exception.text))
            with self.assertRaises(codec.CodecError):
                codec.encode_season("st-1", T0, cal)

    def test_missing_key_refused(self):
        topic = codec.season_topic("st-1")
        for key in ("city", "version", "issued_s", "start_s", "end_s", "preheat_s"):
            body = calendar()
            del body[key]
            body["v"] = 1
            with self.assertRaises(codec.CodecError) as caught:
                codec.decode_season(topic, json.dumps(body).encode())
            self.assertTrue(key in caught.exception.text, key)

    def test_bad_payloads_and_topics(self):
        topic = codec.season_topic("st-1")
        good = dict(calendar(), v=1, ts=T0)
        for payload in (b"not json", b"[]", b"[" * 5000, json.dumps(dict(good, v=2)).encode(), b"\x00{}"):
            with self.assertRaises(codec.CodecError):
                codec.decode_season(topic, payload)
        with self.assertRaises(codec.CodecError):
            codec.decode_season(codec.forecast_topic("st-1"), json.dumps(good).encode())
        with self.assertRaises(codec.CodecError):
            codec.encode_season("bad id", T0, calendar())
        with self.assertRaises(codec.CodecError):
            codec.encode_season("st-1", T0, [1, 2])


if __name__ == "__main__":
    unittest.main()
