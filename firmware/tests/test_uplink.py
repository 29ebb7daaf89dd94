"""Uplink against a real Mosquitto: exactly-once-in-order drain across broker kills, status/will."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from heatkeeper.core import codec
from heatkeeper.firmware.config import MqttSection
from heatkeeper.firmware.outbox import Outbox
from heatkeeper.firmware.tasks import cancel_and_wait
from heatkeeper.firmware.uplink import CommandGate, RecentAcks, Uplink
from heatkeeper.tools.testing.mosquitto import Mosquitto
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until


def mqtt_cfg(port: int, **over: object) -> MqttSection:
    values: dict = dict(enabled=True, host="127.0.0.1", port=port, protocol="5", username="", password_file="", tls_ca="",
                        tls_cert="", tls_key="", keepalive_s=5, session_expiry_s=3600, reconnect_min_s=0.1,
                        reconnect_max_s=0.5, publish_timeout_s=5.0, max_command_ttl_s=3600.0, command_users=(),
                        require_subscriber=True)
    values.update(over)
    return MqttSection(**values)


def no_commands(request: dict) -> dict:
    return {"result": "rejected", "reason": "no_controller", "detail": "this test link applies nothing"}


def make_uplink(box: Outbox, cfg: MqttSection, events: list) -> Uplink:
    gate = CommandGate(box.station_id, no_commands, cfg, RecentAcks())
    return Uplink(box.station_id, cfg, box, gate, lambda readings: None, lambda kind, body: events.append((kind, body)))


def check_exactly_once_in_order(listener: Listener, expected: int) -> dict:
    first: dict[int, bytes] = {}
    order: list[int] = []
    duplicates = 0
    for seq, payload in listener.raw_uplinks():
        if seq in first:
            assert first[seq] == payload, "seq %d resent with different content" % seq
            duplicates += 1
            continue
        first[seq] = payload
        order.append(seq)
    assert order == list(range(1, expected + 1)), "missing or out of order: %s" % sorted(set(range(1, expected + 1)) - set(first))
    return {"distinct": len(order), "duplicates": duplicates}


async def test_outbox_drains_exactly_once_in_order_across_broker_kill(tmp_path, mosquitto) -> None:
    box = Outbox(str(tmp_path / "outbox.sqlite"), "st-1")
    events: list = []
    link = make_uplink(box, mqtt_cfg(mosquitto.port), events)
    async with Listener(mosquitto.port, codec.up_topic("st-1", "+")) as listener:
        task = asyncio.create_task(link.run())
        try:
            box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(100)])
            link.wake()
            await wait_until(lambda: len(box) == 0 and len(listener.raw_uplinks()) >= 100, what="first drain")
            mosquitto.kill()
            await wait_until(lambda: not link.connected, what="link notices the broker is gone")
            # the station keeps producing during the outage: nothing is lost, nothing sent
            box.put_many([("event", {"kind": "e", "i": i}, float(i)) for i in range(100)])
            link.wake()
            await asyncio.sleep(1.0)
            assert len(box) == 100
            mosquitto.start()
            await wait_until(lambda: len(box) == 0, what="drain after the outage")
            await wait_until(lambda: len({s for s, _p in listener.raw_uplinks()}) >= 200, what="listener caught up")
            # a kill in the middle of a large backlog drain
            box.put_many([("telemetry", {"values": {"i": i}}, float(i)) for i in range(1000)])
            link.wake()
            await wait_until(lambda: len(box) < 850, what="backlog drain started")
            mosquitto.kill()
            await asyncio.sleep(0.5)
            mosquitto.start()
            await wait_until(lambda: len(box) == 0, timeout_s=60, what="backlog drained")
            await wait_until(lambda: len({s for s, _p in listener.raw_uplinks()}) >= 1200, timeout_s=30,
                             what="listener got the whole backlog")
            report = check_exactly_once_in_order(listener, 1200)
            assert report["distinct"] == 1200
            print("exactly-once report:", report)
            kinds = [k for k, b in events if k == "event"]
            assert any(b.get("kind") == "uplink_lost" for _k, b in events) and kinds
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_status_online_retained_then_offline_on_clean_stop(tmp_path, mosquitto) -> None:
    """The will ("offline" on SIGKILL) is checked with a real station process in test_station_process."""
    box = Outbox(str(tmp_path / "outbox.sqlite"), "st-2")
    link = make_uplink(box, mqtt_cfg(mosquitto.port), [])
    task = asyncio.create_task(link.run())
    try:
        await wait_until(lambda: link.connected, what="connect")
        await asyncio.sleep(0.3)
        async with Listener(mosquitto.port, codec.status_topic("st-2"), identifier="status-1") as listener:
            await wait_until(lambda: listener.messages, what="retained status")
            assert listener.messages[0] == (codec.status_topic("st-2"), b"online", True)
            await link.say_offline()
            await wait_until(lambda: len(listener.messages) > 1, what="offline")
            assert listener.messages[-1][1] == b"offline"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_no_subscriber_keeps_messages_until_one_subscribes(tmp_path, mosquitto) -> None:
    """PUBACK 0x10 (no matching subscribers): the broker would drop it, so the outbox keeps it."""
    box = Outbox(str(tmp_path / "outbox.sqlite"), "st-3")
    events: list = []
    link = make_uplink(box, mqtt_cfg(mosquitto.port), events)
    task = asyncio.create_task(link.run())
    try:
        box.put_many([("event", {"kind": "e", "i": i}, float(i)) for i in range(50)])
        link.wake()
        await wait_until(lambda: link.unheard_waits >= 2, what="the link noticing nobody listens")
        assert len(box) >= 50
        assert any(b.get("kind") == "uplink_no_subscriber" for _k, b in events)
        async with Listener(mosquitto.port, codec.up_topic("st-3", "+"), identifier="late-sup") as listener:
            await wait_until(lambda: len(box) == 0, what="drain once a subscriber exists")
            await wait_until(lambda: len(listener.uplinks()) >= 50, what="listener")
            seqs = [m["seq"] for m in listener.uplinks()]
            assert seqs[:50] == list(range(1, 51))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_storage_error_on_acknowledge_the_link_reconnects_and_delivers(tmp_path, mosquitto) -> None:
    """The disk fails once while sent messages are deleted (Outbox.acknowledge raises
    StorageError, as on EIO or a full disk): the link is not lost for good; it reconnects, sends
    the unacknowledged messages again (same seqs) and then everything that follows."""
    from heatkeeper.firmware.errors import StorageError

    box = Outbox(str(tmp_path / "outbox.sqlite"), "st-4")
    events: list = []
    faults: list = []
    link = make_uplink(box, mqtt_cfg(mosquitto.port), events)
    link.on_storage_fault = faults.append
    real_acknowledge = box.acknowledge
    failures = [StorageError("outbox %s: disk I/O error (injected)" % box.path)]

    def acknowledge_failing_once(seqs: list[int], keep_s: float = 0.0, now_ts: float | None = None) -> None:
        if failures and seqs:
            raise failures.pop()
        real_acknowledge(seqs, keep_s, now_ts)

    box.acknowledge = acknowledge_failing_once  # type: ignore[method-assign]
    async with Listener(mosquitto.port, codec.up_topic("st-4", "+"), identifier="sup-4") as listener:
        task = asyncio.create_task(link.run())
        try:
            box.put_many([("event", {"kind": "e", "i": i}, float(i)) for i in range(6)])
            link.wake()
            await wait_until(lambda: not failures, what="the injected storage error")
            await wait_until(lambda: link.connects >= 2, what="a reconnect after the storage error")
            assert not task.done(), task
            box.put_many([("alarm", {"code": "secondary_overtemp", "state": "active"}, 7.0)])
            link.wake()
            await wait_until(lambda: len(box) == 0, what="everything delivered and deleted")
            await wait_until(lambda: {m["seq"] for m in listener.uplinks()} >= set(range(1, 8)), what="all 7 seqs")
            assert link.internal_errors == 1 and len(faults) == 1 and isinstance(faults[0], StorageError)
            assert "StorageError" in link.last_error
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class PowerCutRig:
    """A broker that saves every 30 s (the periodic autosave of a production broker, not on
    changes), with the supervisor's persistent session saved and the supervisor away, and one
    station's outbox and link on it."""

    def __init__(self, tmp_path: Any, station: str, **cfg: object) -> None:
        self.broker = Mosquitto(str(tmp_path / "broker"), long_running=True)
        self.path, self.station, self.cfg = str(tmp_path / "outbox.sqlite"), station, cfg
        self.box: Outbox | None = None
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> PowerCutRig:
        self.broker.start()
        async with Listener(self.broker.port, codec.up_topic(self.station, "+"), identifier="sup-" + self.station):
            pass  # the supervisor's persistent session exists, then it is away
        self.broker.stop()  # a clean stop saves the session; the broker's next save is 30 s after this start
        self.broker.start()
        self.start_station()
        return self

    def start_station(self) -> None:
        self.box = Outbox(self.path, self.station)
        self.link = make_uplink(self.box, mqtt_cfg(self.broker.port, **self.cfg), [])
        self.task = asyncio.create_task(self.link.run())

    async def stop_station(self) -> None:
        if self.task is not None:
            await cancel_and_wait([self.task])
            self.task = None
        if self.box is not None:
            self.box.close()

    async def send(self, kind: str, count: int, timeout_s: float = 10.0, **extra: object) -> None:
        """`count` events put in the outbox and acknowledged by the broker (not yet saved by it)."""
        assert self.box is not None
        box = self.box
        box.put_many([("event", {"kind": kind, "i": i, **extra}, float(i)) for i in range(count)])
        self.link.wake()
        await wait_until(lambda: len(box) == 0, what="%d %s acknowledged" % (count, kind), timeout_s=timeout_s)

    async def cut_power(self) -> None:
        self.broker.kill()  # the power cut: nothing saved since the broker's start
        await wait_until(lambda: not self.link.connected, what="the link notices")

    async def supervisor_session(self, expected: int) -> list[int]:
        """The seqs the supervisor's persistent session holds, in order."""
        async with Listener(self.broker.port, codec.up_topic(self.station, "+"),
                            identifier="sup-" + self.station) as listener:
            await wait_until(lambda: len(listener.raw_uplinks()) >= expected, what="the supervisor's queue")
            await asyncio.sleep(0.5)
            return [seq for seq, _p in listener.raw_uplinks()]

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_station()
        self.broker.stop()


async def test_what_a_broker_lost_in_a_power_cut_is_sent_again(tmp_path) -> None:
    """The broker acknowledges messages for the away supervisor and loses power (SIGKILL) before
    its next save. After the reconnect the link sends what the broker acknowledged in
    `resend_after_reconnect_s` before the drop again, and the supervisor's session gets every
    one; what was acknowledged earlier than that is not sent again."""
    async with PowerCutRig(tmp_path, "st-9", resend_after_reconnect_s=2.0) as rig:
        await rig.send("early", 10)  # seqs 1-10
        await asyncio.sleep(3.0)  # older than resend_after_reconnect_s at the drop
        await rig.send("late", 20)  # seqs 11-30
        await rig.cut_power()
        rig.broker.start()
        await wait_until(lambda: rig.link.resent == 20, what="the resend after the reconnect")
        # the late twenty, once each; the early ten were older
        assert await rig.supervisor_session(20) == list(range(11, 31))


async def test_a_station_restarted_while_the_broker_was_down_sends_what_it_lost_again(tmp_path) -> None:
    """The acknowledged copies are on disk: a station that stops (its own power cut, an update)
    while the broker is down, or after the broker lost power, sends them again when it starts."""
    async with PowerCutRig(tmp_path, "st-r") as rig:
        await rig.send("before", 15)  # seqs 1-15
        await rig.cut_power()
        await rig.stop_station()  # the station stops during the outage ...
        rig.start_station()  # ... and starts again
        assert rig.box is not None and len(rig.box) == 0 and rig.box.kept == 15
        rig.broker.start()
        await wait_until(lambda: rig.link.resent == 15, what="the resend after the start")
        assert await rig.supervisor_session(15) == list(range(1, 16))


async def test_a_backlog_drained_just_before_a_power_cut_is_sent_again_whole(tmp_path) -> None:
    """After an outage a station drains its backlog at hundreds of messages a second; a broker
    that loses power again soon after (power restored, then cut again) loses all of it. Every
    message of the drain is sent again: 400 telemetry-sized records, 1.8 MB."""
    async with PowerCutRig(tmp_path, "st-d") as rig:
        pad = "x" * 4500  # a telemetry record is about 4.6 kB
        await rig.send("backlog", 400, timeout_s=60.0, pad=pad)
        assert rig.box is not None and rig.box.kept == 400
        await rig.cut_power()
        rig.broker.start()
        await wait_until(lambda: rig.link.resent == 400, what="the resend after the reconnect", timeout_s=60.0)
        assert await rig.supervisor_session(400) == list(range(1, 401))


async def test_a_broker_host_that_goes_silent_gets_what_it_acknowledged_before(tmp_path) -> None:
    """A broker host that loses power sends no reset: the station notices only when its keepalive
    goes unanswered, later than `resend_after_reconnect_s` after the last PUBACK here. The span
    ends at that last PUBACK, not at the drop, so what the broker acknowledged (and never saved)
    is sent again."""
    async with PowerCutRig(tmp_path, "st-s", resend_after_reconnect_s=2.0, keepalive_s=5) as rig:
        await rig.send("before", 10)  # seqs 1-10
        assert rig.broker.process is not None
        rig.broker.process.kill(signal.SIGSTOP)  # the host is gone: no reset, no PINGRESP
        await wait_until(lambda: not rig.link.connected, what="the keepalive notices", timeout_s=30.0)
        rig.broker.kill()  # nothing saved since the broker's start
        rig.broker.start()
        await wait_until(lambda: rig.link.resent == 10, what="the resend after the reconnect")
        assert await rig.supervisor_session(10) == list(range(1, 11))


async def test_what_was_sent_again_is_sent_again_after_a_second_power_cut(tmp_path) -> None:
    """Power restored, the resend acknowledged by a broker that has not saved it yet, and the power
    cut again: the resent messages count as acknowledged at the resend, so the second reconnect
    sends them once more, however long the first outage was."""
    async with PowerCutRig(tmp_path, "st-2", resend_after_reconnect_s=2.0) as rig:
        await rig.send("before", 10)  # seqs 1-10
        await rig.cut_power()
        await asyncio.sleep(3.0)  # an outage longer than resend_after_reconnect_s
        rig.broker.start()
        await wait_until(lambda: rig.link.resent == 10, what="the first resend")
        await rig.cut_power()  # before the restarted broker's first save
        rig.broker.start()
        await wait_until(lambda: rig.link.resent == 20, what="the second resend")
        assert await rig.supervisor_session(10) == list(range(1, 11))
