"""The trends API names an accelerated station's clock (its last start and time scale), so the
page can draw it on simulated time; a station in real time has none."""

from __future__ import annotations

import json
import time

from aiohttp.test_utils import TestClient
from heatkeeper.core import codec
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.web.api import station_clock

from .conftest import login


def started(scale: object) -> dict[str, object]:
    return {"kind": "station_started", "reason": "start", "pid": 1, "time_scale": scale}


def test_the_last_start_decides() -> None:
    assert station_clock([]) is None
    assert station_clock([(10.0, 1, started(60.0))]) == {"wall_ts": 10.0, "scale": 60.0}
    # restarted in real time: the earlier accelerated run no longer applies
    assert station_clock([(10.0, 1, started(60.0)), (20.0, 2, {"kind": "pump_rotated"}), (30.0, 3, started(1.0))]) is None
    assert station_clock([(10.0, 1, started(1.0)), (30.0, 3, started(10))]) == {"wall_ts": 30.0, "scale": 10.0}
    for bad in (True, "60", -5.0, 0, None):
        assert station_clock([(10.0, 1, started(bad))]) is None, bad


async def test_trends_api_reports_the_clock(client: TestClient, service: SupervisorService) -> None:
    now = time.time()
    for sid, scale in (("st-a", 60.0), ("st-b", 1.0)):
        assert service.ingest.handle(*codec.encode_uplink(sid, 1, codec.UP_EVENT, now - 100, started(scale))) == "queued"
        assert service.ingest.handle(*codec.encode_uplink(sid, 2, codec.UP_TELEMETRY, now - 50,
                                                          {"values": {"outdoor_temp_c": -5.0}})) == "queued"
    await service.ingest.flush()
    await login(client, "vic")
    q = "fields=outdoor_temp_c&t0=%d&t1=%d" % (now - 600, now + 1)
    a = json.loads(await (await client.get("/api/stations/st-a/trends?" + q)).text())
    assert a["clock"] == {"wall_ts": now - 100, "scale": 60.0}
    assert abs(a["data"]["outdoor_temp_c"][0][0] - (now - 50)) < 0.01  # the data stay on the wall clock they were sent with
    b = json.loads(await (await client.get("/api/stations/st-b/trends?" + q)).text())
    assert b["clock"] is None
