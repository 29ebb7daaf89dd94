"""Outbox: sequence numbers, crash safety, ack-only removal, bounded thinning."""

from __future__ import annotations

import json

from heatkeeper.core import codec
from heatkeeper.firmware.outbox import Outbox


def test_sequence_numbers_survive_reopen_and_empty_outbox(tmp_path) -> None:
    path = str(tmp_path / "outbox.sqlite")
    box = Outbox(path, "st-1")
    assert box.put_many([("telemetry", {"values": {"a": 1}}, 1.0), ("event", {"kind": "x"}, 2.0)]) == [1, 2]
    box.acknowledge([1, 2])
    assert len(box) == 0
    box.close()
    box = Outbox(path, "st-1")
    assert box.put("alarm", {"code": "c"}, 3.0) == 3  # never reissued, even when the outbox was empty
    seq, topic, payload = box.peek()[0]
    msg = codec.decode_uplink(topic, payload)
    assert (seq, msg["seq"], msg["kind"], msg["station"]) == (3, 3, "alarm", "st-1")


def test_message_leaves_only_when_acknowledged(tmp_path) -> None:
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1")
    box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(10)])
    first = box.peek(3)
    assert [s for s, _t, _p in first] == [1, 2, 3]
    assert [s for s, _t, _p in box.peek(3)] == [1, 2, 3]  # peeking removes nothing
    box.acknowledge([1, 2])
    assert [s for s, _t, _p in box.peek(3)] == [3, 4, 5]
    assert len(box) == 8
    assert box.sent_total == 2


def test_uncommitted_nothing_committed_everything_after_reopen(tmp_path) -> None:
    """A reopened outbox (after a crash) holds exactly the committed, unacknowledged rows."""
    path = str(tmp_path / "o.sqlite")
    box = Outbox(path, "st-1")
    box.put_many([("event", {"kind": "e%d" % i}, float(i)) for i in range(100)])
    box.acknowledge(list(range(1, 41)))
    # no close(): the process "dies" here
    again = Outbox(path, "st-1")
    assert [s for s, _t, _p in again.peek(1000)] == list(range(41, 101))


def test_full_outbox_thins_old_telemetry_and_keeps_every_alarm_event_ack(tmp_path) -> None:
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1", max_messages=100)
    kinds = []
    for i in range(400):
        kind = ("alarm", "event", "ack")[i % 3] if i % 10 == 0 else "telemetry"
        body = {"values": {"i": i}} if kind == "telemetry" else (
            {"code": "a%d" % i} if kind == "alarm" else {"kind": "e"} if kind == "event" else
            codec.ack_body("c%d" % i, "applied", "ok", ""))
        box.put(kind, body, float(i))
        kinds.append(kind)
    left = {s: json.loads(p) for s, _t, p in box.peek(10000)}
    non_telemetry = [i + 1 for i, k in enumerate(kinds) if k != "telemetry"]
    assert all(s in left for s in non_telemetry)  # every alarm, event and ack kept
    assert len(box) <= 101
    assert box.thinned_total == 400 - len(box)
    telemetry_left = sorted(s for s, m in left.items() if m["kind"] == "telemetry")
    # the newest telemetry is never the victim: the last 20 samples are all there
    newest = [i + 1 for i, k in enumerate(kinds) if k == "telemetry"][-20:]
    assert all(s in telemetry_left for s in newest)
    # thinning is decimation: the oldest samples survive sparsely, not cut off wholesale
    assert telemetry_left[0] < 100
    assert box.stats()["outbox_thinned_total"] == float(box.thinned_total)


def test_seq_floor_lifts_the_counter_durably_and_never_lowers_it(tmp_path) -> None:
    path = str(tmp_path / "o.sqlite")
    box = Outbox(path, "st-1")
    assert box.created
    assert box.raise_seq_floor(1_000_500)
    assert not box.raise_seq_floor(10)  # never backwards
    assert box.put("alarm", {"code": "c"}, 1.0) == 1_000_501
    box.close()
    again = Outbox(path, "st-1")
    assert not again.created and again.last_seq == 1_000_501
    assert again.put("event", {"kind": "e"}, 2.0) == 1_000_502


def test_alarms_events_acks_have_a_hard_cap_events_go_first(tmp_path) -> None:
    """A flood of events (local writes, say) cannot grow the outbox without bound: past the cap
    the oldest events are dropped, counted and reported; alarms and acks stay while events remain."""
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1", max_messages=200)  # cap: 100 non-telemetry rows
    alarm_seqs = [box.put("alarm", {"code": "a%d" % i, "state": "active"}, float(i)) for i in range(5)]
    ack_seq = box.put("ack", codec.ack_body("c1", "applied", "ok", ""), 5.0)
    box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(50)])
    for i in range(1000):
        box.put("event", {"kind": "local_write", "i": i}, float(i))
    left = {s: json.loads(p) for s, _t, p in box.peek(100000)}
    others = [m for m in left.values() if m["kind"] != "telemetry"]
    assert len(others) <= box.other_max == 100
    assert all(s in left for s in alarm_seqs) and ack_seq in left
    assert sum(1 for m in left.values() if m["kind"] == "telemetry") == 50  # telemetry untouched by the cap
    newest = max(s for s, m in left.items() if m["kind"] == "event")
    assert left[newest]["body"]["i"] == 999  # the newest events are kept
    assert box.dropped_total == 1006 - len(others) and box.stats()["outbox_dropped_total"] == box.dropped_total
    capping = box.take_capping()
    assert capping is not None and capping["dropped_by_kind"] == {"event": capping["dropped"]}
    assert box.take_capping() is None
    # acknowledging keeps the non-telemetry count right: the cap is not hit early afterwards
    box.acknowledge(sorted(left))
    assert len(box) == 0 and box._other == 0


def test_only_alarms_left_the_oldest_alarm_goes_last(tmp_path) -> None:
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1", max_messages=200, other_max=20)
    for i in range(30):
        box.put("alarm", {"code": "a%d" % i}, float(i))
    codes = [json.loads(p)["body"]["code"] for _s, _t, p in box.peek(100)]
    assert len(codes) <= 20 and codes[-1] == "a29" and "a0" not in codes


def test_a_damaged_file_is_storage_corrupt_and_set_aside(tmp_path) -> None:
    import os

    import pytest
    from heatkeeper.firmware.errors import StorageError
    from heatkeeper.firmware.storage_guard import StorageCorrupt, open_store

    path = str(tmp_path / "outbox.sqlite")
    with open(path, "wb") as fh:
        fh.write(os.urandom(4096))
    with pytest.raises(StorageCorrupt, match="not a database"):
        Outbox(path, "st-1")
    box, info = open_store(lambda p: Outbox(p, "st-1"), path, "outbox")
    assert info is not None and info["set_aside"].startswith(path + ".corrupt-") and not info["memory_only"]
    assert box.put("event", {"kind": "e"}, 1.0) == 1 and os.path.exists(info["set_aside"])
    # a directory that cannot hold the file is not "corrupt": nothing is moved, memory it is
    blocked = tmp_path / "file-not-dir"
    blocked.write_bytes(b"x")
    with pytest.raises(StorageError) as caught:
        Outbox(str(blocked / "outbox.sqlite"), "st-1")
    assert not isinstance(caught.value, StorageCorrupt)
    mem, info = open_store(lambda p: Outbox(p, "st-1"), str(blocked / "outbox.sqlite"), "outbox")
    assert info is not None and info["memory_only"] and info["set_aside"] is None and mem.memory_only
    assert mem.put("alarm", {"code": "c"}, 1.0) == 1 and blocked.read_bytes() == b"x"


def test_a_refused_body_is_replaced_in_place_or_stores_nothing(tmp_path) -> None:
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1")
    big = {"kind": "x", "text": "a" * (codec.MAX_PAYLOAD_BYTES + 1)}
    items = [("event", {"kind": "before"}, 1.0), ("event", big, 2.0), ("event", {"kind": "after"}, 3.0)]
    try:
        box.put_many(items)
        raise AssertionError("a body the codec refuses was stored")
    except codec.CodecError as exc:
        assert exc.reason == "too_large"
    assert len(box) == 0 and box.last_seq == 0  # nothing of the batch was stored

    calls = []

    def refused(i: int, exc: codec.CodecError) -> tuple[str, dict, float]:
        calls.append((i, exc.reason))
        return ("event", {"kind": "replaced"}, items[i][2])

    assert box.put_many(items, refused) == [1, 2, 3]
    assert calls == [(1, "too_large")]
    stored = [codec.decode_uplink(t, p) for _s, t, p in box.peek(10)]
    assert [(m["seq"], m["ts"], m["body"]["kind"]) for m in stored] == [(1, 1.0, "before"), (2, 2.0, "replaced"),
                                                                       (3, 3.0, "after")]


def _seqs(rows: list[tuple[int, str, bytes]]) -> list[int]:
    return [s for s, _t, _p in rows]


def test_acknowledged_messages_are_kept_on_disk_for_a_resend_then_go(tmp_path) -> None:
    """What the broker acknowledged is no longer pending but stays on disk, across a restart of
    the station, for `keep_s`; kept_since gives the batches acknowledged in a span; older ones go
    at the next acknowledgement."""
    path = str(tmp_path / "o.sqlite")
    box = Outbox(path, "st-1")
    box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(30)])
    box.acknowledge(list(range(1, 11)), keep_s=120.0, now_ts=1000.0)
    box.acknowledge(list(range(11, 21)), keep_s=120.0, now_ts=1050.0)
    assert len(box) == 10 and box.kept == 20 and box.sent_total == 20
    assert _seqs(box.peek(100)) == list(range(21, 31))  # pending only
    assert _seqs(box.kept_since(0.0)) == list(range(1, 21))
    assert _seqs(box.kept_since(1000.0)) == list(range(1, 21))
    assert _seqs(box.kept_since(1000.5)) == list(range(11, 21))  # acknowledged at or after the time
    assert _seqs(box.kept_since(0.0, after_seq=15, limit=3)) == [16, 17, 18]
    assert _seqs(box.kept_since(1050.5)) == []
    box.close()
    again = Outbox(path, "st-1")  # a restart keeps both the pending and the kept rows
    assert len(again) == 10 and again.kept == 20 and _seqs(again.peek(100)) == list(range(21, 31))
    assert again.oldest_age_s(now_ts=40.0) == 40.0 - 20.0  # the oldest pending one, not a kept one
    again.acknowledge(list(range(21, 26)), keep_s=120.0, now_ts=1130.0)  # the batch of 1000 is older than 120 s
    assert again.kept == 15 and _seqs(again.kept_since(0.0)) == list(range(11, 26))
    again.acknowledge([26], keep_s=0.0, now_ts=1131.0)  # resend off: nothing kept, the kept ones go
    assert again.kept == 0 and _seqs(again.kept_since(0.0)) == [] and _seqs(again.peek(100)) == [27, 28, 29, 30]
    assert int(again.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]) == 4


def test_only_the_oldest_pending_are_kept_the_rest_go_at_once(tmp_path) -> None:
    """The link acknowledges the oldest pending messages; any others (not the oldest) are removed
    as before, and a seq already acknowledged changes nothing."""
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1")
    box.put_many([("event", {"kind": "e%d" % i}, float(i)) for i in range(6)])
    box.acknowledge([3, 4], keep_s=120.0, now_ts=10.0)
    assert box.kept == 0 and _seqs(box.peek(10)) == [1, 2, 5, 6] and box._other == 4
    box.acknowledge([1, 2], keep_s=120.0, now_ts=11.0)
    assert box.kept == 2 and _seqs(box.peek(10)) == [5, 6] and _seqs(box.kept_since(0.0)) == [1, 2]
    box.acknowledge([2], keep_s=120.0, now_ts=12.0)
    assert box.kept == 2 and len(box) == 2 and box.sent_total == 4 and box._other == 2
    box.acknowledge([1], keep_s=120.0, now_ts=13.0)  # below the mark: it stays where it is
    assert box.kept == 2 and _seqs(box.peek(10)) == [5, 6] and box._meta("acked_through") == 2


def test_kept_rows_are_bounded_and_go_first_when_the_outbox_is_full(tmp_path) -> None:
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1", max_messages=100, keep_max=30)
    box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(80)])
    box.acknowledge(list(range(1, 81)), keep_s=3600.0, now_ts=1.0)  # a backlog drained at once
    assert box.kept == 30 and _seqs(box.kept_since(0.0)) == list(range(51, 81))  # the newest
    box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(75)])  # 30 kept + 75 pending > 100
    assert box.kept == 0 and len(box) == 75 and box.thinned_total == 0  # delivered copies went, no pending one
    assert int(box.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]) == 75
    mem = Outbox(":memory:", "st-1")
    assert mem.keep_max == 250  # in memory: about 1.1 MB of telemetry


def test_an_outbox_written_before_kept_rows_opens_with_every_row_pending(tmp_path) -> None:
    """An outbox file from a station that deleted at each acknowledgement (no `acks` table, no
    `acked_through`): every row in it is pending."""
    import sqlite3

    path = str(tmp_path / "o.sqlite")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, topic TEXT NOT NULL,
                             payload BLOB NOT NULL, created_ts REAL NOT NULL);
        CREATE INDEX outbox_kind_seq ON outbox(kind, seq);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta VALUES ('last_seq', 7), ('thinned_total', 0), ('dropped_total', 0);
    """)
    for seq in (6, 7):
        topic, payload = codec.encode_uplink("st-1", seq, "event", float(seq), {"kind": "e"})
        db.execute("INSERT INTO outbox VALUES (?, 'event', ?, ?, ?)", (seq, topic, payload, float(seq)))
    db.commit()
    db.close()
    box = Outbox(path, "st-1")
    assert not box.created and len(box) == 2 and box.kept == 0 and _seqs(box.peek(10)) == [6, 7]
    assert box.put("event", {"kind": "new"}, 8.0) == 8


def test_renewed_rows_count_as_acknowledged_at_the_renewal(tmp_path) -> None:
    """A resend acknowledged again: those rows are kept (and sent after a drop) a span from then."""
    box = Outbox(str(tmp_path / "o.sqlite"), "st-1")
    box.put_many([("event", {"kind": "e"}, float(i)) for i in range(6)])
    box.acknowledge([1, 2, 3], keep_s=120.0, now_ts=1000.0)
    box.acknowledge([4, 5, 6], keep_s=120.0, now_ts=1010.0)
    assert _seqs(box.kept_since(1005.0, 0, 10)) == [4, 5, 6]
    box.renew_kept(2, 1500.0)  # a resend from seq 2: whole acknowledged batches are renewed (1-3, 4-6)
    assert _seqs(box.kept_since(1400.0, 0, 10)) == [1, 2, 3, 4, 5, 6]
    box.put("event", {"kind": "e"}, 1600.0)
    box.acknowledge([7], keep_s=120.0, now_ts=1600.0)  # prunes what was acknowledged before 1480
    assert box.kept == 7 and _seqs(box.kept_since(1400.0, 0, 10)) == [1, 2, 3, 4, 5, 6, 7]
    box.close()


def test_the_counts_agree_with_the_file_whatever_is_put_acknowledged_and_reopened(tmp_path) -> None:
    """Any interleaving of puts, acknowledgements (the oldest pending, as the link sends, or any
    set), time passing and restarts: the pending and kept counts, the non-telemetry count and what
    peek and kept_since return agree with the rows in the file, and the outbox stays bounded."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    op = st.one_of(
        st.tuples(st.just("put"), st.lists(st.sampled_from(["telemetry", "event", "alarm"]), min_size=1, max_size=30)),
        st.tuples(st.just("ack_oldest"), st.integers(1, 40)),
        st.tuples(st.just("ack_any"), st.lists(st.integers(1, 400), max_size=10)),
        st.tuples(st.just("wait"), st.floats(0.0, 200.0)),
        st.tuples(st.just("keep"), st.sampled_from([0.0, 60.0, 120.0])),
        st.tuples(st.just("reopen"), st.none()),
        st.tuples(st.just("renew"), st.integers(1, 400)),
    )
    runs = iter(range(10**6))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(op, max_size=40))
    def check(ops: list) -> None:
        path = str(tmp_path / ("o-%d.sqlite" % next(runs)))
        box = Outbox(path, "st-1", max_messages=100, other_max=40, keep_max=30)
        now, keep_s = 1000.0, 120.0
        try:
            for kind, arg in ops:
                if kind == "put":
                    box.put_many([(k, {"values": {"i": 1}} if k == "telemetry" else {"kind": "e", "code": "c"}, now)
                                  for k in arg])
                elif kind == "ack_oldest":
                    box.acknowledge(_seqs(box.peek(arg)), keep_s=keep_s, now_ts=now)
                elif kind == "ack_any":
                    box.acknowledge(arg, keep_s=keep_s, now_ts=now)
                elif kind == "wait":
                    now += arg
                elif kind == "keep":
                    keep_s = arg
                elif kind == "renew":
                    box.renew_kept(arg, now)
                else:
                    box.close()
                    box = Outbox(path, "st-1", max_messages=100, other_max=40, keep_max=30)
                mark = box._meta("acked_through")
                rows = [(int(s), str(k)) for s, k in box.db.execute("SELECT seq, kind FROM outbox ORDER BY seq")]
                pending = [s for s, _k in rows if s > mark]
                kept = [s for s, _k in rows if s <= mark]
                assert len(box) == len(pending) and box.kept == len(kept), (kind, len(box), pending, box.kept, kept)
                assert box._other == sum(1 for s, k in rows if s > mark and k != "telemetry")
                assert _seqs(box.peek(1000)) == pending and _seqs(box.kept_since(0.0, 0, 1000)) == kept
                assert len(rows) <= 100 + 30 and box.kept <= 30
                # the acknowledgement times never fall with the seq (the range deletes rely on it)
                times = [float(t) for (t,) in box.db.execute("SELECT acked_ts FROM acks ORDER BY through_seq")]
                assert times == sorted(times), times
        finally:
            box.close()

    check()
