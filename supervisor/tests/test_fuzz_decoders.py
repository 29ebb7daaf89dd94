"""Property-based tests (Hypothesis, the bounded profile of the root conftest) of what the
supervisor decodes from outside: uplinks (core.codec.decode_uplink, through the real ingest into
a real SQLite store), collector readings (MQTT and HTTP), and the supervisor configuration.

Properties: nothing raises anything but the documented error (CodecError, ConfigError; the HTTP
reading parser returns problems instead), and nothing accepted breaks storage: an accepted uplink
is stored and derived, every flush (aggregates included) succeeds, and nothing stays queued.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from heatkeeper.core import codec
from heatkeeper.supervisor import config as sup_config
from heatkeeper.supervisor.collectors import CollectorHub, parse_http_readings
from heatkeeper.supervisor.config_files import read_text
from heatkeeper.supervisor.service import SupervisorService
from heatkeeper.supervisor.storage.sqlite import SQLiteStorage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = 1_750_000_000.0
MAX_AGE_S = 90 * 86400.0
STATIONS = ["st-a", "st-b"]

# --- strategies -----------------------------------------------------------------------------------
# every character, NUL, controls and lone surrogates included (json.dumps escapes them)
any_char = st.characters(exclude_categories=())
texts = st.one_of(st.text(any_char, max_size=12), st.sampled_from(["x\x00y", "\ud800", "ok", "a\nb", "\x7f", ""]))
numbers = st.one_of(
    st.integers(min_value=-10, max_value=10),
    st.integers(),
    st.sampled_from([2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 10 ** 12, 10 ** 12 + 1, 10 ** 300, 10 ** 400, -10 ** 400]),
    st.floats(),  # NaN and +-Infinity included
    st.floats(min_value=-1e13, max_value=1e13),
    st.sampled_from([1e12, -1e12, 1e300, float("inf"), float("-inf"), float("nan")]),
)
field_names = st.one_of(st.from_regex(r"[a-z0-9_]{1,64}", fullmatch=True), texts)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(texts, inner, max_size=3)), max_leaves=12)
# deeper than the codec allows, now and then
deep = st.integers(min_value=1, max_value=40).map(lambda n: json.loads("[" * n + "1" + "]" * n))


def bodies(kind: str) -> st.SearchStrategy[Any]:
    extra = st.dictionaries(texts, st.one_of(trees, deep), max_size=2)
    if kind == codec.UP_TELEMETRY:
        values = st.dictionaries(field_names, st.one_of(st.none(), numbers, numbers, scalars), max_size=8)
        return st.one_of(st.builds(lambda v, e: {**e, "values": v}, values, extra), trees)
    if kind == codec.UP_ALARM:
        alarm = st.fixed_dictionaries({"code": st.one_of(texts, st.sampled_from(["leak", "secondary_overtemp"]))},
                                      optional={"state": st.one_of(st.sampled_from(["active", "cleared"]), scalars),
                                                "severity": scalars, "text": texts, "value": trees})
        return st.one_of(st.builds(lambda a, e: {**e, **a}, alarm, extra), trees)
    if kind == codec.UP_EVENT:
        return st.one_of(st.builds(lambda k, e: {**e, "kind": k}, texts, extra), trees)
    ack = st.fixed_dictionaries({"command_id": st.one_of(texts, st.just("c1")),
                                 "result": st.one_of(st.sampled_from(codec.ACK_RESULTS), scalars)},
                                optional={"reason": scalars, "detail": texts})
    return st.one_of(ack, trees)


@st.composite
def uplinks(draw: st.DrawFn) -> tuple[str, bytes]:
    sid = draw(st.sampled_from(STATIONS))
    kind = draw(st.sampled_from(codec.UP_KINDS))
    if draw(st.integers(0, 9)) == 0:  # not JSON, or another encoding, now and then
        return codec.up_topic(sid, kind), draw(st.one_of(st.binary(max_size=64),
                                                         st.text(max_size=20).map(lambda t: t.encode("utf-16"))))
    msg = {
        "v": draw(st.one_of(st.just(1), scalars)),
        "station": draw(st.one_of(st.just(sid), st.just(sid), texts)),
        "seq": draw(st.one_of(st.integers(min_value=1, max_value=10 ** 6), numbers)),
        "ts": draw(st.one_of(st.floats(min_value=NOW - 100 * 86400, max_value=NOW + 600), numbers)),
        "kind": draw(st.one_of(st.just(kind), st.just(kind), texts)),
        "body": draw(bodies(kind)),
    }
    for key in draw(st.lists(st.sampled_from(sorted(msg)), max_size=1)):
        del msg[key]  # a missing key now and then
    return codec.up_topic(sid, kind), json.dumps(msg).encode()


# --- a real SQLite store on its own event loop (Hypothesis drives a plain function) --------------
class Rig:
    def __init__(self, folder: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.storage = SQLiteStorage(os.path.join(folder, "fuzz.db"))
        config = sup_config.validate({"station": [{"id": s} for s in STATIONS],
                                      "collector": [{"id": "c1", "station": "st-a", "group": "top"}]})
        self.service = SupervisorService(self.storage, config, wall_clock=lambda: NOW)
        self.run(self.service.start())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.storage.close())
        self.loop.close()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with tempfile.TemporaryDirectory(prefix="hk-fuzz-") as folder:
        r = Rig(folder)
        try:
            yield r
        finally:
            r.close()


MODULE_FIXTURE = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# --- uplinks --------------------------------------------------------------------------------------
@given(uplinks())
@MODULE_FIXTURE
def test_decode_uplink_raises_only_codec_error(message: tuple[str, bytes]) -> None:
    topic, payload = message
    try:
        msg = codec.decode_uplink(topic, payload, NOW, MAX_AGE_S)
    except codec.CodecError as exc:
        assert exc.reason and exc.text
        return
    assert 1 <= msg["seq"] <= 2 ** 63 - 1
    assert math.isfinite(msg["ts"]) and NOW - MAX_AGE_S <= msg["ts"] <= NOW + codec.MAX_FUTURE_S
    if msg["kind"] == codec.UP_TELEMETRY:
        for name, value in msg["body"]["values"].items():
            assert codec.valid_field_name(name)
            assert value is None or (math.isfinite(value) and abs(value) <= 1e12)


@given(st.lists(uplinks(), min_size=1, max_size=6))
@MODULE_FIXTURE
def test_every_accepted_uplink_is_stored_and_derived(rig: Rig, messages: list[tuple[str, bytes]]) -> None:
    ing = rig.service.ingest
    ing._fields.clear()  # the per-station name cap is its own test: here every example starts afresh
    accepted = []
    for topic, payload in messages:
        try:
            msg = codec.decode_uplink(topic, payload, NOW, MAX_AGE_S)
        except codec.CodecError:
            msg = None
        result = ing.handle(topic, payload)
        assert (result == "queued") == (msg is not None), (result, payload[:200])
        if msg is not None:
            accepted.append((msg["station"], msg["seq"]))
    rig.run(ing.flush(force_aggregates=True))  # raises on any failure
    stats = ing.stats()
    assert stats["pending"] == 0 and stats["quarantine_pending"] == 0
    stored = rig.run(rig.storage.stored_uplinks(accepted))
    assert set(accepted) <= set(stored)
    rig.run(rig.service.fleet.list_stations())
    rig.run(rig.service.alarm_desk.alarms(None, active_only=False))
    rig.run(rig.service.alarm_desk.quarantine(None, limit=5))


# --- collector readings ---------------------------------------------------------------------------
collector_payloads = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda v, t, ts: json.dumps({"v": v, "temp_c": t, "ts": ts}).encode(),
              st.one_of(st.just(1), scalars), st.one_of(st.floats(-20, 40), numbers),
              st.one_of(st.floats(NOW - 3600, NOW + 600), numbers)),
)


@given(collector_payloads)
@MODULE_FIXTURE
def test_collector_readings_decode_or_codec_error_and_store(rig: Rig, payload: bytes) -> None:
    hub: CollectorHub = rig.service.collectors
    try:
        reading = codec.decode_collector_reading(codec.collector_topic("c1"), payload)
    except codec.CodecError:
        reading = None
    if reading is not None:
        assert math.isfinite(reading["temp_c"]) and math.isfinite(reading["ts"])
    result = rig.service.ingest.handle(codec.collector_topic("c1"), payload)
    assert result == "reading" or result.startswith("rejected:")
    rig.run(hub.flush())


http_items = st.one_of(
    trees,
    st.fixed_dictionaries({"collector": st.one_of(st.just("c1"), texts, scalars),
                           "temp_c": st.one_of(st.floats(-20, 40), numbers, scalars),
                           "ts": st.one_of(st.floats(NOW - 3600, NOW + 600), numbers, scalars)}),
)


@given(st.one_of(http_items, st.builds(lambda items: {"readings": items}, st.lists(http_items, max_size=4)),
                 st.dictionaries(texts, trees, max_size=2)))
@MODULE_FIXTURE
def test_http_readings_never_raise_and_good_ones_store(rig: Rig, payload: Any) -> None:
    good, problems = parse_http_readings(payload)
    assert all(isinstance(p, str) and p for p in problems)
    for cid, temp_c, ts in good:
        assert codec.valid_id(cid) and math.isfinite(temp_c) and math.isfinite(ts) and ts > 0
        rig.service.collectors.accept(cid, temp_c, ts, "http")
    rig.run(rig.service.collectors.flush())


# --- the supervisor configuration ---------------------------------------------------------------
toml_values = st.one_of(scalars.filter(lambda v: v is not None), st.datetimes(), st.dates(),
                        st.lists(st.one_of(st.integers(), texts), max_size=3))
known_keys = [(sec, key) for sec, keys in sup_config.DEFAULTS.items() for key in keys]


@st.composite
def raw_configs(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for sec, key in draw(st.lists(st.sampled_from(known_keys), max_size=6)):
        raw.setdefault(sec, {})[key] = draw(toml_values)
    if draw(st.booleans()):
        raw[draw(texts)] = draw(st.one_of(toml_values, st.dictionaries(texts, toml_values, max_size=2)))
    if draw(st.booleans()):
        raw["station"] = draw(st.one_of(toml_values, st.lists(st.one_of(
            st.fixed_dictionaries({"id": st.one_of(st.just("st-a"), texts, toml_values)},
                                  optional={"name": toml_values, "city": toml_values}), toml_values), max_size=3)))
    if draw(st.booleans()):
        raw["collector"] = draw(st.one_of(toml_values, st.lists(st.one_of(
            st.fixed_dictionaries({"id": st.one_of(st.just("c1"), texts), "station": st.one_of(st.just("st-a"), texts),
                                   "group": st.one_of(st.just("top"), toml_values)}), toml_values), max_size=3)))
    return raw


@given(raw_configs())
@MODULE_FIXTURE
def test_supervisor_config_raises_only_config_error(raw: dict[str, Any]) -> None:
    try:
        cfg = sup_config.validate(raw, base_dir="/nonexistent-hk")
    except sup_config.ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) for p in exc.problems)
        return
    assert cfg["storage"]["raw_retention_days"] >= 1


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 raw_configs().map(lambda raw: "\n".join("%s = %r" % kv for kv in raw.get("storage", {}).items())
                                   .encode("utf-8", "surrogatepass"))))
@MODULE_FIXTURE
def test_supervisor_config_file_raises_only_config_error(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".toml", delete=False) as fh:
        fh.write(data)
    try:
        sup_config.load(fh.name)
    except sup_config.ConfigError as exc:
        assert exc.problems
    finally:
        os.unlink(fh.name)


# --- what the properties above found, pinned -------------------------------------------------------
@pytest.mark.parametrize("name", ["SECRET\ud800", "\ud800\udc00x"])
def test_an_impossible_environment_variable_name_is_a_problem_not_a_crash(name: str) -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"authority_reports": {"http_secret_env": name}}, base_dir="/nonexistent-hk")
    assert any("http_secret_env" in p and "not set" in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("path", ["rooms\x00.csv", "rooms\ud800.csv"])
def test_an_impossible_collectors_file_name_is_a_problem_not_a_crash(path: str) -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"collectors": {"csv": path}}, base_dir="/nonexistent-hk")
    assert any("collectors.csv=" in p and "not a file name" in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("content, reason", [
    (b"id,station,group\nc1,st-1,g\xe4\n", "cannot read (not UTF-8 text)"),
    (b'id,station,group\nc1,st-1,"' + b"a" * 140000 + b'"\n', "line 2: not CSV (field larger than field limit"),
])
def test_a_collectors_file_that_is_not_text_or_not_csv_is_a_problem_not_a_crash(tmp_path: Any, content: bytes,
                                                                                  reason: str) -> None:
    # before: a Latin-1 file was "not a file name", and a field over 128 KiB crashed validate (csv.Error)
    (tmp_path / "collectors.csv").write_bytes(content)
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"collectors": {"csv": "collectors.csv"}, "station": [{"id": "st-1"}]},
                            base_dir=str(tmp_path))
    assert any("collectors.csv=" in p and reason in p for p in err.value.problems), err.value.problems


@given(content=st.binary(max_size=200) | st.text(alphabet='ab,"\r\n\x00\u2028 ', max_size=200).map(str.encode))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_collectors_file_is_read_or_listed_as_problems(tmp_path: Any, content: bytes) -> None:
    (tmp_path / "collectors.csv").write_bytes(b"id,station,group\n" + content)
    problems: list[str] = []
    rows = sup_config.read_collectors_csv(str(tmp_path / "collectors.csv"), problems)
    assert rows or problems or not content.strip(b"\r\n ,"), (content, rows)
    assert all(set(r) == {"id", "station", "group", "household", "placement"} for r in rows)


@pytest.mark.parametrize("path", ["secret\x00.txt", "secret\ud800.txt"])
def test_an_impossible_secret_file_name_is_a_problem_not_a_crash(path: str) -> None:
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"authority_reports": {"http_secret_file": path}}, base_dir="/nonexistent-hk")
    assert any("http_secret_file=" in p and "cannot read" in p for p in err.value.problems), err.value.problems


def test_a_secret_file_that_is_not_utf8_is_a_problem_not_a_crash(tmp_path: Any) -> None:
    (tmp_path / "secret.txt").write_bytes(b"\xff\xfe not text")
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"authority_reports": {"http_secret_file": "secret.txt"}}, base_dir=str(tmp_path))
    assert any("http_secret_file=" in p and "cannot read" in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("key", ["metrics_token_file", "collector_tokens_file"])
@pytest.mark.parametrize("name, reason", [("tok\x00.txt", "not a file name"), ("tok\ud800.txt", "not a file name"),
                                          ("latin1.txt", "not UTF-8 text"), ("missing.txt", "No such file")])
def test_a_web_token_file_that_cannot_be_read_is_a_problem_not_a_crash(tmp_path: Any, key: str, name: str,
                                                                         reason: str) -> None:
    (tmp_path / "latin1.txt").write_bytes(b"metrics-token-\xe4\xe4\xe4\xe4\xe4\xe4\xe4\xe4\n")
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.validate({"web": {key: str(tmp_path / name)}}, base_dir=str(tmp_path))
    assert any("web.%s=" % key in p and "cannot read (%s" % reason in p for p in err.value.problems), err.value.problems


@given(name=st.text(max_size=40), content=st.binary(max_size=64))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_read_text_never_raises(tmp_path: Any, name: str, content: bytes) -> None:
    # any name (NULs, lone surrogates, separators, "" ...) and any bytes: the text or a reason
    (tmp_path / "given").write_bytes(content)
    for path in (str(tmp_path / "given"), os.path.join(str(tmp_path), name)):
        text, reason = read_text(path)
        assert (text is None) == bool(reason), (path, text, reason)
    try:
        expected: str | None = content.decode("utf-8")
    except UnicodeDecodeError:
        expected = None
    # as read with newline="" (the bytes' own line ends), and by default (universal newlines)
    text, reason = read_text(str(tmp_path / "given"), newline="")
    assert text == expected and (reason == "" if expected is not None else reason == "not UTF-8 text")
    text, reason = read_text(str(tmp_path / "given"))
    if expected is not None:
        expected = expected.replace("\r\n", "\n").replace("\r", "\n")
    assert text == expected and (reason == "" if expected is not None else reason == "not UTF-8 text")


def test_http_reading_with_a_400_digit_number_is_a_problem_not_a_crash() -> None:
    good, problems = parse_http_readings({"readings": [{"collector": "c1", "temp_c": 20.0, "ts": 10 ** 400},
                                                       {"collector": "c1", "temp_c": 10 ** 400, "ts": NOW},
                                                       {"collector": "c1", "temp_c": 20.0, "ts": NOW}]})
    assert good == [("c1", 20.0, NOW)]
    assert [p.split("=")[0] for p in problems] == ["readings[0].ts", "readings[1].temp_c"]


def test_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Any) -> None:
    path = tmp_path / "supervisor.toml"
    path.write_bytes(b"[storage]\nbackend = \"sqlite\"\n\x80\n")
    with pytest.raises(sup_config.ConfigError) as err:
        sup_config.load(str(path))
    assert "not valid TOML" in err.value.problems[0]


# --- the season calendar a station receives: decoded or refused, then kept or refused, never a crash
_season_values = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 60, 2 ** 60), st.text(max_size=12),
                           st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=2))
_SEASON_GOOD: dict[str, Any] = {"city": "arxan", "version": 3, "issued_s": 1794600000.0, "start_s": 1794672000.0,
                "end_s": 1794672000.0 + 120 * 86400.0, "preheat_s": 72 * 3600.0}


@given(st.one_of(st.binary(max_size=300),
                 st.dictionaries(st.sampled_from([*_SEASON_GOOD, "v", "extra"]), _season_values, max_size=8)
                 .map(lambda d: json.dumps(d, allow_nan=True).encode()),
                 st.builds(lambda key, value: json.dumps({**_SEASON_GOOD, key: value}, allow_nan=True).encode(),
                           st.sampled_from(list(_SEASON_GOOD)), _season_values)))
def test_a_season_calendar_is_decoded_or_refused_and_the_station_never_crashes(payload: bytes) -> None:
    from heatkeeper.core.season import SeasonCalendar

    topic, good = codec.encode_season("st-a", _SEASON_GOOD["issued_s"], dict(_SEASON_GOOD))
    try:
        msg = codec.decode_season(topic, payload)
    except codec.CodecError as exc:
        assert exc.reason and exc.text
        return
    cal = SeasonCalendar()
    assert cal.accept(codec.decode_season(topic, good), _SEASON_GOOD["issued_s"]) == ""
    before = cal.snapshot()
    problem = cal.accept(msg, _SEASON_GOOD["issued_s"])
    assert isinstance(problem, str)
    if problem:  # refused: the calendar held stays as it was
        assert cal.snapshot() == before
    wall = _SEASON_GOOD["start_s"] + 86400.0
    assert isinstance(cal.in_season(wall), bool) and isinstance(cal.telemetry(wall), dict)
