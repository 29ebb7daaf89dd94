"""The 5-minute aggregates folded in memory: count, sum, min and max of every field per
(station, bucket), whatever the order and mix of fields, and nothing lost when a failed write
gives them back."""

from __future__ import annotations

from heatkeeper.supervisor.aggregates import Aggregates, rows
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
