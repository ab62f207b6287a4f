// The live page in Debian's headless Chromium, against a running devnet:
//   node web/test/live.test.cjs URL [OUT_DIR]
// URL is a node's page with the pinned group key (http://127.0.0.1:8545/live/?key=0x…).
// EXPECT_SILENT=n: how many validators are down (the page must show exactly that many silent).
//
// Checks what a person would see: blocks of every rollup advancing, each one "verified" by the
// WASM verifier, validators' health; then a node that tampers with one certificate's signature
// (the page's requests are intercepted: another block's signature in place of each batch's own) and
// the page reporting "failed" for that rollup only.
// Screenshots go to OUT_DIR and are checked for the badges' colours.
"use strict";

const { chromium } = require("playwright-core");
const { PNG } = require("pngjs");
const fs = require("fs");
const path = require("path");

const [url, outDir = fs.mkdtempSync("/tmp/ordo-live-")] = process.argv.slice(2);
if (!url) {
  console.error("usage: live.test.cjs URL [OUT_DIR]");
  process.exit(2);
}
const expectSilent = Number(process.env.EXPECT_SILENT ?? 0);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Colours of .badge.verified and .badge.failed in live.css.
const GREEN = [0x1a, 0x7f, 0x37];
const RED = [0xcf, 0x22, 0x2e];

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

// Pixels of exactly `rgb` in a PNG.
function countColour(file, rgb) {
  const png = PNG.sync.read(fs.readFileSync(file));
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (png.data[i] === rgb[0] && png.data[i + 1] === rgb[1] && png.data[i + 2] === rgb[2]) n++;
  }
  return n;
}

// Rows the page shows for one rollup: [{height, verified, badge}].
const rowsOf = (page, rollup) =>
  page.$$eval(`[data-rollup="${rollup}"] tbody tr`, (trs) =>
    trs.map((tr) => ({
      height: Number(tr.dataset.height),
      verified: tr.dataset.verified === "true",
      badge: tr.querySelector(".badge").textContent,
      title: tr.querySelector(".badge").title,
    })),
  );

async function waitFor(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last.ok) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  return { ...last, ok: false, timedOut: `${what}: not within ${timeoutMs / 1000} s` };
}

// A page with `tamper` available to its scripts (for the paste-box check).
async function newPage(browser) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  await page.addInitScript(`window.__tamper = ${tamper.toString()};`);
  return page;
}

async function honestPage(browser) {
  const page = await newPage(browser);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const status = await page.request.post(new URL(url).origin + "/", {
    data: { jsonrpc: "2.0", id: 1, method: "ordo_status", params: [] },
  });
  const registered = (await status.json()).result.rollups.map((r) => r.id);
  await page.goto(url);
  const rollups = await waitFor(
    "rollup sections",
    async () => {
      const ids = await page.$$eval("[data-rollup]", (s) => s.map((e) => Number(e.dataset.rollup)));
      return { ok: ids.length === registered.length && ids.length >= 2, ids };
    },
    30000,
  );
  check("page lists every rollup", rollups.ok, `rollups ${rollups.ids} of ${registered}`);
  const ids = rollups.ids ?? [];

  const first = await waitFor(
    "verified blocks",
    async () => {
      const rows = await Promise.all(ids.map((id) => rowsOf(page, id)));
      return { ok: rows.every((r) => r.filter((x) => x.verified).length >= 3), rows };
    },
    30000,
  );
  check("each rollup shows blocks verified in the browser", first.ok,
    ids.map((id, i) => `${id}: ${(first.rows?.[i] ?? []).length} rows`).join(", "));
  const top = (rows) => Math.max(0, ...rows.map((r) => r.height));
  const before = ids.map((_, i) => top(first.rows?.[i] ?? []));
  const advanced = await waitFor(
    "new blocks",
    async () => {
      const rows = await Promise.all(ids.map((id) => rowsOf(page, id)));
      return { ok: rows.every((r, i) => top(r) >= before[i] + 2), after: rows.map(top) };
    },
    30000,
  );
  check("blocks advance", advanced.ok, `heights ${before} -> ${advanced.after}`);
  const rows = (await Promise.all(ids.map((id) => rowsOf(page, id)))).flat();
  const notVerified = rows.filter((r) => !r.verified);
  check("no certificate fails from an honest node", notVerified.length === 0,
    notVerified.map((r) => r.title).join("; "));
  check("badges say verified", rows.every((r) => r.badge === "verified"));

  const validators = await page.$$eval("#validators tr", (trs) =>
    trs.map((tr) => tr.querySelector(".badge").textContent));
  const silent = validators.filter((v) => v === "silent").length;
  check("validators' health", validators.length >= 4 && silent === expectSilent,
    `${validators.length} validators, ${silent} silent (expected ${expectSilent})`);
  const latency = await page.textContent("#latency");
  const tps = await page.textContent("#tps");
  check("latency and tx/s shown", /ms$/.test(latency) && /^\d+(\.\d)?$/.test(tps), `p50/p99 ${latency}, ${tps} tx/s`);

  // The paste box: a batch fetched from the node verifies; the same with a flipped signature byte fails.
  const pasted = await page.evaluate(async (rollup) => {
    const call = async (method, params) =>
      (await (await fetch("/", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) })).json()).result;
    const status = await call("ordo_status", []);
    const batch = await call("ordo_getRollupBatch", [rollup, status.indexedHeight]);
    const results = [];
    for (const text of [JSON.stringify({ result: batch }), window.__tamper(batch).encoded]) {
      document.getElementById("paste").value = text;
      document.getElementById("check").click();
      results.push(document.getElementById("check-result").textContent);
    }
    return results;
  }, ids[0]).catch((e) => [String(e), ""]);
  check("pasted certificate verifies", /^verified: rollup batch OK/.test(pasted[0]), pasted[0]);
  check("pasted tampered certificate fails", /^failed: /.test(pasted[1]), pasted[1]);

  const shot = path.join(outDir, "live.png");
  await page.screenshot({ path: shot, fullPage: true });
  const green = countColour(shot, GREEN);
  check("screenshot shows verified badges", green > 2000, `${green} green pixels in ${shot}`);
  for (const id of ids) {
    const part = path.join(outDir, `rollup-${id}.png`);
    await page.locator(`[data-rollup="${id}"]`).screenshot({ path: part });
    const red = countColour(part, RED);
    check(`screenshot of rollup ${id}: no failed badge`, red === 0, `${red} red pixels`);
  }
  check("no script errors", errors.length === 0, errors.join("; "));
  await page.close();
  return ids;
}

async function tamperedPage(browser, ids) {
  const [victim, other] = ids;
  const page = await newPage(browser);
  // A real signature of another block (a valid G1 point, signed by the group, over another proposal).
  const origin = new URL(url).origin;
  const foreign = await page.request.post(origin + "/", {
    data: { jsonrpc: "2.0", id: 1, method: "ordo_getRollupBatch", params: [other, 1] },
  });
  const foreignSignature = (await foreign.json()).result.certificate.signature;
  // A node that lies about one rollup: every batch of `victim` it returns carries that signature.
  await page.route((u) => u.pathname === "/", async (route) => {
    const request = route.request();
    const body = request.postDataJSON?.() ?? null;
    if (request.method() !== "POST" || body?.method !== "ordo_getRollupBatches" || body.params[0] !== victim) {
      return route.continue();
    }
    const response = await route.fetch();
    const json = await response.json();
    json.result = (json.result ?? []).map((batch) => swapSignature(batch, foreignSignature));
    return route.fulfill({ response, json });
  });
  await page.goto(url);
  const seen = await waitFor(
    "tampered rows",
    async () => {
      const bad = await rowsOf(page, victim);
      const good = await rowsOf(page, other);
      return {
        ok: bad.length >= 3 && good.filter((r) => r.verified).length >= 3,
        bad,
        good,
      };
    },
    30000,
  );
  const bad = seen.bad ?? [];
  check("tampered certificates are reported failed",
    bad.length >= 3 && bad.every((r) => !r.verified && r.badge === "failed" && /does not verify/.test(r.title)),
    bad.map((r) => `${r.height}: ${r.title}`).slice(0, 2).join("; ") || seen.timedOut);
  check("the other rollup still verifies", (seen.good ?? []).every((r) => r.verified), `${(seen.good ?? []).length} rows`);
  const part = path.join(outDir, `tampered-rollup-${victim}.png`);
  await page.locator(`[data-rollup="${victim}"]`).screenshot({ path: part });
  const red = countColour(part, RED);
  check("screenshot of the tampered rollup shows failed badges", red > 500, `${red} red pixels in ${part}`);
  const counts = await page.textContent("#checked");
  check("failures counted", /[1-9]\d* ✗$/.test(counts), counts);
  await page.screenshot({ path: path.join(outDir, "tampered.png"), fullPage: true });
  await page.close();
}

// Puts another block's signature in place of a rollup batch's own, inside its codec bytes.
function swapSignature(batch, signature) {
  const own = batch.certificate.signature.slice(2);
  if (!batch.encoded.includes(own)) throw new Error("signature not found in the encoded batch");
  return { ...batch, encoded: batch.encoded.replace(own, signature.slice(2)) };
}

// Flips one byte of the BLS signature inside a rollup batch's codec bytes.
function tamper(batch) {
  const sig = batch.certificate.signature.slice(2);
  const at = batch.encoded.indexOf(sig);
  if (at < 0) throw new Error("signature not found in the encoded batch");
  const i = at + 2 * 20;
  const flipped = ((parseInt(batch.encoded.substr(i, 2), 16) ^ 0x01) >>> 0).toString(16).padStart(2, "0");
  return { ...batch, encoded: batch.encoded.slice(0, i) + flipped + batch.encoded.slice(i + 2) };
}

async function main() {
  const watchdog = setTimeout(() => {
    console.error("live page test: timed out after 180 s");
    process.exit(1);
  }, 180000);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const ids = await honestPage(browser);
    if (ids.length >= 2) await tamperedPage(browser, ids);
    else check("two rollups to compare", false);
  } finally {
    await browser.close();
    clearTimeout(watchdog);
  }
  console.log(`screenshots in ${outDir}`);
  console.log(`live page: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
