"""Season report: summary arithmetic, markdown and plots from a results set."""

from __future__ import annotations

from pathlib import Path

from heatkeeper.tools.bench import report


def fake_results() -> dict:
    trace = {"hour": [1.0, 2.0, 3.0], "outdoor_c": [-20.0, -21.0, -22.0], "setpoint_c": [60.0, 61.0, 62.0],
             "supply_c": [59.5, 61.2, 62.1], "coldest_room_c": [18.2, 18.1, 18.3], "median_room_c": [20.0, 20.1, 20.2],
             "heat_kwh": [100.0, 200.0, 300.0]}
    base = {"underheat_kh_below_18": 0.0, "underheat_kh_below_target_minus_2": 0.0,
            "underheat_kh_below_18_all_groups": 0.0, "hours_below_18": 0.0, "max_deficit_k": 0.0,
            "tracking_error_p95_k": 0.5, "valve_travel_strokes": 3.0, "pump_energy_kwh_per_m2": 0.1, "wall_s": 1.0,
            "trace": trace}
    return {
        "bounds": {"station_kwh_per_m2": 100.0, "building_kwh_per_m2": 90.0, "habitual_setpoint_c": 78.0},
        "habitual": dict(base, name="habitual", heat_kwh_per_m2=130.0),
        "curve": dict(base, name="curve", heat_kwh_per_m2=120.0),
        "heatkeeper": dict(base, name="heatkeeper", heat_kwh_per_m2=104.0),
    }


def test_summary_ratios_savings_and_targets() -> None:
    spec = {"city": "arxan", "weather": None, "seed": 0}
    outcome = {"results": fake_results(), "errors": {}}
    summary = report.summarise(spec, 3.0 / 24, ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    rows = {r["name"]: r for r in summary["controllers"]}
    assert rows["heatkeeper"]["ratio_to_station_bound"] == 1.04
    assert abs(rows["heatkeeper"]["saving_vs_habitual_pct"] - 20.0) < 1e-9
    assert abs(rows["heatkeeper"]["saving_vs_curve_pct"] - 100.0 * (1 - 104.0 / 120.0)) < 1e-9
    assert summary["targets"] == {"zero_underheat_all_groups": True, "ratio_to_station_bound_le_1_08": True,
                                  "saving_vs_habitual_ge_10_pct": True, "less_than_curve": True,
                                  "tracking_p95_le_1_k": True}
    assert "trace" not in rows["curve"]


def test_missing_controller_and_errors_are_shown(tmp_path: Path) -> None:
    results = fake_results()
    del results["heatkeeper"]
    outcome = {"results": results, "errors": {"heatkeeper": "RuntimeError: boom"}}
    summary = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 1.0, ["habitual", "curve", "heatkeeper"],
                               outcome, {}, 1.0, [])
    assert [r["name"] for r in summary["controllers"]] == ["habitual", "curve"]
    assert "targets" not in summary
    path = report.write_report(str(tmp_path), summary, results)
    text = Path(path).read_text()
    assert "**heatkeeper failed:** RuntimeError: boom" in text
    assert "| curve | 120.0 | 1.200 |" in text
    assert (tmp_path / "rooms.png").exists()


def test_table_into_a_pipe_shows_every_header_and_figure_whole(capsys) -> None:
    # pytest's capture is not a terminal: rich falls back to 80 columns, which cut the
    # headers and figures of the 12-column table to "..." in every log
    outcome = {"results": fake_results(), "errors": {}}
    summary = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 3.0 / 24,
                               ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    report.print_table(summary)
    out = capsys.readouterr().out
    assert "\u2026" not in out
    for words in ("controller", "heat kWh/m2", "/station", "p95 track K", "pump kWh/m2", "heatkeeper", "1.040"):
        assert words in out, words


def test_table_fits_a_100_column_terminal(capsys, monkeypatch) -> None:
    # one table of all twelve columns was 172 wide and wrapped into garbage on a 100-column terminal
    monkeypatch.setenv("COLUMNS", "100")
    outcome = {"results": fake_results(), "errors": {}}
    summary = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 3.0 / 24,
                               ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    report.print_table(summary)
    out = capsys.readouterr().out
    too_wide = [line for line in out.splitlines() if len(line) > 100]
    assert too_wide == [], "\n".join(too_wide)
    assert "\u2026" not in out
    for _key, header, _fmt in report.COLUMNS:  # every header whole, on one line
        assert any(header in line for line in out.splitlines()), header
    # every figure of every controller is printed, each in its row
    for row in summary["controllers"]:
        lines = [line for line in out.splitlines() if line.lstrip("│ ").startswith(row["name"] + " ")]
        assert len(lines) == len(report.TABLE_PARTS), (row["name"], lines)
        cells = " ".join(lines)
        for key, _header, fmt in report.COLUMNS:
            assert report._fmt(row.get(key), fmt) in cells, (row["name"], key)


def season_start_outcome() -> tuple[dict, dict]:
    results = fake_results()
    results["bounds"]["preheat"] = {"kwh_per_m2": 0.2, "feasible": True, "short_groups": [], "supply_cap_c": 87.2}
    for name, coldest, heat in (("habitual", 21.4, 1.6), ("curve", 21.8, 1.5), ("heatkeeper", 17.9, 1.3)):
        results[name]["season_start"] = {"coldest_group_c_at_first_0000": coldest, "coldest_group": "floor-heated-09",
                                         "preheat_heat_kwh_per_m2": heat, "preheat_pump_energy_kwh_per_m2": 0.01,
                                         "all_groups_at_18_for_h": 0 if coldest < 18.0 else 58, "heating_off_h": 2,
                                         "preseason_c": 12.0, "preheat_days": 3.0}
    spec = {"city": "arxan", "weather": None, "seed": 0, "season_start": {"preseason_c": 12.0, "preheat_days": 3.0}}
    return spec, {"results": results, "errors": {}}


def test_season_start_summary_per_controller() -> None:
    spec, outcome = season_start_outcome()
    summary = report.summarise(spec, 3.0 / 24, ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    start = summary["season_start"]
    assert start["preseason_c"] == 12.0 and start["preheat_days"] == 3.0
    assert start["preheat_lower_bound_kwh_per_m2"] == 0.2
    assert start["coldest_group_c_at_first_0000"] == {"habitual": 21.4, "curve": 21.8, "heatkeeper": 17.9}
    assert start["preheat_heat_kwh_per_m2"]["curve"] == 1.5
    assert abs(start["ratio_to_preheat_bound"]["heatkeeper"] - 6.5) < 1e-9
    assert summary["targets"]["season_start_coldest_ge_18"] is False  # 17.9 degC at 00:00
    rows = {r["name"]: r for r in summary["controllers"]}
    assert "season_start" not in rows["curve"]  # one place in the JSON: summary["season_start"]


def test_season_start_table_fits_100_columns_and_shows_every_figure(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    spec, outcome = season_start_outcome()
    summary = report.summarise(spec, 3.0 / 24, ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    report.print_table(summary)
    out = capsys.readouterr().out
    too_wide = [line for line in out.splitlines() if len(line) > 100]
    assert too_wide == [], "\n".join(too_wide)
    assert "\u2026" not in out
    for _key, header, _fmt in report.SEASON_START_COLUMNS:
        assert any(header in line for line in out.splitlines()), header
    start = summary["season_start"]
    for name in ("habitual", "curve", "heatkeeper"):
        lines = [line for line in out.splitlines() if line.startswith(name + " ")]
        assert len(lines) == len(report.TABLE_PARTS) + 1, (name, lines)
        for key, _header, fmt in report.SEASON_START_COLUMNS:
            assert report._fmt(start[key][name], fmt) in lines[-1], (name, key)
    assert "pre-heat lower bound 0.200 kWh/m2" in out
    assert "supply <= 87.2 degC" in out


def test_no_season_start_part_without_the_phase(capsys) -> None:
    outcome = {"results": fake_results(), "errors": {}}
    summary = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 3.0 / 24,
                               ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    assert "season_start" not in summary
    report.print_table(summary)
    out = capsys.readouterr().out
    assert "season start" not in out and "pre-heat" not in out


def test_season_start_table_names_the_groups_no_heat_could_bring_up_in_time(capsys) -> None:
    spec, outcome = season_start_outcome()
    outcome["results"]["bounds"]["preheat"] = {"kwh_per_m2": None, "feasible": False,
                                               "short_groups": ["cold-edge", "top-floor"], "supply_cap_c": 84.9}
    summary = report.summarise(spec, 3.0 / 24, ["habitual", "curve", "heatkeeper"], outcome, {}, 2.0, [])
    assert summary["season_start"]["ratio_to_preheat_bound"] == {"habitual": None, "curve": None, "heatkeeper": None}
    report.print_table(summary)
    out = " ".join(capsys.readouterr().out.split())  # the sentence may wrap at 100 columns
    assert "from 12 degC, 72 h before 00:00 of day one" in out
    assert "these groups cannot reach 18 degC by 00:00: cold-edge, top-floor" in out


def balanced_outcome() -> dict:
    results = fake_results()
    results["balanced"] = dict(results["heatkeeper"], name="balanced", heat_kwh_per_m2=98.0, underheat_kh_below_18=0.4,
                               underheat_kh_below_18_all_groups=0.7, groups_below_18=2,
                               branch_valves={"travel_strokes_per_day": 0.123, "positions_pct": {"a": 100.0}})
    return {"results": results, "errors": {}}


def test_balanced_row_ratio_to_the_building_bound_and_its_targets() -> None:
    summary = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 3.0 / 24,
                               ["habitual", "curve", "heatkeeper", "balanced"], balanced_outcome(), {}, 2.0, [])
    rows = {r["name"]: r for r in summary["controllers"]}
    assert abs(rows["balanced"]["ratio_to_building_bound"] - 98.0 / 90.0) < 1e-12
    assert abs(rows["heatkeeper"]["ratio_to_building_bound"] - 104.0 / 90.0) < 1e-12
    assert rows["balanced"]["branch_valve_strokes_per_day"] == 0.123
    assert rows["heatkeeper"]["branch_valve_strokes_per_day"] is None
    assert summary["targets"]["balanced_ratio_to_building_bound_le_1_10"] is True  # 1.089
    assert summary["targets"]["balanced_zero_underheat_all_groups"] is False  # 0.7 K.h
    # without a balanced row the targets are heatkeeper's alone, as before
    plain = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 3.0 / 24,
                             ["habitual", "curve", "heatkeeper"], {"results": fake_results(), "errors": {}}, {}, 2.0, [])
    assert not any(key.startswith("balanced") for key in plain["targets"])


def test_balanced_table_fits_100_columns_with_every_figure(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    summary = report.summarise({"city": "arxan", "weather": None, "seed": 0}, 3.0 / 24,
                               ["habitual", "curve", "heatkeeper", "balanced"], balanced_outcome(), {}, 2.0, [])
    report.print_table(summary)
    out = capsys.readouterr().out
    too_wide = [line for line in out.splitlines() if len(line) > 100]
    assert too_wide == [], "\n".join(too_wide)
    assert "\u2026" not in out
    lines = [line for line in out.splitlines() if line.startswith("balanced ")]
    assert len(lines) == len(report.TABLE_PARTS)
    assert lines[-1].split() == ["balanced", "1.089", "0.7", "2", "0.12"]
    hk = [line for line in out.splitlines() if line.startswith("heatkeeper ")]
    assert hk[-1].split() == ["heatkeeper", "1.156", "0.0", "-", "-"]  # the fake row has no groups_below_18
