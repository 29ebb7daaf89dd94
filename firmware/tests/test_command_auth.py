"""Signed commands at the station's gate: a table of good, tampered, foreign, expired, replayed,
unsigned and wrongly keyed commands; the replay memory across restarts and a full cache; the
key file as config sees it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import tomli_w
from heatkeeper.core import codec
from heatkeeper.firmware import command_auth
from heatkeeper.firmware.config import validate_config
from heatkeeper.firmware.uplink import CommandGate, RecentAcks

from .station_setup import EXAMPLE
from .test_uplink import mqtt_cfg

SID = "st-1"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
NOW = 1_700_000_000.0
ARGS = {"room_setpoint_c": 19.5, "lease_s": 600}


class Controller:
    """Records what reaches it (the stand-in for core's handle_command: the gate is under test)."""

    def __init__(self) -> None:
        self.applied: list[dict] = []

    def __call__(self, request: dict) -> dict:
        self.applied.append(request)
        return {"result": "applied", "reason": "ok", "detail": ""}


def gate_with(key_path: str = "", insecure: bool = False, acks: RecentAcks | None = None) -> tuple[CommandGate, Controller]:
    ctl = Controller()
    cfg = mqtt_cfg(1883, command_key_file=key_path, insecure_unsigned_commands=insecure)
    return CommandGate(SID, ctl, cfg, acks if acks is not None else RecentAcks()), ctl


@pytest.fixture
def key_file(tmp_path: Any) -> str:
    path = tmp_path / "st-1.cmdkey"
    path.write_text(KEY.hex() + "\n")
    return str(path)


def signed(cid: str = "c-1", args: dict | None = None, user: str = "operator", expires: float = NOW + 600,
           key: bytes = KEY, for_station: str = SID) -> bytes:
    """A command for SID whose signature was made with `key` over station `for_station`."""
    args = dict(ARGS) if args is None else args
    sig = command_auth.command_signature(key, for_station, cid, "set_room_setpoint", args, user, expires)
    return codec.encode_command(SID, cid, "set_room_setpoint", args, user, NOW, expires, sig=sig)[1]


def tampered() -> bytes:
    msg = json.loads(signed())
    msg["args"]["room_setpoint_c"] = 24.0
    return json.dumps(msg).encode()


def unsigned() -> bytes:
    return codec.encode_command(SID, "c-1", "set_room_setpoint", dict(ARGS), "operator", NOW, NOW + 600)[1]


TOPIC = codec.command_topic(SID)

# (case, payload, ack result, ack reason, applied)
TABLE = [
    ("good", signed, "applied", "ok", True),
    ("tampered argument", tampered, "rejected", "bad_signature", False),
    ("signed for another station", lambda: signed(for_station="st-2"), "rejected", "bad_signature", False),
    ("expired", lambda: signed(expires=NOW - 5), "expired", "expired", False),
    ("missing signature", unsigned, "rejected", "unsigned", False),
    ("wrong key", lambda: signed(key=OTHER_KEY), "rejected", "bad_signature", False),
    ("user changed", lambda: json.dumps(dict(json.loads(signed()), user="mallory")).encode(), "rejected",
     "bad_signature", False),
    ("expiry extended", lambda: json.dumps(dict(json.loads(signed()), expires_ts=NOW + 3000)).encode(), "rejected",
     "bad_signature", False),
]


@pytest.mark.parametrize(("case", "make", "result", "reason", "applied"), TABLE, ids=[row[0] for row in TABLE])
def test_verify_table(key_file: str, case: str, make: Any, result: str, reason: str, applied: bool) -> None:
    gate, ctl = gate_with(key_file)
    ack, event = gate.process(TOPIC, make(), False, NOW)
    assert ack is not None and (ack["result"], ack["reason"]) == (result, reason), (case, ack)
    assert bool(ctl.applied) is applied
    if not applied:
        assert event is not None and event["kind"] == "command_rejected" and event["reason"] == reason
        assert event["command_id"] == "c-1"


def test_known_vector_matches_the_supervisor() -> None:
    # The same vector is checked in supervisor/tests/test_command_keys.py: both sides sign alike.
    assert command_auth.command_signature(KEY, "st-1", "c-1", "set_room_setpoint", ARGS, "operator", 1700000600.0) == \
        "89d683afb6b78945ff6e8d9e949060543266be852027c26289378670fabd3499"


def test_replay_is_answered_from_the_cache_and_a_modified_one_refused(key_file: str) -> None:
    gate, ctl = gate_with(key_file)
    first, _ = gate.process(TOPIC, signed(), False, NOW)
    again, event = gate.process(TOPIC, signed(), False, NOW + 1)
    assert first is not None and again is not None
    assert again["result"] == "applied" and again.get("duplicate") is True
    assert event is not None and event["kind"] == "command_duplicate"
    bad, bad_event = gate.process(TOPIC, tampered(), False, NOW + 2)
    assert bad is not None and bad["reason"] == "bad_signature" and bad_event is not None
    assert len(ctl.applied) == 1
    # a forgery under the genuine id is not remembered: the cache still holds the genuine answer
    again2, _ = gate.process(TOPIC, signed(), False, NOW + 3)
    assert again2 is not None and again2["result"] == "applied" and len(ctl.applied) == 1


def test_replay_after_restart_is_not_applied(key_file: str) -> None:
    gate, ctl = gate_with(key_file)
    gate.process(TOPIC, signed(), False, NOW)
    state = json.loads(json.dumps(gate.acks.snapshot()))  # through the state file's JSON
    restored = RecentAcks()
    restored.restore(state)
    gate2, ctl2 = gate_with(key_file, acks=restored)
    ack, _ = gate2.process(TOPIC, signed(), False, NOW + 60)
    assert ack is not None and ack.get("duplicate") is True and not ctl2.applied


def test_ids_are_kept_until_their_expiry_even_past_the_cache_size(key_file: str) -> None:
    acks = RecentAcks(size=4, max_held=8)
    gate, ctl = gate_with(key_file, acks=acks)
    for i in range(6):
        gate.process(TOPIC, signed(cid="c-%d" % i), False, NOW + i)
    assert len(ctl.applied) == 6 and len(acks) == 6  # beyond size 4: none expired yet, all kept
    replay, _ = gate.process(TOPIC, signed(cid="c-0"), False, NOW + 10)
    assert replay is not None and replay.get("duplicate") is True and len(ctl.applied) == 6
    # more unexpired ids than max_held: the oldest go, and anything expiring by then is refused
    for i in range(6, 12):
        gate.process(TOPIC, signed(cid="c-%d" % i, expires=NOW + 600 + i), False, NOW + 20)
    assert len(acks) == 8 and acks.floor_ts >= NOW + 600
    forgotten, event = gate.process(TOPIC, signed(cid="c-1"), False, NOW + 30)
    assert forgotten is not None and forgotten["reason"] == "replay_window" and event is not None
    assert len(ctl.applied) == 12
    # once expired, old ids make room again
    gate.process(TOPIC, signed(cid="c-late", expires=NOW + 5000), False, NOW + 4000)
    assert len(acks) <= 4


def test_old_state_files_still_restore() -> None:
    acks = RecentAcks()
    acks.restore([["c-old", {"command_id": "c-old", "result": "applied", "reason": "ok", "detail": ""}]])
    assert acks.get("c-old") is not None
    acks.restore({"acks": [["c-x", {"result": "applied"}, "nonsense"], ["bad"]], "floor_ts": float("nan")})
    assert acks.get("c-x") is not None and acks.floor_ts == 0.0


def test_no_key_refuses_every_command_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="heatkeeper.uplink"):
        gate, ctl = gate_with("")
        for i in range(3):
            ack, event = gate.process(TOPIC, signed(cid="c-%d" % i), False, NOW)
            assert ack is not None and ack["reason"] == "no_command_key" and event is not None
    assert not ctl.applied
    assert sum("command_key_file" in r.getMessage() for r in caplog.records) == 1


def test_insecure_unsigned_commands_only_when_asked() -> None:
    gate, ctl = gate_with("", insecure=True)
    ack, _ = gate.process(TOPIC, unsigned(), False, NOW)
    assert ack is not None and ack["result"] == "applied" and len(ctl.applied) == 1


def test_key_file_problems_are_config_problems(tmp_path: Any, key_file: str) -> None:
    with open(EXAMPLE, "rb") as fh:
        base = tomllib.load(fh)
    short = tmp_path / "short.cmdkey"
    short.write_text("ab" * 16)
    garbage = tmp_path / "garbage.cmdkey"
    garbage.write_text("not a key at all, not a key at all, not a key at all, not a key at all!")
    cases = [(str(tmp_path / "missing.cmdkey"), "not found"), (str(short), "at least 64"),
             (str(garbage), "hex digits only")]
    for path, words in cases:
        raw = json.loads(json.dumps(base))
        raw["mqtt"]["command_key_file"] = path
        cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
        assert cfg is None and any("mqtt.command_key_file" in p and words in p for p in problems), (path, problems)
        assert not any("ab" * 16 in p for p in problems)  # the key itself is never printed
    raw = json.loads(json.dumps(base))
    raw["mqtt"].update(command_key_file=key_file, insecure_unsigned_commands=True)
    _cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert any("insecure_unsigned_commands" in p for p in problems)
    raw["mqtt"]["insecure_unsigned_commands"] = False
    cfg, problems = validate_config(raw, str(tmp_path / "station.toml"))
    assert cfg is not None and cfg.mqtt.command_key_file == key_file, problems


def test_check_config_lists_a_short_key_and_says_how_commands_are_taken(tmp_path: Any, key_file: str) -> None:
    with open(EXAMPLE, "rb") as fh:
        raw = tomllib.load(fh)
    short = tmp_path / "short.cmdkey"
    short.write_text("ab" * 20)
    raw["mqtt"]["command_key_file"] = str(short)
    path = tmp_path / "station.toml"
    path.write_bytes(tomli_w.dumps(raw).encode())
    cli = [sys.executable, "-m", "heatkeeper.tools.cli", "check-config", str(path)]
    bad = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "mqtt.command_key_file" in bad.stderr and "40 hex digits" in bad.stderr, bad.stderr
    raw["mqtt"]["command_key_file"] = key_file
    path.write_bytes(tomli_w.dumps(raw).encode())
    good = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "commands: signed with the key in " + key_file in good.stdout, good.stdout


def test_a_flood_of_forgeries_is_answered_at_a_bounded_rate(key_file: str) -> None:
    from heatkeeper.firmware import uplink

    gate, ctl = gate_with(key_file)
    answered = [gate.process(TOPIC, signed(cid="f-%d" % i, key=OTHER_KEY), False, NOW) for i in range(200)]
    acked = [a for a, _e in answered if a is not None]
    assert len(acked) == uplink.REFUSAL_BURST and gate.suppressed == 200 - uplink.REFUSAL_BURST
    assert gate.counts["bad_signature"] == 200 and not ctl.applied
    good, _ = gate.process(TOPIC, signed(cid="g-1"), False, NOW)  # genuine commands are never held back
    assert good is not None and good["result"] == "applied"
    # a minute later the next one is answered again and says how many went unanswered
    ack, event = gate.process(TOPIC, unsigned(), False, NOW + 60)
    assert ack is not None and ack["reason"] == "unsigned"
    assert event is not None and event["suppressed"] == 200 - uplink.REFUSAL_BURST and gate.suppressed == 0
