"""The open_window scenario (the demo's room falling short): one group's monitored flats fall
below 18 degC while the windows are open and come back once they are shut; nothing else moves."""

from __future__ import annotations

import pytest
from heatkeeper.tools.plant import Plant


def _group_readings(plant: Plant, group: str) -> list[float]:
    return [temp for _cid, name, temp in plant.collector_readings() if name == group]


def test_the_group_falls_short_and_recovers_while_the_rest_does_not_move() -> None:
    plant, twin = Plant(seed=3), Plant(seed=3)
    plant.inject("open_window", group="block-02", delta_k=4.0, duration_s=105.0, tau_s=45.0)
    lowest, trace = 99.0, []
    for _ in range(10):  # 300 s in 30 s steps, as the demo's collectors report
        plant.advance(30.0)
        twin.advance(30.0)
        mine, theirs = plant.collector_readings(), twin.collector_readings()
        for (cid, group, temp), (cid2, group2, temp2) in zip(mine, theirs, strict=True):
            assert (cid, group) == (cid2, group2)
            if group != "block-02":
                assert temp == temp2, cid  # same noise draws, same figures
        low = min(temp for _cid, group, temp in mine if group == "block-02")
        trace.append(low)
        lowest = min(lowest, low)
        # the group's mean air temperature is the physics, untouched by a few open windows
        assert plant.room_temps_c == twin.room_temps_c
    assert lowest < 17.0, trace
    assert min(trace[:2]) < 18.0 and trace[-1] > 18.5, trace  # short within a minute, back after the windows shut


def test_by_number_and_shut_early() -> None:
    plant = Plant()
    plant.inject("open_window", group=2, delta_k=6.0, duration_s=3600.0, tau_s=30.0)
    plant.advance(60.0)
    assert min(_group_readings(plant, "block-02")) < 16.0
    plant.clear("open_window")
    plant.advance(300.0)
    assert min(_group_readings(plant, "block-02")) > 18.5


@pytest.mark.parametrize("params, message", [
    ({"group": "nowhere"}, "group='nowhere'"),
    ({"group": 99}, "group=99"),
    ({"group": 1, "delta_k": 0.0}, "delta_k=0.0"),
    ({"group": 1, "tau_s": 0.1}, "tau_s=0.1"),
])
def test_bad_parameters_are_refused_with_the_range(params: dict, message: str) -> None:
    plant = Plant()
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        plant.inject("open_window", **params)
    assert plant.collector_readings() == Plant().collector_readings()
