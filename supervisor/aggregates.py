# cython: annotation_typing=False
"""The 5-minute aggregates: count, sum, min and max of every telemetry field per station and
bucket, folded in memory from newly stored uplinks and written one slice of the fleet at a time.

A station's slice is stable (crc32 of its id). Each slice has an open aggregation epoch: every
uplink is stored under its slice's epoch, and the epoch is closed in the same transaction that
writes what was derived from it, so a crash leaves an epoch open whose uplinks are derived again
at the next start (see storage/base.py).
"""

from __future__ import annotations

import secrets
import sys
import time
import zlib
from functools import reduce
from operator import add as _add

from heatkeeper.core import _cext

from .storage.base import AggRow

# Aggregates are written per slice of the fleet, one slice every agg_flush_s / AGG_SLICES:
# each write (one transaction) stays short, so commands never wait long for the write lock.
AGG_SLICES = 12

# A station's samples are held as rows, FOLD_ROWS at most per (station, bucket), and folded a
# column at a time (min, max and the sum of each field in C): a fifth of the CPU of folding each
# value alone once the fleet's aggregates no longer fit the CPU cache. Each held row is the
# sample's values (~0.7 kB for 20 fields): 8 rows of 10,000 stations hold ~55 MB.
FOLD_ROWS = 8

# {(station, bucket): {field: (n, sum, min, max)}}: a tuple of numbers, replaced at each fold, which
# the cyclic collector stops walking once it has seen it (a list of them stays in every pass: 200,000
# at 10,000 stations of 20 fields, walked once a minute until their slice was written)
Buckets = dict[tuple[str, int], dict[str, tuple[float, float, float, float]]]
Held = dict[tuple[str, int], tuple[tuple[str, ...], list[tuple[float, ...]]]]  # {(station, bucket): (fields, rows)}


class Aggregates:
    """The aggregates not yet written, and the open epoch, of each slice."""

    def __init__(self, slices: int = AGG_SLICES) -> None:
        self.slices = max(1, int(slices))
        self._agg: list[Buckets] = [{} for _ in range(self.slices)]
        self._held: list[Held] = [{} for _ in range(self.slices)]  # rows not folded yet
        self.epochs: list[int] = [0] * self.slices
        self._slice: dict[str, int] = {}

    def slice_of(self, station_id: str) -> int:
        """The aggregation slice of a station (stable: crc32 of its id)."""
        k = self._slice.get(station_id)
        if k is None:
            k = self._slice[station_id] = zlib.crc32(station_id.encode()) % self.slices
        return k

    def epoch_of(self, station_id: str) -> int:
        """The open epoch a new uplink of this station is stored under."""
        return self.epochs[self.slice_of(station_id)]

    def add(self, key: tuple[str, int], numbers: dict[str, float]) -> None:
        """Fold one sample's {field: value} into bucket `key` = (station, bucket)."""
        self.add_row(key, tuple(numbers), tuple(numbers.values()))

    def add_row(self, key: tuple[str, int], fields: tuple[str, ...], values: tuple[float, ...],
                slice_k: int | None = None) -> None:
        """`add` of one sample given as its field names and their values (in the same order);
        `slice_k`: the station's slice when the caller knows it (`slice_of`)."""
        k = self._slice.get(key[0]) if slice_k is None else slice_k
        if k is None:
            k = self.slice_of(key[0])
        held = self._held[k]
        pending = held.get(key)
        if pending is not None:
            if pending[0] == fields:  # the usual sample: the same fields as the one before
                rows = pending[1]
                rows.append(values)
                if len(rows) >= FOLD_ROWS:
                    del held[key]
                    _fold(self._agg[k], key, fields, rows)
                return
            del held[key]  # other fields: what is held is folded first, so the order stays
            _fold(self._agg[k], key, pending[0], pending[1])
        held[key] = (fields, [values])

    def take(self, slices: list[int]) -> dict[int, Buckets]:
        """Take the aggregates of `slices` out for writing (give them back on a failure)."""
        for k in slices:
            agg = self._agg[k]
            for key, (fields, rows) in self._held[k].items():
                _fold(agg, key, fields, rows)
            self._held[k] = {}
        taken = {k: self._agg[k] for k in slices}
        for k in slices:
            self._agg[k] = {}
        return taken

    def give_back(self, taken: dict[int, Buckets]) -> None:
        """Merge back what `take` returned, so nothing is lost on a failed write."""
        for k, agg in taken.items():
            merge_into(self._agg[k], agg)


def _fold_columns(slice_agg: Buckets, key: tuple[str, int], fields: tuple[str, ...],
                  rows: list[tuple[float, ...]]) -> None:
    """Fold samples (rows of `fields`' values, in the order received) into bucket `key`: the
    same count, sum (added in order), min and max as folding one value at a time. A column at a
    time in C builtins: the faster way interpreted."""
    agg = slice_agg.get(key)
    if agg is None:
        agg = slice_agg[key] = {}
    n = len(rows)
    for field, column in zip(fields, zip(*rows, strict=True), strict=True):
        a = agg.get(field)
        if a is None:
            agg[field] = (n, reduce(_add, column), min(column), max(column))
            continue
        low = min(column)  # the first of equals, as the fold one at a time keeps
        high = max(column)
        agg[field] = (a[0] + n, reduce(_add, column, a[1]), low if low < a[2] else a[2], high if high > a[3] else a[3])


def _fold_loops(slice_agg: dict[tuple[str, int], dict[str, tuple[float, float, float, float]]], key: tuple[str, int], fields: tuple[str, ...],
                rows: list[tuple[float, ...]]) -> None:
    """`_fold_columns` as loops over C doubles (aggregates.pxd types them): the faster way
    compiled. The same comparisons in the same order as min() and max() (the first of equals;
    a NaN as they treat it) and the same additions in the same order as reduce()."""
    agg = slice_agg.get(key)
    if agg is None:
        agg = slice_agg[key] = {}
    n = len(rows)
    if not n:
        return
    width = len(fields)
    for row in rows:
        if len(row) != width:
            raise ValueError("a row of %d values for %d fields" % (len(row), width))
    for j in range(width):
        field = fields[j]
        a = agg.get(field)
        row = rows[0]
        first = row[j]
        low = first
        high = first
        if a is None:
            total = first
            start = 1
        else:
            total = a[1]
            start = 0
        for i in range(start, n):
            row = rows[i]
            v = row[j]
            total += v
        for i in range(1, n):
            row = rows[i]
            v = row[j]
            if v < low:
                low = v
            if v > high:
                high = v
        if a is None:
            agg[field] = (n, total, low, high)
            continue
        agg[field] = (a[0] + n, total, low if low < a[2] else a[2], high if high > a[3] else a[3])


# compiled, the loops run on C doubles; interpreted, the column builtins are faster
_fold = _fold_loops if _cext.compiled(sys.modules[__name__]) else _fold_columns


def rows(taken: dict[int, Buckets]) -> list[AggRow]:
    """The rows to upsert for aggregates taken out."""
    return [(key[0], key[1], field, int(a[0]), float(a[1]), float(a[2]), float(a[3]))
            for agg in taken.values() for key, fields in agg.items() for field, a in fields.items()]


# The low 22 bits of epoch ids: a per-process counter from a random start, so ids this process
# opens in one millisecond never clash (12 at every start: with 22 random bits each, two of them
# clashed about once in 60,000 starts and the start failed on the primary key).
_EPOCH_LOW_BITS = 22
_epoch_counter = [secrets.randbits(_EPOCH_LOW_BITS)]


def new_epoch_id() -> int:
    """A unique aggregation epoch id: milliseconds since 2020 in the high 41 bits (index locality;
    enough until 2089) and, below, 22 bits of a per-process counter that starts at a random value
    (ids of one process never clash unless it opens 4 million in a millisecond; another ingest
    process opening epochs in the same millisecond clashes once in 4 million), within a signed
    64-bit integer. A clash is refused by the primary key: nothing of that write is stored and
    its aggregates stay in memory for the next slice write, which opens fresh ids."""
    low = _epoch_counter[0]
    _epoch_counter[0] = (low + 1) & ((1 << _EPOCH_LOW_BITS) - 1)
    return (max(0, int(time.time() * 1000) - 1_577_836_800_000) << _EPOCH_LOW_BITS) | low


def merge_into(into: Buckets, other: Buckets) -> None:
    for k, fields in other.items():
        now_fields = into.setdefault(k, {})
        for field, a in fields.items():
            b = now_fields.get(field)
            now_fields[field] = a if b is None else (a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3]))
