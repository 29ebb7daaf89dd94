"""The weather forecast end to end: the real supervisor (`serve`, its forecast task reading an
Open-Meteo-shaped file) and the real `heatkeeper station` process on a real Mosquitto. The
station reports the forecast's horizon in its telemetry, refuses garbage on the forecast topic
(keeping what it has) and keeps the forecast through a power cut with the supervisor gone and
no retained message left at the broker."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.tests.test_forecast import open_meteo
from heatkeeper.tools.sim.rig import wait_for


class SupervisorThread:
    """`serve(cfg)` in its own event loop on a thread (the rig's helpers are synchronous)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.ready: list[SupervisorService] = []
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Future[int] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = asyncio.ensure_future(serve(self.cfg, on_ready=self.ready.append), loop=self.loop)
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        finally:
            left = asyncio.all_tasks(self.loop)
            for task in left:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            self.loop.close()

    def start(self) -> SupervisorThread:
        self.thread.start()
        wait_for(lambda: bool(self.ready) and self.ready[0].link.connected(), 30, "the supervisor connected")
        return self

    def stop(self) -> None:
        if self.thread.is_alive() and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)


def test_forecast_reaches_the_station_and_survives_a_restart(make_rig, tmp_path) -> None:
    rig = make_rig(station_overrides={"station": {"telemetry_interval_s": 2.0}})
    first = rig.wait_telemetry(lambda v: "forecast_horizon_h" in v, 60, "first telemetry")
    assert first["forecast_horizon_h"] is None and first["forecast_age_s"] is None  # no forecast yet
    hour = time.time() // 3600 * 3600
    source = tmp_path / "arxan.json"
    source.write_text(json.dumps(open_meteo(hours=74, start=hour - 2 * 3600.0)))  # 71 h ahead of this hour
    assert rig.broker is not None
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": False},
        "mqtt": {"port": rig.broker.port, "protocol": "5"},
        "web": {"enabled": False},
        "forecast": {"cities": {"arxan": str(source)}},
        "station": [{"id": rig.station_id, "city": "arxan"}],
    })
    sup = SupervisorThread(cfg).start()
    try:
        values = rig.wait_telemetry(lambda v: (v.get("forecast_horizon_h") or 0) > 60, 60, "the forecast horizon")
        assert 68.0 < values["forecast_horizon_h"] <= 71.0, values
        assert 0.0 <= values["forecast_age_s"] < 60.0, values
        status = sup.ready[0].forecast.status()[0]
        assert status["ok"] and status["points"] == 72 and status["stations"] == 1
        retained = rig.recorder.topics("/down/forecast") if rig.recorder else []
        assert retained and codec.decode_forecast(codec.forecast_topic(rig.station_id), retained[-1])["temp_c"]
    finally:
        sup.stop()
    # garbage on the forecast topic (an empty retained payload also clears the broker's copy):
    # refused with a reason, the forecast held stays
    assert rig.recorder is not None
    _publish_retained_empty(rig)
    wait_for(lambda: any(m["body"].get("kind") == "forecast_rejected" for m in rig.recorder.uplinks("event", rig.station_id)),
             30, "the forecast_rejected event")
    seq = rig.last_seq()
    rig.wait_telemetry(lambda v: (v.get("forecast_horizon_h") or 0) > 60, 30, "the horizon after garbage", after_seq=seq)
    # power cut; no supervisor, nothing retained: the station still has its forecast
    rig.restart_station()
    seq = rig.last_seq()
    values = rig.wait_telemetry(lambda v: "forecast_horizon_h" in v, 90, "telemetry after the restart", after_seq=seq)
    assert values["forecast_horizon_h"] is not None and values["forecast_horizon_h"] > 60, values


def _publish_retained_empty(rig: Any) -> None:
    """An empty retained message on the station's forecast topic, from a client of its own."""
    import aiomqtt

    async def pub() -> None:
        async with aiomqtt.Client("127.0.0.1", rig.broker.port, identifier="hil-forecast-clear") as client:
            await client.publish(codec.forecast_topic(rig.station_id), b"", qos=1, retain=True)

    asyncio.run(pub())
