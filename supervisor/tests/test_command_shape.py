"""The supervisor's shape check of remote commands: a remote summer or safe is a lease on the
station (core.command_handler LEASED_MODES), so set_mode carries an optional duration_s."""

from __future__ import annotations

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor.commands import CommandError, check_command


def test_set_mode_takes_an_optional_duration() -> None:
    check_command("set_mode", {"mode": "summer"})
    check_command("set_mode", {"mode": "safe", "duration_s": 1800})
    topic, payload = codec.encode_command("st-a", "c1", "set_mode", {"mode": "summer", "duration_s": 1800.0}, "olga",
                                          1000.0, 1060.0)
    assert codec.decode_command(topic, payload)["args"] == {"mode": "summer", "duration_s": 1800.0}


@pytest.mark.parametrize("args", [{"mode": "summer", "duration_s": "1h"}, {"mode": "summer", "duration_s": True},
                                  {"mode": "summer", "until": 5}])
def test_set_mode_bad_duration_refused_before_sending(args: dict) -> None:
    with pytest.raises(CommandError) as err:
        check_command("set_mode", args)
    assert err.value.reason == "bad_args"
