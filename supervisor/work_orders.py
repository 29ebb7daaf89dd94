"""Work orders: a fault to repair, from an alarm (opened automatically by priority, or by hand)
or from an asset, followed to its close; and the repair figures of a heating season.

States and who moves them (roles of supervisor/users.py; the web layer checks the role):
    open -> assigned -> in_progress -> closed
    open -> closed, assigned -> closed  (closed without work: a false alarm, a duplicate; a note is required)
Assigning names the assignee; closing needs notes (what was done) and records the parts used
and who closed it (on an order of a registered asset, also as an entry of its maintenance log). An order may be re-assigned while assigned or in progress (same state,
new assignee). Every change is one row in `work_order_log` and one in the audit log, written
in the same transaction as the change; a change made from a stale page (the order moved on
meanwhile) is refused with the order's current state.

Opening from alarms (`open_from_alarms`, run every `OPEN_INTERVAL_S` by `WorkOrderOpener`):
every active alarm whose priority is in the setting `auto_priorities` (default critical and
major) gets one order per alarm episode: the key is (station, code, the time the alarm was
raised), unique in the database, so a restart or a second supervisor never opens it twice, and
an alarm raised again later (a new episode) opens a new order. An alarm already cleared when
the opener looks is not opened (it repaired itself).

Figures of a season (`season_figures`; the season's dates from [season], local days in the
refund rules' time zone):
- time to repair of a closed order: closed - raised (the alarm's raise time for an order from
  an alarm, else when the order was opened); the mean, median and longest per station;
- faults per station: orders raised in the season (every order is a fault: one opened by hand is
  a fault someone found);
- the accident rate per thousand: accidents (orders of priority critical, the station's
  "heating stopped or unsafe" class) / station-days x 1000, where station-days = configured
  stations x days of the season elapsed (to today, or the whole season once over). The seeds'
  target is below 2 per thousand: at most one critical fault per 500 station-days (about one
  per season for every four stations of a 120-day season).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .fleet_alarm_settings import PRIORITIES
from .household_refunds import current_season_year, season_dates

log = logging.getLogger(__name__)

STATES = ("open", "assigned", "in_progress", "closed")
# state -> the states it may move to
MOVES: dict[str, tuple[str, ...]] = {"open": ("assigned", "closed"), "assigned": ("assigned", "in_progress", "closed"),
                                     "in_progress": ("in_progress", "closed"), "closed": ()}
OPEN_STATES = ("open", "assigned", "in_progress")
DEFAULT_AUTO_PRIORITIES = ("critical", "major")
ACCIDENT_PRIORITIES = ("critical",)
ACCIDENT_TARGET_PER_MILLE = 2.0
OPEN_INTERVAL_S = 30.0
SYSTEM_USER = "system"
MAX_TEXT = 2000


NUMBER_ROUNDS = 20  # rounds of fresh numbers before number() gives up


class NumbersExhausted(RuntimeError):
    """number() found clashes in every one of its rounds: no order was stored."""


def new_id(ts: float) -> str:
    """A work order number: WO-<UTC date>-<6 hex>, readable on a phone and unique."""
    return "WO-%s-%s" % (datetime.fromtimestamp(ts, ZoneInfo("UTC")).strftime("%Y%m%d"), secrets.token_hex(3))


async def number(storage: Any, orders: list[dict[str, Any]]) -> None:
    """Give each order whose number another order of the batch or a stored one has a fresh
    number (24 random bits a day: a fleet-wide event's hundreds of orders would otherwise share
    one now and then, and the unique key would refuse the whole batch). NumbersExhausted when
    `NUMBER_ROUNDS` rounds still find clashes (the day's numbers all but used up), before any
    order is stored."""
    for _ in range(NUMBER_ROUNDS):
        taken = await storage.taken_order_ids([o["order_id"] for o in orders])
        seen: set[str] = set()
        renumbered = False
        for order in orders:
            if order["order_id"] in taken or order["order_id"] in seen:  # one fresh draw a round, checked in the next
                order["order_id"] = new_id(order["created_ts"])
                renumbered = True
            seen.add(order["order_id"])
        if not renumbered:
            return
    raise NumbersExhausted("no free work-order numbers for %d order(s) after %d rounds of clashes (WO-<date>-<6 hex>: "
                       "16.7 million a day); nothing was stored" % (len(orders), NUMBER_ROUNDS))


def check_priorities(value: Any) -> list[str]:
    """The `auto_priorities` setting checked: a list of known priorities (may be empty: off)."""
    if not isinstance(value, (list, tuple)) or any(p not in PRIORITIES for p in value):
        raise ValueError("auto_priorities=%r: must be a list of %s (empty: no order opens by itself)"
                         % (value, ", ".join(PRIORITIES)))
    return [p for p in PRIORITIES if p in value]


async def auto_priorities(storage: Any) -> list[str]:
    stored = (await storage.maintenance_settings()).get("auto_priorities")
    if stored is None:
        return list(DEFAULT_AUTO_PRIORITIES)
    try:
        return check_priorities(stored)
    except ValueError as exc:
        log.error("ignored the stored work-order setting: %s", exc)
        return list(DEFAULT_AUTO_PRIORITIES)


def _order(station_id: str, device: str, alarm: dict[str, Any] | None, priority: str, title: str, user: str,
           now: float) -> dict[str, Any]:
    return {"order_id": new_id(now), "station_id": station_id, "device": device,
            "alarm_code": alarm["code"] if alarm else None,
            "alarm_raised_ts": float(alarm["since_ts"]) if alarm else None, "priority": priority,
            "title": title[:400], "state": "open", "raised_ts": float(alarm["since_ts"]) if alarm else now,
            "created_by": user, "created_ts": now, "assignee": "", "assigned_ts": None, "started_ts": None,
            "closed_ts": None, "closed_by": "", "notes": "", "parts": ""}


def _alarm_title(alarm: dict[str, Any]) -> str:
    return "%s: %s" % (alarm["code"], alarm.get("text") or "")


async def open_from_alarms(storage: Any, now: float, priorities: list[str] | None = None) -> int:
    """Open an order for every active alarm of the configured priorities that has none for its
    episode; returns how many were opened."""
    wanted = priorities if priorities is not None else await auto_priorities(storage)
    if not wanted:
        return 0
    alarms = [a for a in await storage.alarm_rows(None, True) if a["severity"] in wanted]
    devices = await _devices(storage)
    orders = [_order(a["station_id"], alarm_device(devices, a), a, a["severity"], _alarm_title(a), SYSTEM_USER, now)
              for a in alarms]
    await number(storage, orders)
    return int(await storage.open_work_orders(
        orders, ["opened from alarm %s (%s) raised %s" % (a["code"], a["severity"], _when(a["since_ts"]))
                 for a in alarms]))


async def _devices(storage: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in await storage.assets():
        out.setdefault(a["station_id"], []).append(a["device"])
    return out


def alarm_device(devices: dict[str, list[str]], alarm: dict[str, Any]) -> str:
    """The registered asset an alarm is about: a device's own alarms are `<device>_<code>`
    (core.device_profiles), the pumps' `pump1_...`; the longest registered name that prefixes
    the code, else none."""
    names = [d for d in devices.get(alarm["station_id"], []) if alarm["code"].startswith(d + "_")]
    return max(names, key=len) if names else ""


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S UTC")


async def open_by_hand(storage: Any, station_id: str, device: str, alarm: dict[str, Any] | None, priority: str,
                       title: str, user: str, now: float) -> dict[str, Any]:
    """Open an order by hand (from an alarm, an asset or nothing). ValueError with the reason
    when the input is bad or the alarm's episode has an order already."""
    if priority not in PRIORITIES:
        raise ValueError("priority=%r: must be one of %s" % (priority, ", ".join(PRIORITIES)))
    title = title.strip() or (_alarm_title(alarm) if alarm else "")
    if alarm and not device:
        device = alarm_device(await _devices(storage), alarm)
    if not title:
        raise ValueError("title: say what is wrong")
    order = _order(station_id, device, alarm, priority, title, user, now)
    await number(storage, [order])
    if not await storage.open_work_orders([order], ["opened by hand%s: %s" % (
            " from alarm %s" % alarm["code"] if alarm else "", title[:200])]):
        raise ValueError("alarm %s at %s raised %s has a work order already" % (
            alarm["code"] if alarm else "", station_id, _when(float(alarm["since_ts"])) if alarm else ""))
    return order


async def move(storage: Any, order_id: str, to_state: str, user: str, now: float, assignee: str = "",
               notes: str = "", parts: str = "", day: str = "") -> dict[str, Any]:
    """Move an order to `to_state`; returns the order after. LookupError for an unknown order,
    ValueError (with the reason) for a move the rules refuse or a stale one. Closing an order of
    a registered asset also writes the asset's maintenance log (on `day`, YYYY-MM-DD local: who
    repaired it, the notes, the parts, the order's number)."""
    before = await storage.work_order(order_id)
    if before is None:
        raise LookupError("no work order %r" % order_id)
    if to_state not in STATES:
        raise ValueError("state=%r: must be one of %s" % (to_state, ", ".join(STATES)))
    if to_state not in MOVES[before["state"]]:
        raise ValueError("work order %s is %s: it may go to %s, not %s" % (
            order_id, before["state"], ", ".join(MOVES[before["state"]]) or "nothing (closed)", to_state))
    assignee, notes, parts = assignee.strip()[:100], notes.strip()[:MAX_TEXT], parts.strip()[:MAX_TEXT]
    after = dict(before)
    after["state"] = to_state
    note = notes
    if to_state == "assigned":
        if not assignee:
            raise ValueError("assignee: name who repairs it")
        after["assignee"] = assignee
        after["assigned_ts"] = now
        note = "assigned to %s%s" % (assignee, ": " + notes if notes else "")
    elif to_state == "in_progress":
        if before["state"] == "in_progress" and not assignee:
            raise ValueError("assignee: name who repairs it")
        if assignee:
            after["assignee"] = assignee
        if before["state"] != "in_progress":
            after["started_ts"] = now
        note = "in progress (%s)%s" % (after["assignee"], ": " + notes if notes else "")
    elif to_state == "closed":
        if not notes:
            raise ValueError("notes: say what was done (or why nothing was)")
        after.update(closed_ts=now, closed_by=user, notes=notes, parts=parts)
        note = "%s%s" % (notes, "; parts: " + parts if parts else "")
    entry = None
    if to_state == "closed" and after["device"] and await storage.asset(after["station_id"], after["device"]):
        entry = {"entry_id": "L-%s" % order_id, "station_id": after["station_id"], "device": after["device"],
                 "day": day or datetime.fromtimestamp(now, ZoneInfo("UTC")).date().isoformat(), "done_by": after["assignee"] or user, "what": notes, "parts": parts,
                 "order_id": order_id, "recorded_by": user, "recorded_ts": now}
    if not await storage.update_work_order(before, after, user, now, note, entry):
        current = await storage.work_order(order_id)
        raise ValueError("work order %s changed meanwhile (it is %s now): reload the page" % (
            order_id, current["state"] if current else "gone"))
    return after


def repair_s(order: dict[str, Any]) -> float | None:
    """Time to repair of a closed order (closed - raised), else None."""
    if order["state"] != "closed" or order["closed_ts"] is None:
        return None
    return max(0.0, float(order["closed_ts"]) - float(order["raised_ts"]))


def season_window(config: dict[str, Any], year: int) -> tuple[float, float, date, date]:
    """(start ts, end ts exclusive, first day, last day) of the season starting in `year`."""
    tz = ZoneInfo(config["refunds"]["timezone"])
    first, last = season_dates(config["season"], year)
    t0 = datetime(first.year, first.month, first.day, tzinfo=tz).timestamp()
    end = last + timedelta(days=1)
    return t0, datetime(end.year, end.month, end.day, tzinfo=tz).timestamp(), first, last


def season_year(config: dict[str, Any], now: float) -> int:
    return current_season_year(config["season"], config["refunds"]["timezone"], now)


def figures(orders: list[dict[str, Any]], stations: list[str], first: date, last: date, today: date) -> dict[str, Any]:
    """The season's repair figures of `orders` (those raised in the season) over `stations`
    (the module docstring says what each means)."""
    elapsed = (min(today, last) - first).days + 1 if today >= first else 0
    station_days = len(stations) * elapsed
    per: dict[str, dict[str, Any]] = {sid: {"station_id": sid, "faults": 0, "accidents": 0, "closed": 0,
                                           "open": 0, "repair_s": []} for sid in stations}
    for o in orders:
        row = per.setdefault(o["station_id"], {"station_id": o["station_id"], "faults": 0, "accidents": 0,
                                               "closed": 0, "open": 0, "repair_s": []})
        row["faults"] += 1
        row["accidents"] += 1 if o["priority"] in ACCIDENT_PRIORITIES else 0
        r = repair_s(o)
        if r is None:
            row["open"] += 1
        else:
            row["closed"] += 1
            row["repair_s"].append(r)
    rows = []
    all_repairs: list[float] = []
    for sid in sorted(per):
        row = per[sid]
        reps = row.pop("repair_s")
        all_repairs.extend(reps)
        row.update(_repair_stats(reps))
        rows.append(row)
    accidents = sum(r["accidents"] for r in rows)
    rate = 1000.0 * accidents / station_days if station_days else None
    return {"first_day": first.isoformat(), "last_day": last.isoformat(), "days_elapsed": elapsed,
            "stations": len(stations), "station_days": station_days, "faults": sum(r["faults"] for r in rows),
            "accidents": accidents, "accident_rate_per_mille": rate, "target_per_mille": ACCIDENT_TARGET_PER_MILLE,
            "within_target": rate is None or rate < ACCIDENT_TARGET_PER_MILLE, "per_station": rows,
            **_repair_stats(all_repairs)}


def _repair_stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"repair_mean_h": None, "repair_median_h": None, "repair_max_h": None}
    return {"repair_mean_h": statistics.fmean(values) / 3600.0, "repair_median_h": statistics.median(values) / 3600.0,
            "repair_max_h": max(values) / 3600.0}


async def season_figures(storage: Any, config: dict[str, Any], now: float, year: int | None = None) -> dict[str, Any]:
    year = season_year(config, now) if year is None else year
    t0, t1, first, last = season_window(config, year)
    orders = await storage.work_orders(since_ts=t0, until_ts=t1)
    today = datetime.fromtimestamp(now, ZoneInfo(config["refunds"]["timezone"])).date()
    out = figures(orders, [s["id"] for s in config.get("stations", [])], first, last, today)
    out["year"] = year
    return out


class WorkOrderOpener:
    """Opens orders from alarms every `interval_s`, forever (a failure is logged and retried)."""

    def __init__(self, storage: Any, clock: Callable[[], float] = time.time, interval_s: float = OPEN_INTERVAL_S) -> None:
        self.storage = storage
        self.clock = clock
        self.interval_s = interval_s

    async def run(self) -> None:
        while True:
            try:
                opened = await open_from_alarms(self.storage, self.clock())
                if opened:
                    log.info("opened %d work order(s) from alarms", opened)
            except Exception:  # noqa: BLE001 - task boundary: retried at the next pass
                log.exception("opening work orders from alarms failed")
            await asyncio.sleep(self.interval_s)
