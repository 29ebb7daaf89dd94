"""The Prometheus text exposition format (version 0.0.4), written for the company's existing
monitoring: the supervisor's `GET /metrics` (supervisor/metrics.py) and the station's
(firmware/metrics.py). Like the MQTT codec, a wire format both sides speak, so it is written
once, here; plain Python (MicroPython too), no I/O.

    out = Exposition()
    out.family("heatkeeper_station_cycles_total", "counter", "Control cycles run.",
               [("", {"station": "st-001"}, 1234)])
    text = out.text()   # served with CONTENT_TYPE

A family is its # HELP line, its # TYPE line and its samples: (suffix, labels, value), the
suffix for a histogram's "_bucket"/"_sum"/"_count", "" otherwise. Label values are escaped
(backslash, newline, double quote); numbers are written as Prometheus reads them (NaN,
+Inf, -Inf for the special floats; integers without a decimal point).
"""

import math

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KINDS = ("counter", "gauge", "histogram", "summary", "untyped")


def number(value) -> str:
    """A sample value as text: an int (or bool) as an integer, a float as Python writes it."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(int(value))


def label(value: str) -> str:
    """A label value escaped for the text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def valid_name(name) -> bool:
    """A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (a label name takes no colon; ours never do)."""
    if not isinstance(name, str) or not name:
        return False
    for i, ch in enumerate(name):
        if not (ch == "_" or ch == ":" or "a" <= ch <= "z" or "A" <= ch <= "Z" or (i > 0 and "0" <= ch <= "9")):
            return False
    return True


class Exposition:
    """One text exposition: each family's HELP and TYPE, then its samples."""

    def __init__(self) -> None:
        self.lines = []  # type: list

    def family(self, name: str, kind: str, help_text: str, samples) -> None:
        if not valid_name(name) or kind not in KINDS:
            raise ValueError("metric family %r of kind %r: not a Prometheus name and type" % (name, kind))
        self.lines.append("# HELP %s %s" % (name, help_text.replace("\\", "\\\\").replace("\n", "\\n")))
        self.lines.append("# TYPE %s %s" % (name, kind))
        for suffix, labels, value in samples:
            text = ",".join('%s="%s"' % (k, label(labels[k])) for k in sorted(labels))
            self.lines.append("%s%s%s %s" % (name, suffix, "{%s}" % text if text else "", number(value)))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
