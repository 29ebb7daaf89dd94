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
