"""The ingest's compiled modules (setup.py's CYTHON_MODULES under heatkeeper.supervisor): loaded
from their .py source under HEATKEEPER_DISABLE_CEXT=1 (the supervisor registers its package with
core's switch), compiled otherwise where built; each module runs the form of its hot loops that
is faster the way it was loaded (the loops on C doubles compiled, the C builtins interpreted)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from heatkeeper.core import _cext

MODULES = ("uplink_decode", "live_state", "aggregates", "equipment", "leases", "mqtt_reader", "ingest_path")
# module: (the name it calls, the compiled form, the interpreted form)
FORMS = {
    "aggregates": ("_fold", "_fold_loops", "_fold_columns"),
    "uplink_decode": ("_plain_numbers", "_plain_numbers_by_loop", "_plain_numbers_by_sum"),
    "ingest_path": ("_numbers", "_numbers_by_loop", "_numbers_by_map"),
    "equipment": ("_raw_flags", "_raw_flags_by_loop", "_raw_flags_by_map"),
    "leases": ("_any_left", "_any_left_by_loop", "_any_left_by_map"),
}

_CHECK = """
import importlib, json
from heatkeeper.core import _cext
out = {}
for name, (used, loops, builtins) in FORMS.items():
    mod = importlib.import_module("heatkeeper.supervisor." + name)
    out[name] = [_cext.compiled(mod), getattr(mod, used) is getattr(mod, loops), getattr(mod, used) is getattr(mod, builtins)]
for name in MODULES:
    out.setdefault(name, [_cext.compiled(importlib.import_module("heatkeeper.supervisor." + name))])
out["registered"] = "heatkeeper.supervisor." in _cext.pure_prefixes()
print(json.dumps(out))
"""


def _loaded(disable: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEATKEEPER_")}
    if disable:
        env["HEATKEEPER_DISABLE_CEXT"] = "1"
    code = "FORMS = %r\nMODULES = %r\n%s" % (FORMS, MODULES, _CHECK)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return dict(json.loads(out))


def test_disable_cext_loads_every_ingest_module_from_source_with_its_builtins_form() -> None:
    got = _loaded(disable=True)
    assert got["registered"] is True
    for name in MODULES:
        assert got[name][0] is False, name
    for name in FORMS:
        assert got[name][1:] == [False, True], name


def test_a_compiled_module_runs_its_loops_form() -> None:
    got = _loaded(disable=False)
    for name in FORMS:
        compiled = got[name][0]
        assert got[name][1:] == ([True, False] if compiled else [False, True]), name


def test_the_build_compiles_every_ingest_module_when_required() -> None:
    if not _cext.cext_required():
        pytest.skip("HEATKEEPER_REQUIRE_CEXT=1 (make test-py) checks the compiled build")
    for name in MODULES:
        assert _cext.compiled(importlib.import_module("heatkeeper.supervisor." + name)), name
