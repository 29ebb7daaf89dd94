"""Equipment records from what a station really sends: the real core StationController is run
through a duty rotation, anti-seize exercises of both circulation pumps and a make-up pump run;
its telemetry (every 10 s, as the firmware samples it) and its events (as the firmware forwards
them) go through the real ingest into each storage backend. Rotations, exercises, starts and run
hours must come out as the station did them, however the messages arrive (in order, late, out of
order, twice)."""

from __future__ import annotations

import random
import sqlite3
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.core.tests.station_rig import Rig
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage import open_storage

WALL0 = 1_790_000_000.0  # the station's wall clock at its control time 0
TELEMETRY_S = 10.0
T0 = 1000.0
T_END = T0 + 3.4 * 3600.0
# the secondary return pressure: a dip below the make-up pump's start point (230 kPa), then
# above its stop point (270 kPa), then normal
DIP = (T0 + 1.5 * 3600.0, T0 + 1.5 * 3600.0 + 600.0)
HIGH_UNTIL = DIP[1] + 60.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _run_station() -> tuple[list[tuple[str, float, dict[str, Any]]], dict[str, Any]]:
    """The uplinks of one station over T0..T_END (kind, ts, body, in the order sent) and what
    the controller itself did (the reference the records are checked against)."""
    rig = Rig({"pumps": {"rotate_after_h": 2.0, "exercise_idle_h": 1.0, "exercise_s": 30.0}}, t0=T0)
    msgs: list[tuple[str, float, dict[str, Any]]] = []
    starts = {"pump1": 0, "pump2": 0, "makeup_pump": 0}
    running = {"pump1": False, "pump2": False, "makeup_pump": False}
    makeup_on_s = 0.0
    next_tel = T0
    while rig.t < T_END:
        rig.t += 1.0
        p = 220.0 if DIP[0] <= rig.t < DIP[1] else (280.0 if DIP[1] <= rig.t < HIGH_UNTIL else 250.0)
        rig.readings["secondary_return_pressure_kpa"] = p
        inputs = rig.inputs()
        out = rig.ctl.step(inputs)
        rig.out = out
        for dev in running:
            on = bool(out[dev + "_run"])
            starts[dev] += 1 if on and not running[dev] else 0
            running[dev] = on
        makeup_on_s += 1.0 if out["makeup_pump_run"] else 0.0
        for ev in out["events"]:  # as firmware.runtime._core_events forwards them
            body = dict(ev)
            body.setdefault("kind", "event")
            msgs.append((codec.UP_EVENT, WALL0 + rig.t, body))
        if rig.t >= next_tel:
            if next_tel == T0:  # the first sample: what ran before it is no start the supervisor saw
                starts = dict.fromkeys(starts, 0)
            next_tel = rig.t + TELEMETRY_S
            msgs.append((codec.UP_TELEMETRY, WALL0 + rig.t, {"values": rig.ctl.telemetry(inputs, out)}))
    events = [body for kind, _ts, body in msgs if kind == codec.UP_EVENT and body["kind"] == "pump"]
    did = {"starts": starts, "run_s": [rig.ctl.pumps.run_s[0], rig.ctl.pumps.run_s[1]], "makeup_on_s": makeup_on_s,
           "events": events}
    return msgs, did


@pytest.fixture(scope="module")
def station_run() -> tuple[list[tuple[str, float, dict[str, Any]]], dict[str, Any]]:
    return _run_station()


async def _service(storage: Any, reopen: bool = False) -> SupervisorService:
    cfg = sup_config.validate({"station": [{"id": "st-a", "name": "A"}]})
    svc = SupervisorService(storage, cfg, wall_clock=Clock(WALL0 + T_END + 60.0))
    await svc.start(open_storage=reopen)  # stop() closes the storage
    return svc


async def _deliver(svc: SupervisorService, sends: list[tuple[int, tuple[str, float, dict[str, Any]]]],
                   every: int = 50) -> None:
    for n, (seq, (kind, ts, body)) in enumerate(sends):
        topic, payload = codec.encode_uplink("st-a", seq, kind, ts, body)
        assert svc.ingest.handle(topic, payload) == "queued"
        if n % every == every - 1:
            await svc.ingest.flush()
    await svc.ingest.flush(force_aggregates=True)


def _by_ts(events: list[dict[str, Any]], reason: str, pump: int) -> list[float]:
    return [WALL0 + e["at_s"] for e in events if e["reason"] == reason and e["pump"] == pump]


async def test_rotation_exercise_starts_and_run_hours_as_the_core_did_them(storage: Any, station_run: Any) -> None:
    msgs, did = station_run
    events = did["events"]
    # the run holds what is counted: one duty rotation (to pump 2), an exercise of each pump
    assert [(e["reason"], e["pump"]) for e in events if e["reason"] in ("rotated", "exercise")] == [
        ("exercise", 2), ("rotated", 2), ("exercise", 1)]
    svc = await _service(storage)
    try:
        await _deliver(svc, list(enumerate(msgs, start=1)))
        recs = {r["device"]: r for r in await svc.fleet.equipment_records("st-a")}
        stored = {r["device"]: r for r in await storage.equipment("st-a")}
    finally:
        await svc.stop()
    for n, dev in ((1, "pump1"), (2, "pump2")):
        rotated, exercised = _by_ts(events, "rotated", n), _by_ts(events, "exercise", n)
        assert recs[dev]["rotations"] == len(rotated), dev
        assert recs[dev]["last_rotation_ts"] == (max(rotated) if rotated else None), dev
        assert recs[dev]["exercises"] == len(exercised) == 1, dev
        assert recs[dev]["last_exercise_ts"] == pytest.approx(max(exercised)), dev
        assert recs[dev]["starts"] == did["starts"][dev], dev
        # run hours: the station's own counter (hours with flow proven) since the first sample
        assert recs[dev]["run_hours"] == pytest.approx(did["run_s"][n - 1] / 3600.0, abs=0.005), dev
        assert recs[dev]["faults"] == 0, dev
        for key in ("rotations", "last_rotation_ts", "exercises", "last_exercise_ts", "starts", "faults"):
            assert stored[dev][key] == recs[dev][key], (dev, key)
    assert recs["pump2"]["rotations"] == 1 and recs["pump1"]["rotations"] == 0
    # the make-up pump: a single pump (the core neither rotates nor exercises it)
    mu = recs["makeup_pump"]
    assert mu["starts"] == did["starts"]["makeup_pump"] == 1
    assert mu["run_hours"] * 3600.0 == pytest.approx(did["makeup_on_s"], abs=TELEMETRY_S)
    assert (mu["rotations"], mu["exercises"], mu["last_rotation_ts"], mu["last_exercise_ts"]) == (0, 0, None, None)
    csv_text = await svc.reporting.export_csv("equipment", station_id="st-a")
    assert "rotations" in csv_text.splitlines()[0] and "exercises" in csv_text.splitlines()[0]


async def test_late_out_of_order_and_repeated_messages_count_once(storage: Any, station_run: Any, tmp_path: Any,
                                                                  request: pytest.FixtureRequest) -> None:
    msgs, _did = station_run
    numbered = list(enumerate(msgs, start=1))
    rnd = random.Random(7)
    # each message arrives up to 5 places late or early, and about one in four twice
    sends = sorted(numbered, key=lambda item: item[0] + rnd.uniform(-5.0, 5.0))
    sends += rnd.sample(numbered, len(numbered) // 4)
    sends.sort(key=lambda item: item[0] + rnd.uniform(-5.0, 5.0))
    svc = await _service(storage)
    try:
        await _deliver(svc, numbered)
        want = {r["device"]: r for r in await svc.fleet.equipment_records("st-a")}
    finally:
        await svc.stop()
    # the same uplinks, shuffled and repeated, into a fresh database of the same backend
    other = await _fresh_like(request, tmp_path)
    svc = await _service(other)
    try:
        await _deliver(svc, sends, every=7)
        got = {r["device"]: r for r in await svc.fleet.equipment_records("st-a")}
    finally:
        await svc.stop()
        await other.close()
    assert set(got) == set(want) == {"pump1", "pump2", "makeup_pump"}
    for dev in want:
        for key in ("starts", "rotations", "last_rotation_ts", "exercises", "last_exercise_ts", "faults"):
            assert got[dev][key] == want[dev][key], (dev, key)
        assert got[dev]["run_hours"] == pytest.approx(want[dev]["run_hours"], abs=1e-6), dev


async def _fresh_like(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """Another empty database of the backend the `storage` fixture is."""
    if request.node.callspec.params["storage"] == "sqlite":
        st = open_storage("sqlite", path=str(tmp_path / "other.db"))
    else:
        st = open_storage("postgres", dsn=await request.getfixturevalue("postgres_server").create_database())
    await st.open()
    return st


def test_tracker_splits_a_late_sample_between_its_neighbours() -> None:
    from heatkeeper.supervisor.equipment import EquipmentTracker

    def feed(order: list[int]) -> dict[str, Any]:
        tr = EquipmentTracker()
        samples = {0: 0.0, 1: 1.0, 2: 1.0, 3: 0.0, 4: 1.0}  # ts 0..40: off, on, on, off, on
        for i in order:
            tr.telemetry("s", 10.0 * i, {"makeup_pump_running": samples[i], "makeup_pump_fault": float(i == 3)})
        return tr.records[("s", "makeup_pump")]

    want = feed([0, 1, 2, 3, 4])
    assert (want["starts"], want["run_s"], want["faults"], want["last_fault_ts"]) == (2, 20.0, 1, 30.0)
    for order in ([0, 2, 1, 3, 4], [0, 4, 3, 2, 1], [0, 3, 1, 4, 2, 2, 3]):
        got = feed(order)
        assert (got["starts"], got["run_s"], got["faults"], got["last_fault_ts"]) == (2, 20.0, 1, 30.0), order


OLD_EQUIPMENT = ("CREATE TABLE equipment (station_id TEXT NOT NULL, device TEXT NOT NULL, run_s REAL NOT NULL, "
                 "starts BIGINT NOT NULL, last_rotation_ts REAL, faults BIGINT NOT NULL, last_fault_ts REAL, "
                 "last_ts REAL, PRIMARY KEY (station_id, device))")
OLD_ROW = "INSERT INTO equipment VALUES ('st-a', 'pump1', 7200.0, 3, NULL, 1, 5.0, 9.0)"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_database_from_before_rotation_counts_is_migrated(backend: str, tmp_path: Any,
                                                                request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        path = str(tmp_path / "old.db")
        with sqlite3.connect(path) as c:
            c.execute(OLD_EQUIPMENT)
            c.execute(OLD_ROW)
        st = open_storage("sqlite", path=path)
    else:
        import asyncpg

        dsn = await request.getfixturevalue("postgres_server").create_database()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(OLD_EQUIPMENT.replace("REAL", "DOUBLE PRECISION"))
            await conn.execute(OLD_ROW)
        finally:
            await conn.close()
        st = open_storage("postgres", dsn=dsn)
    await st.open()
    try:
        (row,) = await st.equipment("st-a")
        assert (row["run_s"], row["starts"], row["faults"]) == (7200.0, 3, 1)
        assert (row["rotations"], row["exercises"], row["last_exercise_ts"]) == (0, 0, None)
        await st.save_equipment([("st-a", "pump1", 7300.0, 4, 11.0, 1, 5.0, 12.0, 1, 2, 10.0)])
        (row,) = await st.equipment("st-a")
        assert (row["rotations"], row["exercises"], row["last_exercise_ts"], row["last_rotation_ts"]) == (1, 2, 10.0, 11.0)
    finally:
        await st.close()


async def test_counting_resumes_exactly_after_a_supervisor_restart(storage: Any, station_run: Any) -> None:
    msgs, _did = station_run
    numbered = list(enumerate(msgs, start=1))
    half = len(numbered) // 2
    svc = await _service(storage)
    try:
        await _deliver(svc, numbered[:half])
    finally:
        await svc.stop()
    svc = await _service(storage, reopen=True)  # a new process: records and the last samples from the database
    try:
        await _deliver(svc, numbered[half:])
        got = {r["device"]: r for r in await svc.fleet.equipment_records("st-a")}
    finally:
        await svc.stop()
    tracker_only = _tracker_of(msgs)
    for dev, rec in tracker_only.items():
        for key in ("starts", "rotations", "last_rotation_ts", "exercises", "last_exercise_ts", "faults"):
            assert got[dev][key] == rec[key], (dev, key)
        assert got[dev]["run_hours"] == round(rec["run_s"] / 3600.0, 3), dev
    assert got["pump2"]["rotations"] == 1 and got["pump1"]["exercises"] == 1


def _tracker_of(msgs: list[tuple[str, float, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The records of one uninterrupted tracker fed every message in order."""
    from heatkeeper.supervisor.equipment import EquipmentTracker

    tr = EquipmentTracker()
    for kind, ts, body in msgs:
        if kind == codec.UP_TELEMETRY:
            tr.telemetry("st-a", ts, body["values"])
        else:
            tr.event("st-a", ts, body)
    return {dev: rec for (_sid, dev), rec in tr.records.items()}


def test_pump_faults_count_once_whether_fault_input_or_no_flow() -> None:
    # the real core: pump 1's fault input trips it (event failed_fault_input and the fault flag
    # in telemetry: one fault), later pump 2 runs without flow (event failed_no_proof, no flag)
    rig = Rig(t0=T0)
    msgs: list[tuple[str, float, dict[str, Any]]] = []

    def run_until(until_s: float) -> None:
        next_tel = rig.t
        while rig.t < until_s:
            rig.t += 1.0
            inputs = rig.inputs()
            out = rig.ctl.step(inputs)
            rig.out = out
            msgs.extend((codec.UP_EVENT, WALL0 + rig.t, dict(ev)) for ev in out["events"])
            if rig.t >= next_tel:
                next_tel = rig.t + TELEMETRY_S
                msgs.append((codec.UP_TELEMETRY, WALL0 + rig.t, {"values": rig.ctl.telemetry(inputs, out)}))

    run_until(T0 + 60.0)
    rig.readings["pump1_fault"] = 1.0
    run_until(T0 + 120.0)
    rig.pump_broken[1] = True
    run_until(T0 + 200.0)
    reasons = [(b["reason"], b["pump"]) for kind, _ts, b in msgs if kind == codec.UP_EVENT and b["kind"] == "pump"]
    assert ("failed_fault_input", 1) in reasons and ("failed_no_proof", 2) in reasons
    recs = _tracker_of(msgs)
    # pump 1: the flag and the event are one fault; pump 2 fails again on each retry while pump 1
    # is out too (all_failed_retry_s), every failure a fault
    no_proof = [ts for kind, ts, b in msgs if kind == codec.UP_EVENT and b.get("reason") == "failed_no_proof"]
    assert recs["pump1"]["faults"] == 1
    assert recs["pump2"]["faults"] == len(no_proof) >= 2 and recs["pump2"]["last_fault_ts"] == max(no_proof)
    assert recs["pump2"]["starts"] == 1  # commanded again on the retry, but it never ran (feedback 0)


def _flag_samples() -> Any:
    from heatkeeper.supervisor.equipment import DEVICES
    from hypothesis import strategies as st

    names = sorted(name for names in DEVICES.values() for name in names if name is not None)
    value = st.one_of(st.sampled_from([0.0, 1.0, 0, 1, None, True]), st.floats(min_value=0.0, max_value=3.0))
    sample = st.dictionaries(st.sampled_from(names + ["supply_temp_c"]), value, max_size=6)
    return st.lists(st.tuples(st.floats(min_value=1.0, max_value=400.0), sample), min_size=1, max_size=25)


def _counts(tracker: Any) -> dict[Any, tuple[Any, ...]]:
    return {key: (r["starts"], round(r["run_s"], 6), r["faults"], r["last_fault_ts"], r["last_ts"])
            for key, r in tracker.records.items()}


def test_tracker_counts_what_consecutive_samples_say_whatever_the_arrival_order() -> None:
    """Random samples of any mix of pump fields (feedback, command, fault, counter, missing,
    null, bool): in time order the records are the steps between consecutive samples, every
    device each time (the definition); arriving in any order after the first they come out
    the same (a late sample splits its neighbours' step)."""
    from heatkeeper.supervisor import equipment
    from heatkeeper.supervisor.equipment import DEVICES, EquipmentTracker
    from hypothesis import given, settings

    @settings(deadline=None)
    @given(_flag_samples(), st_random())
    def check(samples: list[tuple[float, dict[str, Any]]], rnd: random.Random) -> None:
        ordered: list[tuple[float, dict[str, Any]]] = []
        t = 0.0
        for gap, values in samples:  # strictly increasing sample times
            t += gap
            ordered.append((t, values))
        want: dict[tuple[str, str], dict[str, Any]] = {}
        kept = [(ts, equipment._flags(values)) for ts, values in ordered]
        kept = [s for s in kept if s[1]]
        for device in DEVICES:
            if any(any(n in flags for n in DEVICES[device] if n) for _ts, flags in kept):
                rec = want[("s", device)] = equipment.blank()
                rec["last_ts"] = max(ts for ts, flags in kept if any(n in flags for n in DEVICES[device] if n))
        for a, b in zip(kept, kept[1:]):
            for device in DEVICES:
                starts, run_s, faults, fault_ts = equipment._step(device, a, b)
                if starts or run_s or faults:
                    rec = want.setdefault(("s", device), equipment.blank())
                    rec["starts"] += starts
                    rec["run_s"] += run_s
                    rec["faults"] += faults
                    if fault_ts is not None and (rec["last_fault_ts"] is None or fault_ts > rec["last_fault_ts"]):
                        rec["last_fault_ts"] = fault_ts
        in_order = EquipmentTracker()
        for ts, values in ordered:
            in_order.telemetry("s", ts, values)
        expected = {key: (r["starts"], round(r["run_s"], 6), r["faults"], r["last_fault_ts"], r["last_ts"])
                    for key, r in want.items()}
        assert _counts(in_order) == expected
        if not kept:
            return
        first = next(i for i, (ts, values) in enumerate(ordered) if equipment._flags(values))
        rest = ordered[:first] + ordered[first + 1:]
        rnd.shuffle(rest)
        shuffled = EquipmentTracker()
        for ts, values in [ordered[first]] + rest + rest[:3]:  # and a few twice
            shuffled.telemetry("s", ts, values)
        assert _counts(shuffled) == expected

    check()


def st_random() -> Any:
    from hypothesis import strategies as st

    return st.randoms(use_true_random=False)
