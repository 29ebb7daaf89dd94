"""heatkeeper.core: the station's control logic.

Pure and I/O-free: no clock, no sleep, no logging, no files, no asyncio. The same files run
on CPython (interpreted or Cython-compiled) and on MicroPython. Imports inside this package
are relative so the folder can be copied anywhere.
"""

import sys

if sys.implementation.name == "cpython":
    from . import _cext  # noqa: F401 - honours HEATKEEPER_DISABLE_CEXT before any hot module loads
