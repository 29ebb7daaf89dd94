"""supervisor.leases: a station's leases from its flat telemetry, and the supply setpoint's climb
(arrival at the ramp rate, or where it stands when a lease too short for the climb ends)."""

from __future__ import annotations

import pytest
from heatkeeper.core import command_handler
from heatkeeper.core.station import StationController
from heatkeeper.supervisor import leases, live_state
from hypothesis import given
from hypothesis import strategies as st


def test_a_30_minute_lease_to_52_from_39_at_12_k_per_h_cannot_arrive() -> None:
    # the case: 13 K at 12 K/h takes 65 minutes; after 30 the setpoint is at 45 degC
    a = leases.approach(39.0, 52.0, 12.0, 1800.0)
    assert a["arrives"] is False
    assert a["arrival_s"] == pytest.approx(13.0 / 12.0 * 3600.0)
    assert a["at_end_c"] == pytest.approx(45.0)


def test_arrival_within_the_lease_and_falls_at_once() -> None:
    a = leases.approach(39.0, 45.0, 12.0, 3600.0)
    assert (a["arrives"], a["arrival_s"], a["at_end_c"]) == (True, pytest.approx(1800.0), 45.0)
    assert leases.approach(55.0, 45.0, 12.0, 600.0) == {"arrival_s": 0.0, "arrives": True, "at_end_c": 45.0}
    assert leases.approach(39.0, 52.0, 0.0, 60.0)["arrives"] is True  # ramp off: at once
    assert leases.approach(39.0, 52.0, None, 60.0) == {"arrival_s": None, "arrives": None, "at_end_c": None}


@given(st.floats(20, 90), st.floats(20, 90), st.floats(0.5, 600), st.floats(60, 86400))
def test_the_climb_never_overshoots_and_arrives_exactly_when_it_fits(from_c: float, to_c: float, rate: float,
                                                                      left_s: float) -> None:
    a = leases.approach(from_c, to_c, rate, left_s)
    assert a["at_end_c"] <= max(from_c, to_c) + 1e-9
    if to_c - from_c > leases.ARRIVED_K:
        assert a["arrives"] == (a["arrival_s"] <= left_s)
        assert a["at_end_c"] == pytest.approx(min(to_c, from_c + rate * left_s / 3600.0))


def test_leases_from_a_real_controllers_telemetry() -> None:
    """The lease names and words' numbers from what a station publishes after a supply lease
    (core's record plus core.command_handler.offer), not raw `*_lease_s` keys."""
    ctl = StationController()
    now = 0.0
    assert ctl.handle_command({"kind": "set_mode", "args": {"mode": "remote"}}, now)["result"] == "applied"
    res = ctl.handle_command({"kind": "set_supply_setpoint", "args": {"supply_setpoint_c": 80.0, "lease_s": 1800}}, now)
    assert res["result"] == "applied", res
    values = {**ctl.telemetry({}, {"mode": ctl.modes.mode, "supply_setpoint_c": 39.0}), **command_handler.offer(ctl)}
    state = live_state.blank_state()
    live_state.take_values(state, 1, 1000.0, {"values": values}, 1000.0)
    got = state["leases"]
    assert list(got) == ["supply_setpoint"]
    lease = got["supply_setpoint"]
    assert lease["value"] == 80.0 and lease["remaining_s"] == pytest.approx(1800.0)
    assert lease["in_effect"] is True and lease["rate_k_per_h"] == 12.0 and lease["from_c"] == 39.0
    assert lease["arrives"] is False and lease["at_end_c"] == pytest.approx(45.0)
    assert not [k for k in got if "lease" in k]


def test_a_supply_lease_outside_remote_mode_is_not_in_effect_and_other_leases_carry_their_targets() -> None:
    values = {"mode": 3, "supply_setpoint_c": 50.0, "supply_setpoint_lease_s": 600.0, "supply_setpoint_lease_c": 60.0,
              "room_setpoint_lease_s": 7200.0, "room_setpoint_lease_c": 21.5, "dp_setpoint_lease_s": 0.0,
              "mode_lease_s": 0.0}
    got = leases.from_values(values)
    assert got["supply_setpoint"]["in_effect"] is False and "arrives" not in got["supply_setpoint"]
    assert got["room_setpoint"] == {"remaining_s": 7200.0, "value": 21.5, "unit": "degC"}
    assert set(got) == {"supply_setpoint", "room_setpoint"}
    summer = leases.from_values({"mode": 7, "mode_lease_s": 3600.0, "mode_lease_return": 3})
    assert summer["mode"]["back_to"] == 3
    # a station that sends its snapshot's leases beside older values
    assert leases.from_values({}, {"boost": [3.0, 900.0]})["boost"] == {"remaining_s": 900.0, "value": 3.0, "unit": "K"}


@given(st.dictionaries(st.sampled_from([left for _n, left, _v, _u in leases.LEASES] + [v for _n, _l, v, _u in leases.LEASES]
                                       + ["mode", "supply_setpoint_c", "ramp_up_k_per_h", "supply_temp_c"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=False),
                                 st.sampled_from([0.0, -0.0, 0, 1800.0])), max_size=10))
def test_a_sample_with_no_time_left_on_any_lease_has_none(values: dict) -> None:
    """The quick answer for the usual sample (every lease's time left 0, absent or not a number)
    is the full reading's answer, whatever else the sample holds."""
    assert leases.from_values(values) == leases.from_values(values, {})


_LEASE_FIELDS = [left for _n, left, _v, _u in leases.LEASES] + [v for _n, _l, v, _u in leases.LEASES]


@given(st.dictionaries(st.sampled_from(_LEASE_FIELDS + ["mode", "supply_setpoint_c", "supply_temp_c"]),
                       st.one_of(st.none(), st.integers(-5, 5), st.floats(-10, 2000), st.sampled_from([0.0, 0, 1800.0])),
                       max_size=8),
       st.one_of(st.none(), st.just({"boost": [3.0, 900.0]}), st.just({})),
       st.one_of(st.just({}), st.none(), st.just({"boost": {"remaining_s": 5.0, "value": 1.0, "unit": "K"}})))
def test_live_leases_are_the_full_reading_of_each_sample(values: dict, sent: object, held: object) -> None:
    """live_state keeps the empty leases it holds when a sample has none: what it then holds is
    always the full reading of the newest sample, whatever it held before."""
    state = live_state.blank_state()
    state["leases"] = held
    body = {"values": values} if sent is None else {"values": values, "leases": sent}
    live_state.take_values(state, 1, 1000.0, body, 1000.0)
    assert state["leases"] == leases.from_values(values, sent) == leases.from_values(values, {} if sent is None else sent)
    assert state["leases"].__class__ is dict


@given(st.dictionaries(st.sampled_from(["boost_lease_s", "mode_lease_s", "heat_cap_lease_s", "mode", "x"]),
                       st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-3, 3), st.booleans()), max_size=5))
def test_both_lease_checks_agree(values: dict) -> None:
    """The usual sample's "any lease time left" check, compiled (a loop on the dict) and
    interpreted (C builtins): the same answer (both called whichever way the module was loaded)."""
    assert leases._any_left_by_loop(values) == leases._any_left_by_map(values)
