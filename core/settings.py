"""Station settings: every section's defaults in one dict, and one validation that lists
every problem at once.

Each section's `DEFAULTS` and `RANGES` tables live in the module that uses them (one place
for each default) and are gathered here in `SECTIONS`; `DEFAULTS` maps section -> {key:
default}. Every module's `validate(section)` is core.checks' table check plus its own rules
between keys. `load(settings)` overlays a partial settings dict on the defaults and raises
SettingsError listing every problem (unknown section or key, wrong type, out of range,
inconsistent pair) as "section.key=value unit: must be in [lo, hi]".

Sections: station, sensors, alarms, pumps, make_up, interlocks, modes, commands (this side),
curve, outdoor, schedule, limiters, room_feedback, pi, valve (the setpoint chain and valve),
balancing (the building branch valves, core.balancing), season (the bootstrap season calendar,
core.season), preheat (the pre-heat planner and feed-forward, core.preheat).
"""

from . import (
    alarms,
    balancing,
    checks,
    commands,
    heating_curve,
    interlocks,
    limiters,
    make_up,
    modes,
    outdoor,
    pi,
    preheat,
    pumps,
    room_feedback,
    schedule,
    season,
    sensors,
    valve_actuator,
)


class SettingsError(ValueError):
    """Invalid settings; `problems` lists every one of them."""

    def __init__(self, problems: list) -> None:
        super().__init__("invalid settings: " + "; ".join(problems))
        self.problems = problems


# The station section. room_setpoint_c: 18 degC is the legal floor in every home (GB/T 33833
# 5.1, the heating plans); the station aims 0.5 K above it, a margin for collector accuracy
# (typically +-0.3...0.5 K), while each extra kelvin costs about 6 % heat.
STATION_DEFAULTS = {
    "cycle_s": 1.0,
    "room_setpoint_c": 18.5,
}
# The firmware's [station].cycle_s takes its default and range from these two tables.
STATION_RANGES = {
    "cycle_s": (0.1, 60, "s"),
    "room_setpoint_c": (16, 24, "degC"),
}


def _validate_station(section) -> list:
    return checks.section("station", section, STATION_DEFAULTS, STATION_RANGES)


# (section, DEFAULTS, RANGES, validate) in a fixed order.
SECTIONS = (
    ("station", STATION_DEFAULTS, STATION_RANGES, _validate_station),
    ("sensors", sensors.DEFAULTS, sensors.RANGES, sensors.validate),
    ("alarms", alarms.DEFAULTS, alarms.RANGES, alarms.validate),
    ("pumps", pumps.DEFAULTS, pumps.RANGES, pumps.validate),
    ("make_up", make_up.DEFAULTS, make_up.RANGES, make_up.validate),
    ("interlocks", interlocks.DEFAULTS, interlocks.RANGES, interlocks.validate),
    ("modes", modes.DEFAULTS, modes.RANGES, modes.validate),
    ("commands", commands.DEFAULTS, commands.RANGES, commands.validate),
    ("curve", heating_curve.DEFAULTS, heating_curve.RANGES, heating_curve.validate),
    ("outdoor", outdoor.DEFAULTS, outdoor.RANGES, outdoor.validate),
    ("schedule", schedule.DEFAULTS, schedule.RANGES, schedule.validate),
    ("limiters", limiters.DEFAULTS, limiters.RANGES, limiters.validate),
    ("room_feedback", room_feedback.DEFAULTS, room_feedback.RANGES, room_feedback.validate),
    ("pi", pi.DEFAULTS, pi.RANGES, pi.validate),
    ("valve", valve_actuator.DEFAULTS, valve_actuator.RANGES, valve_actuator.validate),
    ("balancing", balancing.DEFAULTS, balancing.RANGES, balancing.validate),
    ("season", season.DEFAULTS, season.RANGES, season.validate),
    ("preheat", preheat.DEFAULTS, preheat.RANGES, preheat.validate),
)

DEFAULTS = {}  # type: dict
for _row in SECTIONS:
    DEFAULTS[_row[0]] = _row[1]


def _copy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def merge(settings: object, problems: list) -> dict:
    """Defaults overlaid with `settings` (a partial dict); structural problems appended."""
    full = {}  # type: dict
    for row in SECTIONS:
        full[row[0]] = _copy(row[1])
    if settings is None:
        return full
    if not isinstance(settings, dict):
        problems.append("settings=%r: must be a dict of sections" % (type(settings).__name__,))
        return full
    for name in settings:
        section = settings[name]
        if name not in full:
            problems.append("%s: unknown section (known: %s)" % (name, ", ".join(r[0] for r in SECTIONS)))
            continue
        if not isinstance(section, dict):
            problems.append("%s=%r: must be a table of settings" % (name, section))
            continue
        target = full[name]
        for key in section:
            if key not in target:
                problems.append(checks.unknown_key(name, key, target))
                continue
            target[key] = _copy(section[key])
    return full


def _cross_checks(full: dict, problems: list) -> None:
    make_up_cfg = full["make_up"]
    interlocks_cfg = full["interlocks"]
    commands_cfg = full["commands"]
    pumps_cfg = full["pumps"]
    nums = (make_up_cfg["pressure_setpoint_kpa"], make_up_cfg["band_kpa"], make_up_cfg["relief_margin_kpa"], interlocks_cfg["over_pressure_kpa"])
    if all(checks.is_number(v) for v in nums):
        relief = nums[0] + nums[1] * 0.5 + nums[2]
        if relief >= nums[3]:
            problems.append("make_up.pressure_setpoint_kpa=%r kPa: relief point %r kPa (setpoint + band/2 + "
                            "relief_margin) must be below interlocks.over_pressure_kpa=%r kPa" % (nums[0], relief, nums[3]))
    if all(checks.is_number(v) for v in (commands_cfg["makeup_max_kpa"], nums[1], nums[2], nums[3])):
        relief = commands_cfg["makeup_max_kpa"] + nums[1] * 0.5 + nums[2]
        if relief >= nums[3]:
            problems.append("commands.makeup_max_kpa=%r kPa: its relief point %r kPa must be below "
                            "interlocks.over_pressure_kpa=%r kPa" % (commands_cfg["makeup_max_kpa"], relief, nums[3]))
    if checks.is_number(commands_cfg["supply_max_c"]) and checks.is_number(interlocks_cfg["overtemp_c"]):
        if commands_cfg["supply_max_c"] >= interlocks_cfg["overtemp_c"]:
            problems.append("commands.supply_max_c=%r degC: must be below interlocks.overtemp_c=%r degC"
                            % (commands_cfg["supply_max_c"], interlocks_cfg["overtemp_c"]))
    if checks.is_number(pumps_cfg["dry_run_kpa"]) and checks.is_number(make_up_cfg["pressure_setpoint_kpa"]) and checks.is_number(make_up_cfg["band_kpa"]):
        if pumps_cfg["dry_run_kpa"] >= make_up_cfg["pressure_setpoint_kpa"] - make_up_cfg["band_kpa"] * 0.5:
            problems.append("pumps.dry_run_kpa=%r kPa: must be below the make-up start pressure %r kPa"
                            % (pumps_cfg["dry_run_kpa"], make_up_cfg["pressure_setpoint_kpa"] - make_up_cfg["band_kpa"] * 0.5))


def _checked(settings: object, problems: list) -> dict:
    """The complete settings; every problem (sections, then the pairs across them) appended."""
    full = merge(settings, problems)
    for row in SECTIONS:
        problems.extend(row[3](full[row[0]]))
    if not problems:
        _cross_checks(full, problems)
    return full


def validate(settings: object) -> list:
    """Every problem of a (partial) settings dict; empty when it can be used."""
    problems = []  # type: list
    _checked(settings, problems)
    return problems


def load(settings: object) -> dict:
    """The complete settings (defaults overlaid), or SettingsError listing every problem."""
    problems = []  # type: list
    full = _checked(settings, problems)
    if problems:
        raise SettingsError(problems)
    return full


# Settings a push may not change: they are the box's own (the firmware's cycle period is set
# from the TOML when it starts, so a pushed one would leave the two out of step).
NOT_PUSHABLE = (("station", "cycle_s"),)


def overlay(base: object, sections: object, problems: list) -> dict:
    """`base` (partial settings, e.g. the TOML's) with `sections` laid over it key by key: a
    new partial settings dict for load(); structural problems of `sections` appended (they
    are named like load()'s: unknown section, not a table, a key a push may not set)."""
    out = {}  # type: dict
    if isinstance(base, dict):
        for name in base:
            out[name] = _copy(base[name])
    if not isinstance(sections, dict):
        problems.append("sections=%r: must be a table of settings sections" % (type(sections).__name__,))
        return out
    known = [r[0] for r in SECTIONS]
    for name in sorted(sections, key=str):
        section = sections[name]
        if name not in known:
            problems.append("%s: unknown section (known: %s)" % (name, ", ".join(known)))
            continue
        if not isinstance(section, dict):
            problems.append("%s=%r: must be a table of settings" % (name, section))
            continue
        for sec, key in NOT_PUSHABLE:
            if sec == name and key in section:
                problems.append("%s.%s=%r: set in the station's own settings file only, not pushed"
                                % (sec, key, section[key]))
        target = out.get(name)
        if not isinstance(target, dict):
            target = {}
            out[name] = target
        for key in section:
            target[key] = _copy(section[key])
    return out


def check_sections(sections: object) -> list:
    """Every problem a set of pushed sections has on its own, before any station's own
    settings are known (what the supervisor can check): unknown sections and keys, and each
    pushed section, its left-out keys at their defaults, against its table and its module's
    rules. Not the rules across sections (they depend on the station's file): the station
    checks the whole with load() and answers with every problem."""
    problems = []  # type: list
    over = overlay({}, sections, problems)
    for row in SECTIONS:
        if row[0] in over:
            problems.extend(row[3](checks.merged(row[1], over[row[0]])))
    return problems
