"""CPython only: choose between the Cython-compiled and the pure-Python hot modules.

`HEATKEEPER_DISABLE_CEXT=1` makes every `heatkeeper.core.*` import load the `.py` source even
where a compiled module sits beside it, so one build can be tested both ways. A package outside
core with compiled modules of its own adds itself with `register_pure_package("heatkeeper.x.")`
from its `__init__` (core names no room above it). `compiled(module)` tells which one was loaded.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_pure_prefixes = ["heatkeeper.core."]


def cext_disabled() -> bool:
    return os.environ.get("HEATKEEPER_DISABLE_CEXT") == "1"


def cext_required() -> bool:
    return os.environ.get("HEATKEEPER_REQUIRE_CEXT") == "1"


def register_pure_package(prefix: str) -> None:
    """Let HEATKEEPER_DISABLE_CEXT=1 also load the `.py` source of the modules under `prefix`
    (a dotted package name ending in "."); call it before the package imports its hot modules."""
    if not prefix.endswith("."):
        raise ValueError("register_pure_package(%r): the prefix must end with '.'" % prefix)
    if prefix not in _pure_prefixes:
        _pure_prefixes.append(prefix)


def pure_prefixes() -> tuple[str, ...]:
    """The packages whose modules HEATKEEPER_DISABLE_CEXT=1 loads from source."""
    return tuple(_pure_prefixes)


def compiled(module: object) -> bool:
    """True when `module` was loaded from a compiled extension."""
    origin = getattr(module, "__file__", "") or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


class _SourceOnlyFinder(importlib.abc.MetaPathFinder):
    """Finds our hot modules as `.py` source, skipping extension modules."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if not fullname.startswith(tuple(_pure_prefixes)) or not path:
            return None
        leaf = fullname.rpartition(".")[2]
        for folder in path:
            candidate = os.path.join(folder, leaf + ".py")
            if os.path.isfile(candidate):
                return importlib.util.spec_from_file_location(fullname, candidate)
        return None


def _install() -> None:
    if cext_disabled() and not any(isinstance(f, _SourceOnlyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnlyFinder())


_install()
