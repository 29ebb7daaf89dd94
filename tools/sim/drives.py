"""Simulated variable-speed drives that behave as their manuals describe (for `heatkeeper sim`).

Written from the vendors' documents (/work/shared/reference/vendor_devices.md), not from the
firmware's drive tables, so the HIL tests check the firmware against the manual:

ABB ACS580, ABB Drives profile (ACS355 EFB state diagram p.319, ACS380 CW table p.437, FDNA-01
SW table p.91): after power-up, OFF2/OFF3 and a fault reset the drive is SWITCH-ON INHIBITED
(SW b6); CW b0 = 0 with b1 = b2 = 1 (0x0476) -> READY TO SWITCH ON (SW b0); CW b0..b3 and
b4..b6 set (0x047F) -> OPERATION ENABLED (SW b1, b2); CW b0 = 0 -> back to READY TO SWITCH ON;
CW b1 = 0 (OFF2) or b2 = 0 (OFF3) -> SWITCH-ON INHIBITED; CW b7 rising edge resets a trip (to
SWITCH-ON INHIBITED) when its cause is gone; without CW b10 only the OFF bits act; in local
control (SW b9 REMOTE = 0) bus words are ignored. Fault code (04.01) at 400401.

Danfoss FC, FC profile (FC 102 DG Table 8.33 CTW, HVAC DG 7.11.2 STW): a CTW without b10
(data valid) is ignored; the drive runs while CTW has b06 start, b03 no coast, b04 no quick
stop; CTW b07 rising edge resets a trip, never a trip lock (STW b06: needs a mains cycle);
STW b09 bus control = 0 in local Hand/Off; after power-up it stands until a valid start word.

The plant's pump runs while the drive does (its `pumpN_run` follows the drive, not the word
the station wrote). Faults are injected through the control channel (heatkeeper.tools.sim.control):
drive_power_cycle, drive_trip, drive_local, drive_warning, drive_error, drive_off2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ABB_INHIBITED, ABB_READY, ABB_OPERATING = "switch_on_inhibited", "ready_to_switch_on", "operating"
FAULTS = ("drive_power_cycle", "drive_trip", "drive_local", "drive_warning", "drive_error", "drive_off2")


class SimDrive:
    """Common drive state; `control(word)` on a bus write, `status()` for the status word."""

    model = "drive"

    def __init__(self, run_signal: str, on_run: Callable[[str, float], None] | None) -> None:
        self.run_signal = run_signal
        self.on_run = on_run
        self.powered = True
        self.off_until_s = -1.0
        self.cw = 0
        self.tripped = False
        self.trip_resettable = True
        self.fault_code = 0
        self.local: str | None = None  # None (remote), "hand" or "off"
        self.warning = False
        self.error = False
        self.resets = 0
        self._running_sent: bool | None = None
        self.started = False

    # --- common ---------------------------------------------------------------------------------
    def bus_running(self) -> bool:
        raise NotImplementedError

    def running(self) -> bool:
        if not self.powered or self.tripped:
            return False
        if self.local is not None:
            return self.local == "hand"
        return self.bus_running()

    def sync_plant(self) -> None:
        run = self.running()
        if run != self._running_sent and self.on_run is not None:
            self._running_sent = run
            self.on_run(self.run_signal, 1.0 if run else 0.0)

    def trip(self, code: int, resettable: bool) -> None:
        self.tripped, self.trip_resettable, self.fault_code = True, resettable, code
        self.sync_plant()

    def reset_on_site(self) -> None:
        """Someone pressed Reset on the panel (any trip, lock included)."""
        self.tripped, self.fault_code = False, 0
        self.after_reset()
        self.sync_plant()

    def after_reset(self) -> None:
        pass

    def power_off(self, until_s: float) -> None:
        self.powered = False
        self.off_until_s = until_s
        self.sync_plant()

    def power_on(self) -> None:
        self.powered = True
        self.off_until_s = -1.0
        self.cw = 0
        if self.tripped and self.trip_resettable:
            self.tripped, self.fault_code = False, 0  # a mains cycle clears a trip whose cause is gone
        elif self.tripped:
            pass  # the cause is still there: trips again at once
        self.power_up_state()
        self.sync_plant()

    def power_up_state(self) -> None:
        pass

    def tick(self, now_s: float, plant_fault: bool, plant_running: bool) -> None:
        if not self.started:  # the plant starts with its pumps as found; so do the drives
            self.started = True
            if plant_running:
                self.found_running()
        if not self.powered and 0.0 <= self.off_until_s <= now_s:
            self.power_on()
        if plant_fault and self.powered and not self.tripped:
            self.trip(self.default_code(), False)  # the plant's motor trip (inject pump_trip): cause persists
        self.sync_plant()

    def found_running(self) -> None:
        pass

    def default_code(self) -> int:
        return 0

    def snapshot(self) -> dict[str, Any]:
        return {"model": self.model, "powered": self.powered, "running": self.running(), "control_word": self.cw,
                "status_word": self.status(), "tripped": self.tripped, "trip_resettable": self.trip_resettable,
                "fault_code": self.fault_code, "local": self.local, "warning": self.warning, "error": self.error,
                "resets": self.resets}

    def status(self) -> int:
        raise NotImplementedError

    def control(self, word: int) -> None:
        raise NotImplementedError


class AbbAcs580(SimDrive):
    model = "abb_acs580"

    def __init__(self, run_signal: str, on_run: Callable[[str, float], None] | None) -> None:
        super().__init__(run_signal, on_run)
        self.state = ABB_INHIBITED
        self.off2 = False
        self.off3 = False

    def power_up_state(self) -> None:
        self.state = ABB_INHIBITED

    def after_reset(self) -> None:
        self.state = ABB_INHIBITED

    def found_running(self) -> None:
        self.state, self.cw = ABB_OPERATING, 0x047F

    def default_code(self) -> int:
        return 0x7121  # motor stall (DRIVECOM)

    def bus_running(self) -> bool:
        return self.state == ABB_OPERATING

    def control(self, word: int) -> None:
        prev, self.cw = self.cw, word
        if self.local is not None or not self.powered:
            return
        if self.tripped:
            if word & 0x80 and not prev & 0x80:
                self.resets += 1
                if self.trip_resettable:
                    self.tripped, self.fault_code = False, 0
                    self.state = ABB_INHIBITED
            self.sync_plant()
            return
        self.off2, self.off3 = not word & 0x02, not word & 0x04
        if self.off2 or self.off3:
            self.state = ABB_INHIBITED  # coast / emergency stop, then switch-on inhibited
        elif word & 0x0400:  # REMOTE_CMD: the other bits act only with it
            if self.state == ABB_INHIBITED:
                if not word & 0x01:
                    self.state = ABB_READY
            elif not word & 0x01:
                self.state = ABB_READY  # OFF1: ramp stop
            elif word & 0x7F == 0x7F:
                self.state = ABB_OPERATING
        self.sync_plant()

    def status(self) -> int:
        if not self.powered:
            return 0
        sw = 0
        operating = self.state == ABB_OPERATING and not self.tripped
        if self.state in (ABB_READY, ABB_OPERATING) and not self.tripped:
            sw |= 0x0001  # RDY_ON
        if operating:
            sw |= 0x0002 | 0x0004 | 0x0100  # RDY_RUN, RDY_REF, AT_SETPOINT
        if self.tripped:
            sw |= 0x0008
        if not self.off2:
            sw |= 0x0010  # OFF_2_STA: 1 = OFF2 inactive
        if not self.off3:
            sw |= 0x0020
        if self.state == ABB_INHIBITED and not self.tripped:
            sw |= 0x0040
        if self.warning:
            sw |= 0x0080
        if self.local is None:
            sw |= 0x0200  # REMOTE
        if self.local == "hand":
            sw |= 0x0004
        return sw


class DanfossFc(SimDrive):
    model = "danfoss_fc"

    def __init__(self, run_signal: str, on_run: Callable[[str, float], None] | None) -> None:
        super().__init__(run_signal, on_run)
        self.start = False

    def power_up_state(self) -> None:
        self.start = False

    def after_reset(self) -> None:
        self.start = False

    def found_running(self) -> None:
        self.start, self.cw = True, 0x047C

    def default_code(self) -> int:
        return 0

    def bus_running(self) -> bool:
        return self.start

    def control(self, word: int) -> None:
        prev, self.cw = self.cw, word
        if self.local is not None or not self.powered or not word & 0x0400:
            return  # local, or b10 = 0: "data invalid", the word is ignored
        if word & 0x80 and not prev & 0x80 and self.tripped:
            self.resets += 1
            if self.trip_resettable:
                self.tripped, self.fault_code = False, 0
                self.start = False
        self.start = bool(word & 0x40 and word & 0x08 and word & 0x10)
        self.sync_plant()

    def status(self) -> int:
        if not self.powered:
            return 0
        sw = 0x0001  # control ready
        if not self.tripped:
            sw |= 0x0002  # drive ready
        if self.cw & 0x08:
            sw |= 0x0004  # enable: not coasting
        if self.tripped:
            sw |= 0x0008
            if not self.trip_resettable:
                sw |= 0x0040  # trip lock
        if self.error:
            sw |= 0x0010
        if self.warning:
            sw |= 0x0080
        if self.local is None:
            sw |= 0x0200  # bus control
        if self.running():
            sw |= 0x0800 | 0x0100 | 0x0400  # in operation, speed = reference, frequency in range
        return sw


MODELS = {"abb_acs580": AbbAcs580, "danfoss_fc": DanfossFc}


def make(profile_name: str, run_signal: str, on_run: Callable[[str, float], None] | None) -> SimDrive | None:
    """The simulated drive of a profile, or None for a profile that is not a modelled drive."""
    cls = MODELS.get(profile_name)
    return cls(run_signal, on_run) if cls is not None else None


def _int(text: str) -> int:
    return int(text, 0)


def inject(drive: SimDrive, fault: str, args: list[str], now_s: float, clear: bool = False) -> dict[str, Any]:
    """Apply (or clear) one drive fault from the control channel; ValueError on bad arguments."""
    params = {}
    plain = []
    for item in args:
        key, sep, value = item.partition("=")
        if sep:
            params[key] = value
        else:
            plain.append(item)
    if fault == "drive_power_cycle":
        if clear:
            raise ValueError("drive_power_cycle cannot be cleared: the drive powers up by itself")
        off_s = float(plain[0]) if plain else float(params.get("off_s", 2.0))
        if not 0.0 <= off_s <= 3600.0:
            raise ValueError("drive_power_cycle off_s=%r s: must be in [0, 3600]" % off_s)
        drive.power_off(now_s + off_s)
        return {"off_s": off_s}
    if fault == "drive_trip":
        if clear:
            drive.reset_on_site()
            return {}
        code = _int(params.get("code", "0x3210"))  # DC link over-voltage: a transient
        resettable = params.get("resettable", "1") not in ("0", "false", "no")
        drive.trip(code, resettable)
        return {"code": code, "resettable": resettable}
    if fault == "drive_local":
        mode = (plain[0] if plain else params.get("mode", "off")) if not clear else None
        if mode not in (None, "hand", "off"):
            raise ValueError("drive_local mode=%r: must be hand or off" % mode)
        drive.local = mode
        drive.sync_plant()
        return {"local": mode}
    if fault == "drive_warning":
        drive.warning = not clear
        return {"warning": drive.warning}
    if fault == "drive_error":
        drive.error = not clear
        return {"error": drive.error}
    if fault == "drive_off2":
        if isinstance(drive, AbbAcs580):
            drive.state = ABB_INHIBITED  # OFF2 from another source (panel, digital input): coast
        else:
            drive.start = False  # type: ignore[attr-defined]
        drive.sync_plant()
        return {}
    raise ValueError("unknown drive fault %r: choose one of %s" % (fault, ", ".join(FAULTS)))
