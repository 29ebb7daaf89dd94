"""The 5-minute aggregates folded in memory: count, sum, min and max of every field per
(station, bucket), whatever the order and mix of fields, and nothing lost when a failed write
gives them back."""

from __future__ import annotations

import time

from heatkeeper.supervisor.aggregates import Aggregates, new_epoch_id, rows
from hypothesis import given
from hypothesis import strategies as st

samples = st.lists(st.tuples(st.sampled_from(["st-1", "st-2", "st-3"]), st.sampled_from([0, 300]),
                             st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                             st.floats(min_value=-1e12, max_value=1e12), max_size=3)),
                   max_size=30)


def expected(data: list) -> list:
    out: dict = {}
    for sid, bucket, numbers in data:
        for field, value in numbers.items():
            out.setdefault((sid, bucket, field), []).append(value)
    return sorted((k[0], k[1], k[2], len(v), float(sum(v)), min(v), max(v)) for k, v in out.items())


def folded(agg: Aggregates) -> list:
    return sorted(rows(agg.take(list(range(agg.slices)))))


@given(samples)
def test_the_fold_is_count_sum_min_max(data: list) -> None:
    agg = Aggregates(4)
    for sid, bucket, numbers in data:
        agg.add((sid, bucket), numbers)
    got = folded(agg)
    want = expected(data)
    assert [r[:4] + r[5:] for r in got] == [r[:4] + r[5:] for r in want]
    for g, w in zip(got, want, strict=True):  # sums in another order may differ in the last bits
        assert abs(g[4] - w[4]) <= 1e-9 * max(1.0, sum(abs(v) for s, b, n in data for f, v in n.items()))


@given(samples, samples)
def test_a_failed_write_gives_everything_back(first: list, second: list) -> None:
    agg = Aggregates(3)
    for sid, bucket, numbers in first:
        agg.add((sid, bucket), numbers)
    taken = agg.take(list(range(agg.slices)))
    for sid, bucket, numbers in second:
        agg.add((sid, bucket), numbers)
    agg.give_back(taken)
    got = folded(agg)
    want = expected(first + second)
    assert [(r[0], r[1], r[2], r[3], r[5], r[6]) for r in got] == [(r[0], r[1], r[2], r[3], r[5], r[6]) for r in want]


def one_at_a_time(data: list) -> list:
    """The fold one value at a time, in the order received: the reference for exact sums."""
    out: dict = {}
    for sid, bucket, numbers in data:
        for field, value in numbers.items():
            a = out.get((sid, bucket, field))
            if a is None:
                out[(sid, bucket, field)] = [1, value, value, value]
                continue
            a[0] += 1
            a[1] += value
            a[2] = value if value < a[2] else a[2]
            a[3] = value if value > a[3] else a[3]
    return sorted((k[0], k[1], k[2], a[0], a[1], a[2], a[3]) for k, a in out.items())


# mostly the same fields sample after sample (as stations send them), now and then another set
runs = st.lists(st.tuples(st.sampled_from(["st-1", "st-2"]), st.sampled_from([0, 300]),
                          st.sampled_from([("a", "b", "c"), ("a", "b", "c"), ("a", "b", "c"), ("b", "a"), ("c",)]),
                          st.lists(st.floats(min_value=-1e12, max_value=1e12), min_size=3, max_size=3)),
                max_size=60)


@given(runs)
def test_folding_held_rows_gives_the_same_bits_as_one_value_at_a_time(data: list) -> None:
    """Samples held as rows and folded by column: the same count, min, max and the same sum to
    the last bit (added in the order received), whenever the fields change and whenever the
    slices are taken."""
    samples = [(sid, bucket, dict(zip(fields, values, strict=False))) for sid, bucket, fields, values in data]
    agg = Aggregates(2)
    got: list = []
    for i, (sid, bucket, numbers) in enumerate(samples):
        agg.add((sid, bucket), numbers)
        if i % 23 == 22:  # a slice written now and then, with rows held
            got += rows(agg.take([0, 1]))
    got += rows(agg.take([0, 1]))
    merged: dict = {}
    for sid, bucket, field, n, total, low, high in got:  # the upserts, added in the order written
        a = merged.get((sid, bucket, field))
        merged[(sid, bucket, field)] = [n, total, low, high] if a is None else [
            a[0] + n, a[1] + total, min(a[2], low), max(a[3], high)]
    if len(got) == len(merged):  # nothing written twice: the sums must be the same bits
        assert sorted(got) == one_at_a_time(samples)
    want = one_at_a_time([(s, b, n) for s, b, n in samples])
    assert sorted((k[0], k[1], k[2], a[0], a[2], a[3]) for k, a in merged.items()) == [
        (r[0], r[1], r[2], r[3], r[5], r[6]) for r in want]


# a value of every kind the fold may meet: signed zeros, equal values, the bounds; NaN (the ingest
# refuses it before the fold, `Aggregates.add` does not) to hold min's and max's order too
fold_values = st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 1e12, -1e12]), st.floats(min_value=-1e12, max_value=1e12),
                        st.just(float("nan")))


@given(st.lists(st.lists(fold_values, min_size=3, max_size=3), min_size=1, max_size=9),
       st.one_of(st.none(), st.lists(fold_values, min_size=3, max_size=3)))
def test_both_folds_give_the_same_objects_to_the_bit(rows_: list, held: list | None) -> None:
    """The fold the compiled module runs (loops over C doubles) and the one it runs interpreted
    (C builtins by column) give the same count, sum, min and max to the last bit (the sign of a
    zero, a NaN where min and max keep one), into an empty bucket or one already holding values;
    both are called here whichever way this module was loaded."""
    from heatkeeper.supervisor.aggregates import _fold_columns, _fold_loops

    def bits(x: float) -> tuple:
        return (x != x, repr(x))  # repr tells -0.0 from 0.0

    fields = ("a", "b", "c")
    results = []
    for fold in (_fold_columns, _fold_loops):
        slice_agg: dict = {}
        if held is not None:
            slice_agg[("st", 0)] = {f: (2, v, v, v) for f, v in zip(fields, held, strict=True)}
        fold(slice_agg, ("st", 0), fields, [tuple(r) for r in rows_])
        results.append({f: (a[0], bits(a[1]), bits(a[2]), bits(a[3])) for f, a in slice_agg[("st", 0)].items()})
    assert results[0] == results[1]


def test_a_row_of_another_width_is_refused() -> None:
    import pytest
    from heatkeeper.supervisor.aggregates import _fold_loops

    with pytest.raises(ValueError, match="a row of 2 values for 3 fields"):
        _fold_loops({}, ("st", 0), ("a", "b", "c"), [(1.0, 2.0, 3.0), (1.0, 2.0)])


def test_epoch_ids_opened_in_a_burst_never_clash() -> None:
    """Every start opens one epoch per slice in the same millisecond; with 22 random low bits two
    of them shared an id about once in 60,000 starts and the start failed on the primary key."""
    before_ms = int(time.time() * 1000)
    ids = [new_epoch_id() for _ in range(200_000)]
    assert len(set(ids)) == len(ids)
    assert all(0 < i < 2**63 for i in ids)
    assert ids[0] >> 22 >= before_ms - 1_577_836_800_000  # milliseconds since 2020 in the high bits
