"""Presentation of the season benchmark: summary, table, progress bar, markdown + PNG report.

`summarise` turns the workers' results into the one JSON object `--json` prints; the table
and the report are views of that object (plus the hourly traces for the plots).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

TARGETS = {"heat_ratio_to_station_bound_max": 1.08, "saving_vs_habitual_min_pct": 10.0, "tracking_error_p95_max_k": 1.0}

# column key, header, format
COLUMNS = (
    ("heat_kwh_per_m2", "heat kWh/m2", "%.1f"),
    ("ratio_to_station_bound", "/station bound", "%.3f"),
    ("saving_vs_habitual_pct", "saving vs habitual %", "%.1f"),
    ("underheat_kh_below_18", "K.h <18 (worst)", "%.1f"),
    ("underheat_kh_below_target_minus_2", "K.h <target-2", "%.1f"),
    ("hours_below_18", "h <18 (worst)", "%.1f"),
    ("max_deficit_k", "max deficit K", "%.2f"),
    ("tracking_error_p95_k", "p95 track K", "%.2f"),
    ("valve_travel_strokes", "valve strokes", "%.0f"),
    ("pump_energy_kwh_per_m2", "pump kWh/m2", "%.2f"),
    ("wall_s", "wall s", "%.1f"),
    ("ratio_to_building_bound", "/building bound", "%.3f"),
    ("underheat_kh_below_18_all_groups", "K.h <18 (all groups)", "%.1f"),
    ("groups_below_18", "groups <18", "%d"),
    ("branch_valve_strokes_per_day", "branch valve strokes/day", "%.2f"),
)
# The terminal table in two parts, each at most TABLE_WIDTH columns wide (one table of every
# column is 172): energy and effort, then comfort, tracking and the wall time.
TABLE_WIDTH = 100
TABLE_PARTS = (
    ("energy", ("heat_kwh_per_m2", "ratio_to_station_bound", "saving_vs_habitual_pct", "pump_energy_kwh_per_m2",
                "valve_travel_strokes")),
    ("comfort", ("underheat_kh_below_18", "underheat_kh_below_target_minus_2", "hours_below_18", "max_deficit_k",
                 "tracking_error_p95_k", "wall_s")),
    # against the building bound (every group exactly at 18 degC), and the branch valves' travel
    # with --balancing (the balanced controller's; "-" for the others, whose valves stay open)
    ("building bound", ("ratio_to_building_bound", "underheat_kh_below_18_all_groups", "groups_below_18",
                        "branch_valve_strokes_per_day")),
)
BALANCED = "balanced"  # the season benchmark's --balancing controller (tools/bench/season.py)
# The season-start part (with --season-start): key in summary["season_start"] (a dict by controller),
# header, format; which group was coldest is in the JSON only (the part stays within TABLE_WIDTH).
SEASON_START_COLUMNS = (
    ("coldest_group_c_at_first_0000", "coldest degC 00:00", "%.2f"),
    ("preheat_heat_kwh_per_m2", "pre-heat kWh/m2", "%.3f"),
    ("ratio_to_preheat_bound", "/pre-heat bound", "%.2f"),
    ("all_groups_at_18_for_h", "h all >=18", "%d"),
    ("heating_off_h", "h off", "%d"),
)


def summarise(spec: dict[str, Any], days: float, controllers: list[str], outcome: dict[str, Any],
              speed: dict[str, Any], wall_s: float, unavailable: list[str]) -> dict[str, Any]:
    """The benchmark's one JSON object (no traces)."""
    results = outcome["results"]
    bounds = results.get("bounds", {})
    station = bounds.get("station_kwh_per_m2")
    building = bounds.get("building_kwh_per_m2")
    habitual = results.get("habitual", {}).get("heat_kwh_per_m2")
    curve = results.get("curve", {}).get("heat_kwh_per_m2")
    rows = []
    for name in controllers:
        if name not in results:
            continue
        row = {k: v for k, v in results[name].items() if k not in ("trace", "season_start")}  # the latter: below
        heat = row["heat_kwh_per_m2"]
        row["ratio_to_station_bound"] = heat / station if station else None
        row["ratio_to_building_bound"] = heat / building if building else None
        row["saving_vs_habitual_pct"] = 100.0 * (1.0 - heat / habitual) if habitual else None
        row["saving_vs_curve_pct"] = 100.0 * (1.0 - heat / curve) if curve else None
        valves = row.get("branch_valves")
        row["branch_valve_strokes_per_day"] = valves["travel_strokes_per_day"] if valves else None
        rows.append(row)
    summary: dict[str, Any] = {
        "city": spec["city"],
        "weather": spec.get("weather") or "synthetic-%s-seed%d" % (spec["city"], spec["seed"]),
        "days": days,
        "start_day": spec.get("start_day", 0),
        "control_period_s": 1.0,
        "controllers": rows,
        "station_bound_kwh_per_m2": station,
        "building_bound_kwh_per_m2": building,
        "habitual_setpoint_c": bounds.get("habitual_setpoint_c"),
        "simulated_s": days * 86400.0,
        "wall_s": wall_s,
        "speed": speed,
        "errors": outcome["errors"],
        "unavailable": unavailable,
    }
    start = season_start_summary(spec, controllers, results)
    if start is not None:
        summary["season_start"] = start
    hk = next((r for r in rows if r["name"] == "heatkeeper"), None)
    if hk is not None:
        summary["targets"] = {
            "zero_underheat_all_groups": hk["underheat_kh_below_18_all_groups"] == 0.0,
            "ratio_to_station_bound_le_1_08": hk["ratio_to_station_bound"] is not None and hk["ratio_to_station_bound"] <= 1.08,
            "saving_vs_habitual_ge_10_pct": hk["saving_vs_habitual_pct"] is not None and hk["saving_vs_habitual_pct"] >= 10.0,
            "less_than_curve": hk["saving_vs_curve_pct"] is not None and hk["saving_vs_curve_pct"] > 0.0,
            "tracking_p95_le_1_k": hk["tracking_error_p95_k"] <= 1.0,
        }
        if start is not None and "heatkeeper" in start["coldest_group_c_at_first_0000"]:
            summary["targets"]["season_start_coldest_ge_18"] = start["coldest_group_c_at_first_0000"]["heatkeeper"] >= 18.0
    balanced = next((r for r in rows if r["name"] == BALANCED), None)
    if balanced is not None:  # issue 19: <= 1.10 x the building bound, 0 K.h below 18 degC in every group
        targets = summary.setdefault("targets", {})
        targets["balanced_zero_underheat_all_groups"] = balanced["underheat_kh_below_18_all_groups"] == 0.0
        targets["balanced_ratio_to_building_bound_le_1_10"] = (balanced["ratio_to_building_bound"] is not None
                                                               and balanced["ratio_to_building_bound"] <= 1.10)
    return summary


def season_start_summary(spec: dict[str, Any], controllers: list[str], results: dict[str, Any]) -> dict[str, Any] | None:
    """`season_start` of the JSON (None without the phase): the pre-season state, then per
    controller (dicts keyed by its name) the coldest group at 00:00 of day one, the heat of the
    pre-heat window and its ratio to the window's lower bound."""
    start = spec.get("season_start")
    if not start:
        return None
    pre = results.get("bounds", {}).get("preheat", {})
    bound = pre.get("kwh_per_m2")
    out: dict[str, Any] = {"preseason_c": start["preseason_c"], "preheat_days": start["preheat_days"],
                           "floor_c": 18.0, "preheat_lower_bound_kwh_per_m2": bound,
                           "preheat_bound_feasible": pre.get("feasible"),
                           "preheat_bound_short_groups": pre.get("short_groups"),
                           "preheat_bound_supply_cap_c": pre.get("supply_cap_c")}
    for key in ("coldest_group_c_at_first_0000", "coldest_group", "preheat_heat_kwh_per_m2",
                "preheat_pump_energy_kwh_per_m2", "all_groups_at_18_for_h", "heating_off_h", "ratio_to_preheat_bound"):
        out[key] = {}
    for name in controllers:
        phase = results.get(name, {}).get("season_start")
        if phase is None:
            continue
        for key in ("coldest_group_c_at_first_0000", "coldest_group", "preheat_heat_kwh_per_m2",
                    "preheat_pump_energy_kwh_per_m2", "all_groups_at_18_for_h", "heating_off_h"):
            out[key][name] = phase[key]
        out["ratio_to_preheat_bound"][name] = phase["preheat_heat_kwh_per_m2"] / bound if bound else None
    return out


def _fmt(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt % value


def print_table(summary: dict[str, Any]) -> None:
    """The figures as a table on the terminal (rich)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    # At least TABLE_WIDTH columns, so piped into a log (rich then assumes 80) no figure is cut
    # to "..."; each part of the table fits in TABLE_WIDTH.
    console = Console(width=max(Console().width, TABLE_WIDTH))
    title = "heating season %s, %.0f days, 1 s control period (%s)" % (summary["city"], summary["days"],
                                                                        summary["weather"])
    columns = {key: (header, fmt) for key, header, fmt in COLUMNS}
    for part, keys in TABLE_PARTS:
        table = Table(title="%s: %s" % (title, part), title_justify="left", box=box.SIMPLE_HEAD,
                      show_edge=False, pad_edge=False)
        table.add_column("controller", no_wrap=True)
        for key in keys:
            table.add_column(columns[key][0], justify="right", no_wrap=True)
        for row in summary["controllers"]:
            table.add_row(row["name"], *[_fmt(row.get(key), columns[key][1]) for key in keys])
        console.print(table)
        console.print()
    start = summary.get("season_start")
    if start is not None:
        table = Table(title="season start: from %g degC, %g h before 00:00 of day one (target: coldest group >= 18)"
                      % (start["preseason_c"], round(start["preheat_days"] * 24.0)), title_justify="left",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("controller", no_wrap=True)
        for _key, header, _form in SEASON_START_COLUMNS:
            table.add_column(header, justify="right", no_wrap=True)
        for row in summary["controllers"]:
            if row["name"] in start["coldest_group_c_at_first_0000"]:
                table.add_row(row["name"], *[_fmt(start[key].get(row["name"]), fmt) for key, _h, fmt in SEASON_START_COLUMNS])
        console.print(table)
        if start["preheat_bound_feasible"] is False:
            console.print("pre-heat lower bound: none, at full emitter output (supply %s degC) these groups cannot "
                          "reach 18 degC by 00:00: %s" % (_fmt(start["preheat_bound_supply_cap_c"], "%.1f"),
                                                         ", ".join(start["preheat_bound_short_groups"] or [])))
        else:
            console.print("pre-heat lower bound %s kWh/m2 (every group's air at 18 degC at 00:00; supply <= %s degC)"
                          % (_fmt(start["preheat_lower_bound_kwh_per_m2"], "%.3f"),
                             _fmt(start["preheat_bound_supply_cap_c"], "%.1f")))
        console.print()
    console.print("building bound %s kWh/m2, station bound %s kWh/m2 (one supply temperature, worst group at 18 degC); "
                  "habitual setpoint %s degC" % (_fmt(summary["building_bound_kwh_per_m2"], "%.1f"),
                                                 _fmt(summary["station_bound_kwh_per_m2"], "%.1f"),
                                                 _fmt(summary["habitual_setpoint_c"], "%.1f")))
    speed = summary.get("speed") or {}
    if "speedup" in speed:
        console.print("speed (%s, %.1f days): interpreted %.2f s/day, compiled %.2f s/day: %.1fx" % (
            speed["controller"], speed["sample_days"], speed["interpreted_s_per_day"], speed["compiled_s_per_day"],
            speed["speedup"]))
    for name, text in (summary.get("errors") or {}).items():
        console.print("[red]%s failed: %s[/red]" % (name, text))
    for text in summary.get("unavailable") or []:
        console.print("not available: %s" % text)
    console.print("simulated %.0f s per controller, wall %.1f s" % (summary["simulated_s"], summary["wall_s"]))


@contextlib.contextmanager
def progress_bar(show: bool, controllers: list[str], days: float) -> Iterator[Callable[[dict[str, float]], None] | None]:
    """A rich progress bar per task while the workers run (only on a terminal)."""
    if not show:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                  TimeElapsedColumn()) as bar:
        ids: dict[str, Any] = {}

        def update(fractions: dict[str, float]) -> None:
            for name, fraction in fractions.items():
                if name not in ids:
                    label = "bounds" if name == "bounds" else "%s (%.0f days)" % (name, days)
                    ids[name] = bar.add_task(label, total=1.0)
                bar.update(ids[name], completed=fraction)

        yield update


def write_report(directory: str, summary: dict[str, Any], results: dict[str, Any]) -> str:
    """Write report.md and PNG plots into `directory`; returns the markdown path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    traces = {r["name"]: results[r["name"]]["trace"] for r in summary["controllers"] if "trace" in results.get(r["name"], {})}
    plots = []
    if traces:
        first = next(iter(traces.values()))
        days = [h / 24.0 for h in first["hour"]]
        fig, ax = plt.subplots(figsize=(10, 3))
        ax.plot(days, first["outdoor_c"], lw=0.6, color="tab:blue")
        ax.set_xlabel("day of season")
        ax.set_ylabel("outdoor degC")
        ax.grid(alpha=0.3)
        plots.append(_save(fig, directory, "outdoor.png", "Outdoor temperature"))
        fig, ax = plt.subplots(figsize=(10, 4))
        for name, tr in traces.items():
            d = [h / 24.0 for h in tr["hour"]]
            line = ax.plot(d, tr["setpoint_c"], lw=0.6, label=name + " setpoint")[0]
            ax.plot(d, tr["supply_c"], lw=0.6, ls="--", color=line.get_color(), label=name + " actual")
        ax.set_xlabel("day of season")
        ax.set_ylabel("secondary supply degC")
        ax.legend(fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
        plots.append(_save(fig, directory, "supply.png", "Supply temperature: setpoint and actual (hourly means)"))
        fig, ax = plt.subplots(figsize=(10, 4))
        for name, tr in traces.items():
            d = [h / 24.0 for h in tr["hour"]]
            line = ax.plot(d, tr["coldest_room_c"], lw=0.7, label=name + " coldest group")[0]
            ax.plot(d, tr["median_room_c"], lw=0.7, ls="--", color=line.get_color(), label=name + " median group")
        ax.axhline(18.0, color="red", lw=0.8)
        ax.set_xlabel("day of season")
        ax.set_ylabel("room degC")
        ax.legend(fontsize=7, ncol=3)
        ax.grid(alpha=0.3)
        plots.append(_save(fig, directory, "rooms.png", "Coldest and median building group"))
        fig, ax = plt.subplots(figsize=(10, 4))
        for name, tr in traces.items():
            d = [h / 24.0 for h in tr["hour"]]
            area = results[name].get("floor_area_m2", 100000.0)
            ax.plot(d, [e / area for e in tr["heat_kwh"]], lw=1.0, label=name)
        for key, label in (("station_bound_kwh_per_m2", "station bound (season)"),
                           ("building_bound_kwh_per_m2", "building bound (season)")):
            if summary.get(key):
                ax.axhline(summary[key], lw=0.8, ls=":", color="grey")
                ax.text(0, summary[key], label, fontsize=7, va="bottom")
        ax.set_xlabel("day of season")
        ax.set_ylabel("cumulative heat kWh/m2")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        plots.append(_save(fig, directory, "heat.png", "Cumulative heat per controller"))
    path = os.path.join(directory, "report.md")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(markdown(summary, plots))
    return path


def _save(fig: Any, directory: str, name: str, title: str) -> tuple[str, str]:
    fig.tight_layout()
    fig.savefig(os.path.join(directory, name), dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name, title


def markdown(summary: dict[str, Any], plots: list[tuple[str, str]]) -> str:
    """The report's markdown text."""
    lines = ["# Heating season benchmark: %s" % summary["city"], "",
             "Weather: %s; %.0f days; 1 s control period; simulated %.0f s per controller; wall %.1f s." % (
                 summary["weather"], summary["days"], summary["simulated_s"], summary["wall_s"]), "",
             "| controller | " + " | ".join(h for _k, h, _f in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for row in summary["controllers"]:
        lines.append("| %s | " % row["name"] + " | ".join(_fmt(row.get(k), f) for k, _h, f in COLUMNS) + " |")
    lines += ["", "Lower bounds (same buildings and weather, heat at the exchanger): building %s kWh/m2 "
              "(every group exactly at 18 degC), station %s kWh/m2 (one supply temperature, worst group at 18 degC). "
              "Habitual constant setpoint: %s degC." % (_fmt(summary["building_bound_kwh_per_m2"], "%.1f"),
                                                        _fmt(summary["station_bound_kwh_per_m2"], "%.1f"),
                                                        _fmt(summary["habitual_setpoint_c"], "%.1f")), ""]
    speed = summary.get("speed") or {}
    if "speedup" in speed:
        lines += ["Speed (%s, %.1f days, same days both ways): interpreted %.2f s per simulated day, compiled %.2f s: "
                  "%.1fx." % (speed["controller"], speed["sample_days"], speed["interpreted_s_per_day"],
                              speed["compiled_s_per_day"], speed["speedup"]), ""]
    start = summary.get("season_start")
    if start is not None:
        lines += ["Season start: every group's air and mass at %g degC %g days before 00:00 of day one; pre-heat "
                  "lower bound %s kWh/m2." % (start["preseason_c"], start["preheat_days"],
                                              _fmt(start["preheat_lower_bound_kwh_per_m2"], "%.3f")), "",
                  "| controller | " + " | ".join(h for _k, h, _f in SEASON_START_COLUMNS) + " |",
                  "|---|" + "---:|" * len(SEASON_START_COLUMNS)]
        for name in start["coldest_group_c_at_first_0000"]:
            lines.append("| %s | " % name + " | ".join(_fmt(start[k].get(name), f) for k, _h, f in SEASON_START_COLUMNS)
                         + " |")
        lines.append("")
    if summary.get("targets"):
        lines += ["Targets: " + ", ".join("%s: %s" % (k, "met" if v else "NOT met")
                                                       for k, v in summary["targets"].items()), ""]
    for name, text in (summary.get("errors") or {}).items():
        lines += ["**%s failed:** %s" % (name, text), ""]
    for name, title in plots:
        lines += ["## %s" % title, "", "![%s](%s)" % (title, name), ""]
    return "\n".join(lines)
