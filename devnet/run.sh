#!/usr/bin/env bash
# Brings up a local Ordo network: anvil as L1 with the ForcedInclusionInbox deployed, genesis on
# first run (kept under $DEVNET_DIR, so a second run resumes the same L1 and Ordo chains), one
# ordo-node process per validator following the inbox, and for each of $OP_ROLLUPS an OP Stack
# rollup (op-geth, op-node in verifier mode, ordo-op-adapter); endpoints printed; Ctrl-C stops
# everything.
set -euo pipefail
: "${DEVNET_DIR:?}" "${VALIDATORS:?}" "${ROLLUPS:?}" "${ORDO_NODE:?}" "${CONTRACTS_DIR:?}"
: "${ADAPTER:?}" "${OP_GETH_BIN:?}" "${OP_NODE_BIN:?}"
OP_ROLLUPS="${OP_ROLLUPS:-901 902}"
L1_PORT="${L1_PORT:-8645}"
L1_BLOCK_TIME="${L1_BLOCK_TIME:-1}"
# L1 blocks until a forced transaction is due (the contract allows 5 to 7200).
INCLUSION_DELAY="${INCLUSION_DELAY:-10}"
# anvil's first development account: funded on every anvil, never use it elsewhere.
DEV_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
BIN="$CONTRACTS_DIR/node_modules/.bin"
L1_URL="http://127.0.0.1:$L1_PORT"
# Rollup <id>'s ports: op-geth RPC, op-geth authrpc, op-geth p2p, op-node RPC.
op_port() { echo $((9100 + ($1 - 900) * 10 + $2)); }
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
  # Every validator serves each OP rollup's whole Ethereum RPC at /rollup/<id>: reads from its op-geth.
  for ((i = 0; i < VALIDATORS; i++)); do
    echo "[execution_rpc]" >>"$DEVNET_DIR/validator-$i.toml"
    for id in $OP_ROLLUPS; do
      echo "\"$id\" = \"http://127.0.0.1:$(op_port "$id" 0)\"" >>"$DEVNET_DIR/validator-$i.toml"
    done
  done
fi
inbox=$(cat "$DEVNET_DIR/l1/inbox.address")
# Every validator serves the live page from WEB_DIR (`make web`), wherever this checkout builds it.
for ((i = 0; i < VALIDATORS; i++)); do
  sed -i '/^web_dir = /d' "$DEVNET_DIR/validator-$i.toml"
  if [ -n "${WEB_DIR:-}" ]; then
    sed -i "/^\[node\]/a web_dir = \"$WEB_DIR\"" "$DEVNET_DIR/validator-$i.toml"
  fi
done

for ((i = 0; i < VALIDATORS; i++)); do
  "$ORDO_NODE" run --config "$DEVNET_DIR/validator-$i.toml" >"$DEVNET_DIR/validator-$i.log" 2>&1 &
  pids+=($!)
done

group_key=$(cat "$DEVNET_DIR/group_key.hex")
ordo_rpc=$(grep -m1 '^rpc_listen' "$DEVNET_DIR/validator-0.toml" | cut -d'"' -f2)

# anvil's development accounts: funded on L1 and, in every rollup's genesis, on L2.
dev_accounts=$("$BIN/cast" rpc eth_accounts --rpc-url "$L1_URL" | jq -r 'join(",")')

wait_http() { # url, what
  for _ in $(seq 150); do
    curl -sf -X POST -H 'content-type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" >/dev/null 2>&1 && return 0
    curl -sf -X POST -H 'content-type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"optimism_version","params":[]}' "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$2 did not start" >&2; exit 1
}

batcher_index=8
for id in $OP_ROLLUPS; do
  dir="$DEVNET_DIR/rollup-$id"
  mkdir -p "$dir"
  # Each rollup posts batches from its own anvil account (8, 9): not one of those printed for users.
  batcher_key=$("$BIN/cast" wallet private-key --mnemonic "test test test test test test test test test test test junk" --mnemonic-index "$batcher_index")
  batcher_index=$((batcher_index + 1))
  echo "$batcher_key" >"$dir/batcher.key"
  if [ ! -f "$dir/rollup.json" ]; then
    "$ADAPTER" l2-genesis --chain-id "$id" --fund "$dev_accounts" --out "$dir/genesis.json"
    "$OP_GETH_BIN" init --state.scheme=hash --datadir "$dir/geth" "$dir/genesis.json" >"$dir/geth-init.log" 2>&1
    openssl rand -hex 32 >"$dir/jwt.txt"
  fi
  "$OP_GETH_BIN" --datadir "$dir/geth" --http --http.addr 127.0.0.1 --http.port "$(op_port "$id" 0)" \
    --http.api web3,debug,eth,txpool,net --authrpc.addr 127.0.0.1 --authrpc.port "$(op_port "$id" 1)" \
    --authrpc.jwtsecret "$dir/jwt.txt" --syncmode full --gcmode archive --cache 128 --nodiscover --maxpeers 0 \
    --port "$(op_port "$id" 2)" --networkid "$id" --rollup.disabletxpoolgossip >"$dir/op-geth.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$(op_port "$id" 0)" "op-geth of rollup $id (see $dir/op-geth.log)"
  if [ ! -f "$dir/rollup.json" ]; then
    "$ADAPTER" rollup-config --chain-id "$id" --l1-rpc "$L1_URL" --l2-rpc "http://127.0.0.1:$(op_port "$id" 0)" \
      --batcher "$("$BIN/cast" wallet address --private-key "$batcher_key")" --out "$dir/rollup.json"
    "$ADAPTER" l1-chain-config --l1-rpc "$L1_URL" --out "$dir/l1-chain.json"
    # The rollup adopts Ordo's order from the next finalized height on.
    wait_http "http://$ordo_rpc" "validator-0"
    curl -s -X POST -H 'content-type: application/json' \
      --data '{"jsonrpc":"2.0","id":1,"method":"ordo_status","params":[]}' "http://$ordo_rpc" \
      | jq -r '.result.finalizedHeight + 1' >"$dir/ordo-start-height"
  fi
  "$OP_NODE_BIN" --l1="$L1_URL" --l1.trustrpc --l1.rpckind=standard --l1.beacon="$L1_URL" --l1.beacon.ignore \
    --l1.epoch-poll-interval=1s --l1.http-poll-interval=500ms --l2="http://127.0.0.1:$(op_port "$id" 1)" \
    --l2.jwt-secret="$dir/jwt.txt" --rollup.config="$dir/rollup.json" --rollup.l1-chain-config="$dir/l1-chain.json" \
    --rpc.addr=127.0.0.1 --rpc.port="$(op_port "$id" 3)" --rpc.enable-admin --p2p.disable \
    --verifier.l1-confs=0 >"$dir/op-node.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$(op_port "$id" 3)" "op-node of rollup $id (see $dir/op-node.log)"
  "$ADAPTER" run --rollup "$id" --ordo-ws "ws://$ordo_rpc" --group-key "$group_key" \
    --ordo-start-height "$(cat "$dir/ordo-start-height")" --rollup-config "$dir/rollup.json" \
    --l1-rpc "$L1_URL" --l2-engine "http://127.0.0.1:$(op_port "$id" 1)" --l2-jwt-secret "$dir/jwt.txt" \
    --l2-rpc "http://127.0.0.1:$(op_port "$id" 0)" --op-node-rpc "http://127.0.0.1:$(op_port "$id" 3)" \
    --batcher-key "$dir/batcher.key" >"$dir/adapter.log" 2>&1 &
  pids+=($!)
done

echo "Ordo devnet: $VALIDATORS validators, rollups $ROLLUPS"
echo "  data and logs: $DEVNET_DIR"
echo "  group key:     $group_key"
echo "  L1 (anvil):    $L1_URL   ForcedInclusionInbox $inbox"
if [ -n "${WEB_DIR:-}" ]; then
  echo "  live page:     http://$ordo_rpc/live/?key=$group_key"
fi
for ((i = 0; i < VALIDATORS; i++)); do
  rpc=$(grep -m1 '^rpc_listen' "$DEVNET_DIR/validator-$i.toml" | cut -d'"' -f2)
  echo "  validator-$i:  JSON-RPC/WS http://$rpc   health http://$rpc/health   metrics http://$rpc/metrics"
done
for id in $OP_ROLLUPS; do
  echo "  rollup $id (OP Stack): http://$ordo_rpc/rollup/$id   <- point cast/viem/wallets here (chain id $id)"
  echo "      op-geth http://127.0.0.1:$(op_port "$id" 0)   op-node http://127.0.0.1:$(op_port "$id" 3)   logs $DEVNET_DIR/rollup-$id"
done
echo "  dev accounts (funded on L1 and every rollup; anvil's well-known keys):"
for n in 0 1 2; do
  key=$("$BIN/cast" wallet private-key --mnemonic "test test test test test test test test test test test junk" --mnemonic-index "$n")
  echo "    $("$BIN/cast" wallet address --private-key "$key")  $key"
done
echo "  force a transaction in through L1 (due $INCLUSION_DELAY L1 blocks later):"
echo "    $BIN/cast send $inbox 'submit(uint64,bytes)' 901 <signed-tx> --value \$($BIN/cast call $inbox 'fee(uint64)(uint256)' 901 --rpc-url $L1_URL) --rpc-url $L1_URL --private-key <key>"
echo "Ctrl-C to stop; 'make devnet' again resumes; 'make devnet-clean' wipes."
wait
