# op-node and op-geth, unmodified, built from the Go module proxy at pinned versions and cached
# outside the checkout ($(OP_CACHE)/bin). Nothing of their source is vendored here.
#
# Why the copy: optimism's op-node embeds op-core/superchain/superchain-configs.zip (//go:embed),
# a file optimism's build generates from its superchain-registry submodule and does not commit, so
# the module zip the proxy serves lacks it and a plain `go build` of op-node fails. We copy the
# module to $(OP_SRC), regenerate that zip there with optimism's own recipe (sync-superchain.sh:
# same files, timestamps, modes and `zip -9 -oX`) from the registry data op-geth ships at the same
# registry commit (op-geth commits the bundle, plus a COMMIT file that optimism's bundle leaves
# out), and build against the copy via a `replace`. The submodule's exact commit is not published
# with the module, so the bytes can differ from upstream's; the copy's .sha256 pin (checked at
# startup) is then set to the generated bundle. No Go code is changed; only the embedded registry
# data of known public chains may differ, which a custom rollup.json never reads.
# `go install pkg@version` is no way round it: it refuses modules with replace directives.

OP_NODE_VERSION  ?= v1.19.6
# op-geth: the version optimism's go.mod replaces go-ethereum with (checked below).
OP_GETH_VERSION  ?= v1.101702.3-rc.7
OP_CACHE         ?= $(HOME)/.cache/ordo/op
OP_SRC           := $(OP_CACHE)/src/optimism-$(OP_NODE_VERSION)
OP_MODULE        := $(OP_CACHE)/module-$(OP_NODE_VERSION)
OP_NODE_BIN      := $(OP_CACHE)/bin/op-node-$(OP_NODE_VERSION)
OP_GETH_BIN      := $(OP_CACHE)/bin/geth-$(OP_GETH_VERSION)
export OP_NODE_BIN OP_GETH_BIN

# Go >= the go line of optimism's go.mod (1.26 for v1.19.6). GOTOOLCHAIN=local never fetches a
# toolchain; an older Go can be told to fetch one from the module proxy: OP_GOTOOLCHAIN=go1.26.8.
GO               ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
OP_GOTOOLCHAIN   ?= local
OP_GO_ENV         = GOTOOLCHAIN=$(OP_GOTOOLCHAIN) GOFLAGS="-mod=mod -buildvcs=false"
OP_GO_BUILD       = $(OP_GO_ENV) $(GO) build -trimpath -p 2
# `go mod download -json M@V`'s field F (Dir, GoMod, ...).
op_mod_field      = $(OP_GO_ENV) $(GO) mod download -json $(1) | sed -n 's/^\t"$(2)": "\(.*\)",\{0,1\}$$/\1/p'

.PHONY: op-bins op-go-check

## op-bins: op-node and op-geth (geth) binaries, built once and cached in $(OP_CACHE)/bin.
op-bins: $(OP_NODE_BIN) $(OP_GETH_BIN)

op-go-check:
	@test -x "$(GO)" || { echo "op-bins: Go is required (go on PATH or /usr/local/go/bin/go)" >&2; exit 1; }
	@command -v zip >/dev/null && command -v unzip >/dev/null || { \
		echo "installing zip and unzip (superchain-configs.zip for op-node)"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq zip unzip >/dev/null; }

# The writable copy of optimism with the generated bundle. Built in a .tmp dir and renamed, so an
# interrupted run leaves nothing the next run trusts.
$(OP_SRC)/.ordo-ready: | op-go-check
	@# (a copy interrupted before its chmod is read-only: make it removable first)
	if [ -d $(OP_SRC).tmp ]; then chmod -R u+w $(OP_SRC).tmp; rm -rf $(OP_SRC).tmp; fi
	mkdir -p $(OP_SRC).tmp
	set -euo pipefail; \
	dir=$$($(call op_mod_field,github.com/ethereum-optimism/optimism@$(OP_NODE_VERSION),Dir)); \
	geth=$$($(call op_mod_field,github.com/ethereum-optimism/op-geth@$(OP_GETH_VERSION),Dir)); \
	test -d "$$dir"; test -f "$$geth/superchain/superchain-configs.zip"; \
	grep -qx 'replace github.com/ethereum/go-ethereum => github.com/ethereum-optimism/op-geth $(OP_GETH_VERSION)' "$$dir/go.mod" \
		|| { echo "op-bins: optimism $(OP_NODE_VERSION) does not replace go-ethereum with op-geth $(OP_GETH_VERSION)" >&2; exit 1; }; \
	cp -r "$$dir/." $(OP_SRC).tmp/ && chmod -R u+w $(OP_SRC).tmp; \
	sc=$(OP_SRC).tmp/op-core/superchain; \
	registry=$$(sed -n 's|.*superchain-registry/validation v0.0.0-[0-9]*-\([0-9a-f]*\)$$|\1|p' "$$dir/go.mod"); \
	work=$(OP_SRC).tmp/.superchain-work; mkdir -p "$$work"; \
	unzip -q "$$geth/superchain/superchain-configs.zip" -d "$$work"; \
	case "$$(cat "$$work/COMMIT")" in "$$registry"*) ;; *) \
		echo "op-bins: op-geth's bundle is registry commit $$(cat "$$work/COMMIT"), optimism pins $$registry" >&2; exit 1;; esac; \
	rm "$$work/COMMIT"; \
	( cd "$$work" && find . -exec touch -t 198001010000.00 {} + && chmod -R 755 ./* \
		&& find . -type f | LC_ALL=C sort | xargs zip -9 -oX --quiet "$$sc/superchain-configs.zip" ); \
	rm -rf "$$work"; \
	got=$$(sha256sum "$$sc/superchain-configs.zip" | cut -d' ' -f1); \
	if [ "$$got" != "$$(cut -d' ' -f1 "$$sc/superchain-configs.zip.sha256")" ]; then \
		echo "op-bins: superchain-configs.zip regenerated at registry commit $$registry ($$got); pinning it"; \
		echo "$$got  superchain-configs.zip" > "$$sc/superchain-configs.zip.sha256"; \
	fi
	touch $(OP_SRC).tmp/.ordo-ready
	rm -rf $(OP_SRC) && mv $(OP_SRC).tmp $(OP_SRC)

# The module both binaries are built in: optimism's own go.mod and go.sum (requirements, replace
# of go-ethereum by op-geth, excludes) under another module name, requiring optimism from the copy.
$(OP_MODULE)/go.mod: $(OP_SRC)/.ordo-ready
	@mkdir -p $(OP_MODULE)
	sed 's|^module github.com/ethereum-optimism/optimism$$|module ordo.local/opstack|' $(OP_SRC)/go.mod > $@.tmp
	printf '\nrequire github.com/ethereum-optimism/optimism $(OP_NODE_VERSION)\n\nreplace github.com/ethereum-optimism/optimism => %s\n' '$(OP_SRC)' >> $@.tmp
	cp $(OP_SRC)/go.sum $(OP_MODULE)/go.sum
	mv $@.tmp $@

$(OP_NODE_BIN): $(OP_MODULE)/go.mod
	@mkdir -p $(dir $@)
	cd $(OP_MODULE) && $(OP_GO_BUILD) -o $@.tmp \
		-ldflags "-X github.com/ethereum-optimism/optimism/op-node/version.Version=$(OP_NODE_VERSION) -X github.com/ethereum-optimism/optimism/op-node/version.Meta=" \
		github.com/ethereum-optimism/optimism/op-node/cmd
	mv $@.tmp $@
	ln -sfn $(notdir $@) $(OP_CACHE)/bin/op-node

$(OP_GETH_BIN): $(OP_MODULE)/go.mod
	@mkdir -p $(dir $@)
	cd $(OP_MODULE) && $(OP_GO_BUILD) -o $@.tmp \
		-ldflags "-X github.com/ethereum/go-ethereum/version.gitTag=$(OP_GETH_VERSION)" \
		github.com/ethereum/go-ethereum/cmd/geth
	mv $@.tmp $@
	ln -sfn $(notdir $@) $(OP_CACHE)/bin/geth
