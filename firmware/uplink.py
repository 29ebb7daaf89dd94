"""MQTT uplink (aiomqtt 2.5, MQTT v5): drains the outbox, receives commands and room readings.

Session: fixed client id = station id, `clean_start=False` AND a SessionExpiryInterval (with
aiomqtt's reconnect pattern `clean_start=FIRST_ONLY` silently starts clean on every reconnect,
see reference stack.md 3.1), QoS 1 subscriptions, explicit reconnect loop with exponential
back-off and jitter. Retained status "online" on connect, retained last will "offline".

Outbox drain: a window of WINDOW messages in flight, sent in sequence order. `await publish(qos=1)` returns after
the PUBACK; aiomqtt ignores the PUBACK's v5 reason code, so `PubackClient` hears it too and
records refusals (e.g. "Not authorized" from a broker ACL): a refused message stays in the
outbox, an alarm event is raised and the link backs off. Acknowledged messages leave the
pending ones in batches; a crash between PUBACK and that resends byte-identical copies (same
seq), which the supervisor stores once.

A broker that loses power loses what it acknowledged since its last save (Mosquitto's
`autosave_interval`, 60 s in `heatkeeper broker-config`) and still held for the supervisor. So
the outbox keeps, on disk, what the broker acknowledged in the last `resend_after_reconnect_s`
(120 s by default; see firmware/outbox.py for the bounds) and, after a connection that dropped,
the link sends the messages acknowledged in that span before the last PUBACK it heard once more
(a broker host that loses power sends no reset: the drop is noticed a keepalive later), before
the outbox's backlog: byte-identical (same seq), so the supervisor stores each once and counts the
rest as duplicates. What was sent again counts as acknowledged at the resend (`renew_kept`): a
broker that comes back and loses power again before its next save gets it once more. A station
that starts sends what its outbox kept once more too (its link may have been down, or the broker
may have lost power, while it was stopped).

A PUBACK with v5 reason 0x10 "no matching subscribers" means the broker will drop the message
(no supervisor session exists): with `require_subscriber` (default) the message is kept and
retried until a subscriber appears, so a supervisor that lost its session loses no data.

Subscriptions use retainAsPublished, so a retained command is recognised on live delivery too.
Commands (core.codec.command_topic) pass a gate before core sees them: decodable, signed
with this station's command key (firmware/command_auth.py; checked before anything else),
not retained, not a duplicate (a recent-ack cache answers repeats with the first answer and
never applies them again), user allowed, not expired (wall clock), expiry not absurdly far.
Every command with a readable id gets exactly one ack per delivery, through the outbox, so
acks survive outages too; every refusal is also an event. Only refusals before authentication
are rate-limited (REFUSAL_BURST, REFUSALS_PER_MIN): a flood of forgeries is counted, not stored.
Nothing here is awaited by the control loop: it only writes to the outbox and calls `wake()`.

The reconnect loop survives every failure, not only the network's: a storage error while
reading or acknowledging the outbox (disk full, a damaged file) or a defect is logged with its
traceback, handed to `on_storage_fault` (the runtime sets a damaged outbox aside), and the link
backs off and reconnects; messages not yet acknowledged are simply sent again (same seq).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiomqtt
from heatkeeper.core import codec
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from . import command_auth
from .config import MqttSection
from .errors import StorageError, UplinkFault
from .outbox import Outbox

log = logging.getLogger("heatkeeper.uplink")

# MQTT v5 PUBACK reason 0x10: accepted, but no subscriber (and no persistent session) will get it.
NO_MATCHING_SUBSCRIBERS = 16
WINDOW = 16  # QoS 1 publishes in flight
REFUSAL_BURST = 20  # unauthenticated or unreadable commands answered at once ...
REFUSALS_PER_MIN = 20  # ... and then per minute; more are dropped unanswered and counted

CommandHandler = Callable[[dict], dict]
RoomsHandler = Callable[[list], None]
OutdoorHandler = Callable[[float, float], None]  # (temp_c, age_s): for StationController.set_supervisor_outdoor
ForecastHandler = Callable[[dict], None]  # codec.decode_forecast output: for StationController.set_forecast
SeasonHandler = Callable[[dict], None]  # codec.decode_season output: for StationController.set_season
EventSink = Callable[[str, dict], None]  # (uplink kind: event|alarm, body)
StorageFaultHandler = Callable[[StorageError], None]


class RecentAcks:
    """Command answers by id, so that a repeat is answered again and never applied again.

    A signed command stays valid until its expiry, so its id is kept at least until then (and
    the last `size` beyond that). Should more than `max_held` unexpired ids pile up, the oldest
    go and `floor_ts` rises to their expiry: a command expiring at or before `floor_ts` might be
    one of them, so the gate refuses it. Saved with the state file (survives restarts)."""

    def __init__(self, size: int = 256, max_held: int = 4096) -> None:
        self.size = size
        self.max_held = max(size, max_held)
        self.floor_ts = 0.0
        self._acks: collections.OrderedDict[str, tuple[dict, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._acks)

    def get(self, command_id: str) -> dict | None:
        item = self._acks.get(command_id)
        return item[0] if item is not None else None

    def put(self, command_id: str, ack: dict, expires_ts: float = 0.0, now_ts: float | None = None) -> None:
        self._acks[command_id] = (ack, float(expires_ts))
        self._acks.move_to_end(command_id)
        if len(self._acks) <= self.size:
            return
        if now_ts is not None:  # forget expired ids first (oldest first), down to `size`
            for cid in [k for k, (_a, exp) in self._acks.items() if exp < now_ts]:
                if len(self._acks) <= self.size:
                    break
                del self._acks[cid]
        limit = self.max_held if now_ts is not None else self.size
        while len(self._acks) > limit:
            _cid, (_ack, exp) = self._acks.popitem(last=False)
            self.floor_ts = max(self.floor_ts, exp)

    def snapshot(self) -> dict:
        """JSON-safe form for the state file (a restarted station still recognises repeats)."""
        return {"acks": [[k, v, exp] for k, (v, exp) in self._acks.items()], "floor_ts": self.floor_ts}

    def restore(self, data: Any) -> None:
        """Take a snapshot back (also the older list-of-pairs form, whose expiries are unknown)."""
        items = data.get("acks") if isinstance(data, dict) else data
        if isinstance(data, dict):
            floor = data.get("floor_ts")
            if isinstance(floor, (int, float)) and not isinstance(floor, bool) and floor == floor:
                self.floor_ts = max(self.floor_ts, float(floor))
        if not isinstance(items, list):
            return
        for item in items:
            if isinstance(item, list) and len(item) in (2, 3) and isinstance(item[0], str) and isinstance(item[1], dict):
                exp = item[2] if len(item) == 3 else 0.0
                if isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp != exp:
                    exp = 0.0
                self._acks[item[0]] = (item[1], float(exp))
                self._acks.move_to_end(item[0])
        while len(self._acks) > self.max_held:
            _cid, (_ack, exp) = self._acks.popitem(last=False)
            self.floor_ts = max(self.floor_ts, exp)


def _loose_id(payload: bytes) -> str | None:
    """The command id of a payload that failed validation, if one can be read safely."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeError, RecursionError):
        return None
    cid = obj.get("id") if isinstance(obj, dict) else None
    return cid if codec.valid_id(cid) else None


class CommandGate:
    """Command checks that need no broker: decode, signature, retained, duplicates, user, expiry, apply."""

    def __init__(self, station_id: str, handler: CommandHandler, cfg: MqttSection, acks: RecentAcks) -> None:
        self.station_id, self.handler, self.cfg, self.acks = station_id, handler, cfg, acks
        self.counts: collections.Counter[str] = collections.Counter()
        # Refusals before a command is authenticated cost the outbox an ack and an event each:
        # a flood of forgeries must not fill the station's disk (REFUSAL_BURST, then REFUSALS_PER_MIN).
        self._refusal_tokens = float(REFUSAL_BURST)
        self._refusal_ts: float | None = None
        self.suppressed = 0
        self.key: bytes | None = None
        self.key_problem = ""
        if cfg.command_key_file:
            try:
                self.key = command_auth.read_command_key(cfg.command_key_file)
            except (OSError, codec.CodecError) as exc:
                # Validated at start-up; if it went bad since, refuse commands and keep controlling.
                self.key_problem = "command key file %s unusable (%s)" % (cfg.command_key_file, exc)
                log.error("%s: every remote command will be refused", self.key_problem)
        elif cfg.insecure_unsigned_commands:
            log.warning("[mqtt] insecure_unsigned_commands = true: remote commands are accepted unsigned; "
                        "anyone who can publish on %s commands this station", codec.command_topic(station_id))
        else:
            self.key_problem = "no [mqtt] command_key_file configured"
        if self.key_problem and cfg.enabled and not cfg.command_key_file:
            log.warning("%s: every remote command will be refused (install the station's key from the "
                        "supervisor, or set insecure_unsigned_commands = true)", self.key_problem)

    def _authenticate(self, cmd: dict) -> tuple[str, str] | None:
        """(reason, detail) when the command must be refused for its signature, else None."""
        if self.key is not None:
            return command_auth.verify(self.key, self.station_id, cmd)
        if self.cfg.insecure_unsigned_commands and not self.key_problem:
            return None
        return command_auth.NO_COMMAND_KEY, self.key_problem + ": this station refuses every remote command"

    def process(self, topic: str, payload: bytes, retained: bool, now_ts: float) -> tuple[dict | None, dict | None]:
        """(ack body or None, event body or None) for one received command message."""
        try:
            cmd = codec.decode_command(topic, payload)
        except codec.CodecError as exc:
            self.counts["malformed"] += 1
            if not self._refusal_allowed(now_ts):
                return None, None
            cid = _loose_id(payload)
            event = self._with_suppressed({"kind": "command_rejected", "reason": exc.reason, "detail": exc.text,
                                           "command_id": cid})
            if cid is None:
                return None, event
            return self._answer(cid, codec.ACK_REJECTED, exc.reason, exc.text, remember=False), event
        cid = cmd["id"]
        refusal = self._authenticate(cmd)
        if refusal is not None:
            if not self._refusal_allowed(now_ts):
                self.counts[refusal[0]] += 1
                return None, None
            # Not remembered: a forgery must not stand in for the genuine command of the same id.
            ack, event = self._refuse(cid, codec.ACK_REJECTED, refusal[0], refusal[1], now_ts, remember=False)
            return ack, self._with_suppressed(event)
        if retained:
            # A retained command would be replayed to the station on every (re)subscribe.
            self.counts["retained"] += 1
            return self._answer(cid, codec.ACK_REJECTED, "retained", "commands must not be retained", remember=False), None
        earlier = self.acks.get(cid)
        if earlier is not None:
            self.counts["duplicate"] += 1
            return dict(earlier, duplicate=True), {"kind": "command_duplicate", "reason": "duplicate", "command_id": cid,
                                                   "detail": "answered from the ack cache, not applied again"}
        if self.cfg.command_users and cmd["user"] not in self.cfg.command_users:
            self.counts["unauthorised"] += 1
            return self._answer(cid, codec.ACK_REJECTED, "unauthorised",
                                "user %r may not command this station" % cmd["user"], expires_ts=cmd["expires_ts"],
                                now_ts=now_ts), None
        if cmd["expires_ts"] <= now_ts:
            return self._refuse(cid, codec.ACK_EXPIRED, "expired", "expired %.1f s ago" % (now_ts - cmd["expires_ts"]),
                                now_ts, expires_ts=cmd["expires_ts"])
        if cmd["expires_ts"] - now_ts > self.cfg.max_command_ttl_s:
            return self._refuse(cid, codec.ACK_REJECTED, "expiry_too_far",
                                "expires_ts is %.0f s ahead; at most %.0f s allowed"
                                % (cmd["expires_ts"] - now_ts, self.cfg.max_command_ttl_s), now_ts,
                                expires_ts=cmd["expires_ts"])
        if cmd["expires_ts"] <= self.acks.floor_ts:
            return self._refuse(cid, codec.ACK_REJECTED, "replay_window",
                                "expires before %.0f: ids that old are no longer remembered, so it may be a replay"
                                % self.acks.floor_ts, now_ts, remember=False)
        request = {"id": cid, "kind": cmd["kind"], "args": cmd["args"], "user": cmd["user"], "source": "remote",
                   "expires_ts": cmd["expires_ts"]}
        try:
            res = self.handler(request)
        except Exception as exc:  # noqa: BLE001 - task boundary: a controller defect must not kill the link
            log.exception("command %s (%s) raised in the controller", cid, cmd["kind"])
            self.counts["error"] += 1
            return self._answer(cid, codec.ACK_REJECTED, "internal_error", "%s: %s" % (type(exc).__name__, exc),
                                expires_ts=cmd["expires_ts"], now_ts=now_ts), None
        result = res.get("result") if isinstance(res, dict) else None
        if result not in codec.ACK_RESULTS:
            result, res = codec.ACK_REJECTED, {"reason": "internal_error", "detail": "controller answered %r" % (res,)}
        self.counts[str(result)] += 1
        return self._answer(cid, str(result), str(res.get("reason", "")), str(res.get("detail", "")),
                            expires_ts=cmd["expires_ts"], now_ts=now_ts), None

    def _refusal_allowed(self, now_ts: float) -> bool:
        """Token bucket over unauthenticated refusals; False = drop silently (counted in `suppressed`)."""
        if self._refusal_ts is not None and now_ts > self._refusal_ts:
            self._refusal_tokens = min(float(REFUSAL_BURST),
                                       self._refusal_tokens + (now_ts - self._refusal_ts) * REFUSALS_PER_MIN / 60.0)
        self._refusal_ts = now_ts if self._refusal_ts is None else max(self._refusal_ts, now_ts)
        if self._refusal_tokens < 1.0:
            self.suppressed += 1
            if self.suppressed == 1:
                log.warning("command refusals arrive faster than %d per minute: dropping them unanswered "
                            "(counted; the next answered one says how many)", REFUSALS_PER_MIN)
            return False
        self._refusal_tokens -= 1.0
        return True

    def _with_suppressed(self, event: dict) -> dict:
        if self.suppressed:
            event["suppressed"], self.suppressed = self.suppressed, 0
        return event

    def _refuse(self, cid: str, result: str, reason: str, detail: str, now_ts: float, remember: bool = True,
                expires_ts: float = 0.0) -> tuple[dict, dict]:
        """A refused command: counted, acked with the reason, and an event someone can see."""
        self.counts[reason] += 1
        event = {"kind": "command_rejected", "reason": reason, "detail": detail, "command_id": cid}
        return self._answer(cid, result, reason, detail, remember, expires_ts, now_ts), event

    def _answer(self, cid: str, result: str, reason: str, detail: str, remember: bool = True,
                expires_ts: float = 0.0, now_ts: float | None = None) -> dict:
        body = codec.ack_body(cid, result, reason, detail)
        if remember:
            self.acks.put(cid, body, expires_ts, now_ts)
        return body


def session_properties(expiry_s: int) -> Properties:
    """CONNECT properties for a persistent v5 session."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    return props


class PubackClient(aiomqtt.Client):
    """An aiomqtt.Client that also hands each PUBACK's reason code to `on_puback` (aiomqtt
    ignores it). aiomqtt is pinned <3, where `_on_publish` is the paho callback the client
    installs for itself; extending it is the one hook needed, so the firmware never reaches
    for the paho client underneath."""

    def __init__(self, on_puback: Callable[[Any], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_puback = on_puback

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._on_puback(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)


async def publish_window(client: aiomqtt.Client, window: list[tuple[int, str, bytes]]) -> None:
    """Publish (seq, topic, payload) messages with QoS 1, all in flight at once, in order on one
    connection; returns when every PUBACK is in, raises the first failure after all have ended."""
    results = await asyncio.gather(*(client.publish(t, p, qos=1) for _s, t, p in window), return_exceptions=True)
    for res in results:
        if isinstance(res, BaseException):
            raise res


class Uplink:
    """The station's MQTT link: outbox sender, command and room-reading receiver, reconnect loop."""

    def __init__(self, station_id: str, cfg: MqttSection, outbox: Outbox, gate: CommandGate,
                 on_rooms: RoomsHandler, on_event: EventSink, on_outdoor: OutdoorHandler | None = None,
                 on_storage_fault: StorageFaultHandler | None = None,
                 on_forecast: ForecastHandler | None = None, on_season: SeasonHandler | None = None) -> None:
        self.station_id, self.cfg, self.outbox, self.gate = station_id, cfg, outbox, gate
        self.on_forecast = on_forecast
        self.on_season = on_season
        self.on_rooms, self.on_event, self.on_outdoor = on_rooms, on_event, on_outdoor
        self.on_storage_fault = on_storage_fault
        self.connected = False
        self.connects = 0
        self.internal_errors = 0
        self.refused = 0
        self.last_error = ""
        self._wake = asyncio.Event()
        self._refusals: list[str] = []
        self._unheard = 0
        self._refused_reported = False
        self.unheard_waits = 0
        self._unheard_reported = False
        self._client: aiomqtt.Client | None = None
        self._outage_reported = False
        # Resend what the broker acknowledged since this wall-clock time (None: nothing to resend).
        # At the start: everything the outbox kept from before (0.0).
        self._resend_since: float | None = 0.0 if outbox.kept and cfg.resend_after_reconnect_s > 0.0 else None
        self.resent = 0
        # Wall-clock time of the last PUBACK heard: the resend span ends there, not when the drop
        # is noticed (a broker host that loses power sends no reset: the keepalive finds out).
        self._last_ack_ts: float | None = None

    def wake(self) -> None:
        """New messages are in the outbox (called by the control loop; never blocks)."""
        self._wake.set()

    def _tls(self) -> ssl.SSLContext | None:
        if not self.cfg.tls_ca and not self.cfg.tls_cert:
            return None
        ctx = ssl.create_default_context(cafile=self.cfg.tls_ca or None)
        if self.cfg.tls_cert:
            ctx.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
        return ctx

    def _password(self) -> str | None:
        if not self.cfg.password_file:
            return None
        with open(self.cfg.password_file, encoding="utf-8") as fh:
            return fh.read().strip()

    def make_client(self) -> aiomqtt.Client:
        """A client with the persistent-session flags, the will and TLS/credentials: MQTT v5
        (clean_start=False + session expiry) or, for brokers that speak only 3.1.1 such as the
        supervisor's embedded one, v3.1.1 with clean_session=False (the broker keeps the session)."""
        common: dict[str, Any] = dict(
            username=self.cfg.username or None, password=self._password(), identifier=self.station_id,
            keepalive=self.cfg.keepalive_s, timeout=self.cfg.publish_timeout_s, tls_context=self._tls(),
            will=aiomqtt.Will(codec.status_topic(self.station_id), codec.STATUS_OFFLINE.encode(), qos=1, retain=True),
        )
        if self.cfg.protocol == "3.1.1":
            return PubackClient(self._on_puback, self.cfg.host, self.cfg.port, protocol=aiomqtt.ProtocolVersion.V311,
                                clean_session=False, **common)
        return PubackClient(self._on_puback, self.cfg.host, self.cfg.port, protocol=aiomqtt.ProtocolVersion.V5,
                            clean_start=False, properties=session_properties(self.cfg.session_expiry_s), **common)

    def _on_puback(self, reason_code: Any) -> None:
        """Each PUBACK's v5 reason code: a refusal, or "no matching subscribers"."""
        if getattr(reason_code, "is_failure", False):
            self._refusals.append(str(reason_code))
        elif getattr(reason_code, "value", 0) == NO_MATCHING_SUBSCRIBERS:
            self._unheard += 1

    async def run(self) -> None:
        """Connect, serve, and reconnect with back-off, forever (cancel to stop)."""
        delay = self.cfg.reconnect_min_s
        while True:
            try:
                client = self.make_client()
                async with client:
                    self._client = client
                    client.pending_calls_threshold = 4 * WINDOW  # our window is intended, not a leak
                    self.connected = True
                    self.connects += 1
                    delay = self.cfg.reconnect_min_s
                    log.info("uplink connected to %s:%d", self.cfg.host, self.cfg.port)
                    if self._outage_reported or self.connects == 1:
                        self.on_event("event", {"kind": "uplink_connected", "reason": "connected",
                                                "connects": self.connects})
                    self._outage_reported = False
                    await client.publish(codec.status_topic(self.station_id), codec.STATUS_ONLINE.encode(), qos=1, retain=True)
                    # retainAsPublished: a retained command is flagged also on live delivery, so it is
                    # rejected at once, not only when replayed at the next subscribe.
                    # (v3.1.1 has no subscription options: there only replayed retained messages are flagged.)
                    opts: Any = SubscribeOptions(qos=1, retainAsPublished=True) if self.cfg.protocol == "5" else 1
                    topics = [(codec.command_topic(self.station_id), opts), (codec.rooms_topic(self.station_id), opts)]
                    if self.on_outdoor is not None:
                        topics.append((codec.outdoor_topic(self.station_id), opts))
                    if self.on_forecast is not None:
                        topics.append((codec.forecast_topic(self.station_id), opts))
                    if self.on_season is not None:
                        topics.append((codec.season_topic(self.station_id), opts))
                    await client.subscribe(topics)
                    await self._resend_acked(client)
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._sender(client))
                        tg.create_task(self._receiver(client))
            except* (aiomqtt.MqttError, UplinkFault, OSError) as group:
                self.last_error = "; ".join(str(e) for e in group.exceptions)
            except* Exception as group:  # noqa: BLE001 - storage errors and defects must not end the link
                self._internal_error(group)
            finally:
                if self.connected and self.cfg.resend_after_reconnect_s > 0.0:
                    now = time.time()
                    last_ack = now if self._last_ack_ts is None else min(now, self._last_ack_ts)
                    since = last_ack - self.cfg.resend_after_reconnect_s
                    if self._resend_since is None or since < self._resend_since:  # (a drop during the resend keeps the first)
                        self._resend_since = since
                self.connected = False
                self._client = None
            if not self._outage_reported:
                log.warning("uplink down (%s); retrying with back-off up to %.0f s", self.last_error, self.cfg.reconnect_max_s)
                self.on_event("event", {"kind": "uplink_lost", "reason": "disconnected", "detail": self.last_error[:200]})
                self._outage_reported = True
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2.0, self.cfg.reconnect_max_s)

    def _internal_error(self, group: BaseExceptionGroup) -> None:
        self.internal_errors += 1
        self.last_error = "; ".join("%s: %s" % (type(e).__name__, e) for e in group.exceptions)
        log.error("uplink failed (%s); reconnecting with back-off", self.last_error, exc_info=group)
        for exc in group.exceptions:
            if isinstance(exc, StorageError) and self.on_storage_fault is not None:
                try:
                    self.on_storage_fault(exc)
                except Exception:  # noqa: BLE001 - the handler's own failure must not end the link either
                    log.exception("storage fault handler failed")

    async def _sender(self, client: aiomqtt.Client) -> None:
        while True:
            batch = self.outbox.peek(200)
            if not batch:
                self._wake.clear()
                if not self.outbox.peek(1):
                    await self._wake.wait()
                continue
            done: list[tuple[int, str, bytes]] = []
            acked_at: float | None = None  # when the last clean window's PUBACKs were all in
            unheard = False
            try:
                for start in range(0, len(batch), WINDOW):
                    window = batch[start:start + WINDOW]
                    self._refusals.clear()
                    self._unheard = 0
                    # Up to WINDOW QoS 1 publishes in flight, sent in order on one connection; the
                    # window counts as delivered only when every PUBACK in it was clean (a resend
                    # of an accepted one is a duplicate seq, which the supervisor stores once).
                    await publish_window(client, window)
                    seq, topic = window[0][0], window[0][1]
                    if self._unheard and self.cfg.require_subscriber:
                        unheard = True
                        break
                    if self._refusals:
                        self.refused += 1
                        if not self._refused_reported:  # once per episode, not once per retry
                            self._refused_reported = True
                            self.on_event("alarm", {"code": "uplink_refused", "severity": "warning", "state": "active",
                                                    "text": "broker refused a message of seqs %d-%d on %s: %s (check the broker ACL)"
                                                    % (seq, window[-1][0], topic, self._refusals[0])})
                        raise UplinkFault("refused", "broker answered %s within seqs %d-%d" % (self._refusals[0], seq, window[-1][0]))
                    done.extend(window)
                    acked_at = time.time()
                    self._unheard_reported = False
                    if self._refused_reported:
                        self._refused_reported = False
                        self.on_event("alarm", {"code": "uplink_refused", "severity": "warning", "state": "cleared",
                                                "text": "broker accepts our messages again"})
            finally:
                # Stamped when the PUBACKs came, not when the batch ended: a later window of the
                # batch may have waited out publish_timeout_s on a silent broker first.
                self.outbox.acknowledge([item[0] for item in done], keep_s=self.cfg.resend_after_reconnect_s,
                                        now_ts=acked_at)
                if acked_at is not None:
                    self._last_ack_ts = acked_at
            if unheard:
                await self._wait_for_subscriber(seq)

    async def _resend_acked(self, client: aiomqtt.Client) -> None:
        """After a drop (or at the start): what the broker acknowledged in resend_after_reconnect_s
        before it, once more, from the outbox's kept rows (a broker that restarted from an older
        save lacks them)."""
        if self._resend_since is None:
            return
        since = self._resend_since
        first = last = 0
        count = 0
        while True:
            items = self.outbox.kept_since(since, last, 200)
            if not items:
                break
            for start in range(0, len(items), WINDOW):
                await publish_window(client, items[start:start + WINDOW])
            first = first or items[0][0]
            last = items[-1][0]
            count += len(items)
            self.resent += len(items)
        self._resend_since = None
        if count:
            # The broker acknowledged them again, and may lose them again before its next save
            # (power restored and cut again soon after): they are kept a span from now.
            now = time.time()
            self.outbox.renew_kept(first, now)
            self._last_ack_ts = now
            log.info("uplink resent %d message(s), seqs %d-%d, that the broker had acknowledged in the %.0f s before its "
                     "last acknowledgement before the link dropped, or before the station stopped (a broker restarted "
                     "from an older save lacks them; the supervisor stores each seq once)",
                     count, first, last, self.cfg.resend_after_reconnect_s)

    async def _wait_for_subscriber(self, seq: int) -> None:
        # The broker took the message but nobody (not even a persistent session) will receive
        # it: the supervisor's session is gone. Keep it and retry; say so once per episode.
        self.unheard_waits += 1
        if not self._unheard_reported:
            self._unheard_reported = True
            log.warning("broker has no subscriber for seq %d: keeping the outbox until the supervisor subscribes", seq)
            self.on_event("event", {"kind": "uplink_no_subscriber", "reason": "no_matching_subscribers",
                                    "detail": "holding %d messages until a subscriber exists" % len(self.outbox)})
        await asyncio.sleep(min(self.cfg.reconnect_max_s, 10.0))

    async def _receiver(self, client: aiomqtt.Client) -> None:
        cmd_topic, rooms_topic = codec.command_topic(self.station_id), codec.rooms_topic(self.station_id)
        outdoor_topic = codec.outdoor_topic(self.station_id)
        forecast_topic = codec.forecast_topic(self.station_id)
        season_topic = codec.season_topic(self.station_id)
        async for msg in client.messages:
            topic = str(msg.topic)
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload or "").encode()
            now_ts = time.time()
            if topic == cmd_topic:
                ack, event = self.gate.process(topic, payload, bool(msg.retain), now_ts)
                if event is not None:
                    self.on_event("event", event)
                if ack is not None:
                    self.on_event("ack", ack)
            elif topic == rooms_topic:
                self._rooms(topic, payload, now_ts)
            elif topic == outdoor_topic:
                self._outdoor(topic, payload, now_ts)
            elif topic == forecast_topic:
                self._forecast(topic, payload)
            elif topic == season_topic:
                self._season(topic, payload)

    def _outdoor(self, topic: str, payload: bytes, now_ts: float) -> None:
        """The supervisor's outdoor value, with its age, to the controller (which ignores it
        while its own sensor is good, and once it is older than outdoor.supervisor_max_age_s)."""
        try:
            msg = codec.decode_outdoor(topic, payload)
        except codec.CodecError as exc:
            self.on_event("event", {"kind": "outdoor_rejected", "reason": exc.reason, "detail": exc.text})
            return
        if self.on_outdoor is not None:
            self.on_outdoor(msg["temp_c"], max(0.0, now_ts - msg["ts"]))

    def _forecast(self, topic: str, payload: bytes) -> None:
        """The city's weather forecast to the controller (which checks its age itself)."""
        try:
            msg = codec.decode_forecast(topic, payload)
        except codec.CodecError as exc:
            self.on_event("event", {"kind": "forecast_rejected", "reason": exc.reason, "detail": exc.text[:200]})
            return
        if self.on_forecast is not None:
            self.on_forecast(msg)

    def _season(self, topic: str, payload: bytes) -> None:
        """The city's heating-season calendar to the controller (which judges it and keeps the
        one it has when it refuses it)."""
        try:
            msg = codec.decode_season(topic, payload)
        except codec.CodecError as exc:
            self.on_event("event", {"kind": "season_rejected", "reason": exc.reason, "detail": exc.text[:200]})
            return
        if self.on_season is not None:
            self.on_season(msg)

    def _rooms(self, topic: str, payload: bytes, now_ts: float) -> None:
        try:
            msg = codec.decode_rooms(topic, payload)
        except codec.CodecError as exc:
            self.on_event("event", {"kind": "rooms_rejected", "reason": exc.reason, "detail": exc.text})
            return
        readings = [{"collector": r["collector"], "group": str(r.get("group", "")), "temp_c": float(r["temp_c"]),
                     "age_s": max(0.0, now_ts - float(r["ts"]))} for r in msg["readings"]]
        self.on_rooms(readings)

    async def say_offline(self) -> None:
        """On a clean shutdown the will is not sent: publish "offline" ourselves (best effort)."""
        client = self._client
        if client is not None and self.connected:
            try:
                await asyncio.wait_for(client.publish(codec.status_topic(self.station_id), codec.STATUS_OFFLINE.encode(),
                                                      qos=1, retain=True), 2.0)
            except (aiomqtt.MqttError, TimeoutError) as exc:
                log.info("could not say offline: %s", exc)
