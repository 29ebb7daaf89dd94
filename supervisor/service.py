"""The supervisor's service API: what the web dashboard (and the CLI, tests, benchmark) call.

One `SupervisorService` owns the storage, the ingest, the command tracker and the collector
hub. Every method is async and returns plain JSON-safe data. Names are stable: the web app
codes against them. Times are unix seconds; temperatures degC; pressures kPa.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from heatkeeper.core import codec

from . import reports, users
from .allocation_runner import AllocationRunner
from .collectors import CollectorHub, in_scope, parse_http_readings, rejection_text
from .command_keys import CommandKeys, keys_dir
from .commands import CommandError, CommandTracker
from .fleet_alarms import CODES as FLEET_ALARMS
from .fleet_alarms import SITE_ID, FleetAlarms
from .forecast import ForecastFeed
from .ingest import Ingest
from .metrics import FlushMetrics
from .outdoor import OutdoorFeed
from .quarantine import SUPERVISOR_ALARMS
from .settings_push import SettingsPush
from .storage.base import Storage

log = logging.getLogger(__name__)

Publisher = Callable[[str, bytes, int, bool], Awaitable[None]]
# least to worst; the station's severities (core.alarms) and the older "info"/"alarm" of the supervisor
SEVERITY_RANK = {"info": 0, "warning": 1, "minor": 2, "alarm": 3, "major": 3, "critical": 4}
RAW_SPAN_S = 6 * 3600.0
INITIAL_ADMIN = "admin"  # the user a fresh install creates, with its password in a file
KDF_CONCURRENCY = 2  # password checks at once (each takes 128 MiB and ~0.4 s of one core)
OVERVIEW_FIELDS = {"supply_temp_c": "secondary_supply_temp_c", "supply_setpoint_c": "supply_setpoint_c",
                   "outdoor_temp_c": "outdoor_temp_c"}


def initial_password_path(config: dict[str, Any]) -> str:
    """Where a fresh install writes the initial admin's password (deleted once it is changed)."""
    return os.path.join(config["supervisor"]["data_dir"], "initial-admin-password")


class ServiceError(ValueError):
    """A request the service refuses; `reason` is a short code for the UI."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__("%s: %s" % (reason, text))
        self.reason = reason
        self.text = text


class NotConnected(ConnectionError):
    """The supervisor has no broker connection right now."""


class SupervisorService:
    """Façade over ingest, storage, commands, collectors and reports."""

    def __init__(self, storage: Storage, config: dict[str, Any], wall_clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.config = config
        self.clock = wall_clock
        self.stations_cfg = {s["id"]: s for s in config.get("stations", [])}
        st = config["storage"]
        self.ingest = Ingest(storage, set(self.stations_cfg), max_payload_bytes=config["ingest"]["max_payload_bytes"],
                             batch_max=st["batch_max"], batch_interval_s=st["batch_interval_s"],
                             agg_flush_s=st["agg_flush_s"], owner=config["mqtt"]["client_id"], wall_clock=wall_clock,
                             max_age_s=st["raw_retention_days"] * 86400.0)
        col = config["collectors"]
        self.collectors = CollectorHub(storage, config.get("collectors_map", {}), col["min_temp_c"], col["max_temp_c"],
                                       col["max_age_s"], wall_clock)
        self.commands = CommandTracker(storage, self._publish, self.audit_record, config["commands"]["timeout_s"],
                                       wall_clock, CommandKeys(keys_dir(config["supervisor"]["data_dir"])))
        out = config["outdoor"]
        self.outdoor = OutdoorFeed(self.stations_cfg, self.ingest.state, out["min_stations"], out["max_sample_age_s"],
                                   wall_clock)
        self.forecast = ForecastFeed(storage, config["forecast"], self.stations_cfg, wall_clock)
        # the supervisor's own alarm rules (run by `heatkeeper supervisor`: main.serve)
        self.fleet_alarms = FleetAlarms(storage, config, self.ingest.state, self.collectors, wall_clock)
        # settings profiles pushed to the stations (run by `heatkeeper supervisor`: main.serve)
        self.settings_push = SettingsPush(self, wall_clock)
        self.ingest.on_ack = self.commands.on_ack
        self.ingest.on_reading = self.collectors.accept
        self.ingest.hold_reading_ack = self.collectors.hold_ack
        self.flush_metrics = FlushMetrics()  # flush times and failures for GET /metrics
        self.ingest.on_flush = self.flush_metrics.watch
        self._publisher: Publisher | None = None
        self._kdf_slots = asyncio.Semaphore(KDF_CONCURRENCY)
        self.started = False
        self.ingest_started = False

    # --- life cycle -------------------------------------------------------------------------
    async def start(self, open_storage: bool = True, ingest: bool = True) -> None:
        """Open the storage (unless already open), register configured stations, restore state
        and pending commands. `ingest=False` (a CLI that only touches users) leaves the ingest's
        aggregation epochs alone: they may belong to the supervisor running beside it."""
        if open_storage:
            await self.storage.open()
        for s in self.stations_cfg.values():
            await self.storage.upsert_station(s["id"], s["name"], s["city"])
        if ingest:
            await self.ingest.load_state()
        self.ingest_started = ingest
        await self.commands.load_pending()
        self.started = True

    async def stop(self) -> None:
        try:
            if self.ingest_started:
                await self.ingest.flush(final=True)
            await self.collectors.flush()
        finally:
            await self.storage.close()

    def set_publisher(self, publisher: Publisher | None) -> None:
        """Installed by the MQTT link when connected (None when the link is down)."""
        self._publisher = publisher

    async def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self._publisher is None:
            raise NotConnected("no broker connection")
        await self._publisher(topic, payload, qos, retain)

    def background(self) -> list[Awaitable[None]]:
        """Coroutines the supervisor runs for its lifetime."""
        tasks: list[Awaitable[None]] = [self.ingest.run_flusher(), self.commands.run_sweeper(),
                 self.collectors.run(self._publish, self.config["collectors"]["forward_interval_s"]),
                 self.collectors.run_store(1.0),
                 self._retention_loop()]
        if self.config["mqtt"]["shared_group"]:
            tasks.append(self._refresh_loop())
        if self.config["outdoor"]["enabled"]:
            tasks.append(self.outdoor.run(self._publish, self.config["outdoor"]["interval_s"]))
        if self.config["forecast"]["cities"]:
            tasks.append(self.forecast.run(self._publish))
        alloc = self.config["allocation"]  # primary allocation: one runner per network (allocation_runner.py)
        tasks += [AllocationRunner(self.storage, self.commands.send, net, alloc["settings"], self.audit_record).run_forever()
                  for net in alloc["networks"]]
        return tasks

    async def _refresh_loop(self) -> None:
        """With shared subscriptions other processes store part of the uplinks: pick up their
        latest station state for the dashboard (it lags by up to a minute for those)."""
        while True:
            await asyncio.sleep(30.0)
            try:
                await self.ingest.refresh_from_storage()
            except Exception:  # noqa: BLE001 - task boundary: retried next period
                log.exception("refreshing station state from storage failed")

    async def _retention_loop(self) -> None:
        st = self.config["storage"]
        while True:
            try:
                await self.storage.apply_retention(self.clock(), st["raw_retention_days"], st["agg_retention_days"],
                                                   st["readings_retention_days"], st["audit_retention_days"])
            except Exception:  # noqa: BLE001 - task boundary: retried next hour
                log.exception("retention pass failed")
            await asyncio.sleep(3600.0)

    async def forecasts(self) -> list[dict[str, Any]]:
        """Each configured forecast city: source, last good fetch, horizon, last error (forecast.py)."""
        return self.forecast.status()

    # --- stations ---------------------------------------------------------------------------
    def _station(self, station_id: str) -> dict[str, Any]:
        if station_id not in self.stations_cfg:
            raise ServiceError("unknown_station", "no station %r" % station_id)
        return self.stations_cfg[station_id]

    def stations_online(self) -> int:
        """How many configured stations are online now (as the fleet page shows them)."""
        now = self.clock()
        states = self.ingest.state
        return sum(1 for sid in self.stations_cfg if sid in states and self._online(states[sid], now))

    def broker_connected(self) -> bool:
        return self._publisher is not None

    def _online(self, st: dict[str, Any], now: float) -> bool:
        if not st["online"]:
            return False
        last = st["last_seen_ts"]
        return last is not None and now - last <= self.config["ingest"]["stale_after_s"]

    async def list_stations(self) -> list[dict[str, Any]]:
        """Fleet overview, one dict per configured station (see module docs for keys)."""
        now = self.clock()
        active = await self.storage.alarm_rows(None, True)
        by_station: dict[str, list[dict[str, Any]]] = {}
        for a in active:
            by_station.setdefault(a["station_id"], []).append(a)
        groups = self._group_comfort(now)
        out = []
        for sid, cfg in sorted(self.stations_cfg.items()):
            st = self.ingest.state[sid]
            values = st["values"]
            alarms = by_station.get(sid, [])
            worst = max((a["severity"] for a in alarms), key=_severity_rank, default=None)
            comfort = groups.get(sid, {"min_room_c": None, "groups_below_18": 0})
            item = {"station_id": sid, "name": cfg["name"], "city": cfg["city"], "online": self._online(st, now),
                    "last_seen_ts": st["last_seen_ts"], "active_alarms": len(alarms), "worst_severity": worst,
                    "comfort": comfort, "mode": st["mode"]}
            for key, field in OVERVIEW_FIELDS.items():
                item[key] = values.get(field)
            out.append(item)
        return out

    def _group_comfort(self, now: float) -> dict[str, dict[str, Any]]:
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
        """Latest values, mode, device health, active leases, alarms and room readings of one station."""
        cfg = self._station(station_id)
        st = self.ingest.state[station_id]
        now = self.clock()
        return {"station_id": station_id, "name": cfg["name"], "city": cfg["city"], "online": self._online(st, now),
                "status_online": st["online"], "status_ts": st["status_ts"], "last_seen_ts": st["last_seen_ts"],
                "last_seq": st["last_seq"], "values_ts": st["values_ts"], "values": dict(st["values"]),
                "mode": st["mode"], "devices": st["devices"], "leases": st["leases"],
                "alarms": await self.storage.alarm_rows(station_id, True), "rooms": self.collectors.current(station_id),
                "pending_commands": [{k: v for k, v in c.items() if k != "sent_mono"}
                                     for c in self.commands.pending.values() if c["station_id"] == station_id]}

    async def trends(self, station_id: str, fields: list[str], t0_ts: float, t1_ts: float,
                     max_points: int = 1000) -> dict[str, list[list[float]]]:
        """{field: [[ts, value], ...]}: raw samples for spans up to 6 h, 5-minute means beyond;
        thinned to at most `max_points` per field by averaging neighbours."""
        self._station(station_id)
        if t1_ts <= t0_ts:
            raise ServiceError("bad_range", "t1_ts must be after t0_ts")
        max_points = max(10, min(int(max_points), 20000))
        out: dict[str, list[list[float]]] = {f: [] for f in fields}
        if t1_ts - t0_ts <= RAW_SPAN_S:
            for ts, body in await self.storage.telemetry_bodies(station_id, t0_ts, t1_ts, 200000):
                values = body.get("values", {})
                for f in fields:
                    v = values.get(f)
                    if v is not None:
                        out[f].append([ts, float(v)])
        else:
            await self.ingest.flush(force_aggregates=True)
            for field, bucket, n, total, _lo, _hi in await self.storage.aggregates(station_id, fields, t0_ts, t1_ts):
                out[field].append([float(bucket), float(total) / max(int(n), 1)])
        return {f: _thin(series, max_points) for f, series in out.items()}

    # --- alarms -------------------------------------------------------------------------------
    async def alarms(self, station_id: str | None = None, active_only: bool = True) -> list[dict[str, Any]]:
        """Current alarm state per (station, code); with active_only False, cleared ones too."""
        await self.ingest.flush()
        return await self.storage.alarm_rows(station_id, active_only)

    async def quarantine(self, station_id: str | None = None, limit: int = 200) -> dict[str, Any]:
        """Uplinks kept in the quarantine (newest first, payloads cut short) and the count per reason."""
        if station_id is not None:
            self._station(station_id)
        await self.ingest.flush()
        return {"rows": await self.storage.quarantine_rows(station_id, max(1, min(int(limit), 1000))),
                "counts": await self.storage.quarantine_counts()}

    async def alarm_history(self, station_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        return await self.storage.alarm_history(station_id, limit)

    async def ack_alarm(self, station_id: str, code: str, user: str) -> dict[str, Any]:
        """Send ack_alarm to the station, then record the acknowledgement. When the broker did
        not take the command nothing is recorded (NotConnected): the alarm stays unacknowledged
        on the dashboard, as it is on the station. The supervisor's own alarms (quarantine,
        sequence regression) are acknowledged here alone."""
        if not (station_id == SITE_ID and code in FLEET_ALARMS):  # the site's own alarms have no station
            self._station(station_id)
        if code in SUPERVISOR_ALARMS or code in FLEET_ALARMS:
            # the supervisor's own alarm: nothing to tell the station
            recorded = await self.storage.mark_alarm_acked(station_id, code, user, self.clock())
            await self.audit_record(user=user, action="ack_alarm", station_id=station_id, detail=code,
                                    result="recorded" if recorded else "not_active")
            return {"command_id": None, "recorded": recorded, "state": "recorded"}
        command_id = await self.send_command(station_id, "ack_alarm", {"code": code}, user)
        status = await self.command_status(command_id)
        if status["state"] == "rejected" and status["reason"] == "not_sent":
            raise NotConnected("the acknowledgement of %s at %s was not sent: %s" % (code, station_id, status["detail"]))
        recorded = await self.storage.mark_alarm_acked(station_id, code, user, self.clock())
        return {"command_id": command_id, "recorded": recorded, "state": status["state"]}

    # --- commands -----------------------------------------------------------------------------
    async def send_command(self, station_id: str, kind: str, args: dict[str, Any], user: str,
                           lease_s: float | None = None) -> str:
        """Publish a command (QoS 1, not retained, with expiry); returns its id. Malformed
        commands raise ServiceError and are audited as refused."""
        self._station(station_id)
        try:
            return await self.commands.send(station_id, kind, args, user, lease_s)
        except CommandError as exc:
            await self.audit_record(user=user, action="command:" + str(kind), station_id=station_id,
                                    detail="%s %s" % (args, exc.text), result="refused:" + exc.reason)
            raise ServiceError(exc.reason, exc.text) from exc

    async def command_status(self, command_id: str) -> dict[str, Any]:
        cmd = await self.commands.status(command_id)
        if cmd is None:
            raise ServiceError("unknown_command", "no command %r" % command_id)
        return cmd

    async def recent_commands(self, station_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return await self.storage.commands(station_id, limit)

    # --- users ----------------------------------------------------------------------------------
    async def _kdf(self, password: str, stored: str) -> bool:
        """One scrypt check on a worker thread; at most KDF_CONCURRENCY at a time (128 MiB each)."""
        async with self._kdf_slots:
            return await asyncio.to_thread(users.verify_password, password, stored)

    async def _hash(self, password: str) -> str:
        async with self._kdf_slots:
            return await asyncio.to_thread(users.hash_password, password)

    async def authenticate(self, username: str, password: str,
                           audit_failure: bool | Callable[[], Awaitable[bool]] = True) -> dict[str, Any] | None:
        """{"username", "role", "must_change"} when the password matches and the account is
        enabled, else None. Exactly one password check runs whether or not the name exists
        (an unknown name is checked against a dummy hash), so timing does not reveal names.
        Successes are audited; failures when `audit_failure` is true or, if a coroutine function,
        returns true (the web caps the rows unauthenticated clients can cause). A hash made with
        older parameters is replaced."""
        row = await self.storage.user(username) if isinstance(username, str) else None
        if row is not None:
            bare, disabled, must_change = users.split_flags(row["password_hash"])
        else:
            bare, disabled, must_change = await asyncio.to_thread(users.dummy_hash), False, False
        ok = await self._kdf(password if isinstance(password, str) else "", bare)
        result = "ok" if ok and row and not disabled else ("disabled" if ok and row else "denied")
        if result == "ok" or (await audit_failure() if callable(audit_failure) else audit_failure):
            await self.audit_record(user=str(username)[:64], action="login", station_id=None, detail="", result=result)
        if result != "ok" or row is None:
            return None
        if users.needs_rehash(bare):
            await self.storage.update_user(row["username"], None, users.join_flags(await self._hash(password), False,
                                                                                   must_change))
        return {"username": row["username"], "role": row["role"], "must_change": must_change}

    async def create_user(self, username: str, password: str, role: str, by: str = "system",
                          must_change: bool = False) -> dict[str, Any]:
        """Add a user; `must_change` makes them choose a new password at their first login."""
        problems = users.check_new_user(username, password, role)
        if not problems and await self.storage.user(username) is not None:
            problems.append("username=%r: already exists" % username)
        if problems:
            raise ServiceError("bad_user", "; ".join(problems))
        hashed = users.join_flags(await self._hash(password), False, must_change)
        await self.storage.insert_user(username, role, hashed, self.clock())
        await self.audit_record(user=by, action="create_user", station_id=None, detail="%s as %s" % (username, role),
                                result="ok")
        return {"username": username, "role": role}

    async def _account(self, username: str) -> tuple[dict[str, Any], str, bool, bool]:
        row = await self.storage.user(username)
        if row is None:
            raise ServiceError("unknown_user", "no user %r" % username)
        bare, disabled, must_change = users.split_flags(row["password_hash"])
        return row, bare, disabled, must_change

    async def _other_active_admins(self, username: str) -> int:
        count = 0
        for u in await self.list_users():
            if u["username"] != username and u["role"] == "admin" and not u["disabled"]:
                count += 1
        return count

    async def set_user(self, username: str, by: str, role: str | None = None, password: str | None = None,
                       disabled: bool | None = None) -> None:
        """An admin changes a user's role, password or enabled state. The last enabled admin
        can be neither demoted nor disabled (nobody could manage users any more)."""
        row, bare, was_disabled, must_change = await self._account(username)
        if role is not None and role not in users.ROLES:
            raise ServiceError("bad_user", "role=%r: must be one of %s" % (role, ", ".join(users.ROLES)))
        if password is not None and users.check_password(password):
            raise ServiceError("bad_user", "; ".join(users.check_password(password)))
        losing_admin = row["role"] == "admin" and not was_disabled and (
            (role is not None and role != "admin") or disabled is True)
        if losing_admin and not await self._other_active_admins(username):
            raise ServiceError("last_admin", "%s is the last enabled admin: make another user admin first" % username)
        if password is not None:
            bare = await self._hash(password)
        stored = None
        if password is not None or disabled is not None:
            stored = users.join_flags(bare, was_disabled if disabled is None else disabled, must_change)
        await self.storage.update_user(username, role, stored)
        detail = username + (" role=" + role if role else "") + (" password" if password else "")
        if disabled is not None:
            detail += " disabled" if disabled else " enabled"
        await self.audit_record(user=by, action="update_user", station_id=None, detail=detail, result="ok")
        if password is not None:
            self._forget_initial_password(username)

    async def change_own_password(self, username: str, current: str, new: str) -> None:
        """Self-service: any role, with the current password. Clears a pending forced change."""
        _row, bare, disabled, _must = await self._account(username)
        if not isinstance(current, str) or not await self._kdf(current, bare):
            await self.audit_record(user=username, action="change_password", detail="", result="denied")
            raise ServiceError("wrong_password", "the current password is wrong")
        problems = users.check_password(new)
        if not problems and new == current:
            problems.append("password: the new password must differ from the current one")
        if problems:
            raise ServiceError("bad_password", "; ".join(problems))
        await self.storage.update_user(username, None, users.join_flags(await self._hash(new), disabled, False))
        await self.audit_record(user=username, action="change_password", detail="", result="ok")
        self._forget_initial_password(username)

    async def delete_user(self, username: str, by: str) -> None:
        """Remove a user for good (the audit log keeps their name); never the last enabled admin."""
        row, _bare, disabled, _must = await self._account(username)
        if row["role"] == "admin" and not disabled and not await self._other_active_admins(username):
            raise ServiceError("last_admin", "%s is the last enabled admin: make another user admin first" % username)
        await self.storage.execute("DELETE FROM users WHERE username = ?", (username,))
        await self.audit_record(user=by, action="delete_user", station_id=None, detail=username, result="ok")

    def _forget_initial_password(self, username: str) -> None:
        """Once the initial admin's password is changed, the file holding the old one goes."""
        if username != INITIAL_ADMIN:
            return
        path = initial_password_path(self.config)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("cannot delete %s (%s): delete it by hand, it holds an old password", path, exc.strerror)
            return
        log.warning("deleted %s: the initial admin password was changed", path)

    async def list_users(self) -> list[dict[str, Any]]:
        """[{username, role, created_ts, disabled, must_change}] by name."""
        out = []
        for u in await self.storage.users():
            row = await self.storage.user(u["username"])
            _bare, disabled, must_change = users.split_flags(row["password_hash"] if row else "")
            out.append({**u, "disabled": disabled, "must_change": must_change})
        return out

    # --- audit --------------------------------------------------------------------------------
    async def audit(self, limit: int = 200, station_id: str | None = None) -> list[dict[str, Any]]:
        """Newest first: {ts, user, action, station_id, detail, result}."""
        return await self.storage.audit_rows(max(1, min(int(limit), 10000)), station_id)

    async def audit_record(self, user: str, action: str, station_id: str | None = None, detail: str = "",
                           result: str = "") -> None:
        await self.storage.audit_insert(self.clock(), user, action, station_id, detail[:2000], result[:200])

    # --- collectors ---------------------------------------------------------------------------
    async def ingest_collector_http(self, payload: Any, source: str,
                                    scope: Sequence[str] | None = None) -> dict[str, Any]:
        """Readings POSTed over HTTP: {"collector","temp_c","ts"} or {"readings":[...]}, by the
        platform `source` whose token may write the collectors in `scope` (None: all).
        Returns {"accepted": n, "rejected": [{"collector", "reason", "detail"}...], "problems": [...]}."""
        good, problems = parse_http_readings(payload)
        for p in problems:
            self.ingest.rejects.reject("bad_http_reading", "%s from %s" % (p, source))
        rejected = []
        accepted = 0
        for cid, temp, ts in good:
            if scope is not None and not in_scope(cid, scope):
                result = "not_in_scope"
            else:
                result = self.collectors.accept(cid, temp, ts, "http:" + source)
            if result == "stored":
                accepted += 1
            else:
                detail = rejection_text(result, cid, temp, ts, self.clock(), self.collectors.max_age_s, source)
                self.ingest.rejects.reject(result, "%s from %s" % (detail, source))
                rejected.append({"collector": cid, "reason": result, "detail": detail})
        if accepted:
            await self.collectors.flush()
        return {"accepted": accepted, "rejected": rejected, "problems": problems}

    async def collector_map(self) -> list[dict[str, Any]]:
        out = []
        for cid, info in sorted(self.collectors.collectors.items()):
            latest = self.collectors.latest.get(cid)
            out.append({"collector": cid, "station_id": info["station"], "group": info["group"],
                        "temp_c": latest[1] if latest else None, "ts": latest[0] if latest else None})
        return out

    # --- reports ------------------------------------------------------------------------------
    async def compliance_report(self, t0_ts: float, t1_ts: float) -> dict[str, Any]:
        """Per station and building group: hours below the floor, failed days; per station: heating
        outages over the limit. Comfort figures from the room collectors, not refunds: those are
        computed per household from the official measurements and outages (household_refunds.py,
        the Refunds page), the one source of refund figures."""
        comp = self.config["compliance"]
        off = self.config["supervisor"]["utc_offset_h"]
        await self.collectors.flush()
        await self.ingest.flush(force_aggregates=True)
        groups = reports.group_compliance(await self.storage.readings(None, t0_ts, t1_ts), t1_ts, comp["floor_c"], off,
                                          comp["refund_failures"], comp["refund_window_days"])
        for g in groups:  # a collector proxy that disagreed with the refunds: not shown anywhere
            g.pop("refund_risk", None)
        stations = []
        for sid in sorted(self.stations_cfg):
            rows = await self.storage.aggregates(sid, list(reports.OUTAGE_FIELDS), t0_ts, t1_ts)
            out = reports.outages(rows, t0_ts, t1_ts, comp["outage_h"], self.clock())
            mine = [g for g in groups if g["station_id"] == sid]
            stations.append({"station_id": sid, "name": self.stations_cfg[sid]["name"],
                             "hours_below_floor": max((g["hours_below_floor"] for g in mine), default=0.0), **out})
        return {"t0_ts": t0_ts, "t1_ts": t1_ts, "floor_c": comp["floor_c"], "outage_h": comp["outage_h"],
                "stations": stations, "groups": groups}

    async def daily_report(self, date: str, hour: int) -> dict[str, Any]:
        """Hourly means of flow, pressures and temperatures per station for the 24 h ending at
        `hour`:00 (9 or 17) local time on `date` (YYYY-MM-DD)."""
        if hour not in (9, 17):
            raise ServiceError("bad_hour", "hour=%r: must be 9 or 17" % hour)
        try:
            t0, t1 = reports.daily_window(date, hour, self.config["supervisor"]["utc_offset_h"])
        except (TypeError, ValueError) as exc:
            raise ServiceError("bad_date", "date=%r: must be YYYY-MM-DD" % date) from exc
        await self.ingest.flush(force_aggregates=True)
        stations = []
        for sid in sorted(self.stations_cfg):
            rows = await self.storage.aggregates(sid, list(reports.DAILY_FIELDS), t0, t1 - 1)
            stations.append({"station_id": sid, "name": self.stations_cfg[sid]["name"],
                             "hourly": reports.hourly(rows, t0, 24)})
        return {"date": date, "hour": hour, "t0_ts": t0, "t1_ts": t1, "fields": list(reports.DAILY_FIELDS),
                "hours_ts": [t0 + 3600.0 * h for h in range(24)], "stations": stations}

    async def equipment_records(self, station_id: str | None = None) -> list[dict[str, Any]]:
        """Per device: run hours, starts, duty rotations and exercises (count, last), faults (equipment.py)."""
        if station_id is not None:
            self._station(station_id)
        out = []
        for (sid, device), rec in sorted(self.ingest.equipment.records.items()):
            if station_id is not None and sid != station_id:
                continue
            out.append({"station_id": sid, "device": device, "run_hours": round(rec["run_s"] / 3600.0, 3),
                        "starts": rec["starts"], "rotations": rec["rotations"], "last_rotation_ts": rec["last_rotation_ts"],
                        "exercises": rec["exercises"], "last_exercise_ts": rec["last_exercise_ts"], "faults": rec["faults"], "last_fault_ts": rec["last_fault_ts"], "last_ts": rec["last_ts"]})
        return out

    async def export_csv(self, kind: str, **kw: Any) -> str:
        """CSV text of: compliance(t0_ts, t1_ts), daily(date, hour), equipment(station_id),
        audit(limit, station_id), alarms(station_id), commands(station_id), trends(station_id,
        fields, t0_ts, t1_ts)."""
        if kind == "compliance":
            rep = await self.compliance_report(float(kw["t0_ts"]), float(kw["t1_ts"]))
            return reports.to_csv(
                ("station_id", "group", "collectors", "readings", "min_temp_c", "mean_temp_c", "hours_below_floor",
                 "failed_days"),
                [(g["station_id"], g["group"], g["collectors"], g["readings"], g["min_temp_c"], g["mean_temp_c"],
                  g["hours_below_floor"], " ".join(g["failed_days"])) for g in rep["groups"]])
        if kind == "daily":
            rep = await self.daily_report(str(kw["date"]), int(kw["hour"]))
            rows = []
            for s in rep["stations"]:
                for h, ts in enumerate(rep["hours_ts"]):
                    rows.append([s["station_id"], reports.local_day(ts, self.config["supervisor"]["utc_offset_h"]),
                                 h] + [s["hourly"].get(f, [None] * 24)[h] for f in rep["fields"]])
            return reports.to_csv(["station_id", "window_day", "hour_index", *rep["fields"]], rows)
        if kind == "equipment":
            recs = await self.equipment_records(kw.get("station_id"))
            keys: tuple[str, ...] = ("station_id", "device", "run_hours", "starts", "rotations", "last_rotation_ts",
                                     "exercises", "last_exercise_ts", "faults", "last_fault_ts")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in recs])
        if kind == "audit":
            rows_a = await self.audit(int(kw.get("limit", 10000)), kw.get("station_id"))
            keys = ("ts", "user", "action", "station_id", "detail", "result")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in rows_a])
        if kind == "alarms":
            rows_b = await self.alarms(kw.get("station_id"), False)
            keys = ("station_id", "code", "severity", "active", "since_ts", "cleared_ts", "acked_by", "acked_ts", "text",
                    "value", "limit")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in rows_b])
        if kind == "commands":
            rows_c = await self.recent_commands(kw.get("station_id"), int(kw.get("limit", 10000)))
            keys = ("command_id", "station_id", "kind", "args", "user", "issued_ts", "state", "reason", "detail", "done_ts")
            return reports.to_csv(keys, [[r[k] for k in keys] for r in rows_c])
        if kind == "trends":
            fields = list(kw["fields"])
            series = await self.trends(str(kw["station_id"]), fields, float(kw["t0_ts"]), float(kw["t1_ts"]),
                                       int(kw.get("max_points", 20000)))
            rows_t = [(f, ts, v) for f in fields for ts, v in series.get(f, [])]
            return reports.to_csv(("field", "ts", "value"), rows_t)
        raise ServiceError("bad_kind", "kind=%r: must be compliance, daily, equipment, audit, alarms, commands or "
                           "trends" % kind)

    # --- health -------------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """Ingest counters, broker link state, storage backend."""
        return {"broker_connected": self._publisher is not None, "storage": self.storage.backend,
                "ingest": self.ingest.stats(), "pending_commands": len(self.commands.pending),
                "collector_readings": self.collectors.accepted, "rooms_forwarded": self.collectors.forwarded,
                "codec_version": codec.VERSION}


def _severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 1)


def _thin(series: list[list[float]], max_points: int) -> list[list[float]]:
    if len(series) <= max_points:
        return series
    step = len(series) / max_points
    out = []
    for i in range(max_points):
        chunk = series[int(i * step):int((i + 1) * step)] or [series[-1]]
        out.append([chunk[0][0], sum(p[1] for p in chunk) / len(chunk)])
    return out
