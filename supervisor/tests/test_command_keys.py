"""Station command keys on the supervisor: made once (0600, never replaced), every command
signed with its station's key, no key = nothing sent."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor.command_keys import CommandKeyError, CommandKeys, sign

from .test_service import Wire, make_config


def test_keys_are_made_once_private_and_kept(tmp_path: Any) -> None:
    keys = CommandKeys(str(tmp_path / "credentials"))
    assert keys.ensure(["st-a", "st-b"]) == ["st-a", "st-b"]
    assert stat.S_IMODE(os.stat(tmp_path / "credentials").st_mode) == 0o700
    for sid in ("st-a", "st-b"):
        assert stat.S_IMODE(os.stat(keys.path(sid)).st_mode) == 0o600
        assert len(keys.key(sid)) == 32
    first = keys.key("st-a")
    assert keys.ensure(["st-a", "st-c"]) == ["st-c"]  # an existing key is never replaced
    assert keys.key("st-a") == first and keys.key("st-a") != keys.key("st-b")


def test_missing_or_bad_key_is_an_error_naming_the_file(tmp_path: Any) -> None:
    keys = CommandKeys(str(tmp_path))
    with pytest.raises(CommandKeyError, match="st-x.cmdkey"):
        keys.key("st-x")
    (tmp_path / "st-y.cmdkey").write_text("ab" * 8)
    with pytest.raises(CommandKeyError, match="at least 64"):
        keys.key("st-y")
    with pytest.raises(CommandKeyError):
        keys.path("../etc/passwd")


def test_known_vector_matches_the_station() -> None:
    # The same vector is checked in firmware/tests/test_command_auth.py: both sides sign alike.
    assert sign(bytes(range(32)), "st-1", "c-1", "set_room_setpoint", {"room_setpoint_c": 19.5, "lease_s": 600},
                "operator", 1700000600.0) == "89d683afb6b78945ff6e8d9e949060543266be852027c26289378670fabd3499"


async def test_every_command_is_signed_and_none_without_a_key(storage: Any, tmp_path: Any) -> None:
    from heatkeeper.supervisor.service import SupervisorService
    from heatkeeper.supervisor.service_errors import ServiceError

    cfg = make_config(str(tmp_path / "sup"))
    keys = CommandKeys(os.path.join(cfg["supervisor"]["data_dir"], "credentials"))
    keys.ensure(["st-a"])  # st-b has no key
    svc = SupervisorService(storage, cfg)
    await svc.start(open_storage=False)
    wire = Wire()
    svc.link.set_publisher(wire)
    cid = await svc.remote.send_command("st-a", "set_room_setpoint", {"room_setpoint_c": 20.5}, "olga", lease_s=600)
    topic, payload, _qos, _retain = wire.sent[-1]
    cmd = codec.decode_command(topic, payload)
    message = codec.command_signing_bytes("st-a", cid, cmd["kind"], cmd["args"], "olga", cmd["expires_ts"])
    assert cmd["sig"] == hmac.new(keys.key("st-a"), message, hashlib.sha256).hexdigest()
    with pytest.raises(ServiceError) as err:
        await svc.remote.send_command("st-b", "set_mode", {"mode": "auto"}, "olga")
    assert err.value.reason == "no_command_key" and "st-b.cmdkey" in err.value.text
    assert len(wire.sent) == 1
    audit = await svc.audit_log.rows(10)
    assert ("command:set_mode", "refused:no_command_key") in [(a["action"], a["result"]) for a in audit]
