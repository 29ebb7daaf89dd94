"""`heatkeeper authority-report` writes one report from the supervisor's database as .xlsx and CSV
(the same rows the scheduler sends); a time that is no period's end is refused, nothing written."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from heatkeeper.supervisor.storage import open_storage

from .test_authority_reports import same_table, seed


def test_report_from_the_database(tmp_path: Path) -> None:
    db = tmp_path / "sup.db"
    config = tmp_path / "sup.toml"
    config.write_text('[supervisor]\nsite_name = "arxan"\n[storage]\npath = "%s"\n'
                      '[[station]]\nid = "st-a"\n[[station]]\nid = "st-b"\n[[station]]\nid = "st-c"\n'
                      '[[station]]\nid = "st-d"\n' % db, encoding="utf-8")

    async def prepare() -> None:
        st = open_storage("sqlite", path=str(db))
        await st.open()
        try:
            await seed(st)
        finally:
            await st.close()

    asyncio.run(prepare())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "heatkeeper.tools.cli", "authority-report", "--config", str(config)]
    done = subprocess.run([*cmd, "--report", "hourly", "--end", "2026-12-02T17:00", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / "arxan-hourly-2026-12-02-1700.xlsx"),
                                   str(out / "arxan-hourly-2026-12-02-1700.csv")]
    text = (out / "arxan-hourly-2026-12-02-1700.csv").read_text(encoding="utf-8")
    same_table(text, (out / "arxan-hourly-2026-12-02-1700.xlsx").read_bytes(), "hourly")
    assert "Sunny Garden,2026-12-02 16:00,st-a;st-b,2,30.0," in text
    done = subprocess.run([*cmd, "--report", "weekly", "--end", "2026-12-07T09:00+08:00", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "st-a,st-a,Sunny Garden,heat,kWh,2026-11-30 09:00,1000.0,2026-12-07 09:00,1500.5,500.5,1.802," in (
        out / "arxan-weekly-2026-12-07-0900.csv").read_text()
    for end in ("2026-12-02T17:30", "yesterday"):
        bad = subprocess.run([*cmd, "--report", "hourly", "--end", end, "--out", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "--end" in bad.stderr and bad.stdout == ""
        assert not (tmp_path / "none").exists()
