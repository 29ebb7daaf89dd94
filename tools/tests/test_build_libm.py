"""The compiled modules' math functions bind to libm's current symbol versions.

Built without `-lm`, a module's reference to `pow` carries no symbol version, and glibc binds an
unversioned reference to the oldest version: pow@GLIBC_2.2.5, the compat wrapper kept for old
binaries. setup.py links libm by name on Linux (EXTRA_LIBRARIES), so every reference to a libm
function names the version that libm marks as the default one (`pow@@GLIBC_2.29`).

Read from the built files with readelf; skipped where there is no compiled build, no readelf or
no versioned libm (not Linux/glibc).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib
import os
import re
import shutil
import subprocess
import sys

import pytest
from heatkeeper.core import _cext

from .plant.test_cext import listed_modules

# `  931: 00000000000392b0   181 FUNC    GLOBAL DEFAULT   17 pow@@GLIBC_2.29`
#  (an undefined reference: `... UND pow@GLIBC_2.29 (4)`, or `... UND pow` with no version)
_SYMBOL = re.compile(r"^\s*\d+:\s+[0-9a-f]+\s+\d+\s+\w+\s+\w+\s+\w+\s+(\w+)\s+([^\s@]+)(@@?)?([^\s]+)?")


def _dynamic_symbols(path: str) -> list[tuple[str, str, str, str]]:
    """(section index or UND, name, "@", "@@" or "", version) of each dynamic symbol."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", path], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        match = _SYMBOL.match(line)
        if match:
            found.append((match.group(1), match.group(2), match.group(3) or "", match.group(4) or ""))
    return found


def _libm_path() -> str | None:
    """The libm this process runs with (Linux: from /proc/self/maps)."""
    name = ctypes.util.find_library("m")
    if name is None or not os.path.exists("/proc/self/maps"):
        return None
    ctypes.CDLL(name)
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if os.path.basename(path).startswith("libm.so") or os.path.basename(path).startswith("libm-"):
                return path
    return None


def libm_default_versions(path: str) -> dict[str, str]:
    """Each libm function's default version (`pow` -> `GLIBC_2.29`)."""
    return {name: version for section, name, at, version in _dynamic_symbols(path) if section != "UND" and at == "@@"}


def math_references(path: str, libm_names: set[str]) -> dict[str, str]:
    """A built module's references to libm's functions: name -> version ("" when unversioned)."""
    return {name: version for section, name, _at, version in _dynamic_symbols(path)
            if section == "UND" and name in libm_names}


def bound_wrongly(module_path: str, defaults: dict[str, str]) -> list[str]:
    """The module's libm references that are unversioned or name a version other than the default."""
    refs = math_references(module_path, set(defaults))
    return ["%s@%s (libm's default: %s)" % (name, version or "<unversioned>", defaults[name])
            for name, version in sorted(refs.items()) if version != defaults[name]]


def _setup() -> dict[str, str]:
    if not sys.platform.startswith("linux") or shutil.which("readelf") is None:
        pytest.skip("needs Linux and readelf")
    libm = _libm_path()
    if libm is None:
        pytest.skip("no libm found in this process")
    defaults = libm_default_versions(libm)
    if "pow" not in defaults:
        pytest.skip("libm has no versioned symbols here (not glibc)")
    return defaults


def test_compiled_modules_bind_math_to_current_versions() -> None:
    defaults = _setup()
    checked = 0
    wrong = {}
    for module in listed_modules():
        mod = importlib.import_module(module)
        if not _cext.compiled(mod):
            continue
        checked += 1
        problems = bound_wrongly(mod.__file__ or "", defaults)
        if problems:
            wrong[module] = problems
    if not checked:
        pytest.skip("no compiled build")
    assert not wrong, "math functions not bound to libm's current versions (link with -lm): %r" % wrong


def test_the_plant_references_pow() -> None:
    # The check above is not empty: the plant's model calls pow, and the reference is seen.
    defaults = _setup()
    from heatkeeper.tools.plant import model
    if not _cext.compiled(model):
        pytest.skip("no compiled build")
    assert "pow" in math_references(model.__file__ or "", set(defaults))


def test_an_unversioned_reference_is_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A module built the old way (no -lm): its `pow` is unversioned and is reported.
    defaults = _setup()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    source = tmp_path / "m.c"
    source.write_text("#include <math.h>\ndouble f(double x, double y) { return pow(x, y); }\n")
    for libs, expect_wrong in (([], True), (["-lm"], False)):
        lib = tmp_path / ("m%d.so" % len(libs))
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-fno-builtin", "-o", str(lib), str(source), *libs], check=True)
        problems = bound_wrongly(str(lib), defaults)
        assert bool(problems) == expect_wrong, (libs, problems)
        if expect_wrong:
            assert problems[0].startswith("pow@<unversioned>"), problems
