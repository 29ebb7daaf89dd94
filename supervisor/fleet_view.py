"""What the dashboard shows of the fleet and of one station: the overview (online, worst alarm,
coldest room per building group, key values), one station's detail (latest values, devices,
leases, alarms, rooms, pending commands), its equipment records, and the supervisor's own health.

Read-only: everything comes from the ingest's live state, the collectors' latest readings, the
command tracker and the storage's alarm rows. A station is online while its status says so
and its last uplink is at most `ingest.stale_after_s` old. Times are unix seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heatkeeper.core import codec

from .broker_link import BrokerLink
from .collectors import CollectorHub
from .commands import CommandTracker
from .ingest import Ingest
from .service_errors import known_station
from .storage.base import Storage

# least to worst; the station's severities (core.alarms) and the older "info"/"alarm" of the supervisor
SEVERITY_RANK = {"info": 0, "warning": 1, "minor": 2, "alarm": 3, "major": 3, "critical": 4}
OVERVIEW_FIELDS = {"supply_temp_c": "secondary_supply_temp_c", "supply_setpoint_c": "supply_setpoint_c",
                   "outdoor_temp_c": "outdoor_temp_c"}


class FleetView:
    """The fleet overview, station detail, equipment records and health."""

    def __init__(self, storage: Storage, config: dict[str, Any], stations_cfg: dict[str, dict[str, Any]],
                 ingest: Ingest, collectors: CollectorHub, commands: CommandTracker, link: BrokerLink,
                 wall_clock: Callable[[], float]) -> None:
        self.storage = storage
        self.config = config
        self.stations_cfg = stations_cfg
        self.ingest = ingest
        self.collectors = collectors
        self.commands = commands
        self.link = link
        self.clock = wall_clock

    def online(self, st: dict[str, Any], now: float) -> bool:
        """Whether a station's live state `st` counts as online at `now`."""
        if not st["online"]:
            return False
        last = st["last_seen_ts"]
        return last is not None and now - last <= self.config["ingest"]["stale_after_s"]

    def stations_online(self) -> int:
        """How many configured stations are online now (as the fleet page shows them)."""
        now = self.clock()
        states = self.ingest.state
        return sum(1 for sid in self.stations_cfg if sid in states and self.online(states[sid], now))

    async def list_stations(self) -> list[dict[str, Any]]:
        """Fleet overview, one dict per configured station: station_id, name, city, online,
        last_seen_ts, active_alarms, worst_severity, comfort {min_room_c, groups_below_18}, mode,
        and the OVERVIEW_FIELDS values."""
        now = self.clock()
        active = await self.storage.alarm_rows(None, True)
        by_station: dict[str, list[dict[str, Any]]] = {}
        for a in active:
            by_station.setdefault(a["station_id"], []).append(a)
        groups = self._group_comfort()
        out = []
        for sid, cfg in sorted(self.stations_cfg.items()):
            st = self.ingest.state[sid]
            values = st["values"]
            alarms = by_station.get(sid, [])
            worst = max((a["severity"] for a in alarms), key=_severity_rank, default=None)
            comfort = groups.get(sid, {"min_room_c": None, "groups_below_18": 0})
            item = {"station_id": sid, "name": cfg["name"], "city": cfg["city"], "online": self.online(st, now),
                    "last_seen_ts": st["last_seen_ts"], "active_alarms": len(alarms), "worst_severity": worst,
                    "comfort": comfort, "mode": st["mode"]}
            for key, field in OVERVIEW_FIELDS.items():
                item[key] = values.get(field)
            out.append(item)
        return out

    def _group_comfort(self) -> dict[str, dict[str, Any]]:
        floor_c = self.config["compliance"]["floor_c"]
        out: dict[str, dict[str, Any]] = {}
        for sid in self.collectors.stations():
            readings = self.collectors.current(sid)
            if not readings:
                continue
            group_min: dict[str, float] = {}
            for r in readings:
                group_min[r["group"]] = min(group_min.get(r["group"], r["temp_c"]), r["temp_c"])
            out[sid] = {"min_room_c": min(group_min.values()),
                        "groups_below_18": sum(1 for v in group_min.values() if v < floor_c)}
        return out

    async def station_detail(self, station_id: str) -> dict[str, Any]:
        """Latest values, mode, device health, active leases, alarms and room readings of one
        station; ServiceError("unknown_station") for one not configured."""
        cfg = known_station(self.stations_cfg, station_id)
        st = self.ingest.state[station_id]
        now = self.clock()
        return {"station_id": station_id, "name": cfg["name"], "city": cfg["city"], "online": self.online(st, now),
                "status_online": st["online"], "status_ts": st["status_ts"], "last_seen_ts": st["last_seen_ts"],
                "last_seq": st["last_seq"], "values_ts": st["values_ts"], "values": dict(st["values"]),
                "mode": st["mode"], "devices": st["devices"], "leases": st["leases"],
                "alarms": await self.storage.alarm_rows(station_id, True), "rooms": self.collectors.current(station_id),
                "pending_commands": [{k: v for k, v in c.items() if k != "sent_mono"}
                                     for c in self.commands.pending.values() if c["station_id"] == station_id]}

    async def equipment_records(self, station_id: str | None = None) -> list[dict[str, Any]]:
        """Per device: run hours, starts, duty rotations and exercises (count, last), faults (equipment.py)."""
        if station_id is not None:
            known_station(self.stations_cfg, station_id)
        out = []
        for (sid, device), rec in sorted(self.ingest.equipment.records.items()):
            if station_id is not None and sid != station_id:
                continue
            out.append({"station_id": sid, "device": device, "run_hours": round(rec["run_s"] / 3600.0, 3),
                        "starts": rec["starts"], "rotations": rec["rotations"],
                        "last_rotation_ts": rec["last_rotation_ts"], "exercises": rec["exercises"],
                        "last_exercise_ts": rec["last_exercise_ts"], "faults": rec["faults"],
                        "last_fault_ts": rec["last_fault_ts"], "last_ts": rec["last_ts"]})
        return out

    async def health(self) -> dict[str, Any]:
        """Ingest counters, broker link state, storage backend."""
        return {"broker_connected": self.link.connected(), "storage": self.storage.backend,
                "ingest": self.ingest.stats(), "pending_commands": len(self.commands.pending),
                "collector_readings": self.collectors.accepted, "rooms_forwarded": self.collectors.forwarded,
                "codec_version": codec.VERSION}


def _severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 1)
