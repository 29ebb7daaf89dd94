"""Weather forecasts in the supervisor: the [forecast] settings, the strict Open-Meteo parser,
and the fetcher against a real aiohttp server on loopback (and a file), storing on both
backends and sending each station of the city its forecast. No test uses the internet."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest
from aiohttp import web
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.forecast import ForecastError, ForecastFeed, parse_open_meteo, validate_config
from heatkeeper.tools.procs import free_port
from hypothesis import given
from hypothesis import strategies as st

NOW = 1_796_000_800.0  # 2026-11-30 01:06:40 UTC: an hour boundary plus 400 s
HOUR0 = NOW - NOW % 3600.0


def open_meteo(hours: int = 72, start: float = HOUR0 - 6 * 3600.0, offset_s: int = 28800, wind: bool = True,
               radiation: bool = True) -> dict[str, Any]:
    """An Open-Meteo answer as the API gives it with timezone=Asia/Shanghai (local ISO times)."""
    local = [dt.datetime.fromtimestamp(start + 3600.0 * i, dt.UTC) + dt.timedelta(seconds=offset_s)
             for i in range(hours)]
    hourly: dict[str, Any] = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in local],
                              "temperature_2m": [round(-20.0 + 8.0 * math.sin(i / 24.0 * 2 * math.pi), 1)
                                                 for i in range(hours)]}
    units = {"time": "iso8601", "temperature_2m": "°C"}
    if radiation:
        hourly["shortwave_radiation"] = [max(0.0, 400.0 * math.sin((i % 24 - 6) / 12.0 * math.pi)) for i in range(hours)]
        units["shortwave_radiation"] = "W/m²"
    if wind:
        hourly["wind_speed_10m"] = [18.0] * hours
        units["wind_speed_10m"] = "km/h"
    return {"latitude": 47.2, "longitude": 119.9, "utc_offset_seconds": offset_s, "timezone": "Asia/Shanghai",
            "hourly_units": units, "hourly": hourly}


# --- settings ----------------------------------------------------------------------------------
def test_config_lists_every_problem(tmp_path: Any) -> None:
    cfg, problems = validate_config({"refresh_s": 5, "timeout_s": "x", "retries": 1.5, "bogus": 1,
                                     "cities": {"arxan": "ftp://x", "hailar": "", "yakeshi": "fc/y.json",
                                                "genhe": "https://example.invalid/v1/forecast?x=1"}},
                                    base_dir=str(tmp_path))
    text = "\n".join(problems)
    for key in ("forecast.refresh_s=5", "forecast.timeout_s='x'", "forecast.retries=1.5", "forecast.bogus",
                "forecast.cities.arxan='ftp://x'", "forecast.cities.hailar=''"):
        assert key in text, text
    assert cfg["cities"] == {"yakeshi": str(tmp_path / "fc" / "y.json"),
                             "genhe": "https://example.invalid/v1/forecast?x=1"}


def test_supervisor_config_checks_forecast_cities_have_stations() -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"forecast": {"cities": {"nowhere": "/tmp/x.json"}, "refresh_s": 10},
                             "station": [{"id": "st-a", "city": "arxan"}]})
    text = "\n".join(err.value.problems)
    assert "forecast.cities.nowhere: no [[station]] has city='nowhere'" in text
    assert "forecast.refresh_s=10 s: must be a number in [60, 86400]" in text
    cfg = sup_config.validate({"forecast": {"cities": {"arxan": "/tmp/x.json"}},
                               "station": [{"id": "st-a", "city": "arxan"}]})
    assert cfg["forecast"]["refresh_s"] == 3600.0


# --- parser ------------------------------------------------------------------------------------
def test_parser_reads_local_times_units_and_keeps_the_hours_ahead() -> None:
    parsed = parse_open_meteo(json.dumps(open_meteo()).encode(), NOW)
    assert parsed.start_ts == HOUR0  # the six past hours are dropped, the current one kept
    assert parsed.step_s == 3600.0
    assert len(parsed.temp_c) == 66
    assert parsed.temp_c[0] == round(-20.0 + 8.0 * math.sin(6 / 24.0 * 2 * math.pi), 1)
    assert parsed.wind_m_s == [5.0] * 66  # 18 km/h
    assert parsed.radiation_w_m2 is not None and len(parsed.radiation_w_m2) == 66
    # unix times, no optional series, more than a week: cut to 168 values
    data = open_meteo(hours=240, wind=False, radiation=False)
    data["hourly"]["time"] = [HOUR0 - 6 * 3600.0 + 3600.0 * i for i in range(240)]
    parsed = parse_open_meteo(json.dumps(data).encode(), NOW)
    assert (parsed.start_ts, len(parsed.temp_c), parsed.wind_m_s) == (HOUR0, 168, None)
    assert len(parse_open_meteo(json.dumps(data).encode(), NOW, max_points=48).temp_c) == 48


def _bad(mutate: Any) -> str:
    data = open_meteo()
    mutate(data)
    with pytest.raises(ForecastError) as err:
        parse_open_meteo(json.dumps(data).encode() if not isinstance(data, bytes) else data, NOW)
    return str(err.value)


@pytest.mark.parametrize(("mutate", "expect"), [
    (lambda d: d["hourly"]["temperature_2m"].pop(), "hourly.temperature_2m: 71 values for 72 times"),
    (lambda d: d["hourly"]["temperature_2m"].__setitem__(10, None), "hourly.temperature_2m[10]=None"),
    (lambda d: d["hourly"]["temperature_2m"].__setitem__(3, 120.0), "hourly.temperature_2m[3]=120.0: outside"),
    (lambda d: d["hourly"]["temperature_2m"].__setitem__(4, 10 ** 400), "hourly.temperature_2m[4]=1000"),
    (lambda d: d["hourly"]["time"].__setitem__(0, 10 ** 400), "hourly.time[0]=1000"),
    (lambda d: d.update(utc_offset_seconds=10 ** 400), "utc_offset_seconds=1000"),
    (lambda d: d["hourly"]["time"].__setitem__(5, d["hourly"]["time"][4]), "hourly.time[5]"),
    (lambda d: d["hourly"]["time"].reverse(), "hourly.time[1]"),
    (lambda d: d["hourly"]["time"].__setitem__(2, "tomorrow"), "hourly.time[2]='tomorrow': not an ISO 8601 time"),
    (lambda d: d.pop("hourly"), "hourly: missing"),
    (lambda d: d["hourly_units"].__setitem__("temperature_2m", "°F"), "hourly_units.temperature_2m='°F'"),
    (lambda d: d["hourly_units"].__setitem__("wind_speed_10m", "kn"), "hourly_units.wind_speed_10m='kn'"),
    (lambda d: d["hourly_units"].__setitem__("wind_speed_10m", ["km/h"]), "hourly_units.wind_speed_10m=['km/h']"),
    (lambda d: d["hourly"]["wind_speed_10m"].__setitem__(0, -1.0), "hourly.wind_speed_10m[0]"),
    (lambda d: d.update(utc_offset_seconds=10**9), "utc_offset_seconds"),
    (lambda d: d.update(error=True, reason="Latitude must be in range"), "Latitude must be in range"),
])
def test_parser_refuses_with_the_place(mutate: Any, expect: str) -> None:
    assert expect in _bad(mutate)


def test_parser_refuses_non_json_nan_and_old() -> None:
    for body in (b"", b"<html>502</html>", b"\xff\xfe", b"[]", b"[" * 100000):
        with pytest.raises(ForecastError):
            parse_open_meteo(body, NOW)
    nan = json.dumps(open_meteo()).replace("-20.0", "NaN").encode()
    with pytest.raises(ForecastError, match="must be a finite number"):
        parse_open_meteo(nan, NOW) if b"NaN" in nan else parse_open_meteo(
            json.dumps(open_meteo()).encode().replace(b"[", b"[NaN,", 2), NOW)
    old = json.dumps(open_meteo(hours=24, start=HOUR0 - 48 * 3600.0)).encode()
    with pytest.raises(ForecastError, match="too old"):
        parse_open_meteo(old, NOW)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.integers(-(10 ** 400), 10 ** 400) | st.floats()
                     | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
                     max_leaves=30)


@given(_json)
def test_parser_never_raises_anything_else_on_any_json(value: Any) -> None:
    try:
        parse_open_meteo(json.dumps(value).encode(), NOW)
    except ForecastError:
        pass


@given(st.sampled_from(["time", "temperature_2m", "shortwave_radiation", "wind_speed_10m"]),
       st.integers(0, 71), _json)
def test_parser_never_raises_anything_else_on_a_damaged_answer(key: str, index: int, value: Any) -> None:
    data = open_meteo()
    data["hourly"][key][index] = value
    try:
        parsed = parse_open_meteo(json.dumps(data).encode(), NOW)
    except ForecastError:
        return
    assert len(parsed.temp_c) >= 2 and all(math.isfinite(v) for v in parsed.temp_c)


@given(st.sampled_from(["temperature_2m", "wind_speed_10m", "shortwave_radiation"]), _json, _json)
def test_parser_never_raises_anything_else_on_damaged_units_or_offset(key: str, unit: Any, offset: Any) -> None:
    data = open_meteo()
    data["hourly_units"][key] = unit
    data["utc_offset_seconds"] = offset
    try:
        parse_open_meteo(json.dumps(data).encode(), NOW)
    except ForecastError:
        pass


@given(st.binary(max_size=300))
def test_parser_never_raises_anything_else_on_bytes(body: bytes) -> None:
    try:
        parse_open_meteo(body, NOW)
    except ForecastError:
        pass


# --- fetcher: a real HTTP server on loopback, both storage backends -----------------------------
class FakeOpenMeteo:
    """An aiohttp server on 127.0.0.1 answering /v1/forecast from a queue of (status, body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes]] = []
        self.requests: list[str] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(status=status, body=body, content_type="application/json")

    async def __aenter__(self) -> FakeOpenMeteo:
        app = web.Application()
        app.router.add_get("/v1/forecast", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def url(self) -> str:
        return "http://127.0.0.1:%d/v1/forecast?latitude=47.2&longitude=119.9&hourly=temperature_2m&timezone=" \
               "Asia%%2FShanghai" % self.port


STATIONS = {"st-a": {"city": "arxan"}, "st-b": {"city": "arxan"}, "st-h": {"city": "hailar"}}


def feed_cfg(cities: dict[str, str], **over: Any) -> dict[str, Any]:
    cfg, problems = validate_config(dict({"cities": cities, "retries": 2, "retry_s": 1, "timeout_s": 2}, **over))
    assert problems == []
    return cfg


async def test_fetch_store_send_and_keep_the_last_good_one(storage: Any, tmp_path: Any) -> None:
    sent: list[tuple[str, bytes, int, bool]] = []

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        sent.append((topic, payload, qos, retain))

    clock = [NOW]
    async with FakeOpenMeteo() as server:
        server.answers = [(200, json.dumps(open_meteo()).encode())]
        feed = ForecastFeed(storage, feed_cfg({"arxan": server.url()}), STATIONS, lambda: clock[0])
        assert await feed.refresh_city("arxan", publish) is True
        assert server.requests[0].startswith("/v1/forecast?latitude=47.2")
        assert [(t, q, r) for t, _, q, r in sent] == [(codec.forecast_topic("st-a"), 1, True),
                                                      (codec.forecast_topic("st-b"), 1, True)]
        msg = codec.decode_forecast(sent[0][0], sent[0][1])
        assert (msg["ts"], msg["start_ts"], len(msg["temp_c"]), msg["wind_m_s"][0]) == (NOW, HOUR0, 66, 5.0)
        status = feed.status()[0]
        assert (status["ok"], status["points"], status["horizon_h"], status["error"]) == (True, 66, 64.9, "")
        assert "?" not in status["source"]  # the query (maybe an API key) is not shown

        # the source fails three ways in a row (and on every retry): the last good forecast stays
        clock[0] = NOW + 3600.0
        for answer in ((500, b"upstream down"), (200, b"{not json"),
                       (200, json.dumps(open_meteo()).replace("-20.0", "null").encode())):
            server.answers = [answer]
            sent.clear()
            before = len(server.requests)
            assert await feed.refresh_city("arxan", publish) is False
            assert len(server.requests) - before == 3  # the first try and two retries
            assert len(sent) == 2 and codec.decode_forecast(sent[0][0], sent[0][1])["ts"] == NOW  # resent as it was
        status = feed.status()[0]
        assert not status["ok"] and "must be a finite number" in status["error"] and status["failures"] == 9
        assert status["points"] == 66

        rows = await storage.forecast_rows()
        assert rows["arxan"]["fetched_ts"] == NOW and rows["arxan"]["failures"] == 9
        assert rows["arxan"]["error_ts"] == NOW + 3600.0 and len(rows["arxan"]["series"]["temp_c"]) == 66

        # a restart resumes with the stored forecast and the error state, and sends it
        again = ForecastFeed(storage, feed_cfg({"arxan": server.url()}), STATIONS, lambda: clock[0])
        await again.load()
        sent.clear()
        assert await again.send_city("arxan", publish) == 2
        assert codec.decode_forecast(sent[0][0], sent[0][1])["temp_c"] == msg["temp_c"]
        assert again.status()[0]["failures"] == 9

        # the source recovers: the error clears
        server.answers = [(200, json.dumps(open_meteo(start=HOUR0)).encode())]
        assert await again.refresh_city("arxan", publish) is True
        rows = await storage.forecast_rows()
        assert (rows["arxan"]["error"], rows["arxan"]["failures"], rows["arxan"]["fetched_ts"]) == ("", 0, NOW + 3600.0)


async def test_timeout_and_unreachable_source_are_errors_not_exceptions(storage: Any, tmp_path: Any) -> None:
    async def slow(request: web.Request) -> web.Response:
        import asyncio
        await asyncio.sleep(5)
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        feed = ForecastFeed(storage, feed_cfg({"arxan": "http://127.0.0.1:%d/slow" % port,
                                               "hailar": "http://127.0.0.1:%d/x" % free_port()},
                                              retries=0, timeout_s=1), STATIONS, lambda: NOW)
        assert await feed.refresh_city("arxan", None) is False
        assert await feed.refresh_city("hailar", None) is False
        errors = {s["city"]: s["error"] for s in feed.status()}
        assert errors["arxan"].startswith("cannot get http://127.0.0.1:%d/slow: TimeoutError" % port), errors
        assert errors["hailar"].startswith("cannot get"), errors
        rows = await storage.forecast_rows()
        assert rows["hailar"]["series"] is None and rows["hailar"]["failures"] == 1
    finally:
        await runner.cleanup()


async def test_file_source(storage: Any, tmp_path: Any) -> None:
    path = tmp_path / "hailar.json"
    path.write_text(json.dumps(open_meteo(wind=False)))
    feed = ForecastFeed(storage, feed_cfg({"hailar": str(path)}), STATIONS, lambda: NOW)
    sent: list[tuple[str, bytes]] = []

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        sent.append((topic, payload))

    assert await feed.refresh_city("hailar", publish) is True
    assert [t for t, _ in sent] == [codec.forecast_topic("st-h")]
    assert codec.decode_forecast(*sent[0])["wind_m_s"] is None
    path.unlink()
    assert await feed.refresh_city("hailar", None) is False
    assert "No such file" in feed.status()[0]["error"]


# --- the downlink as a station decodes it --------------------------------------------------------
@given(st.dictionaries(st.sampled_from(["v", "ts", "start_ts", "step_s", "temp_c", "radiation_w_m2", "wind_m_s",
                                        "source"]), _json, max_size=8))
def test_decode_forecast_never_raises_anything_but_codec_error(msg: dict[str, Any]) -> None:
    topic = codec.forecast_topic("st-a")
    for payload in (json.dumps(msg).encode(), json.dumps(dict({"v": 1, "ts": NOW, "start_ts": HOUR0, "step_s": 3600,
                                                               "temp_c": [1.0, 2.0], "source": "x"}, **msg)).encode()):
        try:
            out = codec.decode_forecast(topic, payload)
        except codec.CodecError:
            continue
        assert 2 <= len(out["temp_c"]) <= codec.FORECAST_MAX_POINTS


async def test_run_sends_stored_forecast_at_start_and_resends_after_a_broker_outage(
        storage: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from heatkeeper.supervisor import forecast as forecast_mod

    monkeypatch.setattr(forecast_mod, "RESEND_S", 0.05)
    path = tmp_path / "arxan.json"
    path.write_text(json.dumps(open_meteo()))
    delivered: list[str] = []
    refusals = [0]

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if refusals[0] < 3:  # the broker link is down for the first attempts
            refusals[0] += 1
            raise ConnectionError("no broker connection")
        delivered.append(topic)

    feed = ForecastFeed(storage, feed_cfg({"arxan": str(path)}), STATIONS, lambda: NOW)
    task = asyncio.ensure_future(feed.run(publish))
    try:
        for _ in range(200):
            if len(delivered) >= 2:
                break
            await asyncio.sleep(0.05)
        assert sorted(delivered) == [codec.forecast_topic("st-a"), codec.forecast_topic("st-b")]
        assert refusals[0] == 3 and feed.status()[0]["ok"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
