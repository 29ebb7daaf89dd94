"""Storage faults injected into the real `heatkeeper station` process (real Mosquitto): a
damaged trend ring or outbox, a lost outbox, an unusable data directory, a journal on a full
disk. The station must keep controlling and reporting in every case, and its sequence numbers
must never fall back to ones the supervisor already holds."""

from __future__ import annotations

import asyncio
import glob
import os
import sqlite3

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.core import codec  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until  # noqa: E402

from .test_station_process import station_run  # noqa: E402


def alarms(listener: Listener, code: str) -> list[dict]:
    return [m["body"] for m in listener.uplinks("alarm") if m["body"].get("code") == code]


def events(listener: Listener, kind: str) -> list[dict]:
    return [m["body"] for m in listener.uplinks("event") if m["body"].get("kind") == kind]


def controlling(listener: Listener, after: int) -> bool:
    """At least three telemetry records after message index `after`, each from a control cycle
    that stepped the controller (a supply setpoint computed, a cycle time measured)."""
    fresh = [codec.decode_uplink(t, p) for t, p, _r in listener.messages[after:] if t.endswith("/up/telemetry")]
    return len(fresh) >= 3 and all(m["body"]["values"].get("supply_setpoint_c") is not None and
                                   m["body"]["values"].get("cycle_time_ms") is not None for m in fresh)


def max_seq(listener: Listener) -> int:
    return max(m["seq"] for m in listener.uplinks())


@pytest.mark.parametrize("name", ["trends.sqlite", "outbox.sqlite"])
async def test_damaged_store_is_set_aside_and_control_goes_on(tmp_path, mosquitto, name) -> None:
    garbage = os.urandom(8192)
    async with station_run(tmp_path, mosquitto) as run:
        listener = run.listener
        await wait_until(lambda: os.path.exists(os.path.join(run.data_dir, "state.a.json")), what="a first snapshot")
        run.process.stop()  # a clean stop, then the card goes bad while the box is off
        before = max_seq(listener)
        store = os.path.join(run.data_dir, name)
        for extra in ("-wal", "-shm"):
            if os.path.exists(store + extra):
                os.unlink(store + extra)
        with open(store, "wb") as fh:
            fh.write(garbage)
        mark = len(listener.messages)
        run.restart()
        await wait_until(lambda: alarms(listener, "storage_corrupt"), timeout_s=30, what="storage_corrupt alarm")
        await wait_until(lambda: controlling(listener, mark), timeout_s=30, what="control cycles after the restart")
        assert run.process.proc.poll() is None, "the station died on a damaged %s" % name
        alarm = alarms(listener, "storage_corrupt")[-1]
        assert alarm["state"] == "active" and name in alarm["text"], alarm
        set_aside = events(listener, "storage_file_set_aside")
        assert set_aside and set_aside[-1]["file"] == name and set_aside[-1]["memory_only"] is False, set_aside
        # the damaged file is kept, byte for byte, for a post-mortem; a fresh one is in use
        kept = glob.glob(store + ".corrupt-*")
        assert len(kept) == 1 and open(kept[0], "rb").read() == garbage, kept
        with sqlite3.connect(store) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # nothing the station sends after the restart reuses a seq the supervisor already holds
        # for other content (what the outbox kept for a resend comes again byte for byte)
        held = dict(listener.raw_uplinks()[:sum(1 for t, _p, _r in listener.messages[:mark] if "/up/" in t)])
        after = [(codec.decode_uplink(t, p)["seq"], p) for t, p, _r in listener.messages[mark:] if "/up/" in t]
        assert after and max(seq for seq, _p in after) > before
        reused = [seq for seq, p in after if seq <= before and held.get(seq) != p]
        assert not reused, (before, reused[:5])


async def test_outbox_lost_in_a_power_cut_seqs_continue_above_the_old_ones(tmp_path, mosquitto) -> None:
    async with station_run(tmp_path, mosquitto) as run:
        listener = run.listener
        await wait_until(lambda: os.path.exists(os.path.join(run.data_dir, "state.a.json")), what="a first snapshot")
        await wait_until(lambda: len(listener.uplinks("telemetry")) >= 4, timeout_s=30, what="more telemetry")
        run.process.kill()  # power cut: the state file is older than the last seq sent
        await asyncio.sleep(0.3)
        before = max_seq(listener)
        for path in glob.glob(os.path.join(run.data_dir, "outbox.sqlite*")):
            os.unlink(path)  # the outbox is gone (deleted by hand, a swapped card, ...)
        mark = len(listener.messages)
        run.restart()
        await wait_until(lambda: controlling(listener, mark), timeout_s=30, what="telemetry after the restart")
        after = [codec.decode_uplink(t, p) for t, p, _r in listener.messages[mark:] if "/up/" in t]
        seqs = [m["seq"] for m in after]
        assert min(seqs) > before, "seq restarted at %d, the supervisor already holds up to %d" % (min(seqs), before)
        restored = [m["body"] for m in after if m["kind"] == "event" and m["body"].get("kind") == "outbox_seq_restored"]
        assert restored and restored[0]["reason"] == "outbox_recreated" and restored[0]["next_seq"] > before, restored
        # and the new run's seqs stay consecutive from there
        assert sorted(seqs) == list(range(min(seqs), min(seqs) + len(seqs))), sorted(seqs)[:10]


async def test_unusable_data_directory_the_station_runs_in_memory(tmp_path, mosquitto) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"a file where the data directory should be\n")
    async with station_run(tmp_path, mosquitto, station={"data_dir": str(blocker)}) as run:
        listener = run.listener
        mark = len(listener.messages)
        await wait_until(lambda: alarms(listener, "storage_memory_only"), timeout_s=30, what="storage_memory_only alarm")
        await wait_until(lambda: controlling(listener, mark), timeout_s=30, what="control cycles in memory")
        assert alarms(listener, "storage_memory_only")[0]["state"] == "active"
        assert {e["store"] for e in events(listener, "storage_memory_only")} >= {"outbox", "trend store", "journal"}
        assert listener.uplinks("telemetry")[-1]["body"]["values"]["storage_memory_only"] == 1


async def test_journal_on_a_full_disk_never_duplicates_outbox_rows(tmp_path, mosquitto) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.symlink("/dev/full", data_dir / "events.jsonl")  # every journal write: ENOSPC
    async with station_run(tmp_path, mosquitto) as run:
        listener = run.listener
        await wait_until(lambda: len(listener.uplinks("telemetry")) >= 5, timeout_s=30, what="telemetry")
        await wait_until(lambda: (listener.uplinks("telemetry")[-1]["body"]["values"].get("journal_errors") or 0) > 0,
                         what="journal errors counted")
        assert len(events(listener, "station_started")) == 1, "the start event was queued again and again"
        assert len(events(listener, "journal_failed")) == 1, "one event per episode"
        bodies = [repr(sorted(m["body"].items())) for m in listener.uplinks() if m["kind"] != "telemetry"]
        assert len(bodies) == len(set(bodies)), "a committed message was put into the outbox twice"
        seqs = [m["seq"] for m in listener.uplinks()]
        assert len(seqs) == len(set(seqs))
