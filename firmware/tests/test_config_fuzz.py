"""Property tests of the station config loader: whatever a TOML file holds, `load_config` either
returns a frozen config or raises ConfigError listing problems as text; `validate_config` never
raises on any parsed value in any key (numbers out of range, NaN, huge integers, wrong types,
unknown keys, nested tables where values belong)."""

from __future__ import annotations

import copy
import math
import os
import tomllib
from typing import Any

from heatkeeper.firmware.config import load_config, validate_config
from heatkeeper.firmware.errors import ConfigError
from hypothesis import given
from hypothesis import strategies as st

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "station.toml")
with open(EXAMPLE, "rb") as _fh:
    BASE: dict[str, Any] = tomllib.load(_fh)

# every (section path, key) of the example, control sections and device tables included
PLACES: list[tuple[tuple[Any, ...], str]] = []


def _walk(node: Any, path: tuple[Any, ...]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            PLACES.append((path, key))
            _walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, path + (i,))


_walk(BASE, ())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "../../etc/passwd", "0.0.0.0", "-1", "nan", "1e400"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)


def _set(raw: dict[str, Any], path: tuple[Any, ...], key: str, value: Any, delete: bool) -> None:
    node: Any = raw
    for step in path:
        node = node[step]
    if delete:
        node.pop(key, None)
    else:
        node[key] = value


def _check(raw: Any) -> None:
    cfg, problems = validate_config(raw, os.path.join("/nonexistent", "station.toml"))
    if cfg is None:
        assert problems and all(isinstance(p, str) and p for p in problems), problems
    else:
        assert problems == []
        assert math.isfinite(cfg.station.cycle_s) and cfg.station.cycle_s > 0


@given(st.lists(st.tuples(st.sampled_from(PLACES), values, st.booleans()), min_size=1, max_size=4))
def test_any_value_in_any_key_gives_a_config_or_a_list_of_problems(changes: list) -> None:
    raw = copy.deepcopy(BASE)
    for (path, key), value, delete in changes:
        try:
            _set(raw, path, key, value, delete)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # an earlier change replaced the table this one would go into
    _check(raw)


@given(st.dictionaries(st.text(max_size=12), values, max_size=6))
def test_unknown_sections_and_keys_are_problems_not_crashes(extra: dict) -> None:
    raw = copy.deepcopy(BASE)
    raw.update(extra)
    _check(raw)
    _check(extra)


@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_any_file_content_loads_or_raises_config_error(tmp_path_factory: Any, content: bytes) -> None:
    path = os.path.join(tmp_path_factory.mktemp("fuzz"), "station.toml")
    with open(path, "wb") as fh:
        fh.write(content)
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)


dates = st.one_of(scalars, st.dates(), st.datetimes(), st.dates().map(lambda d: d.isoformat()),
                  st.dates().map(lambda d: d.year * 10000 + d.month * 100 + d.day))


@given(dates, dates, values)
def test_any_season_dates_give_a_config_or_a_list_of_problems(start: Any, end: Any, preheat: Any) -> None:
    # the season's dates in every form a file can hold (TOML dates and date-times, quoted ISO
    # dates, YYYYMMDD, garbage); a problem names the key it is about, and a config holds core's
    # YYYYMMDD numbers, never a date object or a text
    raw = copy.deepcopy(BASE)
    raw["control"] = dict(raw.get("control", {}), season={"start_date": start, "end_date": end, "preheat_h": preheat})
    _check(raw)
    cfg, problems = validate_config(raw, os.path.join("/nonexistent", "station.toml"))
    if cfg is not None:
        season = cfg.control_settings()["season"]
        assert all(type(season[k]) in (int, float) for k in ("start_date", "end_date")), season
    for p in problems:
        assert p.startswith("control.season.") or not p.startswith("control."), p
    assert raw["control"]["season"]["start_date"] is start  # the caller's mapping is left as it was
