# L1 contracts (contracts/): Foundry + solc-js, both installed from npm and pinned in
# contracts/package-lock.json. Included by the root Makefile; `make test` depends on contracts-test.
#
#   contracts-install   npm ci in contracts/ (skipped while node_modules matches the lock file)
#   contracts-build     forge build -> contracts/out/<File>.sol/<Contract>.json (abi + bytecode, for alloy)
#   contracts-test      forge tests, the committed gas snapshot check (contracts/.gas-snapshot), and
#                       the check that crates/l1/artifacts (alloy's input) matches forge's output
#   contracts-artifacts refresh crates/l1/artifacts from forge's output
#   contracts-snapshot  rewrite contracts/.gas-snapshot
#   contracts-fixture   regenerate contracts/test/fixtures/finalization.json from Ordo's own crypto

CONTRACTS_DIR   := contracts
CONTRACTS_STAMP := $(CONTRACTS_DIR)/node_modules/.ordo-install-stamp
# Fuzz tests are left out of the gas snapshot: their gas is an average over generated inputs, and
# forge 1.7.1 does not reproduce it exactly from run to run even with a fixed seed.
SNAPSHOT_FILTER := --no-match-test 'testFuzz'
# forge/anvil/cast come from the linux-x64 binary packages (optional deps: other platforms fall back
# to a forge on PATH). Evaluated lazily: node_modules may appear during the same make run.
FORGE            = cd $(CONTRACTS_DIR) && $(if $(wildcard $(CONTRACTS_DIR)/node_modules/.bin/forge),./node_modules/.bin/forge,forge)

$(CONTRACTS_STAMP): $(CONTRACTS_DIR)/package.json $(CONTRACTS_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "contracts: npm (Node.js >= 18) is required" >&2; exit 1; }
	cd $(CONTRACTS_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# What the alloy bindings (crates/l1) are generated from: the ABI and creation bytecode.
L1_ARTIFACTS    := crates/l1/artifacts
ARTIFACT_FILTER := '{abi, bytecode: {object: .bytecode.object}}'

.PHONY: contracts-install contracts-build contracts-test contracts-snapshot contracts-fixture contracts-artifacts
contracts-install: $(CONTRACTS_STAMP)

contracts-build: contracts-install
	$(FORGE) build

contracts-test: deps contracts-install
	$(FORGE) test
	$(FORGE) snapshot --check $(SNAPSHOT_FILTER)
	@jq $(ARTIFACT_FILTER) $(CONTRACTS_DIR)/out/ForcedInclusionInbox.sol/ForcedInclusionInbox.json \
		| diff -q - $(L1_ARTIFACTS)/ForcedInclusionInbox.json >/dev/null \
		|| { echo "$(L1_ARTIFACTS) is stale: run make contracts-artifacts" >&2; exit 1; }

contracts-artifacts: contracts-build
	jq $(ARTIFACT_FILTER) $(CONTRACTS_DIR)/out/ForcedInclusionInbox.sol/ForcedInclusionInbox.json \
		> $(L1_ARTIFACTS)/ForcedInclusionInbox.json

contracts-snapshot: contracts-install
	$(FORGE) snapshot $(SNAPSHOT_FILTER)

contracts-fixture:
	ORDO_WRITE_FIXTURE=1 CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-$$HOME/.cache/ordo/target} \
		cargo test -p ordo-light --test l1_fixture
