#!/usr/bin/env bash
# `make test-devnet`: a fresh devnet in a temporary directory, the README's quickstart against it
# (devnet/quickstart.sh), the live page in headless Chromium (web/test), then everything stopped and
# removed. Bounded: 10 minutes at most.
set -euo pipefail
: "${ORDO_NODE:?}" "${CONTRACTS_DIR:?}"
export DEVNET_DIR
DEVNET_DIR=$(mktemp -d /tmp/ordo-devnet-test.XXXXXX)
export CAST="$CONTRACTS_DIR/node_modules/.bin/cast"
log="$DEVNET_DIR/devnet.out"
setsid devnet/run.sh >"$log" 2>&1 &
devnet=$!
stop() {
  # SIGINT to the whole group: run.sh stops its children and waits for them.
  kill -INT -- "-$devnet" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$devnet" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$devnet" 2>/dev/null || true
  if [ "${ok:-0}" = 1 ]; then rm -rf "$DEVNET_DIR"; else echo "devnet kept in $DEVNET_DIR" >&2; fi
}
trap stop EXIT
for _ in $(seq 300); do
  grep -q "Ctrl-C to stop" "$log" && break
  kill -0 "$devnet" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
grep -q "Ctrl-C to stop" "$log" || { cat "$log" >&2; echo "devnet did not come up in 150 s" >&2; exit 1; }
timeout 240 devnet/quickstart.sh
if [ -n "${WEB_DIR:-}" ]; then
  # The quickstart leaves validator 3 killed: the page must show it silent.
  url=$(grep -m1 "live page:" "$log" | awk '{print $3}')
  shots=${LIVE_SCREENSHOTS:-$DEVNET_DIR/screenshots}
  mkdir -p "$shots"
  EXPECT_SILENT=1 timeout 200 node web/test/live.test.cjs "$url" "$shots"
fi
ok=1
