"""Per-device health counters and exponential back-off.

A device that does not answer (timeout, CRC or framing error) backs off for
base * 2**(n-1) seconds after its n-th consecutive failure, capped at `max_s`, so a dead
device costs one timeout per back-off period and never stalls the rest of the bus.
Exception responses prove the device is alive: they are counted (per point too) but do not
back off; firmware.modbus.diagnostics logs them rate-limited and alarms when they persist.
Logged once when a device becomes unavailable and once when it is back.
"""

from __future__ import annotations

import logging

from .transport import CRC, DISCONNECTED, EXCEPTION, FRAMING, LINK_ERRORS, TIMEOUT, Reply

log = logging.getLogger("heatkeeper.modbus")


class DeviceHealth:
    """Counters, last error and back-off state of one device."""

    def __init__(self, name: str, bus: str, unit_id: int, backoff_base_s: float = 1.0, backoff_max_s: float = 60.0):
        self.name = name
        self.bus = bus
        self.unit_id = unit_id
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.requests = 0
        self.ok = 0
        self.timeouts = 0
        self.crc_errors = 0
        self.framing_errors = 0
        self.disconnected = 0
        self.exceptions: dict[int, int] = {}
        self.writes = 0
        self.write_mismatches = 0
        self.write_rejects = 0
        # per point: exception responses (reads and writes) and rejected writes (the device's
        # exception, or a value the profile refuses to encode)
        self.exceptions_by_point: dict[str, int] = {}
        self.write_rejects_by_point: dict[str, int] = {}
        self.last_error: str | None = None
        self.last_error_s: float | None = None
        self.consecutive_failures = 0
        self.backoff_until_s = 0.0
        self.available = True

    def backed_off(self, now_s: float) -> bool:
        """True while the device is skipped."""
        return now_s < self.backoff_until_s

    def note_error(self, text: str, now_s: float) -> None:
        """Record a problem that is not a transaction outcome (rejected command, mismatch)."""
        self.last_error = text
        self.last_error_s = now_s

    def count_points(self, points: list[str], exception: bool, write_reject: bool) -> None:
        """Charge one failed transaction to the points it carried."""
        for point in points:
            if exception:
                self.exceptions_by_point[point] = self.exceptions_by_point.get(point, 0) + 1
            if write_reject:
                self.write_rejects_by_point[point] = self.write_rejects_by_point.get(point, 0) + 1

    def record(self, reply: Reply, now_s: float) -> None:
        """Count one transaction's outcome and update the back-off."""
        self.requests += 1
        if reply.ok:
            self.ok += 1
            self.consecutive_failures = 0
            self.backoff_until_s = 0.0
            if not self.available:
                self.available = True
                log.info("modbus device %s (bus %s, id %d) is back", self.name, self.bus, self.unit_id)
            return
        self.note_error("%s: %s" % (reply.error, reply.detail), now_s)
        if reply.error == EXCEPTION:
            code = reply.exception_code or 0
            self.exceptions[code] = self.exceptions.get(code, 0) + 1
            return
        if reply.error == DISCONNECTED:
            self.disconnected += 1  # the line's fault, not the device's: no back-off
            return
        if reply.error == TIMEOUT:
            self.timeouts += 1
        elif reply.error == CRC:
            self.crc_errors += 1
        elif reply.error == FRAMING:
            self.framing_errors += 1
        if reply.error in LINK_ERRORS:
            self.consecutive_failures += 1
            delay = min(self.backoff_base_s * (2 ** min(self.consecutive_failures - 1, 30)), self.backoff_max_s)
            self.backoff_until_s = now_s + delay
            if self.available:
                self.available = False
                log.warning("modbus device %s (bus %s, id %d) unavailable: %s", self.name, self.bus, self.unit_id,
                            self.last_error)

    def as_dict(self, now_s: float) -> dict:
        """JSON-safe snapshot of the counters."""
        return {
            "bus": self.bus,
            "unit_id": self.unit_id,
            "requests": self.requests,
            "ok": self.ok,
            "timeouts": self.timeouts,
            "crc_errors": self.crc_errors,
            "framing_errors": self.framing_errors,
            "disconnected": self.disconnected,
            "exceptions": {str(k): v for k, v in sorted(self.exceptions.items())},
            "writes": self.writes,
            "write_mismatches": self.write_mismatches,
            "write_rejects": self.write_rejects,
            "exceptions_by_point": dict(sorted(self.exceptions_by_point.items())),
            "write_rejects_by_point": dict(sorted(self.write_rejects_by_point.items())),
            "last_error": self.last_error,
            "last_error_s": self.last_error_s,
            "consecutive_failures": self.consecutive_failures,
            "available": self.available,
            "backed_off": self.backed_off(now_s),
            "backoff_until_s": self.backoff_until_s if self.backed_off(now_s) else None,
        }
