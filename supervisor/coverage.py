"""Room-collector coverage per station: "24-hour room-temperature collectors in at least 5 % of
households, first in edge, top-floor and ground-floor flats (the coldest ones)" [001].

Pure function over the configuration (`[[collector]]` with its optional `household` and
`placement`), the household register and the collectors' latest readings:

- households: the station's registered households (the register), else `[[station]] households`;
- live collectors: those with a reading within `live_s` (the fleet alarms' stale limit);
  coverage % = live collectors / households x 100, held against `coverage_min_pct` (5 %);
- households with a collector: distinct registered households named by the station's collectors;
  a collector naming a household that is not registered at this station is listed as a problem;
- cold positions: collectors placed in a top-floor, ground-floor or edge flat. The rule asks for
  those first: `cold_first` holds when no collector sits in a middle flat, or when the cold
  positions alone already reach the required number (ceil(min_pct % of the households)) before
  any middle flat counts. Collectors without a placement are counted as `unplaced`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

COLD = ("top_floor", "ground_floor", "edge")


def station_coverage(stations: Iterable[dict[str, Any]], collectors: dict[str, dict[str, str]],
                     households: Iterable[dict[str, Any]], latest: dict[str, tuple[float, float]], now: float,
                     live_s: float, min_pct: float) -> list[dict[str, Any]]:
    """One row per configured station (see the module docstring)."""
    registered: dict[str, set[str]] = {}
    for h in households:
        registered.setdefault(str(h["station_id"]), set()).add(str(h["household_id"]))
    rows = []
    for st in stations:
        sid = st["id"]
        mine = sorted((cid, c) for cid, c in collectors.items() if c["station"] == sid)
        known = registered.get(sid, set())
        count = len(known) or int(st.get("households") or 0)
        live = [cid for cid, _c in mine if cid in latest and now - latest[cid][0] <= live_s]
        linked = {c.get("household", "") for _cid, c in mine} - {""}
        problems = ["collector %s: household %r is not registered at this station" % (cid, c["household"])
                    for cid, c in mine if c.get("household") and c["household"] not in known]
        placements = [c.get("placement", "") for _cid, c in mine]
        cold = sum(1 for p in placements if p in COLD)
        placed = sum(1 for p in placements if p)
        pct = 100.0 * len(live) / count if count else None
        rows.append({
            "station_id": sid, "name": st.get("name", sid), "households": count,
            "households_source": "register" if known else ("config" if count else None),
            "collectors": len(mine), "live_collectors": len(live), "coverage_pct": None if pct is None else round(pct, 2),
            "coverage_ok": None if pct is None else pct >= min_pct, "min_pct": min_pct,
            "households_with_collector": len(linked & known) if known else len(linked),
            "cold_positions": cold, "middle_positions": placed - cold, "unplaced": len(mine) - placed,
            "required_collectors": math.ceil(min_pct * count / 100.0 - 1e-9) if count else None,
            "cold_first": None if not placed else (placed == cold or cold >= math.ceil(min_pct * count / 100.0 - 1e-9)),
            "problems": problems,
        })
    return rows
