"""Block coalescing and wire timing (pure)."""

from __future__ import annotations

import pytest
from heatkeeper.core.device_profiles import PROFILES, block_of
from heatkeeper.firmware.modbus.plan import plan_reads, plan_writes
from heatkeeper.firmware.modbus.timing import frame_bytes, t35_s, wire_minimum_s


def test_rtd_module_reads_in_one_block() -> None:
    points = ["temp_1", "temp_2", "temp_3", "temp_4", "temp_5", "pressure_1", "pressure_2", "pressure_3", "pressure_4"]
    blocks = plan_reads("io", "generic_rtd8_ai4", points)
    assert [(b.fc, b.address, b.count) for b in blocks] == [(4, 0, 12)]
    uncoalesced = plan_reads("io", "generic_rtd8_ai4", points, coalesce=False)
    assert len(uncoalesced) == 9


def test_shared_status_word_is_read_once_and_reads_stay_inside_documented_blocks() -> None:
    # STW (50200) and MAV (50210) are 10 registers apart, within max_gap, but 50201-50209 are not
    # documented: a drive may answer the 11-register read with exception 2, so they are two reads.
    blocks = plan_reads("d", "danfoss_fc", ["status_running", "status_trip", "actual_speed", "alarm_word"])
    assert [(b.address, b.count, b.priority) for b in blocks] == [(16899, 2, "low"), (50199, 1, "high"),
                                                                  (50209, 1, "high")]
    assert sorted(p[0] for p in blocks[1].points) == ["status_running", "status_trip"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_no_read_of_any_profile_crosses_a_block(profile: str) -> None:
    for blk in plan_reads("d", profile, sorted(PROFILES[profile]["points"])):
        assert block_of(profile, blk.fc, blk.address, blk.count) >= 0, (profile, blk)


def test_points_of_one_block_still_coalesce() -> None:
    blocks = plan_reads("v", "belimo_mod", ["setpoint", "relative_position", "cannot_move", "max_limit"])
    assert [(b.address, b.count) for b in blocks] == [(0, 5), (104, 3)]


def test_block_size_limit_splits() -> None:
    blocks = plan_reads("io", "generic_rtd8_ai4", ["temp_1", "temp_8", "pressure_4"], max_registers=8)
    assert [(b.address, b.count) for b in blocks] == [(0, 8), (11, 1)]
    assert plan_reads("io", "generic_rtd8_ai4", ["temp_1", "temp_8"], max_gap=0)[1].address == 7


def test_writes_merge_only_contiguous_runs() -> None:
    assert plan_writes([(1, [5]), (0, [4]), (3, [9])]) == [(0, [4, 5]), (3, [9])]


def test_timing_matches_the_spec_table() -> None:
    assert t35_s(9600) == pytest.approx(0.004010, abs=1e-6)
    assert t35_s(38400) == 0.00175
    assert frame_bytes(3, 10) == (8, 25)
    # stack.md section 2: FC3x10 at 19200 -> 43.6 transactions/s
    assert 1.0 / wire_minimum_s([(3, 10)], 19200) == pytest.approx(43.6, abs=0.1)
    with pytest.raises(ValueError):
        frame_bytes(5, 1)
