"""Storage of maintenance (mixed into both backends): the asset register, work orders,
inspection rounds and the shift hand-over log.

- `assets`: one row per device of a station ("one machine, one file", 一机一档): model, serial,
  device profile, install date (YYYY-MM-DD text), notes, who changed it last and when.
- `asset_documents`: a document of an asset: a link (`url`) or an uploaded file (its bytes as
  base64 text, so both backends keep it in a text column), name, content type, size, sha256.
- `maintenance_log`: what was done to an asset: the day (YYYY-MM-DD), who did it, what, parts.
- `work_orders`: one per fault to repair; from an alarm episode (station, code, raise time:
  unique, so an alarm opens at most one order however often it is looked at) or by hand;
  state open -> assigned -> in_progress -> closed, with who and when of each step;
  `work_order_log`: every change of an order (state, who, when, note).
- `inspection_checklists`: a station's checklist (JSON list of items) and interval (hours);
  `inspection_rounds`: a round checked in (station, time, inspector, JSON {item: ok}, notes).
- `handovers`: a shift hand-over (from, to, time, the open alarms and work orders then as JSON,
  notes).
- `maintenance_settings`: dashboard settings of this job ({key: JSON value}).
Ids of orders, documents, log rows, rounds and hand-overs are made by the caller (text), so an
insert needs no RETURNING on either backend.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Row = tuple[Any, ...]
Step = tuple[str, Sequence[Sequence[Any]]]

MAINTENANCE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS assets (
        station_id {text} NOT NULL, device {text} NOT NULL, model {text} NOT NULL DEFAULT '',
        serial {text} NOT NULL DEFAULT '', profile {text} NOT NULL DEFAULT '', install_date {text} NOT NULL DEFAULT '',
        notes {text} NOT NULL DEFAULT '', source {text} NOT NULL DEFAULT '', changed_by {text} NOT NULL,
        changed_ts {real} NOT NULL, PRIMARY KEY (station_id, device))""",
    """CREATE TABLE IF NOT EXISTS asset_documents (
        doc_id {text} PRIMARY KEY, station_id {text} NOT NULL, device {text} NOT NULL, name {text} NOT NULL,
        url {text} NOT NULL DEFAULT '', content_type {text} NOT NULL DEFAULT '', size {bigint} NOT NULL DEFAULT 0,
        sha256 {text} NOT NULL DEFAULT '', data {text}, added_by {text} NOT NULL, added_ts {real} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS asset_documents_asset ON asset_documents (station_id, device)",
    """CREATE TABLE IF NOT EXISTS maintenance_log (
        entry_id {text} PRIMARY KEY, station_id {text} NOT NULL, device {text} NOT NULL, day {text} NOT NULL,
        done_by {text} NOT NULL, what {text} NOT NULL, parts {text} NOT NULL DEFAULT '', order_id {text},
        recorded_by {text} NOT NULL, recorded_ts {real} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS maintenance_log_asset ON maintenance_log (station_id, device, day)",
    """CREATE TABLE IF NOT EXISTS work_orders (
        order_id {text} PRIMARY KEY, station_id {text} NOT NULL, device {text} NOT NULL DEFAULT '',
        alarm_code {text}, alarm_raised_ts {real}, priority {text} NOT NULL, title {text} NOT NULL,
        state {text} NOT NULL, raised_ts {real} NOT NULL, created_by {text} NOT NULL, created_ts {real} NOT NULL,
        assignee {text} NOT NULL DEFAULT '', assigned_ts {real}, started_ts {real}, closed_ts {real},
        closed_by {text} NOT NULL DEFAULT '', notes {text} NOT NULL DEFAULT '', parts {text} NOT NULL DEFAULT '')""",
    "CREATE UNIQUE INDEX IF NOT EXISTS work_orders_alarm ON work_orders (station_id, alarm_code, alarm_raised_ts)",
    "CREATE INDEX IF NOT EXISTS work_orders_raised ON work_orders (raised_ts)",
    """CREATE TABLE IF NOT EXISTS work_order_log (
        order_id {text} NOT NULL, ts {real} NOT NULL, user_name {text} NOT NULL, from_state {text} NOT NULL,
        to_state {text} NOT NULL, note {text} NOT NULL DEFAULT '')""",
    "CREATE INDEX IF NOT EXISTS work_order_log_order ON work_order_log (order_id, ts)",
    """CREATE TABLE IF NOT EXISTS inspection_checklists (
        station_id {text} PRIMARY KEY, items {text} NOT NULL, interval_h {real} NOT NULL,
        changed_by {text} NOT NULL, changed_ts {real} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS inspection_rounds (
        round_id {text} PRIMARY KEY, station_id {text} NOT NULL, ts {real} NOT NULL, inspector {text} NOT NULL,
        results {text} NOT NULL, notes {text} NOT NULL DEFAULT '', recorded_by {text} NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS inspection_rounds_station ON inspection_rounds (station_id, ts)",
    """CREATE TABLE IF NOT EXISTS handovers (
        handover_id {text} PRIMARY KEY, ts {real} NOT NULL, from_user {text} NOT NULL, to_user {text} NOT NULL,
        open_alarms {text} NOT NULL, open_orders {text} NOT NULL, notes {text} NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS maintenance_settings (
        key {text} PRIMARY KEY, value {text} NOT NULL, changed_by {text} NOT NULL, changed_ts {real} NOT NULL)""",
]

ASSET_COLS = ("station_id", "device", "model", "serial", "profile", "install_date", "notes", "source",
              "changed_by", "changed_ts")
DOC_COLS = ("doc_id", "station_id", "device", "name", "url", "content_type", "size", "sha256", "added_by", "added_ts")
LOG_COLS = ("entry_id", "station_id", "device", "day", "done_by", "what", "parts", "order_id", "recorded_by",
            "recorded_ts")
ORDER_COLS = ("order_id", "station_id", "device", "alarm_code", "alarm_raised_ts", "priority", "title", "state",
              "raised_ts", "created_by", "created_ts", "assignee", "assigned_ts", "started_ts", "closed_ts",
              "closed_by", "notes", "parts")
ORDER_LOG_COLS = ("order_id", "ts", "user_name", "from_state", "to_state", "note")
ROUND_COLS = ("round_id", "station_id", "ts", "inspector", "results", "notes", "recorded_by")
HANDOVER_COLS = ("handover_id", "ts", "from_user", "to_user", "open_alarms", "open_orders", "notes")


def _insert(table: str, cols: Sequence[str], conflict: str = "") -> str:
    return "INSERT INTO %s (%s) VALUES (%s)%s" % (table, ", ".join(cols), ", ".join("?" for _ in cols), conflict)


_UPSERT_ASSET = _insert("assets", ASSET_COLS, " ON CONFLICT (station_id, device) DO UPDATE SET %s" % ", ".join(
    "%s = excluded.%s" % (c, c) for c in ASSET_COLS[2:]))
_SEED_ASSET = _insert("assets", ASSET_COLS, " ON CONFLICT (station_id, device) DO NOTHING")
_AUDIT = "INSERT INTO audit (ts, user_name, action, station_id, detail, result) VALUES (?, ?, ?, ?, ?, ?)"


def _audit_row(ts: float, user: str, action: str, station_id: str | None, detail: str) -> list[Any]:
    return [ts, user, action, station_id, detail[:2000], "ok"]


class MaintenanceStorage:
    """Assets, work orders, inspections, hand-overs; needs the backend's `fetch` and `transaction`."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    async def transaction(self, steps: Sequence[Step]) -> None:
        raise NotImplementedError

    # --- assets -------------------------------------------------------------------------------
    async def save_asset(self, asset: dict[str, Any], audit: tuple[float, str, str]) -> None:
        """Insert or replace one asset (dict with ASSET_COLS), audited (ts, user, detail) in the same transaction."""
        ts, user, detail = audit
        await self.transaction([(_UPSERT_ASSET, [[asset[c] for c in ASSET_COLS]]),
                                (_AUDIT, [_audit_row(ts, user, "asset_edit", asset["station_id"], detail)])])

    async def seed_assets(self, assets: Sequence[dict[str, Any]]) -> None:
        """Insert assets not yet registered; a registered one keeps what people entered."""
        await self.transaction([(_SEED_ASSET, [[a[c] for c in ASSET_COLS] for a in assets])])

    async def assets(self, station_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT %s FROM assets" % ", ".join(ASSET_COLS)
        params: tuple[Any, ...] = ()
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params = (station_id,)
        return [dict(zip(ASSET_COLS, r, strict=True)) for r in await self.fetch(sql + " ORDER BY station_id, device",
                                                                                 params)]

    async def asset(self, station_id: str, device: str) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM assets WHERE station_id = ? AND device = ?" % ", ".join(ASSET_COLS),
                                (station_id, device))
        return dict(zip(ASSET_COLS, rows[0], strict=True)) if rows else None

    async def add_asset_document(self, doc: dict[str, Any], data_b64: str | None, audit: tuple[float, str, str]) -> None:
        ts, user, detail = audit
        await self.transaction([(_insert("asset_documents", (*DOC_COLS, "data")), [[*(doc[c] for c in DOC_COLS),
                                                                                    data_b64]]),
                                (_AUDIT, [_audit_row(ts, user, "asset_document", doc["station_id"], detail)])])

    async def asset_documents(self, station_id: str, device: str) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM asset_documents WHERE station_id = ? AND device = ? ORDER BY added_ts"
                                % ", ".join(DOC_COLS), (station_id, device))
        return [dict(zip(DOC_COLS, r, strict=True)) for r in rows]

    async def asset_document(self, doc_id: str) -> tuple[dict[str, Any], str | None] | None:
        """(the document's row, its bytes as base64 or None for a link)."""
        rows = await self.fetch("SELECT %s, data FROM asset_documents WHERE doc_id = ?" % ", ".join(DOC_COLS), (doc_id,))
        if not rows:
            return None
        return dict(zip(DOC_COLS, rows[0][:-1], strict=True)), rows[0][-1]

    async def add_maintenance(self, entry: dict[str, Any], audit: tuple[float, str, str]) -> None:
        ts, user, detail = audit
        await self.transaction([(_insert("maintenance_log", LOG_COLS), [[entry[c] for c in LOG_COLS]]),
                                (_AUDIT, [_audit_row(ts, user, "maintenance_log", entry["station_id"], detail)])])

    async def maintenance_log(self, station_id: str, device: str) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM maintenance_log WHERE station_id = ? AND device = ? "
                                "ORDER BY day DESC, recorded_ts DESC" % ", ".join(LOG_COLS), (station_id, device))
        return [dict(zip(LOG_COLS, r, strict=True)) for r in rows]

    # --- work orders --------------------------------------------------------------------------
    async def open_work_orders(self, orders: Sequence[dict[str, Any]], audit_detail: Sequence[str]) -> int:
        """Insert new orders (dicts with ORDER_COLS), each with its first log row and audit row, in
        one transaction; an order of an alarm episode that has one already is skipped. Returns
        how many were new."""
        if not orders:
            return 0
        have = {(r[0], r[1], float(r[2])) for r in await self.fetch(
            "SELECT station_id, alarm_code, alarm_raised_ts FROM work_orders WHERE alarm_code IS NOT NULL "
            "AND raised_ts >= ?", (min(float(o["raised_ts"]) for o in orders),))}
        new = [(o, d) for o, d in zip(orders, audit_detail, strict=True)
               if o["alarm_code"] is None or (o["station_id"], o["alarm_code"], float(o["alarm_raised_ts"])) not in have]
        if not new:
            return 0
        # a second supervisor opening the same episode meanwhile breaks the unique index: the whole
        # transaction is refused (StorageError) and nothing of it is kept; the next pass skips it
        await self.transaction([
            (_insert("work_orders", ORDER_COLS), [[o[c] for c in ORDER_COLS] for o, _d in new]),
            (_insert("work_order_log", ORDER_LOG_COLS),
             [[o["order_id"], o["created_ts"], o["created_by"], "", o["state"], d] for o, d in new]),
            (_AUDIT, [_audit_row(o["created_ts"], o["created_by"], "work_order_open", o["station_id"],
                                 "%s: %s" % (o["order_id"], d)) for o, d in new])])
        return len(new)

    async def update_work_order(self, before: dict[str, Any], after: dict[str, Any], user: str, ts: float,
                                note: str, maintenance: dict[str, Any] | None = None) -> bool:
        """Write `after` over the order if it is still in `before`'s state (else False: someone
        else changed it first), with its log row and audit row, and the asset's maintenance log
        entry `maintenance` (LOG_COLS) when given, in one transaction."""
        current = await self.work_order(before["order_id"])
        if current is None or current["state"] != before["state"]:
            return False
        cols = ORDER_COLS[1:]
        detail = "%s: %s -> %s%s" % (before["order_id"], before["state"], after["state"], ": " + note if note else "")
        await self.transaction([
            ("UPDATE work_orders SET %s WHERE order_id = ? AND state = ?" % ", ".join("%s = ?" % c for c in cols),
             [[*(after[c] for c in cols), before["order_id"], before["state"]]]),
            (_insert("work_order_log", ORDER_LOG_COLS), [[before["order_id"], ts, user, before["state"], after["state"],
                                                          note[:2000]]]),
            (_AUDIT, [_audit_row(ts, user, "work_order_" + after["state"], after["station_id"], detail)]),
            (_insert("maintenance_log", LOG_COLS), [[maintenance[c] for c in LOG_COLS]] if maintenance else [])])
        return True

    async def taken_order_ids(self, order_ids: Sequence[str]) -> set[str]:
        """Which of `order_ids` are the numbers of stored orders."""
        ids = list(dict.fromkeys(order_ids))
        taken: set[str] = set()
        for i in range(0, len(ids), 500):  # under every backend's limit of parameters a statement
            chunk = ids[i:i + 500]
            taken.update(str(r[0]) for r in await self.fetch(
                "SELECT order_id FROM work_orders WHERE order_id IN (%s)" % ", ".join("?" for _ in chunk), chunk))
        return taken

    async def work_order(self, order_id: str) -> dict[str, Any] | None:
        rows = await self.fetch("SELECT %s FROM work_orders WHERE order_id = ?" % ", ".join(ORDER_COLS), (order_id,))
        return dict(zip(ORDER_COLS, rows[0], strict=True)) if rows else None

    async def work_orders(self, station_id: str | None = None, states: Sequence[str] | None = None,
                          since_ts: float | None = None, until_ts: float | None = None) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []
        if station_id is not None:
            where.append("station_id = ?")
            params.append(station_id)
        if states:
            where.append("state IN (%s)" % ", ".join("?" for _ in states))
            params.extend(states)
        if since_ts is not None:
            where.append("raised_ts >= ?")
            params.append(since_ts)
        if until_ts is not None:
            where.append("raised_ts < ?")
            params.append(until_ts)
        rows = await self.fetch("SELECT %s FROM work_orders%s ORDER BY raised_ts DESC, order_id" % (
            ", ".join(ORDER_COLS), " WHERE " + " AND ".join(where) if where else ""), params)
        return [dict(zip(ORDER_COLS, r, strict=True)) for r in rows]

    async def work_order_log(self, order_id: str) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM work_order_log WHERE order_id = ? ORDER BY ts" % ", ".join(ORDER_LOG_COLS),
                                (order_id,))
        return [dict(zip(ORDER_LOG_COLS, r, strict=True)) for r in rows]

    # --- inspections --------------------------------------------------------------------------
    async def save_checklist(self, station_id: str, items: Sequence[str], interval_h: float,
                             audit: tuple[float, str, str]) -> None:
        ts, user, detail = audit
        await self.transaction([
            ("INSERT INTO inspection_checklists (station_id, items, interval_h, changed_by, changed_ts) "
             "VALUES (?, ?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET items = excluded.items, "
             "interval_h = excluded.interval_h, changed_by = excluded.changed_by, changed_ts = excluded.changed_ts",
             [[station_id, json.dumps(list(items), ensure_ascii=False), float(interval_h), user, ts]]),
            (_AUDIT, [_audit_row(ts, user, "inspection_checklist", station_id, detail)])])

    async def checklists(self) -> dict[str, dict[str, Any]]:
        """{station_id: {items, interval_h, changed_by, changed_ts}}."""
        rows = await self.fetch("SELECT station_id, items, interval_h, changed_by, changed_ts FROM inspection_checklists")
        return {str(r[0]): {"items": json.loads(r[1]), "interval_h": float(r[2]), "changed_by": r[3],
                            "changed_ts": float(r[4])} for r in rows}

    async def add_round(self, rnd: dict[str, Any], audit_detail: str) -> None:
        await self.transaction([
            (_insert("inspection_rounds", ROUND_COLS), [[json.dumps(rnd[c], ensure_ascii=False) if c == "results"
                                                         else rnd[c] for c in ROUND_COLS]]),
            (_AUDIT, [_audit_row(rnd["ts"], rnd["recorded_by"], "inspection_round", rnd["station_id"], audit_detail)])])

    async def rounds(self, station_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        sql = "SELECT %s FROM inspection_rounds" % ", ".join(ROUND_COLS)
        params: list[Any] = []
        if station_id is not None:
            sql += " WHERE station_id = ?"
            params.append(station_id)
        rows = await self.fetch(sql + " ORDER BY ts DESC LIMIT ?", (*params, limit))
        out = []
        for r in rows:
            item = dict(zip(ROUND_COLS, r, strict=True))
            item["results"] = json.loads(item["results"])
            out.append(item)
        return out

    async def last_rounds(self) -> dict[str, float]:
        """{station_id: time of its newest round}."""
        return {str(r[0]): float(r[1]) for r in await self.fetch(
            "SELECT station_id, MAX(ts) FROM inspection_rounds GROUP BY station_id")}

    # --- hand-overs -----------------------------------------------------------------------------
    async def add_handover(self, h: dict[str, Any]) -> None:
        row = [json.dumps(h[c], ensure_ascii=False) if c in ("open_alarms", "open_orders") else h[c]
               for c in HANDOVER_COLS]
        await self.transaction([
            (_insert("handovers", HANDOVER_COLS), [row]),
            (_AUDIT, [_audit_row(h["ts"], h["from_user"], "handover", None, "%s -> %s: %d open alarm(s), %d open work "
                                 "order(s)" % (h["from_user"], h["to_user"], len(h["open_alarms"]),
                                               len(h["open_orders"])))])])

    async def handovers(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = await self.fetch("SELECT %s FROM handovers ORDER BY ts DESC LIMIT ?" % ", ".join(HANDOVER_COLS), (limit,))
        out = []
        for r in rows:
            item = dict(zip(HANDOVER_COLS, r, strict=True))
            item["open_alarms"] = json.loads(item["open_alarms"])
            item["open_orders"] = json.loads(item["open_orders"])
            out.append(item)
        return out

    # --- settings -------------------------------------------------------------------------------
    async def maintenance_settings(self) -> dict[str, Any]:
        return {str(r[0]): json.loads(r[1]) for r in await self.fetch("SELECT key, value FROM maintenance_settings")}

    async def save_maintenance_setting(self, key: str, value: Any, audit: tuple[float, str, str]) -> None:
        ts, user, detail = audit
        await self.transaction([
            ("INSERT INTO maintenance_settings (key, value, changed_by, changed_ts) VALUES (?, ?, ?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_by = excluded.changed_by, "
             "changed_ts = excluded.changed_ts", [[key, json.dumps(value), user, ts]]),
            (_AUDIT, [_audit_row(ts, user, "maintenance_settings", None, detail)])])
