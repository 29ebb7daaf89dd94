"""The `heatkeeper` command's own help names what each subcommand offers (CPython only)."""

from __future__ import annotations

from heatkeeper.tools import cli
from heatkeeper.tools.bench.main import BENCHMARKS


def test_bench_help_names_every_benchmark() -> None:
    help_text = cli.COMMANDS["bench"][1]
    missing = [name for name in BENCHMARKS if name not in help_text]
    assert not missing, "heatkeeper --help does not name the benchmarks %s" % missing


def test_every_command_says_which_role_installs_it() -> None:
    assert set(cli.EXTRA_OF) == set(cli.COMMANDS)
