"""Arrays of tables with unique ids (`[[station]]`, `[[notify.person]]`, `[[notify.channel]]`):
the one check every such section of the supervisor's TOML shares.

Each problem names the section, the entry's index or id and what it must be; an entry that is
not a table, has a bad id or repeats an earlier id is reported and left out, so the section's
own checks see only well-identified entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def unique_tables(items: Any, section: str, id_key: str, valid_id: Callable[[Any], bool], id_rule: str,
                  problems: list[str]) -> list[tuple[int, str, dict[str, Any]]]:
    """(index, id, table) of each entry of `[[section]]` whose `id_key` passes `valid_id` and
    is not taken by an earlier entry; every other entry becomes a problem."""
    out: list[tuple[int, str, dict[str, Any]]] = []
    if not isinstance(items, list):
        problems.append("[[%s]]: must be an array of tables" % section)
        return out
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append("%s[%d]: must be a table" % (section, i))
            continue
        ident = item.get(id_key)
        if not isinstance(ident, str) or not valid_id(ident):
            problems.append("%s[%d].%s=%r: must be %s" % (section, i, id_key, ident, id_rule))
            continue
        if ident in seen:
            problems.append("%s %s=%r: defined twice" % (section, id_key, ident))
            continue
        seen.add(ident)
        out.append((i, ident, item))
    return out
