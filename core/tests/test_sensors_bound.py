# cpython-only: Hypothesis runs on CPython (the MicroPython runner skips this file)
"""update_bound()'s run of signals that stay good leaves exactly the state update_image()
leaves on the same arrays: every state array byte for byte, n_bad, after every cycle of a
random sequence that loses, freezes, spikes, pushes out of range and brings back signals."""

from __future__ import annotations

from array import array

from heatkeeper.core import sensors
from heatkeeper.core.sensors import N_SIGNALS, SignalQuality
from hypothesis import given
from hypothesis import strategies as st

# Short timers, so that a few cycles reach every path (stale, frozen, a spike held and accepted).
CFG = dict(sensors.DEFAULTS, stale_s=3.0, frozen_s=4.0, spike_hold_s=2.0, temp_rate_k_per_s=2.0,
           pressure_rate_kpa_per_s=50.0)

STATE = ("values", "ok", "quality", "reason", "raw", "good_at_s", "changed_at_s", "frozen_ref", "spike_since_s", "seen")

# What one signal reads in one cycle: the same as last cycle (a frozen transmitter), a small
# step, a step near a rate limit (3 K, 75 kPa), a jump, far out of range, NaN, or not read at
# all (ok flag 0).
READING = st.sampled_from(("same", "small", "step3", "step75", "jump", "range", "nan", "lost", "small", "small"))


def _state(sq: SignalQuality) -> tuple:
    return tuple(bytes(memoryview(getattr(sq, name)).cast("B")) for name in STATE) + (sq.n_bad,)


@given(st.lists(st.tuples(st.floats(0.25, 3.0), st.lists(READING, min_size=N_SIGNALS, max_size=N_SIGNALS)),
                min_size=1, max_size=25),
       st.integers(0, 2**32 - 1))
def test_bound_run_leaves_the_state_update_image_leaves(cycles: list, seed: int) -> None:
    by_image = SignalQuality(CFG)
    by_bound = SignalQuality(CFG)
    values = array("d", [20.0] * N_SIGNALS)
    oks = array("b", [1] * N_SIGNALS)
    by_bound.bind_image(values, oks)
    last = [10.0 + (seed >> (i % 24)) % 7 for i in range(N_SIGNALS)]
    now_s = 100.0
    for dt_s, readings in cycles:
        now_s += dt_s
        for i in range(N_SIGNALS):
            kind = readings[i]
            oks[i] = 0 if kind == "lost" else 1
            if kind == "small":
                last[i] += 0.01 * (1 + (i + int(now_s * 4)) % 5)
            elif kind == "step3":
                last[i] += 3.0
            elif kind == "step75":
                last[i] += 75.0
            elif kind == "jump":
                last[i] += 40.0
            value = last[i]
            if kind == "range":
                value = 1.0e13
            elif kind == "nan":
                value = float("nan")
            elif kind == "jump":
                last[i] -= 40.0  # the next reading is back where it was
            values[i] = value
        by_image.update_image(values, oks, now_s)
        by_bound.update_bound(now_s)
        assert _state(by_bound) == _state(by_image)
