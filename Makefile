# heatkeeper: the two set-up commands are `make demo` (run the whole system) and `make test`.
# Everything else is installed on first use into .venv (Python) and node_modules (MicroPython).

PY      := .venv/bin/python
PIP     := .venv/bin/pip
HK      := .venv/bin/heatkeeper
PYTEST  := .venv/bin/pytest
STAMP   := .venv/.deps-stamp

.PHONY: help deps build demo test test-py test-pure test-mpy test-hil test-arm64 lint lock bench soak clean

help:
	@echo "make demo      run the whole system on one machine (broker, supervisor, 3 stations)"
	@echo "make test      every test: lint, CPython compiled + interpreted, MicroPython, fast HIL"
	@echo "make test-mpy  the core tests on real MicroPython (WebAssembly, Node.js)"
	@echo "make bench     the benchmarks (season, bus, ingest)"
	@echo "make test-hil  every HIL suite (real station vs simulator, slow ones included)"
	@echo "make soak      30 simulated days with random faults; prints the survival table"
	@echo "make test-arm64  build the compiled core for aarch64 and run the core tests under qemu"

# Python packages come from requirements.lock only: every file pinned by its hash (--require-hashes).
$(STAMP): requirements.lock setup.py package.json
	bash tools/setup/system-deps.sh
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --require-hashes -r requirements.lock
	npm install --silent --no-audit --no-fund
	touch $(STAMP)

deps: $(STAMP)

# Compiled modules go beside their sources (build_ext --inplace); the editable install maps
# heatkeeper.* onto the top-level folders.
# The editable install only maps the folders (and writes the `heatkeeper` command): it compiles
# nothing, so it runs once, and build_ext alone rebuilds what changed.
EDITABLE := .venv/.editable-stamp

$(EDITABLE): $(STAMP) setup.py
	HEATKEEPER_DISABLE_CEXT=1 $(PIP) install -q --no-deps --no-build-isolation -e .
	touch $(EDITABLE)

build: deps $(EDITABLE)
	$(PY) setup.py -q build_ext --inplace -j 2

# Opt-in profile-guided build (GCC): instrumented modules, a training run of the season loop in
# one process (six season days, a few seconds), then the modules built again from the profiles,
# in place (all under build/pgo). Same figures bit for bit (the last step checks the 3-day figure);
# `heatkeeper bench season`/`bench step` say which build they ran.
# Back to the plain build: make build (modules whose flags changed are compiled again).
.PHONY: build-pgo
build-pgo: deps $(EDITABLE)
	rm -rf build/pgo
	HEATKEEPER_PGO=generate $(PY) setup.py -q build_ext --inplace -j 2 --force --build-temp build/pgo
	HEATKEEPER_REQUIRE_CEXT=1 $(PY) -c "from heatkeeper.tools.bench import step; \
		assert step.build_kind().split()[0] == 'pgo-instrumented', step.build_kind(); print('build-pgo: trained on %d cycles' % step.pgo_training())"
	@echo "build-pgo: $$(find build/pgo -name '*.gcda' | wc -l) of $$(find build/pgo -name '*.o' | wc -l) modules profiled"
	HEATKEEPER_PGO=use $(PY) setup.py -q build_ext --inplace -j 2 --force --build-temp build/pgo
	HEATKEEPER_REQUIRE_CEXT=1 $(PY) -c "from heatkeeper.tools.bench import step; print('build-pgo: compiled build', step.build_kind())"
	HEATKEEPER_REQUIRE_CEXT=1 $(PYTEST) -q tools/tests/bench/test_season.py -k bit_identical  # the 3-day figure, bit for bit

demo: build
	$(HK) demo

test: build lint test-py test-pure test-mpy

# CPython with the compiled modules required, over the whole tree (HIL fast subset included).
test-py: build
	HEATKEEPER_REQUIRE_CEXT=1 $(PYTEST) -q

# CPython interpreted: the compiled modules bypassed, for the suites that exercise them.
test-pure: build
	HEATKEEPER_DISABLE_CEXT=1 $(PYTEST) -q $(wildcard core tools/tests/plant)

test-mpy: deps
	node core/tests/mpy_run.mjs

test-hil: build
	HEATKEEPER_REQUIRE_CEXT=1 $(PYTEST) -q -m "hil or not hil" hil_tests --run-slow

# 30 simulated days of the real station against the simulator, random faults, one table.
# x600 with a 60 s cycle is a 100 ms wall period: a full bus scan fits on a loaded 2-core
# machine (at x1800 the station overran every cycle and its loops ran unstable).
soak: build
	$(PY) -m heatkeeper.tools.sim.soak --days 30 --time-scale 600 --cycle-s 60

# aarch64 under qemu-user-static in a debootstrap root: core alone, compiled once (the root ~6.5 min, once;
# a clean build of core ~2.5 min; a run with nothing changed ~70 s, only changed modules are compiled again).
test-arm64:
	bash tools/arm64/test-arm64.sh

# After editing requirements.txt or requirements-station.in: pin every dependency and its files' hashes again (pip-tools in var/).
# Extras stay in the pins (pwdlib[argon2]==...): pinned bare, pip resolves a package's extra to PyPI's newest and refuses the install.
lock:
	test -x var/lock-venv/bin/pip-compile || (python3 -m venv var/lock-venv && var/lock-venv/bin/pip install -q pip-tools)
	var/lock-venv/bin/pip-compile -q --generate-hashes --allow-unsafe --no-strip-extras --no-header --no-emit-index-url --no-emit-find-links \
		-o requirements.lock requirements.txt
	var/lock-venv/bin/pip-compile -q --generate-hashes --allow-unsafe --no-strip-extras --no-header --no-emit-index-url --no-emit-find-links \
		-o requirements-station.lock requirements-station.in

lint: deps
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: build
	$(HK) bench season --city arxan
	$(HK) bench bus
	$(HK) bench ingest --stations 300

clean:
	rm -rf build .venv node_modules
	find core tools -name '*.so' -delete
	find core tools -name '*.c' -newer setup.py -delete
