"""A real station for the browser test: heatkeeper.core's StationController running on the
reference plant model, talking to the supervisor over MQTT with the shared codec.

It publishes its status (retained, with a last will), telemetry every tick, alarms when they
change, and answers each command with the controller's own verdict. Simulated time leaps
`sim_dt_s` per tick so the plant moves visibly within a short test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiomqtt
from heatkeeper.core import codec, command_handler, signals
from heatkeeper.core.station import StationController
from heatkeeper.tools.plant import Plant


class StationResponder:
    """One simulated station; `run()` until cancelled. `faults` are plant faults to inject."""

    def __init__(self, host: str, port: int, station_id: str, password: str, seed: int = 0,
                 faults: tuple[str, ...] = (), tick_s: float = 1.0, sim_dt_s: float = 2.0,
                 collectors_password: str = "") -> None:
        self.host = host
        self.port = port
        self.station_id = station_id
        self.password = password
        self.tick_s = tick_s
        self.sim_dt_s = sim_dt_s
        self.plant = Plant(seed=seed)
        self.ctl = StationController(None)
        self.faults = faults
        self.collectors_password = collectors_password
        self.collectors_user = "rooms-" + station_id  # its collector platform's MQTT user
        self.seq = 0
        self.applied: list[dict[str, Any]] = []  # command results, for the test to check
        self._alarm_states: dict[str, str] = {}
        self.out: dict[str, Any] = {}
        self.history: list[tuple[float, str, dict[str, Any]]] = []  # (age_s, kind, body) not yet sent
        self.room_history: list[tuple[float, list[tuple[str, str, float]]]] = []
        self.inputs: dict[str, Any] = {}
        self.extra_values: dict[str, Any] = {}  # telemetry fields a test adds (what a newer core reports)

    def _cycle(self) -> None:
        self.plant.advance(self.sim_dt_s)
        self.inputs = self.plant.process_image()
        self.out = self.ctl.step(self.inputs)
        self.plant.apply({name: self.out[name] for name in signals.ACTUATORS if name in self.out})

    def warm_up(self, sim_s: float, telemetry_every_s: float = 120.0, rooms_every_s: float = 1200.0) -> None:
        """Run the closed loop for `sim_s` simulated seconds before going on line, keeping a
        sample every `telemetry_every_s` (and room readings every `rooms_every_s`) as the
        history a station's outbox delivers once it reaches the broker."""
        steps = int(sim_s / self.sim_dt_s)
        for i in range(steps):
            self._cycle()
            age_s = sim_s - (i + 1) * self.sim_dt_s
            if i % max(1, int(telemetry_every_s / self.sim_dt_s)) == 0:
                self.history.append((age_s, codec.UP_TELEMETRY, self._telemetry_body()))
            if i % max(1, int(rooms_every_s / self.sim_dt_s)) == 0:
                self.room_history.append((age_s, self.plant.collector_readings()))
        for fault in self.faults:
            self.plant.inject(fault)

    def _telemetry_body(self) -> dict[str, Any]:
        # as the firmware's telemetry: the controller's record and what the station accepts now
        values = {**self.ctl.telemetry(self.inputs, self.out), **command_handler.offer(self.ctl), **self.extra_values}
        return {"values": values, "mode_name": self.out.get("mode_name")}

    async def _publish(self, client: aiomqtt.Client, kind: str, body: dict[str, Any], age_s: float = 0.0) -> None:
        self.seq += 1
        topic, payload = codec.encode_uplink(self.station_id, self.seq, kind, time.time() - age_s, body)
        await client.publish(topic, payload, qos=1)

    async def _alarms(self, client: aiomqtt.Client) -> None:
        now = {a["code"]: a for a in self.out.get("alarms", [])}
        for code, alarm in now.items():
            if self._alarm_states.get(code) != alarm["state"]:
                self._alarm_states[code] = alarm["state"]
                await self._publish(client, codec.UP_ALARM, {"code": code, "severity": alarm["severity"],
                                                             "state": alarm["state"], "text": alarm["text"],
                                                             "value": alarm["value"]})
        for code in list(self._alarm_states):
            if code not in now:
                del self._alarm_states[code]
                await self._publish(client, codec.UP_ALARM, {"code": code, "state": "cleared", "text": ""})

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                cmd = codec.decode_command(message.topic.value, payload)
            except codec.CodecError:
                continue
            args = dict(cmd["args"])
            request = {"id": cmd["id"], "kind": cmd["kind"], "args": args, "user": cmd["user"], "source": "remote"}
            if time.time() >= cmd["expires_ts"]:
                res = {"result": codec.ACK_EXPIRED, "reason": "expired", "detail": "arrived after its expiry"}
            else:
                res = self.ctl.handle_command(request, self.inputs.get("now_s", 0.0))
            self.applied.append({"id": cmd["id"], **res})
            await self._publish(client, codec.UP_ACK, codec.ack_body(cmd["id"], res["result"], res.get("reason", ""),
                                                                     res.get("detail", "")))

    def collector_ids(self) -> list[tuple[str, str]]:
        """(collector id, building group) of this station's room-temperature collectors."""
        return [(self.station_id + "-" + cid, group) for cid, group, _ in self.plant.collector_readings()]

    async def _collectors(self) -> None:
        """The flats' collectors report through their own MQTT account, like a vendor's gateway."""
        async with aiomqtt.Client(self.host, self.port, username=self.collectors_user, password=self.collectors_password,
                                  identifier="collectors-" + self.station_id) as client:
            history, self.room_history = self.room_history, []
            for age_s, readings in history:
                await self._send_rooms(client, readings, age_s)
            while True:
                await self._send_rooms(client, self.plant.collector_readings(), 0.0)
                await asyncio.sleep(self.tick_s * 10)

    async def _send_rooms(self, client: aiomqtt.Client, readings: list[tuple[str, str, float]], age_s: float) -> None:
        for cid, _group, temp_c in readings:
            topic, payload = codec.encode_collector_reading(self.station_id + "-" + cid, temp_c, time.time() - age_s)
            await client.publish(topic, payload, qos=1)

    async def run(self) -> None:
        will = aiomqtt.Will(codec.status_topic(self.station_id), codec.STATUS_OFFLINE.encode(), qos=1, retain=True)
        async with aiomqtt.Client(self.host, self.port, username=self.station_id, password=self.password,
                                  identifier="station-" + self.station_id, will=will) as client:
            await client.subscribe(codec.command_topic(self.station_id), qos=1)
            await client.publish(codec.status_topic(self.station_id), codec.STATUS_ONLINE.encode(), qos=1, retain=True)
            history, self.history = self.history, []
            for age_s, kind, body in history:
                await self._publish(client, kind, body, age_s)
            listener = asyncio.ensure_future(self._commands(client))
            rooms = asyncio.ensure_future(self._collectors()) if self.collectors_password else None
            try:
                while True:
                    self._cycle()
                    await self._publish(client, codec.UP_TELEMETRY, self._telemetry_body())
                    await self._alarms(client)
                    await asyncio.sleep(self.tick_s)
            finally:
                for task in (listener, rooms):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
