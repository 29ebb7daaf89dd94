"""`make build` is quiet and compiles only what changed: the build log shows problems, not
Cython's performance hints or setuptools' framed notices; a second build compiles nothing.

Runs the real setup.py in a copy of the tree (core's sources only, one compiled module), so
the worktree's own build is untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "setup.py", tree / "setup.py")
    shutil.copytree(ROOT / "core", tree / "core", ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__", "tests"))
    return tree


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEATKEEPER_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


def test_the_build_is_quiet_and_a_second_build_compiles_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    # sensors.py gives Cython performance hints (six of the nineteen the whole tree gives)
    env = _env(HEATKEEPER_CEXT_PACKAGES="heatkeeper.core.sensors", HEATKEEPER_REQUIRE_CEXT="1")
    cmd = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
    first = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    built = list((tree / "core").glob("sensors.*.so"))
    assert len(built) == 1, first.stdout + first.stderr
    assert "performance hint" not in (first.stdout + first.stderr).lower()
    assert first.stdout.strip() == "" and first.stderr.strip() == "", first.stdout + first.stderr
    mtime = built[0].stat().st_mtime_ns
    second = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "" and second.stderr.strip() == "", second.stdout + second.stderr
    assert built[0].stat().st_mtime_ns == mtime, "nothing changed, yet the module was compiled again"


def test_a_real_compile_error_still_shows(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    pxd = tree / "core" / "units.pxd"
    pxd.write_text(pxd.read_text(encoding="utf-8") + "\ncdef int this is not cython\n", encoding="utf-8")
    env = _env(HEATKEEPER_CEXT_PACKAGES="heatkeeper.core.units", HEATKEEPER_REQUIRE_CEXT="1")
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "units.pxd" in proc.stdout + proc.stderr


def test_the_editable_install_prints_no_framed_notice(tmp_path: Path) -> None:
    # what `pip install -e .` runs (PEP 660 build_editable), as `make build` does it: nothing compiled
    tree = _tree(tmp_path)
    code = "from setuptools import build_meta; print(build_meta.build_editable(%r))" % str(tmp_path / "dist")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=_env(HEATKEEPER_DISABLE_CEXT="1"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dist" / proc.stdout.strip().splitlines()[-1]).exists()
    assert "!!" not in proc.stderr and "****" not in proc.stderr, proc.stderr
