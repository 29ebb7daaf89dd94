"""Outages recorded by hand (`heatkeeper supervisor --import-outages FILE`): stored as heating-outage
episodes of the alarm log on both backends, seen by the refunds like any other, never twice, and
without touching the station's current alarm; a bad file lists every problem and stores nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime
from typing import Any

from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor import household_refunds as hr
from heatkeeper.supervisor.storage import open_storage


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


HOUSEHOLD = {"household_id": "H1", "company": "", "branch": "", "residential_area": "Garden", "station_id": "st-a",
             "building": "B1", "area_m2": "100", "tariff_cny_per_m2": "24.2", "heating_type": "radiator",
             "metering": "area"}


async def test_a_recorded_outage_is_refunded_once_and_leaves_the_current_alarm_alone(storage: Any) -> None:
    cfg = sup_config.validate({})
    await storage.save_households([HOUSEHOLD], "ada", 1.0)
    # the station's heating-outage alarm stands right now: a past episode must not clear it
    await storage.record_alarm("st-a", "heating_outage", "critical", True, ts("2025-12-20T08:00:00+08:00"), "", None)
    past = ("st-a", ts("2025-12-01T10:00:00+08:00"), ts("2025-12-03T09:00:00+08:00"), "recorded by hand")
    assert await storage.add_recorded_outages([past, past]) == 1
    assert await storage.add_recorded_outages([past]) == 0  # the same file twice: nothing new
    alarms = await storage.fetch("SELECT active FROM alarms WHERE station_id = 'st-a' AND code = 'heating_outage'")
    assert alarms == [(1,)]
    report = await hr.refund_report(storage, cfg, 2025, now_ts=ts("2025-12-20T12:00:00+08:00"))
    # 1, 2 and 3 Dec from the recorded outage; the standing one (since 20 Dec 08:00, 4 h) is under 24 h
    assert [(h["outage_days"], h["refund_cny"]) for h in report["households"]] == [(3, "60.00")]


def test_the_command_records_a_good_file_and_refuses_a_bad_one_whole(tmp_path: Any) -> None:
    (tmp_path / "sup.toml").write_text('[supervisor]\ndata_dir = "data"\n'
                                       '[[station]]\nid = "st-a"\nname = "A"\ncity = "Arxan"\n', encoding="utf-8")
    (tmp_path / "o.csv").write_text("station_id,start,end\nst-a,2025-12-01T10:00:00+08:00,2025-12-03T09:00:00+08:00\n",
                                    encoding="utf-8")
    (tmp_path / "bad.csv").write_text("station_id,start,end\nst-a,2025-12-05T10:00:00+08:00,2025-12-05T09:00:00+08:00\n"
                                      "st-z,2025-12-01T10:00:00+08:00,2025-12-02T10:00:00+08:00\n"
                                      "st-a,yesterday,2025-12-02T10:00:00+08:00\n", encoding="utf-8")

    def supervisor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--config", "sup.toml",
                               *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)

    done = supervisor("--import-outages", "bad.csv")
    assert done.returncode == 2
    assert "bad.csv:2: end=" in done.stderr and "station_id='st-z'" in done.stderr and "bad.csv:4" in done.stderr
    for expected in ("1 outages, 1 new recorded", "1 outages, 0 new recorded"):
        done = supervisor("--import-outages", "o.csv")
        assert done.returncode == 0 and expected in done.stdout, done.stderr

    async def stored() -> tuple[list[tuple[str, float, float | None]], list[tuple[str, str]]]:
        st = open_storage("sqlite", path=str(tmp_path / "data" / "supervisor.db"))
        await st.open()
        try:
            return await st.outage_episodes(), [(a["action"], a["result"]) for a in await st.audit_rows(10, None)]
        finally:
            await st.close()

    episodes, audit = asyncio.run(stored())
    assert episodes == [("st-a", ts("2025-12-01T10:00:00+08:00"), ts("2025-12-03T09:00:00+08:00"))]
    assert audit.count(("outages_import", "ok")) == 2
