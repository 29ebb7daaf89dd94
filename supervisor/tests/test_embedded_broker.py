"""The supervisor's embedded default broker through `serve()`: it loses nothing (20 QoS 1 messages
sent back to back, four times over, all stored: the amqtt default delivered 14-16 of 20 in 3 of
4 runs), retained uplinks are refused and cleared, each connection has its own user, and the
broker child does not outlive a killed supervisor."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.main import CredentialError, process_password, serve
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing
from heatkeeper.tools.testing.mqtt_listener import wait_until

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


def _cfg(tmp_path: Any, port: int, **mqtt: Any) -> dict[str, Any]:
    return sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")},
        "broker": {"embedded": True, "port": port, "ingest_processes": 1},
        "mqtt": {"port": port, **mqtt},
        "storage": {"batch_interval_s": 0.05},
        "web": {"enabled": False},
        "station": [{"id": "st-a"}, {"id": "st-b"}],
    })


async def _running(cfg: dict[str, Any]) -> tuple[asyncio.Future[int], SupervisorService]:
    ready: list[SupervisorService] = []
    task = asyncio.ensure_future(serve(cfg, on_ready=ready.append))
    await wait_until(lambda: ready or task.done(), what="supervisor ready")
    if task.done():
        task.result()
    await wait_until(lambda: ready[0].link.connected(), what="supervisor connected")
    await asyncio.sleep(0.3)  # the ingest connection's subscriptions
    return task, ready[0]


def _password(cfg: dict[str, Any], user: str) -> str:
    with open(os.path.join(cfg["supervisor"]["data_dir"], "credentials", user + ".password")) as fh:
        return fh.read().strip()


async def _count(service: SupervisorService, sid: str, n: int) -> bool:
    return bool(await service.storage.count_uplinks(sid) == n)


async def test_twenty_back_to_back_all_stored_through_the_embedded_default(tmp_path: Any) -> None:
    port = free_port()
    cfg = _cfg(tmp_path, port)
    task, service = await _running(cfg)
    try:
        seq = 0
        for _round in range(4):
            async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=_password(cfg, "st-a"),
                                      identifier="st-a", protocol=aiomqtt.ProtocolVersion.V311) as st:
                batch = [codec.encode_uplink("st-a", seq + i, codec.UP_TELEMETRY, time.time(), {"values": {"x": i}})
                         for i in range(1, 21)]
                seq += 20
                await asyncio.gather(*[st.publish(t, p, qos=1) for t, p in batch])  # all PUBACKed
            await wait_until(lambda: _count(service, "st-a", seq), timeout_s=10, what="%d uplinks stored" % seq)
        assert service.ingest.stats()["rejected"] == {}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_retained_uplink_is_refused_and_cleared(tmp_path: Any, protocol: str) -> None:
    """v5: retainAsPublished flags it on live delivery; v3.1.1: the copy a subscription replays
    is flagged (here the supervisor starts after it was parked)."""
    port = free_port()
    out = str(tmp_path / "mq")
    creds = broker_config.write(out, ["st-a", "st-b"], port=port, as_root=os.geteuid() == 0, ingest_processes=1)
    server = MosquittoServer(os.path.join(out, "mosquitto.conf"), port, os.path.join(out, "stdout.log")).start()
    cfg = sup_config.validate({
        "supervisor": {"data_dir": str(tmp_path / "sup")}, "broker": {"embedded": False},
        "mqtt": {"port": port, "protocol": protocol,
                 "password_file": os.path.join(out, "credentials", "supervisor.password")},
        "storage": {"batch_interval_s": 0.05}, "web": {"enabled": False}, "station": [{"id": "st-a"}, {"id": "st-b"}],
    })
    topic, payload = codec.encode_uplink("st-a", 1, codec.UP_TELEMETRY, time.time(), {"values": {"x": 1}})

    async def park() -> None:
        async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"], identifier="st-a") as st:
            await st.publish(topic, payload, qos=1, retain=True)

    task: asyncio.Future[int] | None = None
    try:
        if protocol == "3.1.1":
            await park()
        task, service = await _running(cfg)
        if protocol == "5":
            await park()
        await wait_until(lambda: service.ingest.stats()["rejected"].get("retained") == 1, what="retained refused")
        await asyncio.sleep(0.3)
        assert await service.storage.count_uplinks("st-a") == 0
        assert service.ingest.stats()["rejected"] == {"retained": 1}  # its own clear is not a bad message
        # Nothing is left parked on the broker: a new subscriber gets no retained copy.
        async with aiomqtt.Client("127.0.0.1", port, username="supervisor-ingest-1",
                                  password=creds["supervisor-ingest-1"], identifier="x", clean_session=True) as late:
            await late.subscribe(codec.PREFIX + "stations/+/up/#", qos=1)
            seen: list[bytes] = []
            try:
                async with asyncio.timeout(1.0):
                    async for message in late.messages:
                        seen.append(bytes(message.payload))  # type: ignore[arg-type]
            except TimeoutError:
                pass
        assert seen == []
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        server.stop()


def test_each_supervisor_connection_needs_its_own_credential(tmp_path: Any) -> None:
    out = str(tmp_path / "mq")
    broker_config.write(out, ["st-a"], port=free_port(), as_root=os.geteuid() == 0)
    cfg = sup_config.validate({"broker": {"embedded": False}, "mqtt": {
        "password_file": os.path.join(out, "credentials", "supervisor.password")}})
    assert process_password(cfg, "supervisor-cmd")  # written beside the main one
    with pytest.raises(CredentialError) as err:
        process_password(cfg, "supervisor-ingest-3")
    assert "supervisor-ingest-3" in str(err.value) and "--ingest-processes" in str(err.value)


def test_the_broker_child_dies_with_a_killed_supervisor(tmp_path: Any) -> None:
    port, web_port = free_port(), free_port()
    conf = tmp_path / "supervisor.toml"
    conf.write_text('[supervisor]\ndata_dir = "%s"\n[broker]\nport = %d\n[mqtt]\nport = %d\n[web]\nport = %d\n'
                    '[[station]]\nid = "st-a"\n' % (tmp_path / "data", port, port, web_port))
    log = open(tmp_path / "supervisor.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(conf)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        pid = None
        while pid is None and time.monotonic() < deadline and proc.poll() is None:
            pid = _child_mosquitto(proc.pid)
            time.sleep(0.2)
        assert pid is not None, (tmp_path / "supervisor.log").read_text()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid) and _state(pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists("/proc/%d" % pid) or _state(pid) == "Z", "mosquitto outlived the supervisor"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _child_mosquitto(parent: int) -> int | None:
    try:
        with open("/proc/%d/task/%d/children" % (parent, parent)) as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        return None
    for pid in children:
        try:
            with open("/proc/%d/comm" % pid) as fh:
                if fh.read().strip() == "mosquitto":
                    return pid
        except OSError:
            continue
    return None


def _state(pid: int) -> str:
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


async def test_amqtt_only_without_mosquitto_and_with_a_warning(tmp_path: Any, monkeypatch: Any, caplog: Any) -> None:
    from heatkeeper.supervisor import embedded
    from heatkeeper.supervisor.broker import EmbeddedBroker

    monkeypatch.setattr(embedded, "mosquitto_binary", lambda: None)
    with pytest.raises(embedded.BrokerStartError, match="3.1.1 only"):
        await embedded.start_embedded_broker(_cfg(tmp_path, free_port(), protocol="5"))
    remote = _cfg(tmp_path, free_port())
    remote["broker"].update(host="0.0.0.0", insecure_plaintext=True)
    with pytest.raises(embedded.BrokerStartError, match="serves this host only"):
        await embedded.start_embedded_broker(remote)
    broker, creds = await embedded.start_embedded_broker(_cfg(tmp_path, free_port()))
    try:
        assert isinstance(broker, EmbeddedBroker)
        assert {"supervisor", "supervisor-cmd", "supervisor-ingest-1", "st-a", "st-b"} <= set(creds)
        assert any("falls back to amqtt" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    finally:
        await broker.stop()


async def test_embedded_tls_listener_for_remote_stations(tmp_path: Any) -> None:
    """With broker.tls_*, remote stations get a TLS listener on broker.host and the plain one
    stays on loopback (for the supervisor itself)."""
    import ssl

    from heatkeeper.supervisor.embedded import EmbeddedMosquitto, mosquitto_binary
    from heatkeeper.tools.testing.pki import make_test_pki

    pki = make_test_pki(str(tmp_path / "pki"))
    port, tls_port = free_port(), free_port()
    cfg = sup_config.validate({"supervisor": {"data_dir": str(tmp_path / "sup")},
                               "broker": {"embedded": True, "host": "0.0.0.0", "port": port, "tls_port": tls_port,
                                          "tls_ca": pki["ca"], "tls_cert": pki["cert"], "tls_key": pki["key"]},
                               "mqtt": {"port": port}, "station": [{"id": "st-a"}]})
    broker = EmbeddedMosquitto(str(mosquitto_binary()), cfg)
    assert "listener %d 127.0.0.1\n" % port in open(broker.conf).read()
    await broker.start()
    try:
        async with aiomqtt.Client("localhost", tls_port, username="st-a", password=broker.passwords["st-a"],
                                  identifier="st-a", tls_context=ssl.create_default_context(cafile=pki["ca"])) as st:
            await st.publish(codec.status_topic("st-a"), b"online", qos=1)
        with pytest.raises(aiomqtt.MqttError):  # the TLS listener speaks only TLS
            async with aiomqtt.Client("127.0.0.1", tls_port, username="st-a", password=broker.passwords["st-a"],
                                      identifier="st-a", timeout=3):
                pass
    finally:
        await broker.stop()


def test_ingest_only_beside_the_embedded_broker_finds_its_credential(tmp_path: Any) -> None:
    cfg = _cfg(tmp_path, free_port())
    folder = tmp_path / "sup" / "credentials"
    folder.mkdir(parents=True)
    (folder / "supervisor-ingest-1.password").write_text("s3cret\n")
    assert process_password(cfg, "supervisor-ingest-1") == "s3cret"
    with pytest.raises(CredentialError, match="supervisor-ingest-2"):
        process_password(cfg, "supervisor-ingest-2")


def test_a_broker_that_cannot_start_stops_the_supervisor_with_its_log(tmp_path: Any) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = tmp_path / "supervisor.toml"
        conf.write_text('[supervisor]\ndata_dir = "%s"\n[broker]\nport = %d\n[mqtt]\nport = %d\n[web]\nenabled = false\n'
                        % (tmp_path / "data", port, port))
        res = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(conf)],
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "embedded Mosquitto on 127.0.0.1:%d did not start" % port in res.stderr
    assert "Address already in use" in res.stderr
