"""The plant's shortcuts give the numbers of the plain computation they replace, bit for bit:
round_hundredths is round(x, 2), the transport lookup by bisection stops where the walk back
did, and the heat exchanger's remembered powers are taken again whenever an argument changes."""

from __future__ import annotations

import importlib.util
import math
import os
import random
import struct
from typing import Any

import pytest
from heatkeeper.core import signals
from heatkeeper.tools.plant import Plant, Weather
from heatkeeper.tools.plant.model import PlantCore, round_hundredths
from hypothesis import given
from hypothesis import strategies as st

HIST_N = 2048  # tools/plant/model.py (a C constant in the compiled module)
MODEL_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "plant", "model.py")


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


# --- round_hundredths ------------------------------------------------------------------------

@given(st.floats(allow_nan=False, allow_infinity=True))
def test_round_hundredths_is_round_2_for_any_float(x: float) -> None:
    assert _bits(round_hundredths(x)) == _bits(round(x, 2))


@given(st.integers(min_value=-2_000_000, max_value=2_000_000), st.sampled_from([0.0, 1e-12, -1e-12, 1e-9, -1e-9]))
def test_round_hundredths_near_halves_and_on_them(k: int, nudge: float) -> None:
    # k / 1000 with an odd last digit of 5 lies on (or next to) a half of a hundredth
    x = (k * 10 + 5) / 1000.0 + nudge
    assert _bits(round_hundredths(x)) == _bits(round(x, 2))


def test_round_hundredths_keeps_the_sign_of_zero_and_nan() -> None:
    for x in (-0.001, -0.0, 0.0, 0.004, -0.004999):
        assert _bits(round_hundredths(x)) == _bits(round(x, 2))
    assert math.isnan(round_hundredths(float("nan")))


# --- the noise draws -------------------------------------------------------------------------

def _gauss_by_uniforms(core: Any, state: int) -> tuple[float, int]:
    """gauss() as written first: four uniform() draws summed one by one, centred and scaled."""
    core.rng_state = state
    u = core.uniform()
    u += core.uniform()
    u += core.uniform()
    u += core.uniform()
    return (u - 2.0) * 1.7320508075688772, core.rng_state


@given(st.integers(min_value=1, max_value=2**64 - 1))
def test_gauss_is_four_uniforms_summed_to_the_last_bit(state: int) -> None:
    # gauss() sums the four 53-bit draws as integers and scales once: the same number and the
    # same generator state as four uniform() calls, compiled and as plain Python
    for core in (PlantCore(1, 0), _source_core()):
        want, want_state = _gauss_by_uniforms(core, state)
        core.rng_state = state
        got = core.gauss()
        assert (_bits(got), core.rng_state) == (_bits(want), want_state)


def test_gauss_over_a_long_run_of_the_generator() -> None:
    # 200,000 consecutive draws (sums above 2^53, where the first addition rounds, are half of them)
    core = PlantCore(1, 7)
    ref = PlantCore(1, 7)
    for _ in range(200_000):
        want, want_state = _gauss_by_uniforms(ref, ref.rng_state)
        assert _bits(core.gauss()) == _bits(want)
        assert core.rng_state == want_state


# --- the transport lookup --------------------------------------------------------------------
# --- the transport lookup --------------------------------------------------------------------

def _source_core() -> Any:
    """model.py as plain Python (the compiled class keeps _lookup in C)."""
    spec = importlib.util.spec_from_file_location("_plant_model_source", MODEL_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PlantCore(1, 0)


def _walk_back(vols: list[float], temps: list[float], head: int, target_vol: float) -> float:
    """The lookup as it was: a walk back from head, one sample at a time."""
    i = head
    for _k in range(HIST_N - 1):
        j = (i - 1 + HIST_N) % HIST_N
        if vols[j] <= target_vol:
            dv = vols[i] - vols[j]
            if dv <= 1e-12:
                return temps[i]
            w = (target_vol - vols[j]) / dv
            return temps[j] + (temps[i] - temps[j]) * w
        if vols[j] > vols[i]:
            return temps[i]
        i = j
    return temps[i]


def _ring(rng: random.Random, writes: int, stall: float) -> tuple[list[float], list[float], int]:
    """A ring written as the plant writes it: `writes` samples of a volume that never falls
    (a share `stall` of them with the pumps stopped), from a ring of zeros."""
    vols = [0.0] * HIST_N
    temps = [rng.uniform(20.0, 90.0) for _ in range(HIST_N)]
    head = 0
    vol = 0.0
    for _ in range(writes):
        if rng.random() >= stall:
            vol += rng.uniform(0.0, 0.6)
        head = (head + 1) % HIST_N
        vols[head] = vol
        temps[head] = rng.uniform(20.0, 90.0)
    return vols, temps, head


@pytest.mark.parametrize("writes", [0, 1, 5, HIST_N - 2, HIST_N - 1, HIST_N, HIST_N + 1, 3 * HIST_N + 17])
@pytest.mark.parametrize("stall", [0.0, 0.3, 1.0])
def test_lookup_stops_where_the_walk_back_did(writes: int, stall: float) -> None:
    core = _source_core()
    rng = random.Random(writes * 7 + int(stall * 10))
    vols, temps, head = _ring(rng, writes, stall)
    newest = vols[head]
    targets = [newest + 1.0, newest, -1.0, 0.0, newest - 30.0, newest - 1e-13]
    targets += [rng.uniform(-5.0, newest + 1.0) for _ in range(200)]
    targets += [vols[rng.randrange(HIST_N)] for _ in range(50)]  # exactly on a sample
    for target in targets:
        assert _bits(core._lookup(vols, temps, head, target)) == _bits(_walk_back(vols, temps, head, target)), target


# --- remembered powers in the heat exchanger ---------------------------------------------------

def _forget_powers(plant: Any) -> None:
    for name in ("memo_stem_x", "memo_stem_base", "memo_stem_pow", "memo_v1_x", "memo_v1", "memo_f1", "memo_f1_n",
                 "memo_f1_pow"):
        setattr(plant, name, math.nan)


def _twins(**changes: float) -> tuple[Any, Any]:
    """Two plants run alike to a still valve, then given `changes`; the twin forgets its powers."""
    weather = Weather([-10.0] * 48, [0.0] * 48, name="constant")
    plant, twin = Plant(weather=weather, seed=1), Plant(weather=weather, seed=1)
    for p in (plant, twin):
        p.apply({signals.VALVE_CMD_PCT: 40.0})
        p.advance(601.0)  # just past a building step: the available dp stays put for a while
        for name, value in changes.items():
            setattr(p, name, value)
    _forget_powers(twin)
    return plant, twin


@pytest.mark.parametrize("changes", [{"rangeability": 50.0}, {"k_rest": 60.0}, {"kvs": 80.0}, {"hx_n": 0.5},
                                     {"dp_kpa": 140.0}, {"leakage": 0.002}, {}])
def test_remembered_powers_follow_every_argument(changes: dict[str, float]) -> None:
    plant, twin = _twins(**changes)
    stem = plant.stem
    for _ in range(3):  # the stem stays where it is: only the changed parameter moves the powers
        plant.advance(1.0)
        twin.advance(1.0)
        _forget_powers(twin)
        assert plant.stem == stem == twin.stem
        assert (plant.flow1, plant.ts_hx, plant.tp_ret_hx, plant.q_meter_kw) == (
            twin.flow1, twin.ts_hx, twin.tp_ret_hx, twin.q_meter_kw)
    if changes:
        untouched, _ = _twins()
        untouched.advance(1.0)
        assert (untouched.flow1, untouched.ts_hx) != (plant.flow1, plant.ts_hx)  # the change mattered


# --- the collectors' readings ----------------------------------------------------------------

def _readings_as_before(plant: Any) -> list[tuple[str, str, float]]:
    """Plant.collector_readings as it was, in Python: base, window, offset, bias, noise, round."""
    result = []
    for j, name in enumerate(plant.group_names):
        base = plant.g_room_meas[j]
        if plant._windows:
            base += plant._window_offset_k(j)
        for k, offset in enumerate((-0.3, 0.0)):
            temp = base + offset + plant._collector_bias[j][k] + plant.noise_k * plant.gauss()
            result.append((plant._collector_ids[j][k], name, round(temp, 2)))
    return result


def test_collector_readings_are_those_of_the_python_loop() -> None:
    plant, twin = Plant(seed=4), Plant(seed=4)
    for p in (plant, twin):
        p.advance(900.0)
    assert plant.collector_readings() == _readings_as_before(twin)
    for p in (plant, twin):
        p.inject("open_window", group=2, delta_k=6.0, duration_s=3600.0, tau_s=30.0)
        p.advance(120.0)
    assert plant.collector_readings() == _readings_as_before(twin)
    assert plant.readings() == twin.readings()  # the same draws were used: the generators agree


def test_collector_arrays_are_the_readings_without_tuples() -> None:
    # collector_ids + collector_temps_now (what the season loop hands set_room_temps) are
    # collector_readings taken apart: the same ids, groups and rounded temperatures, bit for bit
    plant, twin = Plant(seed=5), Plant(seed=5)
    for p in (plant, twin):
        p.advance(600.0)
        p.inject("open_window", group=1, delta_k=4.0, duration_s=1800.0, tau_s=60.0)
        p.advance(90.0)
    ids, groups = plant.collector_ids()
    temps = plant.collector_temps_now()
    rows = twin.collector_readings()
    assert list(zip(ids, groups, temps, strict=True)) == rows
    assert temps.typecode == "d"
