"""Who is on call: weekly shifts with a hand-over time, and the escalation chain.

A rota's shift k covers [start + k weeks, start + (k+1) weeks) from the hand-over time (local
time, supervisor.utc_offset_h), cycling through `shifts`. The chain for an alarm is the shift's
people in order (the first is on call), then the rota's leader, then its manager, each once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

WEEK_S = 7 * 86400.0


def shift_start_ts(rota: dict[str, Any], utc_offset_h: float) -> float:
    """Unix time of the first shift's hand-over."""
    start = dt.datetime.fromisoformat(rota["start"]).replace(tzinfo=dt.UTC)
    return start.timestamp() + rota["handover_min"] * 60.0 - utc_offset_h * 3600.0


def shift_index(rota: dict[str, Any], ts: float, utc_offset_h: float) -> int:
    """Which of the rota's shifts is on at `ts` (times before `start` count backwards)."""
    weeks = int((ts - shift_start_ts(rota, utc_offset_h)) // WEEK_S)
    return weeks % len(rota["shifts"])


def next_handover_ts(rota: dict[str, Any], ts: float, utc_offset_h: float) -> float:
    first = shift_start_ts(rota, utc_offset_h)
    return first + (int((ts - first) // WEEK_S) + 1) * WEEK_S


def rota_for(rotas: list[dict[str, Any]], station_id: str) -> dict[str, Any] | None:
    """The rota naming the station, else one for every other station ("*"), else the first."""
    for rota in rotas:
        if station_id in rota["stations"]:
            return rota
    for rota in rotas:
        if "*" in rota["stations"]:
            return rota
    return rotas[0] if rotas else None


def chain(rotas: list[dict[str, Any]], station_id: str, ts: float, utc_offset_h: float) -> list[str]:
    """Person ids in escalation order for an alarm of `station_id` at `ts`."""
    rota = rota_for(rotas, station_id)
    if rota is None:
        return []
    out: list[str] = []
    for pid in [*rota["shifts"][shift_index(rota, ts, utc_offset_h)], rota["leader"], rota["manager"]]:
        if pid and pid not in out:
            out.append(pid)
    return out
