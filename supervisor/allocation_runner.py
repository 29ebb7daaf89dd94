"""The primary allocation's runner: every period, read the stations, decide, lease, log.

    runner = AllocationRunner(storage, tracker.send, network, settings, audit=service_audit)
    await runner.run_once(now_ts)           # one period (tests, a manual "allocate now")
    await runner.run_forever()              # the supervisor's job

`network` describes one primary network: {"name", "capacity_kw" (the source's, from the
configuration; an operator's figure set on the dashboard, storage `allocation_capacity`, replaces
it from the next period until cleared), "stations": {station_id: {"class": residential|public|commercial|industrial,
"design_kw": the station's design heat load}}}; `settings` is supervisor/allocation.py's section
(period, lease, class minimums, ...). `network_problems` names every problem of both.

Each period, per station, from what the supervisor already stores: the heat meter's mean over the
last period (`heat_power_kw` of its telemetry, else the live value), the outdoor temperature and,
when the station sends it, the coldest room collector group (`room_coldest_c`). The decision
(supervisor.allocation.allocate and step_caps) goes out as one signed `set_heat_cap` lease per
station through the command tracker (user "allocation", lease `lease_s`), is kept in
`allocation_decisions` (storage/allocation.py) and audited (action "allocation:<state>"). A station
without a reading is left out of the decision (it keeps whatever lease it has, which runs out)
and named in the log. The last caps are read back on start, so a restart rises stepwise from them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import allocation as al
from .storage.base import Storage

log = logging.getLogger(__name__)

Sender = Callable[..., Awaitable[str]]
Auditor = Callable[..., Awaitable[None]]
USER = "allocation"


def network_problems(network: Any, settings: Any) -> list[str]:
    """Every problem of a network's description and the allocation settings, each naming key and value."""
    problems = al.settings_problems(settings if settings is not None else {})
    if not isinstance(network, dict):
        return problems + ["allocation.network: must be a table with name, capacity_kw and stations"]
    name = network.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        problems.append("allocation.network.name=%r: must be text of 1-64 characters" % (name,))
    cap = network.get("capacity_kw")
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not (math.isfinite(cap) and cap > 0):
        problems.append("allocation.network.capacity_kw=%r: must be a number > 0 (kW)" % (cap,))
    stations = network.get("stations")
    if not isinstance(stations, dict) or not stations:
        problems.append("allocation.network.stations: must name at least one station")
        return problems
    for sid, row in stations.items():
        where = "allocation.network.stations.%s" % sid
        if not isinstance(row, dict):
            problems.append("%s: must be a table with class and design_kw" % where)
            continue
        if row.get("class") not in al.CLASSES:
            problems.append("%s.class=%r: must be one of %s" % (where, row.get("class"), ", ".join(al.CLASSES)))
        kw = row.get("design_kw")
        if isinstance(kw, bool) or not isinstance(kw, (int, float)) or not (math.isfinite(kw) and kw > 0):
            problems.append("%s.design_kw=%r: must be a number > 0 (kW)" % (where, kw))
    return problems


def validate_config(values: Any) -> tuple[dict[str, Any], list[str]]:
    """The supervisor's `[allocation]` section: ({"networks": [...], "settings": {...}}, problems).

        [allocation]
        period_s = 900                       # and the other supervisor/allocation.py settings
        [[allocation.networks]]
        name = "north"
        capacity_kw = 60000.0
        stations = { st-01 = { class = "residential", design_kw = 4500.0 }, ... }
    """
    if not isinstance(values, dict):
        return {"networks": [], "settings": {}}, ["[allocation]: must be a table"]
    settings = {k: v for k, v in values.items() if k != "networks"}
    networks = values.get("networks", [])
    problems = al.settings_problems(settings)
    if not isinstance(networks, list):
        return {"networks": [], "settings": settings}, problems + ["allocation.networks: must be an array of tables"]
    names = set()
    for i, net in enumerate(networks):
        found = network_problems(net, {})  # the settings are checked once, above
        problems.extend(p.replace("allocation.network", "allocation.networks[%d]" % i, 1) for p in found)
        name = net.get("name") if isinstance(net, dict) else None
        if name in names:
            problems.append("allocation.networks[%d].name=%r: used twice" % (i, name))
        names.add(name)
    return {"networks": networks, "settings": settings}, problems


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


class AllocationRunner:
    """One primary network's allocation (see the module docstring)."""

    def __init__(self, storage: Storage, send: Sender, network: dict[str, Any], settings: dict[str, Any] | None = None,
                 audit: Auditor | None = None, clock: Callable[[], float] = time.time) -> None:
        problems = network_problems(network, settings)
        if problems:
            raise ValueError("; ".join(problems))
        self.storage = storage
        self.send = send
        self.network = network
        self.name = str(network["name"])
        self.capacity_kw = float(network["capacity_kw"])
        self.settings = al.merged_settings(settings)
        self.audit = audit
        self.clock = clock
        self.tracker = al.NeedTracker(self.settings)
        self.caps: dict[str, float] | None = None

    async def _resume(self) -> None:
        if self.caps is not None:
            return
        rows = await self.storage.allocation_rows(self.name, 1)
        self.caps = {r["station_id"]: float(r["cap_kw"]) for r in rows[0]["stations"]} if rows else {}

    async def readings(self, now_ts: float) -> dict[str, dict[str, float | None]]:
        """Per station of the network: {"heat_kw", "outdoor_c", "coldest_room_c"} from storage."""
        period = float(self.settings["period_s"])
        states = {s["station_id"]: s["state"] for s in await self.storage.stations()}
        out: dict[str, dict[str, float | None]] = {}
        for sid in self.network["stations"]:
            values = (states.get(sid) or {}).get("values") or {}
            bodies = await self.storage.telemetry_bodies(sid, now_ts - period, now_ts, 2000)
            powers = [p for p in (_num(b.get("heat_power_kw")) for _ts, b in bodies) if p is not None]
            heat = sum(powers) / len(powers) if powers else _num(values.get("heat_power_kw"))
            outdoor = _num(values.get("outdoor_temp_c"))
            if outdoor is None:
                outdoors = [o for o in (_num(b.get("outdoor_temp_c")) for _ts, b in bodies) if o is not None]
                outdoor = outdoors[-1] if outdoors else None
            out[sid] = {"heat_kw": heat, "outdoor_c": outdoor, "coldest_room_c": _num(values.get("room_coldest_c"))}
        return out

    async def run_once(self, now_ts: float | None = None) -> dict[str, Any]:
        """One period: decide, lease, store, audit; returns the decision with "caps", "left_out", "sent"."""
        now = self.clock() if now_ts is None else now_ts
        await self._resume()
        previous = self.caps or {}
        override = await self.storage.allocation_capacity(self.name)
        capacity = override["capacity_kw"] if override else self.capacity_kw
        source = "set by %s" % override["set_by"] if override else "configured"
        readings = await self.readings(now)
        needs = []
        left_out = []
        for sid, row in self.network["stations"].items():
            r = readings[sid]
            if r["outdoor_c"] is None and r["heat_kw"] is None:
                left_out.append(sid)
                continue
            outdoor = r["outdoor_c"] if r["outdoor_c"] is not None else self.settings["design_outdoor_c"]
            need = self.tracker.need_kw(sid, float(row["design_kw"]), outdoor, r["heat_kw"], r["coldest_room_c"],
                                        previous.get(sid), row["class"])
            needs.append(al.StationNeed(sid, row["class"], need))
        if not needs:
            decision: dict[str, Any] = {"capacity_kw": capacity, "demand_kw": 0.0, "shortage_kw": 0.0,
                                        "state": "no_readings", "residential_fraction": 1.0, "stations": [],
                                        "cut_kw": {}}
            caps: dict[str, float] = {}
        else:
            decision = al.allocate(capacity, needs, self.settings)
            caps = al.step_caps(decision, previous, self.settings)
        sent: dict[str, str] = {}
        for sid, cap in caps.items():
            try:
                sent[sid] = await self.send(sid, "set_heat_cap", {"heat_cap_kw": round(cap, 1)}, USER,
                                            lease_s=float(self.settings["lease_s"]))
            except Exception as exc:  # noqa: BLE001 - one station's refusal (no key, ...) never stops the others
                sent[sid] = "not sent: %s" % exc
                log.warning("allocation %s: lease to %s not sent: %s", self.name, sid, exc)
        self.caps = dict(caps)
        await self.storage.store_allocation(self.name, now, decision, caps)
        text = "network %s: capacity %.0f kW (%s), demand %.0f kW, %s" % (self.name, capacity, source,
                                                                        decision["demand_kw"], decision["state"])
        if decision["state"] == "residential_short":
            text += ", residential get %.0f %% of their need" % (100.0 * decision["residential_fraction"])
        if left_out:
            text += "; no readings from %s" % ", ".join(left_out)
        if self.audit is not None:
            await self.audit(user=USER, action="allocation:" + decision["state"], station_id=None, detail=text,
                             result="decided")
        else:
            await self.storage.audit_insert(now, USER, "allocation:" + decision["state"], None, text, "decided")
        return dict(decision, caps=caps, left_out=left_out, sent=sent)

    async def run_forever(self) -> None:
        """Every period_s, until cancelled; a failed period is logged and the next one runs."""
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - task boundary
                log.exception("allocation of network %s failed", self.name)
            await asyncio.sleep(float(self.settings["period_s"]))
