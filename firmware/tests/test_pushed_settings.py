"""Pushed settings on a whole station in-process against a real Mosquitto: a signed
apply_settings is applied at a cycle boundary, acked, shown in telemetry, kept in the data
directory and laid over the TOML again after a restart; an overlay that no longer fits the
TOML (or a damaged file) leaves the TOML in effect with an alarm saying why."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.core import codec  # noqa: E402
from heatkeeper.firmware.pushed_settings import ALARM, FILE_NAME  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import Listener, wait_until  # noqa: E402

from .station_setup import signed_command, station_toml  # noqa: E402
from .test_station import acks_by_id, running_station  # noqa: E402

SID = "test-st"


def telemetry(listener: Listener) -> dict:
    got = listener.uplinks("telemetry")
    return got[-1]["body"]["values"] if got else {}


async def send(listener: Listener, raw: dict, cid: str, args: dict, sign: bool = True) -> None:
    now = time.time()
    if sign:
        topic, payload = signed_command(raw, cid, "apply_settings", args, "operator", now, now + 600)
    else:
        topic, payload = codec.encode_command(SID, cid, "apply_settings", args, "operator", now, now + 600)
    await listener.publish(topic, payload)


async def ack(listener: Listener, cid: str) -> dict:
    await wait_until(lambda: cid in acks_by_id(listener), what="ack of " + cid)
    return acks_by_id(listener)[cid][0]


async def test_push_applied_kept_across_a_restart_and_invalid_rejected(tmp_path, mosquitto) -> None:
    path, raw = station_toml(tmp_path, mosquitto.port)
    up = codec.PREFIX + "stations/%s/up/+" % SID
    async with Listener(mosquitto.port, up) as listener, running_station(path) as station:
        await wait_until(lambda: "settings_version" in telemetry(listener), what="telemetry")
        assert telemetry(listener)["settings_version"] == 0
        before = telemetry(listener)["curve_c"]
        await send(listener, raw, "p1", {"version": 1, "sections": {"curve": {"shift_k": 4.0}}})
        res = await ack(listener, "p1")
        assert (res["result"], res["reason"]) == ("applied", "ok") and "version 1" in res["detail"]
        await wait_until(lambda: telemetry(listener).get("settings_version") == 1, what="version 1 in telemetry")
        assert telemetry(listener)["curve_c"] == pytest.approx(before + 4.0, abs=0.05)
        kept = json.loads((tmp_path / "data" / FILE_NAME).read_text())
        assert kept["version"] == 1 and kept["sections"] == {"curve": {"shift_k": 4.0}}
        # every problem listed; version 1 stays in effect
        await send(listener, raw, "p2", {"version": 2, "sections": {"curve": {"shift_k": 99.0, "colour": 1},
                                                                     "pumps": {"proof_s": 0}}})
        res = await ack(listener, "p2")
        assert (res["result"], res["reason"]) == ("rejected", "invalid_settings")
        for text in ("curve.shift_k=99.0", "curve.colour: unknown key", "pumps.proof_s=0"):
            assert text in res["detail"]
        # unsigned: refused like every other remote command
        await send(listener, raw, "p3", {"version": 3, "sections": {}}, sign=False)
        res = await ack(listener, "p3")
        assert res["result"] == "rejected" and res["reason"] != "invalid_settings"
        assert station.ctl.settings_version == 1
    async with Listener(mosquitto.port, up, identifier="after-restart") as listener, running_station(path) as station:
        assert station.ctl.settings_version == 1
        await wait_until(lambda: telemetry(listener).get("settings_version") == 1, what="version 1 after restart")
        assert telemetry(listener)["curve_c"] == pytest.approx(before + 4.0, abs=0.05)
        assert ALARM not in station.firmware_alarms


async def test_an_overlay_that_no_longer_fits_the_toml_falls_back_with_an_alarm(tmp_path, mosquitto) -> None:
    path, raw = station_toml(tmp_path, mosquitto.port)
    up = codec.PREFIX + "stations/%s/up/+" % SID
    async with Listener(mosquitto.port, up) as listener, running_station(path) as station:
        await send(listener, raw, "p1", {"version": 7, "sections": {"commands": {"supply_max_c": 88.0}}})
        assert (await ack(listener, "p1"))["result"] == "applied"
        assert station.ctl.cfg["commands"]["supply_max_c"] == 88.0
    # the TOML is edited: its trip is now below the pushed supply limit
    path, raw = station_toml(tmp_path, mosquitto.port, control={"interlocks": {"overtemp_c": 85.0},
                                                                "commands": {"supply_max_c": 80.0}})
    async with Listener(mosquitto.port, up, identifier="second") as listener, running_station(path) as station:
        assert station.ctl.settings_version == 0
        assert station.ctl.cfg["commands"]["supply_max_c"] == 80.0
        assert ALARM in station.firmware_alarms
        await wait_until(lambda: [m for m in listener.uplinks("alarm") if m["body"]["code"] == ALARM],
                         what="the alarm uplink")
        text = [m for m in listener.uplinks("alarm") if m["body"]["code"] == ALARM][0]["body"]["text"]
        assert "version 7" in text and "interlocks.overtemp_c=85.0" in text
        await wait_until(lambda: telemetry(listener).get("settings_version") == 0, what="TOML only in telemetry")
        # a push that fits clears it
        await send(listener, raw, "p2", {"version": 8, "sections": {"curve": {"shift_k": 1.0}}})
        assert (await ack(listener, "p2"))["result"] == "applied"
        assert ALARM not in station.firmware_alarms
    (tmp_path / "data" / FILE_NAME).write_text('{"version": 9, "sections": {}, "sha256": "00"}')
    async with running_station(path) as station:
        assert station.ctl.settings_version == 0 and ALARM in station.firmware_alarms
