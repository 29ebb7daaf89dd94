"""Tests of core.exposition, the Prometheus text format the station and the supervisor serve
(run on CPython interpreted, compiled, and MicroPython)."""

import unittest

from heatkeeper.core.exposition import Exposition, label, number, valid_name


class TestExposition(unittest.TestCase):
    def test_families_are_help_type_then_samples_with_sorted_escaped_labels(self):
        out = Exposition()
        out.family("heatkeeper_station_cycles_total", "counter", "Control cycles run.",
                   [("", {"station": "st-1"}, 12)])
        out.family("heatkeeper_station_alarm", "gauge", "Listed alarms.\nOne line each.",
                   [("", {"station": "st-1", "code": 'say "hi"\\now'}, 1)])
        out.family("heatkeeper_flush_seconds", "histogram", "Flush time.",
                   [("_bucket", {"le": "0.5"}, 3), ("_bucket", {"le": "+Inf"}, 4), ("_sum", {}, 1.25),
                    ("_count", {}, 4)])
        self.assertEqual(out.text(), "\n".join([
            "# HELP heatkeeper_station_cycles_total Control cycles run.",
            "# TYPE heatkeeper_station_cycles_total counter",
            'heatkeeper_station_cycles_total{station="st-1"} 12',
            "# HELP heatkeeper_station_alarm Listed alarms.\\nOne line each.",
            "# TYPE heatkeeper_station_alarm gauge",
            'heatkeeper_station_alarm{code="say \\"hi\\"\\\\now",station="st-1"} 1',
            "# HELP heatkeeper_flush_seconds Flush time.",
            "# TYPE heatkeeper_flush_seconds histogram",
            'heatkeeper_flush_seconds_bucket{le="0.5"} 3',
            'heatkeeper_flush_seconds_bucket{le="+Inf"} 4',
            "heatkeeper_flush_seconds_sum 1.25",
            "heatkeeper_flush_seconds_count 4",
        ]) + "\n")

    def test_numbers_as_prometheus_reads_them(self):
        self.assertEqual(number(3), "3")
        self.assertEqual(number(True), "1")
        self.assertEqual(number(-2.5), "-2.5")
        self.assertEqual(number(float("nan")), "NaN")
        self.assertEqual(number(float("inf")), "+Inf")
        self.assertEqual(number(float("-inf")), "-Inf")
        self.assertEqual(float(number(0.1)), 0.1)  # the float round-trips

    def test_label_escapes_backslash_newline_quote(self):
        self.assertEqual(label('a\\b\n"c"'), 'a\\\\b\\n\\"c\\"')

    def test_a_bad_family_name_or_type_is_refused(self):
        self.assertTrue(valid_name("heatkeeper_station_value"))
        self.assertTrue(valid_name("a:b_c9"))
        for bad in ("", "9lives", "has space", "dash-ed", "é", None):
            self.assertFalse(valid_name(bad), bad)
        with self.assertRaises(ValueError):
            Exposition().family("bad name", "gauge", "x", [])
        with self.assertRaises(ValueError):
            Exposition().family("good_name", "meter", "x", [])


if __name__ == "__main__":
    unittest.main()
