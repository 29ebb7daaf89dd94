"""GET /metrics: Prometheus text format 0.0.4 from the real service (SQLite), values that move
with real ingest, and who may read them (loopback, or a bearer token; never through a proxy
without one)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from heatkeeper.core import codec
from heatkeeper.supervisor.metrics import FlushMetrics
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.web import create_app
from heatkeeper.supervisor.web.config import WebConfigError, validate
from heatkeeper.tools.testing.prometheus import Samples, parse, value

from .conftest import WEB_CONFIG

TOKEN = "metrics-tok-0123456789abcdef"


async def scrape(client: TestClient, **headers: str) -> Samples:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Content-Security-Policy" in resp.headers and resp.headers["X-Content-Type-Options"] == "nosniff"
    return parse(await resp.text())


async def test_metrics_parse_and_move_with_real_ingest(client: TestClient, service: SupervisorService) -> None:
    before = await scrape(client)
    assert value(before, "heatkeeper_stations", state="offline") == 2
    assert value(before, "heatkeeper_stations", state="online") == 0
    now = service.clock()
    telemetry = codec.encode_uplink("st-a", 1, codec.UP_TELEMETRY, now, {"values": {"outdoor_temp_c": -12.0}})
    alarm = codec.encode_uplink("st-a", 2, codec.UP_ALARM, now, {"code": "pump1_fault", "severity": "alarm",
                                                                 "state": "active", "text": "pump 1 tripped"})
    assert service.ingest.handle(*telemetry) == "queued"
    assert service.ingest.handle(*alarm) == "queued"
    assert service.ingest.handle(codec.status_topic("st-a"), codec.STATUS_ONLINE.encode()) == "status"
    refused = service.ingest.handle(codec.up_topic("st-b", codec.UP_TELEMETRY), b"{not json")
    assert refused.startswith("rejected:")
    reason = refused.split(":", 1)[1]
    queued = await scrape(client)
    assert value(queued, "heatkeeper_ingest_queue_depth") == 2
    assert value(queued, "heatkeeper_ingest_received_total") == 4
    await service.ingest.flush()
    assert service.ingest.handle(*telemetry) == "queued"  # a QoS 1 resend: stored once, counted as duplicate
    await service.ingest.flush()
    after = await scrape(client)
    assert value(after, "heatkeeper_uplinks_stored_total", kind="telemetry") == 1
    assert value(after, "heatkeeper_uplinks_stored_total", kind="alarm") == 1
    assert value(after, "heatkeeper_uplinks_duplicate_total") == 1
    assert value(after, "heatkeeper_ingest_queue_depth") == 0
    assert value(after, "heatkeeper_ingest_rejected_total", reason=reason) == 1
    assert value(after, "heatkeeper_uplinks_quarantined_total", reason=reason) == 1
    assert value(after, "heatkeeper_quarantine_written_total") == 1
    assert value(after, "heatkeeper_stations", state="online") == 1
    assert value(after, "heatkeeper_stations", state="offline") == 1
    flushes = value(after, "heatkeeper_storage_flush_seconds_count")
    assert flushes >= 2 and flushes - value(before, "heatkeeper_storage_flush_seconds_count") >= 2
    assert value(after, "heatkeeper_storage_flush_seconds_bucket", le="+Inf") == flushes
    assert value(after, "heatkeeper_storage_flush_seconds_sum") > 0
    assert value(after, "heatkeeper_database_errors_total") == 0


async def test_a_failed_flush_counts_as_a_database_error(service: SupervisorService) -> None:
    """The database goes away under the ingest: the flush fails, the batch stays queued, and the
    failure is counted (and timed)."""
    topic, payload = codec.encode_uplink("st-a", 7, codec.UP_TELEMETRY, service.clock(), {"values": {"x": 1.0}})
    service.ingest.handle(topic, payload)
    await service.storage.close()
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever the closed database raises
            await service.ingest.flush()
        assert service.flush_metrics.errors == 1 and service.flush_metrics.count >= 1
        assert service.ingest.stats()["pending"] == 1
    finally:
        await service.storage.open()


async def test_flush_metrics_histogram_buckets() -> None:
    m = FlushMetrics(buckets=(0.01, 0.1))
    for s in (0.005, 0.05, 0.5):
        m.observe(s)

    async def fail() -> int:
        raise OSError("disk gone")

    task = asyncio.ensure_future(fail())
    m.watch(task)
    with pytest.raises(OSError):
        await task
    await asyncio.sleep(0)  # the done callback runs on the next loop turn
    assert m.counts == [2, 1] and m.count == 4 and m.errors == 1  # the failed flush took < 10 ms
    assert m.sum_s >= 0.555


async def test_loopback_through_a_proxy_or_with_a_wrong_token_is_refused(client: TestClient) -> None:
    resp = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 403 and "loopback" in await resp.text()
    assert "Content-Security-Policy" in resp.headers
    resp = await client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN})  # no token configured
    assert resp.status == 401


def _own_address() -> str:
    """A non-loopback address of this machine (the route's source address; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return ""
        addr = str(s.getsockname()[0])
    return "" if addr.startswith("127.") or addr == "0.0.0.0" else addr


@pytest.fixture
async def remote(service: SupervisorService) -> AsyncIterator[Any]:
    """Clients reaching the app over a non-loopback address of this machine: (config) -> client."""
    addr = _own_address()
    if not addr:
        pytest.skip("this machine has no non-loopback IPv4 address")
    clients: list[TestClient] = []

    async def make(config: dict[str, Any]) -> TestClient:
        c = TestClient(TestServer(create_app(service, config), host=addr))
        await c.start_server()
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


async def test_refused_off_loopback_without_the_token(remote: Any) -> None:
    open_app = await remote(WEB_CONFIG)
    resp = await open_app.get("/metrics")
    assert resp.status == 403 and "web.metrics_token" in await resp.text()
    assert "Content-Security-Policy" in resp.headers
    guarded = await remote({**WEB_CONFIG, "metrics_token": TOKEN})
    resp = await guarded.get("/metrics")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "heatkeeper_" not in await resp.text()
    resp = await guarded.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert resp.status == 401
    samples = await scrape(guarded, Authorization="Bearer " + TOKEN)
    assert value(samples, "heatkeeper_stations", state="offline") == 2


def test_metrics_token_config(tmp_path: Any) -> None:
    assert validate({})["metrics_token"] == ""
    with pytest.raises(WebConfigError, match="at least 16"):
        validate({"web": {"metrics_token": "short"}})
    path = tmp_path / "metrics.token"
    path.write_text(TOKEN + "\n")
    cfg = {"supervisor": {"data_dir": str(tmp_path)}, "web": {"metrics_token_file": "metrics.token"}}
    assert validate(cfg)["metrics_token"] == TOKEN
    with pytest.raises(WebConfigError, match="cannot read"):
        validate({"web": {"metrics_token_file": str(tmp_path / "missing")}})
    with pytest.raises(WebConfigError, match="keep one"):
        validate({"web": {"metrics_token": TOKEN, "metrics_token_file": str(path)}})


def test_supervisor_toml_takes_the_metrics_token(tmp_path: Any) -> None:
    """`[web] metrics_token` in supervisor.toml reaches the app (the whole config is passed)."""
    from heatkeeper.supervisor import config as sup_config

    from .conftest import supervisor_config

    raw = {"supervisor": {"data_dir": str(tmp_path)}, "web": {"metrics_token": TOKEN},
           "station": [{"id": "st-a", "name": "A", "city": "X"}]}
    assert validate(sup_config.validate(raw))["metrics_token"] == TOKEN
    with pytest.raises(sup_config.ConfigError, match="web.metrics_token"):
        sup_config.validate({**raw, "web": {"metrics_token": "short"}})
    assert validate(supervisor_config(tmp_path))["metrics_token"] == ""
