"""Import a library without the optional packages it would load and the station never uses.

pymodbus.server's package __init__ imports pymodbus' HTTP simulator, which imports aiohttp
when it is installed (and does without it when it is not): about 12 MB resident, a quarter of
the station process, for a web server the firmware never starts. `hidden("aiohttp")` makes
such an optional import fail for the duration of the block; afterwards the package imports
normally again for anyone who does need it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Within the block, `import name` raises ImportError for each name not yet imported."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # None: the import system's "not importable"
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
