"""Building branch valves between the Modbus process image and the station's balancing.

A [[device]] with `branch = "<group>"` binds core.signals.BRANCH_* names; the process image
carries them as `branch_key(group, signal)`. Each cycle `readings(inputs)` turns them into
StationController.set_branch_readings' list ("ok": False for a valve that did not answer, so the
balancing can hold and alarm it), and `commands(ctl)` the station's branch commands into outputs
for write_outputs.
"""

from __future__ import annotations

from typing import Any

from heatkeeper.core import signals as S

PREFIX = "branch:"


def branch_key(group: str, signal: str) -> str:
    """The process-image key of a building branch valve's signal."""
    return "%s%s:%s" % (PREFIX, group, signal)


def readings(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The branch valves' readings among `inputs` ({key: (value, ok)}), one per group."""
    by_group: dict[str, dict[str, Any]] = {}
    for key, item in inputs.items():
        if not key.startswith(PREFIX):
            continue
        group, _sep, signal = key[len(PREFIX):].rpartition(":")
        value, ok = item
        row = by_group.setdefault(group, {"group": group, "ok": False})
        if signal == S.BRANCH_VALVE_POSITION_PCT:
            row["valve_position_pct"] = float(value) if ok else None
            row["ok"] = bool(ok)
        elif signal == S.BRANCH_RETURN_TEMP_C:
            row["return_temp_c"] = float(value) if ok else None
    return [by_group[g] for g in sorted(by_group)]


def commands(ctl: Any) -> dict[str, float]:
    """The station's branch valve commands as outputs for write_outputs."""
    return {branch_key(group, S.BRANCH_VALVE_CMD_PCT): pct for group, pct in ctl.branch_commands().items()}
