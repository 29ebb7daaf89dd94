"""`heatkeeper bench ingest`: N simulated stations at 1 Hz through Mosquitto into the supervisor.

What runs (all on loopback, all started and stopped here, by pid):
- Mosquitto with the production configuration of `heatkeeper broker-config` (passwords,
  per-station ACL, persistence), one connection per simulated station; the bench raises its
  own RLIMIT_NOFILE, which Mosquitto inherits, to the stations plus a margin (or says which
  limit stops it), and the stations connect at most CONNECT_AT_ONCE at a time, below
  Mosquitto's listen backlog of 100;
- `--publishers` worker processes, each station its own MQTT 3.1.1 connection with its own
  credentials (raw packets, no library overhead) publishing one telemetry message per second
  (QoS 1, `--fields` values, the codec's JSON with a fresh seq and values each time),
  resending `--dup-pct` percent of them (duplicates), and answering each command with an ack
  uplink at once; a station that cannot connect stops the run with its reason;
- the real supervisor ingest (aiomqtt, codec validation, batched exactly-once inserts) and
  command tracker, in this process, into SQLite and/or PostgreSQL (started here, fsync on,
  or `--dsn`), with `--batch-interval-s` and `--batch-max` as its `[storage]` batching (by
  default what the README's "Sizing the ingest" advises for stations at 1 Hz).

Printed per backend: sustained stored messages/s over the steady window, lost (acked by the
broker but not stored: must be 0), duplicates_stored (must be 0), duplicates sent and
dropped, command round-trip p50/p99 (supervisor publish -> station ack processed), and CPU
seconds of each process: the supervisor's (and of it its event loop thread's, without SQLite's
writer and reader threads, which do the database's work inside the supervisor's process), the
broker's and PostgreSQL's per stored message, the publishers' per message sent
(`publisher_cpu_us_per_msg`, from the start signal to their last PUBACK). Other work on the
machine shares the CPU: say so with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

from heatkeeper.core import codec

# --- the simulated stations (worker process) ----------------------------------------------
# Each station is an asyncio.BufferedProtocol on its own connection, not a coroutine: one read
# hands it every packet the broker sent (CONNACK, SUBACK, PUBACKs, commands), parsed from the bytes
# in one pass, and each tick of a station is one write (its telemetry PUBLISH, a resend before it).
# Reads go into one buffer of the worker (recv_into): a plain Protocol's recv allocates 256 KiB per
# read, which cost about 12 us per PUBACK, more than everything else a station does.
# The payload is the codec's own JSON (`codec.encode_uplink`: the test holds them byte for byte)
# from a template split once per station, the changing numbers formatted in.

# 0.00 .. 100.00 in steps of 0.01, written as json.dumps writes the float (what the codec sends)
VALUE_TEXTS = [repr(k / 100).encode() for k in range(10001)]
CONNECT_AT_ONCE = 64  # handshakes in flight, all workers together: below Mosquitto's listen backlog (100)
PUMP_RUNNING = "pump1_running"  # steady at 1.0 (a running pump, as before)
_READ_BUFFER = bytearray(65536)  # every station's reads land here, parsed before the next read
_READ_VIEW = memoryview(_READ_BUFFER)


# The supervisor's batching for 10,000 stations at 1 Hz (README, "Sizing the ingest"): a flush
# every 2 s holds two messages of each station, stored station by station.
BATCH_INTERVAL_S = 2.0
BATCH_MAX = 25000


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _s(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def field_names(fields: int) -> list[str]:
    """The telemetry fields of a simulated station (the stage replay uses the same names)."""
    return ["f%02d_value" % i for i in range(fields - 3)] + ["secondary_supply_temp_c", PUMP_RUNNING, "outdoor_temp_c"]


def telemetry_template(sid: str, names: list[str]) -> bytes:
    """`codec.encode_uplink`'s telemetry payload for `sid` as a bytes %-template: seq (%d), ts and
    one value per field but the pump's (%s, bytes as json.dumps writes the number)."""
    marks = {name: "@value%d@" % i for i, name in enumerate(names) if name != PUMP_RUNNING}
    values: dict[str, Any] = {name: marks.get(name, 1.0) for name in names}
    _, payload = codec.encode_uplink(sid, 1234567, codec.UP_TELEMETRY, 0.5, {"values": values, "mode_name": "auto"})
    text = payload.decode().replace("%", "%%")
    text = text.replace('"seq":1234567,', '"seq":%d,', 1).replace('"ts":0.5,', '"ts":%s,', 1)
    for mark in marks.values():  # in the order of the fields, as json.dumps writes them
        text = text.replace('"%s"' % mark, "%s", 1)
    return text.encode()


class SimStation(asyncio.BufferedProtocol):
    """One station's MQTT 3.1.1 connection: QoS 1 publishes counted on PUBACK; commands acked."""

    def __init__(self, sid: str, password: str, names: list[str], dup_pct: float) -> None:
        self.sid = sid
        self.password = password
        self.seq = 0
        self.pid = 0
        self.acked = 0
        self.sent = 0
        self.dups = 0
        self.commands = 0
        self.inflight: set[int] = set()
        self.dup_pct = dup_pct
        self.last: bytes | None = None  # the previous telemetry payload (what a resend repeats)
        self.template = telemetry_template(sid, names)
        self.n_values = len(names) - (PUMP_RUNNING in names)
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # after CONNACK + SUBACK
        self.problem = ""  # why the broker refused or dropped this station ("" while all is well)
        self.up_topic = _s(codec.up_topic(sid, codec.UP_TELEMETRY))
        self.ack_topic = _s(codec.up_topic(sid, codec.UP_ACK))

    # -- the connection
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        body = _s("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60) + _s(self.sid) + _s(self.sid) + _s(self.password)
        subscribe = _packet(0x82, struct.pack("!H", self._next_pid()) + _s(codec.command_topic(self.sid)) + b"\x01")
        transport.write(_packet(0x10, body) + subscribe)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail("connection closed by the broker" + (" (%s)" % exc if exc else ""))

    def _fail(self, problem: str) -> None:
        self.problem = self.problem or problem
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("%s: %s" % (self.sid, problem)))
            self.ready.exception()  # looked at: no "never retrieved" warning for a station not awaited yet
        if self.transport is not None:
            self.transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return _READ_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        buf = _READ_BUFFER
        if nbytes == 4 and buf[0] == 0x40 and buf[1] == 2 and not self.buffer:  # the usual read: one PUBACK
            pid = buf[2] << 8 | buf[3]
            if pid in self.inflight:
                self.inflight.discard(pid)
                self.acked += 1
            return
        self.data_received(bytes(_READ_VIEW[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Every whole packet in `data` (after what an earlier read left over); keeps the rest."""
        if self.buffer:
            data, self.buffer = self.buffer + data, b""
        end = len(data)
        pos = 0
        while pos < end:
            first, length, shift, at = data[pos], 0, 0, pos + 1
            while True:
                if at >= end:
                    self.buffer = data[pos:]
                    return
                byte = data[at]
                at += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
                if shift > 21:
                    self._fail("a packet length of more than 4 bytes")
                    return
            if at + length > end:
                self.buffer = data[pos:]
                return
            kind, body = first >> 4, data[at:at + length]
            pos = at + length
            if kind == 4:  # PUBACK
                pid = body[0] << 8 | body[1]
                if pid in self.inflight:
                    self.inflight.discard(pid)
                    self.acked += 1
            elif kind == 3:  # PUBLISH: a command
                self._command(first, body)
            elif kind == 2:  # CONNACK
                if body[1] != 0:
                    self._fail("CONNACK return code %d" % body[1])
                    return
            elif kind == 9:  # SUBACK
                if body[2:3] == b"\x80":
                    self._fail("subscription to its commands refused")
                    return
                if not self.ready.done():
                    self.ready.set_result(None)
            else:
                self._fail("unexpected packet type %d" % kind)
                return

    # -- what the station sends
    def _next_pid(self) -> int:
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _publish(self, topic: bytes, payload: bytes) -> bytes:
        """One QoS 1 PUBLISH packet, its packet id then in flight."""
        pid = self.pid % 65535 + 1
        self.pid = pid
        self.inflight.add(pid)
        remaining = len(topic) + 2 + len(payload)
        if remaining < 128:
            head = bytes((0x32, remaining))
        elif remaining < 16384:
            head = bytes((0x32, remaining & 0x7F | 0x80, remaining >> 7))
        else:
            head = b"\x32" + _varint(remaining)
        return b"".join((head, topic, pid.to_bytes(2, "big"), payload))

    def _command(self, first: int, body: bytes) -> None:
        pos = 2 + (body[0] << 8 | body[1])
        out = []
        if (first >> 1) & 3:
            out.append(b"\x40\x02" + body[pos:pos + 2])  # PUBACK of the command
            pos += 2
        cmd = json.loads(body[pos:])
        self.commands += 1
        self.seq += 1
        _, payload = codec.encode_uplink(self.sid, self.seq, codec.UP_ACK, time.time(),
                                         codec.ack_body(cmd["id"], codec.ACK_APPLIED, "ok", ""))
        out.append(self._publish(self.ack_topic, payload))
        self.sent += 1
        if self.transport is not None:
            self.transport.write(b"".join(out))

    def tick(self, ts_text: bytes, values: list[bytes], resend: bool) -> None:
        """This second's telemetry (seq + 1, `values` formatted in), after a resend of the
        previous message when `resend`: one write."""
        self.seq += 1
        payload = self.template % (self.seq, ts_text, *values)
        packet = self._publish(self.up_topic, payload)
        if resend and self.last is not None:
            packet = self._publish(self.up_topic, self.last) + packet  # a duplicate delivery of the previous message
            self.dups += 1
        self.last = payload
        self.sent += 1
        if self.transport is not None:
            self.transport.write(packet)


def _raise_nofile(needed: int) -> str:
    """Raise this process's RLIMIT_NOFILE (children inherit it) to `needed` descriptors;
    "" when done, else what limits it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed or soft == resource.RLIM_INFINITY:
        return ""
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:  # privileged (CAP_SYS_RESOURCE): the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return ""
        except (ValueError, OSError):
            return ("needs %d file descriptors, the hard limit (RLIMIT_NOFILE) is %d: raise it (ulimit -Hn, "
                    "LimitNOFILE=) or run fewer --stations" % (needed, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return ""


async def _connect_all(stations: list[SimStation], port: int, at_once: int) -> list[str]:
    """Connect and subscribe every station, `at_once` handshakes at a time; the problems
    (one per station that did not make it)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)

    async def one(station: SimStation) -> str:
        async with gate:
            try:
                await loop.create_connection(lambda: station, "127.0.0.1", port)
                await asyncio.wait_for(asyncio.shield(station.ready), 30.0)
                return ""
            except OSError as exc:  # TimeoutError included
                if isinstance(exc, TimeoutError):
                    station._fail("no CONNACK/SUBACK within 30 s")
                return "%s: %s" % (station.sid, station.problem or "%s: %s" % (type(exc).__name__, exc))

    return [p for p in await asyncio.gather(*(one(s) for s in stations)) if p]


async def _worker(port: int, creds_dir: str, sids: list[str], fields: int, dup_pct: float, duration_s: float,
                  at_once: int = CONNECT_AT_ONCE) -> None:
    problem = _raise_nofile(len(sids) + 64)
    if problem:
        print("not ready: %s" % problem, flush=True)
        return
    names = field_names(fields)
    stations = []
    for sid in sids:
        with open(os.path.join(creds_dir, sid + ".password"), encoding="utf-8") as fh:
            stations.append(SimStation(sid, fh.read().strip(), names, dup_pct))
    t_connect = time.monotonic()
    problems = await _connect_all(stations, port, at_once)
    if problems:
        print("not ready: %d of %d stations did not connect (first: %s)" % (len(problems), len(stations),
                                                                              "; ".join(problems[:3])), flush=True)
        for s in stations:
            if s.transport is not None:
                s.transport.abort()
        return
    connect_s = time.monotonic() - t_connect
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    go = await loop.run_in_executor(None, sys.stdin.readline)  # the parent says when to start
    if not go:
        return
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    # each station ticks at 1 Hz with its own phase; the loop walks slots of 10 ms
    slots = 100
    per_slot: list[list[SimStation]] = [[] for _ in range(slots)]
    for i, s in enumerate(stations):
        per_slot[i % slots].append(s)
    n_values = stations[0].n_values if stations else 0
    choices, rand = random.choices, random.random
    tick = 0
    while time.monotonic() - start < duration_s:
        target = start + tick / slots
        delay = target - time.monotonic()
        # always yield: a worker behind its schedule (a loaded machine) must still read its
        # PUBACKs and commands, or it would delay the command acks it is there to measure
        await asyncio.sleep(max(0.0, delay))
        ts_text = repr(time.time()).encode()
        slot = per_slot[tick % slots]
        values = choices(VALUE_TEXTS, k=n_values * len(slot))
        at = 0
        for s in slot:
            s.tick(ts_text, values[at:at + n_values], rand() * 100.0 < dup_pct)
            at += n_values
        tick += 1
    deadline = time.monotonic() + 20.0  # wait for PUBACKs and late command acks
    while time.monotonic() < deadline and any(s.inflight for s in stations):
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    dropped = [s.problem for s in stations if s.problem]
    for s in stations:
        if s.transport is not None:
            s.transport.close()
    print(json.dumps({"sent": sum(s.sent for s in stations), "acked": sum(s.acked for s in stations),
                      "dups": sum(s.dups for s in stations), "commands": sum(s.commands for s in stations),
                      "unacked": sum(len(s.inflight) for s in stations),
                      "disconnected": len(dropped), "disconnect_reasons": sorted(set(dropped))[:3],
                      "connect_s": round(connect_s, 2),
                      "unique": {s.sid: s.seq for s in stations}, "cpu_s": cpu1.ru_utime + cpu1.ru_stime,
                      "publish_cpu_s": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
                      "publish_sys_cpu_s": cpu1.ru_stime - cpu0.ru_stime}),
          flush=True)


# --- the benchmark (parent process) ------------------------------------------------------------

def argument_problems(args: argparse.Namespace) -> list[str]:
    """Every problem of the command line (empty when the benchmark can run)."""
    problems = []
    for name, value, low in (("--stations", args.stations, 1), ("--publishers", args.publishers, 1),
                             ("--fields", args.fields, 1), ("--ingest-procs", args.ingest_procs, 1)):
        if value < low:
            problems.append("%s=%r: must be at least %d" % (name, value, low))
    if not (math.isfinite(args.duration_s) and args.duration_s >= 5.0):
        problems.append("--duration-s=%r: must be at least 5" % args.duration_s)
    if not (math.isfinite(args.dup_pct) and 0.0 <= args.dup_pct <= 100.0):
        problems.append("--dup-pct=%r: must be in [0, 100]" % args.dup_pct)
    if args.dsn and (args.stages or args.stages_only) and args.backend != "sqlite":
        problems.append("--dsn with --stages: the replay needs fresh databases of its own; leave out --dsn")
    if args.dsn and args.reader == "both" and args.backend != "sqlite":
        problems.append("--dsn with --reader both: each run needs its own database; give one --reader")
    if not (math.isfinite(args.batch_interval_s) and 0.01 <= args.batch_interval_s <= 60.0):
        problems.append("--batch-interval-s=%r: must be in [0.01, 60]" % args.batch_interval_s)
    if not 1 <= args.batch_max <= 30000:
        problems.append("--batch-max=%r: must be in [1, 30000] (twice it are deliveries waiting for their ack, "
                        "and MQTT numbers at most 65535)" % args.batch_max)
    if not (math.isfinite(args.commands_per_s) and args.commands_per_s >= 0.0):
        problems.append("--commands-per-s=%r: must be >= 0" % args.commands_per_s)
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--dsn", default="", help="use this PostgreSQL instead of starting one")
    parser.add_argument("--publishers", type=int, default=1,
                        help="worker processes for the stations (one holds 10,000 at about 17 us of CPU per message; "
                             "each more costs more per message on a small machine)")
    parser.add_argument("--fields", type=int, default=20, help="telemetry values per message")
    parser.add_argument("--dup-pct", type=float, default=1.0, help="percent of messages sent twice")
    parser.add_argument("--commands-per-s", type=float, default=5.0)
    parser.add_argument("--batch-interval-s", type=float, default=BATCH_INTERVAL_S,
                        help="the supervisor's [storage] batch_interval_s (default: as README advises for stations "
                             "at 1 Hz: several messages of each station per flush)")
    parser.add_argument("--batch-max", type=int, default=BATCH_MAX, help="the supervisor's [storage] batch_max")
    parser.add_argument("--ingest-procs", type=int, default=1,
                        help="supervisor ingest processes sharing the uplinks ($share/...); 1 = one process")
    parser.add_argument("--reader", choices=("lean", "aiomqtt", "both"), default="both",
                        help="the supervisor's uplink reader ([mqtt] ingest_reader); both: one run each, "
                             "alternated per backend under the same load")
    parser.add_argument("--stages", action="store_true",
                        help="also replay the same workload through the ingest alone (no broker) and print its CPU per "
                             "message stage by stage (tools/bench/ingest_stages.py)")
    parser.add_argument("--stages-only", action="store_true", help="only the stage by stage replay")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--worker", nargs=7, help=argparse.SUPPRESS)


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


class NotConnected(RuntimeError):
    """The simulated stations could not all connect (a limit of this machine or the broker)."""


async def _one_backend(backend: str, args: argparse.Namespace, port: int, creds_dir: str, sids: list[str],
                       dsn: str, tmp: str, reader: str = "aiomqtt", broker_pid: int = 0,
                       database_pid: int = 0) -> dict[str, Any]:
    from heatkeeper.supervisor import config as sup_config
    from heatkeeper.supervisor.command_keys import CommandKeys, keys_dir
    from heatkeeper.supervisor.main import (
        command_client_factory,
        command_filters,
        process_password,
        run_ingest_link,
        settle_gc,
    )
    from heatkeeper.supervisor.mqtt_link import run_mqtt
    from heatkeeper.supervisor.service import SupervisorService
    from heatkeeper.supervisor.storage import open_storage

    raw = {
        "supervisor": {"data_dir": os.path.join(tmp, "%s-%s" % (backend, reader))},
        "broker": {"embedded": False},
        "mqtt": {"port": port, "protocol": "3.1.1", "client_id": "bench-sup-" + backend,
                 "shared_group": "bench-" + backend if args.ingest_procs > 1 else "", "ingest_reader": reader,
                 "password_file": os.path.join(creds_dir, "supervisor.password")},
        "storage": {"backend": backend, "dsn": dsn, "batch_max": args.batch_max, "batch_interval_s": args.batch_interval_s},
        "web": {"enabled": False},
        "station": [{"id": s} for s in sids],
    }
    cfg = sup_config.validate(raw)
    config_path = os.path.join(tmp, "supervisor-%s-%s.toml" % (backend, reader))
    with open(config_path, "w", encoding="utf-8") as fh:
        fh.write(_toml(raw))
    with open(os.path.join(creds_dir, "supervisor.password"), encoding="utf-8") as fh:
        password = fh.read().strip()
    # commands are signed, as `serve` does; the bench's own stations need no "install the key" warning each
    keys_log = logging.getLogger("heatkeeper.supervisor.command_keys")
    level = keys_log.level
    keys_log.setLevel(logging.ERROR)
    try:
        CommandKeys(keys_dir(cfg["supervisor"]["data_dir"])).ensure(sids)
    finally:
        keys_log.setLevel(level)
    storage = open_storage(backend, path=cfg["storage"]["path"], dsn=dsn)
    service = SupervisorService(storage, cfg)
    await service.start()
    connected = asyncio.Event()

    async def on_connect(client: Any) -> None:
        async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            await client.publish(topic, payload, qos=qos, retain=retain)

        service.link.set_publisher(publish)
        connected.set()

    tasks = [asyncio.ensure_future(service.ingest.run_flusher()),
             asyncio.ensure_future(run_ingest_link(cfg, service.ingest, password)),
             asyncio.ensure_future(run_mqtt(service.ingest, command_client_factory(cfg, process_password(cfg, "supervisor-cmd")),
                                            command_filters(), on_connect))]
    await asyncio.wait_for(connected.wait(), 20)
    chunks = [sids[i::args.publishers] for i in range(args.publishers)]
    workers = []
    extra = []
    for i in range(2, args.ingest_procs + 1):  # extra ingest processes on the shared subscription
        extra.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", config_path, "--ingest-only",
            "--instance", str(i), "--log-level", "WARNING"))
    if extra:
        await asyncio.sleep(3.0)  # let them connect and subscribe
    for i, chunk in enumerate(chunks):
        list_path = os.path.join(tmp, "stations-%s-%s-%d.txt" % (backend, reader, i))
        with open(list_path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(chunk))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "heatkeeper.tools.bench.ingest", "--worker", str(port), creds_dir, list_path,
            str(args.fields), str(args.dup_pct), str(args.duration_s), str(max(1, CONNECT_AT_ONCE // args.publishers)),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        workers.append(proc)
    try:
        for i, proc in enumerate(workers, 1):
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 120 + len(sids) / 50)
            if line.strip() != b"ready":
                raise NotConnected("publisher worker %d of %d: %s" % (
                    i, len(workers), line.decode(errors="replace").strip() or "exited before its stations connected"))
    except BaseException:  # nothing left running: the workers, the supervisor's tasks, its storage
        for proc in workers + extra:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await service.stop()
        raise
    restore_gc = settle_gc()  # as `serve` does once started
    collector = _CollectorTime()
    gc.callbacks.append(collector.callback)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    loop_cpu0_s = time.thread_time()  # this thread runs the event loop: the reader, the ingest, asyncpg
    broker_cpu0_s, database_cpu0_s = _proc_cpu_s(broker_pid), _tree_cpu_s(database_pid)
    extra_cpu0_s = sum(_proc_cpu_s(proc.pid) for proc in extra)
    load_before = os.getloadavg()
    for proc in workers:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    t_start = time.monotonic()
    warm_s = min(5.0, args.duration_s / 4)

    async def stored_now() -> int:
        # one ingest process: its own count of new rows (a COUNT(*) every half second would be
        # the benchmark's CPU, on the supervisor's clock); several: only the database knows
        return service.ingest.stored if args.ingest_procs == 1 else await storage.count_uplinks()

    stored_at: dict[str, tuple[float, int]] = {}
    sent_commands = 0
    cmd_tasks: list[asyncio.Future[str]] = []
    rng = random.Random(1)
    while time.monotonic() - t_start < args.duration_s:
        await asyncio.sleep(1.0 / args.commands_per_s if args.commands_per_s > 0 else 1.0)
        elapsed = time.monotonic() - t_start
        if "a" not in stored_at and elapsed >= warm_s:
            stored_at["a"] = (time.monotonic(), await stored_now())
        if args.commands_per_s > 0 and warm_s <= elapsed <= args.duration_s - 1:
            # not awaited: the sampling loop keeps its pace while a command waits for its PUBACK
            cmd_tasks.append(asyncio.ensure_future(
                service.remote.send_command(rng.choice(sids), "set_mode", {"mode": "auto"}, "bench")))
            sent_commands += 1
    stored_at["b"] = (time.monotonic(), await stored_now())
    await asyncio.gather(*cmd_tasks, return_exceptions=True)
    results = []
    for proc in workers:
        assert proc.stdout is not None
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    expected = sum(sum(r["unique"].values()) for r in results)
    # drain the backlog: until everything is stored, or nothing was stored for 20 s (then what
    # is missing is lost, not late)
    t_drain = time.monotonic()
    last_count, last_progress = -1, time.monotonic()
    while True:
        count = await stored_now()
        if count >= expected:
            break
        if count != last_count:
            last_count, last_progress = count, time.monotonic()
        elif time.monotonic() - last_progress > 20.0:
            break
        await asyncio.sleep(0.5)
    drain_s = time.monotonic() - t_drain
    extra_cpu_s = sum(_proc_cpu_s(proc.pid) for proc in extra)  # before they exit
    for proc in extra:
        proc.terminate()
        await proc.wait()
    await service.ingest.flush(force_aggregates=True)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    loop_cpu_s = time.thread_time() - loop_cpu0_s
    gc.callbacks.remove(collector.callback)
    broker_cpu_s = _proc_cpu_s(broker_pid) - broker_cpu0_s
    database_cpu_s = _tree_cpu_s(database_pid) - database_cpu0_s
    sup_cpu_s = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    load_after = os.getloadavg()
    rows = await storage.count_uplinks()
    distinct = await storage.fetchone("SELECT COUNT(*) FROM (SELECT DISTINCT station_id, seq FROM uplinks) AS d")
    rtts = list(service.commands.round_trips_s)
    (ta, sa), (tb, sb) = stored_at["a"], stored_at["b"]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await service.stop()
    restore_gc()
    return {
        "backend": backend, "reader": reader, "stations": len(sids), "duration_s": args.duration_s, "ingest_procs": args.ingest_procs,
        "batch_interval_s": args.batch_interval_s, "batch_max": args.batch_max,
        "offered_msgs_per_s": round(sum(r["sent"] for r in results) / args.duration_s, 1),
        "sustained_stored_msgs_per_s": round((sb - sa) / (tb - ta), 1) if tb > ta else None,
        "published_unique": expected, "broker_acked": sum(r["acked"] for r in results),
        "unacked_by_broker": sum(r["unacked"] for r in results),
        "stored_rows": rows, "lost": expected - rows, "drain_after_publishers_stopped_s": round(drain_s, 1),
        "duplicates_sent": sum(r["dups"] for r in results), "duplicates_dropped": service.ingest.duplicates if args.ingest_procs == 1 else None,
        "duplicates_stored": rows - int(distinct[0]) if distinct else None,
        "rejected": service.ingest.stats()["rejected"],
        "commands_sent": sent_commands, "commands_acked": len(rtts),
        "command_rtt_p50_s": _round(_pct(rtts, 50)), "command_rtt_p99_s": _round(_pct(rtts, 99)),
        "command_rtt_max_s": _round(max(rtts) if rtts else None),
        "supervisor_cpu_s": round(sup_cpu_s, 1),
        # of which in the kernel (sockets, the database's files): what no Python change removes
        "supervisor_sys_cpu_s": round(cpu1.ru_stime - cpu0.ru_stime, 1),
        "extra_ingest_cpu_s": round(extra_cpu_s - extra_cpu0_s, 1),
        "supervisor_cpu_us_per_msg": round(1e6 * (sup_cpu_s + extra_cpu_s - extra_cpu0_s) / max(rows, 1), 1),
        # of it, the event loop's thread (the MQTT reader, the ingest, asyncpg); the rest is the
        # process's other threads: with SQLite, its writer and reader (the database's own work)
        "supervisor_event_loop_cpu_s": round(loop_cpu_s, 1),
        "supervisor_event_loop_cpu_us_per_msg": round(1e6 * loop_cpu_s / max(rows, 1), 1),
        # the cyclic collector's passes (young, middle, full) and their CPU, once settled
        "supervisor_gc_passes": collector.passes, "supervisor_gc_cpu_s": round(collector.cpu_s, 2),
        "load_avg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "publishers_cpu_s": round(sum(r["cpu_s"] for r in results), 1),
        # from "go" until their last PUBACK (connecting not included), per message they sent
        "publishers_publish_cpu_s": round(sum(r["publish_cpu_s"] for r in results), 1),
        "publishers_publish_sys_cpu_s": round(sum(r["publish_sys_cpu_s"] for r in results), 1),  # in the kernel
        "publisher_cpu_us_per_msg": round(1e6 * sum(r["publish_cpu_s"] for r in results)
                                          / max(1, sum(r["sent"] for r in results)), 1),
        "publishers_connect_s": max(r["connect_s"] for r in results),
        "stations_disconnected": sum(r["disconnected"] for r in results),
        "disconnect_reasons": sorted({x for r in results for x in r["disconnect_reasons"]})[:3],
        # the broker and PostgreSQL (every process of the cluster) from "go" until all was stored
        "broker_cpu_s": round(broker_cpu_s, 1),
        "broker_cpu_us_per_msg": round(1e6 * broker_cpu_s / max(rows, 1), 1),
        "database_cpu_s": round(database_cpu_s, 1) if database_pid else None,
        "database_cpu_us_per_msg": round(1e6 * database_cpu_s / max(rows, 1), 1) if database_pid else None,
    }


class _CollectorTime:
    """The cyclic collector's passes per generation and their CPU time (of the thread that ran
    each), from `gc.callbacks`."""

    def __init__(self) -> None:
        self.passes = [0, 0, 0]
        self.cpu_s = 0.0
        self._started = 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.passes[info["generation"]] += 1
            self.cpu_s += time.thread_time() - self._started


def _proc_cpu_s(pid: int, reaped_children: bool = False) -> float:
    """User + system CPU seconds of a running process (Linux /proc; 0.0 where unreadable), with
    `reaped_children` also those of its children that have exited."""
    if pid <= 0:
        return 0.0
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped_children else 0)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its children that exited and its live children (PostgreSQL's
    postmaster and its backends)."""
    if pid <= 0:
        return 0.0
    total = _proc_cpu_s(pid, reaped_children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="ascii") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                total += _proc_cpu_s(int(entry))
    return total


def _postmaster_pid(data_dir: str) -> int:
    """The pid of the PostgreSQL cluster in `data_dir` (first line of postmaster.pid; 0 if unknown)."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid"), encoding="ascii") as fh:
            return int(fh.readline())
    except (OSError, ValueError):
        return 0


def _toml(raw: dict[str, Any]) -> str:
    """A minimal TOML writer for the bench's own config (strings, numbers, one array of tables)."""
    lines = []
    for section, values in raw.items():
        if isinstance(values, list):
            for item in values:
                lines.append("[[%s]]" % section)
                lines += ["%s = %s" % (k, json.dumps(v)) for k, v in item.items()]
        else:
            lines.append("[%s]" % section)
            lines += ["%s = %s" % (k, json.dumps(v)) for k, v in values.items()]
    return "\n".join(lines) + "\n"


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from heatkeeper.supervisor import broker_config
    from heatkeeper.tools.procs import free_port
    from heatkeeper.tools.testing.mosquitto import MosquittoServer
    from heatkeeper.tools.testing.postgres import PostgresServer

    tmp = tempfile.mkdtemp(prefix="hk-bench-")
    sids = ["bench-%05d" % i for i in range(args.stations)]
    port = free_port()
    mq = os.path.join(tmp, "mq")
    broker_config.write(mq, sids, port=port, as_root=os.geteuid() == 0, ingest_processes=max(0, args.ingest_procs))
    with open(os.path.join(mq, "mosquitto.conf"), "a", encoding="utf-8") as fh:
        fh.write("max_connections -1\n")
    mosquitto = MosquittoServer(os.path.join(mq, "mosquitto.conf"), port, os.path.join(mq, "stdout.log")).start()
    pg: PostgresServer | None = None
    out: dict[str, Any] = {"host_cpus": os.cpu_count(), "note": "the CPU is shared with other work while measuring",
                           "runs": []}
    try:
        backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
        readers = ["aiomqtt", "lean"] if args.reader == "both" else [args.reader]
        if args.stages or args.stages_only:
            from .ingest_stages import stage_breakdown

            async def fresh_dsn() -> str:
                nonlocal pg
                if args.dsn:
                    raise ValueError("--stages needs databases of its own: without --dsn")
                if pg is None:
                    pg = PostgresServer(durable=True)
                return await pg.create_database()

            out["stages"] = [await stage_breakdown(backend, fresh_dsn, args.stations, int(args.duration_s), args.fields,
                                                   args.dup_pct, args.batch_interval_s, args.batch_max)
                             for backend in backends]
        for backend in backends if not args.stages_only else []:
            for reader in readers:  # the same broker, stations and load, one after the other
                dsn = ""
                if backend == "postgres":
                    if args.dsn:
                        dsn = args.dsn
                    else:
                        if pg is None:
                            pg = PostgresServer(durable=True)
                        dsn = await pg.create_database()  # a fresh database per run
                database_pid = _postmaster_pid(pg.data) if backend == "postgres" and pg is not None and not args.dsn else 0
                out["runs"].append(await _one_backend(backend, args, port, os.path.join(mq, "credentials"), sids,
                                                      dsn, tmp, reader, mosquitto.process.pid if mosquitto.process else 0,
                                                      database_pid))
    finally:
        mosquitto.stop()
        if pg is not None:
            pg.stop()
        subprocess.run(["rm", "-rf", tmp], check=False)
    return out


def run(args: argparse.Namespace) -> int:
    if args.worker:
        port, creds, list_path, fields, dup_pct, duration, at_once = args.worker
        with open(list_path, encoding="utf-8") as fh:
            worker_sids = fh.read().split()
        asyncio.run(_worker(int(port), creds, worker_sids, int(fields), float(dup_pct), float(duration), int(at_once)))
        return 0
    problems = argument_problems(args)
    if problems:
        for problem in problems:
            print("bench ingest: %s" % problem, file=sys.stderr)
        return 2
    problem = _raise_nofile(args.stations + 256)  # Mosquitto, started from here, inherits the limit
    if problem:
        print("bench ingest: --stations=%d: %s" % (args.stations, problem), file=sys.stderr)
        return 2
    try:
        result = asyncio.run(_bench(args))
    except NotConnected as exc:
        print("bench ingest: --stations=%d could not all connect: %s" % (args.stations, exc), file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for r in result["runs"]:
            print("%-8s %-7s %5d stations  batches %s s / %d  offered %8.1f msg/s  stored %8.1f msg/s  lost %d  "
                  "dup stored %s (sent %d)  "
                  "cmd rtt p50 %s s p99 %s s (%d/%d acked)  cpu sup %.1f s (%s us/msg, event loop %s, collector %s s, sys %.1f s) pub %.1f s "
                  "(%s us/msg sent)  broker %s us/msg  database %s  load %s"
                  % (r["backend"], r["reader"], r["stations"], r["batch_interval_s"], r["batch_max"],
                     r["offered_msgs_per_s"], r["sustained_stored_msgs_per_s"] or 0,
                     r["lost"], r["duplicates_stored"], r["duplicates_sent"], r["command_rtt_p50_s"],
                     r["command_rtt_p99_s"], r["commands_acked"], r["commands_sent"],
                     r["supervisor_cpu_s"] + r["extra_ingest_cpu_s"], r["supervisor_cpu_us_per_msg"],
                     r["supervisor_event_loop_cpu_us_per_msg"], r["supervisor_gc_cpu_s"], r["supervisor_sys_cpu_s"],
                     r["publishers_cpu_s"], r["publisher_cpu_us_per_msg"], r["broker_cpu_us_per_msg"],
                     "in the supervisor" if r["database_cpu_us_per_msg"] is None else "%s us/msg" % r["database_cpu_us_per_msg"],
                     r["load_avg_1m_before_after"]))
        if "stages" in result:
            from .ingest_stages import describe

            for stage in result["stages"]:
                print(describe(stage))
        print("(%s)" % result["note"])
    lost = sum(r["lost"] for r in result["runs"])
    dup = sum(r["duplicates_stored"] or 0 for r in result["runs"])
    return 0 if lost == 0 and dup == 0 else 1


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="heatkeeper bench ingest")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
