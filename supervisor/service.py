"""The supervisor assembled: one `SupervisorService` builds the ingest, the collector hub, the
command tracker, the feeds and the alarm engine over one storage, wires them together, and
holds the service jobs the web dashboard (and the CLI, tests, benchmark) call, one per job:

    fleet            fleet overview, station detail, equipment records, health   (fleet_view.py)
    reporting        trends, compliance and daily reports, CSV exports           (reporting.py)
    remote           remote commands to stations                                 (remote_commands.py)
    alarm_desk       alarms, their acknowledgement, the quarantine               (alarm_desk.py)
    accounts         users, log-in, passwords                                    (accounts.py)
    audit_log        who did what                                                (audit_log.py)
    collector_intake room temperatures over HTTP, the collector map              (collector_intake.py)

It is a composition, not a façade: it has no service methods of its own, only the life cycle
(start, stop, the background tasks). The app needs it as the one object `heatkeeper supervisor`
builds and hands to the web, the MQTT link and the report scheduler. Every job returns plain
JSON-safe data; times are unix seconds, temperatures degC, pressures kPa.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .accounts import Accounts
from .alarm_desk import AlarmDesk
from .allocation_runner import AllocationRunner
from .audit_log import AuditLog
from .broker_link import BrokerLink, NotConnected
from .collector_intake import CollectorIntake
from .collectors import CollectorHub
from .command_keys import CommandKeys, keys_dir
from .commands import CommandTracker
from .fleet_alarms import FleetAlarms
from .fleet_view import FleetView
from .forecast import ForecastFeed
from .group_commands import GroupCommands
from .ingest import Ingest
from .metrics import FlushMetrics
from .outdoor import OutdoorFeed
from .remote_commands import RemoteCommands
from .reporting import Reporting
from .rollout import Rollouts
from .season import SeasonCalendars
from .season_startup import SeasonStartups
from .service_errors import ServiceError
from .settings_push import SettingsPush
from .storage.base import Storage
from .tickets import Tickets

__all__ = ["NotConnected", "ServiceError", "SupervisorService"]

log = logging.getLogger(__name__)


class SupervisorService:
    """The supervisor's parts over one storage, and the service jobs the web calls."""

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
        self.link = BrokerLink()  # the MQTT link installs its publisher here (set_publisher)
        self.audit_log = AuditLog(storage, wall_clock)
        self.commands = CommandTracker(storage, self.link.publish, self.audit_log.record,
                                       config["commands"]["timeout_s"], wall_clock,
                                       CommandKeys(keys_dir(config["supervisor"]["data_dir"])))
        out = config["outdoor"]
        self.outdoor = OutdoorFeed(self.stations_cfg, self.ingest.state, out["min_stations"], out["max_sample_age_s"],
                                   wall_clock)
        self.forecast = ForecastFeed(storage, config["forecast"], self.stations_cfg, wall_clock)
        # the supervisor's own alarm rules (run by `heatkeeper supervisor`: main.serve)
        self.fleet_alarms = FleetAlarms(storage, config, self.ingest.state, self.collectors, wall_clock)
        self.ingest.quarantine.on_written.append(self.fleet_alarms.wake)  # its alarms at once, not next interval
        self.ingest.on_ack = self.commands.on_ack
        self.ingest.on_reading = self.collectors.accept
        self.ingest.hold_reading_ack = self.collectors.hold_ack
        self.flush_metrics = FlushMetrics()  # flush times and failures for GET /metrics
        self.ingest.on_flush = self.flush_metrics.watch
        # the service jobs
        self.fleet = FleetView(storage, config, self.stations_cfg, self.ingest, self.collectors, self.commands,
                               self.link, wall_clock)
        self.remote = RemoteCommands(storage, self.stations_cfg, self.commands, self.audit_log)
        self.alarm_desk = AlarmDesk(storage, self.stations_cfg, self.ingest, self.remote, self.audit_log, wall_clock)
        self.reporting = Reporting(storage, config, self.stations_cfg, self.ingest, self.collectors, wall_clock,
                                   self.fleet, self.alarm_desk, self.remote, self.audit_log)
        self.accounts = Accounts(storage, config, wall_clock, self.audit_log)
        self.collector_intake = CollectorIntake(self.collectors, self.ingest, wall_clock)
        # settings profiles pushed to the stations (run by `heatkeeper supervisor`: main.serve)
        self.settings_push = SettingsPush(self, wall_clock)
        # operation tickets, staged pushes and commands to many stations (their own modules)
        self.tickets = Tickets(self, wall_clock)
        self.rollouts = Rollouts(self, wall_clock)
        self.group_commands = GroupCommands(self, wall_clock)
        # the cities' season calendars pushed to stations, season start-ups by date (season*.py)
        self.season = SeasonCalendars(self, wall_clock)
        self.season_startups = SeasonStartups(self, self.season, wall_clock)
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

    def background(self) -> list[Awaitable[None]]:
        """Coroutines the supervisor runs for its lifetime."""
        publish = self.link.publish
        tasks: list[Awaitable[None]] = [self.ingest.run_flusher(), self.commands.run_sweeper(),
                                        self.collectors.run(publish, self.config["collectors"]["forward_interval_s"]),
                                        self.collectors.run_store(1.0),
                                        self._retention_loop()]
        if self.config["mqtt"]["shared_group"]:
            tasks.append(self._refresh_loop())
        if self.config["outdoor"]["enabled"]:
            tasks.append(self.outdoor.run(publish, self.config["outdoor"]["interval_s"]))
        if self.config["forecast"]["cities"]:
            tasks.append(self.forecast.run(publish))
        if self.season.cities:
            tasks.append(self.season.run(publish))
        tasks.append(self.season_startups.run())
        alloc = self.config["allocation"]  # primary allocation: one runner per network (allocation_runner.py)
        tasks += [AllocationRunner(self.storage, self.commands.send, net, alloc["settings"],
                                   self.audit_log.record).run_forever() for net in alloc["networks"]]
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
