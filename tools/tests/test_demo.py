"""`heatkeeper demo` end to end: the README's "run it" command, checked from the outside.

Starts the real demo (embedded broker, supervisor on SQLite, three stations each against its own
simulator over a pty) at 20x time, logs in to the dashboard as the demo operator, and checks that
every station reports live values, that a command from the dashboard is applied (signed with the
station's key end to end), that the leaking station raises its leak alarm, and that
Ctrl-C (SIGINT) stops every process.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest


def _open(opener: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_for(check: Any, timeout_s: float, proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo exited early"
        last = check()
        if last:
            return last
        time.sleep(2.0)
    return last


def test_demo_runs_the_whole_system_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatkeeper.tools.cli", "demo", "--port", "0", "--time-scale", "20",
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url = None
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"dashboard:\s+(http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
            if "Ctrl-C stops everything" in line:
                break
        assert url, "no dashboard address printed:\n" + "".join(lines)
        assert any("operator" in line and "heatkeeper" in line for line in lines), "demo login not printed"

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        status, page = _open(opener, url + "login")
        assert status == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        status, _ = _open(opener, url + "login", {"username": "operator", "password": "heatkeeper",
                                                  "csrf": csrf.group(1), "next": "/"})
        assert status == 200  # redirected to the fleet overview

        def all_live() -> list[dict[str, Any]] | None:
            code, text = _open(opener, url + "api/stations")
            assert code == 200, text
            stations = json.loads(text)["stations"]
            live = [s for s in stations if s.get("online") and s.get("supply_temp_c") is not None]
            return stations if len(live) == 3 else None

        stations = _wait_for(all_live, 90, proc)
        assert stations, "not every station reported live values"
        assert {s["station_id"] for s in stations} == {"arxan-01", "ordos-01", "yutai-01"}

        # A remote command from the dashboard is signed by the supervisor with the station's key
        # (made at start, copied into the station's config by the demo) and applied by the station.
        _code, home = _open(opener, url)
        api_csrf = re.search(r'"csrf":"([^"]+)"', home)
        assert api_csrf, "no CSRF token on the overview page"
        request = urllib.request.Request(
            url + "api/stations/arxan-01/commands", method="POST",
            data=json.dumps({"kind": "set_room_setpoint", "args": {"room_setpoint_c": 19.0}, "lease_s": 3600}).encode(),
            headers={"Content-Type": "application/json", "X-CSRF-Token": api_csrf.group(1)})
        with opener.open(request, timeout=10) as resp:
            assert resp.status == 202
            command_id = json.loads(resp.read())["command_id"]

        def command_done() -> dict[str, Any] | None:
            code, text = _open(opener, url + "api/commands/" + command_id)
            assert code == 200, text
            status = json.loads(text)
            return status if status["state"] != "sent" else None

        done = _wait_for(command_done, 60, proc)
        assert done and (done["state"], done["reason"]) == ("applied", "ok"), done

        def leak_alarm() -> bool:
            code, text = _open(opener, url + "api/alarms?station=yutai-01&active=1")
            assert code == 200, text
            return any("leak" in a.get("code", "") for a in json.loads(text)["alarms"])

        assert _wait_for(leak_alarm, 120, proc), "yutai-01's leak alarm did not appear"

        def rooms_seen() -> bool:  # every plant's collectors are registered and their readings stored
            for sid in ("arxan-01", "ordos-01", "yutai-01"):
                code, text = _open(opener, url + "api/stations/%s/rooms" % sid)
                assert code == 200, text
                if len(json.loads(text)["groups"]) < 13:
                    return False
            return True

        assert _wait_for(rooms_seen, 60, proc), "room collector readings missing for some station"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            rest = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest = proc.communicate()[0]
    assert proc.returncode == 0, rest
    assert "stopped" in rest
    # Nothing of the demo is left running: every child was in the demo's process group or its own.
    leftovers = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], "processes left running: %s" % leftovers


@pytest.mark.parametrize("argv, message", [
    (["--time-scale", "0.5"], "--time-scale=0.5"),
    (["--port", "80"], "--port=80"),
])
def test_bad_arguments_are_refused_with_the_reason(argv: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "demo", "--data-dir", str(tmp_path / "d"), *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
