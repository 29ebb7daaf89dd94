"""The station's GET /metrics for the company's monitoring: Prometheus text format read back
strictly, figures that move with the real control loop, only GET/HEAD /metrics, only the
allow_from addresses, and a port that cannot be bound never stops the heating. A real station
in-process (and once the real `heatkeeper station` process), a raw HTTP client over TCP."""

from __future__ import annotations

import asyncio
import json
import socket
import tomllib
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.firmware import metrics as firmware_metrics  # noqa: E402
from heatkeeper.firmware.config import validate_config  # noqa: E402
from heatkeeper.tools.procs import free_port  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import wait_until  # noqa: E402
from heatkeeper.tools.testing.prometheus import parse, value  # noqa: E402

from .station_setup import EXAMPLE, station_toml  # noqa: E402
from .test_modbus_slave_access import uplinks  # noqa: E402
from .test_station import running_station  # noqa: E402
from .test_station_process import station_run  # noqa: E402

SID = "test-st"


async def http(port: int, request: bytes, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one raw HTTP exchange with the station's endpoint."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert int(headers["content-length"]) == (len(body) if not request.startswith(b"HEAD") else int(headers["content-length"]))
    return status, headers, body


def get(path: str = "/metrics", method: str = "GET") -> bytes:
    return ("%s %s HTTP/1.1\r\nHost: station\r\nAccept: text/plain\r\n\r\n" % (method, path)).encode()


async def test_scrape_reads_figures_that_move_with_the_control_loop(tmp_path: Any) -> None:
    port = free_port()
    path, _ = station_toml(tmp_path, 1, mqtt={"enabled": False}, metrics={"enabled": True, "port": port})
    async with running_station(path) as station:
        await wait_until(lambda: station.last_telemetry, what="first telemetry record")
        status, headers, body = await http(port, get())
        assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        first = parse(body.decode("utf-8"))
        cycles = value(first, "heatkeeper_station_cycles_total", station=SID)
        assert cycles >= 2
        await wait_until(lambda: station.cycles >= cycles + 3, what="three more cycles")
        # the bus adapter does not exist: the core lists the failed sensors once their debounce is over
        await wait_until(lambda: station.last_out.get("alarms"), timeout_s=60, what="sensor alarms listed")
        for _ in range(10):  # a scrape between two cycles that changed neither the alarms nor the telemetry
            before = (json.dumps(station.last_out.get("alarms")), dict(station.last_telemetry))
            second = parse((await http(port, get("/metrics?x=1")))[2].decode("utf-8"))
            if before == (json.dumps(station.last_out.get("alarms")), dict(station.last_telemetry)):
                break
        assert value(second, "heatkeeper_station_cycles_total", station=SID) >= cycles + 3
        assert value(second, "heatkeeper_station_uplink_connected", station=SID) == 0  # [mqtt] disabled
        assert value(second, "heatkeeper_station_uplink_resent_total", station=SID) == 0
        assert value(second, "heatkeeper_station_outbox_kept_messages", station=SID) == 0  # nothing acknowledged
        assert value(second, "heatkeeper_station_resident_bytes", station=SID) > 10e6
        assert 0 < value(second, "heatkeeper_station_cycle_seconds", station=SID) < 5
        # every device of the example, as the bus's own health counters have it
        health = station.io.health()
        devices = {dict(labels)["device"] for name, labels in second if name == "heatkeeper_station_device_available"}
        assert devices == set(health) and len(devices) == 7
        for d in devices:
            assert value(second, "heatkeeper_station_device_available", station=SID, device=d) == int(health[d]["available"])
            assert value(second, "heatkeeper_station_device_requests_total", station=SID, device=d) <= health[d]["requests"]
        # every number of the telemetry record is there under its own name, with its value
        numbers = {k: v for k, v in station.last_telemetry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        names = {dict(labels)["name"] for name, labels in second if name == "heatkeeper_station_value"}
        assert names == set(numbers) and len(names) > 50
        assert value(second, "heatkeeper_station_value", station=SID, name="cycle_overruns") == numbers["cycle_overruns"]
        # the failed sensors are listed alarms, counted by severity and one sample each
        listed = station.last_out.get("alarms") or []
        for alarm in listed:
            assert value(second, "heatkeeper_station_alarm", station=SID, code=alarm["code"], severity=alarm["severity"],
                         state=alarm["state"]) == 1
        total = sum(v for (name, _labels), v in second.items() if name == "heatkeeper_station_alarms")
        assert total == len(listed) + len(station.firmware_alarms)


async def test_only_get_or_head_of_metrics_and_bad_requests_answered_plainly(tmp_path: Any) -> None:
    port = free_port()
    path, _ = station_toml(tmp_path, 1, mqtt={"enabled": False}, metrics={"enabled": True, "port": port})
    async with running_station(path):
        status, _, body = await http(port, get("/"))
        assert status == 404 and b"/metrics" in body
        status, headers, _ = await http(port, get(method="POST"))
        assert status == 405 and headers["allow"] == "GET, HEAD"
        status, headers, body = await http(port, get(method="HEAD"))
        assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
        status, _, _ = await http(port, b"hello\r\n\r\n")
        assert status == 400
        status, _, _ = await http(port, b"GET /metrics HTTP/1.1\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n")
        assert status == 431
        # a client that connects and says nothing does not hold the endpoint up for the others
        _, idle = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert (await http(port, get()))[0] == 200
        finally:
            idle.close()


async def test_allow_from_answers_only_the_named_addresses(tmp_path: Any) -> None:
    port = free_port()
    path, _ = station_toml(tmp_path, 1, mqtt={"enabled": False},
                           metrics={"enabled": True, "port": port, "host": "127.0.0.1", "allow_from": ["127.0.0.2/32"]})
    async with running_station(path) as station:
        status, _, body = await http(port, get(), source="127.0.0.2")
        assert status == 200 and b"heatkeeper_station_cycles_total" in body
        status, _, body = await http(port, get(), source="127.0.0.1")
        assert status == 403 and b"heatkeeper" not in body
        assert station.metrics.refused == 1


async def test_a_port_taken_leaves_the_station_heating_and_says_so_once(tmp_path: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        path, _ = station_toml(tmp_path, 1, mqtt={"enabled": False}, metrics={"enabled": True, "port": port})
        async with running_station(path) as station:
            await wait_until(lambda: [e for e in uplinks(station, "event") if e.get("kind") == "metrics_unavailable"],
                             what="metrics_unavailable event")
            start = station.cycles
            await wait_until(lambda: station.cycles >= start + 5, what="cycles go on")
            events = [e for e in uplinks(station, "event") if e.get("kind") == "metrics_unavailable"]
            assert len(events) == 1 and events[0]["reason"] == "bind_failed"


async def test_the_real_station_process_serves_metrics(tmp_path: Any, mosquitto: Any) -> None:
    port = free_port()
    async with station_run(tmp_path, mosquitto, metrics={"enabled": True, "port": port}):
        async def connected() -> bool:
            samples = parse((await http(port, get()))[2].decode("utf-8"))
            return value(samples, "heatkeeper_station_uplink_connected", station=SID) == 1

        deadline = asyncio.get_running_loop().time() + 30
        while not await connected():
            assert asyncio.get_running_loop().time() < deadline, "the station never reported its uplink connected"
            await asyncio.sleep(0.5)


def test_config_lists_bad_metrics_settings() -> None:
    with open(EXAMPLE, "rb") as fh:
        base = tomllib.load(fh)
    raw = json.loads(json.dumps(base))
    raw["metrics"] = {"enabled": True, "host": "0.0.0.0", "port": raw["modbus_slave"]["port"],
                      "allow_from": ["10.0.0.0/33", "monitoring.local"], "path": "/m"}
    cfg, problems = validate_config(raw)
    assert cfg is None
    assert any("metrics.path: unknown key" in p for p in problems), problems
    for bad in ("10.0.0.0/33", "monitoring.local"):
        assert any(p.startswith("metrics.allow_from") and bad in p for p in problems), (bad, problems)
    raw["metrics"] = {"enabled": True, "host": "0.0.0.0", "port": 70000}
    cfg, problems = validate_config(raw)
    assert cfg is None
    assert any(p.startswith("metrics.port=70000") for p in problems), problems
    assert any(p.startswith("metrics.host='0.0.0.0' with an empty allow_from") for p in problems), problems
    raw["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": raw["modbus_slave"]["port"]}
    cfg, problems = validate_config(raw)
    assert cfg is None and any("the same address as modbus_slave.port" in p for p in problems), problems
    raw["metrics"] = {"enabled": True, "host": "0.0.0.0", "port": 9101, "allow_from": ["10.20.0.5"]}
    cfg, problems = validate_config(raw)
    assert problems == [] and cfg is not None and cfg.metrics.allow_from == ("10.20.0.5",)
    cfg, problems = validate_config(base)
    assert cfg is not None and cfg.metrics.enabled is False  # off unless enabled


REQUEST_LINES = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda m, p, v: b"%s %s %s" % (m, p, v),
              st.sampled_from([b"GET", b"HEAD", b"POST", b"PUT", b"get", b""]),
              st.sampled_from([b"/metrics", b"/metrics?a=b", b"/", b"/metrics/", b"*", b"", b"/m\xffetrics"]),
              st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b"FTP", b""])),
)


@pytest.fixture(scope="module")
def idle_endpoint(tmp_path_factory: Any) -> Any:
    """(loop, endpoint): the metrics endpoint of a real station that is built but not running,
    and the event loop it belongs to (the fuzz test's examples run on it one after another)."""
    from heatkeeper.firmware.config import load_config
    from heatkeeper.firmware.runtime import Station

    tmp = tmp_path_factory.mktemp("idle-station")
    path, _ = station_toml(tmp, 1, mqtt={"enabled": False}, metrics={"enabled": True, "port": free_port()})
    loop = asyncio.new_event_loop()

    async def build() -> Any:
        station = Station(load_config(path))
        return station, firmware_metrics.MetricsEndpoint(station, station.cfg.metrics)

    station, endpoint = loop.run_until_complete(build())
    yield loop, endpoint

    async def close() -> None:
        await station.io.close()
        station.outbox.close()
        station.trends.close()
        station.journal.close()

    loop.run_until_complete(close())
    loop.close()


@given(line=REQUEST_LINES, headers=st.binary(max_size=200), terminated=st.booleans())
@example(line=b"GET / HTTP/1.1", headers=b"Host: x", terminated=True)
@example(line=b"HEAD /metrics HTTP/1.0", headers=b"", terminated=True)
@example(line=b"POST /metrics HTTP/1.1", headers=b"Content-Length: 0", terminated=True)
@example(line=b"GET /metrics?x HTTP/1.1", headers=b"\r\n\r\n", terminated=False)
def test_any_request_gets_a_plain_answer_or_is_dropped(idle_endpoint: Any, line: bytes, headers: bytes,
                                                       terminated: bool) -> None:
    """Whatever a client sends, the endpoint answers one of its five statuses with an exact
    Content-Length (the figures only to GET or HEAD /metrics), or drops a request that never ends."""
    loop, endpoint = idle_endpoint
    data = line + b"\r\n" + headers + (b"\r\n\r\n" if terminated else b"")

    async def answer() -> bytes:
        reader = asyncio.StreamReader(limit=firmware_metrics.MAX_REQUEST_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        return await endpoint._answer(reader)

    try:
        response = loop.run_until_complete(answer())
    except asyncio.IncompleteReadError:
        assert b"\r\n\r\n" not in data  # dropped only when the request never ended
        return
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert status in (200, 400, 404, 405, 431)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    request_line = data[:data.index(b"\r\n\r\n")].split(b"\r\n")[0].split(b" ")
    if status == 200:
        assert request_line[0] in (b"GET", b"HEAD") and request_line[1].split(b"?")[0] == b"/metrics"
        if request_line[0] == b"GET":
            assert length == len(body) and body.startswith(b"# HELP heatkeeper_station_cycles_total")
        else:
            assert body == b"" and length > 1000
    else:
        assert length == len(body) and b"heatkeeper_station" not in body
