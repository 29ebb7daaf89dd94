"""Coalescing of a device's points into block reads and contiguous writes (pure).

Points of one device and one function code are merged, in address order, into reads of at
most `max_registers` (125 is the protocol limit for FC3/FC4) when the hole between them is
at most `max_gap` registers: one longer frame costs far less wire time than another
transaction (8 request bytes, 5 response bytes and two t3.5 gaps).

Invariant: a read never crosses a block the profile declares readable as one request
(`blocks` in core.device_profiles): a register the vendor does not describe may answer
exception 2 and take every point of the read down with it. A point outside every block is
read alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heatkeeper.core.device_profiles import WIDTH, get_point, point_block

MAX_READ_REGISTERS = 125
MAX_WRITE_REGISTERS = 123


@dataclass
class ReadBlock:
    """One read transaction: `count` registers from `address` with function code `fc`."""

    device: str
    fc: int
    address: int
    count: int
    priority: str  # "high" when any point in it is high priority
    points: list[tuple[str, int, int]] = field(default_factory=list)  # (point, offset, width)


def plan_reads(
    device: str,
    profile: str,
    point_names: list[str],
    *,
    max_registers: int = MAX_READ_REGISTERS,
    max_gap: int | None = None,
    coalesce: bool = True,
) -> list[ReadBlock]:
    """Block reads covering every named point (duplicates and shared status words once)."""
    from heatkeeper.core.device_profiles import PROFILES

    gap = PROFILES[profile].get("max_gap", 0) if max_gap is None else max_gap
    by_fc: dict[int, list[tuple[int, int, str, str, int]]] = {}
    for name in sorted(set(point_names)):
        pt = get_point(profile, name)
        block = point_block(profile, name)
        by_fc.setdefault(pt["function_code"], []).append((pt["address"], WIDTH[pt["type"]], name, pt["priority"], block))
    blocks: list[ReadBlock] = []
    for fc in sorted(by_fc):
        cur: ReadBlock | None = None
        cur_block = -1
        for address, width, name, priority, block in sorted(by_fc[fc]):
            same_block = block >= 0 and block == cur_block
            cur_block = block
            if cur is not None and coalesce and same_block:
                end = cur.address + cur.count
                new_end = max(end, address + width)
                if address - end <= gap and new_end - cur.address <= max_registers:
                    cur.count = new_end - cur.address
                    cur.points.append((name, address - cur.address, width))
                    if priority == "high":
                        cur.priority = "high"
                    continue
            cur = ReadBlock(device, fc, address, width, priority, [(name, 0, width)])
            blocks.append(cur)
    return blocks


def plan_writes(items: list[tuple[int, list[int]]], max_registers: int = MAX_WRITE_REGISTERS) -> list[tuple[int, list[int]]]:
    """Merge (address, registers) writes into contiguous runs: [(address, values), ...]."""
    runs: list[tuple[int, list[int]]] = []
    for address, regs in sorted(items):
        if runs:
            start, values = runs[-1]
            if address == start + len(values) and len(values) + len(regs) <= max_registers:
                values.extend(regs)
                continue
        runs.append((address, list(regs)))
    return runs
