# Ordo: the two commands a newcomer needs are `make devnet` and `make test`.
#
# Build outputs live outside the checkout so a clean clone (and CI) reuses them:
#   cargo -> $(CARGO_TARGET_DIR), default ~/.cache/ordo/target
# Every target installs what it needs first (apt packages for rocksdb's bindgen, npm packages for
# Foundry/solc), skipping what is already present.

SHELL            := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ordo/target
export CARGO_TERM_COLOR ?= never
CARGO            ?= cargo
ORDO_NODE        := $(CARGO_TARGET_DIR)/debug/ordo-node
DEVNET_DIR       ?= $(CURDIR)/.devnet
VALIDATORS       ?= 4
ROLLUPS          ?= 901:evm,902:evm,903:opaque
# The live page (web/ plus the WASM build of crates/light), served by the devnet's nodes at /live/.
WEB_DIR          ?= $(CARGO_TARGET_DIR)/web

include mk/contracts.mk
include mk/op.mk
include mk/cometbft.mk

.PHONY: all deps build test test-rust test-sim sim test-cluster test-devnet bench soak fuzz devnet devnet-clean web web-test-deps lint fmt clean

all: build

## deps: system packages the build needs (clang + libclang for rocksdb's bindgen, jq).
deps:
	@if ! command -v clang >/dev/null || ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then \
		echo "installing clang and libclang-dev (rocksdb bindgen)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq clang libclang-dev >/dev/null; \
	fi
	@command -v jq >/dev/null || { \
		echo "installing jq (contract artifact checks)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq jq >/dev/null; }
	@command -v $(CARGO) >/dev/null || { echo "cargo is required (rustup; the toolchain is pinned in rust-toolchain.toml)" >&2; exit 1; }

## build: the workspace and the ordo-node binary.
build: deps rocksdb
	$(CARGO) build --workspace --all-targets

## test: everything an issue's acceptance names: unit tests, deterministic simulations,
## multi-process cluster tests, contract tests.
## (Whole-workspace selections keep cargo's feature set, hence its build cache, the same as `build`.)
test: build contracts-test op-bins
	$(CARGO) test --workspace --lib --bins --tests --no-fail-fast -- --nocapture
	$(MAKE) --no-print-directory test-devnet
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

## test-sim: the deterministic simulation only (SEEDS=n seeds 0..n, SEEDS=a..b, SEED=n one; default
## the CI batch that `make test` runs; each seed runs twice; SIM_JOBS=n seeds at a time, default one
## per core).
test-sim: build
	$(CARGO) test --workspace --test simulation -- --nocapture

## sim: the large simulation campaign, SEEDS seeds (default 10000; SEEDS=a..b runs a slice, so a
## campaign can be split over several runs). Each seed runs once: the double-run determinism check
## (which `make test` keeps) would double its hours of wall time (~1.3 s a seed on 2 cores).
## One line a seed, then `simulation: seeds a..b, N passed, M failed`, the re-org rate and the failed
## seeds.
sim: build
	SEEDS=$(or $(SEEDS),10000) SIM_ONCE=1 $(CARGO) test --workspace --test simulation -- --nocapture

## test-cluster: the multi-process test with the real binary.
test-cluster: build
	$(CARGO) test --workspace --test cluster -- --nocapture

## bench: throughput, latency (also with 50 ms one-way between validators) and recovery times of
## 4 local validators, next to a 4-node CometBFT network in the same run (BENCH_ARGS=--quick: shorter
## phases). CometBFT failing to build only skips the comparison.
## Measured on a release build, as validators run it (the dev build's own crates are -O1: back
## to back, 11,642 tx/s against 13,087).
BENCH_ARGS ?=
bench: deps rocksdb
	$(CARGO) build --release -p ordo-node -p ordo-tests --bins
	@$(MAKE) --no-print-directory cometbft-bin || echo "bench: cometbft could not be built; the comparison is skipped"
	$(CARGO_TARGET_DIR)/release/ordo-bench --validators $(VALIDATORS) $(BENCH_ARGS)

## soak: the chaos run of tests/chaos.rs for SOAK_MINUTES (default 10): kill -9 and restart of
## validators and partitions of one, under load; prints acknowledged vs included, failover and
## restart times, and `soak: N passed, M failed`.
SOAK_MINUTES ?= 10
soak: build
	$(CARGO_TARGET_DIR)/debug/ordo-soak --minutes $(SOAK_MINUTES)

## fuzz: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (installs the nightly toolchain
## and cargo-fuzz when missing); a crash stops it and leaves its input in fuzz/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := block_codec certified_verify evm_tx l1_log rpc_params relay_codec
fuzz: deps rocksdb
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && n=0; for t in $(FUZZ_TARGETS); do \
		cargo +nightly fuzz run --target-dir $(HOME)/.cache/ordo/fuzz-target $$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
			|| { echo "fuzz: $$n passed, 1 failed ($$t)"; exit 1; }; \
		n=$$((n + 1)); \
	done; echo "fuzz: $$n passed, 0 failed"

## web: the live page into $(WEB_DIR): web/'s files and crates/light built for wasm32.
web: deps
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	$(CARGO) build -p ordo-light --lib --release --target wasm32-unknown-unknown
	@mkdir -p $(WEB_DIR)
	cp web/index.html web/live.js web/live.css $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/release/ordo_light.wasm $(WEB_DIR)/

## web-test-deps: Debian's Chromium and the page test's npm packages (playwright-core drives the
## system Chromium; it downloads no browser).
web-test-deps:
	@command -v chromium >/dev/null || { \
		echo "installing chromium (live page test)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@[ -d web/test/node_modules/playwright-core ] || npm ci --prefix web/test --no-audit --no-fund

## devnet: anvil as L1 with the inbox deployed, $(VALIDATORS) validators with $(ROLLUPS) following it,
## and OP rollups 901 and 902 (op-geth, op-node, adapter); Ctrl-C stops it.
devnet: build contracts-build op-bins web
	$(ORDO_NODE) --version >/dev/null
	DEVNET_DIR=$(DEVNET_DIR) VALIDATORS=$(VALIDATORS) ROLLUPS=$(ROLLUPS) ORDO_NODE=$(ORDO_NODE) WEB_DIR=$(WEB_DIR) \
		ADAPTER=$(CARGO_TARGET_DIR)/debug/ordo-op-adapter OP_GETH_BIN=$(OP_GETH_BIN) OP_NODE_BIN=$(OP_NODE_BIN) \
		CONTRACTS_DIR=$(CURDIR)/$(CONTRACTS_DIR) devnet/run.sh

## test-devnet: the devnet README's quickstart, scripted, on a fresh temporary devnet; then the
## live page in headless Chromium against it.
test-devnet: build contracts-build op-bins web web-test-deps
	ORDO_NODE=$(ORDO_NODE) ADAPTER=$(CARGO_TARGET_DIR)/debug/ordo-op-adapter OP_GETH_BIN=$(OP_GETH_BIN) WEB_DIR=$(WEB_DIR) \
		OP_NODE_BIN=$(OP_NODE_BIN) VALIDATORS=$(VALIDATORS) ROLLUPS=$(ROLLUPS) \
		CONTRACTS_DIR=$(CURDIR)/$(CONTRACTS_DIR) devnet/test.sh

## devnet-clean: wipe the devnet's data.
devnet-clean:
	rm -rf $(DEVNET_DIR)

lint: deps rocksdb
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## rocksdb: build rocksdb's static library once per machine (~25 min on 2 cores) into
## ~/.cache/ordo/rocksdb and link it as .rocksdb (see .cargo/config.toml). ROCKSDB_COMPILE=1
## makes librocksdb-sys compile its bundled C++ although .cargo/config.toml names a lib dir.
# The directory names the build: a library built another way (it was -O0, then without the CPU's
# own instructions) is not reused. Built for this machine's CPU (librocksdb-sys passes the target
# features on as -m flags): without SSE4.2 and PCLMUL rocksdb computed its CRC32C checksums (every
# WAL record and table block) in software, ~2% of a saturated cluster's CPU; AVX2 serves its bloom
# filters. The library is not copied to other machines.
ROCKSDB_CACHE := $(HOME)/.cache/ordo/rocksdb-O3-native
rocksdb: deps
	@if [ ! -f $(ROCKSDB_CACHE)/lib/librocksdb.a ]; then \
		echo "building rocksdb once for this machine (about 25 minutes on 2 cores)"; \
		ROCKSDB_COMPILE=1 CARGO_TARGET_DIR=$(ROCKSDB_CACHE)/build RUSTFLAGS="-C target-cpu=native" \
			$(CARGO) build --release --manifest-path mk/rocksdb/Cargo.toml && \
		mkdir -p $(ROCKSDB_CACHE)/lib && \
		lib=$$(ls -t $(ROCKSDB_CACHE)/build/release/build/librocksdb-sys-*/out/librocksdb.a | head -1) && \
		cp "$$lib" $(ROCKSDB_CACHE)/lib/librocksdb.a.tmp && \
		strip --strip-debug $(ROCKSDB_CACHE)/lib/librocksdb.a.tmp && \
		mv $(ROCKSDB_CACHE)/lib/librocksdb.a.tmp $(ROCKSDB_CACHE)/lib/librocksdb.a; \
	fi
	@ln -sfn $(ROCKSDB_CACHE)/lib .rocksdb
	@# librocksdb-sys bundles the static library into its rlib, and nothing tells cargo when the
	@# library changed: a target directory built against another one is rebuilt from that crate.
	@if [ -d $(CARGO_TARGET_DIR) ] && [ "$$(cat $(CARGO_TARGET_DIR)/.rocksdb-lib 2>/dev/null)" != "$(ROCKSDB_CACHE)" ]; then \
		echo "$(CARGO_TARGET_DIR) holds another rocksdb build: rebuilding librocksdb-sys and what links it"; \
		$(CARGO) clean -q -p librocksdb-sys && $(CARGO) clean -q -p librocksdb-sys --release; \
	fi
	@mkdir -p $(CARGO_TARGET_DIR) && echo "$(ROCKSDB_CACHE)" > $(CARGO_TARGET_DIR)/.rocksdb-lib
