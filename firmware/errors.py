"""The firmware's one error tree: whose fault is it?

    FirmwareError
    ├── OurFault            a defect or misconfiguration on this box: fix the config or the code
    │   ├── ConfigError     the station TOML is wrong (carries every problem)
    │   └── StorageError    the data directory cannot be written or read back
    └── WorldFault          something outside the box misbehaves: a device, the bus, the broker
        ├── DeviceFault     a field device answered wrongly or not at all
        └── UplinkFault     the broker refused or lost a message

Task boundaries catch `WorldFault` and carry on (it becomes an event, an alarm or a retry);
`OurFault` stops start-up with a message a person can act on. Neither is ever swallowed.
"""

from __future__ import annotations


class FirmwareError(Exception):
    """Base of every error the station firmware raises on purpose."""


class OurFault(FirmwareError):
    """A problem on this box (configuration, storage, a defect): not the devices' fault."""


class WorldFault(FirmwareError):
    """A problem outside this box (device, bus, network, broker)."""


class ConfigError(OurFault):
    """The station configuration is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("%d configuration problem(s):\n  " % len(problems) + "\n  ".join(problems))
        self.problems = list(problems)


class StorageError(OurFault):
    """The data directory (outbox, state, journal, trends) cannot be used."""


class DeviceFault(WorldFault):
    """A field device did not answer as its profile says it should."""


class UplinkFault(WorldFault):
    """The broker refused a message (e.g. a PUBACK reason code "Not authorized") or dropped it."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__("%s: %s" % (reason, text))
        self.reason = reason
