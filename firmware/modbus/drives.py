"""Variable-speed drives on the bus: their state machines, resets and status, from profile data.

A drive profile carries a "drive" table (heatkeeper.core.device_profiles, DRIVE): how to read
the drive's state from its status word and which control word to send from each state. The
bus layer (io.py) calls this module at three points of each cycle:

- `read_points()`: the status word (and fault code) are read every cycle with the inputs.
- `observe(values, now_s, available)`: after the reads. Decodes state and flags, steps the
  reset policy (heatkeeper.core.drive_reset), raises and clears the drive's alarms and events.
- `control_regs(run, held, held_s, now_s, refresh_s)`: the word to write this cycle, or None.

Rules (why):
- The word follows the drive's REPORTED state, never only our memory of what we wrote: an
  ABB ACS580 that lost its supply comes back SWITCH-ON INHIBITED and needs the ready word
  0x0476 before the run word 0x047F; a Danfoss FC stands until it gets a valid start word
  again. So a run word that has not taken effect is sent again every RESEND_S (unless the
  drive is tripped or in local control, where no word gets through).
- A reset is the profile's reset word (the stop word plus the vendor's reset bit) held for
  the policy's pulse: the previous word has the bit clear, so the drive sees a rising edge.
- The drive's own view of its health goes to the station as the pump's fault input: tripped,
  trip-locked or in local control (Hand/Off) means "not available", so core changes over.
- Alarms: `<pump>_local` (in local control: names the pump), `<pump>_drive_warning`
  (warning, or an error without trip), `<pump>_needs_visit` (a trip left for a person: the
  vendor says it needs one, or the reset limit was reached). Every reset is an event.
- Unknown status (device unavailable, not read yet): nothing is concluded, alarms hold, and
  the control word falls back to the point's plain on/off words.
"""

from __future__ import annotations

from typing import Any

from heatkeeper.core import codec
from heatkeeper.core import drive_reset as dr
from heatkeeper.core import signals as S
from heatkeeper.core.device_profiles import DRIVE_STATES, drive_flags, drive_state

RESEND_S = 2.0  # a word that has not taken effect is sent again after this long
TRIP_STATES = ("tripped", "trip_locked")


def for_device(device: str, profile: dict, bindings: dict[str, str]) -> DriveControl | None:
    """The DriveControl of a device whose profile has a drive table and whose control word is
    bound to a run signal; None otherwise."""
    drive = profile.get("drive")
    if drive is None:
        return None
    run_signal = next((sig for sig, point in bindings.items() if point == drive["control"] and sig in S.ACTUATORS), None)
    if run_signal is None or not run_signal.endswith("_run"):
        return None
    return DriveControl(device, profile, run_signal)


class DriveControl:
    """One drive: reported state, flags, reset policy, alarms and the word to send."""

    def __init__(self, device: str, profile: dict, run_signal: str, reset_cfg: dict | None = None) -> None:
        self.device = device
        self.profile = profile
        self.drive = profile["drive"]
        self.run_signal = run_signal
        self.prefix = run_signal[: -len("run")]  # "pump1_"
        digits = "".join(ch for ch in self.prefix if ch.isdigit())
        self.pump = int(digits) if digits else 0
        self.label = ("pump %d" % self.pump) if self.pump else self.prefix.rstrip("_").replace("_", " ")
        self.fault_signal = self.prefix + "fault" if self.prefix + "fault" in S.INPUTS else None
        self.policy = dr.DriveReset(dict(dr.DEFAULTS, **(reset_cfg or {})))
        self.control_point: str = self.drive["control"]
        point = profile["points"][self.control_point]
        self.plain_words = (int(point["off_value"]), int(point["on_value"]))
        self.known = False
        self.status_word = 0
        self.state = "unknown"
        self.flags: dict[str, bool] = {}
        self.fault_code = 0
        self.fault_code_ok = False
        self.alarms: dict[str, bool] = {}
        self.messages: list[tuple[str, dict]] = []

    # --- reading -------------------------------------------------------------------------------
    def read_points(self) -> list[str]:
        """Points read every cycle for the state machine."""
        points = [self.drive["status"]]
        if self.drive.get("fault_code"):
            points.append(self.drive["fault_code"])
        return points

    def observe(self, values: dict[str, tuple[float, bool, float]], now_s: float, available: bool) -> None:
        """Take this cycle's status word (and fault code) and step the reset policy."""
        value, ok, read_s = values.get(self.drive["status"], (0.0, False, -1e18))
        self.known = bool(available and ok and read_s == now_s)
        code_point = self.drive.get("fault_code")
        if code_point:
            code, code_ok, code_s = values.get(code_point, (0.0, False, -1e18))
            self.fault_code_ok = bool(available and code_ok and code_s == now_s)
            self.fault_code = int(code) if self.fault_code_ok else 0
        if not self.known:
            self.policy.step(now_s, False, False, False, False, self.fault_code)
            return
        old = self.state
        self.status_word = int(value) & 0xFFFF
        self.state = drive_state(self.drive, self.status_word)
        was_local = self.flags.get("local", False)
        self.flags = drive_flags(self.drive, self.status_word)
        if self.state != old and (self.state in ("inhibited", "not_ready") + TRIP_STATES or old in ("inhibited",)
                                  + TRIP_STATES):
            self._event("state", now_s, {"from": old, "to": self.state, "status_word": self.status_word})
        if self.flags.get("local", False) != was_local:
            self._event("local" if self.flags.get("local") else "remote", now_s, {"status_word": self.status_word})
        tripped = self.state in TRIP_STATES
        if self.drive.get("fault_code"):
            resettable_known = self.fault_code_ok
            resettable = self.fault_code not in self.drive["no_reset_codes"]
        else:
            resettable_known, resettable = True, True
        if self.state in self.drive["no_reset_states"]:
            resettable_known, resettable = True, False
        self.policy.step(now_s, True, tripped, resettable_known, resettable, self.fault_code)
        for ev in self.policy.take_events():
            self._event(ev["reason"], now_s, {"attempt": ev["attempt"], "fault_code": ev["fault_code"],
                                             "latched": ev["latched"], "resets_total": self.policy.total})
        self._alarms(now_s)

    def _event(self, reason: str, now_s: float, extra: dict[str, Any]) -> None:
        body = {"kind": "drive", "reason": reason, "device": self.device, "pump": self.pump, "state": self.state,
                "at_s": now_s}
        body.update(extra)
        self.messages.append((codec.UP_EVENT, body))

    def _alarms(self, now_s: float) -> None:
        where = "%s drive (%s)" % (self.label, self.device)
        latched = self.policy.state == dr.R_LATCHED
        why = dr.LATCH_REASONS[self.policy.latched_reason]
        rows = (
            ("local", "major", self.flags.get("local", False),
             "%s in local control (Hand/Off on its panel): the station cannot run it" % where),
            ("drive_warning", "minor", self.flags.get("warning", False) or self.flags.get("error", False),
             "%s reports a %s" % (where, "warning" if self.flags.get("warning") else "fault without trip")),
            ("needs_visit", "major", latched,
             "%s tripped (fault code %s) and is not reset over the bus (%s): needs a visit"
             % (where, "0x%04X" % self.fault_code if self.fault_code else "-", why.replace("_", " "))),
        )
        for suffix, severity, active, text in rows:
            code = self.prefix + suffix
            if active == self.alarms.get(code, False):
                continue
            self.alarms[code] = active
            self.messages.append((codec.UP_ALARM, {
                "code": code, "state": "active" if active else "cleared", "reason": "raised" if active else "cleared",
                "severity": severity, "text": text, "device": self.device, "pump": self.pump,
                "value": self.status_word, "since_s": now_s}))

    def inputs(self) -> dict[str, tuple[float, bool]]:
        """The pump's fault input as the drive sees it (tripped, trip-locked or local = 1)."""
        if self.fault_signal is None:
            return {}
        bad = self.state in TRIP_STATES or self.flags.get("local", False)
        return {self.fault_signal: (1.0 if bad else 0.0, self.known)}

    # --- writing -------------------------------------------------------------------------------
    def control_regs(self, run: bool, held: list[int] | None, held_s: float | None, now_s: float,
                     refresh_s: float) -> list[int] | None:
        """The control word to write now (as registers), or None when nothing needs writing.
        `held`/`held_s`: the word last confirmed on the device and when."""
        age_s = now_s - held_s if held_s is not None else 1e18
        if not self.known:
            word = self.plain_words[1 if run else 0]
            return None if held == [word] and age_s < refresh_s else [word]
        if self.policy.reset:
            word = int(self.drive["reset_word"])
        else:
            word = int(self.drive["words"][self.state][1 if run else 0])
        if held != [word] or age_s >= refresh_s:
            return [word]
        run_state = self.drive["run_state"]
        not_there = (self.state != run_state) if run else (self.state == run_state)
        if not_there and self.state not in TRIP_STATES and not self.flags.get("local", False) and age_s >= RESEND_S:
            return [word]
        return None

    # --- reporting -----------------------------------------------------------------------------
    def telemetry(self) -> dict[str, Any]:
        """Flat telemetry fields of this drive (None where the status is unknown)."""
        p = self.prefix
        known = self.known
        flags = self.flags

        def flag(name: str) -> int | None:
            return (1 if flags.get(name) else 0) if known and name in self.drive["flags"] else None

        return {
            p + "drive_state": DRIVE_STATES.index(self.state) if known else 0,
            p + "drive_status_word": self.status_word if known else None,
            p + "local": flag("local"),
            p + "drive_warning": flag("warning"),
            p + "drive_error": flag("error"),
            p + "drive_inhibited": flag("inhibited"),
            p + "drive_tripped": (1 if self.state in TRIP_STATES else 0) if known else None,
            p + "drive_fault_code": self.fault_code if self.fault_code_ok else None,
            p + "drive_resets_1h": len(self.policy.times),
            p + "drive_resets_total": self.policy.total,
            p + "drive_reset_latched": 1 if self.policy.state == dr.R_LATCHED else 0,
        }

    def take_messages(self) -> list[tuple[str, dict]]:
        """(kind, body) uplink messages raised since the last call."""
        out, self.messages = self.messages, []
        return out
