"""The opt-in profile-guided build (`make build-pgo`, setup.py's HEATKEEPER_PGO) and the
benchmarks' word on which build they ran.

That the PGO build's figures equal the plain build's is checked by building it (about 6 minutes
on the 2-core machine, so not here): `make build-pgo`, then
`heatkeeper bench season --city arxan --days 3 --json --interpreted-days 0 --controllers heatkeeper`
(1.0259675881056307, as tools/tests/bench/test_season.py asserts on whichever build is in place),
`heatkeeper bench step --callgrind 100000` (heat 53683.834109690884 kWh).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
from heatkeeper.core import _cext
from heatkeeper.tools.bench import step

from .plant.test_cext import _setup_tree, compile_args


def setup_functions(*names: str, **overrides: Any) -> dict[str, Any]:
    """setup.py's own functions `names`, in one namespace with the assignments they read and
    `overrides` (setup.py itself runs setup(), so it is not imported)."""
    tree = _setup_tree()
    keep: list[ast.stmt] = [n for n in tree.body if isinstance(n, ast.Assign)
                            and getattr(n.targets[0], "id", "") in ("PGO_FLAGS", "MARCH_CHARS")]
    keep += [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    namespace: dict[str, Any] = {"sys": sys, "os": os}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "setup.py", "exec"), namespace)
    namespace.update(overrides)
    return namespace


def setup_function_named(name: str) -> Any:
    """One of setup.py's own functions."""
    return setup_functions(name)[name]


def pgo_flags(environ: dict[str, str]) -> tuple[list[str], list[str]]:
    """setup.py's own pgo_flags()."""
    return setup_function_named("pgo_flags")(environ)  # type: ignore[no-any-return]


def test_the_instruction_set_is_portable_unless_asked() -> None:
    march_flags = setup_function_named("march_flags")
    assert march_flags({}) == []
    assert march_flags({"HEATKEEPER_MARCH": " "}) == []
    if sys.platform != "win32":
        assert march_flags({"HEATKEEPER_MARCH": "native"}) == ["-march=native"]
        assert march_flags({"HEATKEEPER_MARCH": "x86-64-v3"}) == ["-march=x86-64-v3"]


@pytest.mark.parametrize("value", ["-O0", "native -ffast-math", "native;rm", "x86-64 v3", "$(id)"])
def test_an_instruction_set_that_is_not_a_cpu_name_is_refused(value: str) -> None:
    march_flags = setup_function_named("march_flags")
    with pytest.raises(SystemExit, match="HEATKEEPER_MARCH=.*CPU name"):
        march_flags({"HEATKEEPER_MARCH": value})


def test_pgo_is_off_unless_asked() -> None:
    assert pgo_flags({}) == ([], [])
    assert pgo_flags({"HEATKEEPER_PGO": ""}) == ([], [])


@pytest.mark.skipif(sys.platform == "win32", reason="GCC/Clang only")
def test_pgo_stages_profile_and_change_no_arithmetic() -> None:
    generate_cc, generate_ld = pgo_flags({"HEATKEEPER_PGO": "generate"})
    use_cc, _use_ld = pgo_flags({"HEATKEEPER_PGO": "use"})
    assert "-fprofile-generate" in generate_cc and "-fprofile-generate" in generate_ld  # the link needs gcov too
    assert "-fprofile-use" in use_cc
    # the options stay in the module, where build_kind reads them
    assert "-frecord-gcc-switches" in generate_cc and "-frecord-gcc-switches" in use_cc
    for bad in ("-ffast-math", "-Ofast", "-ffp-contract=fast", "-funsafe-math-optimizations", "-march=native",
                "-mcpu=native", "-mtune=native"):
        assert bad not in generate_cc + use_cc, bad
    # the PGO flags come after the common ones, which they do not override
    assert "-ffp-contract=off" in compile_args()
    assert not any(flag.startswith("-ffp-contract") for flag in generate_cc + use_cc)


def test_a_misspelt_pgo_stage_is_refused_with_the_choices() -> None:
    with pytest.raises(SystemExit, match="HEATKEEPER_PGO='yes'.*generate, use"):
        pgo_flags({"HEATKEEPER_PGO": "yes"})


@pytest.mark.parametrize(("flags", "kind"), [
    ([], "plain"),
    (["-g"], "plain"),  # GCC's debug info records its default -march=x86-64 on x86-64: not a CPU of its own
    (["-fprofile-generate", "-frecord-gcc-switches"], "pgo-instrumented"),
    (["-fprofile-use", "-fprofile-partial-training", "-frecord-gcc-switches"], "pgo"),
])
def test_module_build_reads_the_options_the_module_records(tmp_path, flags: list[str], kind: str) -> None:  # type: ignore[no-untyped-def]
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or sys.platform == "win32":
        pytest.skip("no C compiler")
    source = tmp_path / "m.c"
    source.write_text("int f(int x) { return x > 3 ? x * 2 : x - 1; }\n")
    lib = tmp_path / "m.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", *flags, "-o", str(lib), str(source)], check=True, capture_output=True,
                   cwd=tmp_path)
    assert step.module_build(str(lib)) == kind


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an x86-64 instruction set")
@pytest.mark.parametrize(("flags", "kind"), [
    (["-g", "-march=x86-64-v3"], "plain -march=x86-64-v3"),
    (["-march=x86-64-v2", "-frecord-gcc-switches"], "plain -march=x86-64-v2"),
    (["-g", "-march=x86-64-v3", "-fprofile-use", "-fprofile-partial-training", "-Wno-missing-profile"],
     "pgo -march=x86-64-v3"),
])
def test_module_build_names_the_instruction_set_it_was_built_for(tmp_path, flags: list[str], kind: str) -> None:  # type: ignore[no-untyped-def]
    test_module_build_reads_the_options_the_module_records(tmp_path, flags, kind)


def test_build_kind_names_the_build_this_process_runs() -> None:
    from heatkeeper.core import station
    kind = step.build_kind()
    if _cext.compiled(station):
        assert kind.split()[0] in ("plain", "pgo"), kind
        assert kind == step.module_build(station.__file__ or "")
    else:
        assert kind == "interpreted"


def test_build_kind_is_interpreted_without_the_compiled_modules() -> None:
    env = dict(os.environ, HEATKEEPER_DISABLE_CEXT="1")
    env.pop("HEATKEEPER_REQUIRE_CEXT", None)
    out = subprocess.run([sys.executable, "-c", "from heatkeeper.tools.bench import step; print(step.build_kind())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["interpreted"]


def test_step_and_season_benchmarks_say_which_build_they_ran(capsys: pytest.CaptureFixture[str]) -> None:
    from heatkeeper.tools.cli import main as cli_main

    parser = argparse.ArgumentParser()
    step.add_arguments(parser)
    assert step.run(parser.parse_args(["--cycles", "1000", "--interpreted-cycles", "1000"])) == 0
    header = capsys.readouterr().out.splitlines()[0]
    # its compiled figures are always of the compiled modules, even when this process runs interpreted
    assert re.search(r"(plain|pgo)( -march=\S+)? build", header), header
    if step.build_kind() != "interpreted":
        assert "%s build" % step.build_kind() in header, header
    assert cli_main(["bench", "season", "--city", "arxan", "--days", "0.05", "--json", "--interpreted-days", "0",
                     "--controllers", "heatkeeper"]) == 0
    assert json.loads(capsys.readouterr().out)["build"] == step.build_kind()


def test_pgo_training_runs_the_season_loop() -> None:
    assert step.pgo_training((0,)) == 86400


MODULE_C = """#include <Python.h>
#define STR2(x) #x
#define STR(x) STR2(x)
const char hk_variant[] = "hk-variant-" STR(HK_VARIANT);
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "hk_probe", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_hk_probe(void) { return PyModule_Create(&def); }
"""


@pytest.mark.skipif(sys.platform == "win32", reason="GCC/Clang only")
def test_a_module_whose_flags_changed_is_compiled_again_in_place(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # setup.py's build_ext: setuptools alone rebuilds by timestamps, so a build with other flags
    # (HEATKEEPER_MARCH, back from `make build-pgo`) kept the modules of the last one.
    from setuptools import Distribution, Extension

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    build_ext_class = setup_functions("_build_ext_class", "_flags_record",
                                      FLAGS_RECORD=str(tmp_path / "build" / "cext-flags.json"))["_build_ext_class"]
    (tmp_path / "hk_probe.c").write_text(MODULE_C)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CFLAGS", raising=False)

    def build(variant: str) -> bytes:
        dist = Distribution({"name": "hk-probe", "cmdclass": {"build_ext": build_ext_class()},
                             "ext_modules": [Extension("hk_probe", ["hk_probe.c"], extra_compile_args=["-DHK_VARIANT=" + variant])]})
        cmd = dist.get_command_obj("build_ext")
        cmd.inplace = 1
        cmd.build_temp = str(tmp_path / "build" / "temp")
        cmd.ensure_finalized()
        cmd.run()
        built = [p for p in os.listdir(tmp_path) if p.startswith("hk_probe") and p.endswith((".so", ".pyd"))]
        assert len(built) == 1, built
        return (tmp_path / built[0]).read_bytes()

    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "cext-flags.json").write_text("{not json")  # a damaged record: build all, write it anew
    assert b"hk-variant-1" in build("1")
    assert b"hk-variant-2" in build("2")  # the source is older than the module: compiled again for its flags
    assert b"hk-variant-1" in build("1")
    record = json.loads((tmp_path / "build" / "cext-flags.json").read_text())
    assert record["hk_probe"]["compile"] == ["-DHK_VARIANT=1"]
