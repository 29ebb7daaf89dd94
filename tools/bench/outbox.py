"""`heatkeeper bench outbox [--messages N]`: the station outbox's insert and drain rates.

Prints, measured side by side in one run: insert rates with synchronous FULL vs NORMAL (one
message per transaction, as a station commits at most once per cycle, and 100 per
transaction), and the drain through a real Mosquitto on loopback (publish QoS 1, a window in
flight, PUBACK then acknowledge), when `mosquitto` is installed: its rate and the bytes this
process wrote to the disk (Linux's /proc/self/io `write_bytes`: the outbox's file and WAL, what
wears a station's card; the kept messages' later delete and the closing checkpoint included),
with the acknowledged messages deleted at once (`resend_after_reconnect_s = 0`) and kept for a
resend (120 s, the default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time

from heatkeeper.firmware.config import MqttSection
from heatkeeper.firmware.outbox import Outbox
from heatkeeper.firmware.uplink import CommandGate, RecentAcks, Uplink

BODY = {"values": {"supply_temp_c": 55.25, "return_temp_c": 40.5, "valve_cmd_pct": 37.0, "outdoor_temp_c": -8.0}}


def insert_rate(folder: str, sync: str, n: int, per_txn: int) -> float:
    box = Outbox(os.path.join(folder, "o-%s-%d.sqlite" % (sync, per_txn)), "bench", max_messages=10 * n, synchronous=sync)
    t0 = time.perf_counter()
    for i in range(0, n, per_txn):
        box.put_many([("telemetry", BODY, float(i + j)) for j in range(per_txn)])
    dt = time.perf_counter() - t0
    box.close()
    return n / dt


def written_bytes() -> int:
    """Bytes this process has caused to be written to storage (0 where /proc/self/io is missing)."""
    try:
        with open("/proc/self/io", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def drain_rate(folder: str, n: int, keep_s: float = 120.0) -> tuple[float, int, int] | None:
    from heatkeeper.tools.testing.mosquitto import Mosquitto, mosquitto_missing
    from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until

    if mosquitto_missing():
        return None

    broker = Mosquitto(os.path.join(folder, "broker"))
    broker.start()
    try:
        cfg = MqttSection(enabled=True, host="127.0.0.1", port=broker.port, protocol="5", username="", password_file="", tls_ca="",
                          tls_cert="", tls_key="", keepalive_s=20, session_expiry_s=3600, reconnect_min_s=0.1,
                          reconnect_max_s=1.0, publish_timeout_s=10.0, max_command_ttl_s=3600.0, command_users=(),
                          require_subscriber=True, resend_after_reconnect_s=keep_s)
        box = Outbox(os.path.join(folder, "drain-%g.sqlite" % keep_s), "bench", max_messages=10 * n)
        box.put_many([("telemetry", BODY, float(i)) for i in range(n)])
        gate = CommandGate("bench", lambda r: {"result": "rejected", "reason": "bench", "detail": ""}, cfg, RecentAcks())
        link = Uplink("bench", cfg, box, gate, lambda readings: None, lambda kind, body: None)
        async with Listener(broker.port, "heatkeeper/v1/stations/bench/up/+", identifier="bench-sup") as listener:
            t0 = time.perf_counter()
            w0 = written_bytes()
            task = asyncio.create_task(link.run())
            await wait_until(lambda: len(box) == 0, timeout_s=600, what="drain")
            dt = time.perf_counter() - t0
            await wait_until(lambda: len(listener.messages) >= n, timeout_s=60, what="listener")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            box.forget_kept()  # the range delete that comes keep_s later (nothing kept with 0)
            box.close()  # the checkpoint writes the WAL's pages into the file
            return n / dt, len(listener.messages), written_bytes() - w0
    finally:
        broker.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=2000, help="messages per measurement (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Run and print the figures."""
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="hk-outbox-bench-") as folder:
        print("outbox insert, %d messages of %d bytes (folder %s)" % (n, len(str(BODY)), folder))
        rates = {}
        for sync in ("full", "normal"):
            for per_txn in (1, 100):
                rates[(sync, per_txn)] = insert_rate(folder, sync, n, per_txn)
                print("  synchronous=%-6s %3d msg/transaction: %9.0f msg/s" % (sync, per_txn, rates[(sync, per_txn)]))
        print("  ratio normal/full, 1 msg/transaction: %.1fx" % (rates[("normal", 1)] / rates[("full", 1)]))
        for keep_s, how in ((0.0, "deleted at the PUBACK"), (120.0, "kept 120 s for a resend")):
            result = asyncio.run(drain_rate(folder, n, keep_s))
            if result is None:
                print("drain: mosquitto not installed, skipped")
                break
            print("drain through Mosquitto (QoS 1), acknowledged messages %s: %.0f msg/s, %d received by the "
                  "listener, %.2f MB written to the disk by the station side" % (how, result[0], result[1], result[2] / 1e6))
    return 0


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - `python -m heatkeeper.tools.bench.outbox`
    parser = argparse.ArgumentParser(prog="heatkeeper bench outbox", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
