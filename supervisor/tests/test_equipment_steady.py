"""The equipment tracker's shortcut for the usual sample (newer than every kept one, the pumps
as the newest said) counts exactly what its general path counts: the same records and the same
window, on generated sequences of samples in any order, with and without run-hour counters,
with gaps, repeats and late samples."""

from __future__ import annotations

from typing import Any

from heatkeeper.supervisor import equipment
from heatkeeper.supervisor.equipment import EquipmentTracker
from hypothesis import given
from hypothesis import strategies as st


class GeneralOnly(EquipmentTracker):
    """Every sample through the general path (the reference)."""

    def telemetry(self, sid: str, ts: float, values: dict[str, Any]) -> None:
        flags = equipment._flags(values)
        if flags:
            self._sample(sid, ts, flags, self._win.get(sid))


# few distinct values, so that consecutive samples often say the same
flag_values = {
    "pump1_running": st.sampled_from([0.0, 1.0, None]), "pump1_run": st.sampled_from([0, 1]),
    "pump1_fault": st.sampled_from([0.0, 1.0]), "pump1_run_h": st.sampled_from([10.0, 10.0005, 9.0, 12.0]),
    "pump2_running": st.sampled_from([0.0, 1.0]), "makeup_pump_run": st.sampled_from([0.0, 1.0]),
}
USUAL = [{"pump1_running": 1.0, "pump1_run_h": 10.0, "supply_c": 60.0}, {"pump1_running": 1.0, "pump2_running": 0.0},
         {"pump1_run": 1, "makeup_pump_run": 1.0}, {"pump2_running": 1.0, "pump2_run_h": 3.0, "pump1_fault": 1.0}]
samples = st.lists(st.tuples(
    st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0, -2.0, -70.0, 301.0, 4000.0]),  # seconds after the sample before
    st.sampled_from(USUAL) | st.fixed_dictionaries({}, optional={**flag_values, "supply_c": st.just(60.0)}),
    st.sampled_from(["st-1", "st-2"])), max_size=40)


def _state(tracker: EquipmentTracker) -> Any:
    return (tracker.rows(), {sid: tracker.tracking(sid) for sid in ("st-1", "st-2")})


@given(samples)
def test_the_usual_sample_counts_as_the_general_path_counts(seq: list[tuple[float, dict[str, Any], str]]) -> None:
    fast, general = EquipmentTracker(), GeneralOnly()
    ts = 1_700_000_000.0
    for step_s, values, sid in seq:
        ts += step_s
        fast.telemetry(sid, ts, dict(values))
        general.telemetry(sid, ts, dict(values))
        assert _state(fast) == _state(general)


def test_steady_running_pumps_take_the_shortcut_and_count_run_time() -> None:
    tracker = EquipmentTracker()
    calls: list[float] = []
    general = tracker._sample

    def counted(sid: str, ts: float, flags: dict[str, float], win: Any) -> None:
        calls.append(ts)
        general(sid, ts, flags, win)

    tracker._sample = counted  # type: ignore[method-assign]
    for i in range(5):
        tracker.telemetry("st-1", 100.0 + i, {"pump1_running": 1.0, "makeup_pump_run": 1.0, "pump2_running": 1.0,
                                               "pump2_run_h": 3.0})
    assert calls == [100.0]  # only the first sample (nothing kept before it) took the general path
    rec = {dev: r for (_sid, dev), r in tracker.records.items()}
    assert rec["pump1"]["run_s"] == 4.0 and rec["makeup_pump"]["run_s"] == 4.0
    assert rec["pump2"]["run_s"] == 0.0 and rec["pump2"]["last_ts"] == 104.0  # the counter did not move


def test_the_window_stays_bounded_on_the_shortcut() -> None:
    tracker = EquipmentTracker()
    for i in range(3 * equipment.WINDOW):
        tracker.telemetry("st-1", 100.0 + i, {"pump1_running": 1.0})
    win = tracker._win["st-1"]
    assert len(win) == len(win.flags) == equipment.WINDOW and win.times[-1] == 100.0 + 3 * equipment.WINDOW - 1


def test_a_restored_window_is_not_counted_from_the_plan_of_the_one_before() -> None:
    """The shortcut's plan belongs to the window it was made for: after restore_tracking replaces
    the window, the next sample is counted against the restored one."""
    fast, general = EquipmentTracker(), GeneralOnly()
    for tracker in (fast, general):
        for i in range(3):
            tracker.telemetry("st-1", 100.0 + i, {"pump1_running": 1.0})
        tracker.restore_tracking("st-1", {"window": [[200.0, {"pump1_running": 0.0}], [201.0, {"pump1_running": 1.0}]]})
        tracker.telemetry("st-1", 202.0, {"pump1_running": 1.0})
        tracker.telemetry("st-1", 203.0, {"pump1_running": 1.0})
    assert _state(fast) == _state(general)
    assert fast._win["st-1"].times == [200.0, 201.0, 202.0, 203.0]


@given(st.dictionaries(st.sampled_from([*equipment._FLAG_ORDER, "supply_c"]),
                       st.one_of(st.none(), st.floats(allow_nan=False), st.integers(0, 1)), max_size=8))
def test_both_raw_flag_readings_agree(values: dict) -> None:
    """The usual sample's raw pump values, compiled (a loop on the dict) and interpreted (C
    builtins): the same tuple (both called whichever way the module was loaded)."""
    assert equipment._raw_flags_by_loop(values) == equipment._raw_flags_by_map(values)
