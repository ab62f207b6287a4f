# CometBFT, the baseline `make bench` compares Ordo with: the unmodified `cometbft` binary built
# with the Go toolchain from the Go module proxy at a pinned version, cached outside the checkout.
# v0.38.26 is the newest v0.38 release the proxy lists (`go list -m -versions
# github.com/cometbft/cometbft`); its built-in kvstore app (`--proxy_app=kvstore`) is the workload.

COMETBFT_VERSION ?= v0.38.26
COMETBFT_CACHE   ?= $(HOME)/.cache/ordo/cometbft
COMETBFT_BIN     := $(COMETBFT_CACHE)/bin/cometbft-$(COMETBFT_VERSION)
export COMETBFT_BIN

.PHONY: cometbft-bin

## cometbft-bin: the cometbft binary (built once, then cached).
cometbft-bin: $(COMETBFT_BIN)

$(COMETBFT_BIN): | go-check
	@mkdir -p $(COMETBFT_CACHE)/gobin $(dir $@)
	GOBIN=$(COMETBFT_CACHE)/gobin GOFLAGS=-mod=mod $(GO) install -trimpath \
		github.com/cometbft/cometbft/cmd/cometbft@$(COMETBFT_VERSION)
	mv $(COMETBFT_CACHE)/gobin/cometbft $@
	ln -sf $(notdir $@) $(COMETBFT_CACHE)/bin/cometbft
