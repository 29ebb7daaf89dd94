"""Signed commands end to end: the real `heatkeeper station` process and a real Mosquitto. A
signed command is applied; the same payload with one argument changed is refused with its
reason; an unsigned command published straight onto the station's down topic (what the broker
or a holder of the supervisor's MQTT credential could do) is refused; a replay after a restart
is answered from the cache, never applied again."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

pytest.importorskip("heatkeeper.core.station")

from heatkeeper.core import codec  # noqa: E402
from heatkeeper.tools.testing.mqtt_listener import wait_until  # noqa: E402

from .station_setup import signed_command  # noqa: E402
from .test_station_process import SID, station_run  # noqa: E402


def acks(run: Any) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for msg in run.listener.uplinks("ack"):
        out.setdefault(msg["body"]["command_id"], []).append(msg["body"])
    return out


def rejections(run: Any) -> dict[str, str]:
    return {m["body"].get("command_id"): m["body"].get("reason") for m in run.listener.uplinks("event")
            if m["body"].get("kind") == "command_rejected"}


def applied_commands(run: Any) -> list[str]:
    return [m["body"].get("id") for m in run.listener.uplinks("event") if m["body"].get("kind") == "command"]


async def test_signed_applied_altered_and_unsigned_refused(tmp_path: Any, mosquitto: Any) -> None:
    async with station_run(tmp_path, mosquitto) as run:
        now = time.time()
        topic, good = signed_command(run.raw, "sig-1", "set_room_setpoint", {"room_setpoint_c": 19.0, "lease_s": 3600},
                                     "operator", now, now + 600)
        await run.listener.publish(topic, good)
        await wait_until(lambda: acks(run).get("sig-1"), what="ack of the signed command")
        assert (acks(run)["sig-1"][0]["result"], acks(run)["sig-1"][0]["reason"]) == ("applied", "ok")

        # the same payload, one argument changed on the way (new id so no cache can answer it)
        altered = json.loads(good)
        altered.update(id="sig-2")
        altered["args"]["room_setpoint_c"] = 24.0
        await run.listener.publish(topic, json.dumps(altered).encode())
        # the genuine payload with only the argument changed, same id
        same_id = json.loads(good)
        same_id["args"]["room_setpoint_c"] = 24.0
        await run.listener.publish(topic, json.dumps(same_id).encode())
        # unsigned, straight onto the down topic
        _t, unsigned = codec.encode_command(SID, "nosig-1", "set_mode", {"mode": "summer"}, "operator", now, now + 600)
        await run.listener.publish(codec.command_topic(SID), unsigned)

        await wait_until(lambda: len(acks(run).get("sig-1", [])) >= 2 and "sig-2" in acks(run) and "nosig-1" in acks(run),
                         what="acks of the refused commands")
        got = acks(run)
        assert (got["sig-2"][0]["result"], got["sig-2"][0]["reason"]) == ("rejected", "bad_signature")
        assert (got["sig-1"][1]["result"], got["sig-1"][1]["reason"]) == ("rejected", "bad_signature")
        assert (got["nosig-1"][0]["result"], got["nosig-1"][0]["reason"]) == ("rejected", "unsigned")
        await wait_until(lambda: {"sig-2", "nosig-1"} <= set(rejections(run)), what="events of the refusals")
        assert rejections(run)["nosig-1"] == "unsigned" and rejections(run)["sig-2"] == "bad_signature"

        # the lease holds 19.0 degC (not 24), and the mode is not summer
        seen = len(run.listener.uplinks("telemetry"))
        await wait_until(lambda: len(run.listener.uplinks("telemetry")) > seen + 1, what="telemetry after the refusals")
        values = run.listener.uplinks("telemetry")[-1]["body"]["values"]
        assert (values.get("room_setpoint_lease_s") or 0) > 3000
        assert applied_commands(run) == ["sig-1"]

        # a restart later, the genuine payload again: answered from the cache, not applied again
        await asyncio.sleep(0.6)  # the applied command is saved at the end of the next cycle
        run.process.kill()
        run.restart()
        await wait_until(lambda: any(m["body"].get("kind") == "state_restored" for m in run.listener.uplinks("event")),
                         timeout_s=30, what="restart")
        await run.listener.publish(topic, good)
        await wait_until(lambda: len(acks(run)["sig-1"]) >= 3, timeout_s=30, what="ack of the replay")
        replay = acks(run)["sig-1"][2]
        assert replay["result"] == "applied" and replay.get("duplicate") is True
        assert applied_commands(run) == ["sig-1"]
    log_text = run.log_text()
    assert "no [mqtt] command_key_file" not in log_text
