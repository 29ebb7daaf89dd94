"""Primary balancing and shortage allocation (一网平衡, 压非保民): pure logic, no I/O, no clock.

    need = estimate_need_kw(design_kw=4500.0, outdoor_c=-25.0, measured_kw=3100.0, coldest_room_c=18.2)
    decision = allocate(capacity_kw, [StationNeed("st-01", "residential", 3200.0), ...], settings)
    caps = step_caps(decision, previous_caps, settings)      # {station_id: heat cap kW} to lease

The supervisor runs this every `period_s` (15 min by default) for the stations on one primary
network and sends each station its cap as a signed `set_heat_cap` lease (core.command_handler;
the station's power limiter then holds its primary heat under it) for `lease_s`, three periods,
so a supervisor that stops leaves the stations to their own control within the hour, never
capped for good.

What a station needs (`estimate_need_kw`): the heat it draws now (its meter's mean over the last
period) or, if more, its design load scaled by the degree difference (design_kw (t_in - t_out) /
(t_in,d - t_out,d)) times the station's own ratio of drawn to modelled heat, raised by
`room_gain_per_k` per K its coldest building group sits under `room_target_c` (a station held
under its cap draws less than it needs; its rooms say so; only for residential stations: a cut
public, commercial or industrial station is cold on purpose, and its cold rooms must not raise its
need, and with it its minimum, the more it is cut). The ratio (`NeedTracker`) is learnt
while the station is not held by a cap (it draws under `held_share` of it): gains and sun make
the plain degree-difference model of a station 30-50 % high, and every station differs.

The decision (`allocate`), against the source's capacity (set by the operator, or measured):
- enough: every station gets its need plus a share of the headroom in proportion to its need
  (the caps add up to the capacity): balancing, no station can draw another's share.
- short: the cut is taken from the industrial stations first, then commercial, then public, each
  station of a class in proportion to what it can give (its need less its class minimum,
  `min_share` of its need: frost protection for an unoccupied building); within a class every
  station gives the same share of what it can give. Residential stations keep their need plus
  `residential_reserve` (the estimate's margin) while the others can give.
- residential short: when every other station is at its minimum and the rest still does not
  cover the residential needs, they share it in proportion to their needs (each the same
  fraction, `residential_fraction`), so none is starved for another.

Stepwise (`step_caps`): a cap falls at once (a short source cannot wait), a residential cap rises
at once; a non-residential cap comes back after a shortage at most `raise_share` of its need per
period, so the source is not overrun by every cut station opening at the same time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CLASSES = ("residential", "public", "commercial", "industrial")
CUT_ORDER = ("industrial", "commercial", "public")  # 压非保民: the non-residential, in this order

DEFAULTS: dict[str, Any] = {
    "period_s": 900.0,
    "lease_s": 2700.0,
    "min_share": {"industrial": 0.3, "commercial": 0.4, "public": 0.5},
    "residential_reserve": 0.05,
    "raise_share": 0.25,
    "room_target_c": 18.5,
    "room_gain_per_k": 0.1,
    "design_indoor_c": 18.0,
    "design_outdoor_c": -33.0,
    "held_share": 0.9,
    "ratio_weight": 0.1,
}
# key: (low, high, unit)
RANGES: dict[str, tuple[float, float, str]] = {
    "period_s": (60.0, 86400.0, "s"),
    "lease_s": (60.0, 86400.0, "s"),
    "residential_reserve": (0.0, 0.5, "share"),
    "raise_share": (0.01, 1.0, "share"),
    "room_target_c": (10.0, 25.0, "degC"),
    "room_gain_per_k": (0.0, 1.0, "1/K"),
    "design_indoor_c": (10.0, 25.0, "degC"),
    "design_outdoor_c": (-60.0, 5.0, "degC"),
    "held_share": (0.5, 1.0, "share"),
    "ratio_weight": (0.0, 1.0, "share"),
}


@dataclass
class StationNeed:
    """One station on the network: its class and the heat it needs now (kW)."""

    station_id: str
    cls: str
    need_kw: float


def settings_problems(settings: Any) -> list[str]:
    """Every problem of an allocation settings section (keys of DEFAULTS), each naming key, value and range."""
    if not isinstance(settings, dict):
        return ["allocation: must be a table of settings, not %r" % (settings,)]
    problems = []
    for key in sorted(set(settings) - set(DEFAULTS)):
        problems.append("allocation.%s: unknown setting (choose from %s)" % (key, ", ".join(DEFAULTS)))
    for key, (low, high, unit) in RANGES.items():
        if key not in settings:
            continue
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            problems.append("allocation.%s=%r: must be a number in [%g, %g] %s" % (key, value, low, high, unit))
    shares = settings.get("min_share", {})
    if not isinstance(shares, dict):
        problems.append("allocation.min_share=%r: must be a table of %s" % (shares, ", ".join(CUT_ORDER)))
    else:
        for cls, value in shares.items():
            if cls not in CUT_ORDER:
                problems.append("allocation.min_share.%s: unknown class (choose from %s; residential is never cut)"
                                % (cls, ", ".join(CUT_ORDER)))
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                problems.append("allocation.min_share.%s=%r: must be a share in [0, 1]" % (cls, value))
    merged = merged_settings(settings) if not problems else DEFAULTS
    if not problems and merged["lease_s"] < merged["period_s"]:
        problems.append("allocation.lease_s=%r: must be at least period_s=%r (a lease must outlive the period)"
                        % (merged["lease_s"], merged["period_s"]))
    return problems


def merged_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULTS with `settings` laid over them (min_share per class)."""
    out = dict(DEFAULTS)
    out["min_share"] = dict(DEFAULTS["min_share"])
    for key, value in (settings or {}).items():
        if key == "min_share":
            out["min_share"].update(value)
        else:
            out[key] = value
    return out


def model_kw(design_kw: float, outdoor_c: float, settings: dict[str, Any] | None = None) -> float:
    """The design load scaled by the degree difference (kW)."""
    s = merged_settings(settings)
    span = s["design_indoor_c"] - s["design_outdoor_c"]
    return design_kw * max(0.0, s["design_indoor_c"] - outdoor_c) / span if span > 0 else 0.0


def estimate_need_kw(design_kw: float, outdoor_c: float, measured_kw: float | None = None,
                     coldest_room_c: float | None = None, settings: dict[str, Any] | None = None,
                     ratio: float = 1.0) -> float:
    """What a station needs now (kW), see the module docstring; never below 0."""
    s = merged_settings(settings)
    need = model_kw(design_kw, outdoor_c, s) * ratio
    if measured_kw is not None and math.isfinite(measured_kw) and measured_kw > need:
        need = measured_kw
    if coldest_room_c is not None and math.isfinite(coldest_room_c):
        need *= 1.0 + s["room_gain_per_k"] * max(0.0, s["room_target_c"] - coldest_room_c)
    return max(0.0, need)


class NeedTracker:
    """Each station's need from period to period, with its learnt drawn/modelled ratio."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = merged_settings(settings)
        self.ratio: dict[str, float] = {}

    def need_kw(self, station_id: str, design_kw: float, outdoor_c: float, measured_kw: float | None,
                coldest_room_c: float | None, cap_kw: float | None, cls: str = "residential") -> float:
        """The station's need this period; learns its ratio first when no cap held it (the rooms
        count for residential stations only, see the module docstring)."""
        s = self.settings
        if cls != "residential":
            coldest_room_c = None
        model = model_kw(design_kw, outdoor_c, s)
        measured = measured_kw if measured_kw is not None and math.isfinite(measured_kw) else None
        held = cap_kw is not None and measured is not None and measured >= s["held_share"] * cap_kw
        if measured is not None and not held and model > 0.05 * design_kw:
            r = measured / model
            before = self.ratio.get(station_id)
            self.ratio[station_id] = r if before is None else before + s["ratio_weight"] * (r - before)
        return estimate_need_kw(design_kw, outdoor_c, measured_kw, coldest_room_c, s,
                                self.ratio.get(station_id, 1.0))


def allocate(capacity_kw: float, needs: list[StationNeed], settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The caps for one period (see the module docstring).

    Returns {"capacity_kw", "demand_kw", "shortage_kw" (demand over capacity, 0 when enough),
    "state" ("enough", "non_residential_cut" or "residential_short"), "residential_fraction"
    (the share of their need the residential stations get), "cut_kw" {class: kW taken},
    "stations": [{"station_id", "cls", "need_kw", "min_kw", "cap_kw", "reason"}, ...] in the
    order given}. ValueError for an unknown class or a capacity that is not a positive number.
    """
    s = merged_settings(settings)
    if isinstance(capacity_kw, bool) or not isinstance(capacity_kw, (int, float)) or not capacity_kw > 0.0:
        raise ValueError("capacity_kw=%r: must be a number > 0" % (capacity_kw,))
    for n in needs:
        if n.cls not in CLASSES:
            raise ValueError("station %s: class %r: must be one of %s" % (n.station_id, n.cls, ", ".join(CLASSES)))
    rows: list[dict[str, Any]] = []
    for n in needs:
        need = max(0.0, float(n.need_kw))
        share = 1.0 if n.cls == "residential" else float(s["min_share"][n.cls])
        prio = need * (1.0 + s["residential_reserve"]) if n.cls == "residential" else need
        rows.append({"station_id": n.station_id, "cls": n.cls, "need_kw": need, "min_kw": need * share,
                     "cap_kw": prio, "reason": ""})
    demand = sum(r["cap_kw"] for r in rows)
    cut_kw = {cls: 0.0 for cls in CUT_ORDER}
    out: dict[str, Any] = {"capacity_kw": float(capacity_kw), "demand_kw": demand, "shortage_kw": max(0.0, demand - capacity_kw),
           "cut_kw": cut_kw, "residential_fraction": 1.0, "stations": rows}
    if demand <= capacity_kw:
        spare = capacity_kw - demand
        for r in rows:
            r["cap_kw"] += spare * r["cap_kw"] / demand if demand > 0.0 else spare / len(rows)
            r["reason"] = "need %.0f kW + headroom share" % r["need_kw"]
        out["state"] = "enough"
        return out
    short = demand - capacity_kw
    for cls in CUT_ORDER:
        members = [r for r in rows if r["cls"] == cls]
        can_give = sum(r["cap_kw"] - r["min_kw"] for r in members)
        if short <= 0.0 or can_give <= 0.0:
            for r in members:
                r["reason"] = "need %.0f kW (no cut needed from %s)" % (r["need_kw"], cls) if short <= 0.0 else \
                    "at its minimum %.0f kW" % r["min_kw"]
            continue
        take = min(short, can_give)
        frac = take / can_give
        for r in members:
            r["cap_kw"] -= frac * (r["cap_kw"] - r["min_kw"])
            r["reason"] = "%s cut: %.0f %% of what it can give (minimum %.0f kW)" % (cls, 100.0 * frac, r["min_kw"])
        cut_kw[cls] = take
        short -= take
    if short <= 1e-9:
        for r in rows:
            if r["cls"] == "residential":
                r["reason"] = "residential: need %.0f kW + %.0f %% reserve kept" % (r["need_kw"], 100.0 * s["residential_reserve"])
        out["state"] = "non_residential_cut"
        return out
    others = sum(r["cap_kw"] for r in rows if r["cls"] != "residential")
    residential = [r for r in rows if r["cls"] == "residential"]
    res_need = sum(r["cap_kw"] for r in residential)
    left = max(0.0, capacity_kw - others)
    frac = left / res_need if res_need > 0.0 else 0.0
    for r in residential:
        r["cap_kw"] *= frac
        r["reason"] = "residential short: %.0f %% of its need, as every residential station" % (100.0 * frac)
    out["state"] = "residential_short"
    out["residential_fraction"] = frac
    return out


def step_caps(decision: dict[str, Any], previous: dict[str, float] | None,
              settings: dict[str, Any] | None = None) -> dict[str, float]:
    """The caps to lease this period: the decision's, except that a non-residential cap rises
    at most `raise_share` of its need per period above its previous cap (see the docstring)."""
    s = merged_settings(settings)
    previous = previous or {}
    caps = {}
    for r in decision["stations"]:
        cap = r["cap_kw"]
        before = previous.get(r["station_id"])
        if r["cls"] != "residential" and before is not None and cap > before:
            cap = min(cap, before + s["raise_share"] * max(r["need_kw"], 1.0))
        caps[r["station_id"]] = max(1.0, cap)  # core refuses a cap under 1 kW (set_heat_cap)
    return caps
