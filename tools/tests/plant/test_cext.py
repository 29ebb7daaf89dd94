"""The whole compiled list: setup.py's CYTHON_MODULES equals every .pxd in the tree, tools' own
compiled modules honour HEATKEEPER_REQUIRE_CEXT / HEATKEEPER_DISABLE_CEXT (tools registers its
prefix with core's switch), and HEATKEEPER_CEXT_PACKAGES limits what a build compiles.
core/tests/test_cext.py checks core's part on its own."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from typing import Any

import pytest
from heatkeeper.core import _cext

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FOLDERS = {"core": "heatkeeper.core", "firmware": "heatkeeper.firmware",
           "supervisor": "heatkeeper.supervisor", "tools": "heatkeeper.tools"}


def _setup_tree() -> ast.Module:
    with open(os.path.join(ROOT, "setup.py")) as f:
        return ast.parse(f.read())


def listed_modules() -> list[str]:
    for node in _setup_tree().body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CYTHON_MODULES":
            return sorted(ast.literal_eval(node.value))
    raise AssertionError("CYTHON_MODULES not found in setup.py")


def pxd_modules() -> list[str]:
    found = []
    for folder, package in FOLDERS.items():
        for root, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "build") and not d.startswith(".")]
            for name in files:
                if name.endswith(".pxd"):
                    rel = os.path.relpath(os.path.join(root, name[:-4]), os.path.join(ROOT, folder))
                    found.append(package + "." + rel.replace(os.sep, "."))
    return sorted(found)


def selected_modules(environ: dict[str, str]) -> list[str]:
    """setup.py's own selected_modules(), run on its own list (setup.py itself runs setup())."""
    tree = _setup_tree()
    keep: list[ast.stmt] = [n for n in tree.body if (isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CYTHON_MODULES")
            or (isinstance(n, ast.FunctionDef) and n.name == "selected_modules")]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "setup.py", "exec"), namespace)
    return list(namespace["selected_modules"](environ))


def test_list_equals_pxd_files() -> None:
    assert listed_modules() == pxd_modules()


def test_tools_modules_loaded_kind_matches_environment() -> None:
    for module in listed_modules():
        if module.startswith("heatkeeper.core."):
            continue  # core/tests/test_cext.py
        mod = importlib.import_module(module)
        if _cext.cext_disabled():
            assert not _cext.compiled(mod), "%s is compiled under HEATKEEPER_DISABLE_CEXT=1" % module
        elif _cext.cext_required():
            assert _cext.compiled(mod), "%s is not compiled under HEATKEEPER_REQUIRE_CEXT=1" % module
        with open(os.path.join(ROOT, *module.split(".")[1:]) + ".py") as f:
            assert "import cython" not in f.read(), module


def test_disable_cext_loads_the_plant_from_source() -> None:
    # the plant's pure/compiled switch is tools' own: it registers its package with core's hook
    code = ("from heatkeeper.core import _cext; from heatkeeper.tools.plant import model, local_control; "
            "print(_cext.compiled(model), _cext.compiled(local_control), 'heatkeeper.tools.plant.' in _cext.pure_prefixes())")
    env = dict(os.environ, HEATKEEPER_DISABLE_CEXT="1")
    env.pop("HEATKEEPER_REQUIRE_CEXT", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["False", "False", "True"]


def test_cext_packages_limits_the_build() -> None:
    every = listed_modules()
    assert sorted(selected_modules({})) == every
    core_only = selected_modules({"HEATKEEPER_CEXT_PACKAGES": "heatkeeper.core"})
    assert core_only and all(m.startswith("heatkeeper.core.") for m in core_only)
    assert sorted(core_only) == [m for m in every if m.startswith("heatkeeper.core.")]
    every_package = selected_modules({"HEATKEEPER_CEXT_PACKAGES": "heatkeeper.core, heatkeeper.tools.plant, "
                                                                  "heatkeeper.supervisor"})
    assert sorted(every_package) == every
    # a misspelt package is an error that names it, not a silent empty build
    with pytest.raises(SystemExit, match="heatkeeper.cor.*heatkeeper.core"):
        selected_modules({"HEATKEEPER_CEXT_PACKAGES": "heatkeeper.cor"})


def compile_args() -> list[str]:
    """setup.py's EXTRA_COMPILE_ARGS on this platform."""
    for node in _setup_tree().body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "EXTRA_COMPILE_ARGS":
            return list(eval(compile(ast.Expression(node.value), "setup.py", "eval"), {"sys": sys}))
    raise AssertionError("EXTRA_COMPILE_ARGS not found in setup.py")


def test_compile_flags_keep_the_figures_on_every_machine() -> None:
    # No fused multiply-add (GCC fuses by default where the target has it: the ARM boards), and
    # nothing that changes arithmetic or ties the build to the build machine.
    args = compile_args()
    assert "-ffp-contract=off" in args
    for bad in ("-ffast-math", "-Ofast", "-ffp-contract=fast", "-funsafe-math-optimizations", "-march=native",
                "-mcpu=native", "-mtune=native"):
        assert bad not in args, bad


def test_compiled_modules_were_built_with_the_flags() -> None:
    # The flags reach the compiler: GCC records them in each module's debug info.
    import shutil

    from heatkeeper.core import sensors
    if not _cext.compiled(sensors) or shutil.which("readelf") is None:
        pytest.skip("needs the compiled build and readelf")
    out = subprocess.run(["readelf", "--debug-dump=info", sensors.__file__], capture_output=True, text=True,
                         check=False).stdout
    producers = [line for line in out.splitlines() if "DW_AT_producer" in line]
    if not producers or "GNU C" not in producers[0]:
        pytest.skip("not built by GCC with debug info")
    for flag in compile_args():
        assert flag in producers[0], (flag, producers[0])
