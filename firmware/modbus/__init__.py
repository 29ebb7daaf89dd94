"""heatkeeper.firmware.modbus: the station's Modbus RTU layer over pymodbus 3.16.

Station runtime API:

    from heatkeeper.firmware.modbus import ProcessImageIO, validate_bus_config

    bus_config, problems = validate_bus_config(station_toml_dict)  # [[bus]] + [[device]]
    if bus_config is None: ...                   # problems: every key, value and allowed range
    io = ProcessImageIO(bus_config)
    await io.start()                             # opens ports; a missing port is retried, not fatal
    inputs = await io.read_cycle(now_s)          # {signal: (value, ok)} for every bound input;
                                                 # ok False: device backed off / failed this cycle,
                                                 # sentinel, out of plausible range, or stale
    await io.write_outputs(outputs)              # {actuator signal: value}; writes changed values
                                                 # (and every refresh_s), reads back to confirm
    io.drive_telemetry()                         # {pump1_drive_state, pump1_local, ...}: drive status
    io.health()                                  # {device: {requests, ok, timeouts, crc_errors,
                                                 #  framing_errors, exceptions{code: n}, writes,
                                                 #  write_mismatches, write_rejects,
                                                 #  exceptions_by_point, write_rejects_by_point,
                                                 #  last_error, available, backed_off, alarms, ...}}
    io.take_messages()                           # [(kind, body)]: device alarms ("alarm") and
                                                 # events ("event") since the last call, the
                                                 # drives' resets and state changes included
    io.telemetry()                               # flat numbers: Modbus exception / rejected-write
                                                 # counts, device diagnostics <device>_<point>
    await io.close()

Layers: `timing` (wire physics), `plan` (block coalescing within the profiles' documented
blocks), `transport` (one line: gap, one request in flight, error classification), `health`
(counters, back-off), `diagnostics` (device-reported alarms, Modbus error logging and alarms),
`drives` (drive state machines from profile data, resets over the bus, drive status), `io`
(owner task per line, the process image), `config` (TOML validation, serial defaults, the demo
station's device set).
Device register maps live in `heatkeeper.core.device_profiles` (shared with the simulators).

The package imports its modules on first use of a name: `timing` (the RTU wire rules: CRC,
t1.5, t3.5) loads without pymodbus, so the device simulators share the station's wire rules
without its Modbus stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import EXAMPLE_BUS_TOML, BusConfig, BusSpec, DeviceSpec, example_config, validate_bus_config
    from .io import ProcessImageIO
    from .transport import Reply, RtuTransport

_HOME = {"EXAMPLE_BUS_TOML": "config", "BusConfig": "config", "BusSpec": "config", "DeviceSpec": "config",
         "example_config": "config", "validate_bus_config": "config", "ProcessImageIO": "io",
         "Reply": "transport", "RtuTransport": "transport"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("." + home, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "EXAMPLE_BUS_TOML",
    "BusConfig",
    "BusSpec",
    "DeviceSpec",
    "ProcessImageIO",
    "Reply",
    "RtuTransport",
    "example_config",
    "validate_bus_config",
]
