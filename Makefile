# The single source of every command the README names.
#   make run    - the main job on embedded defaults
#   make test   - everything: Rust tests, the native build, pytest (installs what it needs)
#   make bench  - benchmarks (criterion + Python scripts), each printing same-run ratios
#   make lint   - cargo fmt --check, clippy -D warnings, ruff, mypy, stubtest
#   make differential - the kernel against BASE on the same random input sequences

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
EXTRAS ?= dev
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CARGO_TERM_PROGRESS_WHEN := never

.PHONY: run test bench lint build venv rust-test py-test fmt clean chromium hazelcast-jar differential

venv: $(VENV)/.venv-ok

$(VENV)/.venv-ok:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "maturin>=1.8,<2"
	touch $@

# Builds the Rust extension in release mode and installs dita (editable) with its extras.
build: venv
	$(VENV)/bin/maturin develop --release --extras $(EXTRAS) -q

run: build
	$(PY) -m dita.cli demo

# Its own jobs, not make's: under `make test`'s -j2, rustdoc warns that make's jobserver is out
# of its reach.
rust-test:
	env -u MAKEFLAGS -u MFLAGS cargo test --manifest-path rust_kernel/Cargo.toml -q

# Headless Chromium for the tests that open HTML (backtest report, operator page). Idempotent.
# Either name will do (Debian: chromium, Ubuntu: chromium-browser), as for the tests.
# Installed with apt-get as root; anyone else is told what to install.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "neither chromium nor chromium-browser is on PATH and the browser tests need one:" \
	      "install it (Debian: sudo apt-get install chromium; Ubuntu: sudo apt-get install" \
	      "chromium-browser; or sudo make chromium), then run make again" >&2; \
	    exit 1; \
	  fi; }

# The Hazelcast member jars (Maven, cached in .cache/hazelcast) for tests/hazelcast. Through the
# CLI, which says it still works while Maven runs quiet (minutes on a first fetch).
FETCH_HAZELCAST := $(PY) -m dita.cli services hazelcast fetch

hazelcast-jar: build
	$(FETCH_HAZELCAST)

# pytest in TEST_WORKERS processes (pytest-xdist): many tests wait on subprocesses, a JVM or
# ClickHouse, so two cores keep four workers busy (pytest about 11 minutes; 12 with three).
# Each worker starts its own Hazelcast member on a free port. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 4

# With bytecode caches written (a shell may turn them off), the hundreds of `python -m dita`
# runs the tests start and pytest's rewritten test modules each compile once, not every time:
# about a tenth of a CLI-heavy file's time.
# The 25 slowest tests are listed at the end: where the run's time goes, for keeping it short.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q -n $(TEST_WORKERS) --durations=25

py-test: build chromium hazelcast-jar
	$(PYTEST)

# The Rust tests' debug build runs beside the release build and the installs (each leaves a
# core idle for a while: its links, the release build's last unit), each target's output whole.
# The jars' fetch comes after, its progress said as it goes.
test:
	$(MAKE) -j2 --output-sync=target --no-print-directory rust-test build chromium
	$(FETCH_HAZELCAST)
	$(PYTEST)

# The bench extra brings NautilusTrader, the baseline the Python benchmarks compare against.
bench: venv
	$(MAKE) build EXTRAS=dev,bench
	cargo bench --manifest-path rust_kernel/Cargo.toml --bench kernel_cycle -- --noplot
	cargo bench --manifest-path rust_kernel/Cargo.toml --bench wal -- --noplot
	$(PY) benches/bench_kernel.py
	$(PY) benches/bench_latency.py
	$(PY) benches/bench_risk.py
	$(PY) benches/bench_venues.py
	$(PY) benches/bench_streams.py
	$(PY) benches/bench_gateway.py
	$(PY) benches/bench_backtest.py
	$(PY) benches/bench_backtest_memory.py
	$(PY) benches/bench_journal.py
	$(PY) benches/bench_wal.py

lint: build
	cargo fmt --manifest-path rust_kernel/Cargo.toml --check
	cargo clippy --manifest-path rust_kernel/Cargo.toml --all-targets -- -D warnings
	cargo clippy --manifest-path rust_kernel/Cargo.toml --features python -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest dita._kernel --allowlist .stubtest-allowlist

# Builds the kernel as of BASE in var/differential/base and the current tree, drives both with
# the same SEQUENCES random sequences of LEN inputs and compares every answer, journal row and
# final state (rust_kernel/examples/differential/). Exits non-zero on any difference.
BASE      ?= fb65ddc
SEQUENCES ?= 4000
LEN       ?= 300
differential:
	$(PYTHON) rust_kernel/examples/differential/drive.py --base $(BASE) --sequences $(SEQUENCES) --len $(LEN)

fmt:
	cargo fmt --manifest-path rust_kernel/Cargo.toml
	$(VENV)/bin/ruff format python tests benches
	$(VENV)/bin/ruff check --fix python tests benches

clean:
	rm -rf target $(VENV) .pytest_cache .mypy_cache .ruff_cache
