"""Season benchmark: a one-day smoke run end to end, bounds below every controller, errors."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from heatkeeper.tools.bench import main as bench_main
from heatkeeper.tools.bench import season
from heatkeeper.tools.cli import main as cli_main


def test_one_day_smoke_json_and_bounds_below_every_controller(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    code = cli_main(["bench", "season", "--city", "arxan", "--days", "1", "--json", "--interpreted-days", "0",
                     "--report", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    names = [c["name"] for c in out["controllers"]]
    assert names[:2] == ["habitual", "curve"]
    assert "heatkeeper" in names
    for key in ("station_bound_kwh_per_m2", "building_bound_kwh_per_m2", "simulated_s", "wall_s"):
        assert out[key] > 0
    assert out["simulated_s"] == 86400.0
    assert out["building_bound_kwh_per_m2"] <= out["station_bound_kwh_per_m2"]
    for row in out["controllers"]:
        for key in ("heat_kwh_per_m2", "ratio_to_station_bound", "underheat_kh_below_18", "hours_below_18",
                    "tracking_error_p95_k", "valve_travel_strokes", "pump_energy_kwh_per_m2"):
            assert row[key] is not None and row[key] >= 0.0
        assert row["heat_kwh_per_m2"] >= out["station_bound_kwh_per_m2"]
        assert row["ratio_to_station_bound"] >= 1.0
    report = (tmp_path / "report.md").read_text()
    assert "| habitual |" in report and "heat.png" in report
    for name in ("outdoor.png", "supply.png", "rooms.png", "heat.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_habitual_holds_the_coldest_group_on_a_cold_day(capsys: pytest.CaptureFixture[str]) -> None:
    # the habitual setpoint comes from the station bound's supply trace, so no group drops below 18
    spec: dict[str, Any] = {"city": "arxan", "weather": None, "days": 2.0, "seed": 0, "settings": {}}
    bounds = season.compute_bounds(spec)
    result = season.simulate("habitual", spec, habitual_c=bounds["habitual_setpoint_c"])
    assert result["underheat_kh_below_18_all_groups"] == 0.0
    assert result["heat_kwh_per_m2"] >= bounds["station_kwh_per_m2"] >= bounds["building_kwh_per_m2"]


def test_speed_sample_runs_both_builds() -> None:
    spec: dict[str, Any] = {"city": "arxan", "weather": None, "days": None, "seed": 0, "settings": {}}
    speed = season.speed_sample(spec, "curve", 0.02)
    assert speed["interpreted_s_per_day"] > 0.0
    if "compiled_s_per_day" in speed:  # absent when the extensions are not built
        assert speed["speedup"] > 0.0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--city", "harbin"], "unknown city 'harbin'"),
        (["--controllers", "mpc"], "unknown controller"),
        (["--weather", "/nonexistent.epw"], "not found"),
        (["--days", "-3"], "must be > 0"),
        (["--start-day", "400"], "--start-day=400: must be in [0, 209)"),
        (["--days", "0"], "--days=0.0: must be > 0"),
        (["--days", "nan"], "--days=nan: must be > 0"),
        (["--interpreted-days", "-1"], "--interpreted-days=-1.0: must be >= 0"),
        (["--interpreted-days", "nan"], "--interpreted-days=nan: must be >= 0"),
        (["--jobs", "0"], "--jobs=0: must be at least 1"),
        (["--seed", "-1"], "--seed=-1: must be >= 0"),
    ],
)
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    season.add_arguments(parser)
    assert season.run(parser.parse_args(argv + ["--json"])) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "text,messages",
    [
        ("[1]", ["must be a JSON object of settings sections", "not list"]),
        ("{\"room_feedback\": ", ["not JSON"]),
        ('{"room_feedback": {"target_c": "x", "bogus": 1}, "nosuch": {}, "pi": 3}',
         ["room_feedback.bogus: unknown key", "nosuch: unknown section", "room_feedback.target_c='x'", "pi"]),
    ],
)
def test_bad_settings_are_listed_before_anything_runs(tmp_path, text: str, messages: list[str],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)
    parser = argparse.ArgumentParser()
    season.add_arguments(parser)
    assert season.run(parser.parse_args(["--days", "1", "--settings", str(path), "--json"])) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing simulated, no figures
    for message in messages:
        assert message in captured.err, message


def test_every_problem_is_listed_at_once_and_nothing_runs(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    parser = argparse.ArgumentParser()
    season.add_arguments(parser)
    argv = ["--city", "harbin", "--jobs", "0", "--controllers", "mpc", "--report", str(blocker / "report"), "--json"]
    assert season.run(parser.parse_args(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 4, lines
    for message in ("unknown controller", "--jobs=0", "unknown city 'harbin'", "--report %s: cannot write there" % (blocker / "report")):
        assert any(message in line for line in lines), message


def test_missing_settings_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    season.add_arguments(parser)
    assert season.run(parser.parse_args(["--days", "1", "--settings", "/nonexistent/s.json", "--json"])) == 2
    assert "--settings /nonexistent/s.json: No such file or directory" in capsys.readouterr().err


def test_settings_file_overrides_only_the_keys_it_names(tmp_path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"room_feedback": {"gain_k_per_k": 5.0}, "pi": {"tn_s": 60.0}}))
    settings = season.load_settings(str(path))
    assert settings["room_feedback"] == dict(season.HEATKEEPER_SETTINGS["room_feedback"], gain_k_per_k=5.0)
    assert settings["limiters"] == season.HEATKEEPER_SETTINGS["limiters"]
    assert settings["pi"] == {"tn_s": 60.0}
    assert season.load_settings(None) == season.HEATKEEPER_SETTINGS
    assert "gain_k_per_k" not in season.HEATKEEPER_SETTINGS["room_feedback"]  # the defaults untouched


def test_dispatcher_reports_a_missing_benchmark(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(bench_main.BENCHMARKS, "ghost", ("heatkeeper.tools.bench.ghost", "not here"))
    args = argparse.Namespace(benchmark="ghost", rest=[])
    assert bench_main.run(args) == 2
    assert "not available" in capsys.readouterr().err


def test_step_benchmark_prints_both_builds(capsys: pytest.CaptureFixture[str]) -> None:
    from heatkeeper.tools.bench import step

    parser = argparse.ArgumentParser()
    step.add_arguments(parser)
    assert step.run(parser.parse_args(["--cycles", "1000", "--interpreted-cycles", "1000", "--json"])) == 0
    result = json.loads(capsys.readouterr().out)
    for build in ("compiled", "interpreted"):
        assert set(result[build]) == {key for key, _label in step.PARTS}
        assert all(value > 0.0 for value in result[build].values())
    # the headline figures of the full station step, side by side from the same run
    assert result["compiled_us_per_step"] == result["compiled"]["step_dict"]
    assert result["interpreted_us_per_step"] == result["interpreted"]["step_dict"]
    assert result["speedup"] == result["interpreted_us_per_step"] / result["compiled_us_per_step"]


# --- the season-start phase ----------------------------------------------------------------

def test_season_start_off_by_default_leaves_the_figures_bit_identical(capsys: pytest.CaptureFixture[str]) -> None:
    # the figure this command printed before the season-start phase existed (...307 until the plant
    # took its exponentials and square roots from libm instead of pow(), 5 December 2026: the last bit)
    code = cli_main(["bench", "season", "--city", "arxan", "--days", "3", "--json", "--interpreted-days", "0",
                     "--controllers", "heatkeeper"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    assert out["controllers"][0]["heat_kwh_per_m2"] == 1.0259675881056305
    assert "season_start" not in out
    assert "season_start_coldest_ge_18" not in out["targets"]


def test_season_start_phase_reports_the_first_0000_and_the_preheat_bound(capsys: pytest.CaptureFixture[str],
                                                                       tmp_path) -> None:
    code = cli_main(["bench", "season", "--city", "arxan", "--days", "0.25", "--json", "--interpreted-days", "0",
                     "--season-start", "--preseason-c", "11", "--preheat-days", "1.5", "--report", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    start = out["season_start"]
    assert start["preseason_c"] == 11.0 and start["preheat_days"] == 1.5 and start["floor_c"] == 18.0
    bound = start["preheat_lower_bound_kwh_per_m2"]
    assert start["preheat_bound_feasible"] is True and start["preheat_bound_short_groups"] == []
    assert 0.0 < bound < 1.0
    names = [row["name"] for row in out["controllers"]]
    assert sorted(names) == ["curve", "habitual", "heatkeeper"]
    for name in names:
        coldest = start["coldest_group_c_at_first_0000"][name]
        # warmed from 11 degC, and not absurdly: no group is above 30 degC at 00:00
        assert 11.0 < coldest < 30.0, (name, coldest)
        assert start["coldest_group"][name] in ("cold-edge", "top-floor", "ground-floor", "floor-heated-09") or \
            start["coldest_group"][name].startswith("block-")
        # no controller beats the lower bound; each used real heat to get there
        assert start["preheat_heat_kwh_per_m2"][name] >= bound
        assert start["ratio_to_preheat_bound"][name] == start["preheat_heat_kwh_per_m2"][name] / bound
        assert 0 <= start["all_groups_at_18_for_h"][name] <= 36
        assert 0 <= start["heating_off_h"][name] <= 36
    rows = {row["name"]: row for row in out["controllers"]}
    # the season proper is counted from 00:00 of day one: its heat is six hours' worth, far below
    # the pre-heat window's (a day and a half from cold), and its trace starts at hour 1
    for name, row in rows.items():
        assert 0.0 < row["heat_kwh_per_m2"] < start["preheat_heat_kwh_per_m2"][name], name
    assert out["simulated_s"] == 0.25 * 86400.0
    assert out["targets"]["season_start_coldest_ge_18"] == (start["coldest_group_c_at_first_0000"]["heatkeeper"] >= 18.0)
    assert "Season start: every group's air and mass at 11 degC 1.5 days before 00:00" in (tmp_path / "report.md").read_text()


def test_season_start_counters_restart_at_the_first_0000() -> None:
    spec: dict[str, Any] = {"city": "arxan", "weather": None, "days": 0.125, "seed": 0, "settings": {},
                            "season_start": {"preseason_c": 12.0, "preheat_days": 0.5}}
    result = season.simulate("curve", spec)
    trace = result["trace"]
    assert trace["hour"] == [1.0, 2.0, 3.0]  # hours of the season proper, as without the phase
    assert result["heat_kwh_per_m2"] == pytest.approx(trace["heat_kwh"][-1] / result["floor_area_m2"], rel=0.02)
    assert trace["heat_kwh"][0] < trace["heat_kwh"][-1]
    phase = result["season_start"]
    assert phase["preheat_heat_kwh_per_m2"] > result["heat_kwh_per_m2"]
    # half a day is too short for the curve from 12 degC: the K.h below 18 of the window are
    # not the season's (restarted at 00:00), which counts only what follows
    assert phase["coldest_group_c_at_first_0000"] < 18.0
    assert result["underheat_kh_below_18"] <= 3.0 * (18.0 - phase["coldest_group_c_at_first_0000"])


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--preheat-days", "2"], "--preheat-days=2.0: only with --season-start"),
        (["--preseason-c", "10"], "--preseason-c=10.0: only with --season-start"),
        (["--season-start", "--preheat-days", "0.3"], "--preheat-days=0.3: must be in (0, 30] days and a whole number"),
        (["--season-start", "--preheat-days", "0"], "--preheat-days=0.0: must be in (0, 30]"),
        (["--season-start", "--preheat-days", "nan"], "--preheat-days=nan: must be in (0, 30]"),
        (["--season-start", "--preseason-c", "18"], "--preseason-c=18.0: must be in [0, 18) degC"),
        (["--season-start", "--preseason-c", "nan"], "--preseason-c=nan: must be in [0, 18) degC"),
        (["--season-start", "--start-day", "5"], "--start-day=5: --season-start begins before the season's first day"),
    ],
)
def test_bad_season_start_arguments_are_refused(argv: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    season.add_arguments(parser)
    assert season.run(parser.parse_args(argv + ["--days", "1", "--json"])) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--forecast-error-k", "2"], "--forecast-error-k=2.0: only with --season-start"),
        (["--season-start", "--forecast-error-k", "-1"], "--forecast-error-k=-1.0: must be in [0, 20] K"),
        (["--season-start", "--forecast-error-k", "nan"], "--forecast-error-k=nan: must be in [0, 20] K"),
    ],
)
def test_bad_forecast_error_is_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    season.add_arguments(parser)
    assert season.run(parser.parse_args(argv + ["--days", "1", "--json"])) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def _planner_loop(error_k: float) -> tuple[Any, Any]:
    from heatkeeper.core.station import StationController
    from heatkeeper.tools.plant.local_control import StationLoop

    start = {"preseason_c": 12.0, "preheat_days": 3.0, "forecast_error_k": error_k}
    spec: dict[str, Any] = {"city": "arxan", "weather": None, "days": 1.0, "seed": 3, "settings": {}, "season_start": start}
    plant, days = season.make_plant(spec, preseason=True)
    ctl = StationController()
    return season.PlannerLoop(StationLoop(ctl, plant, season.ROOM_PERIOD_S), plant, start, days, 3, error_k), plant


def test_the_controller_is_told_the_calendar_and_the_weather_ahead() -> None:
    loop, plant = _planner_loop(0.0)
    cal = loop.ctl.season
    assert (cal.version, cal.start_s, cal.end_s, cal.preheat_s) == (1, season.WALL_EPOCH_S, season.WALL_EPOCH_S + 86400.0,
                                                                      3 * 86400.0)
    msg = loop.forecast(plant)
    assert msg["ts"] == season.WALL_EPOCH_S - 3 * 86400.0 and len(msg["temp_c"]) == season.FORECAST_HOURS
    assert msg["temp_c"] == [round(t, 2) for t in list(plant.weather_temp)[:season.FORECAST_HOURS]]  # no error asked
    assert loop.ctl.set_forecast(msg, msg["ts"]) == ""


def test_forecast_error_is_seeded_biased_and_grows_with_the_lead() -> None:
    from heatkeeper.tools import demo_forecast

    loop, plant = _planner_loop(2.0)
    truth = list(plant.weather_temp)[:season.FORECAST_HOURS]
    errors = []
    for _ in range(200):
        msg = loop.forecast(plant)
        loop.issued += 1  # each forecast issued draws its own error
        errors.append([f - round(t, 2) for f, t in zip(msg["temp_c"], truth, strict=True)])
    again, _plant = _planner_loop(2.0)
    assert again.forecast(plant)["temp_c"] == [round(t + e, 2) for t, e in zip(truth, errors[0], strict=True)]  # seeded
    sd72 = demo_forecast.SD0_K + demo_forecast.SD_PER_H_K * (season.FORECAST_HOURS - 1)
    assert loop.bias_k == pytest.approx(2.0 * demo_forecast.BIAS_K / sd72)
    mean_71 = sum(e[71] for e in errors) / len(errors)
    rms_0 = (sum((e[0] - loop.bias_k) ** 2 for e in errors) / len(errors)) ** 0.5
    rms_71 = (sum((e[71] - loop.bias_k) ** 2 for e in errors) / len(errors)) ** 0.5
    assert mean_71 == pytest.approx(loop.bias_k, abs=0.4)
    assert rms_71 == pytest.approx(2.0, rel=0.25)  # K is the error's standard deviation at 72 h lead
    assert rms_0 < 0.3 * rms_71
    figures = loop.figures()
    assert figures["error_k"] == 2.0 and figures["issued"] == 200 and figures["refused"] == []
    assert figures["rms_error_24h_k"] > 0.0


def test_season_start_with_the_planner_waits_then_brings_every_group_to_18() -> None:
    # heatkeeper without the planner warmed the rooms at once and held them for days (README:
    # 1.28 kWh/m2 in a 72 h window, 7.6x the bound); with the calendar and the forecast it keeps
    # the heating off (the frost floor aside) until the latest start, and still has every group
    # at 18 degC at 00:00
    spec: dict[str, Any] = {"city": "arxan", "weather": None, "days": 0.125, "seed": 0,
                            "settings": season.HEATKEEPER_SETTINGS,
                            "season_start": {"preseason_c": 12.0, "preheat_days": 2.0}}
    result = season.simulate("heatkeeper", spec)
    phase = result["season_start"]
    assert phase["coldest_group_c_at_first_0000"] >= 18.0
    assert phase["heating_off_h"] >= 8
    assert phase["all_groups_at_18_for_h"] <= 12  # without the planner: 35 h
    assert result["forecast"]["issued"] == 9 and result["forecast"]["refused"] == []
    assert result["underheat_kh_below_18_all_groups"] == 0.0
