"""Equipment records ("one machine, one file"): run hours, starts, faults and rotations per pump,
derived from telemetry the ingest has just stored (each message exactly once).

Rules:
- A start is a running flag going 0 -> 1 between two consecutive samples of a station.
- Run time accrues between consecutive samples while the earlier one shows running; gaps over
  MAX_GAP_S (station offline) accrue nothing, since nobody knows what ran then.
- A fault is a fault flag going 0 -> 1.
- A rotation is the duty changing from one circulation pump to the other (pump1 running alone
  -> pump2 running alone, or back), or a station event whose kind mentions "rotation".
- Samples older than the last one seen (outbox replay after an outage) are not used for
  transitions; they are stored raw and in the 5-minute aggregates all the same.
"""

from __future__ import annotations

from typing import Any

MAX_GAP_S = 300.0

DEVICES = {"pump1": ("pump1_running", "pump1_fault"), "pump2": ("pump2_running", "pump2_fault"),
           "makeup_pump": ("makeup_pump_running", "makeup_pump_fault")}


_FLAG_NAMES = frozenset(name for pair in DEVICES.values() for name in pair)


class EquipmentTracker:
    """Per (station, device) counters kept in memory and saved by the ingest."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self._last: dict[str, tuple[float, dict[str, Any]]] = {}
        self._duty: dict[str, str] = {}

    def _rec(self, sid: str, device: str) -> dict[str, Any]:
        rec = self.records.get((sid, device))
        if rec is None:
            rec = self.records[(sid, device)] = {"run_s": 0.0, "starts": 0, "last_rotation_ts": None, "faults": 0,
                                                 "last_fault_ts": None, "last_ts": None}
        return rec

    def load(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            rec = self._rec(row["station_id"], row["device"])
            for key in rec:
                rec[key] = row[key]

    def telemetry(self, sid: str, ts: float, values: dict[str, Any]) -> None:
        prev = self._last.get(sid)
        if prev is not None and ts <= prev[0]:
            return
        self._last[sid] = (ts, values)
        for device, (run_name, fault_name) in DEVICES.items():
            running = values.get(run_name)
            fault = values.get(fault_name)
            if running is None and fault is None:
                continue
            rec = self._rec(sid, device)
            rec["last_ts"] = ts
            if prev is None:
                continue
            p_ts, p_values = prev
            p_running = p_values.get(run_name)
            if running is not None and running >= 0.5 and (p_running is not None and p_running < 0.5):
                rec["starts"] += 1
            if p_running is not None and p_running >= 0.5 and ts - p_ts <= MAX_GAP_S:
                rec["run_s"] += ts - p_ts
            p_fault = p_values.get(fault_name)
            if fault is not None and fault >= 0.5 and (p_fault is None or p_fault < 0.5):
                rec["faults"] += 1
                rec["last_fault_ts"] = ts
        duty = _duty_of(values)
        if duty is not None:
            before = self._duty.get(sid)
            self._duty[sid] = duty
            if before is not None and before != duty:
                self._rec(sid, "pump1")["last_rotation_ts"] = ts
                self._rec(sid, "pump2")["last_rotation_ts"] = ts

    def event(self, sid: str, ts: float, body: dict[str, Any]) -> None:
        if "rotation" in str(body.get("kind", "")):
            for device in ("pump1", "pump2"):
                rec = self._rec(sid, device)
                if rec["last_rotation_ts"] is None or ts > rec["last_rotation_ts"]:
                    rec["last_rotation_ts"] = ts

    def rows(self, stations: set[str] | None = None) -> list[tuple[str, str, float, int, float | None, int,
                                                                  float | None, float | None]]:
        """Absolute records, of every station or of `stations` only."""
        return [(sid, dev, float(r["run_s"]), int(r["starts"]), r["last_rotation_ts"], int(r["faults"]),
                 r["last_fault_ts"], r["last_ts"]) for (sid, dev), r in self.records.items()
                if stations is None or sid in stations]

    def tracking(self, sid: str) -> dict[str, Any] | None:
        """What the next sample of `sid` is compared with (last sample's time and flags, the duty
        pump): saved with the records so that counting resumes exactly after a restart."""
        last = self._last.get(sid)
        if last is None:
            return None
        flags = {k: v for k, v in last[1].items() if k in _FLAG_NAMES}
        return {"ts": last[0], "flags": flags, "duty": self._duty.get(sid)}

    def restore_tracking(self, sid: str, tracking: dict[str, Any] | None) -> None:
        if not isinstance(tracking, dict) or not isinstance(tracking.get("ts"), (int, float)):
            return
        self._last[sid] = (float(tracking["ts"]), dict(tracking.get("flags") or {}))
        if tracking.get("duty") is not None:
            self._duty[sid] = str(tracking["duty"])


def _duty_of(values: dict[str, Any]) -> str | None:
    p1, p2 = values.get("pump1_running"), values.get("pump2_running")
    if p1 is None or p2 is None:
        return None
    if p1 >= 0.5 and p2 < 0.5:
        return "pump1"
    if p2 >= 0.5 and p1 < 0.5:
        return "pump2"
    return None
