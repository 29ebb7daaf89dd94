"""The supervisor's own alarms end to end: the real `heatkeeper station` and `heatkeeper sim`
(with its room collectors) on a real Mosquitto, and the real supervisor (`serve`) on SQLite
beside them. The plant starts with its flats at 15 degC, so the collectors' readings put every
building group below the 18 degC floor and `comfort_below_floor` is raised after its on-delay;
the station is then killed (a power cut) and `station_offline` is raised once nothing came for
`offline_after_s`, and cleared when the restarted station reports again.

Real time on every side (the offline rule counts the supervisor's wall clock)."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
import tomli_w
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.plant import params as plant_params
from heatkeeper.tools.procs import kill_all
from heatkeeper.tools.sim.rig import Rig
from heatkeeper.tools.testing.mosquitto import mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until

OFFLINE_AFTER_S = 30.0  # the smallest the setting allows
FLOOR_DELAY_S = 5.0


@pytest.fixture
def cold_rig(tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A started rig whose flats start at 15 degC and whose collectors report every 5 s."""
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    rig = Rig(str(tmp_path / "rig"), plant={"initial_room_c": 15.0})
    with open(rig.sim_config_path, "rb") as fh:
        sim = tomllib.load(fh)
    sim["sim"]["collector_interval_s"] = 5.0
    with open(rig.sim_config_path, "wb") as fh:
        tomli_w.dump(sim, fh)
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


def supervisor_config(rig: Rig, data_dir: str) -> dict[str, Any]:
    collectors = [{"id": "rc-%02d-%d" % (j + 1, k + 1), "station": rig.station_id, "group": group["name"]}
                  for j, group in enumerate(plant_params.GROUPS)
                  for k in range(len(plant_params.COLLECTOR_OFFSETS_K))]
    assert rig.broker is not None
    return sup_config.validate({
        "supervisor": {"data_dir": data_dir},
        "broker": {"embedded": False},
        "mqtt": {"port": rig.broker.port, "client_id": "sup-alarms-e2e"},
        "storage": {"batch_interval_s": 0.05},
        "outdoor": {"enabled": False},
        "web": {"enabled": False},
        "fleet_alarms": {"interval_s": 1.0, "offline_after_s": OFFLINE_AFTER_S, "floor_delay_s": FLOOR_DELAY_S},
        "station": [{"id": rig.station_id, "city": "arxan"}],
        "collector": collectors,
    })


async def test_offline_and_below_floor_alarms_from_a_real_station(cold_rig: Rig, tmp_path: Any) -> None:
    rig = cold_rig
    sid = rig.station_id
    ready: list[SupervisorService] = []
    sup = asyncio.ensure_future(serve(supervisor_config(rig, str(tmp_path / "sup")), on_ready=ready.append))
    try:
        await wait_until(lambda: sup.done() or bool(ready), what="supervisor started")
        if sup.done():
            sup.result()
        svc = ready[0]

        async def active() -> dict[str, dict[str, Any]]:
            return {r["code"]: r for r in await svc.storage.alarm_rows(sid, True)}

        await wait_until(lambda: svc.ingest.state[sid]["last_seen_ts"] is not None, timeout_s=60.0,
                         what="the station's first uplink stored")

        async def below_floor() -> bool:
            return "comfort_below_floor" in await active()

        await wait_until(below_floor, timeout_s=60.0, what="comfort_below_floor raised")
        row = (await active())["comfort_below_floor"]
        assert row["limit"] == 18.0 and row["value"] is not None and row["value"] < 16.0
        assert row["severity"] == "major" and "below the 18 degC floor" in row["text"]
        assert "station_offline" not in await active()

        rig.kill_station()
        killed = svc.clock()

        async def offline() -> bool:
            return "station_offline" in await active()

        await wait_until(offline, timeout_s=OFFLINE_AFTER_S + 30.0, what="station_offline raised")
        row = (await active())["station_offline"]
        last_uplink = svc.ingest.state[sid]["last_seen_ts"]
        assert last_uplink <= killed + 1.0  # nothing came after the power cut
        assert row["since_ts"] - last_uplink > OFFLINE_AFTER_S  # not before it was silent that long
        assert row["limit"] == OFFLINE_AFTER_S and row["value"] > OFFLINE_AFTER_S

        rig.start_station()

        async def back() -> bool:
            return "station_offline" not in await active()

        await wait_until(back, timeout_s=90.0, what="station_offline cleared by the restarted station")
        log = [(r["code"], r["active"]) for r in await svc.storage.alarm_history(sid, 50)]
        assert ("station_offline", False) in log and ("station_offline", True) in log
        cleared = next(r for r in await svc.storage.alarm_history(sid, 50) if r["code"] == "station_offline")
        assert cleared["raised_ts"] is not None and cleared["ts"] > cleared["raised_ts"]
    finally:
        sup.cancel()
        await asyncio.gather(sup, return_exceptions=True)
