"""`heatkeeper demo` end to end: the README's "run it" command, checked from the outside.

Starts the real demo (embedded broker, supervisor on SQLite, three stations each against its own
simulator over a pty) at 5x time, logs in to the dashboard as the demo operator, and checks that
the three stations are three places (Chinese names, their own building groups), that the story
happens on time in simulated seconds (the README's timeline at the default real time, read off
each simulator's clock): a building group of ordos-01 falls below 18 degC by 2:00 and is back
above by 4:30, yutai-01's make-up leak alarm is up by 4:00; that every station reports live
values, that a command from the dashboard is applied (signed with the station's key end to end),
and that Ctrl-C (SIGINT) stops every process.
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
from heatkeeper.tools import demo
from heatkeeper.tools.sim.config import parse_hostport
from heatkeeper.tools.sim.control import SimControl
from heatkeeper.tools.testing import prometheus

STORY_SCALE = 5.0  # the five-minute story in one wall minute
# What the README promises, in simulated seconds from the start (the same at every time scale).
SHORT_BY_S = 120.0       # ordos-01: 东区2号楼's rooms below 18 degC (windows opened at 0:45)
LEAK_ALARM_BY_S = 240.0  # yutai-01: the make-up water leak alarm (leak from 0:30)
RECOVERED_BY_S = 270.0   # ordos-01: 东区2号楼 back above 18 degC
# Three places: each its own building groups (two room collectors in each).
GROUPS = {"arxan-01": 6, "ordos-01": 4, "yutai-01": 3}
SHORT_GROUP = "东区2号楼"


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
    started_ts = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatkeeper.tools.cli", "demo", "--port", "0", "--time-scale", repr(STORY_SCALE),
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
        # each station's own GET /metrics, as the company's monitoring would scrape it
        station_metrics = dict(re.findall(r"(\S+) (http://127\.0\.0\.1:\d+/metrics)", "".join(lines)))
        assert set(station_metrics) == set(GROUPS), station_metrics
        # the demo prints the timeline this test holds it to
        printed = {(sid, int(m) * 60 + int(s)) for m, s, sid in re.findall(r"by\s+(\d+):(\d\d)\s+(\S+):", "".join(lines))}
        assert printed == {("ordos-01", SHORT_BY_S), ("yutai-01", LEAK_ALARM_BY_S), ("ordos-01", RECOVERED_BY_S)}, printed

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

        def get(path: str) -> Any:
            code, text = _open(opener, url + path)
            assert code == 200, (path, text)
            return json.loads(text)

        # The story, observed as an operator sees it and timed by each simulator's own clock (read
        # after the observation, so a time found here is never earlier than the event).
        sims = {sid: SimControl(*parse_hostport((data_dir / sid / "sim.control").read_text().strip()))
                for sid in ("ordos-01", "yutai-01")}
        seen: dict[str, float] = {}
        deadline = time.monotonic() + RECOVERED_BY_S / STORY_SCALE + 60.0
        try:
            while time.monotonic() < deadline and len(seen) < 3:
                assert proc.poll() is None, "the demo exited early"
                overview = {s["station_id"]: s for s in get("api/stations")["stations"]}
                rooms = get("api/stations/ordos-01")["station"]["rooms"]
                short = sorted({r["group"] for r in rooms if r["temp_c"] < 18.0})
                leak = any(a.get("code") == "makeup_leak_rate" for a in get("api/alarms?station=yutai-01&active=1")["alarms"])
                ordos_s = sims["ordos-01"].command("actuators")["time_s"]
                yutai_s = sims["yutai-01"].command("actuators")["time_s"]
                assert short in ([], [SHORT_GROUP]), short  # that group alone falls short
                # the fleet overview says so too (read a moment earlier: a reading may arrive in between)
                below = overview["ordos-01"]["comfort"]["groups_below_18"]
                if short and below == 1 and "short" not in seen:
                    seen["short"] = ordos_s
                if "short" in seen and "recovered" not in seen and rooms and not short and below == 0:
                    seen["recovered"] = ordos_s
                if leak and "leak" not in seen:
                    seen["leak"] = yutai_s
                time.sleep(1.0)
        finally:
            for sim in sims.values():
                sim.close()
        assert seen.get("short", 1e9) <= SHORT_BY_S, seen
        assert seen.get("leak", 1e9) <= LEAK_ALARM_BY_S, seen
        assert seen.get("recovered", 1e9) <= RECOVERED_BY_S, seen
        # the stored history (coldest reading per bucket, as the rooms chart draws it): above 18 degC,
        # below, above again
        history = get("api/stations/ordos-01/rooms?t0=%d&t1=%d&max_points=5000" % (started_ts - 5, time.time() + 5))
        temps = [temp for _ts, temp in history["groups"][SHORT_GROUP]]
        lowest = temps.index(min(temps))
        assert temps[lowest] < 18.0 and max(temps[:lowest], default=0.0) >= 18.0 and temps[-1] >= 18.0, temps

        stations = _wait_for(all_live, 90, proc)
        assert stations, "not every station reported live values"
        assert {s["station_id"] for s in stations} == {"arxan-01", "ordos-01", "yutai-01"}
        # three places: Chinese names (English in brackets), each unlike the others
        names = [s["name"] for s in stations]
        assert len(set(names)) == 3 and all(any("\u4e00" <= ch <= "\u9fff" for ch in n) and "(" in n for n in names), names

        # In the heating season every city's calendar is pushed and every station runs it (in
        # season by its own clock); outside it the demo says so and pushes none.
        calendars = demo.season_calendar_cities(started_ts)
        assert any(("calendar pushed to every station" if calendars else "no calendar pushed") in line
                   for line in lines), lines

        def calendars_run() -> tuple[list[dict[str, Any]]] | None:  # a tuple: true also for no city
            cities = get("api/season")
            rows = [row for c in cities for row in c["stations"]]
            return (cities,) if all(row["current"] and row["in_season"] for row in rows) else None

        found = _wait_for(calendars_run, 60, proc)
        assert found, "some station does not run its city's calendar: %s" % get("api/season")
        cities = found[0]
        assert sorted(c["city"] for c in cities) == calendars, cities
        assert sorted(row["station_id"] for c in cities for row in c["stations"]) == (sorted(GROUPS) if calendars else [])
        assert all(c["calendar"]["version"] == 1 and c["in_season"] for c in cities), cities

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

        def rooms_seen() -> dict[str, list[str]] | None:  # every plant's collectors registered, readings stored
            groups = {sid: sorted(get("api/stations/%s/rooms" % sid)["groups"]) for sid in GROUPS}
            return groups if all(len(groups[sid]) == n for sid, n in GROUPS.items()) else None

        groups = _wait_for(rooms_seen, 60, proc)
        assert groups, "room collector readings missing for some station"
        assert SHORT_GROUP in groups["ordos-01"] and "1号楼" in groups["arxan-01"], groups
        assert len({tuple(g) for g in groups.values()}) == 3, groups  # no two stations with the same buildings

        # The demo's records (tools/demo_records.py): the refunds of its past outage and failed
        # measurements, and every station's heated area from its households on the energy page.
        season = re.search(r"official measurements of the (\d{4}) season", "".join(lines))
        assert season, lines
        refunds = get("api/refunds?season=" + season.group(1))
        by_id = {h["household_id"]: h for h in refunds["households"]}
        assert (by_id["yutai-01-2-0007"]["outage_days"], by_id["yutai-01-2-0007"]["measurement_months"]) == (2, 1)
        assert by_id["ordos-01-2-0011"]["measurement_months"] == 0 and float(refunds["total_cny"]) > 0
        energy = {s["station_id"]: s for s in get("api/energy?season=" + season.group(1))["stations"]}
        assert {sid: round(s["area_m2"]) for sid, s in energy.items()} == {
            "arxan-01": 100000, "ordos-01": 60000, "yutai-01": 40000}
        # the energy figures' meters reach the supervisor from each station's bus: heat meter, electricity meter
        meters = {sid: {k: (get("api/stations/" + sid)["station"]["values"] or {}).get(k)
                        for k in ("heat_energy_kwh", "electricity_kwh")} for sid in GROUPS}
        assert all(v is not None for m in meters.values() for v in m.values()), meters
        for sid, metrics_url in station_metrics.items():
            with urllib.request.urlopen(metrics_url, timeout=10) as resp:
                samples = prometheus.parse(resp.read().decode("utf-8"))
            assert prometheus.value(samples, "heatkeeper_station_cycles_total", station=sid) > 0, sid
            assert prometheus.value(samples, "heatkeeper_station_uplink_connected", station=sid) == 1, sid
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


def test_a_port_another_program_holds_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # `make demo` on a machine where 8080 is taken: the reason and what to do, nothing started
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "demo", "--data-dir", str(tmp_path / "d"),
                                 "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert ("--port=%d: Address already in use on 127.0.0.1 (another program holds it?): choose another, e.g. --port "
            "%d, or --port 0 for any free one" % (port, port + 1)) in result.stderr, result.stderr
    assert "heatkeeper is running" not in result.stdout and not (tmp_path / "d").exists()


@pytest.mark.parametrize("day, in_season", [("2026-12-04", True), ("2026-11-15", True), ("2027-03-15", True),
                                            ("2026-11-14", False), ("2027-03-16", False), ("2026-07-01", False)])
def test_the_demo_pushes_calendars_only_inside_the_heating_season(day: str, in_season: bool) -> None:
    # noon in China on that day: inside the season [season] defaults give (15 Nov - 15 Mar), all three cities
    from datetime import datetime
    from zoneinfo import ZoneInfo

    noon = datetime.fromisoformat(day + "T12:00:00").replace(tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    assert demo.season_calendar_cities(noon) == (["arxan", "ordos", "yutai"] if in_season else [])
