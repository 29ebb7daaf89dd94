"""State file (two checksummed generations) and the event journal."""

from __future__ import annotations

import os

from heatkeeper.firmware.persistence import Journal, StateStore


def test_state_roundtrip_and_generations(tmp_path) -> None:
    store = StateStore(str(tmp_path))
    assert store.load() == (None, [])
    store.save({"n": 1})
    store.save({"n": 2})
    data, events = StateStore(str(tmp_path)).load()
    assert data == {"n": 2} and events == []
    assert sorted(os.listdir(tmp_path)) == ["state.a.json", "state.b.json"]


def test_corrupt_newest_falls_back_to_previous_with_event(tmp_path) -> None:
    store = StateStore(str(tmp_path))
    store.save({"n": 1})
    store.save({"n": 2})
    newest = store.slots[store._newest_slot]
    with open(newest, "r+b") as fh:  # a torn write: half the file
        size = os.path.getsize(newest)
        fh.truncate(size // 2)
    data, events = StateStore(str(tmp_path)).load()
    assert data == {"n": 1}
    assert events[0]["kind"] == "state_fallback"


def test_checksum_catches_a_flipped_value(tmp_path) -> None:
    store = StateStore(str(tmp_path))
    store.save({"n": 1})
    store.save({"setpoint_c": 60.0})
    newest = store.slots[store._newest_slot]
    text = open(newest).read().replace("60.0", "99.0")
    open(newest, "w").write(text)
    data, events = StateStore(str(tmp_path)).load()
    assert data == {"n": 1} and "checksum" in events[0]["detail"]


def test_both_corrupt_is_a_fresh_start_never_a_crash(tmp_path) -> None:
    for name in ("state.a.json", "state.b.json"):
        (tmp_path / name).write_bytes(b"\x00garbage{")
    data, events = StateStore(str(tmp_path)).load()
    assert data is None
    assert [e["kind"] for e in events][-1] == "state_fresh_start"
    store = StateStore(str(tmp_path))
    store.load()
    store.save({"n": 3})  # and it can write again
    assert StateStore(str(tmp_path)).load()[0] == {"n": 3}


def test_journal_rotates_and_keeps_order(tmp_path) -> None:
    path = str(tmp_path / "events.jsonl")
    journal = Journal(path, max_bytes=10000, files=3)
    for i in range(600):
        journal.append({"i": i, "pad": "x" * 40})
    journal.close()
    records = Journal(path, max_bytes=10000, files=3).read_all()
    numbers = [r["i"] for r in records]
    assert numbers == sorted(numbers) and numbers[-1] == 599
    assert os.path.exists(path + ".1") and os.path.exists(path + ".2") and not os.path.exists(path + ".3")  # 3 files in all
    with open(path, "ab") as fh:
        fh.write(b'{"i": 600, "torn')  # a power cut mid-line
    assert Journal(path, max_bytes=10000, files=3).read_all()[-1]["i"] == 599
