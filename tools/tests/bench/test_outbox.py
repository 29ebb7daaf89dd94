"""`heatkeeper bench outbox`: the figures print, and both drains deliver every message (no time asserted)."""

from __future__ import annotations

import argparse
import re

import pytest
from heatkeeper.tools.bench import outbox
from heatkeeper.tools.testing.mosquitto import mosquitto_missing


@pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing() or "")
def test_bench_outbox_prints_both_drains_side_by_side(capsys) -> None:
    assert outbox.run(argparse.Namespace(messages=300)) == 0
    out = capsys.readouterr().out
    drains = re.findall(r"acknowledged messages (deleted at the PUBACK|kept 120 s for a resend): \d+ msg/s, "
                        r"(\d+) received by the listener, [\d.]+ MB written", out)
    assert [how for how, _n in drains] == ["deleted at the PUBACK", "kept 120 s for a resend"], out
    assert all(int(n) >= 300 for _how, n in drains), out
