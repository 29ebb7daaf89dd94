"""Weather forecasts per city: fetched, checked, stored and pushed to the city's stations.

    [forecast]  refresh_s=3600  timeout_s=20  retries=3  retry_s=30  max_points=168
    [forecast.cities]
    arxan  = "https://api.open-meteo.com/v1/forecast?latitude=47.2&longitude=119.9&hourly=temperature_2m,shortwave_radiation,wind_speed_10m&timezone=Asia/Shanghai"
    hailar = "forecasts/hailar.json"       # a file (relative to the config's folder), same JSON

A source is an http(s) URL or a file holding an Open-Meteo-compatible hourly response:
`hourly.time` (ISO local times, shifted by `utc_offset_seconds`, or unix seconds with
`timeformat=unixtime`), `hourly.temperature_2m` (degC) and optionally `shortwave_radiation`
(W/m2) and `wind_speed_10m` (`hourly_units` km/h, the API's default, or m/s). Other formats
plug in as another parser in PARSERS (same contract: bytes in, `Parsed` out, ForecastError on
anything else). Parsing is strict: bad JSON, arrays of different lengths, a null or NaN value,
times not hourly and ascending, or a forecast that ends before now is refused with a
ForecastError naming what is wrong; the city keeps its last good forecast. The hours from the
current one onwards (at most `max_points`) are kept.

Each city is fetched every `refresh_s` (a failure is retried `retries` times, `retry_s`
doubling), stored (storage/forecast.py) and sent to every station of the city on its retained
forecast topic (`codec.encode_forecast`), so a station that reconnects gets it at once; at start
the stored forecasts are sent again. Failures are logged, stored and shown by GET /api/forecast;
they never raise out of the task, and the ingest never waits on a fetch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from heatkeeper.core import codec
from heatkeeper.core import forecast as core_forecast

from .storage.base import Storage

log = logging.getLogger(__name__)

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]
MAX_BODY_BYTES = 4 * 1024 * 1024  # an Open-Meteo week of three series is ~20 KB
SOURCE_NAME = "open-meteo"
RESEND_S = 10.0  # a send the broker link refused is tried again this often
DEFAULTS: dict[str, Any] = {"refresh_s": 3600.0, "timeout_s": 20.0, "retries": 3, "retry_s": 30.0,
                            "max_points": core_forecast.MAX_POINTS, "cities": {}}
_RANGES: dict[str, tuple[str, float, float]] = {
    "refresh_s": ("s", 60, 86400), "timeout_s": ("s", 1, 300), "retries": ("", 0, 10), "retry_s": ("s", 1, 3600),
    "max_points": ("hours", 2, core_forecast.MAX_POINTS),
}
_WIND_UNITS = {"km/h": 1.0 / 3.6, "m/s": 1.0, "kmh": 1.0 / 3.6, "ms": 1.0}
_TEMP_UNITS = ("°C", "degC", "C", "celsius")


class ForecastError(ValueError):
    """A forecast source's answer that cannot be used; the text says what and where."""


@dataclass
class Parsed:
    """An hourly forecast: `start_ts` (unix s) of the first value, one value per `step_s`."""

    start_ts: float
    step_s: float
    temp_c: list[float]
    radiation_w_m2: list[float] | None = None
    wind_m_s: list[float] | None = None

    def series(self) -> dict[str, list[float]]:
        out = {"temp_c": self.temp_c}
        if self.radiation_w_m2 is not None:
            out["radiation_w_m2"] = self.radiation_w_m2
        if self.wind_m_s is not None:
            out["wind_m_s"] = self.wind_m_s
        return out


# --- configuration -----------------------------------------------------------------------------
def validate_config(values: Any, base_dir: str = ".") -> tuple[dict[str, Any], list[str]]:
    """([forecast] with defaults filled in and file sources made absolute, problems)."""
    cfg = dict(DEFAULTS)
    cfg["cities"] = {}
    problems: list[str] = []
    if not isinstance(values, dict):
        return cfg, ["[forecast]: must be a table"]
    for key, value in values.items():
        if key == "cities":
            continue
        if key not in DEFAULTS:
            problems.append("forecast.%s: unknown key; known: %s" % (key, ", ".join(DEFAULTS)))
            continue
        unit, low, high = _RANGES[key]
        whole = isinstance(DEFAULTS[key], int)
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not low <= value <= high:
            problems.append("forecast.%s=%r %s: must be %s in [%g, %g]" % (key, value, unit, "a whole number" if whole
                                                                          else "a number", low, high))
            continue
        cfg[key] = value
    cities = values.get("cities", {})
    if not isinstance(cities, dict):
        problems.append("forecast.cities: must be a table of city = source (URL or file)")
        cities = {}
    for city, source in cities.items():
        if not isinstance(source, str) or not source.strip():
            problems.append("forecast.cities.%s=%r: must be an http(s) URL or a file path" % (city, source))
            continue
        if source.startswith(("http://", "https://")):
            cfg["cities"][city] = source
        elif "://" in source:
            problems.append("forecast.cities.%s=%r: only http://, https:// or a file path" % (city, source))
        else:
            cfg["cities"][city] = source if os.path.isabs(source) else os.path.normpath(os.path.join(base_dir, source))
    if cfg["timeout_s"] >= cfg["refresh_s"]:
        problems.append("forecast.timeout_s=%r s: must be below forecast.refresh_s=%r s" % (cfg["timeout_s"],
                                                                                             cfg["refresh_s"]))
    return cfg, problems


# --- parsing -----------------------------------------------------------------------------------
def _series(hourly: dict[str, Any], key: str, n: int, low: float, high: float, scale: float = 1.0) -> list[float]:
    values = hourly.get(key)
    if not isinstance(values, list):
        raise ForecastError("hourly.%s: must be a list" % key)
    if len(values) != n:
        raise ForecastError("hourly.%s: %d values for %d times" % (key, len(values), n))
    out = []
    for i, v in enumerate(values):
        if not codec.bounded_number(v):  # finite, not bool, and no 400-digit int (no float holds it)
            raise ForecastError("hourly.%s[%d]=%.40r: must be a finite number" % (key, i, v))
        x = float(v) * scale
        if not low <= x <= high:
            raise ForecastError("hourly.%s[%d]=%r: outside [%g, %g]" % (key, i, v, low / scale, high / scale))
        out.append(round(x, 1))
    return out


def _times(hourly: dict[str, Any], offset_s: float) -> list[float]:
    times = hourly.get("time")
    if not isinstance(times, list) or len(times) < 2:
        raise ForecastError("hourly.time: must be a list of at least 2 times")
    if len(times) > 24 * 400:
        raise ForecastError("hourly.time: %d times, at most %d" % (len(times), 24 * 400))
    out = []
    for i, t in enumerate(times):
        if codec.bounded_number(t) and 0 <= t < 1e11:  # type: ignore[operator]
            out.append(float(t))  # timeformat=unixtime: already UTC
        elif isinstance(t, str) and len(t) <= 40:
            try:
                stamp = dt.datetime.fromisoformat(t)
            except ValueError:
                raise ForecastError("hourly.time[%d]=%.40r: not an ISO 8601 time" % (i, t)) from None
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.timezone(dt.timedelta(seconds=offset_s)))
            try:
                out.append(stamp.timestamp())
            except (OverflowError, OSError, ValueError):
                raise ForecastError("hourly.time[%d]=%.40r: out of range" % (i, t)) from None
        else:
            raise ForecastError("hourly.time[%d]=%.40r: must be ISO 8601 text or unix seconds" % (i, t))
        if i and out[i] - out[i - 1] != 3600.0:
            raise ForecastError("hourly.time[%d]=%.40r: %g s after the previous time, must be 3600 (hourly, "
                                "ascending)" % (i, t, out[i] - out[i - 1]))
    return out


def parse_open_meteo(body: bytes, now_s: float, max_points: int = core_forecast.MAX_POINTS) -> Parsed:
    """An Open-Meteo-compatible hourly response as a Parsed forecast from the current hour on
    (at most `max_points` values). Raises ForecastError, and nothing else, on anything unusable."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ForecastError("not JSON (%s)" % str(exc)[:120]) from None
    if not isinstance(data, dict):
        raise ForecastError("must be a JSON object")
    if data.get("error"):
        raise ForecastError("the source answered an error: %.200r" % data.get("reason", data.get("error")))
    hourly = data.get("hourly")
    if not isinstance(hourly, dict):
        raise ForecastError("hourly: missing (ask for hourly=temperature_2m)")
    offset = data.get("utc_offset_seconds", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or not -50400 <= offset <= 50400:
        raise ForecastError("utc_offset_seconds=%.40r: must be whole seconds within +-14 h" % (offset,))
    units_raw = data.get("hourly_units")
    units: dict[str, Any] = units_raw if isinstance(units_raw, dict) else {}
    if units.get("temperature_2m", "°C") not in _TEMP_UNITS:
        raise ForecastError("hourly_units.temperature_2m=%.40r: must be °C" % (units.get("temperature_2m"),))
    times = _times(hourly, float(offset))
    n = len(times)
    temp = _series(hourly, "temperature_2m", n, core_forecast.TEMP_MIN_C, core_forecast.TEMP_MAX_C)
    rad = wind = None
    if "shortwave_radiation" in hourly:
        rad = _series(hourly, "shortwave_radiation", n, 0.0, core_forecast.RADIATION_MAX_W_M2)
    if "wind_speed_10m" in hourly:
        unit = units.get("wind_speed_10m", "km/h")
        if not isinstance(unit, str) or unit not in _WIND_UNITS:
            raise ForecastError("hourly_units.wind_speed_10m=%.40r: must be km/h or m/s" % (unit,))
        wind = _series(hourly, "wind_speed_10m", n, 0.0, core_forecast.WIND_MAX_M_S, _WIND_UNITS[unit])
    first = 0
    while first < n and times[first] + 3600.0 <= now_s:  # drop the hours already over
        first += 1
    if n - first < 2:
        raise ForecastError("too old: its last hour %s is before now" % dt.datetime.fromtimestamp(
            times[-1], dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    if times[first] > now_s + 6 * 3600.0:
        raise ForecastError("starts %.1f h from now: a forecast must cover the current hours" % (
            (times[first] - now_s) / 3600.0))
    end = first + max(2, min(max_points, core_forecast.MAX_POINTS))
    return Parsed(times[first], 3600.0, temp[first:end], rad[first:end] if rad is not None else None,
                  wind[first:end] if wind is not None else None)


PARSERS: dict[str, Callable[[bytes, float, int], Parsed]] = {SOURCE_NAME: parse_open_meteo}


# --- fetching, storing, sending ----------------------------------------------------------------
@dataclass
class CityState:
    source: str
    forecast: Parsed | None = None
    fetched_ts: float | None = None
    attempt_ts: float | None = None
    error: str = ""
    error_ts: float | None = None
    failures: int = 0
    sent: int = 0
    stations: list[str] = field(default_factory=list)


class ForecastFeed:
    """Per city: fetch, check, store and push the forecast (see the module docstring)."""

    def __init__(self, storage: Storage, cfg: dict[str, Any], stations: dict[str, dict[str, Any]],
                 wall_clock: Callable[[], float] = time.time, parser: str = SOURCE_NAME) -> None:
        self.storage = storage
        self.cfg = cfg
        self.clock = wall_clock
        self.parse = PARSERS[parser]
        self.cities: dict[str, CityState] = {}
        for city, source in sorted(cfg["cities"].items()):
            sids = sorted(sid for sid, s in stations.items() if str(s.get("city", "")) == city)
            self.cities[city] = CityState(source, stations=sids)

    async def load(self) -> None:
        """The stored forecasts and fetch states (a restart resumes with the last good ones)."""
        rows = await self.storage.forecast_rows()
        for city, st in self.cities.items():
            row = rows.get(city)
            if row is None:
                continue
            series = row["series"]
            if isinstance(series, dict) and row["start_ts"] is not None:
                st.forecast = Parsed(float(row["start_ts"]), float(row["step_s"]), series.get("temp_c", []),
                                     series.get("radiation_w_m2"), series.get("wind_m_s"))
                st.fetched_ts = row["fetched_ts"]
            st.attempt_ts, st.error, st.error_ts, st.failures = (row["attempt_ts"], row["error"], row["error_ts"],
                                                                 int(row["failures"] or 0))

    async def _get(self, source: str) -> bytes:
        if source.startswith(("http://", "https://")):
            timeout = aiohttp.ClientTimeout(total=float(self.cfg["timeout_s"]))
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(source) as resp:
                if resp.status != 200:
                    text = (await resp.content.read(300)).decode("utf-8", "replace")
                    raise ForecastError("HTTP %d from the source: %s" % (resp.status, text.strip()[:200]))
                body = await resp.content.read(MAX_BODY_BYTES + 1)
        else:
            def read() -> bytes:
                with open(source, "rb") as fh:
                    return fh.read(MAX_BODY_BYTES + 1)
            body = await asyncio.to_thread(read)
        if len(body) > MAX_BODY_BYTES:
            raise ForecastError("answer larger than %d bytes" % MAX_BODY_BYTES)
        return body

    async def fetch_city(self, city: str) -> Parsed:
        """One attempt: get and parse. Raises ForecastError with a text for a person."""
        st = self.cities[city]
        try:
            body = await self._get(st.source)
        except ForecastError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise ForecastError("cannot get %s: %s" % (_where(st.source), str(exc) or type(exc).__name__)) from None
        return self.parse(body, self.clock(), int(self.cfg["max_points"]))

    async def refresh_city(self, city: str, publish: Publisher | None) -> bool:
        """Fetch (with retries), store and send one city's forecast; False when every attempt
        failed (the error is recorded; the last good forecast stays and is sent again)."""
        st = self.cities[city]
        delay = float(self.cfg["retry_s"])
        parsed: Parsed | None = None
        for attempt in range(int(self.cfg["retries"]) + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2.0
            now = self.clock()
            st.attempt_ts = now
            try:
                parsed = await self.fetch_city(city)
                break
            except ForecastError as exc:
                st.error, st.failures = str(exc), st.failures + 1
                if st.error_ts is None or st.failures == 1:
                    st.error_ts = now
                log.warning("forecast of %s from %s: %s (attempt %d)", city, _where(st.source), exc, attempt + 1)
                await self._store_error(city, str(exc), now)
        if parsed is not None:
            st.forecast, st.fetched_ts, st.error, st.error_ts, st.failures = parsed, st.attempt_ts, "", None, 0
            try:
                await self.storage.store_forecast(city, st.source, float(st.attempt_ts or 0.0), parsed.start_ts,
                                                  parsed.step_s, parsed.series())
            except Exception as exc:  # noqa: BLE001 - storage trouble must not stop the push
                log.warning("storing the forecast of %s failed: %s", city, exc)
        if publish is not None:
            await self.send_city(city, publish)
        return parsed is not None

    async def _store_error(self, city: str, error: str, now: float) -> None:
        try:
            await self.storage.store_forecast_error(city, self.cities[city].source, now, error)
        except Exception as exc:  # noqa: BLE001 - the error stays visible in memory
            log.warning("storing the forecast error of %s failed: %s", city, exc)

    async def send_city(self, city: str, publish: Publisher) -> int:
        """Send the city's forecast held to each of its stations (retained); returns how many."""
        st = self.cities[city]
        fc = st.forecast
        if fc is None or st.fetched_ts is None:
            return 0
        sent = 0
        for sid in st.stations:
            topic, payload = codec.encode_forecast(sid, st.fetched_ts, fc.start_ts, fc.step_s, fc.temp_c, SOURCE_NAME,
                                                   fc.radiation_w_m2, fc.wind_m_s)
            await publish(topic, payload, 1, True)
            sent += 1
        st.sent += sent
        return sent

    async def run(self, publish: Publisher) -> None:
        """Every refresh_s, fetch each city in turn; a send the broker link refused (not connected
        yet, an outage) is tried again every RESEND_S. Nothing raises out of here."""
        try:
            await self.load()
        except Exception as exc:  # noqa: BLE001 - start without the stored forecasts
            log.warning("loading stored forecasts failed: %s", exc)
        unsent = set(self.cities)  # the stored forecasts go out at once
        next_fetch = time.monotonic()
        while True:
            if time.monotonic() >= next_fetch:
                next_fetch = time.monotonic() + float(self.cfg["refresh_s"])
                # the cities at once: one slow or failing source (retries, back-off) delays no other
                await asyncio.gather(*(self._refresh_quietly(city) for city in self.cities))
                unsent.update(self.cities)
            for city in sorted(unsent):
                try:
                    await self.send_city(city, publish)
                    unsent.discard(city)
                except Exception as exc:  # noqa: BLE001 - broker outage: resent shortly
                    log.info("forecast of %s: sending failed (%s); retrying in %.0f s", city, exc, RESEND_S)
            await asyncio.sleep(max(0.0, min(RESEND_S if unsent else float(self.cfg["refresh_s"]),
                                             next_fetch - time.monotonic())))

    async def _refresh_quietly(self, city: str) -> None:
        try:
            await self.refresh_city(city, None)
        except Exception:  # noqa: BLE001 - task boundary: the next round tries again
            log.exception("forecast of %s: refresh failed", city)

    def status(self) -> list[dict[str, Any]]:
        """For the dashboard (GET /api/forecast): one dict per configured city."""
        now = self.clock()
        out = []
        for city, st in self.cities.items():
            fc = st.forecast
            horizon = None
            if fc is not None:
                horizon = round(max(0.0, fc.start_ts + (len(fc.temp_c) - 1) * fc.step_s - now) / 3600.0, 1)
            out.append({"city": city, "source": _where(st.source), "stations": len(st.stations),
                        "fetched_ts": st.fetched_ts, "start_ts": fc.start_ts if fc else None,
                        "points": len(fc.temp_c) if fc else 0, "horizon_h": horizon,
                        "next_temp_c": fc.temp_c[:24] if fc else [], "attempt_ts": st.attempt_ts,
                        "error": st.error, "error_ts": st.error_ts, "failures": st.failures, "ok": not st.error})
        return out


def _where(source: str) -> str:
    """A source for logs and the dashboard: a URL without its query (it may hold an API key)."""
    return source.split("?", 1)[0]
