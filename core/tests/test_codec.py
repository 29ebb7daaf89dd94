"""Tests of core.codec: round trips, and garbage rejected with a reason code."""

import json
import unittest

from heatkeeper.core import codec


class TestTopics(unittest.TestCase):
    def test_parse_each_topic(self):
        self.assertEqual(codec.parse_topic(codec.up_topic("st-1", "telemetry")), ("up", "st-1", "telemetry"))
        self.assertEqual(codec.parse_topic(codec.status_topic("st-1")), ("status", "st-1", ""))
        self.assertEqual(codec.parse_topic(codec.command_topic("st-1")), ("cmd", "st-1", ""))
        self.assertEqual(codec.parse_topic(codec.rooms_topic("st-1")), ("rooms", "st-1", ""))
        self.assertEqual(codec.parse_topic(codec.outdoor_topic("st-1")), ("outdoor", "st-1", ""))
        self.assertEqual(codec.parse_topic(codec.collector_topic("c9")), ("collector", "c9", ""))

    def test_bad_topics_name_the_reason(self):
        for topic in ("other/x", "heatkeeper/v1/stations/st 1/status", "heatkeeper/v1/stations/a/up/nope",
                      "heatkeeper/v1/stations/" + "x" * 65 + "/status", "heatkeeper/v1/collectors/"):
            with self.assertRaises(codec.CodecError):
                codec.parse_topic(topic)


class TestUplink(unittest.TestCase):
    def test_round_trip(self):
        topic, payload = codec.encode_uplink("st-1", 7, "telemetry", 1.7e9, {"values": {"outdoor_temp_c": -12.5, "x": None}})
        msg = codec.decode_uplink(topic, payload)
        self.assertEqual(msg["seq"], 7)
        self.assertEqual(msg["body"]["values"]["outdoor_temp_c"], -12.5)

    def test_garbage_is_rejected_with_reason(self):
        topic = codec.up_topic("st-1", "telemetry")
        cases = [
            (b"\xff\xfe", "bad_json"),
            (b"[1, 2]", "bad_json"),
            (b'{"v": 2}', "bad_version"),
            (b'{"v": 1, "station": "other", "seq": 1, "ts": 1, "kind": "telemetry", "body": {"values": {}}}', "station_mismatch"),
            (b'{"v": 1, "station": "st-1", "seq": 0, "ts": 1, "kind": "telemetry", "body": {"values": {}}}', "bad_field"),
            (b'{"v": 1, "station": "st-1", "seq": 1, "ts": 1, "kind": "telemetry", "body": {"values": {"a": "x"}}}', "bad_field"),
            (b'{"v": 1, "station": "st-1", "seq": 1, "ts": 1, "kind": "event", "body": {}}', "kind_mismatch"),
            (b"{" + b" " * 70000 + b"}", "too_large"),
        ]
        for payload, reason in cases:
            try:
                codec.decode_uplink(topic, payload)
                self.assertTrue(False, "accepted %r" % payload[:40])
            except codec.CodecError as exc:
                self.assertEqual(exc.reason, reason)

    def test_parsed_topic_decodes_the_same(self):
        # the ingest parses each topic once and hands its parts to decode_uplink_of
        topic, payload = codec.encode_uplink("st-1", 7, "telemetry", 1.7e9, {"values": {"a": 1.5}})
        self.assertEqual(codec.decode_uplink_of("st-1", "telemetry", payload), codec.decode_uplink(topic, payload))
        for sid, kind, reason in (("other", "telemetry", "station_mismatch"), ("st-1", "event", "kind_mismatch")):
            try:
                codec.decode_uplink_of(sid, kind, payload)
                self.assertTrue(False, "accepted on %s/%s" % (sid, kind))
            except codec.CodecError as exc:
                self.assertEqual(exc.reason, reason)
        try:
            codec.decode_uplink(codec.status_topic("st-1"), payload)
            self.assertTrue(False, "accepted on a status topic")
        except codec.CodecError as exc:
            self.assertEqual(exc.reason, "bad_topic")


class TestUplinkBounds(unittest.TestCase):
    """Only what storage can hold is accepted (one station's message must not stop the others)."""

    def _reason(self, payload, now_s=-1.0, max_age_s=-1.0, kind="telemetry"):
        try:
            codec.decode_uplink(codec.up_topic("st-1", kind), payload, now_s, max_age_s)
        except codec.CodecError as exc:
            return exc.reason
        return None

    def _msg(self, seq=1, ts=1.7e9, kind="telemetry", body=None):
        if body is None:
            body = {"values": {"supply_temp_c": 50.0}}
        return ('{"v": 1, "station": "st-1", "seq": %s, "ts": %s, "kind": "%s", "body": %s}'
                % (seq, ts, kind, body if isinstance(body, str) else json.dumps(body))).encode()

    def test_seq_fits_a_signed_64_bit_column(self):
        self.assertEqual(self._reason(self._msg(seq=9223372036854775807)), None)
        self.assertEqual(self._reason(self._msg(seq=9223372036854775808)), "bad_field")
        self.assertEqual(self._reason(self._msg(seq="1" + "0" * 300)), "bad_field")

    def test_numbers_are_finite_and_bounded(self):
        for text in ("NaN", "Infinity", "-Infinity", "1e300", "1" + "0" * 400, "1000000000001"):
            # NaN and Infinity are not JSON: MicroPython's parser refuses them (bad_json), CPython's takes them
            self.assertIn(self._reason(self._msg(body='{"values": {"a": %s}}' % text)), ("bad_number", "bad_json"))
        self.assertEqual(self._reason(self._msg(body='{"values": {"a": -1000000000000, "b": 1e12, "c": null}}')), None)
        for ts in ("NaN", "Infinity", "1e300", "-5"):
            self.assertIn(self._reason(self._msg(ts=ts)), ("bad_field", "bad_json"))
        self.assertEqual(self._reason(self._msg(kind="event", body='{"kind": "x", "n": [1, {"m": 1e13}]}'),
                                      kind="event"), "bad_number")

    def test_text_storage_cannot_hold_is_refused(self):
        self.assertEqual(self._reason(self._msg(kind="alarm", body='{"code": "x\\u0000y"}'), kind="alarm"), "bad_text")
        self.assertEqual(self._reason(self._msg(kind="alarm", body='{"code": "a\\nb"}'), kind="alarm"), "bad_text")
        self.assertEqual(self._reason(self._msg(kind="alarm", body='{"code": "leak", "text": "\\ud800"}'),
                                      kind="alarm"), "bad_text")
        self.assertEqual(self._reason(self._msg(kind="alarm", body='{"code": "leak", "text": "two\\nlines"}'),
                                      kind="alarm"), None)
        self.assertEqual(self._reason(self._msg(kind="event", body='{"kind": "\\u0007"}'), kind="event"), "bad_text")

    def test_field_names_are_strict_and_capped(self):
        for name in ("A", "a b", "a\\u0000b", "", "x" * 65, "temp-c"):
            self.assertEqual(self._reason(self._msg(body='{"values": {"%s": 1}}' % name)), "bad_field_name", name)
        many = dict(("f%d" % i, 1.0) for i in range(codec.MAX_FIELDS + 1))
        self.assertEqual(self._reason(self._msg(body={"values": many})), "too_many_fields")
        many.pop("f0")
        self.assertEqual(self._reason(self._msg(body={"values": many})), None)

    def test_nesting_and_encoding(self):
        deep = "[" * 20 + "]" * 20
        self.assertEqual(self._reason(self._msg(kind="event", body='{"kind": "x", "d": %s}' % deep), kind="event"),
                         "too_deep")
        # UTF-16 is refused (CPython's json.loads would take it; MicroPython reads the bytes as UTF-8)
        utf16 = bytearray(b"\xff\xfe")
        for byte in self._msg():  # ASCII as UTF-16-LE, by hand: MicroPython encodes UTF-8 only
            utf16.append(byte)
            utf16.append(0)
        self.assertEqual(self._reason(bytes(utf16)), "bad_json")

    def test_ts_window_around_the_receive_time(self):
        now = 1.7e9
        self.assertEqual(self._reason(self._msg(ts=now + 299), now, 86400.0), None)
        self.assertEqual(self._reason(self._msg(ts=now + 301), now, 86400.0), "ts_out_of_window")
        self.assertEqual(self._reason(self._msg(ts=now - 86401), now, 86400.0), "ts_out_of_window")
        self.assertEqual(self._reason(self._msg(ts=4102444800), now, 86400.0), "ts_out_of_window")
        self.assertEqual(self._reason(self._msg(ts=now - 86399), now, 86400.0), None)


class TestCommands(unittest.TestCase):
    def test_round_trip_and_mismatch(self):
        topic, payload = codec.encode_command("st-1", "c1", "set_room_setpoint", {"room_setpoint_c": 21.0},
                                              "alice", 100.0, 1000.0)
        msg = codec.decode_command(topic, payload)
        self.assertEqual(msg["args"]["room_setpoint_c"], 21.0)
        with self.assertRaises(codec.CodecError):
            codec.decode_command(codec.command_topic("st-2"), payload)

    def test_signing_bytes_are_canonical(self):
        # Key order, spacing and the JSON library do not matter: one command, one byte string.
        a = codec.command_signing_bytes("st-1", "c1", "set_room_setpoint", {"room_setpoint_c": 21.5, "lease_s": 600},
                                        "alice", 1000.5)
        b = codec.command_signing_bytes("st-1", "c1", "set_room_setpoint", {"lease_s": 600, "room_setpoint_c": 21.5},
                                        "alice", 1000.5)
        self.assertEqual(a, b)
        self.assertEqual(a, b'["heatkeeper/v1/cmd","st-1","c1","set_room_setpoint",'
                            b'{"lease_s":600,"room_setpoint_c":21.5},"alice",1000.5]')
        # every signed field changes the bytes
        for other in (("st-2", "c1", "set_room_setpoint", {"room_setpoint_c": 21.5, "lease_s": 600}, "alice", 1000.5),
                      ("st-1", "c2", "set_room_setpoint", {"room_setpoint_c": 21.5, "lease_s": 600}, "alice", 1000.5),
                      ("st-1", "c1", "set_supply_setpoint", {"room_setpoint_c": 21.5, "lease_s": 600}, "alice", 1000.5),
                      ("st-1", "c1", "set_room_setpoint", {"room_setpoint_c": 22.5, "lease_s": 600}, "alice", 1000.5),
                      ("st-1", "c1", "set_room_setpoint", {"room_setpoint_c": 21.5, "lease_s": 600}, "bob", 1000.5),
                      ("st-1", "c1", "set_room_setpoint", {"room_setpoint_c": 21.5, "lease_s": 600}, "alice", 1001.5)):
            self.assertTrue(codec.command_signing_bytes(*other) != a, other)

    def test_canonical_text_escapes(self):
        self.assertEqual(codec.canonical_json({"b": 'q"\\\n', "a": [1, None, True, False]}),
                         '{"a":[1,null,true,false],"b":"q\\"\\\\\\u000a"}')

    def test_signature_round_trip_and_shape(self):
        sig = "0123456789abcdef" * 4
        topic, payload = codec.encode_command("st-1", "c1", "set_mode", {"mode": "auto"}, "alice", 100.0, 1000.0, sig=sig)
        self.assertEqual(codec.decode_command(topic, payload)["sig"], sig)
        topic, payload = codec.encode_command("st-1", "c1", "set_mode", {"mode": "auto"}, "alice", 100.0, 1000.0)
        self.assertTrue("sig" not in codec.decode_command(topic, payload))
        for bad in ("ABCDEF" * 10 + "abcd", "abc", 5, "g" * 64):
            body = b'{"v":1,"id":"c1","station":"st-1","kind":"set_mode","args":{},"user":"u","issued_ts":1,' \
                   b'"expires_ts":2,"sig":' + (('"%s"' % bad) if isinstance(bad, str) else str(bad)).encode() + b'}'
            try:
                codec.decode_command(topic, body)
                self.assertTrue(False, "accepted sig %r" % (bad,))
            except codec.CodecError as exc:
                self.assertEqual(exc.reason, "bad_signature")

    def test_bad_commands_are_codec_errors(self):
        topic = codec.command_topic("st-1")
        head = b'{"v":1,"id":"c1","station":"st-1","kind":"k","user":"u","issued_ts":1,'
        cases = [
            head + b'"expires_ts":2,"args":{"a":{"nested":1}}}',
            head + b'"expires_ts":2,"args":{"a":[1]}}',
            head + b'"expires_ts":2,"args":{"a":1e400}}',
            head + b'"expires_ts":2,"args":{"a":NaN}}',
            head + b'"expires_ts":2,"args":{"a":123456789012345678901234567890}}',
            head + b'"expires_ts":2,"args":{"":1}}',
            head + b'"expires_ts":2,"args":{"a":"' + b"x" * 300 + b'"}}',
            head + b'"expires_ts":Infinity,"args":{}}',
            head + b'"expires_ts":1' + b"0" * 400 + b',"args":{}}',
            head + b'"expires_ts":2,"args":' + b"[" * 5000 + b"]" * 5000 + b"}",
        ]
        for payload in cases:
            try:
                codec.decode_command(topic, payload)
                self.assertTrue(False, "accepted %r" % payload[:90])
            except codec.CodecError as exc:
                self.assertIn(exc.reason, ("bad_field", "bad_json"))
        many = "{" + ",".join('"a%d":1' % i for i in range(codec.MAX_COMMAND_ARGS + 1)) + "}"
        with self.assertRaises(codec.CodecError):
            codec.decode_command(topic, head + b'"expires_ts":2,"args":' + many.encode() + b"}")
        ok = codec.decode_command(topic, head + b'"expires_ts":2,"args":{"a":1,"b":-2.5,"c":"t","d":true,"e":null}}')
        self.assertEqual(ok["args"]["c"], "t")

    def test_command_key_text(self):
        key = codec.parse_command_key(" " + "0a" * 32 + "\n")
        self.assertEqual(len(key), 32)
        self.assertEqual(key[0], 10)
        for bad in ("0a" * 31, "0a" * 32 + "0", "zz" * 32, ""):
            try:
                codec.parse_command_key(bad)
                self.assertTrue(False, "accepted a key of %d characters" % len(bad))
            except codec.CodecError as exc:
                self.assertEqual(exc.reason, "bad_key")
                self.assertTrue("zz" not in exc.text and "0a0a" not in exc.text)  # never echoes the secret

    def test_rooms_and_collectors(self):
        topic, payload = codec.encode_collector_reading("c1", 19.5, 50.0)
        self.assertEqual(codec.decode_collector_reading(topic, payload)["temp_c"], 19.5)
        topic, payload = codec.encode_rooms("st-1", [{"collector": "c1", "group": "g1", "temp_c": 19.5, "ts": 50.0}], 51.0)
        self.assertEqual(len(codec.decode_rooms(topic, payload)["readings"]), 1)
        with self.assertRaises(codec.CodecError):
            codec.decode_rooms(topic, b'{"v": 1, "ts": 1, "readings": [{"collector": "c1"}]}')


class TestOutdoor(unittest.TestCase):
    def test_round_trip(self):
        topic, payload = codec.encode_outdoor("st-1", -21.5, 1.7e9, "fleet_median", 12)
        self.assertEqual(topic, "heatkeeper/v1/stations/st-1/down/outdoor")
        msg = codec.decode_outdoor(topic, payload)
        self.assertEqual(msg["station"], "st-1")
        self.assertAlmostEqual(msg["temp_c"], -21.5, delta=1e-9)
        self.assertAlmostEqual(msg["ts"], 1.7e9, delta=1e-3)
        self.assertEqual(msg["source"], "fleet_median")
        self.assertEqual(msg["stations"], 12)

    def test_garbage_is_rejected_with_reason(self):
        topic = codec.outdoor_topic("st-1")
        cases = [
            (b"{not json", "bad_json"),
            (b"[1, 2]", "bad_json"),
            (b'{"v": 2, "ts": 1, "temp_c": 1, "source": "x", "stations": 1}', "bad_version"),
            (b'{"v": 1, "ts": 1, "temp_c": "cold", "source": "x", "stations": 1}', "bad_field"),
            (b'{"v": 1, "ts": 1, "temp_c": true, "source": "x", "stations": 1}', "bad_field"),
            (b'{"v": 1, "ts": 1, "temp_c": -3276.8, "source": "x", "stations": 1}', "bad_field"),
            (b'{"v": 1, "ts": 1, "temp_c": 85.0, "source": "x", "stations": 1}', "bad_field"),
            (b'{"v": 1, "temp_c": -5.0, "source": "x", "stations": 1}', "bad_field"),
            (b'{"v": 1, "ts": 1, "temp_c": -5.0, "source": "", "stations": 1}', "bad_field"),
            (b'{"v": 1, "ts": 1, "temp_c": -5.0, "source": "x", "stations": -1}', "bad_field"),
            (b"x" * 70000, "too_large"),
        ]
        for payload, reason in cases:
            with self.assertRaises(codec.CodecError) as ctx:
                codec.decode_outdoor(topic, payload)
            self.assertEqual(ctx.exception.reason, reason)
        _t, good = codec.encode_outdoor("st-1", -5.0, 1.0, "x", 1)
        with self.assertRaises(codec.CodecError):
            codec.decode_outdoor(codec.rooms_topic("st-1"), good)
        with self.assertRaises(codec.CodecError):
            codec.encode_outdoor("st 1", -5.0, 1.0, "x", 1)


if __name__ == "__main__":
    unittest.main()
