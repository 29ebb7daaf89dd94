"""A whole station in-process against a real Mosquitto: commands with acks, telemetry, the
Modbus TCP slave read and written with a pymodbus client. Devices are unreachable (a bus
port that does not exist), so the controller runs on its fallbacks: that is a station too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time
from collections.abc import Sequence

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.core import codec  # noqa: E402
from heatkeeper.firmware.config import load_config  # noqa: E402
from heatkeeper.firmware.runtime import Station  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until  # noqa: E402
from pymodbus.client import AsyncModbusTcpClient  # noqa: E402

from .station_setup import signed_command, station_toml  # noqa: E402


@contextlib.asynccontextmanager
async def running_station(path: str):  # type: ignore[no-untyped-def]
    station = Station(load_config(path))
    task = asyncio.create_task(station.run())
    try:
        await wait_until(lambda: station.cycles >= 2, what="station cycling")
        yield station
    finally:
        station.stop()
        await asyncio.wait_for(task, 20)


def acks_by_id(listener: Listener) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for msg in listener.uplinks("ack"):
        out.setdefault(msg["body"]["command_id"], []).append(msg["body"])
    return out


async def test_commands_applied_rejected_expired_with_acks(tmp_path, mosquitto) -> None:
    path, raw = station_toml(tmp_path, mosquitto.port, mqtt={"command_users": ["operator", "hil"]})
    sid = "test-st"
    async with Listener(mosquitto.port, codec.PREFIX + "stations/%s/up/+" % sid) as listener, running_station(path) as station:
        now = time.time()

        async def send(cid: str, kind: str, args: dict, user: str = "operator", expires: float = 600.0,
                       retain: bool = False) -> None:
            topic, payload = signed_command(raw, cid, kind, args, user, now, now + expires)
            await listener.publish(topic, payload, retain=retain)

        await send("c-ok", "set_room_setpoint", {"room_setpoint_c": 19.0, "lease_s": 600})
        await send("c-range", "set_room_setpoint", {"room_setpoint_c": 45.0, "lease_s": 600})
        await send("c-expired", "set_room_setpoint", {"room_setpoint_c": 19.0, "lease_s": 600}, expires=-5.0)
        await send("c-user", "set_room_setpoint", {"room_setpoint_c": 19.0, "lease_s": 600}, user="mallory")
        await send("c-kind", "open_all_valves", {})
        await send("c-manual", "set_mode", {"mode": "manual"})
        await send("c-ok", "set_room_setpoint", {"room_setpoint_c": 19.0, "lease_s": 600})  # duplicate id
        topic = codec.command_topic(sid)
        await listener.publish(topic, json.dumps({"v": 1, "id": "c-broken", "station": sid}).encode())
        await listener.publish(topic, b"\xff\xfe not json at all")
        _t, other = signed_command(dict(raw, station={"id": "other-st"}), "c-foreign", "set_mode", {"mode": "auto"},
                                   "operator", now, now + 60)
        await listener.publish(topic, other)
        await send("c-retained", "set_mode", {"mode": "auto"}, retain=True)
        await wait_until(lambda: len(acks_by_id(listener)) >= 9, what="nine command acks")
        acks = acks_by_id(listener)
        result = {cid: (items[0]["result"], items[0]["reason"]) for cid, items in acks.items()}
        assert result["c-ok"] == ("applied", "ok")
        assert result["c-range"][0] == "rejected" and result["c-range"][1] == "out_of_range"
        assert result["c-expired"] == ("expired", "expired")
        assert result["c-user"] == ("rejected", "unauthorised")
        assert result["c-kind"][0] == "rejected"
        assert result["c-manual"] == ("rejected", "local_only")
        assert result["c-broken"][0] == "rejected" and result["c-broken"][1] == "bad_field"
        assert result["c-foreign"] == ("rejected", "station_mismatch")
        assert result["c-retained"] == ("rejected", "retained")
        # the duplicate was answered from the cache, not applied twice
        assert len(acks["c-ok"]) == 2 and acks["c-ok"][1]["result"] == "applied" and acks["c-ok"][1].get("duplicate")
        await wait_until(lambda: any(m["body"].get("kind") == "command_rejected" for m in listener.uplinks("event")),
                         what="event for the unreadable command")
        applied = [m for m in listener.uplinks("event") if m["body"].get("kind") == "command" and m["body"].get("id") == "c-ok"]
        await wait_until(lambda: [m for m in listener.uplinks("event")
                                  if m["body"].get("kind") == "command" and m["body"].get("id") == "c-ok"],
                         what="the controller's command event")
        applied = [m for m in listener.uplinks("event") if m["body"].get("kind") == "command" and m["body"].get("id") == "c-ok"]
        assert len(applied) == 1
        # telemetry flows and carries the lease and the outbox fill level
        await wait_until(lambda: listener.uplinks("telemetry"), what="telemetry")
        values = listener.uplinks("telemetry")[-1]["body"]["values"]
        assert "outbox_fill_pct" in values and "cycle_overruns" in values and values["rss_kb"] > 0
        assert station.gate.counts["duplicate"] == 1
    # clear the retained command we planted
    await listener_cleanup(mosquitto.port, sid)


async def listener_cleanup(port: int, sid: str) -> None:
    async with Listener(port, codec.command_topic(sid), identifier="cleanup") as cleaner:
        await cleaner.publish(codec.command_topic(sid), b"", retain=True)


def f32(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def to_f32(regs: Sequence[int]) -> float:
    return float(struct.unpack(">f", struct.pack(">HH", regs[0], regs[1]))[0])


async def test_modbus_tcp_slave_read_and_validated_writes(tmp_path, mosquitto) -> None:
    path, raw = station_toml(tmp_path, mosquitto.port, modbus_slave={"writes_enabled": True})
    port = raw["modbus_slave"]["port"]
    async with running_station(path) as station:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=3)
        await client.connect()
        try:
            ir = await client.read_input_registers(0, count=20, device_id=1)
            assert not ir.isError()
            assert ir.registers[0] == 1  # map version
            cycles = (ir.registers[4] << 16) | ir.registers[5]
            assert cycles >= 2
            temps = await client.read_input_registers(100, count=4, device_id=1)
            assert to_f32(temps.registers[0:2]) != to_f32(temps.registers[0:2])  # NaN: no outdoor sensor
            setpoint = await client.read_input_registers(200, count=2, device_id=1)
            assert to_f32(setpoint.registers) == pytest.approx(station.last_out["supply_setpoint_c"], abs=5.0), station.last_out
            outputs = await client.read_input_registers(300, count=20, device_id=1)
            assert not outputs.isError()
            # a valid room setpoint: applied through the controller, read back
            ok = await client.write_registers(0, f32(19.5), device_id=1)
            assert not ok.isError()
            back = await client.read_holding_registers(0, count=2, device_id=1)
            assert to_f32(back.registers) == 19.5
            # out of range -> exception 3, setting unchanged
            bad = await client.write_registers(0, f32(45.0), device_id=1)
            assert bad.isError() and bad.exception_code == 3
            assert to_f32((await client.read_holding_registers(0, count=2, device_id=1)).registers) == 19.5
            # half a float -> exception 2
            half = await client.write_register(1, 0x4000, device_id=1)
            assert half.isError() and half.exception_code == 2
            # lease out of range -> 3; mode code unknown -> 3; manual refused while the supply
            # sensor is bad (this station has none) -> 3; safe mode allowed locally
            assert (await client.write_registers(12, f32(5.0), device_id=1)).exception_code == 3
            assert (await client.write_register(14, 9, device_id=1)).exception_code == 3
            assert (await client.write_register(14, 1, device_id=1)).exception_code == 3
            safe = await client.write_register(14, 3, device_id=1)
            assert not safe.isError()
            await wait_until(lambda: station.last_out.get("mode_name") == "safe", what="safe mode")
            await asyncio.sleep(0.5)
            assert (await client.read_holding_registers(14, count=1, device_id=1)).registers[0] == 3
            assert station.slave.writes_ok == 2 and station.slave.writes_rejected == 5
        finally:
            client.close()
    journal = [r["body"] for r in station.journal.read_all() if r["body"].get("kind") == "local_write"]
    assert any(r.get("result") == "rejected" and r.get("reason") == "out_of_range" for r in journal)
    assert any(r.get("result") == "rejected" and r.get("reason") == "supply_sensor_bad" for r in journal)


async def test_cycle_overruns_are_counted_and_alarmed(tmp_path, mosquitto) -> None:
    """At 1000x time scale a 0.1 s cycle has 0.1 ms of wall time: every cycle overruns."""
    path, _raw = station_toml(tmp_path, mosquitto.port, station={"cycle_s": 0.1, "overrun_alarm_cycles": 3})
    station = Station(load_config(path), time_scale=1000.0)
    task = asyncio.create_task(station.run())
    try:
        await wait_until(lambda: station.overrun_alarm, what="overrun alarm")
    finally:
        station.stop()
        await asyncio.wait_for(task, 20)
    assert station.overruns >= 3
    records = station.journal.read_all()
    assert any(r["kind"] == "alarm" and r["body"].get("code") == "cycle_overrun" for r in records)
    assert any(r["kind"] == "event" and r["body"].get("kind") == "cycle_overrun" for r in records)


async def test_room_readings_reach_the_controller_and_garbage_is_an_event(tmp_path, mosquitto) -> None:
    path, _raw = station_toml(tmp_path, mosquitto.port)
    sid = "test-st"
    async with Listener(mosquitto.port, codec.PREFIX + "stations/%s/up/+" % sid) as listener, running_station(path) as station:
        now = time.time()
        topic, payload = codec.encode_rooms(sid, [{"collector": "c-101", "group": "top", "temp_c": 18.6, "ts": now - 30},
                                                  {"collector": "c-102", "group": "edge", "temp_c": 18.1, "ts": now - 60}], now)
        await listener.publish(topic, payload)
        room = station.ctl.chain.room
        await wait_until(lambda: "c-101" in room.readings and "c-102" in room.readings, what="readings in the controller")
        temp_c, seen_s, group = room.readings["c-101"]
        assert (temp_c, group) == (18.6, "top")
        assert 20.0 < station.clock.now_s() - seen_s < 120.0  # age carried from the reading's wall-clock ts
        await listener.publish(topic, b'{"v": 1, "ts": 1, "readings": "lots"}')
        await wait_until(lambda: any(m["body"].get("kind") == "rooms_rejected" for m in listener.uplinks("event")),
                         what="rooms_rejected event")


async def test_the_wall_clock_reaches_the_week_programme(tmp_path, mosquitto) -> None:
    """The runtime gives the controller the wall clock ("wall_s"): today, a holiday in the
    station's [control.schedule], runs the holiday programme on the local date."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400.0))
    schedule = {"holidays": [[today, tomorrow]], "holiday_programme": "frost", "holiday_offset_k": -20.0,
                "utc_offset_s": 0.0}
    path, _raw = station_toml(tmp_path, mosquitto.port, control={"schedule": schedule})
    async with running_station(path) as station:
        await wait_until(lambda: station.ctl.chain.schedule.programme == 7, what="the holiday programme")
        assert station.ctl.wall_ok
        assert abs(station.ctl.wall_s - time.time()) < 60.0
        if station.ctl.chain.heating_on:
            assert station.ctl.chain.schedule_k == -20.0


async def test_storage_failure_never_stops_control_and_loses_no_event(tmp_path, mosquitto) -> None:
    import sqlite3

    path, _raw = station_toml(tmp_path, mosquitto.port, mqtt={"enabled": False})
    async with running_station(path) as station:
        real = station.outbox.db
        broken = sqlite3.connect(str(tmp_path / "broken.sqlite"))
        broken.close()  # every statement now fails with sqlite3.ProgrammingError
        station.outbox.db = broken
        before = station.cycles
        station.emit(codec.UP_EVENT, {"kind": "during_failure", "reason": "test"})
        await wait_until(lambda: station.cycles >= before + 5, what="cycles go on while storage fails")
        assert station.storage_errors >= 1 and station._pending
        station.outbox.db = real
        await wait_until(lambda: not station._pending, what="held messages committed once storage works")
        kinds = [json.loads(p)["body"].get("kind") for _s, _t, p in station.outbox.peek(100000)]
        assert "during_failure" in kinds


async def test_a_body_the_codec_refuses_becomes_an_event_in_its_place(tmp_path, mosquitto) -> None:
    path, _raw = station_toml(tmp_path, mosquitto.port, mqtt={"enabled": False})
    station = Station(load_config(path))
    station.restore()
    station.flush()
    first = station.outbox.last_seq
    station.emit(codec.UP_EVENT, {"kind": "too_big", "text": "a" * (codec.MAX_PAYLOAD_BYTES + 1)})
    station.emit(codec.UP_EVENT, {"kind": "fine", "reason": "test"})
    station.flush()
    assert not station._pending
    msgs = [codec.decode_uplink(t, p) for s, t, p in station.outbox.peek(100000) if s > first]
    assert [m["body"]["kind"] for m in msgs] == ["uplink_encode_error", "fine"]
    assert msgs[0]["body"]["reason"] == "too_large" and msgs[0]["body"]["for_kind"] == codec.UP_EVENT
    assert [m["seq"] for m in msgs] == [first + 1, first + 2]
    station.outbox.close()


async def test_a_flood_of_local_writes_is_coalesced_not_queued(tmp_path, mosquitto) -> None:
    """500 rejected writes on the local Modbus TCP port: a burst of local_write events, the rest
    counted (telemetry events_suppressed_total) and summarised in one events_coalesced event."""
    from heatkeeper.firmware.event_limit import EventLimiter

    # writes enabled (the panel is read-only by default): each one is validated and rejected as out of range
    path, raw = station_toml(tmp_path, mosquitto.port, mqtt={"enabled": False}, modbus_slave={"writes_enabled": True})
    async with running_station(path) as station:
        station.limiter = EventLimiter(burst=10, window_s=2.0)
        client = AsyncModbusTcpClient("127.0.0.1", port=raw["modbus_slave"]["port"], timeout=3)
        await client.connect()
        try:
            for _ in range(500):
                bad = await client.write_registers(0, f32(45.0), device_id=1)
                assert bad.isError() and bad.exception_code == 3
        finally:
            client.close()
        assert station.slave.writes_rejected == 500

        def queued(kind: str) -> list[dict]:
            return [json.loads(p)["body"] for _s, _t, p in station.outbox.peek(100000)
                    if json.loads(p)["body"].get("kind") == kind]

        def accounted() -> int:
            return len(queued("local_write")) + sum(s["suppressed"] for s in queued("events_coalesced"))

        # every write is either an event or counted in a summary (one per 2 s window at most)
        await wait_until(lambda: accounted() == 500, timeout_s=15, what="every write accounted for")
        summaries = queued("events_coalesced")
        assert len(queued("local_write")) <= 10 * len(summaries) < 100, len(queued("local_write"))
        assert all(s["for_reason"] == "out_of_range" for s in summaries)
        suppressed = sum(s["suppressed"] for s in summaries)
        assert station.telemetry_values({}, station.last_out)["events_suppressed_total"] == suppressed


async def test_outbox_seq_continues_above_what_the_state_file_says(tmp_path, mosquitto) -> None:
    """The restored counter: an outbox behind the state file (an older copy put back) jumps
    above the state's seq plus the margin; with synchronous=normal an unclean stop does too
    (its last commits may be lost though sent); a clean stop continues without a gap."""
    from heatkeeper.firmware.runtime import SEQ_MARGIN

    path, _raw = station_toml(tmp_path, mosquitto.port, mqtt={"enabled": False},
                              storage={"outbox_synchronous": "normal"})

    def start() -> Station:
        station = Station(load_config(path))
        station.restore()
        station.flush()
        return station

    def restored(station: Station) -> list[dict]:
        return [json.loads(p)["body"] for _s, _t, p in station.outbox.peek(100000)
                if json.loads(p)["body"].get("kind") == "outbox_seq_restored"]

    first = start()
    assert first.outbox.last_seq < 10 and restored(first) == []  # a new station starts low
    first.save_state(clean_stop=True)
    top = first.outbox.last_seq
    first.outbox.close()
    clean = start()  # clean stop: no gap
    assert restored(clean) == [] and clean.outbox.last_seq > top and clean.outbox.last_seq < top + 10
    clean.save_state(clean_stop=False)  # then a power cut
    top = clean.outbox.last_seq
    clean.outbox.close()
    unclean = start()
    (event,) = restored(unclean)
    assert event["reason"] == "unclean_stop_unsynced" and event["next_seq"] == top + SEQ_MARGIN + 1
    # an older copy of the outbox put back: its counter is behind the state file's
    unclean.state.save({"station": "test-st", "controller": {}, "outbox_last_seq": 10 * SEQ_MARGIN,
                        "clean_stop": True})
    unclean.outbox.close()
    behind = start()
    (event,) = restored(behind)[-1:]
    assert event["reason"] == "outbox_behind_state" and event["next_seq"] == 11 * SEQ_MARGIN + 1
    behind.outbox.close()


async def test_outbox_damaged_while_running_is_replaced_and_the_seq_continues(tmp_path, mosquitto) -> None:
    """The outbox file turns out damaged in the middle of a run (SQLITE_NOTADB on a commit):
    the file is set aside, a fresh one continues exactly after the last seq, the held messages
    are committed there, and storage_corrupt is raised; the trend ring likewise."""
    import glob
    import os
    import sqlite3

    path, _raw = station_toml(tmp_path, mosquitto.port, mqtt={"enabled": False}, station={"trend_interval_s": 1.0})
    async with running_station(path) as station:
        garbage = tmp_path / "garbage.sqlite"
        garbage.write_bytes(os.urandom(4096))
        old = station.outbox
        last = old.last_seq
        old.db = sqlite3.connect(str(garbage), isolation_level=None)  # every statement: "file is not a database"
        station.emit(codec.UP_EVENT, {"kind": "during_failure", "reason": "test"})
        await wait_until(lambda: station.outbox is not old, what="the outbox replaced")
        await wait_until(lambda: not station._pending, what="held messages committed to the fresh outbox")
        rows = [(s, json.loads(p)) for s, _t, p in station.outbox.peek(100000)]
        assert rows[0][0] == last + 1, (last, rows[0][0])  # no gap, no reuse
        kinds = [m["body"].get("kind") or m["body"].get("code") for _s, m in rows]
        assert "during_failure" in kinds and "storage_file_set_aside" in kinds and "storage_corrupt" in kinds
        assert glob.glob(os.path.join(station.data_dir, "outbox.sqlite.corrupt-*"))
        trends = station.trends
        trends.db = sqlite3.connect(str(garbage), isolation_level=None)
        await wait_until(lambda: station.trends is not trends, timeout_s=10, what="the trend ring replaced")
        assert glob.glob(os.path.join(station.data_dir, "trends.sqlite.corrupt-*"))
        cycles = station.cycles
        await wait_until(lambda: station.cycles > cycles + 3, what="control goes on")


async def test_the_controller_is_given_the_wall_clock(tmp_path, mosquitto) -> None:
    # the season calendar and the pre-heat planner run on unix time (core.station WALL_S)
    path, _raw = station_toml(tmp_path, mosquitto.port)
    async with running_station(path) as station:
        ctl = station.ctl
        await wait_until(lambda: ctl.wall_ok, what="wall clock in the controller")
        assert abs(ctl.wall_s - time.time()) < 5.0
        assert abs(ctl.now_s + ctl.wall_offset_s - time.time()) < 5.0
