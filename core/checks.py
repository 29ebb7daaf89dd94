"""The settings checker: every core module's section is checked the same way, against its tables.

A module with settings declares, near its top,

    DEFAULTS = {key: default, ...}   # the one place for each default
    RANGES = {key: (low, high, unit), ...}   # each number: allowed [low, high] and its unit
                                             # ("" for none); each text: (option, option, ...)

and its `validate(section)` is `checks.section(name, section, DEFAULTS, RANGES)` plus the rules
that relate two keys (`order`) or look inside a list. The type comes from the default: a
boolean must be true or false, a text one of its options, a number (int or float, not bool,
NaN or infinite) within its range; lists are the module's own to check.

A problem names the key, the value, the unit and what is allowed, e.g.
"pumps.proof_s=-1 s: must be in [1, 600]", and every problem is listed, not just the first,
so one start-up lists every mistake at once. A section may be partial: keys it leaves out
take their defaults (`merged`), which are valid by construction (core/tests/test_settings.py).
"""


_INFINITIES = (float("inf"), float("-inf"))  # made once: float("inf") parses a string each time


def is_number(value) -> bool:
    """True for a finite int or float (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value == value and value not in _INFINITIES


EXACT_INT_MAX = 9007199254740992  # 2**53: larger integers have no exact float (and 10**400 none at all)


def is_exact_number(value) -> bool:
    """True for a finite float or an int a float holds exactly (|n| <= 2**53), bool excluded: the
    check for numbers in messages from outside (a forecast, a season calendar)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return -EXACT_INT_MAX <= value <= EXACT_INT_MAX
    return value == value and value - value == 0.0


def merged(defaults: dict, values) -> dict:
    """A copy of `defaults` updated by `values` (a dict, or None for all defaults)."""
    out = dict(defaults)
    if values:
        out.update(values)
    return out


def _with_unit(text: str, unit: str) -> str:
    return text + " " + unit if unit else text


def unknown_key(name: str, key, defaults: dict) -> str:
    """The problem of a key the section does not have."""
    return "%s.%s: unknown key (known: %s)" % (name, key, ", ".join(sorted(defaults)))


def value_problem(name: str, key: str, value, default, allowed) -> str:
    """The problem of one value judged by its default's type and its RANGES entry ("" if none)."""
    where = "%s.%s=%r" % (name, key, value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            return where + ": must be true or false"
    elif isinstance(default, str):
        if allowed is not None:
            if not isinstance(value, str) or value not in allowed:
                return where + ": must be one of " + ", ".join(allowed)
        elif not isinstance(value, str):
            return where + ": must be a string"
    elif isinstance(default, (int, float)):
        if allowed is None:
            if not is_number(value):
                return where + ": must be a number"
        elif not is_number(value) or value < allowed[0] or value > allowed[1]:
            return "%s: must be in [%s, %s]" % (_with_unit(where, allowed[2]), allowed[0], allowed[1])
    return ""


def section(name: str, values, defaults: dict, ranges: dict) -> list:
    """Every problem of one settings section: unknown keys, wrong types, numbers out of range,
    texts not among their options (keys in a fixed, sorted order on every runtime)."""
    if not isinstance(values, dict):
        return ["%s=%r: must be a table of settings" % (name, values)]
    problems = []
    for key in sorted(values, key=str):
        if key not in defaults:
            problems.append(unknown_key(name, key, defaults))
    for key in sorted(defaults):
        if key in values:
            problem = value_problem(name, key, values[key], defaults[key], ranges.get(key))
            if problem:
                problems.append(problem)
    return problems


def order(problems: list, section: str, values: dict, low_key: str, high_key: str, unit: str) -> None:
    """Check values[low_key] < values[high_key] when both are numbers (their ranges are checked apart)."""
    if low_key not in values or high_key not in values:
        return
    low = values[low_key]
    high = values[high_key]
    if is_number(low) and is_number(high) and not low < high:
        problems.append("%s: must be below %s" % (_with_unit("%s.%s=%r" % (section, low_key, low), unit),
                                                  _with_unit("%s.%s=%r" % (section, high_key, high), unit)))


def parallel_readings(what: str, ids, groups, temps) -> None:
    """Room readings given as parallel sequences (`ids[i]` of group `groups[i]` reads
    `temps[i]`): as many groups as ids and at least as many temperatures, else ValueError
    naming `what` and the counts."""
    if len(groups) != len(ids) or len(temps) < len(ids):
        raise ValueError("%s: %d ids need as many groups and temperatures, got %d and %d"
                         % (what, len(ids), len(groups), len(temps)))
