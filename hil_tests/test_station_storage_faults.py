"""Storage faults on the real station against the simulated plant: after a power cut that
leaves random bytes in both SQLite stores, the station still drives the plant over Modbus,
reports the plant's values, raises `storage_corrupt`, and never reuses a sequence number."""

from __future__ import annotations

import glob
import os

from heatkeeper.tools.sim.rig import wait_for

SCALE = 10.0


def test_random_bytes_in_both_stores_the_station_drives_the_plant_on(make_rig) -> None:
    rig = make_rig(time_scale=SCALE, station_overrides={"station": {"snapshot_interval_s": 5.0}})
    rig.wait_telemetry(lambda v: v.get("secondary_supply_temp_c") is not None, 60, "first telemetry")
    data_dir = rig.station_config["station"]["data_dir"]
    wait_for(lambda: os.path.exists(os.path.join(data_dir, "state.a.json")), 60, "a first snapshot")
    rig.kill_station()
    seq_before = rig.last_seq()
    for name in ("outbox.sqlite", "trends.sqlite"):
        for path in glob.glob(os.path.join(data_dir, name + "*")):
            os.unlink(path)
        with open(os.path.join(data_dir, name), "wb") as fh:
            fh.write(os.urandom(16384))
    writes_before = rig.sim_cmd("status")["stats"]["writes"]
    rig.start_station()
    wait_for(lambda: "storage_corrupt" in rig.alarm_codes(), 60, "the storage_corrupt alarm")
    # control goes on: the station writes its commands to the plant's devices again ...
    wait_for(lambda: rig.sim_cmd("status")["stats"]["writes"] > writes_before, 60, "actuator writes after the restart")
    # ... and reports the plant's values, with sequence numbers above every one sent before
    values = rig.wait_telemetry(lambda v: v.get("secondary_supply_temp_c") is not None, 60,
                                "telemetry from the plant after the restart", after_seq=seq_before)
    assert values.get("supply_setpoint_c") is not None
    assert rig.station is not None and rig.station.alive()
    kept = sorted(glob.glob(os.path.join(data_dir, "*.corrupt-*")))
    assert [os.path.basename(p).split(".corrupt-")[0] for p in kept] == ["outbox.sqlite", "trends.sqlite"], kept
    # the outbox was lost, so its seqs continue from the state file plus a margin (a gap, never a reuse)
    seen: dict[int, object] = {}
    for msg in rig.recorder.uplinks(station=rig.station_id, copies=True):
        assert seen.setdefault(int(msg["seq"]), msg["body"]) == msg["body"], "seq %d reused" % msg["seq"]
    restored = [m["body"] for m in rig.recorder.uplinks("event", rig.station_id)
                if m["body"].get("kind") == "outbox_seq_restored"]
    assert restored and restored[0]["next_seq"] > seq_before, restored
