# eidas-bridge: the two commands that matter are `make run` and `make test`.
# Each installs what it needs on a fresh Debian machine (apt-get as root, or through sudo).

SHELL := /bin/bash
CARGO ?= cargo
APT_PACKAGES := libxmlsec1-dev libxml2-dev libssl-dev pkg-config clang libclang-dev xmlsec1
PY_PACKAGES := grpcio grpcio-health-checking grpcio-reflection cryptography lxml
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench bench-exchange soak lint fmt deps pydeps build demo conformance fuzz faults

## Install missing system packages (only those that are missing).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Python packages used by the tests' independent clients (grpcio, cryptography).
pydeps: deps
	@python3 -c "import grpc, grpc_health, grpc_reflection, cryptography, lxml" 2>/dev/null || \
	  python3 -m pip install --quiet --disable-pip-version-check $(PY_PACKAGES) || \
	  python3 -m pip install --quiet --disable-pip-version-check --break-system-packages $(PY_PACKAGES)

build: deps
	$(CARGO) build --release -p eidas-bridge

## Run the gateway with embedded defaults: data under ./data, a generated development PKI, loopback.
run: build
	./target/release/eidas-bridge serve

## Two bridges (FR with MSSanté, BE with eHealthBox) on loopback exchange a message end to end and
## back, trusting each other only through a generated test LOTL and national lists.
demo: deps
	$(CARGO) run -p eidas-bridge -- demo

## The whole test suite, as CI runs it.
test: deps pydeps
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

bench: deps
	$(CARGO) bench --workspace

## End-to-end exchanges (FR -> BE, 4 KiB, mutual TLS, durable on both sides) against a bare gRPC
## echo over the same mutual TLS, at 64, 128, 192 and 256 callers; about 40 s.
bench-exchange: build
	./target/release/eidas-bridge bench submit

## Memory soak at 80% of the maximum end-to-end rate: ten minutes of warm-up, then ten measured
## minutes (RSS series, slope, verdict).
soak: build
	./target/release/eidas-bridge --json bench soak --seconds 600

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

fmt:
	$(CARGO) fmt --all

## Fault tests on loopback (peers that flap or send garbage, failing trust refreshes, restarts with
## messages in every state). Each prints what it checked and what held.
faults: deps
	$(CARGO) test -p eidas-bridge --test faults -- --ignored --nocapture --test-threads=1

## Runs every cargo-fuzz target for FUZZ_SECONDS (default 300) each; see scripts/fuzz-all.sh.
fuzz: deps
	bash scripts/fuzz-all.sh $(FUZZ_SECONDS)

## Every conformance suite -> conformance/REPORT.md and conformance/report.html (exit 1 on any
## unexpected failure or unexpected pass). Run from the repository root: the corpus is ../shared/corpus.
conformance: deps
	$(CARGO) run -p conformance -- report --corpus ../shared/corpus --out conformance/REPORT.md --html conformance/report.html
