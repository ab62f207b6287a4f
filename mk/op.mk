# Unmodified op-node and op-geth, built with the Go toolchain from the Go module proxy at pinned
# versions, cached outside the checkout ($(OP_CACHE)/bin). Nothing of their source is vendored.
#
# `go install pkg@version` refuses modules whose go.mod has replace directives, and optimism's
# replaces go-ethereum with op-geth; so a small generated module requires optimism at
# $(OPTIMISM_VERSION) with optimism's own requirements and replace line, and builds both binaries.
# v1.16.0 is the newest optimism release whose op-node builds from the proxy's module zip:
# later ones embed a generated superchain-configs.zip the zip does not contain, and v1.17's
# op-geth pin is not served. op-geth's rc tags are not in the checksum database, hence GONOSUMDB.

OPTIMISM_VERSION ?= v1.16.0
OP_GETH_VERSION  ?= v1.101603.3-rc.3
OP_CACHE         ?= $(HOME)/.cache/ordo/op
OP_MODULE        := $(OP_CACHE)/module-$(OPTIMISM_VERSION)
OP_NODE_BIN      := $(OP_CACHE)/bin/op-node-$(OPTIMISM_VERSION)
OP_GETH_BIN      := $(OP_CACHE)/bin/geth-$(OP_GETH_VERSION)
GO               ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
OP_GO_ENV        := GOFLAGS=-mod=mod GONOSUMDB=github.com/ethereum-optimism
export OP_NODE_BIN OP_GETH_BIN

.PHONY: op-bins go-check

## op-bins: op-node and op-geth binaries (built once, then cached).
op-bins: $(OP_NODE_BIN) $(OP_GETH_BIN)

go-check:
	@test -x "$(GO)" || { \
		echo "installing Go (golang-go) to build op-node and op-geth"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq golang-go >/dev/null; }

# The generated module: optimism's go.mod requirements and replace line, verbatim.
$(OP_MODULE)/go.mod: | go-check
	@mkdir -p $(OP_MODULE)
	cd $(OP_MODULE) && $(OP_GO_ENV) $(GO) mod download -json github.com/ethereum-optimism/optimism@$(OPTIMISM_VERSION) > optimism.json
	cd $(OP_MODULE) && gomod=$$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' optimism.json) && { \
		echo "module ordo.local/opstack"; echo; \
		grep -m1 '^go ' "$$gomod"; echo; \
		echo "require github.com/ethereum-optimism/optimism $(OPTIMISM_VERSION)"; echo; \
		sed -n '/^require (/,/^)/p' "$$gomod"; echo; \
		grep '^replace github.com/ethereum/go-ethereum' "$$gomod"; \
	} > go.mod.tmp && grep -q 'op-geth $(OP_GETH_VERSION)$$' go.mod.tmp && mv go.mod.tmp $@

$(OP_NODE_BIN): $(OP_MODULE)/go.mod
	@mkdir -p $(dir $@)
	cd $(OP_MODULE) && $(OP_GO_ENV) $(GO) build -trimpath -o $@.tmp github.com/ethereum-optimism/optimism/op-node/cmd && mv $@.tmp $@
	ln -sf $(notdir $@) $(OP_CACHE)/bin/op-node

$(OP_GETH_BIN): $(OP_MODULE)/go.mod
	@mkdir -p $(dir $@)
	cd $(OP_MODULE) && $(OP_GO_ENV) $(GO) build -trimpath -o $@.tmp github.com/ethereum/go-ethereum/cmd/geth && mv $@.tmp $@
	ln -sf $(notdir $@) $(OP_CACHE)/bin/geth
