"""The per-station field names the ingest remembers (MAX_STATION_FIELDS, the usual sample's
shortcut): stations that send the same names share one set object, and what each station may
send is exactly the rule of the names it has sent itself (a model of that rule below)."""

from __future__ import annotations

import json
from typing import Any

from heatkeeper.core import codec
from heatkeeper.supervisor.ingest import MAX_STATION_FIELDS, Ingest
from heatkeeper.supervisor.storage import open_storage
from hypothesis import given
from hypothesis import strategies as hs

T0 = 1_700_000_000.0
STATIONS = ("st-a", "st-b", "st-c")


def _ingest(tmp: str = "/nonexistent/never-opened.db") -> Ingest:
    # handle() never touches the storage: nothing here is flushed
    return Ingest(open_storage("sqlite", path=tmp), set(STATIONS), wall_clock=lambda: T0 + 10_000.0)


def _telemetry(sid: str, seq: int, names: list[str]) -> tuple[str, bytes]:
    body = {"values": {name: float(i) for i, name in enumerate(names)}}
    return codec.up_topic(sid, codec.UP_TELEMETRY), json.dumps(
        {"v": 1, "station": sid, "seq": seq, "ts": T0 + seq, "kind": codec.UP_TELEMETRY, "body": body}).encode()


def test_stations_with_the_same_names_share_one_set() -> None:
    ing = _ingest()
    names = ["supply_c", "return_c", "pump1_running"]
    for seq, sid in enumerate(STATIONS, 1):
        assert ing.handle(*_telemetry(sid, seq, names)) == "queued"
    sets = [ing._fields[sid] for sid in STATIONS]
    assert sets[0] == set(names) and sets[0] is sets[1] is sets[2]
    # one station sending one more name gets a set of its own; the others keep theirs, unchanged
    assert ing.handle(*_telemetry("st-b", 10, [*names, "outdoor_c"])) == "queued"
    assert ing._fields["st-b"] == {*names, "outdoor_c"}
    assert ing._fields["st-a"] is ing._fields["st-c"] and ing._fields["st-a"] == set(names)
    # a second station reaching the same names shares st-b's set
    assert ing.handle(*_telemetry("st-c", 11, ["outdoor_c"])) == "queued"
    assert ing._fields["st-c"] is ing._fields["st-b"]


_NAME = hs.sampled_from(["n%03d" % i for i in range(40)])


@given(hs.lists(hs.tuples(hs.sampled_from(STATIONS), hs.lists(_NAME, min_size=1, max_size=12, unique=True),
                          hs.integers(0, 3)), max_size=25),
       hs.integers(1, 20))
def test_field_names_follow_each_stations_own_rule(messages: list[tuple[str, list[str], int]], cap: int) -> None:
    """What is queued or refused as too_many_fields, and the names remembered, are those of the
    rule per station (the union of the names it sent, at most the cap), whatever the others send.
    `extra` adds that many names of this station alone (so the stations' sets differ)."""
    import heatkeeper.supervisor.ingest_path as ingest_mod  # where the rule is applied (ingest re-exports it)

    saved = ingest_mod.MAX_STATION_FIELDS
    ingest_mod.MAX_STATION_FIELDS = cap  # a small cap so that examples reach it
    try:
        ing = _ingest()
        model: dict[str, set[str]] = {}
        for seq, (sid, names, extra) in enumerate(messages, 1):
            names = names + ["%s_own%d" % (sid.replace("-", "_"), i) for i in range(extra)]
            known = model.get(sid, set())
            expected = "queued" if len(known | set(names)) <= cap else "rejected:too_many_fields"
            if expected == "queued":
                model[sid] = known | set(names)
            assert ing.handle(*_telemetry(sid, seq, names)) == expected
        for sid in STATIONS:
            assert set(ing._fields.get(sid, ())) == model.get(sid, set())
        by_names: dict[frozenset[str], Any] = {}
        for sid, held in ing._fields.items():  # equal sets are one object
            assert by_names.setdefault(frozenset(held), held) is held
    finally:
        ingest_mod.MAX_STATION_FIELDS = saved
    assert MAX_STATION_FIELDS == saved
