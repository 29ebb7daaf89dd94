"""Reading a Prometheus text exposition (format 0.0.4) back in tests, strictly: the
supervisor's and the station's `GET /metrics` are both checked with it."""

from __future__ import annotations

import re

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? '
                    r'(-?[0-9.eE+-]+|NaN|[+-]Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """The exposition's samples; fails on any line that is not # HELP, # TYPE or a sample, on
    a sample whose family has no TYPE before it, and on a family declared twice."""
    assert text.endswith("\n")
    samples: Samples = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert re.match(r"^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
        elif line.startswith("# TYPE "):
            m = re.match(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$", line)
            assert m is not None and m.group(1) not in types, line
            types[m.group(1)] = m.group(2)
        else:
            m = SAMPLE.match(line)
            assert m is not None, "not a sample line: %r" % line
            name = m.group(1)
            family = re.sub(r"_(bucket|sum|count)$", "", name) if types.get(re.sub(r"_(bucket|sum|count)$", "", name)) \
                == "histogram" else name
            assert family in types, "sample %s before its # TYPE" % name
            labels = frozenset(LABEL.findall(m.group(2) or ""))
            assert (name, labels) not in samples, line
            samples[(name, labels)] = float(m.group(3))
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """One sample's value (0.0 when absent)."""
    return samples.get((metric, frozenset(labels.items())), 0.0)
