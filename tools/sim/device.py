"""One simulated Modbus device: a register image built from the same device profile the
firmware reads with (heatkeeper.core.device_profiles), fed by plant readings, and turning
register writes back into actuator commands for the plant.

Rules, as real devices behave:
- Holding (FC3) and input (FC4) registers are separate images; each point lives in the one
  its profile names. Several bit points may share a status word (their bits are OR-ed).
- A read must lie inside one of the blocks the profile declares readable as one request
  (the registers there that hold no point read as 0); anything else, such as a Danfoss read
  across the undocumented 50201-50209, is "illegal data address" (exception 2), as the
  vendor documents.
- A write must target whole writable points (FC3 image); otherwise exception 2. A value the
  profile calls implausible (outside [min, max], an unknown control word) is exception 3.
- An input signal the plant reports as missing, or one under an injected open circuit, is
  served as the point's sentinel (or NaN / the top of the raw range when it has none), which
  the firmware's decode_point then flags as not ok.
- A setpoint the profile says is mapped into the device's own range (`scaled_by`, Belimo
  No. 1 between Min No. 106 and Max No. 107) moves the plant to position_for_setpoint(...);
  the range starts at 0..100 % (factory) and `set_point` changes it, as a technician would.
- Diagnostic points (Belimo No. 105 bits, the Kamstrup info code) hold what `set_point` put
  there; the plant never overwrites them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from heatkeeper.core import device_profiles as dp
from heatkeeper.core import signals as S

from . import drives, rtu

OnWrite = Callable[[str, float], None]


class DeviceConfigError(ValueError):
    """A device binding that cannot be served (unknown profile, point or signal)."""


class SimulatedDevice:
    """A device on a virtual line, answering `handle(request)` from its register images."""

    def __init__(self, name: str, unit_id: int, profile: str, bindings: Mapping[str, str],
                 on_write: OnWrite | None = None, branch: str = "") -> None:
        if profile not in dp.PROFILES:
            raise DeviceConfigError("device %s: profile=%r: must be one of %s" % (
                name, profile, ", ".join(sorted(dp.PROFILES))))
        self.name = name
        self.unit_id = unit_id
        self.profile_name = profile
        self.profile = dp.PROFILES[profile]
        self.on_write = on_write
        self.branch = branch  # a building branch valve of this group: bindings name core.signals.BRANCH_*
        inputs = S.BRANCH_INPUTS if branch else S.INPUTS
        actuators = S.BRANCH_ACTUATORS if branch else S.ACTUATORS
        points = self.profile["points"]
        problems = []
        self.inputs: dict[str, str] = {}  # signal -> point served from plant readings
        self.actuators: dict[str, str] = {}  # point -> signal commanded by writes
        for signal, point in bindings.items():
            if point not in points:
                problems.append("device %s: points.%s=%r: profile %s has no such point (has %s)" % (
                    name, signal, point, profile, ", ".join(sorted(points))))
            elif signal in actuators and points[point]["access"] == "rw":
                self.actuators[point] = signal
            elif signal in inputs:
                self.inputs[signal] = point
            else:
                problems.append("device %s: points.%s=%r: not an input signal, nor an actuator on a writable point" % (
                    name, signal, point))
        if problems:
            raise DeviceConfigError("; ".join(problems))
        self.open_circuit: set[str] = set()  # input signals whose sensor wire is broken
        self.images: dict[int, dict[int, int]] = {3: {}, 4: {}}
        self.readable: dict[int, set[int]] = {3: set(), 4: set()}
        self._build_maps()
        self.stats = {"reads": 0, "writes": 0, "exceptions": 0}
        self.writes: list[tuple[str, float]] = []  # recent (signal or point, value) writes, bounded
        # A modelled drive (tools/sim/drives.py) owns its control word, status word and fault code.
        self.drive: drives.SimDrive | None = None
        drive_table = self.profile.get("drive")
        if drive_table is not None:
            run_signal = self.actuators.get(drive_table["control"])
            if run_signal is not None:
                self.drive = drives.make(profile, run_signal, on_write)
        self.now_s: Callable[[], float] = lambda: 0.0

    def _build_maps(self) -> None:
        for blk in self.profile["blocks"]:
            span = range(blk["address"], blk["address"] + blk["count"])
            self.readable[blk["function_code"]].update(span)
            for a in span:
                self.images[blk["function_code"]].setdefault(a, 0)
        # Writable points start at their "off" state, as a device after power-up.
        for pt in self.profile["points"].values():
            if pt["access"] == "rw" and "on_value" in pt:
                self.images[3][pt["address"]] = pt["off_value"]
        # A device that maps its setpoint into [Min, Max] leaves the factory with 0..100 %; a
        # diagnostic that alarms at zero (UK24MOD actuator type 0: no actuator) starts healthy.
        for name, pt in self.profile["points"].items():
            alarm = pt.get("alarm") or {}
            if alarm.get("active") == "zero":
                self.set_point(name, max(1.0, float(pt["min"])))
        for pt in self.profile["points"].values():
            if "scaled_by" in pt:
                lo_pt, hi_pt = pt["scaled_by"]
                self.set_point(lo_pt, 0.0)
                self.set_point(hi_pt, 100.0)

    def set_point(self, point: str, value: float) -> None:
        """Put `value` (engineering units) into the point's registers, as the device itself or a
        technician at its keypad would: a bit point sets or clears only its bit."""
        pt = dp.get_point(self.profile, point)
        fc, address = pt["function_code"], pt["address"]
        regs = dp.encode_raw(self.profile, point, float(value))
        if "bit" in pt:
            mask = 1 << pt["bit"]
            self.images[fc][address] = (self.images[fc].get(address, 0) & ~mask) | (regs[0] & mask)
            return
        for i, reg in enumerate(regs):
            self.images[fc][address + i] = reg & 0xFFFF

    # --- plant -> registers --------------------------------------------------------------------
    def update(self, readings: Mapping[str, float | None]) -> None:
        """Refresh the input points from the plant's readings (engineering units)."""
        words: dict[tuple[int, int], int] = {}
        bitmasks: dict[tuple[int, int], int] = {}
        for signal, point in self.inputs.items():
            pt = self.profile["points"][point]
            fc, address = pt["function_code"], pt["address"]
            value = readings.get(signal)
            if signal in self.open_circuit or value is None or (isinstance(value, float) and not math.isfinite(value)):
                regs = self._missing(pt)
            else:
                regs = dp.encode_raw(self.profile, point, float(value))
            if "bit" in pt:
                key = (fc, address)
                bitmasks[key] = bitmasks.get(key, 0) | (1 << pt["bit"])
                words[key] = (words.get(key, 0) & ~(1 << pt["bit"])) | (regs[0] & (1 << pt["bit"]))
                continue
            for i, reg in enumerate(regs):
                words[(fc, address + i)] = reg & 0xFFFF
        for (fc, address), word in words.items():
            mask = bitmasks.get((fc, address))
            if mask is not None:
                word = (self.images[fc].get(address, 0) & ~mask) | word
            self.images[fc][address] = word
        if self.drive is not None:
            self._drive_registers(readings)

    def _drive_registers(self, readings: Mapping[str, float | None] | None) -> None:
        """Serve the drive model's control word, status word and fault code (after a plant tick
        when `readings` are given)."""
        drive = self.drive
        assert drive is not None
        if readings is not None:
            prefix = drive.run_signal[: -len("run")]
            drive.tick(self.now_s(), bool(readings.get(prefix + "fault") or 0.0),
                       bool(readings.get(prefix + "running") or 0.0))
        table = self.profile["drive"]
        points = self.profile["points"]
        status = points[table["status"]]
        self.images[status["function_code"]][status["address"]] = drive.status()
        control = points[table["control"]]
        self.images[3][control["address"]] = drive.cw & 0xFFFF
        if table.get("fault_code"):
            code = points[table["fault_code"]]
            self.images[code["function_code"]][code["address"]] = drive.fault_code if drive.tripped else 0

    @staticmethod
    def _missing(pt: dict) -> list[int]:
        if pt["sentinels"]:
            raw = pt["sentinels"][0]
            if dp.WIDTH[pt["type"]] == 1:
                return [raw & 0xFFFF]
            hi, lo = (raw >> 16) & 0xFFFF, raw & 0xFFFF
            return [hi, lo] if pt["word_order"] == "big" else [lo, hi]
        if pt["type"] == "float32":
            return [0x7FC0, 0x0000] if pt["word_order"] == "big" else [0x0000, 0x7FC0]
        return [0x7FFF] if dp.WIDTH[pt["type"]] == 1 else [0x7FFF, 0xFFFF]

    def value_of(self, point: str) -> tuple[float, bool]:
        """The point as the firmware would decode it now."""
        pt = dp.get_point(self.profile, point)
        fc = pt["function_code"]
        regs = [self.images[fc].get(pt["address"] + i, 0) for i in range(dp.WIDTH[pt["type"]])]
        value, ok = dp.decode_point(self.profile, point, regs)
        return float(value), bool(ok)

    # --- requests ------------------------------------------------------------------------------
    def handle(self, request: rtu.Request) -> bytes | None:
        fc = request.function_code
        unit = self.unit_id
        if self.drive is not None and not self.drive.powered:
            return None  # no supply, no answer
        if fc not in rtu.SUPPORTED_FCS:
            return self._exc(fc, rtu.EXC_ILLEGAL_FUNCTION)
        if fc in (rtu.FC_READ_HOLDING, rtu.FC_READ_INPUT):
            if not 1 <= request.count <= rtu.MAX_READ_REGISTERS:
                return self._exc(fc, rtu.EXC_ILLEGAL_VALUE)
            span = range(request.address, request.address + request.count)
            if dp.block_of(self.profile, fc, request.address, request.count) < 0:
                return self._exc(fc, rtu.EXC_ILLEGAL_ADDRESS)
            self.stats["reads"] += 1
            image = self.images[fc]
            return rtu.read_response(unit, fc, [image.get(a, 0) for a in span])
        if request.values is None or request.count < 1 or request.count > rtu.MAX_WRITE_REGISTERS:
            return self._exc(fc, rtu.EXC_ILLEGAL_VALUE)
        code = self._write(request.address, request.values)
        if code:
            return self._exc(fc, code)
        self.stats["writes"] += 1
        if fc == rtu.FC_WRITE_SINGLE:
            return rtu.write_single_response(unit, request.address, request.values[0])
        return rtu.write_multiple_response(unit, request.address, request.count)

    def _write(self, address: int, values: list[int]) -> int:
        """Validate then apply a write of `values` at `address`; 0 or a Modbus exception code."""
        span = range(address, address + len(values))
        targets = []
        covered: set[int] = set()
        for name, pt in self.profile["points"].items():
            if pt["function_code"] != 3:
                continue
            width = dp.WIDTH[pt["type"]]
            lo, hi = pt["address"], pt["address"] + width
            if hi <= span.start or lo >= span.stop:
                continue
            if pt["access"] != "rw" or lo < span.start or hi > span.stop:
                return rtu.EXC_ILLEGAL_ADDRESS
            regs = values[lo - address:hi - address]
            if self.drive is not None and name == self.profile["drive"]["control"]:
                targets.append((name, pt, regs, float(regs[0])))  # any word: the drive decides what it means
                covered.update(range(lo, hi))
                continue
            value, ok = dp.decode_point(self.profile, name, regs)
            if not ok:
                return rtu.EXC_ILLEGAL_VALUE
            targets.append((name, pt, regs, float(value)))
            covered.update(range(lo, hi))
        if covered != set(span):
            return rtu.EXC_ILLEGAL_ADDRESS
        for name, pt, regs, value in targets:
            for i, reg in enumerate(regs):
                self.images[3][pt["address"] + i] = reg
            if self.drive is not None and name == self.profile["drive"]["control"]:
                self.drive.control(regs[0])
                self.writes.append((name, value))
                self._drive_registers(None)
                continue
            signal = self.actuators.get(name)
            if "scaled_by" in pt:
                lo, _ok = self.value_of(pt["scaled_by"][0])
                hi, _ok = self.value_of(pt["scaled_by"][1])
                value = dp.position_for_setpoint(value, lo, hi)  # where the actuator really goes
            self.writes.append((signal or name, value))
            if len(self.writes) > 256:
                del self.writes[:128]
            if signal is not None and self.on_write is not None:
                self.on_write(signal, value)
        return 0

    def _exc(self, fc: int, code: int) -> bytes:
        self.stats["exceptions"] += 1
        return rtu.exception_response(self.unit_id, fc, code)

    def snapshot(self) -> dict[str, object]:
        """Decoded points and counters, for the control channel."""
        values = {}
        for point in sorted(self.profile["points"]):
            value, ok = self.value_of(point)
            values[point] = {"value": value if math.isfinite(value) else None, "ok": ok}
        return {"name": self.name, "unit_id": self.unit_id, "profile": self.profile_name, "points": values,
                "open_circuit": sorted(self.open_circuit), "stats": dict(self.stats),
                "drive": self.drive.snapshot() if self.drive is not None else None}
