"""The per-station slots of the ingest (its state, its aggregation slice: found once per message
from the topic) lead to exactly what the per-table lookups lead to, and stay the station's own
through a restart's restored state."""

from __future__ import annotations

import json
from typing import Any

from heatkeeper.core import codec
from heatkeeper.supervisor.ingest import Ingest, StationSlots
from heatkeeper.supervisor.storage import open_storage
from hypothesis import given
from hypothesis import strategies as hs

T0 = 1_700_000_000.0
STATIONS = ("st-a", "st-b", "st-c", "st-d")


def _telemetry(sid: str, seq: int, ts: float, values: dict[str, float]) -> tuple[str, bytes]:
    return codec.up_topic(sid, codec.UP_TELEMETRY), json.dumps(
        {"v": 1, "station": sid, "seq": seq, "ts": ts, "kind": codec.UP_TELEMETRY, "body": {"values": values}}).encode()


class ByLookup(Ingest):
    """Every message derived with slots looked up afresh in the tables by its station id (the
    reference)."""

    def _derive(self, msg: dict[str, Any], received: float, slots: Any = None) -> None:
        sid = msg["station"]
        super()._derive(msg, received, StationSlots(sid, self.state[sid], self.aggregates.slice_of(sid)))


def _derived(ing: Ingest) -> Any:
    taken = ing.aggregates.take(list(range(ing.agg_slices)))
    return taken, ing.state, ing.equipment.rows(), sorted(ing._dirty)


@given(hs.lists(hs.tuples(hs.sampled_from(STATIONS), hs.floats(-400.0, 400.0),
                          hs.dictionaries(hs.sampled_from(["supply_c", "return_c", "pump1_running"]),
                                          hs.sampled_from([0.0, 1.0, 55.5, -3.25]), min_size=1)), max_size=30))
def test_derived_through_the_slots_as_through_the_tables(samples: list[tuple[str, float, dict[str, float]]]) -> None:
    never_opened = "/nonexistent/never-opened.db"  # handle() and _derive never touch the storage
    fast = Ingest(open_storage("sqlite", path=never_opened), set(STATIONS), agg_slices=3, wall_clock=lambda: T0 + 1e4)
    reference = ByLookup(open_storage("sqlite", path=never_opened), set(STATIONS), agg_slices=3,
                         wall_clock=lambda: T0 + 1e4)
    for ing in (fast, reference):
        for seq, (sid, offset_s, values) in enumerate(samples, 1):
            assert ing.handle(*_telemetry(sid, seq, T0 + offset_s, values)) == "queued"
        for msg, received, _payload, _ack, slots in ing._pending:
            assert slots.sid == msg["station"] and slots.state is ing.state[msg["station"]]
            ing._derive(msg, received, slots)
    assert _derived(fast) == _derived(reference)


async def test_a_restored_state_is_the_one_the_next_messages_change(storage: Any) -> None:
    """load_state restores the saved state into the station's own dict: slots made before it (a
    message received meanwhile) still reach the state the dashboard reads."""
    await storage.upsert_station("st-a", "st-a", "")
    first = Ingest(storage, {"st-a"}, wall_clock=lambda: T0 + 10.0)
    await first.load_state()
    assert first.handle(*_telemetry("st-a", 1, T0 + 1.0, {"supply_c": 50.0})) == "queued"
    await first.flush(force_aggregates=True)
    again = Ingest(storage, {"st-a"}, wall_clock=lambda: T0 + 20.0)
    live = again.state["st-a"]
    assert again.handle(*_telemetry("st-a", 2, T0 + 2.0, {"supply_c": 52.0})) == "queued"
    await again.load_state()
    assert again.state["st-a"] is live and live["values"] == {"supply_c": 50.0} and live["last_seq"] == 1
    await again.flush(force_aggregates=True)
    assert live["values"] == {"supply_c": 52.0} and live["last_seq"] == 2


# what a stored sample's values may hold: numbers (ints, floats of every kind) and nulls
_VALUE = hs.one_of(hs.floats(allow_nan=True, allow_infinity=True), hs.integers(-10**15, 10**15), hs.none(),
                   hs.sampled_from([0.0, -0.0, 1e308, -1e308, True]))


@given(hs.dictionaries(hs.text(min_size=1, max_size=3), _VALUE, max_size=8),
       hs.one_of(hs.floats(allow_nan=True, allow_infinity=True), hs.integers(0, 2**40)))
def test_both_number_conversions_agree(values: dict, ts: float) -> None:
    """The conversion of a stored sample's values the compiled module runs (a loop over C
    doubles) and the one it runs interpreted (C builtins): the same names, the same floats to the
    bit, the same refusal of a value or ts that is not finite (both called whichever way loaded)."""
    from heatkeeper.supervisor import ingest_path

    def outcome(fn: Any) -> Any:
        try:
            fields, numbers = fn(values, ts)
        except (ValueError, OverflowError) as exc:
            return type(exc).__name__
        return fields, [repr(x) for x in numbers]

    assert outcome(ingest_path._numbers_by_loop) == outcome(ingest_path._numbers_by_map)
