"""What stops the supervisor at start says so in one line, with a non-zero status, and leaves
nothing running: here the dashboard's port held by another program (the database's cases are in
test_database_late.py). A stop by signal ends with a line that says it stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.mosquitto import mosquitto_missing

pytestmark = pytest.mark.skipif(bool(mosquitto_missing()), reason=mosquitto_missing())


def test_a_web_port_another_program_holds_is_one_line_and_the_broker_goes(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        web_port = holder.getsockname()[1]
        mqtt_port = free_port()
        cfg_path = tmp_path / "supervisor.toml"
        cfg_path.write_text('[supervisor]\ndata_dir = "%s"\n[broker]\nembedded = true\nport = %d\n[mqtt]\nport = %d\n'
                            '[web]\nenabled = true\nhost = "127.0.0.1"\nport = %d\n[[station]]\nid = "st-a"\n'
                            % (tmp_path / "sup", mqtt_port, mqtt_port, web_port), encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(cfg_path)],
                                capture_output=True, text=True, timeout=90)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "web.port=%d on 127.0.0.1: cannot listen (Address already in use): another program holds the port? choose "
        "another [web] port" % web_port), result.stderr
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "sup")], capture_output=True, text=True).stdout.split()
    assert left == [], left  # the embedded broker stopped with it


def test_a_stop_by_signal_ends_with_its_own_line(tmp_path: Path) -> None:
    import signal
    import time

    mqtt_port = free_port()
    cfg_path = tmp_path / "supervisor.toml"
    cfg_path.write_text('[supervisor]\ndata_dir = "%s"\n[broker]\nembedded = true\nport = %d\n[mqtt]\nport = %d\n'
                        '[web]\nenabled = true\nhost = "127.0.0.1"\nport = %d\n[[station]]\nid = "st-a"\n'
                        % (tmp_path / "sup", mqtt_port, mqtt_port, free_port()), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", str(cfg_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "web dashboard on" not in proc.stdout.readline():
            pass
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, rest
    assert rest.strip().splitlines()[-1].endswith(
        "supervisor stopped: what it had received is stored, its broker stopped"), rest
