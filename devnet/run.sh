#!/usr/bin/env bash
# Brings up a local Ordo network: genesis on first run (kept under $DEVNET_DIR, so a second run
# resumes), one ordo-node process per validator, endpoints printed; Ctrl-C stops everything.
set -euo pipefail
: "${DEVNET_DIR:?}" "${VALIDATORS:?}" "${ROLLUPS:?}" "${ORDO_NODE:?}"

if [ ! -f "$DEVNET_DIR/genesis.toml" ]; then
  "$ORDO_NODE" genesis --validators "$VALIDATORS" --rollups "$ROLLUPS" --out "$DEVNET_DIR" >/dev/null
fi

pids=()
cleanup() {
  echo; echo "stopping devnet..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

for ((i = 0; i < VALIDATORS; i++)); do
  "$ORDO_NODE" run --config "$DEVNET_DIR/validator-$i.toml" >"$DEVNET_DIR/validator-$i.log" 2>&1 &
  pids+=($!)
done

group_key=$(cat "$DEVNET_DIR/group_key.hex")
echo "Ordo devnet: $VALIDATORS validators, rollups $ROLLUPS"
echo "  data and logs: $DEVNET_DIR"
echo "  group key:     $group_key"
for ((i = 0; i < VALIDATORS; i++)); do
  rpc=$(grep -m1 '^rpc_listen' "$DEVNET_DIR/validator-$i.toml" | cut -d'"' -f2)
  echo "  validator-$i:  JSON-RPC/WS http://$rpc   health http://$rpc/health   metrics http://$rpc/metrics"
done
echo "  per-rollup eth_sendRawTransaction: http://<rpc>/rollup/<id>"
echo "Ctrl-C to stop; 'make devnet' again resumes; 'make devnet-clean' wipes."
wait
