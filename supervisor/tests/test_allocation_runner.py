"""The allocation runner on real storage (both backends): readings in, signed heat-cap leases out
(verified and applied by a real station controller), every decision stored and audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.core.station import StationController
from heatkeeper.firmware.command_auth import verify
from heatkeeper.supervisor.allocation_runner import AllocationRunner, network_problems
from heatkeeper.supervisor.command_keys import CommandKeys
from heatkeeper.supervisor.commands import CommandTracker

NETWORK: dict[str, Any] = {"name": "north", "capacity_kw": 7000.0,
           "stations": {"st-r1": {"class": "residential", "design_kw": 5000.0},
                        "st-r2": {"class": "residential", "design_kw": 5000.0},
                        "st-i1": {"class": "industrial", "design_kw": 5000.0}}}


async def _feed(storage: Any, now: float, heat: dict[str, float], outdoor_c: float = -20.0) -> None:
    rows = []
    seq = int(now)
    for sid, kw in heat.items():
        await storage.upsert_station(sid, sid, "arxan")
        for k in range(3):
            body = {"heat_power_kw": kw, "outdoor_temp_c": outdoor_c}
            rows.append((sid, seq + k, now - 600.0 + 200.0 * k, "telemetry", json.dumps({"body": body}),
                         now - 600.0 + 200.0 * k, 0))
        await storage.save_station_state(sid, {"values": {"heat_power_kw": kw, "outdoor_temp_c": outdoor_c}})
    await storage.store_uplinks(rows)


async def test_short_source_cuts_industry_and_leases_are_signed_and_applied(storage: Any, tmp_path: Any) -> None:
    keys = CommandKeys(str(tmp_path / "keys"))
    keys.ensure(list(NETWORK["stations"]))
    published: list[tuple[str, bytes]] = []

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        published.append((topic, payload))

    async def audit(**kw: Any) -> None:
        await storage.audit_insert(1e9, kw["user"], kw["action"], kw["station_id"], kw["detail"], kw["result"])

    tracker = CommandTracker(storage, publish, audit, keys=keys)
    runner = AllocationRunner(storage, tracker.send, NETWORK, {"residential_reserve": 0.0}, audit=audit)
    now = 1_800_000_000.0
    # each station draws 3000 kW (9000 in all) against 7000: 2000 short, industry can give 2100
    await _feed(storage, now, {"st-r1": 3000.0, "st-r2": 3000.0, "st-i1": 3000.0})
    out = await runner.run_once(now)
    assert out["state"] == "non_residential_cut"
    assert out["caps"] == pytest.approx({"st-r1": 3000.0, "st-r2": 3000.0, "st-i1": 1000.0})
    assert len(published) == 3
    for topic, payload in published:
        cmd = codec.decode_command(topic, payload)
        sid = topic.split("/")[3]
        assert verify(keys.key(sid), sid, cmd) is None  # signed with the station's own key
        assert cmd["kind"] == "set_heat_cap" and cmd["user"] == "allocation"
        ctl = StationController()
        res = ctl.handle_command({"id": cmd["id"], "kind": cmd["kind"], "args": cmd["args"], "user": cmd["user"],
                                  "source": "remote"}, 100.0)
        assert res["result"] == "applied", res
        assert cmd["args"]["lease_s"] == 2700.0
    rows = await storage.allocation_rows("north")
    assert rows[0]["state"] == "non_residential_cut" and rows[0]["capacity_kw"] == 7000.0
    assert {s["station_id"]: s["cap_kw"] for s in rows[0]["stations"]}["st-i1"] == pytest.approx(1000.0)
    audit_rows = await storage.audit_rows(20, None)
    assert any(r["action"] == "allocation:non_residential_cut" and "north" in r["detail"] for r in audit_rows)
    assert sum(1 for r in audit_rows if r["action"] == "command:set_heat_cap") == 3

    # a restarted runner resumes from the stored caps: industry comes back a quarter of its need per period
    again = AllocationRunner(storage, tracker.send, dict(NETWORK, capacity_kw=20000.0), {"residential_reserve": 0.0},
                             audit=audit)
    await _feed(storage, now + 900.0, {"st-r1": 3000.0, "st-r2": 3000.0, "st-i1": 1000.0})
    out = await again.run_once(now + 900.0)
    assert out["state"] == "enough"
    assert out["caps"]["st-i1"] < 1000.0 + 0.25 * 5000.0 + 1.0


async def test_a_station_without_readings_is_left_out_and_named(storage: Any, tmp_path: Any) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    keys = CommandKeys(str(tmp_path / "keys"))
    keys.ensure(list(NETWORK["stations"]))

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        sent.append((topic, json.loads(payload)))

    tracker = CommandTracker(storage, publish, lambda **kw: _noop(), keys=keys)
    runner = AllocationRunner(storage, tracker.send, NETWORK)
    await _feed(storage, 5000.0, {"st-r1": 2000.0, "st-i1": 2000.0})
    out = await runner.run_once(5000.0)
    assert out["left_out"] == ["st-r2"]
    assert sorted(t.split("/")[3] for t, _p in sent) == ["st-i1", "st-r1"]
    audit_rows = await storage.audit_rows(5, None)
    assert any("no readings from st-r2" in r["detail"] for r in audit_rows)


async def _noop() -> None:
    return None


@pytest.mark.parametrize("network, settings, expect", [
    (dict(NETWORK, capacity_kw=0), {}, "allocation.network.capacity_kw=0: must be a number > 0 (kW)"),
    (dict(NETWORK, name=""), {}, "allocation.network.name=''"),
    (dict(NETWORK, stations={}), {}, "must name at least one station"),
    (dict(NETWORK, stations={"st-x": {"class": "school", "design_kw": 10}}), {},
     "allocation.network.stations.st-x.class='school'"),
    (dict(NETWORK, stations={"st-x": {"class": "public", "design_kw": -1}}), {},
     "allocation.network.stations.st-x.design_kw=-1"),
    (NETWORK, {"period_s": 1}, "allocation.period_s=1"),
])
def test_bad_configuration_is_named(network: Any, settings: Any, expect: str) -> None:
    problems = network_problems(network, settings)
    assert any(expect in p for p in problems), problems
    with pytest.raises(ValueError, match=".+"):
        AllocationRunner(None, None, network, settings)  # type: ignore[arg-type]


def test_the_supervisor_config_takes_networks_and_names_every_problem() -> None:
    from heatkeeper.supervisor import config

    station = [{"id": "st-r1", "name": "R1", "city": "arxan"}]
    good = config.validate({"station": station, "allocation": {"period_s": 600.0, "networks": [NETWORK]}})
    assert good["allocation"] == {"networks": [NETWORK], "settings": {"period_s": 600.0}}
    assert config.validate({"station": station})["allocation"] == {"networks": [], "settings": {}}
    with pytest.raises(config.ConfigError) as err:
        config.validate({"station": station, "allocation": {"period_s": 5, "colour": 1, "networks": [
            dict(NETWORK, capacity_kw=-1), dict(NETWORK, stations={"st-x": {"class": "school", "design_kw": 1}})]}})
    text = str(err.value)
    for expect in ("allocation.period_s=5", "allocation.colour: unknown setting",
                   "allocation.networks[0].capacity_kw=-1", "allocation.networks[1].stations.st-x.class='school'",
                   "allocation.networks[1].name='north': used twice"):
        assert expect in text, text
