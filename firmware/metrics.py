"""The station's figures for the company's existing monitoring: `GET /metrics` in Prometheus'
text format (version 0.0.4, written by core/exposition.py, as the supervisor's are).

Off unless `[metrics] enabled = true`; bound to `[metrics] host:port` (127.0.0.1:9101 by
default). With `allow_from`, only those addresses and networks are answered (others get 403),
as the local Modbus panel does; bound off loopback, `allow_from` is required (firmware/config.py). Read-only: the figures the station already reports in its telemetry, no settings, no
secrets, no command. It never holds the control loop up: a scrape reads what the last cycle
left, and a port that cannot be bound leaves the station heating and retrying (firmware/runtime.py).

    heatkeeper_station_cycles_total, _cycle_overruns_total, _cycle_seconds (the last cycle),
    _io_timeouts_total, _storage_errors_total, _journal_errors_total, _task_restarts_total,
    _events_suppressed_total, _uplink_connected, _uplink_resent_total, _outbox_messages (waiting to be sent), _outbox_kept_messages,
    _outbox_dropped_total, _alarms (listed now, by severity), _alarm (one per listed alarm),
    _device_available and _device_requests_total/_device_failures_total (per Modbus device),
    _resident_bytes, _start_time_seconds, and every number of the last telemetry record as
    heatkeeper_station_value{name="..."}.

Every sample carries the label station="<[station] id>".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from heatkeeper.core import alarms as core_alarms
from heatkeeper.core import signals as S
from heatkeeper.core.exposition import CONTENT_TYPE, Exposition

from .address_filter import AddressFilter
from .config import MetricsSection
from .runtime import rss_kb  # runtime imports this module only when [metrics] is enabled

log = logging.getLogger("heatkeeper.station.metrics")

MAX_REQUEST_BYTES = 8192  # a scrape's request line and headers; more is refused
REQUEST_TIMEOUT_S = 5.0  # a client that sends nothing is dropped after this long
MAX_CLIENTS = 8  # concurrent connections; more are closed at once


def render(station: Any) -> str:
    """The exposition of a running `firmware.runtime.Station`."""
    sid = {"station": station.sid}
    out = Exposition()

    def one(name: str, kind: str, help_text: str, value: float) -> None:
        out.family(name, kind, help_text, [("", sid, value)])

    one("heatkeeper_station_cycles_total", "counter", "Control cycles run since the process started.", station.cycles)
    one("heatkeeper_station_cycle_overruns_total", "counter", "Control cycles that took longer than the cycle period.",
        station.overruns)
    one("heatkeeper_station_cycle_seconds", "gauge", "Duration of the last control cycle (Modbus reads and writes "
        "included).", station.cycle_time_ms / 1000.0)
    one("heatkeeper_station_io_timeouts_total", "counter", "Process image reads or writes that timed out.",
        station.io_timeouts)
    one("heatkeeper_station_storage_errors_total", "counter", "State snapshots the storage failed to save.",
        station.storage_errors)
    one("heatkeeper_station_journal_errors_total", "counter", "Journal writes that failed.", station.journal_errors)
    one("heatkeeper_station_task_restarts_total", "counter", "Background tasks (uplink, local panel) restarted after "
        "a failure.", station.supervisor.restarts)
    one("heatkeeper_station_events_suppressed_total", "counter", "Repeated events summarised instead of sent.",
        station.limiter.suppressed_total)
    one("heatkeeper_station_uplink_connected", "gauge", "1 while the station is connected to the supervisor's broker.",
        1 if station.uplink is not None and station.uplink.connected else 0)
    one("heatkeeper_station_uplink_resent_total", "counter", "Messages the broker had acknowledged, sent again after "
        "a dropped connection or at the start ([mqtt] resend_after_reconnect_s).", station.uplink.resent if station.uplink is not None else 0)
    stats = station.outbox.stats()
    one("heatkeeper_station_outbox_messages", "gauge", "Messages stored in the outbox, waiting for the broker.",
        stats["outbox_pending"])
    one("heatkeeper_station_outbox_kept_messages", "gauge", "Messages the broker acknowledged, kept in the outbox "
        "for a resend after a drop ([mqtt] resend_after_reconnect_s).", station.outbox.kept)
    one("heatkeeper_station_outbox_dropped_total", "counter", "Messages the full outbox had to drop (thinning "
        "first keeps alarms and events).", stats["outbox_dropped_total"])

    listed = [a for a in station.last_out.get(S.ALARMS) or () if isinstance(a, dict)]
    firmware = sorted(station.firmware_alarms)
    by_severity = {severity: 0 for severity in core_alarms.SEVERITIES}
    for alarm in listed:
        severity = str(alarm.get("severity"))
        by_severity[severity] = by_severity.get(severity, 0) + 1
    out.family("heatkeeper_station_alarms", "gauge",
               "Alarms listed now (active or awaiting acknowledgement), by severity; the firmware's own "
               "(storage, settings) counted as warnings.",
               [("", dict(sid, severity=sev), n + (len(firmware) if sev == "warning" else 0))
                for sev, n in sorted(by_severity.items())])
    out.family("heatkeeper_station_alarm", "gauge", "One sample per alarm listed now (value 1).",
               [("", dict(sid, code=str(a.get("code")), severity=str(a.get("severity")), state=str(a.get("state"))), 1)
                for a in listed]
               + [("", dict(sid, code=code, severity="warning", state="active"), 1) for code in firmware])

    health = station.io.health() if hasattr(station.io, "health") else {}
    devices = sorted(health.items())
    out.family("heatkeeper_station_device_available", "gauge", "1 while the Modbus device answers.",
               [("", dict(sid, device=name), 1 if h.get("available") else 0) for name, h in devices])
    out.family("heatkeeper_station_device_requests_total", "counter", "Modbus requests sent to the device.",
               [("", dict(sid, device=name), h.get("requests", 0)) for name, h in devices])
    out.family("heatkeeper_station_device_failures_total", "counter",
               "Modbus requests to the device that failed, by kind.",
               [("", dict(sid, device=name, kind=kind), h.get(kind, 0)) for name, h in devices
                for kind in ("timeouts", "crc_errors", "framing_errors", "disconnected")])

    one("heatkeeper_station_resident_bytes", "gauge", "Resident memory of the station process.", rss_kb() * 1024)
    one("heatkeeper_station_start_time_seconds", "gauge", "When the station process started (Unix time).",
        station.started_wall)
    values = station.last_telemetry
    out.family("heatkeeper_station_value", "gauge",
               "Each number of the last telemetry record sent to the supervisor, by its telemetry name "
               "(temperatures in °C, flows in m3/h, positions in %).",
               [("", dict(sid, name=name), values[name]) for name in sorted(values)
                if isinstance(values[name], (int, float)) and not isinstance(values[name], bool)])
    return out.text()


class MetricsEndpoint:
    """The HTTP endpoint: HTTP/1.0-style, one response per connection, GET or HEAD /metrics."""

    def __init__(self, station: Any, cfg: MetricsSection) -> None:
        self.station = station
        self.cfg = cfg
        self.access = AddressFilter(cfg.allow_from)
        self.server: asyncio.Server | None = None
        self.clients = 0
        self.refused = 0  # connections answered 403

    async def start(self) -> None:
        """Bind and serve; OSError when the port cannot be bound."""
        self.server = await asyncio.start_server(self._serve, self.cfg.host, self.cfg.port, limit=MAX_REQUEST_BYTES)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2.0)
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_CLIENTS:
            writer.close()
            return
        self.clients += 1
        try:
            peer = writer.get_extra_info("peername")
            if not self.access.allows(str(peer[0]) if peer else ""):
                self.refused += 1
                writer.write(_response(403, "Forbidden", b"not in [metrics] allow_from\n"))
            else:
                writer.write(await self._answer(reader))
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT_S)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away or sent nothing: nothing to answer
        finally:
            self.clients -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
        except asyncio.LimitOverrunError:
            return _response(431, "Request Header Fields Too Large", b"request over %d bytes\n" % MAX_REQUEST_BYTES)
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return _response(400, "Bad Request", b"not an HTTP request line\n")
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target != b"/metrics":
            return _response(404, "Not Found", b"the station serves GET /metrics only\n")
        if method not in (b"GET", b"HEAD"):
            return _response(405, "Method Not Allowed", b"GET or HEAD only\n", extra=b"Allow: GET, HEAD\r\n")
        try:
            body = render(self.station).encode("utf-8")
        except Exception:  # a figure that cannot be read must not take the endpoint (or the station) down
            log.exception("metrics: rendering failed")
            return _response(500, "Internal Server Error", b"the figures could not be read; see the station log\n")
        response = _response(200, "OK", body, content_type=CONTENT_TYPE.encode("ascii"))
        return response[:len(response) - len(body)] if method == b"HEAD" else response


def _response(status: int, reason: str, body: bytes, content_type: bytes = b"text/plain; charset=utf-8",
              extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
            % (status, reason.encode("ascii"), content_type, len(body), extra)) + body
