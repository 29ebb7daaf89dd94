"""Build script for the `heatkeeper` distribution.

The top-level folders are installed as subpackages of `heatkeeper` (the names `core`,
`supervisor` and `tools` are too generic or taken on PyPI):

    core/        -> heatkeeper.core
    firmware/    -> heatkeeper.firmware
    supervisor/  -> heatkeeper.supervisor
    tools/       -> heatkeeper.tools

Hot modules are compiled with Cython from their unchanged `.py` source, augmented by a
`.pxd` beside it (Cython's pure-Python mode). `CYTHON_MODULES` is the one list of them;
`core/tests/test_cext.py` checks it equals the `.pxd` files in the tree.

Environment:
    HEATKEEPER_DISABLE_CEXT=1   build and run pure Python only
    HEATKEEPER_REQUIRE_CEXT=1   a failed compile is an error (CI sets it)
    HEATKEEPER_CEXT_PACKAGES=heatkeeper.core
                                compile only the listed modules under these packages
                                (comma-separated; the ARM leg compiles core's modules alone)
    HEATKEEPER_MARCH=native     build for this CPU's instruction set (opt-in, see march_flags)
    HEATKEEPER_PGO=generate|use the two stages of `make build-pgo`

`python setup.py build_ext --inplace` puts the compiled modules beside their sources, and
compiles again any module whose flags changed since its last build there (FLAGS_RECORD).
"""

import os
import sys
import warnings

from setuptools import setup

try:
    from setuptools.warnings import InformationOnly
except ImportError:  # an older setuptools prints no such notices
    pass
else:
    # setuptools' notices ("Editable installation ... be careful with folders ...", framed in !!
    # and asterisks) read like errors in the build log; warnings and errors still show.
    warnings.filterwarnings("ignore", category=InformationOnly)

PACKAGE_DIRS = {
    "heatkeeper.core": "core",
    "heatkeeper.firmware": "firmware",
    "heatkeeper.supervisor": "supervisor",
    "heatkeeper.tools": "tools",
}

# The one list of Cython-compiled modules (dotted names under `heatkeeper`).
CYTHON_MODULES = [
    "heatkeeper.core.units",
    "heatkeeper.core.heating_curve",
    "heatkeeper.core.limiters",
    "heatkeeper.core.outdoor",
    "heatkeeper.core.pi",
    "heatkeeper.core.room_feedback",
    "heatkeeper.core.schedule",
    "heatkeeper.core.setpoint_chain",
    "heatkeeper.core.valve_actuator",
    "heatkeeper.core.valve_loop",
    "heatkeeper.core.sensors",
    "heatkeeper.core.alarms",
    "heatkeeper.core.balancing",
    "heatkeeper.core.modes",
    "heatkeeper.core.commands",
    "heatkeeper.core.pumps",
    "heatkeeper.core.make_up",
    "heatkeeper.core.interlocks",
    "heatkeeper.core.season",
    "heatkeeper.core.preheat",
    "heatkeeper.core.station",
    "heatkeeper.tools.plant.local_control",
    "heatkeeper.tools.plant.model",
    "heatkeeper.supervisor.uplink_decode",
    "heatkeeper.supervisor.live_state",
    "heatkeeper.supervisor.aggregates",
    "heatkeeper.supervisor.equipment",
    "heatkeeper.supervisor.leases",
    "heatkeeper.supervisor.mqtt_reader",
    "heatkeeper.supervisor.ingest_path",
]

# C compiler flags of every compiled module, on every machine (x86-64 and the ARM station boards;
# nothing tuned to the build machine). The figures must not move with the machine:
#   -ffp-contract=off  no fused multiply-add: GCC's default (gnu17) fuses `a * b + c` where the
#                      target has FMA (every ARM64 board), which rounds once instead of twice and
#                      can change the last bits of the figures; x86-64's baseline has no FMA, so
#                      its figures are the same with or without the flag.
#   -fno-semantic-interposition, -fno-plt
#                      calls inside a module and into libm/libpython without the PLT detour.
# Never -ffast-math or -march=native. Gated on GCC/Clang (MSVC takes other flags).
EXTRA_COMPILE_ARGS = [] if sys.platform == "win32" else ["-ffp-contract=off", "-fno-semantic-interposition", "-fno-plt"]

# libm by name on Linux. Without it a module's `pow`/`fmod` references carry no symbol version,
# and glibc binds an unversioned reference to the oldest one: pow@GLIBC_2.2.5, the compat entry
# kept for old binaries (SVID error handling, math/w_pow_compat.c). Linked by name they bind to
# libm's current version (pow@@GLIBC_2.29). Same results bit for bit. Not faster on x86-64 glibc
# 2.36: there the current pow is an errno wrapper too (w_pow_template.c), of the same cost
# (113 instructions per season-loop cycle either way; the loop 7,016 -> 7,015 in callgrind).
# The version required is the build machine's glibc's (2.2.5 where it is older than 2.29), and
# modules are compiled where they run (the ARM leg in its own root), so they always load.
# tools/tests/test_build_libm.py checks every built module.
EXTRA_LIBRARIES = ["m"] if sys.platform.startswith("linux") else []

# Profile-guided optimisation, opt-in (`make build-pgo`, GCC): HEATKEEPER_PGO=generate builds
# instrumented modules, a training run of the season loop writes one .gcda per module beside its
# object file (at the process's normal exit: a process that leaves by os._exit, such as a
# multiprocessing worker, writes none), and HEATKEEPER_PGO=use builds again from them. Both builds
# must use the same --build-temp (the profiles are found by the object files' paths); the Makefile
# uses build/pgo. Only code layout and inlining follow the profile: no flag that changes
# arithmetic, so every figure stays bit for bit. -frecord-gcc-switches keeps the options in the
# module, where the benchmarks read which build they ran (tools/bench/step.py build_kind).
PGO_FLAGS = {
    "generate": (["-fprofile-generate", "-fprofile-update=single", "-frecord-gcc-switches"], ["-fprofile-generate"]),
    "use": (["-fprofile-use", "-fprofile-partial-training", "-Wmissing-profile", "-frecord-gcc-switches"], []),
}


# The instruction set, opt-in: HEATKEEPER_MARCH=native (or a named level such as x86-64-v3)
# builds every compiled module for that CPU with `-march=...`. The arithmetic is the same
# (-ffp-contract=off still forbids fused multiply-adds, nothing reorders floating point), so the
# figures stay bit for bit; on this machine's AMD EPYC the season loop ran 10.6 % faster with
# `native` and 7.5 % with `x86-64-v3`. The modules then run only on CPUs with that instruction
# set: leave it unset (the default, portable build) for a build that is copied to other
# machines (an image built elsewhere, a wheel); set it where the modules are built on the machine
# that runs them. A value that is not a plain CPU name is refused.
MARCH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+_-")


def march_flags(environ):
    """The compile args of HEATKEEPER_MARCH (empty when unset)."""
    march = environ.get("HEATKEEPER_MARCH", "").strip()
    if not march:
        return []
    if sys.platform == "win32" or march.startswith("-") or not set(march) <= MARCH_CHARS:
        raise SystemExit("HEATKEEPER_MARCH=%r: must be a CPU name for GCC/Clang's -march= (native, x86-64-v3, "
                         "armv8.2-a, ...), or unset for the portable build" % march)
    return ["-march=" + march]


def pgo_flags(environ):
    """(compile args, link args) of HEATKEEPER_PGO (empty when unset)."""
    stage = environ.get("HEATKEEPER_PGO", "")
    if not stage:
        return [], []
    if stage not in PGO_FLAGS or sys.platform == "win32":
        raise SystemExit("HEATKEEPER_PGO=%r: must be one of %s (GCC only; `make build-pgo` runs both)"
                         % (stage, ", ".join(sorted(PGO_FLAGS))))
    compile_args, link_args = PGO_FLAGS[stage]
    return list(compile_args), list(link_args)

# What the firmware and the commissioning commands import (tests check it against the imports).
STATION_REQUIRES = [
    "pymodbus[serial]>=3.16.1,<3.17",
    "aiomqtt>=2.5,<3",
    "paho-mqtt>=2.1,<3",
    "rich>=13,<16",
]
# The supervisor: embedded broker, web dashboard, PostgreSQL.
SUPERVISOR_REQUIRES = [
    "amqtt==0.12.1",
    "aiohttp>=3.13.3,<4",
    "jinja2>=3.1.6,<4",
    "asyncpg>=0.30,<1",
    "orjson>=3.10,<4",
    "argon2-cffi>=23.1,<26",
    "multidict>=6,<8",
    "aiosmtplib>=3,<6",
    "openpyxl>=3.1.5,<4",  # households and measurements imported from .xlsx; refunds exported as .xlsx
    "segno>=1.6,<2",  # the inspection rounds' QR codes (SVG, server-side)
]
# The plant model, simulators, demo and benchmarks (and `heatkeeper trends --png`).
SIM_REQUIRES = [
    "tomli-w>=1.0,<2",
    "matplotlib>=3.8,<4",
    "numpy>=1.26,<3",
]
DEV_REQUIRES = [
    "cython>=3.1,<3.3",
    "pytest>=8,<10",
    "pytest-asyncio>=0.24,<2",
    "pytest-timeout>=2.3,<3",
    "hypothesis>=6.100,<7",
    "packaging>=24",
    "ruff>=0.6,<1",
    "mypy>=1.11,<2",
    "playwright>=1.45,<2",
    "aiosmtpd>=1.4,<2",
]


def _find_packages():
    """Every folder with an __init__.py under the mapped top-level folders."""
    packages = []
    package_dir = {}
    for package, folder in PACKAGE_DIRS.items():
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")) and d != "node_modules")
            if "__init__.py" not in files:
                continue
            rel = os.path.relpath(root, folder)
            name = package if rel == "." else package + "." + rel.replace(os.sep, ".")
            packages.append(name)
            package_dir[name] = root
    return packages, package_dir


def _source_of(module):
    top = ".".join(module.split(".")[:2])
    rest = module.split(".")[2:]
    return os.path.join(PACKAGE_DIRS[top], *rest) + ".py"


def _pxd_include_dir():
    """A `heatkeeper/` tree of links to the top-level folders, so Cython finds each module's
    augmenting .pxd by its dotted name (it looks up `heatkeeper/core/units.pxd`, not
    `core/units.pxd`; without this the .pxd is silently ignored and nothing is typed)."""
    root = os.path.join("build", "pxd_include")
    top = os.path.join(root, "heatkeeper")
    os.makedirs(top, exist_ok=True)
    for package, folder in PACKAGE_DIRS.items():
        link = os.path.join(top, package.split(".")[1])
        if not os.path.islink(link):
            os.symlink(os.path.abspath(folder), link)
    init = os.path.join(top, "__init__.py")
    if not os.path.exists(init):
        open(init, "w").close()
    return root


def selected_modules(environ):
    """CYTHON_MODULES, limited to the packages named in HEATKEEPER_CEXT_PACKAGES when it is set."""
    wanted = [p.strip() for p in environ.get("HEATKEEPER_CEXT_PACKAGES", "").split(",") if p.strip()]
    if not wanted:
        return list(CYTHON_MODULES)
    chosen = [m for m in CYTHON_MODULES if any(m == p or m.startswith(p + ".") for p in wanted)]
    unknown = [p for p in wanted if not any(m == p or m.startswith(p + ".") for m in CYTHON_MODULES)]
    if unknown:
        raise SystemExit("HEATKEEPER_CEXT_PACKAGES=%r: no compiled module under %s (packages with one: %s)" % (
            environ["HEATKEEPER_CEXT_PACKAGES"], ", ".join(unknown),
            ", ".join(sorted({m.rpartition(".")[0] for m in CYTHON_MODULES}))))
    return chosen


def _extensions():
    if os.environ.get("HEATKEEPER_DISABLE_CEXT") == "1":
        return []
    require = os.environ.get("HEATKEEPER_REQUIRE_CEXT") == "1"
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        if require:
            raise SystemExit("HEATKEEPER_REQUIRE_CEXT=1 but Cython is not installed: pip install cython") from None
        print("heatkeeper: Cython not available, installing pure Python", file=sys.stderr)
        return []
    pgo_compile, pgo_link = pgo_flags(os.environ)
    exts = [Extension(m, [_source_of(m)], extra_compile_args=list(EXTRA_COMPILE_ARGS) + march_flags(os.environ) + pgo_compile,
                      extra_link_args=pgo_link, libraries=list(EXTRA_LIBRARIES))
            for m in selected_modules(os.environ)]
    try:
        return cythonize(
            exts,
            include_path=[_pxd_include_dir()],
            # performance hints are advice for the .pxd author, not build problems: kept out of every build log
            compiler_directives={
                "language_level": "3",
                "binding": False,
                "embedsignature": False,
                "show_performance_hints": False,
            },
            quiet=True,
        )
    except Exception as exc:  # noqa: BLE001 - a compile failure must not block a pure-Python install
        if require:
            raise
        print("heatkeeper: Cython compile failed (%s), installing pure Python" % exc, file=sys.stderr)
        return []


# A module whose compiler flags differ from those of its last in-place build is compiled again,
# as if its source had changed: setuptools alone rebuilds by timestamps, so switching
# HEATKEEPER_MARCH, or `make build` after `make build-pgo`, kept the other build's modules
# without --force. Each module's flags (and CFLAGS) of its last in-place build are kept in
# build/cext-flags.json; a build without that record compiles everything once.
FLAGS_RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "cext-flags.json")


def _flags_record():
    """{module: flags} of the last in-place builds ({} when there is no readable record)."""
    import json

    try:
        with open(FLAGS_RECORD, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _build_ext_class():
    """setuptools' build_ext, forcing the modules whose flags changed (in-place builds only)."""
    import json
    import threading

    from setuptools.command.build_ext import build_ext

    lock = threading.Lock()  # build_ext -j builds modules on threads

    class BuildExt(build_ext):
        def run(self):
            # setuptools builds in place by building under build/ and copying: remember which
            self.heatkeeper_inplace = bool(self.inplace)
            super().run()

        def build_extension(self, ext):
            if not getattr(self, "heatkeeper_inplace", False):
                super().build_extension(ext)
                return
            flags = {"compile": list(ext.extra_compile_args or []), "link": list(ext.extra_link_args or []),
                     "CFLAGS": os.environ.get("CFLAGS", "")}
            with lock:
                changed = _flags_record().get(ext.name) != flags
            built = self.get_ext_fullpath(ext.name)
            if changed and os.path.exists(built):
                os.remove(built)  # its build under build/ is from other flags: up to date by time only
            super().build_extension(ext)
            with lock:
                record = _flags_record()
                record[ext.name] = flags
                os.makedirs(os.path.dirname(FLAGS_RECORD), exist_ok=True)
                with open(FLAGS_RECORD + ".tmp", "w", encoding="utf-8") as f:
                    json.dump(record, f, indent=1, sort_keys=True)
                os.replace(FLAGS_RECORD + ".tmp", FLAGS_RECORD)

    return BuildExt


packages, package_dir = _find_packages()

setup(
    name="heatkeeper",
    version="0.1.0",
    description="Controller firmware and supervisor for district-heating substations",
    long_description=open("README.md", encoding="utf-8").read() if os.path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=packages,
    package_dir=package_dir,
    package_data={
        "heatkeeper.supervisor": ["web/static/*", "web/static/**/*", "web/templates/*"],
        "heatkeeper.firmware": ["examples/*", "systemd/*"],
        "heatkeeper.tools": ["examples/*"],
    },
    ext_modules=_extensions(),
    cmdclass={"build_ext": _build_ext_class()},
    # Roles (requirements.txt holds the same floors; requirements.lock pins them with hashes):
    # a station box installs `heatkeeper[station]`, the supervisor host `heatkeeper[supervisor]`,
    # a development machine `heatkeeper[dev]`. core itself needs nothing outside the stdlib.
    install_requires=[],
    extras_require={
        "station": STATION_REQUIRES,
        "supervisor": STATION_REQUIRES + SUPERVISOR_REQUIRES,
        "sim": STATION_REQUIRES + SIM_REQUIRES,
        "dev": STATION_REQUIRES + SUPERVISOR_REQUIRES + SIM_REQUIRES + DEV_REQUIRES,
    },
    entry_points={"console_scripts": ["heatkeeper=heatkeeper.tools.cli:main"]},
    zip_safe=False,
)
