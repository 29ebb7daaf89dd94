"""The map of the rooms (docs/ROOMS.md), checked on the source: every `import` and
`from ... import` in the tree is parsed (ast, relative imports resolved) and must follow it.

- core imports only core and the stdlib modules MicroPython also has (CORE_STDLIB); its
  CPython-only switch `_cext.py` also uses importlib/os, and its `# cpython-only` tests a few
  CPython test tools. core names no room above it, not even in a string.
- firmware and supervisor never import each other; neither, nor core, imports tools.
- tools reaches into the supervisor only from the benchmarks, the demo and the CLI (and the
  HIL rig, which signs commands with the supervisor's command keys as the supervisor would).
- No "optional build" hedges: no `try: import heatkeeper... except ImportError`: every room is
  always installed, so a missing module of ours is a broken install that must fail loudly.

The cross-room rules bind the product modules; tests may use the rooms below them and tools'
simulators as test equipment. This file lives in tools (it reads every room); the MicroPython
runner only collects core/tests, so it never sees it.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOMS = ("core", "firmware", "supervisor", "tools", "hil_tests")

# What core's modules may import besides core: all present in MicroPython too.
CORE_STDLIB = frozenset({"array", "json", "math", "struct", "sys"})
# core/_cext.py runs on CPython only (core/__init__ imports it there): the import hook it installs.
CEXT_STDLIB = frozenset({"importlib", "importlib.abc", "importlib.machinery", "importlib.util", "os"})
# core's tests: MicroPython's unittest; the `# cpython-only` ones also CPython's test tools.
CORE_TEST_STDLIB = frozenset({"unittest"})
CPYTHON_ONLY_TEST_IMPORTS = frozenset({"__future__", "ast", "datetime", "importlib", "os", "subprocess", "sys",
                                       "hypothesis", "hypothesis.strategies"})  # datetime: the calendar's reference

# tools' modules that may reach into the supervisor (paths relative to tools/).
TOOLS_INTO_SUPERVISOR = ("bench/", "demo.py", "cli.py", "sim/rig.py", "testing/")
# Hedges not removed yet, each with its reason (remove the entry with the hedge).
HEDGES_LEFT: dict[str, str] = {}


def python_files(room: str) -> Iterator[str]:
    for root, dirs, files in os.walk(os.path.join(ROOT, room)):
        dirs[:] = sorted(d for d in dirs if d not in ("node_modules", "build", "__pycache__") and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(root, name), ROOT)


def is_test(path: str) -> bool:
    parts = path.split(os.sep)
    return parts[0] == "hil_tests" or "tests" in parts[1:-1] or parts[-1] == "conftest.py"


def package_of(path: str) -> list[str]:
    """heatkeeper's dotted package of a file, as a list: core/tests/x.py -> heatkeeper.core.tests."""
    return ["heatkeeper"] + os.path.dirname(path).split(os.sep)


def imports_of(path: str, tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in `tree`, relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_of(path)
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if under(module, "heatkeeper"):
                # `from heatkeeper.core import units` / `from . import units`: a name may be a module
                for alias in node.names:
                    yield node.lineno, module + "." + alias.name
            else:
                yield node.lineno, module


def parsed(room: str) -> Iterator[tuple[str, ast.Module]]:
    for path in python_files(room):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            yield path, ast.parse(f.read(), path)


def under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def core_allowed(path: str) -> frozenset[str]:
    allowed = CORE_STDLIB
    if path == os.path.join("core", "_cext.py"):
        allowed |= CEXT_STDLIB
    if is_test(path):
        allowed |= CORE_TEST_STDLIB
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            if f.readline().startswith("# cpython-only"):
                allowed |= CPYTHON_ONLY_TEST_IMPORTS
    return allowed


def core_problems() -> list[str]:
    problems = []
    for path, tree in parsed("core"):
        allowed = core_allowed(path)
        for line, module in imports_of(path, tree):
            if not under(module, "heatkeeper.core") and module not in allowed:
                problems.append("%s:%d imports %s (core may use core and %s)" % (path, line, module, sorted(allowed)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for room in ("firmware", "supervisor", "tools"):
                    if "heatkeeper.%s" % room in node.value:
                        problems.append("%s:%d names heatkeeper.%s" % (path, node.lineno, room))
    return problems


def cross_room_problems() -> list[str]:
    forbidden = {"firmware": ("heatkeeper.supervisor", "heatkeeper.tools"),
                 "supervisor": ("heatkeeper.firmware", "heatkeeper.tools"),
                 "tools": ("heatkeeper.supervisor",)}
    problems = []
    for room, packages in forbidden.items():
        for path, tree in parsed(room):
            if is_test(path):
                continue
            if room == "tools" and os.path.relpath(path, "tools").startswith(TOOLS_INTO_SUPERVISOR):
                continue
            for line, module in imports_of(path, tree):
                for package in packages:
                    if under(module, package):
                        problems.append("%s:%d imports %s" % (path, line, module))
    return problems


def hedge_problems() -> list[str]:
    problems = []
    for room in ROOMS:
        for path, tree in parsed(room):
            if path in HEDGES_LEFT:
                continue
            for node in ast.walk(tree):
                if not isinstance(node, ast.Try):
                    continue
                ours = [m for stmt in node.body for _, m in imports_of(path, stmt) if under(m, "heatkeeper")]
                catches = [ast.unparse(h.type) for h in node.handlers if h.type is not None]
                if ours and any("ImportError" in c or "ModuleNotFoundError" in c for c in catches):
                    problems.append("%s:%d: try/except ImportError around %s" % (path, node.lineno, ", ".join(ours)))
    return problems


def test_core_imports_only_core_and_its_stdlib() -> None:
    assert core_problems() == []


def test_firmware_and_supervisor_stay_apart_and_tools_keeps_to_its_doors() -> None:
    assert cross_room_problems() == []


def test_no_optional_build_hedges_around_our_own_modules() -> None:
    assert hedge_problems() == []


@pytest.mark.parametrize(("path", "source", "expected"), [
    ("core/x.py", "import os\n", "imports os"),
    ("core/x.py", "from heatkeeper.firmware import config\n", "imports heatkeeper.firmware.config"),
    ("core/x.py", "from .. import tools\n", "imports heatkeeper.tools"),
    ("core/x.py", "P = ('heatkeeper.tools.plant.',)\n", "names heatkeeper.tools"),
    ("core/x.py", "def f():\n    import asyncio\n", "imports asyncio"),
])
def test_core_rule_catches(tmp_path, monkeypatch: pytest.MonkeyPatch, path: str, source: str, expected: str) -> None:
    _fake_room(tmp_path, monkeypatch, path, source)
    assert any(expected in p for p in core_problems()), core_problems()


@pytest.mark.parametrize(("path", "source"), [
    ("firmware/x.py", "from heatkeeper.supervisor import ingest\n"),
    ("supervisor/x.py", "from heatkeeper.firmware.uplink import Uplink\n"),
    ("supervisor/x.py", "def f():\n    from heatkeeper.tools import plant\n"),
    ("tools/sim/x.py", "from heatkeeper.supervisor import storage\n"),
])
def test_cross_room_rule_catches(tmp_path, monkeypatch: pytest.MonkeyPatch, path: str, source: str) -> None:
    _fake_room(tmp_path, monkeypatch, path, source)
    assert [p for p in cross_room_problems() if p.startswith(path)], cross_room_problems()


def test_cross_room_rule_lets_the_benchmarks_in(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_room(tmp_path, monkeypatch, "tools/bench/x.py", "from heatkeeper.supervisor import storage\n")
    assert cross_room_problems() == []


def test_hedge_rule_catches(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_room(tmp_path, monkeypatch, "firmware/x.py",
               "try:\n    from heatkeeper.core import alarms\nexcept ImportError:\n    alarms = None\n")
    assert hedge_problems() == ["firmware/x.py:1: try/except ImportError around heatkeeper.core.alarms"]


def _fake_room(tmp_path, monkeypatch: pytest.MonkeyPatch, path: str, source: str) -> None:
    """A tree holding only `path` with `source`, so each rule is shown to fire."""
    for room in ROOMS:
        (tmp_path / room).mkdir()
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ROOT", str(tmp_path))
