# pg_warden: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: setup install verifier demo demo-stop lint test test-unit test-pgrx test-regress test-multi bench soak fuzz

setup:
	@scripts/setup.sh

install: setup
	@scripts/install.sh

demo: install
	@scripts/cluster.sh start
	@scripts/demo.sh

demo-stop:
	@scripts/cluster.sh stop

# Formatting and clippy with warnings as errors: the workspace (extension and core), every
# target (tests and benches included), the PostgreSQL 15 build of the extension.
lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --features pg15 -- -D warnings

test: setup test-unit test-pgrx test-regress test-multi

test-unit:
	cargo test -p warden-core

test-pgrx: setup
	scripts/pgrx-test.sh

test-regress: install
	scripts/regress.sh

verifier:
	cargo build -p warden-core --bin warden-verify

test-multi: install verifier
	tests/multi/run.sh

bench: install
	bench/run

soak: install
	scripts/soak.sh

# Not part of `make test`: each cargo-fuzz target for FUZZ_SECONDS (default 60).
fuzz:
	scripts/fuzz.sh
