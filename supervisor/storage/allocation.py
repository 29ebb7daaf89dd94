"""Storage of the primary allocation's decisions (mixed into both backends).

- `allocation_decisions`: one row per decision of a primary network (supervisor/allocation.py):
  when, the source's capacity and the stations' demand, the state (enough, non_residential_cut,
  residential_short), the share the residential stations got, and every station's need, class,
  cap and reason as JSON, so the dashboard shows what was decided and why, and a restart resumes
  from the last caps (they rise stepwise from there).
- `allocation_capacity`: the source capacity an operator set on the dashboard for a network (who,
  when); it replaces the configured one from the next period until cleared.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

ALLOCATION_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS allocation_decisions (
        network {text} NOT NULL, ts {real} NOT NULL, capacity_kw {real} NOT NULL, demand_kw {real} NOT NULL,
        state {text} NOT NULL, residential_fraction {real} NOT NULL, stations {text} NOT NULL,
        PRIMARY KEY (network, ts))""",
    """CREATE TABLE IF NOT EXISTS allocation_capacity (
        network {text} PRIMARY KEY, capacity_kw {real} NOT NULL, set_by {text} NOT NULL, set_ts {real} NOT NULL)""",
]

COLS = ("network", "ts", "capacity_kw", "demand_kw", "state", "residential_fraction", "stations")


class AllocationStorage:
    """The allocation's queries; needs the backend's `execute` and `fetch` (see base.Storage)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def store_allocation(self, network: str, ts: float, decision: dict[str, Any], caps: dict[str, float]) -> None:
        """Keep one decision (supervisor.allocation.allocate's dict) with the caps leased."""
        stations = [{"station_id": r["station_id"], "cls": r["cls"], "need_kw": r["need_kw"], "min_kw": r["min_kw"],
                     "cap_kw": caps.get(r["station_id"], r["cap_kw"]), "reason": r["reason"]}
                    for r in decision["stations"]]
        await self.execute(
            "INSERT INTO allocation_decisions (network, ts, capacity_kw, demand_kw, state, residential_fraction, "
            "stations) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (network, ts, decision["capacity_kw"], decision["demand_kw"], decision["state"],
             decision["residential_fraction"], json.dumps(stations, separators=(",", ":"))))

    async def allocation_rows(self, network: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest decisions first (of one network, or all), each with its stations as a list."""
        sql = "SELECT %s FROM allocation_decisions" % ", ".join(COLS)
        params: list[Any] = []
        if network is not None:
            sql += " WHERE network = ?"
            params.append(network)
        rows = await self.fetch(sql + " ORDER BY ts DESC LIMIT ?", (*params, limit))
        out = []
        for r in rows:
            d = dict(zip(COLS, r, strict=True))
            try:
                d["stations"] = json.loads(d["stations"])
            except ValueError:
                d["stations"] = []
            out.append(d)
        return out

    async def set_allocation_capacity(self, network: str, capacity_kw: float | None, user: str, ts: float) -> None:
        """The operator's source capacity for `network` (kW); None clears it (the configured one again)."""
        if capacity_kw is None:
            await self.execute("DELETE FROM allocation_capacity WHERE network = ?", (network,))
            return
        await self.execute(
            "INSERT INTO allocation_capacity (network, capacity_kw, set_by, set_ts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (network) DO UPDATE SET capacity_kw = excluded.capacity_kw, set_by = excluded.set_by, "
            "set_ts = excluded.set_ts", (network, capacity_kw, user, ts))

    async def allocation_capacity(self, network: str) -> dict[str, Any] | None:
        """{"capacity_kw", "set_by", "set_ts"} the operator set for `network`, or None."""
        rows = await self.fetch("SELECT capacity_kw, set_by, set_ts FROM allocation_capacity WHERE network = ?",
                                (network,))
        if not rows:
            return None
        return {"capacity_kw": float(rows[0][0]), "set_by": rows[0][1], "set_ts": float(rows[0][2])}
