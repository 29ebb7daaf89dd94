"""Fixtures of the hardware-in-the-loop suites: each test gets a fresh rig of Mosquitto on a
free loopback port, `heatkeeper sim` and the real `heatkeeper station` (subprocesses), the
simulator's control channel and an aiomqtt recorder of everything under heatkeeper/v1/.

Real rig: HEATKEEPER_HIL_STATION_CONFIG=<station.toml with real serial ports> and, to drive
the devices from the simulator through a second adapter, HEATKEEPER_HIL_SIM_CONFIG=<sim.toml
with [[line]] transport = "serial">. See heatkeeper.tools.sim.rig.

Every test is marked `hil`; the long ones are also `slow` (run with --run-slow or
`make test-hil`). On failure the tails of the simulator and station logs are printed.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from heatkeeper.tools.procs import kill_all
from heatkeeper.tools.sim.rig import Rig
from heatkeeper.tools.testing.mosquitto import mosquitto_missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "hil_tests" in str(item.fspath):
            item.add_marker(pytest.mark.hil)


def _missing() -> str:
    if mosquitto_missing():
        return "mosquitto is not installed (tools/setup/system-deps.sh)"
    return ""


@pytest.fixture
def make_rig(tmp_path, request) -> Iterator[Callable[..., Rig]]:
    """make_rig(time_scale=..., cycle_s=..., plant={...}, scenarios=[...], lines=[...],
    station_overrides={...}) -> a started Rig; everything it started is stopped afterwards."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    rigs: list[Rig] = []

    def factory(**kwargs: Any) -> Rig:
        rig = Rig(str(tmp_path / ("rig%d" % len(rigs))), **kwargs)
        rigs.append(rig)
        rig.start()
        return rig

    try:
        yield factory
    finally:
        failed = getattr(request.node, "rep_call", None)
        try:
            for rig in rigs:
                if failed is not None and failed.failed:
                    print(rig.logs())
        finally:
            for rig in rigs:
                try:
                    rig.close()
                finally:
                    kill_all()  # whatever a failed close left behind


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


def pytest_configure(config: pytest.Config) -> None:
    # `timeout`, CI cancellation and `kill PID` send SIGTERM: turn it into KeyboardInterrupt so
    # the fixtures' teardown stops the station, simulator and broker (SIGKILL of pytest is
    # covered by PR_SET_PDEATHSIG in the rig's processes).
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
