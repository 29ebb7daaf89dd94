"""`heatkeeper sim` as a command: bad configs stop it with every problem listed; with the
plant model it serves the example station on a pty and obeys the control channel."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from heatkeeper.tools.sim.control import SimControl


def run_sim(*args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "sim", *args], capture_output=True,
                          text=True, timeout=timeout_s)


def test_bad_config_lists_every_problem_and_exits_2(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[sim]\ntime_scale = "fast"\ncontrol = "0.0.0.0:80"\n\n[[bus]]\nname = "rs485-1"\nport = ""\n'
                    '[[line]]\nbus = "rs485-1"\ntransport = "carrier-pigeon"\n[[line]]\nbus = "nope"\n')
    done = run_sim("--config", str(path))
    assert done.returncode == 2
    for needle in ("sim.time_scale='fast'", "loopback only", "bus[rs485-1].port", "carrier-pigeon", "line.bus='nope'"):
        assert needle in done.stderr, done.stderr
    done = run_sim("--config", str(tmp_path / "missing.toml"))
    assert done.returncode == 2 and "file not found" in done.stderr
    good = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "sim-standalone.toml")
    done = run_sim("--config", good, "--time-scale", "-3", "--mqtt", "nowhere")
    assert done.returncode == 2 and "--time-scale=-3" in done.stderr and "--mqtt=" in done.stderr


def test_the_example_runs_and_answers_on_its_control_channel(tmp_path) -> None:
    pytest.importorskip("heatkeeper.tools.plant")
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "sim-standalone.toml")
    text = open(example).read().replace("/tmp/heatkeeper/arxan-01", str(tmp_path / "arxan-01"))
    text = text.replace('control = "127.0.0.1:7502"', 'control = "127.0.0.1:0"')
    path = tmp_path / "sim.toml"
    path.write_text(text)
    log = open(tmp_path / "sim.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "heatkeeper.tools.cli", "sim", "--config", str(path),
                             "--time-scale", "30", "--duration-s", "600"], stdout=log, stderr=subprocess.STDOUT)
    try:
        addr = tmp_path / "arxan-01.sim"
        for _ in range(200):
            if addr.exists():
                break
            time.sleep(0.05)
        host, port = addr.read_text().strip().split(":")
        ctl = SimControl(host, int(port))
        assert os.path.islink(tmp_path / "arxan-01.tty")
        readings = ctl.command("readings")["readings"]
        assert -50.0 < readings["outdoor_temp_c"] < 20.0
        assert ctl.command("inject leak 1.5")["params"] == {"m3h": 1.5}
        assert "leak" in ctl.command("status")["faults"]
        ctl.command("unplug")
        assert not os.path.lexists(tmp_path / "arxan-01.tty")
        ctl.command("plug")
        assert os.path.islink(tmp_path / "arxan-01.tty")
        ctl.command("stop")
        ctl.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert not os.path.lexists(tmp_path / "arxan-01.tty")


def test_the_station_example_and_the_sim_example_agree() -> None:
    here = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    station = os.path.join(here, "..", "..", "firmware", "examples", "station.toml")
    if not os.path.exists(station):
        pytest.skip("firmware/examples/station.toml is not in this build")
    from heatkeeper.tools.sim import config as sim_config

    cfg = sim_config.load(os.path.join(here, "sim.toml"))
    assert cfg["station_id"] == "arxan-01"
    assert {d["name"] for d in cfg["devices"]} >= {"heat_meter", "valve", "pump1", "pump2", "makeup"}
    standalone = sim_config.load(os.path.join(here, "sim-standalone.toml"))
    assert [(d["name"], d["unit_id"], d["profile"], d["points"]) for d in standalone["devices"]] == [
        (d["name"], d["unit_id"], d["profile"], d["points"]) for d in cfg["devices"]]
