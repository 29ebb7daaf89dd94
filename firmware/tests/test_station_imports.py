"""The station process loads only what the firmware runs: no web stack, no plotting, no
supervisor (its resident size on an edge box is mostly imported code)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("pymodbus")

# What `heatkeeper station` imports to run: the CLI, the firmware, the bus, the uplink and
# the local Modbus TCP slave (enabled in the example config).
STATION_IMPORTS = ("heatkeeper.tools.cli", "heatkeeper.firmware.main", "heatkeeper.firmware.runtime",
                   "heatkeeper.firmware.modbus.transport", "heatkeeper.firmware.uplink",
                   "heatkeeper.firmware.outbox", "heatkeeper.firmware.modbus_slave")
NOT_NEEDED = ("aiohttp", "yarl", "multidict", "numpy", "matplotlib", "rich", "heatkeeper.supervisor",
              "heatkeeper.tools.plant", "heatkeeper.tools.sim", "heatkeeper.tools.bench")


def _modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_station_imports_no_web_stack_plotting_or_supervisor() -> None:
    code = ("import importlib, json, sys\n"
            "for name in %r: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))" % (STATION_IMPORTS,))
    loaded = _modules_after(code)
    unwanted = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_NEEDED))
    assert unwanted == [], "the station process imports %s, which it never runs" % unwanted[:20]


def test_hidden_packages_import_normally_afterwards() -> None:
    """The slave's pymodbus import hides aiohttp for that import only; the slave's server class
    is pymodbus' and aiohttp is importable again afterwards (a supervisor in the same process)."""
    code = ("import json, sys\n"
            "from heatkeeper.firmware import modbus_slave\n"
            "from pymodbus.server import ModbusTcpServer\n"
            "assert issubclass(modbus_slave._GuardedTcpServer, ModbusTcpServer)\n"
            "assert 'aiohttp' not in sys.modules\n"
            "import aiohttp.web\n"
            "print(json.dumps(sorted(sys.modules)))")
    assert "aiohttp.web" in _modules_after(code)
