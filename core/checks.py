"""Settings checks shared by the station's modules: each appends readable problems.

A problem names the key, the value, the unit and what is allowed, e.g.
"pumps.proof_s=-1 s: must be in [1, 600]", so one start-up lists every mistake at once.
"""


def is_number(value) -> bool:
    """True for a finite int or float (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value == value and value not in (float("inf"), float("-inf"))


def number(problems: list, section: str, values: dict, key: str, unit: str, low: float, high: float) -> bool:
    """Check `values[key]` is a number in [low, high]; False (and a problem) if not."""
    value = values[key] if key in values else None
    if value is None or not is_number(value) or value < low or value > high:
        problems.append("%s.%s=%r %s: must be in [%s, %s]" % (section, key, value, unit, low, high))
        return False
    return True


def choice(problems: list, section: str, values: dict, key: str, options: tuple) -> bool:
    """Check `values[key]` is one of `options`."""
    value = values.get(key)
    if value not in options:
        problems.append("%s.%s=%r: must be one of %s" % (section, key, value, ", ".join(options)))
        return False
    return True


def order(problems: list, section: str, values: dict, low_key: str, high_key: str, unit: str) -> None:
    """Check values[low_key] < values[high_key] (both already checked as numbers)."""
    if low_key not in values or high_key not in values:
        return
    low = values[low_key]
    high = values[high_key]
    if is_number(low) and is_number(high) and not low < high:
        problems.append("%s.%s=%r %s: must be below %s.%s=%r %s" % (section, low_key, low, unit, section, high_key, high, unit))
