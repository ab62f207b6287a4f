#!/usr/bin/env bash
# The quickstart of devnet/README.md, step by step, against a running `make devnet`: the same
# commands the README shows, with checks. `make test-devnet` starts a devnet, runs this, stops it.
set -euo pipefail
: "${DEVNET_DIR:?}" "${ORDO_NODE:?}" "${CAST:?}"
ORDO=${ORDO:-http://127.0.0.1:8545}
L1=${L1:-http://127.0.0.1:8645}
KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 # anvil account 0
KEY2=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a # anvil account 2
fail() { echo "quickstart: FAILED: $*" >&2; exit 1; }
# "0x1" once the rollup executed the transaction successfully (empty while it has no receipt).
l2_status() { "$CAST" receipt "$1" --json --rpc-url "$2" 2>/dev/null | jq -r '.status // empty' || true; }
step() { echo; echo "== $*"; }

step "1. a transfer on rollup 901 and one on rollup 902, through Ordo"
for id in 901 902; do
  tx=$("$CAST" send --rpc-url "$ORDO/rollup/$id" --private-key "$KEY" \
    0x000000000000000000000000000000000000dEaD --value 0.01ether --json | jq -r .transactionHash)
  echo "rollup $id: $tx"
  [ "$(l2_status "$tx" "$ORDO/rollup/$id")" = 0x1 ] || fail "transfer on $id"
done

step "2. deploy a contract on rollup 902 and call it"
# Init code that deploys a contract answering 42 to any call.
created=$("$CAST" send --rpc-url "$ORDO/rollup/902" --private-key "$KEY2" \
  --create 0x600a600c600039600a6000f3602a60005260206000f3 --json | jq -r .contractAddress)
answer=$("$CAST" call "$created" 'answer()(uint256)' --rpc-url "$ORDO/rollup/902")
echo "contract $created answers $answer"
[ "$answer" = 42 ] || fail "contract call returned $answer"

step "3. the preconfirmation of the first transfer, verified offline with the group key"
curl -s "$ORDO" -H 'content-type: application/json' \
  --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ordo_getReceipt\",\"params\":[\"$tx\"]}" >"$DEVNET_DIR/receipt.json"
jq -r '.result.status' "$DEVNET_DIR/receipt.json"
"$ORDO_NODE" verify --group-key "$(cat "$DEVNET_DIR/group_key.hex")" "$DEVNET_DIR/receipt.json" \
  || fail "receipt did not verify"

step "4. force a transaction into rollup 901 through the L1 inbox"
inbox=$(cat "$DEVNET_DIR/l1/inbox.address")
nonce=$("$CAST" nonce 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC --rpc-url "$ORDO/rollup/901")
raw=$("$CAST" mktx --rpc-url "$ORDO/rollup/901" --private-key "$KEY2" --nonce "$nonce" \
  0x000000000000000000000000000000000000bEEF --value 1wei)
fee=$("$CAST" call "$inbox" 'fee(uint64)(uint256)' 901 --rpc-url "$L1" | awk '{print $1}')
"$CAST" send "$inbox" 'submit(uint64,bytes)' 901 "$raw" --value "$fee" --rpc-url "$L1" --private-key "$KEY2" >/dev/null
forced=$("$CAST" keccak "$raw")
echo "queued on L1: $forced; waiting for rollup 901 to include it"
for _ in $(seq 90); do
  status=$(l2_status "$forced" "$ORDO/rollup/901")
  [ "$status" = 0x1 ] && break
  sleep 1
done
[ "$status" = 0x1 ] || fail "forced transaction not included on rollup 901"
curl -s "$ORDO" -H 'content-type: application/json' \
  --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ordo_getReceipt\",\"params\":[\"$forced\"]}" \
  | jq -e '.result.receipt.forced == true' >/dev/null || fail "receipt not marked forced"
echo "included, receipt marked forced"

step "5. kill validator 3; the chain goes on"
pkill -9 -f "validator-3.toml" || fail "validator 3 not running"
tx=$("$CAST" send --rpc-url "$ORDO/rollup/901" --private-key "$KEY" \
  0x000000000000000000000000000000000000dEaD --value 0.01ether --json | jq -r .transactionHash)
[ "$(l2_status "$tx" "$ORDO/rollup/901")" = 0x1 ] || fail "no progress without validator 3"
echo "transfer $tx included with 3 of 4 validators"
echo
echo "quickstart: 5 passed, 0 failed"
