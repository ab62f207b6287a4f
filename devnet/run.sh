#!/usr/bin/env bash
# Brings up a local Ordo network: anvil as L1 with the ForcedInclusionInbox deployed, genesis on
# first run (kept under $DEVNET_DIR, so a second run resumes the same L1 and Ordo chains), one
# ordo-node process per validator following the inbox, endpoints printed; Ctrl-C stops everything.
set -euo pipefail
: "${DEVNET_DIR:?}" "${VALIDATORS:?}" "${ROLLUPS:?}" "${ORDO_NODE:?}" "${CONTRACTS_DIR:?}"
L1_PORT="${L1_PORT:-8645}"
L1_BLOCK_TIME="${L1_BLOCK_TIME:-1}"
# L1 blocks until a forced transaction is due (the contract allows 5 to 7200).
INCLUSION_DELAY="${INCLUSION_DELAY:-10}"
# anvil's first development account: funded on every anvil, never use it elsewhere.
DEV_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
BIN="$CONTRACTS_DIR/node_modules/.bin"
L1_URL="http://127.0.0.1:$L1_PORT"
mkdir -p "$DEVNET_DIR/l1"

pids=()
cleanup() {
  echo; echo "stopping devnet..."
  # SIGTERM lets anvil write its state file, so the next run resumes the same L1 chain.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

"$BIN/anvil" --port "$L1_PORT" --block-time "$L1_BLOCK_TIME" --state "$DEVNET_DIR/l1/anvil-state.json" \
  --state-interval 5 >"$DEVNET_DIR/l1/anvil.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  "$BIN/cast" block-number --rpc-url "$L1_URL" >/dev/null 2>&1 && break
  sleep 0.2
done
"$BIN/cast" block-number --rpc-url "$L1_URL" >/dev/null || { echo "anvil did not start (see $DEVNET_DIR/l1/anvil.log)" >&2; exit 1; }

if [ ! -f "$DEVNET_DIR/genesis.toml" ]; then
  start_block=$("$BIN/cast" block-number --rpc-url "$L1_URL")
  echo "deploying ForcedInclusionInbox to anvil (inclusion delay $INCLUSION_DELAY L1 blocks)..."
  (cd "$CONTRACTS_DIR" && ORDO_INCLUSION_DELAY="$INCLUSION_DELAY" ORDO_INBOX_BASE_FEE=1000000000000 \
    ./node_modules/.bin/forge script script/Deploy.s.sol --rpc-url "$L1_URL" --broadcast \
    --private-key "$DEV_KEY" >"$DEVNET_DIR/l1/deploy.log" 2>&1) \
    || { echo "deployment failed (see $DEVNET_DIR/l1/deploy.log)" >&2; exit 1; }
  inbox=$(jq -r '.returns.inbox.value' "$CONTRACTS_DIR/broadcast/Deploy.s.sol/31337/run-latest.json")
  echo "$inbox" >"$DEVNET_DIR/l1/inbox.address"
  "$ORDO_NODE" genesis --validators "$VALIDATORS" --rollups "$ROLLUPS" --out "$DEVNET_DIR" \
    --l1-inbox "$inbox" --l1-rpc "$L1_URL" --l1-start-block "$start_block" --l1-confirmations 1 >/dev/null
fi
inbox=$(cat "$DEVNET_DIR/l1/inbox.address")

for ((i = 0; i < VALIDATORS; i++)); do
  "$ORDO_NODE" run --config "$DEVNET_DIR/validator-$i.toml" >"$DEVNET_DIR/validator-$i.log" 2>&1 &
  pids+=($!)
done

group_key=$(cat "$DEVNET_DIR/group_key.hex")
echo "Ordo devnet: $VALIDATORS validators, rollups $ROLLUPS"
echo "  data and logs: $DEVNET_DIR"
echo "  group key:     $group_key"
echo "  L1 (anvil):    $L1_URL   ForcedInclusionInbox $inbox"
for ((i = 0; i < VALIDATORS; i++)); do
  rpc=$(grep -m1 '^rpc_listen' "$DEVNET_DIR/validator-$i.toml" | cut -d'"' -f2)
  echo "  validator-$i:  JSON-RPC/WS http://$rpc   health http://$rpc/health   metrics http://$rpc/metrics"
done
echo "  per-rollup eth_sendRawTransaction: http://<rpc>/rollup/<id>"
echo "  force a transaction in through L1 (due $INCLUSION_DELAY L1 blocks later):"
echo "    $BIN/cast send $inbox 'submit(uint64,bytes)' 901 <signed-tx> --value \$($BIN/cast call $inbox 'fee(uint64)(uint256)' 901 --rpc-url $L1_URL) --rpc-url $L1_URL --private-key <key>"
echo "Ctrl-C to stop; 'make devnet' again resumes; 'make devnet-clean' wipes."
wait
