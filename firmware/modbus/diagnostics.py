"""What the devices say about themselves, and what their Modbus errors say about them.

Two jobs, both per device, both turned into uplink messages (`take_messages()`):

- Device diagnostics: the profile's alarm points (Belimo No. 105 "actuator cannot move",
  "gear disengaged", the Kamstrup info code, ...) raise the alarm `<device>_<code>` while
  active and clear it when the device stops reporting it. Raised and cleared once per change.
- Modbus errors: every exception response and every rejected write is counted per device and
  point (in DeviceHealth). The first of an episode is logged at once, later ones at most once
  per `log_interval_s` as a count ("log once, then rate-limited"); errors that persist for
  `alarm_after_s` raise `<device>_modbus_errors`, cleared after `alarm_after_s` without any.

Messages are (kind, body) with kind "alarm" or "event" as core.codec's uplink kinds; the
station runtime sends them like its own alarms.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from heatkeeper.core import codec
from heatkeeper.core.device_profiles import alarm_active

log = logging.getLogger("heatkeeper.modbus")

Message = tuple[str, dict[str, Any]]


def field_name(text: str) -> str:
    """A telemetry field name from a device or point name: lower case, [a-z0-9_] only."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "device"


class DeviceDiagnostics:
    """Alarm state and error bookkeeping of one device."""

    def __init__(self, device: str, profile: dict, *, log_interval_s: float = 60.0, alarm_after_s: float = 60.0):
        self.device = device
        self.profile = profile
        self.log_interval_s = log_interval_s
        self.alarm_after_s = alarm_after_s
        self.active: dict[str, dict[str, Any]] = {}  # alarm code -> body it was raised with
        self.messages: list[Message] = []
        # error episode: first and last error time, errors since the last log line, by what
        self.first_error_s: float | None = None
        self.last_error_s: float | None = None
        self.logged_s: float | None = None
        self.unlogged: dict[str, int] = {}
        self.episode_errors = 0

    # --- device-reported conditions ------------------------------------------------------------
    def _alarm(self, code: str, active: bool, severity: str, text: str, **extra: Any) -> None:
        full = "%s_%s" % (field_name(self.device), code)
        if active == (full in self.active):
            return
        body: dict[str, Any] = {"code": full[:64], "severity": severity, "device": self.device, "text": text}
        body.update(extra)
        if active:
            body.update(state="active", reason="raised")
            self.active[full] = body
            log.warning("modbus device %s: %s", self.device, text)
        else:
            self.active.pop(full, None)
            body.update(state="cleared", reason="cleared", text="cleared: " + text)
            log.info("modbus device %s: cleared: %s", self.device, text)
        self.messages.append((codec.UP_ALARM, body))

    def observe(self, point: str, value: float, ok: bool) -> None:
        """A fresh reading of an alarm point: raise or clear its alarm."""
        pt = self.profile["points"][point]
        spec = pt.get("alarm")
        if not spec or not ok:
            return  # an unreadable diagnostic is not "all clear": keep the alarm as it was
        on = alarm_active(self.profile, point, value)
        text = spec["text"]
        if pt["type"] in ("uint32", "int32"):
            text = "%s (code %08d)" % (text, int(value))
        self._alarm(spec["code"], on, spec.get("severity", "major"), text, point=point, value=value)

    # --- Modbus errors -------------------------------------------------------------------------
    def error(self, what: str, now_s: float) -> None:
        """One exception response or rejected write (`what`: e.g. "write setpoint: exception 3")."""
        if self.first_error_s is None:
            self.first_error_s = now_s
        self.last_error_s = now_s
        self.episode_errors += 1
        self.unlogged[what] = self.unlogged.get(what, 0) + 1
        if self.logged_s is None or now_s - self.logged_s >= self.log_interval_s:
            self._log_errors(now_s)

    def _log_errors(self, now_s: float) -> None:
        if not self.unlogged:
            return
        parts = ", ".join("%s x%d" % (k, n) for k, n in sorted(self.unlogged.items()))
        if self.logged_s is None:
            log.warning("modbus device %s: %s", self.device, parts)
        else:
            log.warning("modbus device %s: %d errors in the last %.0f s: %s", self.device,
                        sum(self.unlogged.values()), now_s - self.logged_s, parts)
        self.logged_s = now_s
        self.unlogged = {}

    def tick(self, now_s: float) -> None:
        """Once per cycle: flush rate-limited log lines, raise or clear the error alarm."""
        if self.logged_s is not None and self.unlogged and now_s - self.logged_s >= self.log_interval_s:
            self._log_errors(now_s)
        if self.first_error_s is None or self.last_error_s is None:
            return
        if now_s - self.last_error_s >= self.alarm_after_s:
            # quiet for a whole alarm period: the episode is over
            self._alarm("modbus_errors", False, "minor", "Modbus exception responses or rejected writes persist")
            if self.unlogged:
                self._log_errors(now_s)
            if self.logged_s is not None:
                log.info("modbus device %s: no Modbus errors for %.0f s", self.device, now_s - self.last_error_s)
            self.first_error_s = self.last_error_s = self.logged_s = None
            self.episode_errors = 0
            return
        if now_s - self.first_error_s >= self.alarm_after_s and self.episode_errors >= 3:
            self._alarm("modbus_errors", True, "minor", "Modbus exception responses or rejected writes persist",
                        errors=self.episode_errors)

    def take(self) -> list[Message]:
        """The messages raised since the last call."""
        out, self.messages = self.messages, []
        return out
