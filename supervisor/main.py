"""`heatkeeper supervisor --config supervisor.toml`: run the supervisor.

Starts, in one event loop: the embedded broker (when `broker.embedded`: a Mosquitto child
process, see `embedded`), the MQTT links (each connection on its own broker user)
(ingest + command publishing, persistent session, reconnect loop), the batch flusher, the
command sweeper, the collector forwarder, the weather forecast fetcher (`forecast`, when
[forecast.cities] names any), retention, the supervisor's own alarm rules
(`fleet_alarms`), the 09:00/17:00 report writer and the
web dashboard (`heatkeeper.supervisor.web.app.create_app(service, config)`) when installed.

`--create-user NAME --role ROLE` adds a user (password from $HEATKEEPER_PASSWORD or stdin)
and exits. `--import-outages FILE` records past heating outages (the refunds CLI's outages CSV).
`--import-households FILE` / `--import-measurements FILE` (.csv or .xlsx, the
dashboard's import without its upload limit) store a whole file or, listing every bad row on
stderr, nothing (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

from heatkeeper.core import codec

from . import config as sup_config
from .accounts import INITIAL_ADMIN, initial_password_path
from .broker import COMMAND_SUFFIX, ingest_user
from .command_keys import CommandKeys, keys_dir
from .embedded import BrokerStartError, start_embedded_broker
from .mqtt_link import run_mqtt
from .mqtt_reader import ReaderSettings, run_reader
from .service import SupervisorService
from .storage import StorageError, StorageUnavailable, open_storage
from .work_orders import WorkOrderOpener

log = logging.getLogger("heatkeeper.supervisor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="supervisor TOML file")
    parser.add_argument("--create-user", metavar="NAME", help="add a user and exit (password from $HEATKEEPER_PASSWORD or stdin)")
    parser.add_argument("--role", default="viewer", choices=("viewer", "operator", "admin"))
    parser.add_argument("--import-households", metavar="FILE", help="import households (.csv or .xlsx) and exit")
    parser.add_argument("--import-measurements", metavar="FILE",
                        help="import official measurements (.csv or .xlsx) and exit")
    parser.add_argument("--import-outages", metavar="FILE",
                        help="record past heating outages (CSV station_id,start,end, ISO 8601 with offset: the "
                             "outages file of `heatkeeper refunds`) and exit")
    parser.add_argument("--ingest-only", action="store_true",
                        help="only ingest (shared subscription, no broker, web, commands or reports): "
                             "extra processes beside a full supervisor; needs mqtt.shared_group")
    parser.add_argument("--instance", type=int, default=1, help="ingest-only instance number (client id suffix)")
    parser.add_argument("--log-level", default="INFO")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except StorageError as exc:  # a wrong password or database name, a damaged file: the reason, no traceback
        print("supervisor: %s" % exc, file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("transitions", "amqtt"):  # the embedded broker logs every state change at INFO
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        cfg = sup_config.load(args.config)
    except sup_config.ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.create_user:
        password = os.environ.get("HEATKEEPER_PASSWORD") or sys.stdin.readline().strip()
        return asyncio.run(_create_user(cfg, args.create_user, password, args.role))
    if getattr(args, "import_households", None) or getattr(args, "import_measurements", None):
        return asyncio.run(_import_file(cfg, args.import_households, args.import_measurements))
    if getattr(args, "import_outages", None):
        return asyncio.run(_import_outages(cfg, args.import_outages))
    if args.ingest_only:
        if not cfg["mqtt"]["shared_group"]:
            print("--ingest-only needs mqtt.shared_group (else every process stores everything twice over)",
                  file=sys.stderr)
            return 2
        runner = serve_ingest_only(cfg, args.instance)
    else:
        runner = serve(cfg)
    try:
        return asyncio.run(runner)
    except (BrokerStartError, CredentialError, WebStartError) as exc:
        print(str(exc), file=sys.stderr)
        return 2


async def _create_user(cfg: dict[str, Any], name: str, password: str, role: str) -> int:
    service = SupervisorService(_storage(cfg), cfg)
    await service.start(ingest=False)  # the running supervisor owns the ingest state
    try:
        await service.accounts.create_user(name, password, role, by="cli")
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        await service.stop()
    print("user %s created with role %s" % (name, role))
    return 0


async def _import_file(cfg: dict[str, Any], households_path: str | None, measurements_path: str | None) -> int:
    """Households, then measurements, each file checked whole and stored in one transaction;
    audited as by the user "cli"."""
    from . import households as hh

    service = SupervisorService(_storage(cfg), cfg)
    await service.start(ingest=False)
    try:
        for kind, path in (("households", households_path), ("measurements", measurements_path)):
            if not path:
                continue
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                print("%s: cannot read (%s)" % (path, exc.strerror), file=sys.stderr)
                return 2
            storage = service.storage
            now = service.clock()
            try:
                if kind == "households":
                    rows: list[dict[str, Any]] = list(hh.parse_households(
                        path, data, set(service.stations_cfg), max_bytes=len(data)))
                    await storage.save_households(rows, "cli", now)
                else:
                    known = {h["household_id"] for h in await storage.households()}
                    stored = {(m["household_id"], float(m["ts"])) for m in await storage.measurements()}
                    rows = hh.parse_measurements(path, data, known, stored, cfg["refunds"]["timezone"],
                                                 max_bytes=len(data))
                    await storage.add_measurements([{**m, "recorded_by": "cli", "recorded_ts": now} for m in rows])
            except hh.ImportProblems as exc:
                await service.audit_log.record(user="cli", action="%s_import" % kind, station_id=None,
                                           detail=("%s: %d problem(s)" % (path, len(exc.problems)))[:2000],
                                           result="refused")
                print(str(exc), file=sys.stderr)
                return 2
            await service.audit_log.record(user="cli", action="%s_import" % kind, station_id=None,
                                       detail="%s: %d %s" % (path, len(rows), kind), result="ok")
            print("%s: %d %s imported" % (path, len(rows), kind))
    finally:
        await service.stop()
    return 0


async def _import_outages(cfg: dict[str, Any], path: str) -> int:
    """Past heating outages from a CSV file (refund_files.read_outages: every bad row listed, exit 2,
    nothing stored), each for a configured station, into the alarm log; audited as by "cli"."""
    from . import refund_files

    problems: list[str] = []
    outages = refund_files.read_outages(path, problems)
    stations = {s["id"] for s in cfg["stations"]}
    problems += ["%s: station_id=%r: no [[station]] has this id" % (path, sid)
                 for sid in sorted({o.station_id for o in outages} - stations)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    service = SupervisorService(_storage(cfg), cfg)
    await service.start(ingest=False)
    try:
        text = "recorded by hand (%s)" % os.path.basename(path)
        stored = await service.storage.add_recorded_outages(
            [(o.station_id, o.start.timestamp(), o.end.timestamp(), text) for o in outages])
        await service.audit_log.record(user="cli", action="outages_import", station_id=None,
                                   detail="%s: %d outages, %d new" % (path, len(outages), stored), result="ok")
        print("%s: %d outages, %d new recorded" % (path, len(outages), stored))
    finally:
        await service.stop()
    return 0


def _storage(cfg: dict[str, Any]) -> Any:
    st = cfg["storage"]
    return open_storage(st["backend"], path=st["path"], dsn=st["dsn"])


class CredentialError(ValueError):
    """A supervisor connection's password file is missing or unreadable."""


class WebStartError(RuntimeError):
    """The dashboard's port cannot be listened on (taken, or the address is not this machine's)."""


def process_password(cfg: dict[str, Any], user: str, known: dict[str, str] | None = None) -> str:
    """The password of one of the supervisor's MQTT users: `known` (the embedded broker's),
    else mqtt.password_file for mqtt.username and `<user>.password` beside it for the others
    (broker-config writes them all), else the embedded broker's `<data_dir>/credentials`,
    else "" (a broker without passwords)."""
    if known and user in known:
        return known[user]
    main = cfg["mqtt"]["password_file"]
    if main:
        path = main if user == cfg["mqtt"]["username"] else os.path.join(os.path.dirname(main), user + ".password")
    elif cfg["broker"]["embedded"]:  # e.g. --ingest-only beside a supervisor with the embedded broker
        path = os.path.join(cfg["supervisor"]["data_dir"], "credentials", user + ".password")
    else:
        return ""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise CredentialError("MQTT user %r: cannot read its password file %s (%s); every supervisor connection has "
                              "its own user: `heatkeeper broker-config` writes them (--ingest-processes N for "
                              "--ingest-only)" % (user, path, exc.strerror)) from None


def mqtt_client_factory(cfg: dict[str, Any], password: str, username: str = "",
                        client_id: str = "") -> Callable[[], Any]:
    """An aiomqtt.Client builder with a fixed id and a persistent session (v3.1.1 clean_session
    False, or v5 clean_start False + SessionExpiryInterval: FIRST_ONLY loses the session).
    `username` defaults to mqtt.username; the client id to mqtt.client_id, else the user name
    (what a broker with use_username_as_clientid uses anyway)."""
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    m = cfg["mqtt"]

    def build() -> aiomqtt.Client:
        tls = ssl.create_default_context(cafile=m["tls_ca"]) if m["tls_ca"] else None
        kw: dict[str, Any] = {}
        if m["protocol"] == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = int(m["session_expiry_s"])
            kw.update(protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props)
        else:
            kw.update(protocol=aiomqtt.ProtocolVersion.V311, clean_session=False)
        user = username or m["username"]
        client = aiomqtt.Client(m["host"], m["port"], username=user, password=password or None,
                                identifier=client_id or m["client_id"] or user, keepalive=int(m["keepalive_s"]),
                                timeout=10,
                                tls_context=tls, max_queued_incoming_messages=200000, **kw)
        client.pending_calls_threshold = 10000
        return client

    return build


def run_ingest_link(cfg: dict[str, Any], ingest: Any, password: str, username: str = "",
                    client_id: str = "") -> Any:
    """The uplink connection's coroutine, by `mqtt.ingest_reader`: "lean" (mqtt_reader.py, its own
    MQTT v5 subscriber: batched reads and acks) or "aiomqtt" (mqtt_link.py). Same user, client
    id, TLS, persistent session and filters either way."""
    m = cfg["mqtt"]
    user = username or m["username"]
    if m["ingest_reader"] == "lean":
        settings = ReaderSettings(m["host"], int(m["port"]), client_id or m["client_id"] or user, user, password,
                                  ssl.create_default_context(cafile=m["tls_ca"]) if m["tls_ca"] else None,
                                  int(m["keepalive_s"]), int(m["session_expiry_s"]),
                                  max_unacked=2 * int(cfg["storage"]["batch_max"]))
        return run_reader(ingest, settings, subscription_filters(cfg))
    return run_mqtt(ingest, mqtt_client_factory(cfg, password, username, client_id), subscription_filters(cfg))


GC_YOUNG_OBJECTS = 2_000_000  # net new container objects that start a young pass (CPython's default: 700)
GC_PASS_S = 60.0  # the young and middle passes at least this often, a full one every GC_FULL_EVERY of them
GC_FULL_EVERY = 10


def settle_gc(pass_s: float = GC_PASS_S) -> Callable[[], None]:
    """After start-up, before the uplinks flow (in the running event loop): what start-up made
    (configuration, modules, every station's state) is moved out of the cyclic collector's
    reach (`gc.freeze`), the automatic passes wait for GC_YOUNG_OBJECTS new objects, and the
    loop runs the young and middle passes every `pass_s` (a full one every GC_FULL_EVERY). At
    10,000 stations the defaults ran a full collection every 1-2 s, each walking every station's
    objects for 0.2-0.4 s and finding nothing (the messages of a batch, alive until it is
    stored, kept reaching the oldest generation), and young passes of a growing share of every
    station's latest objects; at 500,000 new objects, a young pass every 20 s or so still took
    0.3 s, walking the messages queued for the next flush (2 s of them with the batching the
    README advises at 1 Hz). Objects are freed by their reference count as before, cycles made
    after start-up are collected within `pass_s` (GC_FULL_EVERY of them for one that outlived a
    pass first). Returns the function that puts the previous settings back (at stop)."""
    loop = asyncio.get_running_loop()
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_OBJECTS, *threshold[1:])
    passes = 0
    timer: asyncio.TimerHandle | None = None

    def collect() -> None:
        nonlocal passes, timer
        passes += 1
        gc.collect(2 if passes % GC_FULL_EVERY == 0 else 1)
        timer = loop.call_later(pass_s, collect)

    timer = loop.call_later(pass_s, collect)

    def restore() -> None:
        if timer is not None:
            timer.cancel()
        gc.set_threshold(*threshold)
        gc.unfreeze()

    return restore


def subscription_filters(cfg: dict[str, Any]) -> list[str]:
    """The data plane: telemetry, events, alarms and collector readings. With
    `mqtt.shared_group` set they go behind `$share/<group>/`, so several processes split the
    load (Mosquitto 2.0 shares for v3.1.1 and v5 clients)."""
    group = cfg["mqtt"]["shared_group"]
    share = "$share/%s/" % group if group else ""
    out = [share + codec.PREFIX + "stations/+/up/" + kind for kind in codec.UP_KINDS if kind != codec.UP_ACK]
    return out + [share + codec.COLLECTOR_FILTER]


def command_filters() -> list[str]:
    """The command plane, on its own connection: command acks and the retained status, never
    shared. A backlog of telemetry therefore never delays an ack (or a command's PUBACK), and
    the supervisor that sent a command always sees its ack (other instances count a stray)."""
    return [codec.PREFIX + "stations/+/up/" + codec.UP_ACK, codec.STATUS_FILTER]


def command_client_factory(cfg: dict[str, Any], password: str) -> Callable[[], Any]:
    """Like `mqtt_client_factory`, as its own user `<username>-cmd` (password: that user's)."""
    m = cfg["mqtt"]
    return mqtt_client_factory(cfg, password, m["username"] + COMMAND_SUFFIX,
                               m["client_id"] + COMMAND_SUFFIX if m["client_id"] else "")


def _stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets (where the event loop supports signal handlers)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop


STORAGE_RETRY_MAX_S = 30.0  # the longest wait between two tries of a database that cannot be reached


async def open_storage_waiting(storage: Any, stop: asyncio.Event, first_s: float = 1.0,
                               max_s: float = STORAGE_RETRY_MAX_S) -> bool:
    """Open the storage, waiting for a database that cannot be reached yet (started after us,
    restarting: StorageUnavailable) with a warning each try, 1 s doubling to `max_s` between
    tries. False when `stop` was set meanwhile; any other StorageError (a wrong password or
    database name, a damaged file) is raised at once."""
    delay = first_s
    while True:
        try:
            await storage.open()
            return True
        except StorageUnavailable as exc:
            log.warning("%s; trying again in %.0f s (the broker and the stations keep the data meanwhile)", exc, delay)
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return False
        except TimeoutError:
            delay = min(delay * 2.0, max_s)


async def serve(cfg: dict[str, Any], on_ready: Callable[[SupervisorService], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM (or cancellation); `on_ready(service)` once everything started.
    Whatever has started is stopped again, in reverse order, however serve() ends."""
    data_dir = cfg["supervisor"]["data_dir"]
    os.makedirs(data_dir, exist_ok=True)
    broker: Any = None
    running = False  # the background tasks started: the stop is logged
    restore_gc: Callable[[], None] = lambda: None  # noqa: E731 - the collector as it was, after everything stopped
    try:
        async with contextlib.AsyncExitStack() as stack:
            known: dict[str, str] = {}
            if cfg["broker"]["embedded"]:
                broker, known = await start_embedded_broker(cfg)
                stack.push_async_callback(broker.stop)
            user = cfg["mqtt"]["username"]
            password = process_password(cfg, user, known)
            cmd_password = process_password(cfg, user + COMMAND_SUFFIX, known)
            service = SupervisorService(_storage(cfg), cfg)
            # One command key per configured station, made once, beside the stations' MQTT credentials.
            CommandKeys(keys_dir(data_dir)).ensure([s["id"] for s in cfg["stations"]])
            stop = _stop_on_signals()
            if not await open_storage_waiting(service.storage, stop):
                log.info("stopped while waiting for the database")
                return 0
            await service.start(open_storage=False)
            stack.push_async_callback(service.stop)
            await _first_admin(service, data_dir)

            async def on_connect(client: Any) -> None:
                async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
                    await client.publish(topic, payload, qos=qos, retain=retain)

                service.link.set_publisher(publish)

            # The dashboard's port first: if another program holds it, nothing else has started yet.
            notifier = await _start_notifier(service, cfg)
            if notifier is not None:
                stack.push_async_callback(notifier.close)
            runner = await _start_web(service, cfg, notifier)
            if runner is not None:
                stack.push_async_callback(runner.cleanup)
            tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(c) for c in service.background()]
            stack.push_async_callback(_cancel_all, tasks)
            running = True
            tasks.append(asyncio.ensure_future(service.fleet_alarms.run()))  # the supervisor's own alarms
            tasks.append(asyncio.ensure_future(service.settings_push.run()))  # pending settings to stations back online
            tasks.append(asyncio.ensure_future(WorkOrderOpener(service.storage, service.clock).run()))  # alarms -> orders
            tasks.append(asyncio.ensure_future(run_ingest_link(cfg, service.ingest, password)))
            tasks.append(asyncio.ensure_future(run_mqtt(service.ingest, command_client_factory(cfg, cmd_password),
                                                        command_filters(), on_connect,
                                                        lambda: service.link.set_publisher(None))))
            tasks.append(asyncio.ensure_future(report_scheduler(service, data_dir)))
            if cfg["authority_reports"]["enabled"]:  # the 09:00/17:00 and weekly reports to the authority
                from .authority_reports_scheduler import AuthorityReportScheduler

                tasks.append(asyncio.ensure_future(AuthorityReportScheduler(service.storage, cfg, service.clock).run()))
            if notifier is not None:
                tasks.append(asyncio.ensure_future(notifier.run(cfg["storage"]["audit_retention_days"])))
            restore_gc = settle_gc()
            if on_ready is not None:
                on_ready(service)
            waiter = asyncio.ensure_future(stop.wait())
            await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    log.error("supervisor task failed: %r", t.exception())
    finally:
        restore_gc()
        if running:
            log.info("supervisor stopped: what it had received is stored%s",
                     ", its broker stopped" if broker is not None else "")
    return 0


RECANCEL_S = 2.0  # a task still running this long after its cancel is cancelled again


async def _cancel_all(tasks: list[asyncio.Future[Any]]) -> None:
    """The background tasks cancelled and awaited (their failures at the stop made quiet).
    A task still running `RECANCEL_S` after its cancel is cancelled again, until it ends:
    Python 3.11's `asyncio.wait_for` drops a cancel that arrives as its inner wait completes
    (aiomqtt's publish, the flusher's wake-up), and such a task would run on forever."""
    _quiet_teardown(asyncio.get_running_loop())
    pending = {t for t in tasks if not t.done()}
    while pending:
        for t in pending:
            t.cancel()
        _done, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
        for t in pending:
            log.debug("task %r still running after its cancel: cancelling it again", t)
    for t in tasks:
        if not t.cancelled():
            t.exception()  # retrieved: a failure at the stop is not news


def _quiet_teardown(loop: asyncio.AbstractEventLoop) -> None:
    """From the stop on: a connection cancelled in its handshake leaves its client library's
    failed future behind (aiomqtt's disconnect future, when the stop came before its CONNACK);
    asyncio would log each as an ERROR with a traceback at exit. Those are logged at DEBUG, every
    other report as before."""
    import aiomqtt  # imported where it is used, as in mqtt_client_factory

    default = loop.get_exception_handler()

    def handler(the_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") == "Future exception was never retrieved" and isinstance(exc, (ConnectionError,
                                                                                                  aiomqtt.MqttError)):
            log.debug("at the stop, a connection's unretrieved failure: %r", exc)
        elif default is not None:
            default(the_loop, context)
        else:
            the_loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


async def _first_admin(service: SupervisorService, data_dir: str) -> None:
    """A fresh install gets user "admin" with a random password written once to a 0600 file.
    The password must be changed at the first login; the file is deleted once it is."""
    if await service.accounts.list_users():
        return
    password = secrets.token_urlsafe(12)
    await service.accounts.create_user(INITIAL_ADMIN, password, "admin", by="install", must_change=True)
    path = initial_password_path(service.config)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    log.warning("created user %r; its password is in %s: log in and choose a new one (the file is then deleted)",
                INITIAL_ADMIN, path)


async def _start_notifier(service: SupervisorService, cfg: dict[str, Any]) -> Any:
    """The alarm notifier (notify/) when [notify] enabled = true; acknowledgements from its links
    take the dashboard's path (service.alarm_desk.ack_alarm)."""
    if not cfg["notify"]["enabled"]:
        return None
    from .notify.notifier import Notifier

    notifier = Notifier(service.storage, cfg, service.clock, ack=service.alarm_desk.ack_alarm)
    await notifier.start()
    log.info("notifications on: %d channel(s), %d person(s), %d rota(s)", len(cfg["notify"]["channels"]),
             len(cfg["notify"]["people"]), len(cfg["notify"]["rotas"]))
    return notifier


async def _start_web(service: SupervisorService, cfg: dict[str, Any], notifier: Any = None) -> Any:
    if not cfg["web"]["enabled"]:
        return None
    from aiohttp import web
    from heatkeeper.supervisor.web.app import create_app

    app = create_app(service, cfg, notifier)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, cfg["web"]["host"], cfg["web"]["port"])
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise WebStartError("web.port=%d on %s: cannot listen (%s): another program holds the port? choose another "
                            "[web] port" % (cfg["web"]["port"], cfg["web"]["host"], reason)) from None
    log.info("web dashboard on http://%s:%d/", cfg["web"]["host"], cfg["web"]["port"])
    return runner


async def report_scheduler(service: SupervisorService, data_dir: str) -> None:
    """Write the daily hourly report at 09:00 and 17:00 local time as CSV under data_dir/reports."""
    off = service.config["supervisor"]["utc_offset_h"]
    while True:
        now = service.clock()
        local = dt.datetime.fromtimestamp(now + off * 3600.0, dt.UTC)
        candidates = [local.replace(hour=h, minute=0, second=5, microsecond=0) + dt.timedelta(days=d)
                      for d in (0, 1) for h in (9, 17)]
        nxt = min(c for c in candidates if c > local)
        await asyncio.sleep((nxt - local).total_seconds())
        date, hour = nxt.strftime("%Y-%m-%d"), nxt.hour
        try:
            text = await service.reporting.export_csv("daily", date=date, hour=hour)
            folder = os.path.join(data_dir, "reports")
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, "daily-%s-%02d.csv" % (date, hour))
            with open(path + ".tmp", "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(path + ".tmp", path)
            await service.audit_log.record(user="system", action="daily_report", detail=path, result="ok")
        except Exception as exc:  # noqa: BLE001 - task boundary: the next report still runs
            log.exception("daily report %s %02d:00 failed", date, hour)
            await service.audit_log.record(user="system", action="daily_report", detail=str(exc)[:500], result="failed")


async def serve_ingest_only(cfg: dict[str, Any], instance: int,
                            on_ready: Callable[[SupervisorService], None] | None = None) -> int:
    """An extra ingest process: shared subscription, batched exactly-once storage, collector
    readings stored; no broker, web, commands, forwarding or reports (the full supervisor
    does those). Runs until SIGINT/SIGTERM or cancellation."""
    user = ingest_user(cfg["mqtt"]["username"], instance)
    password = process_password(cfg, user)
    client_id = ingest_user(cfg["mqtt"]["client_id"], instance) if cfg["mqtt"]["client_id"] else user
    service = SupervisorService(_storage(cfg), cfg)
    await service.start()

    tasks = [asyncio.ensure_future(service.ingest.run_flusher()),
             asyncio.ensure_future(service.collectors.run_store(1.0)),
             asyncio.ensure_future(run_ingest_link(cfg, service.ingest, password, user, client_id))]
    restore_gc = settle_gc()
    stop = _stop_on_signals()
    if on_ready is not None:
        on_ready(service)
    try:
        await asyncio.wait([asyncio.ensure_future(stop.wait()), *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel_all(tasks)
        await service.stop()
        restore_gc()
    return 0
