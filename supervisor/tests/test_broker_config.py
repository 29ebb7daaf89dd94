"""`heatkeeper broker-config` against a real Mosquitto: the password file is accepted, bad
passwords refused, and the ACL really confines each station. ACL denials are silent, so the
checks subscribe as the supervisor (or the other station) and see that nothing arrives."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
from typing import Any

import aiomqtt
import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import broker_config
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import MosquittoServer, mosquitto_missing

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


def test_cli_rejects_bad_stations(tmp_path: Any, capsys: Any) -> None:
    parser = argparse.ArgumentParser()
    broker_config.add_arguments(parser)
    args = parser.parse_args(["--stations", "ok-1,bad/id,supervisor,ok-1", "--out", str(tmp_path)])
    assert broker_config.run(args) == 2
    err = capsys.readouterr().err
    assert "bad/id" in err and "reserved" in err and "repeat" in err
    assert not os.path.exists(tmp_path / "mosquitto.conf")


def test_hash_format_is_stable() -> None:
    h = broker_config.mosquitto_hash("secret", salt=b"0123456789ab")
    assert h.startswith("$7$101$") and h == broker_config.mosquitto_hash("secret", salt=b"0123456789ab")


async def _collect(client: aiomqtt.Client, into: list[tuple[str, bytes]], stop: asyncio.Event) -> None:
    async for message in client.messages:
        into.append((message.topic.value, bytes(message.payload)))  # type: ignore[arg-type]
        if message.topic.value.endswith("/marker") or b"marker" in bytes(message.payload):  # type: ignore[arg-type]
            stop.set()


async def test_mosquitto_acl_confines_stations(tmp_path: Any) -> None:
    port = free_port()
    out = str(tmp_path / "mq")
    creds = broker_config.write(out, ["st-a", "st-b"], port=port, as_root=os.geteuid() == 0)
    text = open(os.path.join(out, "mosquitto.conf")).read()
    for line in ("per_listener_settings false", "allow_anonymous false", "persistence true"):
        assert line in text
    server = MosquittoServer(os.path.join(out, "mosquitto.conf"), port, os.path.join(out, "stdout.log")).start()
    try:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, username="st-a", password="wrong", identifier="x1"):
                pass
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, identifier="anon"):
                pass
        sup_seen: list[tuple[str, bytes]] = []
        b_seen: list[tuple[str, bytes]] = []
        sup_done, b_done = asyncio.Event(), asyncio.Event()
        async with aiomqtt.Client("127.0.0.1", port, username="supervisor", password=creds["supervisor"],
                                  identifier="sup", protocol=aiomqtt.ProtocolVersion.V5) as sup, \
                aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"], identifier="st-a") as sa, \
                aiomqtt.Client("127.0.0.1", port, username="st-b", password=creds["st-b"], identifier="st-b") as sb:
            await sup.subscribe("heatkeeper/v1/#", qos=1)
            await sb.subscribe(codec.PREFIX + "stations/st-b/down/#", qos=1)
            # st-a tries to read st-b's commands: the SUBACK says granted, nothing will arrive
            await sa.subscribe(codec.PREFIX + "stations/st-b/down/#", qos=1)
            a_seen: list[tuple[str, bytes]] = []
            a_done = asyncio.Event()
            tasks = [asyncio.ensure_future(_collect(sup, sup_seen, sup_done)),
                     asyncio.ensure_future(_collect(sb, b_seen, b_done)),
                     asyncio.ensure_future(_collect(sa, a_seen, a_done))]
            # spoofs by st-a: as st-b on uplink and status, a command to st-b, a collector reading
            spoof_topic, spoof = codec.encode_uplink("st-b", 1, codec.UP_TELEMETRY, 1.0, {"values": {}})
            await sa.publish(spoof_topic, spoof, qos=1)
            await sa.publish(codec.status_topic("st-b"), b"offline", qos=1, retain=True)
            await sa.publish(codec.command_topic("st-b"), b"spoofed-command", qos=1)
            await sa.publish(codec.collector_topic("c1"), b"spoofed-reading", qos=1)
            # st-a's own message, then the supervisor's command to st-b (markers)
            own_topic, own = codec.encode_uplink("st-a", 1, codec.UP_TELEMETRY, 1.0, {"values": {"marker": 1}})
            await sa.publish(own_topic, own, qos=1)
            await asyncio.wait_for(sup_done.wait(), 5)
            await sup.publish(codec.command_topic("st-b"), b"real-command marker", qos=1)
            await asyncio.wait_for(b_done.wait(), 5)
            await asyncio.sleep(0.3)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        topics = [t for t, _p in sup_seen]
        assert own_topic in topics
        assert spoof_topic not in topics and codec.status_topic("st-b") not in topics
        assert codec.collector_topic("c1") not in topics
        assert all(p != b"spoofed-command" for _t, p in sup_seen + b_seen)
        assert [p for _t, p in b_seen] == [b"real-command marker"]
        assert a_seen == []
    finally:
        server.stop()


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    broker_config.add_arguments(parser)
    return broker_config.run(parser.parse_args(argv))


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "::"])
def test_plaintext_off_loopback_needs_insecure_plaintext(tmp_path: Any, capsys: Any, bind: str) -> None:
    out = tmp_path / "mq"
    assert _run_cli(["--stations", "st-a", "--out", str(out), "--bind", bind]) == 2
    err = capsys.readouterr().err
    assert "--bind=%r: a plaintext listener off loopback" % bind in err and "--insecure-plaintext" in err
    assert not os.path.exists(out / "mosquitto.conf")
    assert _run_cli(["--stations", "st-a", "--out", str(out), "--bind", bind, "--insecure-plaintext"]) == 0
    assert "listener 1883 %s\n" % bind in (out / "mosquitto.conf").read_text()


def test_limits_and_bound_client_ids_in_the_config(tmp_path: Any) -> None:
    broker_config.write(str(tmp_path), ["st-a"], tls=("/ca", "/cert", "/key"))
    text = (tmp_path / "mosquitto.conf").read_text()
    listeners = text.split("\nlistener ")[1:]
    assert len(listeners) == 2 and all("use_username_as_clientid true" in block for block in listeners)
    for line in ("max_packet_size %d" % broker_config.MAX_PACKET_BYTES, "max_queued_messages 1000000",
                 "max_queued_bytes %d" % (1024 << 20), "memory_limit %d" % (4096 << 20)):
        assert line + "\n" in text, line


@pytest.mark.skipif(os.geteuid() != 0, reason="the printed command drops privileges only when run as root")
def test_the_printed_command_works_as_root(capsys: Any) -> None:
    """Run as root, Mosquitto drops to user `mosquitto`: it must still read passwd and acl and
    write its log and data. Run exactly the command broker-config prints."""
    import pwd
    import shlex
    import subprocess
    import tempfile
    import time

    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no `mosquitto` system user")
    base = tempfile.mkdtemp(prefix="hk-brokercfg-")  # pytest's tmp_path is 0700: a note, tested below
    os.chmod(base, 0o755)
    port = free_port()
    try:
        assert _run_cli(["--stations", "st-a", "--out", os.path.join(base, "mq"), "--port", str(port)]) == 0
        printed = capsys.readouterr().out
        assert "note:" not in printed, printed
        command = next(line[len("run: "):] for line in printed.splitlines() if line.startswith("run: "))
        assert "user mosquitto\n" in open(os.path.join(base, "mq", "mosquitto.conf")).read()
        proc = subprocess.Popen(shlex.split(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin"))
        try:
            from heatkeeper.tools.procs import wait_port

            if not wait_port("127.0.0.1", port, 10.0, proc):
                proc.kill()
                raise AssertionError(proc.communicate(timeout=5)[0].decode()[-2000:])
            creds = {u: open(os.path.join(base, "mq", "credentials", u + ".password")).read().strip()
                     for u in ("supervisor", "st-a")}

            async def round_trip() -> list[bytes]:
                async with aiomqtt.Client("127.0.0.1", port, username="supervisor", password=creds["supervisor"],
                                          identifier="supervisor") as sup:
                    await sup.subscribe(codec.PREFIX + "stations/+/up/telemetry", qos=1)
                    async with aiomqtt.Client("127.0.0.1", port, username="st-a", password=creds["st-a"],
                                              identifier="st-a") as st:
                        await st.publish(codec.up_topic("st-a", codec.UP_TELEMETRY), b"hello", qos=1)
                    async with asyncio.timeout(5):
                        async for message in sup.messages:
                            return [bytes(message.payload)]  # type: ignore[arg-type]
                return []

            assert asyncio.run(round_trip()) == [b"hello"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not os.path.exists(os.path.join(base, "mq", "data", "mosquitto.db")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.exists(os.path.join(base, "mq", "data", "mosquitto.db"))  # written as user mosquitto
        assert "New client connected" in open(os.path.join(base, "mq", "mosquitto.log")).read()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="checks files another user must read")
def test_unreachable_folder_is_named(tmp_path: Any, capsys: Any) -> None:
    import pwd

    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no `mosquitto` system user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    assert _run_cli(["--stations", "st-a", "--out", str(locked / "mq")]) == 0
    out = capsys.readouterr().out
    assert "note: user mosquitto cannot enter %s" % locked in out


def test_collector_platforms_from_the_command_line(tmp_path: Any, capsys: Any) -> None:
    csv_path = tmp_path / "collectors.csv"
    csv_path.write_text("id,station,group\na-101,st-a,top\na-102,st-a,edge\nb-201,st-b,top\n")
    out = tmp_path / "mq"
    assert _run_cli(["--stations", "st-a,st-b", "--out", str(out), "--collectors-file", str(csv_path),
                     "--collector-platform", "rooms-a=a-", "--collector-platform", "rooms-b=b-"]) == 0
    acl = (out / "acl").read_text()
    block = acl.split("user rooms-a\n")[1].split("\n\n")[0]
    assert block.splitlines() == ["topic write " + codec.collector_topic(c) for c in ("a-101", "a-102")]
    assert "collectors/+" not in acl and "user collectors" not in acl
    assert sorted(os.listdir(out / "credentials")) == sorted(
        u + ".password" for u in ("supervisor", "supervisor-cmd", "rooms-a", "rooms-b", "st-a", "st-b"))
    assert _run_cli(["--stations", "st-a", "--out", str(tmp_path / "x"), "--collectors", "a-1",
                     "--collector-platform", "rooms-z=zz-", "--collector-platform", "st-a=a-",
                     "--collector-platform", "nothing"]) == 2
    err = capsys.readouterr().err
    for expected in ("'rooms-z' prefix 'zz-': matches none", "user 'st-a': already a station",
                     "--collector-platform='nothing': must be USER=PREFIX"):
        assert expected in err, expected


@pytest.mark.parametrize("content, name, reason", [
    (b"id\na-1\xe4\n", "collectors.csv", "cannot read (not UTF-8 text)"),
    (b'id\n"' + b"a" * 140000 + b'"\n', "collectors.csv", "line 2: not CSV (field larger than field limit"),
    (b"id\na-1\n", "coll\x00ectors.csv", "cannot read (not a file name)"),
])
def test_a_collectors_file_that_cannot_be_read_is_a_problem_not_a_crash(tmp_path: Any, capsys: Any, content: bytes,
                                                                         name: str, reason: str) -> None:
    # before: each of these raised out of broker-config (UnicodeDecodeError, csv.Error, ValueError)
    (tmp_path / "collectors.csv").write_bytes(content)
    out = tmp_path / "mq"
    assert _run_cli(["--stations", "st-a", "--out", str(out), "--collectors-file", str(tmp_path / name),
                     "--collector-platform", "rooms-a=a-"]) == 2
    err = capsys.readouterr().err
    assert "--collectors-file=" in err and reason in err, err
    assert not os.path.exists(out / "mosquitto.conf")
