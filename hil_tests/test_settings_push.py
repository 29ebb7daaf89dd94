"""Settings pushed from the supervisor end to end: the real `heatkeeper station` and `heatkeeper
sim` on a real Mosquitto, and the real supervisor (`serve`, SQLite) signing with the station's
key. A profile version is applied (the station acks it, its telemetry shows the version and
the shifted curve), a version the station's own settings make invalid is rejected with the
station's reasons while the running one stays, a rollback is an earlier version assigned, a
restarted station runs the kept version, and a station stopped during an assignment gets it
when it comes back. A staged push across two real stations on the same broker: the pilot's
rejection holds it with the other station untouched, a good version passes the watch and the
hold point and is released to the rest, one action rolls both back, and the pilot's settings
file is shown against the pushed version as the station reported it.

Real time on every side."""

from __future__ import annotations

import asyncio
import os
import shutil
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import tomli_w
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.settings_push import SettingsPushError
from heatkeeper.tools.procs import kill_all
from heatkeeper.tools.sim.rig import Rig
from heatkeeper.tools.testing.mosquitto import mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until


@pytest.fixture
def rig(tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[Rig]:
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    rig = Rig(str(tmp_path / "rig"))
    try:
        rig.start()
        yield rig
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(rig.logs())
        try:
            rig.close()
        finally:
            kill_all()


def supervisor_config(rig: Rig) -> dict[str, Any]:
    assert rig.broker is not None
    # the supervisor's data dir holds the rig's command keys (credentials/<station>.cmdkey)
    return sup_config.validate({
        "supervisor": {"data_dir": rig.workdir},
        "broker": {"embedded": False},
        "mqtt": {"port": rig.broker.port, "client_id": "sup-settings-e2e"},
        "storage": {"batch_interval_s": 0.05},
        "outdoor": {"enabled": False},
        "web": {"enabled": False},
        "station": [{"id": rig.station_id, "city": "arxan"}],
    })


async def test_push_reject_rollback_restart_and_offline_convergence(rig: Rig) -> None:
    sid = rig.station_id
    ready: list[SupervisorService] = []
    sup = asyncio.ensure_future(serve(supervisor_config(rig), on_ready=ready.append))
    try:
        await wait_until(lambda: sup.done() or bool(ready), what="supervisor started")
        if sup.done():
            sup.result()
        svc = ready[0]
        push = svc.settings_push

        def values() -> dict[str, Any]:
            return svc.ingest.state[sid]["values"]

        await wait_until(lambda: values().get("settings_version") == 0 and push._online(sid), timeout_s=60.0,
                         what="the station online, on its own settings")
        base_c = values()["curve_c"]

        async def fate(version: int, state: str) -> bool:
            a = await svc.storage.assignment(sid)
            return a is not None and a["version"] == version and a["state"] == state

        # refused on the supervisor, every problem listed, nothing stored or sent
        with pytest.raises(SettingsPushError) as bad:
            await push.save_version("arxan", {"curve": {"shift_k": 99.0, "colour": 1}}, "admin")
        assert len(bad.value.problems) == 2 and await svc.storage.settings_versions() == []

        v1 = (await push.save_version("arxan", {"curve": {"shift_k": 3.0}}, "admin", "warmer"))["version"]
        await push.assign(v1, push.resolve(city="arxan"), "admin")
        await wait_until(lambda: fate(v1, "applied"), timeout_s=30.0, what="v1 applied")
        await wait_until(lambda: values().get("settings_version") == v1, timeout_s=30.0, what="v1 in telemetry")
        assert values()["curve_c"] == pytest.approx(base_c + 3.0, abs=0.5)
        assert (await svc.storage.assignment(sid))["running_version"] == v1

        # valid section by section, invalid against the station's own interlock: the station says why
        v2 = (await push.save_version("arxan", {"commands": {"supply_max_c": 100.0}}, "admin"))["version"]
        await push.assign(v2, [sid], "admin")
        await wait_until(lambda: fate(v2, "rejected"), timeout_s=30.0, what="v2 rejected by the station")
        a = await svc.storage.assignment(sid)
        assert a["reason"] == "invalid_settings" and "interlocks.overtemp_c=95.0" in a["detail"]
        assert a["running_version"] == v1
        await asyncio.sleep(2.0)
        assert values()["settings_version"] == v1

        # a third version, then roll back to the first
        v3 = (await push.save_version("arxan", {"curve": {"shift_k": 5.0}}, "admin"))["version"]
        assert (await push.version(v3))["diff"] == [{"key": "commands.supply_max_c", "old": 100.0, "new": None},
                                                    {"key": "curve.shift_k", "old": None, "new": 5.0}]
        await push.assign(v3, [sid], "admin")
        await wait_until(lambda: values().get("settings_version") == v3, timeout_s=30.0, what="v3 in telemetry")
        await push.assign(v1, [sid], "admin")
        await wait_until(lambda: fate(v1, "applied"), timeout_s=30.0, what="rolled back to v1")
        await wait_until(lambda: values().get("settings_version") == v1, timeout_s=30.0, what="v1 again")

        # a power cut: the restarted station runs the kept version
        before = len(rig.telemetry())
        rig.restart_station()

        def after_restart() -> list[dict[str, Any]]:
            return [m["body"]["values"] for m in rig.telemetry()[before:]]

        await wait_until(lambda: len(after_restart()) >= 2, timeout_s=60.0, what="telemetry after the restart")
        assert [v.get("settings_version") for v in after_restart()] == [v1] * len(after_restart())
        assert rig.recorder is not None
        assert [e for e in rig.recorder.uplinks("event") if e["body"].get("kind") == "pushed_settings_loaded"]

        # stopped during the assignment: pending, then applied once it is back
        assert rig.station is not None
        rig.station.stop()
        await wait_until(lambda: not push._online(sid), timeout_s=30.0, what="the station offline")
        v4 = (await push.save_version("arxan", {"curve": {"shift_k": 2.0}}, "admin"))["version"]
        await push.assign(v4, [sid], "admin")
        await asyncio.sleep(6.0)  # a convergence pass or more
        assert await fate(v4, "pending")
        rig.start_station()
        await wait_until(lambda: fate(v4, "applied"), timeout_s=60.0, what="v4 applied after the return")
        await wait_until(lambda: values().get("settings_version") == v4, timeout_s=30.0, what="v4 in telemetry")
        actions = {r["action"] for r in await svc.storage.audit_rows(500, None)}
        assert {"settings:save", "settings:assign", "settings:fate", "command:apply_settings"} <= actions
    finally:
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)


def second_station(rig: Rig, workdir: str, sid: str) -> Rig:
    """Another real station and simulator on the first rig's broker (its key in the supervisor's
    credentials, as the installer puts it)."""
    assert rig.broker is not None
    other = Rig(workdir, station_overrides={"station": {"id": sid}, "mqtt": {"port": rig.broker.port}})
    with open(other.sim_config_path, "rb") as fh:
        sim = tomllib.load(fh)
    sim["mqtt"]["port"] = rig.broker.port
    with open(other.sim_config_path, "wb") as fh:
        tomli_w.dump(sim, fh)
    key = other.command_keys.path(other.station_id)  # named after the template's id, used by `sid`
    other.broker, other.station_id = None, sid
    shutil.copyfile(key, os.path.join(rig.workdir, "credentials", sid + ".cmdkey"))
    return other.start()


async def test_staged_rollout_pilot_rejection_release_and_rollback(rig: Rig, tmp_path: Any) -> None:
    pilot = rig.station_id
    other = second_station(rig, str(tmp_path / "rig2"), "hil-02")
    cfg = supervisor_config(rig)
    cfg["stations"] = [{**cfg["stations"][0], "pilot": True},
                       {**cfg["stations"][0], "id": "hil-02", "name": "hil-02", "pilot": False}]
    ready: list[SupervisorService] = []
    sup = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    try:
        await wait_until(lambda: sup.done() or bool(ready), what="supervisor started")
        if sup.done():
            sup.result()
        svc = ready[0]
        push, ro = svc.settings_push, svc.rollouts

        def reported(sid: str) -> Any:
            return svc.ingest.state.get(sid, {}).get("values", {}).get("settings_version")

        await wait_until(lambda: all(reported(s) == 0 and push._online(s) for s in (pilot, "hil-02")),
                         timeout_s=60.0, what="both stations online, on their own settings")

        async def state(rid: int, want: str) -> bool:
            return (await ro.get(rid))["state"] == want

        # the pilot rejects a version its own interlock makes invalid: held, the other station untouched
        bad = (await push.save_version("arxan", {"commands": {"supply_max_c": 100.0}}, "admin"))["version"]
        rid = (await ro.push(bad, ro.resolve(city="arxan"), "admin", watch_s=2.0))["rollout"]["rollout_id"]
        await wait_until(lambda: state(rid, "halted"), timeout_s=30.0, what="the push held by the pilot's rejection")
        assert "interlocks.overtemp_c=95.0" in (await ro.get(rid))["reason"]
        assert await svc.storage.assignment("hil-02") is None
        with pytest.raises(SettingsPushError):
            await ro.release(rid, "admin")

        # a good version: the pilot, the hold point after the watch, then the rest on release
        v1 = (await push.save_version("arxan", {"curve": {"shift_k": 3.0}}, "admin"))["version"]
        rid = (await ro.push(v1, ro.resolve(city="arxan"), "admin", watch_s=2.0))["rollout"]["rollout_id"]
        await wait_until(lambda: state(rid, "hold"), timeout_s=30.0, what="the pilot ran v1 through the watch")
        await wait_until(lambda: reported(pilot) == v1, timeout_s=30.0, what="v1 in the pilot's telemetry")
        assert reported("hil-02") == 0 and (await ro.progress(rid))["progress"][1]["fate"] == "waiting"
        # the pilot's settings file against the pushed version, as the station reported it
        view = await push.local_settings(pilot)
        shift = [r for r in view["rows"] if r["key"] == "curve.shift_k"]
        assert view["sha256"] and view["version"] == v1 and shift and shift[0]["pushed"] == 3.0, view
        assert shift[0]["differs"] == (shift[0]["local"] != 3.0)
        assert any(r["in_file"] and r["pushed"] is None for r in view["rows"])  # the file's own keys too
        await ro.release(rid, "admin")
        await wait_until(lambda: reported("hil-02") == v1, timeout_s=30.0, what="v1 on the second station")
        fates = {r["station_id"]: r["fate"] for r in (await ro.progress(rid))["progress"]}
        assert fates == {pilot: "applied", "hil-02": "applied"}

        # a third version to both at once, then one action rolls both back to v1
        v2 = (await push.save_version("arxan", {"curve": {"shift_k": 5.0}}, "admin"))["version"]
        rid2 = (await ro.push(v2, [pilot, "hil-02"], "admin", pilots=[]))["rollout"]["rollout_id"]
        await wait_until(lambda: reported(pilot) == v2 and reported("hil-02") == v2, timeout_s=30.0,
                         what="v2 on both")
        await ro.rollback(rid2, v1, "admin")
        await wait_until(lambda: reported(pilot) == v1 and reported("hil-02") == v1, timeout_s=30.0,
                         what="both rolled back to v1")
        actions = {r["action"] for r in await svc.storage.audit_rows(500, None)}
        assert {"settings:rollout", "settings:release", "settings:rollback", "settings:fate"} <= actions
    finally:
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
        other.close()
