// Ordo's live page: follows one node over JSON-RPC (same origin) and checks every certificate it
// shows in this browser, with the WASM build of ordo-light and the group key only. The node is
// trusted for nothing it shows as "verified".
"use strict";

const ROWS_PER_ROLLUP = 8;
const POLL_MS = 1000;
const TPS_WINDOW_MS = 10000;
// A validator whose newest vote is this many views behind the notarized tip is reported silent.
const SILENT_AFTER_VIEWS = 10;

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const state = {
  light: null, // the WASM module's exports
  key: null, // group key bytes
  keyHex: "",
  keyFromNode: false,
  next: new Map(), // rollup -> next finalized height to fetch
  rows: new Map(), // rollup -> newest rows first
  seen: [], // {rollup, ts, txs} of finalized batches, for tx/s
  verified: 0,
  failed: 0,
};

function hexToBytes(hex) {
  const s = hex.trim().replace(/^0x/i, "");
  if (s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new Error("not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

const short = (hex, n = 8) => (hex.length > 2 + 2 * n ? `${hex.slice(0, 2 + n)}…${hex.slice(-n)}` : hex);

async function rpc(method, args = []) {
  const response = await fetch("/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: args }),
  });
  const body = await response.json();
  if (body.error) throw new Error(`${method}: ${body.error.message} (${body.error.code})`);
  return body.result;
}

async function loadLight() {
  const response = await fetch("ordo_light.wasm");
  if (!response.ok) throw new Error(`ordo_light.wasm: HTTP ${response.status}`);
  const { instance } = await WebAssembly.instantiateStreaming(response, {});
  return instance.exports;
}

// Checks codec bytes of a receipt or rollup batch: {ok, kind, message}.
function verify(itemBytes) {
  const light = state.light;
  const put = (bytes) => {
    const ptr = light.ordo_alloc(bytes.length);
    new Uint8Array(light.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  };
  const keyPtr = put(state.key);
  const itemPtr = put(itemBytes);
  const outPtr = light.ordo_alloc(4);
  const code = light.ordo_verify(keyPtr, state.key.length, itemPtr, itemBytes.length, outPtr);
  const answer = new DataView(light.memory.buffer).getUint32(outPtr, true);
  const len = new DataView(light.memory.buffer).getUint32(answer, true);
  const message = new TextDecoder().decode(new Uint8Array(light.memory.buffer, answer + 4, len));
  light.ordo_free(answer, 4 + len);
  light.ordo_free(outPtr, 4);
  light.ordo_free(itemPtr, itemBytes.length);
  light.ordo_free(keyPtr, state.key.length);
  const kind = code === 2 ? "finalization" : code === 1 ? "notarization" : null;
  return { ok: kind !== null, kind, message };
}

function setKey(hex, fromNode) {
  state.key = hexToBytes(hex);
  state.keyHex = hex;
  state.keyFromNode = fromNode;
  $("key").innerHTML = "";
  const text = document.createElement("span");
  text.textContent = `group key ${short(hex, 10)} `;
  text.title = hex;
  const note = document.createElement("span");
  note.textContent = fromNode
    ? "(as this node reports it: pin yours with ?key=0x…)"
    : "(pinned in the URL)";
  $("key").append(text, note);
}

function renderStatus(status) {
  $("chain").textContent =
    `chain ${short(status.genesisDigest)} · node v${status.version} · ` +
    `${status.rollups.length} rollups · mempool ${status.mempoolSize}`;
  $("heights").textContent = `${status.notarizedHeight} / ${status.finalizedHeight}`;
  const lat = status.preconfirmationLatency;
  $("latency").textContent = lat.p50Ms == null ? "–" : `${lat.p50Ms} / ${lat.p99Ms} ms`;
  $("latency-note").textContent = `submit → notarized, last ${lat.window} txs sent to this node`;

  const body = $("validators");
  body.innerHTML = "";
  let voting = 0;
  for (const v of status.validators) {
    const behind = v.lastVoteView == null ? null : Math.max(0, status.notarizedView - v.lastVoteView);
    const ok = behind !== null && behind <= SILENT_AFTER_VIEWS;
    if (ok) voting++;
    const tr = document.createElement("tr");
    tr.dataset.validator = v.index;
    tr.innerHTML =
      `<td>${v.index}</td><td class="mono" title="${v.publicKey}">${short("0x" + v.publicKey)}</td>` +
      `<td>${v.lastVoteView ?? "never"}</td><td>${behind ?? "–"}</td>` +
      `<td><span class="badge ${ok ? "ok" : "silent"}">${ok ? "voting" : "silent"}</span></td>`;
    body.append(tr);
  }
  $("voting").textContent = `${voting} / ${status.validators.length}`;
}

function rollupSection(id) {
  let section = document.querySelector(`[data-rollup="${id}"]`);
  if (section) return section;
  section = document.createElement("div");
  section.dataset.rollup = id;
  section.innerHTML =
    `<h2>Rollup ${id} <span class="muted" data-role="rate"></span></h2>` +
    `<table><thead><tr><th>Height</th><th>Age</th><th>Txs</th><th>Digest</th><th>Certificate</th><th>In this browser</th></tr></thead>` +
    `<tbody></tbody></table>`;
  let grid = document.querySelector(".rollups-grid");
  if (!grid) {
    grid = document.createElement("div");
    grid.className = "rollups-grid";
    $("rollups").append(grid);
  }
  grid.append(section);
  return section;
}

function renderRollup(id) {
  const section = rollupSection(id);
  const body = section.querySelector("tbody");
  body.innerHTML = "";
  const now = Date.now();
  for (const row of state.rows.get(id) ?? []) {
    const tr = document.createElement("tr");
    tr.dataset.height = row.height;
    tr.dataset.verified = row.check.ok;
    const age = Math.max(0, (now - row.ts) / 1000).toFixed(1);
    tr.innerHTML =
      `<td>${row.height}</td><td>${age} s</td><td>${row.txs}${row.forced ? ` (${row.forced} forced)` : ""}</td>` +
      `<td class="mono">${short(row.digest, 6)}</td><td>${row.kind}</td>` +
      `<td><span class="badge ${row.check.ok ? "verified" : "failed"}"></span></td>`;
    const badge = tr.querySelector(".badge");
    badge.textContent = row.check.ok ? "verified" : "failed";
    badge.title = row.check.message;
    body.append(tr);
  }
}

function renderRates() {
  const newest = Math.max(0, ...state.seen.map((s) => s.ts));
  state.seen = state.seen.filter((s) => s.ts > newest - 6 * TPS_WINDOW_MS);
  const recent = state.seen.filter((s) => s.ts > newest - TPS_WINDOW_MS);
  const rate = (list) => (list.reduce((n, s) => n + s.txs, 0) / (TPS_WINDOW_MS / 1000)).toFixed(1);
  $("tps").textContent = rate(recent);
  for (const id of state.rows.keys()) {
    rollupSection(id).querySelector('[data-role="rate"]').textContent =
      `${rate(recent.filter((s) => s.rollup === id))} tx/s`;
  }
  $("checked").textContent = `${state.verified} ✓ · ${state.failed} ✗`;
}

async function followRollup(id, indexedHeight) {
  if (!state.next.has(id)) state.next.set(id, Math.max(1, indexedHeight - ROWS_PER_ROLLUP + 1));
  const batches = await rpc("ordo_getRollupBatches", [id, state.next.get(id), 64]);
  if (batches.length === 0) return;
  const rows = state.rows.get(id) ?? [];
  for (const batch of batches) {
    let check;
    try {
      check = verify(hexToBytes(batch.encoded));
    } catch (e) {
      check = { ok: false, kind: null, message: String(e) };
    }
    // What the node claims must match what the bytes prove.
    if (check.ok && (check.kind !== batch.certificate.kind || !check.message.includes(`rollup ${id} height ${batch.height} `))) {
      check = { ok: false, kind: null, message: `the node's JSON disagrees with its certificate: ${check.message}` };
    }
    check.ok ? state.verified++ : state.failed++;
    rows.unshift({
      height: batch.height,
      ts: batch.timestampMs,
      txs: batch.txs.length,
      forced: batch.forced,
      digest: batch.blockDigest,
      kind: batch.certificate.kind,
      check,
    });
    state.seen.push({ rollup: id, ts: batch.timestampMs, txs: batch.txs.length });
  }
  state.rows.set(id, rows.slice(0, ROWS_PER_ROLLUP));
  state.next.set(id, batches[batches.length - 1].height + 1);
}

async function tick() {
  const status = await rpc("ordo_status");
  if (!state.key) {
    const pinned = params.get("key");
    setKey(pinned || status.groupKey, !pinned);
  }
  renderStatus(status);
  const indexed = status.indexedHeight ?? 0;
  for (const rollup of status.rollups) {
    await followRollup(rollup.id, indexed);
    renderRollup(rollup.id);
  }
  renderRates();
}

async function main() {
  try {
    state.light = await loadLight();
  } catch (e) {
    showError(`cannot load the verifier: ${e.message}`);
    return;
  }
  $("check").addEventListener("click", checkPasted);
  for (;;) {
    try {
      await tick();
      $("error").hidden = true;
    } catch (e) {
      showError(String(e.message ?? e));
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function checkPasted() {
  const out = $("check-result");
  let hex = $("paste").value.trim();
  try {
    if (hex.startsWith("{")) {
      let json = JSON.parse(hex);
      json = json.result ?? json;
      hex = json.encoded ?? json.receipt?.encoded;
      if (!hex) throw new Error("no `encoded` field");
    }
    if (!state.key) throw new Error("no group key yet");
    const check = verify(hexToBytes(hex));
    out.className = `badge ${check.ok ? "verified" : "failed"}`;
    out.textContent = `${check.ok ? "verified" : "failed"}: ${check.message}`;
  } catch (e) {
    out.className = "badge failed";
    out.textContent = `failed: ${e.message}`;
  }
}

main();
