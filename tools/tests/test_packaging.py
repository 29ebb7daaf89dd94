"""What each role installs: the setup.py extras cover every third-party import of the code that role
runs, a station box gets none of the supervisor's or the benchmarks' packages, requirements.lock pins
every file with a hash and satisfies every floor, and a command whose role is missing says which to
install (CPython only)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# Code each role runs (tests and test helpers excluded).
STATION_CODE = ["core", "firmware", "tools/commissioning"]
SUPERVISOR_CODE = ["supervisor"]
# Imports that a role's code makes only for an optional feature, and the extra that provides them.
OPTIONAL_IMPORTS = {("firmware/trends_view.py", "matplotlib"): "sim"}
SUPERVISOR_ONLY = {"amqtt", "aiohttp", "jinja2", "asyncpg"}
BENCH_ONLY = {"matplotlib", "numpy", "tomli-w"}


def _setup_lists() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    lists = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.endswith("_REQUIRES"):
                lists[name] = ast.literal_eval(node.value)
    return lists


def _distributions(requirements: list[str]) -> set[str]:
    """The distributions a list of requirements installs directly, extras' own dependencies included."""
    names: set[str] = set()
    for text in requirements:
        req = Requirement(text)
        names.add(canonicalize_name(req.name))
        for extra in req.extras:
            for dep in metadata.requires(req.name) or []:
                dep_req = Requirement(dep)
                if dep_req.marker is not None and dep_req.marker.evaluate({"extra": extra}):
                    names.add(canonicalize_name(dep_req.name))
    return names


def _third_party_imports(folders: list[str]) -> dict[tuple[str, str], str]:
    """(file, top-level module) -> distribution, for every import of a module outside the stdlib and heatkeeper."""
    owners = metadata.packages_distributions()
    found: dict[tuple[str, str], str] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/tests/" in rel or rel.startswith("tests/"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in sys.stdlib_module_names or top in ("heatkeeper", "__future__", "micropython", "cython"):
                        continue
                    dists = owners.get(top)
                    assert dists, "%s imports %r, which no installed distribution provides" % (rel, top)
                    found[(rel, top)] = canonicalize_name(dists[0])
    return found


def test_station_extra_covers_what_the_firmware_imports_and_nothing_of_the_supervisor() -> None:
    lists = _setup_lists()
    station = _distributions(lists["STATION_REQUIRES"])
    sim = _distributions(lists["SIM_REQUIRES"])
    missing = []
    for (rel, top), dist in _third_party_imports(STATION_CODE).items():
        extra = OPTIONAL_IMPORTS.get((rel, top))
        allowed = sim if extra == "sim" else station
        if dist not in allowed:
            missing.append("%s imports %s (%s)" % (rel, top, dist))
    assert not missing, "not in the [station] extra: %s" % "; ".join(missing)
    assert not station & (SUPERVISOR_ONLY | BENCH_ONLY), station & (SUPERVISOR_ONLY | BENCH_ONLY)


def test_supervisor_extra_covers_what_the_supervisor_imports() -> None:
    lists = _setup_lists()
    supervisor = _distributions(lists["STATION_REQUIRES"] + lists["SUPERVISOR_REQUIRES"])
    missing = sorted(
        "%s imports %s (%s)" % (rel, top, dist)
        for (rel, top), dist in _third_party_imports(SUPERVISOR_CODE).items()
        if dist not in supervisor
    )
    assert not missing, "not in the [supervisor] extra: %s" % "; ".join(missing)
    assert not supervisor & BENCH_ONLY


def _pinned(lock: str, extras: dict[str, set[str]] | None = None) -> dict[str, str]:
    """name -> version of a pip-compile lock file; every entry must be pinned with == and carry hashes.
    The extras an entry is pinned with (`pwdlib[argon2]==...`) go to `extras` when given."""
    pinned: dict[str, str] = {}
    entry = ""
    for line in (ROOT / lock).read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith((" ", "\t")):
            entry += line
            continue
        if entry:
            head = entry.split()[0]
            req = Requirement(head)
            assert str(req.specifier).startswith("==") and "," not in str(req.specifier), "%r is not pinned with ==" % head
            assert "--hash=sha256:" in entry, "%s has no hash" % head
            pinned[canonicalize_name(req.name)] = str(req.specifier)[2:]
            if extras is not None:
                extras[canonicalize_name(req.name)] = set(req.extras)
        entry = "" if line.startswith("#") else line
    return pinned


def _requirement_lines(path: str) -> list[str]:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_lock_pins_every_file_with_a_hash_and_satisfies_every_floor() -> None:
    pinned = _pinned("requirements.lock")
    lists = _setup_lists()
    requirements = [r for key in sorted(lists) for r in lists[key]]
    requirements += _requirement_lines("requirements.txt")
    for text_req in requirements:
        req = Requirement(text_req)
        name = canonicalize_name(req.name)
        assert name in pinned, "%s is not in requirements.lock (run make lock)" % req.name
        assert req.specifier.contains(pinned[name], prereleases=True), "requirements.lock pins %s==%s outside %s" % (
            req.name,
            pinned[name],
            req.specifier,
        )


def test_lock_pins_every_extra_a_locked_package_asks_for() -> None:
    """A package that asks for another's extra (amqtt: `pwdlib[argon2]`) needs that pin written with the
    extra: pinned bare, a fresh venv's pip resolved the extra to a newer release from PyPI and refused the
    whole --require-hashes install (`make lock` must not strip extras)."""
    extras: dict[str, set[str]] = {}
    pinned = _pinned("requirements.lock", extras)
    asked = []
    for name in pinned:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (another platform's or Python's package)
        for text in requires:
            req = Requirement(text)
            if req.extras and (req.marker is None or req.marker.evaluate({"extra": ""})):
                dep = canonicalize_name(req.name)
                asked.append((name, dep))
                assert dep in pinned, "%s asks for %s, not in requirements.lock" % (name, text)
                assert req.extras <= extras[dep], "%s asks for %s: requirements.lock pins %s without the extra %s" % (
                    name, text, dep, sorted(req.extras - extras[dep]))
    assert ("amqtt", "pwdlib") in asked


def test_station_lock_is_the_station_extra_pinned_and_nothing_more() -> None:
    station = _setup_lists()["STATION_REQUIRES"]
    assert sorted(_requirement_lines("requirements-station.in")) == sorted(station)
    pinned = _pinned("requirements-station.lock")
    for text_req in station:
        req = Requirement(text_req)
        assert req.specifier.contains(pinned[canonicalize_name(req.name)], prereleases=True)
    everything = _pinned("requirements.lock")
    assert not set(pinned) & (SUPERVISOR_ONLY | BENCH_ONLY), set(pinned) & (SUPERVISOR_ONLY | BENCH_ONLY)
    # the station box runs the same versions as the tests
    assert {name: everything.get(name) for name in pinned} == pinned


def test_a_command_whose_role_is_not_installed_names_the_extra(tmp_path: Path) -> None:
    # aiohttp made unimportable, as on a station box that installed only heatkeeper[station]
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['aiohttp'] = None\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "heatkeeper.tools.cli", "supervisor", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "aiohttp" in proc.stderr and "heatkeeper[supervisor]" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["station", "check-config", "trends", "scan", "probe", "stroke-test", "pump-test"])
def test_station_commands_start_without_the_supervisor_or_bench_packages(tmp_path: Path, name: str) -> None:
    blocked = ["aiohttp", "jinja2", "asyncpg", "amqtt", "matplotlib", "numpy", "tomli_w"]
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nfor m in %r:\n    sys.modules[m] = None\n" % blocked, encoding="utf-8"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "heatkeeper.tools.cli", name, "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_the_vendored_chart_library_is_the_one_npm_pins() -> None:
    """The dashboard serves uPlot from supervisor/web/static/vendor (no internet at a heating
    company's control room); the copy there must be byte for byte the version package.json pins."""
    root = Path(__file__).resolve().parents[2]
    pinned = json.loads((root / "package.json").read_text())["dependencies"]["uplot"]
    installed = json.loads((root / "node_modules" / "uplot" / "package.json").read_text())["version"]
    assert installed == pinned
    vendor = root / "supervisor" / "web" / "static" / "vendor"
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        assert (vendor / name).read_bytes() == (root / "node_modules" / "uplot" / "dist" / name).read_bytes(), name
    assert (vendor / "LICENSE-uplot.txt").read_bytes() == (root / "node_modules" / "uplot" / "LICENSE").read_bytes()
