"""The notification engine: alarm events in, messages to the people on call out.

Each `tick()` (every notify.poll_s; tests call it on a fake clock):
1. reads new alarm-log rows (raises and clears of every source) past its cursor;
   - a raise of an alarm without an open incident opens one and tells the person on call
     (low priority, notify.digest_severities: kept for the daily digest instead);
   - a raise while the incident is open is a duplicate (counted, not sent);
   - a raise within notify.flap_window_s after its clear continues the same incident (a flap,
     counted: the messages say how often it came and went);
2. reads acknowledgements (the dashboard's, the link's, anyone's) from the alarm table: an
   acknowledged incident is never escalated again; the time to acknowledge is kept;
3. escalates: unacknowledged after notify.escalate_min[severity] minutes -> the next person of
   the chain (rota.py) ... the shift leader, the manager;
4. closes incidents cleared for flap_window_s (a "cleared" message to those told);
5. sends the daily digest at notify.digest_hour (local);
6. delivers due messages: rate limit per channel, duplicate suppression (same person,
   channel, alarm and kind within notify.dedup_s), retries with back-off; every attempt is
   stored and audited. A message that fails every retry marks its channel failing in the
   supervisor's alarm model (channel_failures.py): its engine (fleet_alarms.py) raises
   `notify_channel_failed` (station "supervisor"), sent over the other channels; the alarm
   clears when every channel delivers again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .. import channel_failures
from ..channel_failures import ChannelFailures
from . import links, messages, rota
from .channels import Http, build_channel
from .delivery import ALARM_CHANNEL_FAILED, NOTIFY_ALARMS, SEVERITY_RANK, SUPERVISOR_STATION, Courier

log = logging.getLogger(__name__)

CURSOR = "alarm_log"
LOOKBACK_IDS = 1000  # alarm-log ids below the newest seen that are read again (late commits)
DIGEST_CURSOR = "digest_day"
AUDIT_USER = "notify"
__all__ = ["ALARM_CHANNEL_FAILED", "NOTIFY_ALARMS", "SUPERVISOR_STATION", "Notifier"]

Acker = Callable[[str, str, str], Awaitable[Any]]


def _id() -> str:
    return secrets.token_hex(8)


class Notifier:
    """The engine over `storage` (base.Storage) for the whole supervisor config `cfg`."""

    def __init__(self, storage: Any, cfg: dict[str, Any], clock: Callable[[], float] = time.time,
                 ack: Acker | None = None, failures: ChannelFailures | None = None) -> None:
        """`failures`: where failing channels are reported (the process's channel_failures.CHANNELS,
        which the supervisor's alarm engine watches, unless given)."""
        self.storage = storage
        self.n = cfg["notify"]
        self.offset_h = float(cfg["supervisor"]["utc_offset_h"])
        self.names = {s["id"]: s["name"] for s in cfg.get("stations", [])}
        self.clock = clock
        self.ack_path = ack
        self.http = Http()
        self.channels = {c["name"]: build_channel(c, self.http) for c in self.n["channels"]}
        self.people: dict[str, dict[str, Any]] = self.n["people"]
        self.key = links.load_key(self.n["ack_key_file"])
        self.incidents: dict[tuple[str, str], dict[str, Any]] = {}
        self.recent: dict[tuple[str, str, str, str, str], float] = {}
        self.cursor = 0
        self.floor = 0  # ids up to here were dispatched before this process started
        self.seen: set[int] = set()  # ids above max(floor, cursor - LOOKBACK_IDS) dispatched
        self.counts = {"suppressed": 0, "duplicates": 0, "flaps": 0}
        self.courier = Courier(storage, self.channels, self.people, self.n, clock, self._audit, self._first_sent,
                               failures if failures is not None else channel_failures.CHANNELS)
        self._lock = asyncio.Lock()

    # --- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the cursor (a first start begins at the end of the log: history is not sent),
        the open incidents and the messages still to deliver."""
        cursor = await self.storage.notify_cursor(CURSOR)
        if cursor is None:
            cursor = await self.storage.last_alarm_log_id()
            await self.storage.set_notify_cursor(CURSOR, cursor)
        self.cursor = self.floor = cursor
        for inc in await self.storage.open_incidents():
            self.incidents[(inc["station_id"], inc["code"])] = inc
        for msg in await self.storage.messages(10000, state="pending"):
            self.pending[msg["message_id"]] = msg
        failing = await self.storage.alarm_rows(SUPERVISOR_STATION, True)
        if any(r["code"] == ALARM_CHANNEL_FAILED for r in failing):  # still raised from before a restart
            value = await self.storage.last_alarm_value(SUPERVISOR_STATION, ALARM_CHANNEL_FAILED)
            for name in (value or {}).get("channels", []) if isinstance(value, dict) else []:
                if str(name) not in self.failing:  # the alarm engine keeps the alarm while these fail
                    self.courier.failures.raise_failure(str(name), "failing before the restart")

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        return self.courier.pending

    @property
    def failing(self) -> dict[str, str]:
        return self.courier.failing

    async def close(self) -> None:
        await self.http.close()

    async def run(self, retention_days: float = 3650.0) -> None:
        """tick() every notify.poll_s for the supervisor's lifetime; once an hour, forget
        messages, attempts and closed incidents older than `retention_days` (the audit's)."""
        last_retention = 0.0
        while True:
            try:
                await self.tick()
                if time.monotonic() - last_retention >= 3600.0:
                    await self.storage.apply_notify_retention(self.clock() - retention_days * 86400.0)
                    last_retention = time.monotonic()
            except Exception:  # noqa: BLE001 - task boundary: the next tick retries
                log.exception("notification pass failed")
            await asyncio.sleep(float(self.n["poll_s"]))

    async def tick(self) -> None:
        async with self._lock:
            await self._read_events()
            await self._read_acks()
            await self._escalate()
            await self._close_quiet()
            await self._digest()
            await self._deliver_due()

    # --- events --------------------------------------------------------------------------------
    async def _read_events(self) -> None:
        """Alarm-log rows not yet dispatched, in id order. PostgreSQL hands out ids before the
        writing transactions commit, so a row of an ingest process may appear below the newest
        id seen: the last LOOKBACK_IDS ids are read again and only unseen ones dispatched (ids up
        to the stored cursor count as seen after a restart)."""
        after = max(self.floor, self.cursor - LOOKBACK_IDS)
        while True:
            events = await self.storage.alarm_events_after(after)
            for ev in events:
                if ev["id"] in self.seen:
                    continue
                if ev["active"]:
                    await self._on_raise(ev)
                else:
                    await self._on_clear(ev)
                self.seen.add(ev["id"])
            if events:
                after = events[-1]["id"]
                if after > self.cursor:
                    self.cursor = after
                    await self.storage.set_notify_cursor(CURSOR, self.cursor)
            if len(events) < 500:
                break
        low = max(self.floor, self.cursor - LOOKBACK_IDS)
        self.seen = {i for i in self.seen if i > low}

    async def _on_raise(self, ev: dict[str, Any]) -> None:
        key = (ev["station_id"], ev["code"])
        inc = self.incidents.get(key)
        if inc is not None and inc["state"] == "cleared":
            inc.update(state="open", cleared_ts=None, flaps=inc["flaps"] + 1, text=ev["text"], value=ev["value"],
                       lim=ev.get("limit", inc["lim"]))
            self.counts["flaps"] += 1
            await self.storage.save_incident(inc)
            return
        if inc is not None:
            inc.update(repeats=inc["repeats"] + 1, text=ev["text"], value=ev["value"], lim=ev.get("limit", inc["lim"]))
            if SEVERITY_RANK.get(ev["severity"], 1) > SEVERITY_RANK.get(inc["severity"], 1):
                inc["severity"] = ev["severity"]
            self.counts["duplicates"] += 1
            await self.storage.save_incident(inc)
            return
        now = self.clock()
        value = ev["value"]
        inc = {"incident_id": _id(), "station_id": ev["station_id"], "code": ev["code"], "severity": ev["severity"],
               "since_ts": ev["ts"], "text": ev["text"] or "", "value": value,
               "lim": ev.get("limit"), "flaps": 0, "repeats": 0,
               "state": "open", "level": 0, "next_escalation_ts": None, "first_sent_ts": None, "cleared_ts": None,
               "acked_by": None, "acked_ts": None, "closed_ts": None}
        self.incidents[key] = inc
        if ev["severity"] in self.n["digest_severities"]:
            inc["state"] = "digest"
            await self.storage.save_incident(inc)
            return
        await self._tell_chain(inc, 0, "raise", now)

    async def _tell_chain(self, inc: dict[str, Any], level: int, kind: str, now: float) -> None:
        """Tell the chain's person at `level`; one no channel reaches is passed over at once.
        Then the next escalation is due after notify.escalate_min[severity] (if any, and if
        someone is left in the chain)."""
        chain = self._chain(inc, now)
        while level < len(chain):
            inc["level"] = level
            if await self._tell(inc, chain[level], kind, level, now):
                break
            log.warning("%s %s: %s has no channel that reaches them: next in line", inc["station_id"], inc["code"],
                        chain[level])
            level += 1
            kind = "escalate"
        minutes = self.n["escalate_min"].get(inc["severity"])
        inc["next_escalation_ts"] = now + minutes * 60.0 if minutes is not None and level + 1 < len(chain) else None
        await self.storage.save_incident(inc)

    async def _on_clear(self, ev: dict[str, Any]) -> None:
        inc = self.incidents.get((ev["station_id"], ev["code"]))
        if inc is None or inc["state"] == "cleared":
            return
        if inc["state"] == "digest":
            inc.update(state="closed", cleared_ts=ev["ts"], closed_ts=ev["ts"])
            del self.incidents[(ev["station_id"], ev["code"])]
        else:
            inc.update(state="cleared", cleared_ts=ev["ts"])
        await self.storage.save_incident(inc)

    def _chain(self, inc: dict[str, Any], now: float) -> list[str]:
        return [p for p in rota.chain(self.n["rotas"], inc["station_id"], now, self.offset_h) if p in self.people]

    # --- acknowledgements ----------------------------------------------------------------------
    async def _read_acks(self) -> None:
        waiting = [k for k, inc in self.incidents.items() if inc["acked_ts"] is None]
        if not waiting:
            return
        acks = await self.storage.alarm_acks(waiting)
        for key, (by, ts) in acks.items():
            inc = self.incidents[key]
            if ts >= inc["since_ts"] - 1.0:
                await self._acked(inc, by, ts)

    async def _acked(self, inc: dict[str, Any], by: str, ts: float) -> None:
        inc.update(acked_by=by, acked_ts=ts, next_escalation_ts=None)
        await self.storage.save_incident(inc)
        await self._audit(ts, "notify_ack", inc["station_id"], "%s acknowledged by %s after %.0f s" % (
            inc["code"], by, ts - inc["since_ts"]), "ok")

    async def acknowledge_link(self, token: str, now: float | None = None) -> dict[str, Any]:
        """Acknowledge the alarm a signed link names, as its person, through the dashboard's ack
        path (links.BadLink when the link is bad or expired). Returns the link's data."""
        now = self.clock() if now is None else now
        data = links.read_token(self.key, token, now)  # BadLink: the web audits it within its budget
        user = "notify:" + data["person"]
        inc = self.incidents.get((data["station_id"], data["code"]))
        if inc is not None and inc["acked_ts"] is not None:
            return data  # acknowledged already (a second tap, or someone else): nothing to send again
        if data["code"] in NOTIFY_ALARMS or self.ack_path is None:
            await self.storage.mark_alarm_acked(data["station_id"], data["code"], user, now)
            await self._audit(now, "ack_alarm", data["station_id"], data["code"], "recorded")
        else:
            await self.ack_path(data["station_id"], data["code"], user)
        await self._audit(now, "notify_ack_link", data["station_id"], "%s by %s (message %s)" % (
            data["code"], data["person"], data["message_id"]), "ok")
        async with self._lock:
            inc = self.incidents.get((data["station_id"], data["code"]))
            if inc is not None and inc["acked_ts"] is None:
                await self._acked(inc, user, now)
        return data

    def link_info(self, token: str) -> dict[str, Any]:
        """What an acknowledgement link names (links.BadLink when bad), with its incident if open."""
        data = links.read_token(self.key, token, self.clock())
        inc = self.incidents.get((data["station_id"], data["code"]))
        return {**data, "incident": dict(inc) if inc else None,
                "station_name": self.names.get(data["station_id"], data["station_id"])}

    # --- escalation, closing, digest ----------------------------------------------------------
    async def _escalate(self) -> None:
        now = self.clock()
        for inc in list(self.incidents.values()):
            due = inc["next_escalation_ts"]
            if inc["state"] != "open" or inc["acked_ts"] is not None or due is None or now < due:
                continue
            chain = self._chain(inc, now)
            level = inc["level"] + 1
            if level >= len(chain):
                inc["next_escalation_ts"] = None
                await self.storage.save_incident(inc)
                continue
            await self._audit(now, "notify_escalate", inc["station_id"], "%s unacknowledged for %.0f min: to %s" % (
                inc["code"], (now - inc["since_ts"]) / 60.0, chain[level]), "level %d" % level)
            await self._tell_chain(inc, level, "escalate", now)

    async def _close_quiet(self) -> None:
        now = self.clock()
        for key, inc in list(self.incidents.items()):
            if inc["state"] != "cleared" or now - inc["cleared_ts"] < float(self.n["flap_window_s"]):
                continue
            inc.update(state="closed", closed_ts=now, next_escalation_ts=None)
            await self.storage.save_incident(inc)
            del self.incidents[key]
            told = {m["person"] for m in await self.storage.messages(1000, incident_id=inc["incident_id"])
                    if m["kind"] in ("raise", "escalate")}
            for pid in sorted(told):
                await self._tell(inc, pid, "clear", inc["level"], now)

    async def _digest(self) -> None:
        now = self.clock()
        local = dt.datetime.fromtimestamp(now + self.offset_h * 3600.0, dt.UTC)
        if local.hour < int(self.n["digest_hour"]) or not self.n["digest_severities"]:
            return
        day = int(local.strftime("%Y%m%d"))
        last = await self.storage.notify_cursor(DIGEST_CURSOR)
        if last is not None and last >= day:
            return
        await self.storage.set_notify_cursor(DIGEST_CURSOR, day)
        items = [i for i in await self.storage.incidents(2000)
                 if i["severity"] in self.n["digest_severities"] and now - 86400.0 <= i["since_ts"] <= now]
        by_person: dict[str, list[dict[str, Any]]] = {}
        for inc in items:
            chain = self._chain(inc, now)
            if chain:
                by_person.setdefault(chain[0], []).append(inc)
        for pid, incs in sorted(by_person.items()):
            person = self.people[pid]
            lang = person["language"] or self.n["language"]
            text = messages.render_digest(sorted(incs, key=lambda i: i["since_ts"]), self.names, lang, self.offset_h,
                                          self.n["base_url"])
            fields = {"event": "digest", "severity": "info", "count": len(incs)}
            await self._queue(None, pid, "digest", 0, lang, None, None, "info", text, fields, now)

    # --- messages ------------------------------------------------------------------------------
    async def _tell(self, inc: dict[str, Any], pid: str, kind: str, level: int, now: float) -> int:
        """Queue the message to `pid` on each of their channels that reaches them; how many."""
        person = self.people[pid]
        lang = person["language"] or self.n["language"]
        sid = inc["station_id"]
        # the supervisor's own alarms name the supervisor, not its pseudo station id
        station_name = messages.WORDS.get(lang, messages.WORDS["en"])["site"] if sid == SUPERVISOR_STATION \
            else self.names.get(sid, sid)
        # the supervisor's own alarms have no station page: their link opens the alarms page
        station_url = "%s/%s" % (self.n["base_url"], "alarms" if sid == SUPERVISOR_STATION else "stations/" + sid)
        message_id = _id()
        ack_url = ""
        if kind != "clear":
            token = links.make_token(self.key, sid, inc["code"], pid, message_id,
                                     now + float(self.n["ack_ttl_h"]) * 3600.0)
            ack_url = "%s/ack/%s" % (self.n["base_url"], token)
        text = messages.render(kind, inc, station_name, lang, self.offset_h, station_url, ack_url, now, level)
        value, lim = messages.value_and_limit(inc.get("value"), inc.get("lim"))
        fields = {"event": kind, "incident_id": inc["incident_id"], "station_id": sid, "station_name": station_name,
                  "code": inc["code"], "alarm": messages.alarm_name(inc["code"], lang), "severity": inc["severity"],
                  "severity_name": messages.severity_name(inc["severity"], lang), "since_ts": inc["since_ts"],
                  "since_local": messages.local_time(inc["since_ts"], self.offset_h), "value": value, "limit": lim,
                  "count": inc["flaps"] + 1, "level": level, "station_url": station_url, "ack_url": ack_url,
                  "cleared_ts": inc.get("cleared_ts"), "acked_by": inc.get("acked_by")}
        avoid = set(self.failing) if inc["code"] == ALARM_CHANNEL_FAILED else set()
        usable = [name for name in person["channels"]
                  if name in self.channels and name not in avoid and self.channels[name].reaches(person)]
        for name in usable:
            await self._queue(inc, pid, kind, level, lang, sid, name, inc["severity"], text, fields, now,
                              message_id if name == usable[0] else None)
        return len(usable)

    async def _queue(self, inc: dict[str, Any] | None, pid: str, kind: str, level: int, lang: str, sid: str | None,
                     channel: str | None, severity: str, text: dict[str, str], fields: dict[str, Any], now: float,
                     message_id: str | None = None) -> None:
        channels = [channel] if channel else [c for c in self.people[pid]["channels"] if c in self.channels]
        for name in channels:
            code = inc["code"] if inc else ""
            key = (pid, name, sid or "", code, kind)
            suppressed = kind != "digest" and now - self.recent.get(key, -1e18) < float(self.n["dedup_s"])
            msg: dict[str, Any] = {"message_id": message_id or _id(), "incident_id": inc["incident_id"] if inc else None,
                   "created_ts": now, "kind": kind, "person": pid, "channel": name, "level": level, "lang": lang,
                   "station_id": sid, "code": code or None, "severity": severity, "subject": text["subject"],
                   "body": json.dumps({"markdown": text["markdown"], "text": text["text"], "fields": fields},
                                      ensure_ascii=False),
                   "state": "suppressed" if suppressed else "pending", "attempts": 0, "next_attempt_ts": now,
                   "sent_ts": None, "last_error": "duplicate within notify.dedup_s" if suppressed else ""}
            message_id = None
            await self.storage.save_message(msg)
            if suppressed:
                self.counts["suppressed"] += 1
                await self._audit(now, "notify_suppressed", sid, "%s %s to %s via %s" % (kind, code, pid, name), "dup")
                continue
            self.recent[key] = now
            self.pending[msg["message_id"]] = msg
            await self._audit(now, "notify_queued", sid, "%s %s to %s via %s (message %s)" % (
                kind, code, pid, name, msg["message_id"]), "level %d" % level)

    async def _deliver_due(self) -> None:
        now = self.clock()
        for key in [k for k, ts in self.recent.items() if now - ts >= float(self.n["dedup_s"])]:
            del self.recent[key]
        await self.courier.deliver_due()

    async def _first_sent(self, msg: dict[str, Any], now: float) -> None:
        inc = self.incidents.get((msg["station_id"] or "", msg["code"] or ""))
        if inc is not None and inc["first_sent_ts"] is None:
            inc["first_sent_ts"] = now
            await self.storage.save_incident(inc)

    async def _audit(self, ts: float, action: str, station_id: str | None, detail: str, result: str) -> None:
        await self.storage.audit_insert(ts, AUDIT_USER, action, station_id, detail[:2000], result[:200])

    # --- the dashboard's view ------------------------------------------------------------------
    async def overview(self, limit: int = 200) -> dict[str, Any]:
        """Messages (newest first, with their attempts), incidents with time to acknowledge, counters."""
        msgs = await self.storage.messages(limit)
        attempts = await self.storage.attempts([m["message_id"] for m in msgs])
        rows = []
        for m in msgs:
            fields = json.loads(m["body"]).get("fields", {})
            rows.append({k: v for k, v in m.items() if k != "body"} | {
                "attempt_list": attempts.get(m["message_id"], []), "person_name": self.people.get(
                    m["person"], {}).get("name", m["person"]), "alarm": fields.get("alarm", m["code"] or "")})
        incs = await self.storage.incidents(limit)
        tta = [i["acked_ts"] - i["since_ts"] for i in incs if i["acked_ts"] is not None]
        for i in incs:
            i["tta_s"] = i["acked_ts"] - i["since_ts"] if i["acked_ts"] is not None else None
        tta.sort()
        return {"messages": rows, "incidents": incs, "failing": dict(self.failing),
                "counts": {**self.counts, **self.courier.counts},
                "tta": {"n": len(tta), "median_s": tta[len(tta) // 2] if tta else None,
                        "max_s": tta[-1] if tta else None}}
