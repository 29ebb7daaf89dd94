"""Fixtures of the firmware tests: a real Mosquitto broker per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from heatkeeper.tools.testing.mosquitto import Mosquitto


@pytest.fixture
def mosquitto(tmp_path) -> Iterator[Mosquitto]:
    broker = Mosquitto(str(tmp_path / "broker"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
