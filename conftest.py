"""Repository-wide pytest options: --run-slow enables the suites marked `slow`; Hypothesis runs a
bounded number of examples (profile `heatkeeper`, 200 by default; HEATKEEPER_FUZZ_EXAMPLES overrides)."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "heatkeeper",
    max_examples=int(os.environ.get("HEATKEEPER_FUZZ_EXAMPLES", "200")),
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("heatkeeper")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
