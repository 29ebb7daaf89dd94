"""Per-station credentials, broker ACL refusals and TLS against a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

import pytest
from heatkeeper.core import codec
from heatkeeper.firmware.outbox import Outbox
from heatkeeper.tools.testing.mosquitto import Mosquitto
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until
from heatkeeper.tools.testing.pki import make_test_pki

from .test_uplink import make_uplink, mqtt_cfg

ACL = """user supervisor
topic read heatkeeper/v1/#
topic write heatkeeper/v1/stations/+/down/#

pattern write heatkeeper/v1/stations/%u/status
pattern write heatkeeper/v1/stations/%u/up/event
pattern read heatkeeper/v1/stations/%u/down/#
"""


@contextlib.asynccontextmanager
async def running(link):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(link.run())
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_password_file_acl_refusal_kept_and_alarmed(tmp_path) -> None:
    broker = Mosquitto(str(tmp_path / "broker"), users={"st-9": "s3cret", "supervisor": "sup"}, acl=ACL)
    broker.start()
    try:
        pw = tmp_path / "st-9.password"
        pw.write_text("s3cret\n")
        box = Outbox(str(tmp_path / "o.sqlite"), "st-9")
        events: list = []
        link = make_uplink(box, mqtt_cfg(broker.port, username="st-9", password_file=str(pw)), events)
        async with Listener(broker.port, codec.PREFIX + "stations/st-9/#", identifier="sup",
                            username="supervisor", password="sup") as listener, running(link):
            box.put("event", {"kind": "hello"}, 1.0)
            link.wake()
            await wait_until(lambda: listener.uplinks("event"), what="allowed event delivered")
            # the ACL does not let this station write telemetry: PUBACK "Not authorized"
            box.put("telemetry", {"values": {"x": 1.0}}, 2.0)
            link.wake()
            await wait_until(lambda: link.refused >= 1, what="refusal noticed")
            assert len(box) == 1, "a refused message must stay in the outbox"
            assert any(k == "alarm" and b.get("code") == "uplink_refused" for k, b in events)
            assert not listener.uplinks("telemetry")
    finally:
        broker.stop()


async def test_wrong_password_never_connects_and_keeps_everything(tmp_path) -> None:
    broker = Mosquitto(str(tmp_path / "broker"), users={"st-9": "s3cret"})
    broker.start()
    try:
        pw = tmp_path / "st-9.password"
        pw.write_text("wrong\n")
        box = Outbox(str(tmp_path / "o.sqlite"), "st-9")
        link = make_uplink(box, mqtt_cfg(broker.port, username="st-9", password_file=str(pw)), [])
        async with running(link):
            box.put("event", {"kind": "hello"}, 1.0)
            await asyncio.sleep(1.0)
            assert not link.connected and link.connects == 0
            assert "authori" in link.last_error.lower() or "password" in link.last_error.lower(), link.last_error
            assert len(box) == 1
    finally:
        broker.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make a test CA")
async def test_tls_with_station_ca(tmp_path) -> None:
    pki = make_test_pki(str(tmp_path / "pki"))
    broker = Mosquitto(str(tmp_path / "broker"), tls=pki)
    broker.start()
    try:
        box = Outbox(str(tmp_path / "o.sqlite"), "st-tls")
        link = make_uplink(box, mqtt_cfg(broker.tls_port, tls_ca=pki["ca"]), [])
        async with Listener(broker.port, codec.PREFIX + "stations/st-tls/#", identifier="sup") as listener, running(link):
            box.put("event", {"kind": "over-tls"}, 1.0)
            link.wake()
            await wait_until(lambda: listener.uplinks("event"), what="event over TLS")
            assert len(box) == 0
        # a station that does not trust the broker's CA refuses to talk
        untrusting = make_uplink(Outbox(str(tmp_path / "o2.sqlite"), "st-tls2"),
                                 mqtt_cfg(broker.tls_port, tls_ca=str(tmp_path / "pki" / "server.crt")), [])
        async with running(untrusting):
            await asyncio.sleep(1.0)
            assert untrusting.connects == 0 and "certificate" in untrusting.last_error.lower(), untrusting.last_error
    finally:
        broker.stop()
