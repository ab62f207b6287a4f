//! `make bench`: throughput, preconfirmation latency and recovery times of local validators,
//! next to a CometBFT network measured the same way in the same run.
//!
//! 1. Ordo, real `ordo-node` processes on loopback: 10 s idle (time and CPU per empty block);
//!    saturation with 200-byte transactions over 3 rollups from concurrent clients (ordered =
//!    finalized tx/s); then half that rate, offered steadily (the clients take turns, one batch
//!    every `100 / rate` s): submit -> notarized (preconfirmation, also split at the block's
//!    timestamp into submit -> proposed and proposed -> notarized) and submit -> finalized seen
//!    by a WebSocket subscriber, next to each validator's own accepted -> notarized figure and
//!    block stages (`ordo_status`), and the subscriber's notice per block; the same at a low load (300 tx/s, a leader mostly idle); kill -9 of the leader -> a block of
//!    another leader notarized (the killed validator restarted and caught up before the next
//!    run); kill -9 of all, restart -> the first block proposed after the kill notarized; each
//!    recovery `--recovery-runs` times (default 5, 3 with `--quick`), reported as every run,
//!    p50 and max.
//! 2. The same offered rate on a fresh cluster whose validators reach each other through relays
//!    holding each direction for `--delay-ms`, one per ordered pair (clients are not delayed).
//! 3. CometBFT with its kvstore app: the same transaction size, clients and submission method
//!    (`broadcast_tx_sync` in batches), committed transactions read from its blocks; saturation,
//!    half of its own saturation, the same recoveries (kill -9 of the proposer of the newest
//!    block -> a block of another proposer committed; kill -9 of all, restart -> the first block
//!    with a time after the kill committed), and the half rate with the same delay.
//!
//! Prints one JSON line and a short table with the Ordo/CometBFT ratios (the machine's noise
//! hits both). A part that cannot run is printed as skipped with its reason, never as a figure.

use anyhow::{bail, Context as _, Result};
use futures::future::BoxFuture;
use jsonrpsee::{
    core::client::SubscriptionClientT, http_client::HttpClient, rpc_params,
    ws_client::WsClientBuilder,
};
use ordo_rpc::view::{Finality, ReceiptNotification};
use ordo_tests::{
    cluster::Cluster,
    cometbft::CometNet,
    network::Network,
    relay::{self, Links},
    txgen,
};
use serde_json::{json, Value};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The harness shares the 2 cores with the validators it measures: the allocator the nodes use
/// keeps its own share small (with glibc's, malloc was ~7% of the machine at saturation).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROLLUPS: [u64; 3] = [901, 902, 903];
const TX_BYTES: usize = 200;
/// Transactions per submission (one JSON-RPC batch).
const BATCH: usize = 100;
/// How long to wait for offered transactions to be finalized after a load phase.
const SETTLE: Duration = Duration::from_secs(60);

const USAGE: &str = "\
usage: ordo-bench [options]   (what each phase measures: tests/src/bin/bench.rs)
  --validators N         validators of each network (4)
  --seconds N            length of each load phase (10; 4 with --quick)
  --clients N            concurrent clients (32)
  --block-interval-ms N  least time between blocks, Ordo and CometBFT alike (20)
  --delay-ms N           one-way delay between validators in the delayed runs (50)
  --recovery-runs N      runs of each recovery measure (5; 3 with --quick)
  --load-tx-per-s N      rate of the latency phases (half of each network's saturation), so
                         latency of two builds is compared at the same load
  --set SECTION.KEY=V    set a key of every Ordo validator's config (repeatable), e.g.
                         --set consensus.optimistic_views=2; V is a TOML value
  --quick                shorter phases and fewer runs
  --no-ordo, --no-cometbft, --no-delay   leave that part out
Environment: ORDO_NODE (the node binary), COMETBFT_BIN, ORDO_KEEP_LOGS (keep each cluster's
directory and validator logs; the validators log at RUST_LOG).";

struct Options {
    validators: usize,
    /// Length of each load phase.
    seconds: u64,
    clients: usize,
    block_interval_ms: u64,
    delay: Duration,
    /// How often each recovery (leader failover, full restart) is measured.
    recovery_runs: usize,
    /// The latency phases' rate, if not half of each network's saturation.
    load_tx_per_s: Option<f64>,
    /// Why the runs with the delay are not made, if they are not.
    skip_delay: Option<String>,
    ordo: bool,
    cometbft: bool,
    /// `--set` overrides of the Ordo validators' configs: (path of keys, value).
    overrides: Vec<(Vec<String>, toml::Value)>,
}

impl Options {
    /// What the latency phases offer: the rate asked for, or half of the saturation measured.
    fn latency_rate(&self, saturation: &Value) -> f64 {
        self.load_tx_per_s
            .unwrap_or_else(|| saturation["tx_per_s"].as_f64().unwrap_or(0.0) / 2.0)
    }

    fn parse() -> Result<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let known = [
            "--validators",
            "--seconds",
            "--clients",
            "--block-interval-ms",
            "--delay-ms",
            "--recovery-runs",
            "--load-tx-per-s",
            "--set",
        ];
        let flags = ["--quick", "--no-ordo", "--no-cometbft", "--no-delay"];
        let mut i = 0;
        while i < args.len() {
            if known.contains(&args[i].as_str()) && i + 1 < args.len() {
                i += 2;
            } else if flags.contains(&args[i].as_str()) {
                i += 1;
            } else {
                bail!("unknown argument `{}`\n{USAGE}", args[i]);
            }
        }
        let value = |name: &str, default: u64| -> Result<u64> {
            match args.iter().position(|a| a == name) {
                Some(i) => args[i + 1]
                    .parse()
                    .with_context(|| format!("{name} takes a number")),
                None => Ok(default),
            }
        };
        let flag = |name: &str| args.iter().any(|a| a == name);
        let quick = flag("--quick");
        Ok(Self {
            validators: value("--validators", 4)? as usize,
            seconds: value("--seconds", if quick { 4 } else { 10 })?,
            // Fewer clients leave the cluster idle between their round trips (6 reached ~3,900
            // tx/s, 16 ~6,900, 32 ~7,800 on 2 cores): saturation needs many in flight.
            clients: value("--clients", 32)? as usize,
            block_interval_ms: value("--block-interval-ms", 20)?,
            delay: Duration::from_millis(value("--delay-ms", 50)?),
            recovery_runs: value("--recovery-runs", if quick { 3 } else { 5 })? as usize,
            load_tx_per_s: match value("--load-tx-per-s", 0)? {
                0 => None,
                rate => Some(rate as f64),
            },
            skip_delay: flag("--no-delay").then(|| "--no-delay".to_string()),
            ordo: !flag("--no-ordo"),
            cometbft: !flag("--no-cometbft"),
            overrides: args
                .iter()
                .zip(args.iter().skip(1))
                .filter(|(name, _)| *name == "--set")
                .map(|(_, set)| parse_override(set))
                .collect::<Result<_>>()?,
        })
    }

    /// Applies the `--set` overrides to each validator's config.
    fn configure(&self) -> ordo_tests::cluster::Configure {
        let overrides = self.overrides.clone();
        Box::new(move |_, config| {
            for (path, value) in &overrides {
                if let Err(e) = apply_override(config, path, value.clone()) {
                    eprintln!("{e:#}");
                    std::process::exit(2);
                }
            }
        })
    }
}

/// Sets `path` (sections, then the key) in `config` to `value`, creating missing sections.
fn apply_override(config: &mut toml::Table, path: &[String], value: toml::Value) -> Result<()> {
    let (last, sections) = path.split_last().context("--set: empty key")?;
    let mut table = config;
    for key in sections {
        table = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()))
            .as_table_mut()
            .with_context(|| {
                format!(
                    "--set {}: `{key}` is a value, not a section",
                    path.join(".")
                )
            })?;
    }
    table.insert(last.clone(), value);
    Ok(())
}

/// `consensus.optimistic_views=2` -> (["consensus", "optimistic_views"], 2).
fn parse_override(set: &str) -> Result<(Vec<String>, toml::Value)> {
    let (path, value) = set
        .split_once('=')
        .with_context(|| format!("--set {set}: expected SECTION.KEY=VALUE"))?;
    let path: Vec<String> = path.split('.').map(|k| k.trim().to_string()).collect();
    if path.len() < 2 || path.iter().any(String::is_empty) {
        bail!("--set {set}: expected SECTION.KEY=VALUE");
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .with_context(|| format!("--set {set}: {value} is not a TOML value"))?
        .remove("v")
        .expect("parsed one key");
    Ok((path, value))
}

/// A transaction as the timeline knows it: Ordo's 32-byte hash, or the keccak of the base64 text
/// CometBFT's blocks carry. Fixed-size keys, not the names as text: with 66-character (Ordo) and
/// 268-character (CometBFT) strings, hashing the names, growing the maps and zeroing their pages
/// were a third of the load client's CPU at saturation, which it takes from the validators.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Name([u8; 32]);

impl Name {
    /// An Ordo transaction hash (`0x` and 64 hex digits), as the RPC writes it.
    fn ordo(hash: &str) -> Option<Self> {
        hex::decode_to_array(hash).ok().map(Self)
    }

    /// A CometBFT transaction, base64 as its RPC writes it.
    fn comet(base64: &str) -> Self {
        Self(alloy_primitives::keccak256(base64.as_bytes()).0)
    }
}

/// Transaction names to instants.
type ByName = std::collections::HashMap<Name, Instant, foldhash::fast::RandomState>;

/// When the client saw each transaction (by the name its system gives it) submitted, notarized
/// (a preconfirmation; Ordo only) and finalized (CometBFT: committed).
#[derive(Default)]
struct Timeline {
    submitted: ByName,
    /// When the leader proposed the block that carries it (Ordo only: the block's timestamp).
    proposed: ByName,
    notarized: ByName,
    finalized: ByName,
    /// Per notarized block the subscription announced: its timestamp -> the notice reached the
    /// client (Ordo only; compare with the observed validator's own `blockLatency.notarized`).
    notices: Vec<Duration>,
}

/// A block timestamp (ms since the Unix epoch, the leader's clock: this machine's) as an
/// [`Instant`] of this process, to the millisecond.
fn instant_of_unix_ms(ms: u64) -> Instant {
    static ANCHOR: std::sync::OnceLock<(Instant, u128)> = std::sync::OnceLock::new();
    let (at, unix_ms) = *ANCHOR.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (Instant::now(), now.as_millis())
    });
    let ms = ms as u128;
    if ms >= unix_ms {
        at + Duration::from_millis((ms - unix_ms) as u64)
    } else {
        at.checked_sub(Duration::from_millis((unix_ms - ms) as u64))
            .unwrap_or(at)
    }
}

type SharedTimeline = Arc<Mutex<Timeline>>;

/// A system under load.
trait Target: Send + Sync {
    /// Submits batch `round` of client `client` (distinct for each `salt`).
    fn submit(&self, client: usize, round: u64, salt: u64) -> BoxFuture<'static, Submitted>;
}

/// The answer to one batch.
#[derive(Default)]
struct Submitted {
    /// Names of the accepted transactions.
    accepted: Vec<Name>,
    refused: usize,
    /// Why (the first refusal), so a run that measured nothing says why.
    refusal: Option<String>,
}

impl Submitted {
    fn failed(count: usize, e: anyhow::Error) -> Self {
        Self {
            accepted: Vec::new(),
            refused: count,
            refusal: Some(format!("{e:#}")),
        }
    }
}

/// Clients spread their batches over every validator's RPC, each over a kept connection pool.
struct OrdoTarget {
    clients: Vec<HttpClient>,
}

impl Target for OrdoTarget {
    fn submit(&self, client: usize, round: u64, salt: u64) -> BoxFuture<'static, Submitted> {
        let rollup = ROLLUPS[(client + round as usize) % ROLLUPS.len()];
        let txs = txgen::opaque(BATCH, TX_BYTES, unique(salt, client, round));
        let rpc = self.clients[(client + round as usize) % self.clients.len()].clone();
        Box::pin(async move {
            let named = Cluster::submit_with(&rpc, rollup, &txs)
                .await
                .and_then(|hashes| {
                    hashes
                        .iter()
                        .map(|h| Name::ordo(h).with_context(|| format!("hash {h} is not 32 bytes")))
                        .collect()
                });
            match named {
                Ok(accepted) => Submitted {
                    accepted,
                    ..Default::default()
                },
                Err(e) => Submitted::failed(txs.len(), e),
            }
        })
    }
}

struct CometTarget {
    clients: Vec<HttpClient>,
}

impl Target for CometTarget {
    fn submit(&self, client: usize, round: u64, salt: u64) -> BoxFuture<'static, Submitted> {
        let txs = txgen::key_value(BATCH, TX_BYTES, unique(salt, client, round));
        let rpc = self.clients[(client + round as usize) % self.clients.len()].clone();
        Box::pin(async move {
            match CometNet::submit_with(&rpc, &txs).await {
                Ok((accepted, refused, refusal)) => Submitted {
                    accepted: accepted.iter().map(|tx| Name::comet(tx)).collect(),
                    refused,
                    refusal,
                },
                Err(e) => Submitted::failed(txs.len(), e),
            }
        })
    }
}

fn unique(salt: u64, client: usize, round: u64) -> u64 {
    (salt << 48) | ((client as u64) << 32) | round
}

/// What a load phase offered: accepted and refused transactions, and the first refusal.
#[derive(Default)]
struct Offered {
    accepted: usize,
    refused: usize,
    refusal: Option<String>,
}

impl Offered {
    fn add(&mut self, other: Offered) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.refusal = self.refusal.take().or(other.refusal);
    }
}

/// Offers load from `clients` concurrent clients (each submits a batch and waits for the
/// answer) for `duration` at `rate` tx/s in total (0 = as fast as they go).
async fn offer(
    target: Arc<dyn Target>,
    timeline: &SharedTimeline,
    clients: usize,
    duration: Duration,
    rate: f64,
    salt: u64,
) -> Offered {
    if rate > 0.0 {
        progress(&format!("offering {rate:.0} tx/s for {duration:?}"));
    } else {
        progress(&format!(
            "offering all {clients} clients can send for {duration:?}"
        ));
    }
    let mut tasks = Vec::new();
    for c in 0..clients {
        let target = target.clone();
        let timeline = timeline.clone();
        tasks.push(tokio::spawn(async move {
            let begin = Instant::now();
            // At a set rate the clients take turns, one batch every `BATCH / rate`: started
            // together they sent all their batches at once, one burst of `clients x BATCH`
            // transactions per period, and latency measured how long a burst took to clear.
            let (start, period) = if rate > 0.0 {
                let period = Duration::from_secs_f64(BATCH as f64 * clients as f64 / rate);
                let start = begin + period.mul_f64(c as f64 / clients as f64);
                tokio::time::sleep_until(start.into()).await;
                (start, Some(period))
            } else {
                (begin, None)
            };
            let mut offered = Offered::default();
            let mut round = 0u64;
            while begin.elapsed() < duration {
                let at = Instant::now();
                let answer = target.submit(c, round, salt).await;
                round += 1;
                let refused_all = answer.refused == BATCH;
                offered.add(Offered {
                    accepted: answer.accepted.len(),
                    refused: answer.refused,
                    refusal: answer.refusal,
                });
                {
                    let mut t = timeline.lock().unwrap();
                    for name in answer.accepted {
                        t.submitted.insert(name, at);
                    }
                }
                if let Some(period) = period {
                    tokio::time::sleep_until((start + period * round as u32).into()).await;
                } else if refused_all {
                    // Refused outright (overloaded or down): do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            offered
        }));
    }
    let mut total = Offered::default();
    for t in tasks {
        if let Ok(offered) = t.await {
            total.add(offered);
        }
    }
    total
}

/// Waits until every submitted transaction is finalized (or `timeout`).
async fn settle(timeline: &SharedTimeline, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        {
            let t = timeline.lock().unwrap();
            // The count first: the full check walks every submitted transaction.
            if t.finalized.len() >= t.submitted.len()
                && t.submitted.keys().all(|h| t.finalized.contains_key(h))
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A line on stderr saying what the run is doing now (it takes minutes), with the time since
/// it started: the phases can be matched with a profile or `vmstat` taken alongside.
fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let since = START.get_or_init(Instant::now).elapsed();
    eprintln!("[bench {:>6.1} s] {what}", since.as_secs_f64());
}

fn percentile_ms(v: &mut [Duration], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// Saturation: everything `clients` can push for `duration`, then until it is all finalized.
/// Ordered tx/s = finalized transactions / (last finalization - start).
async fn saturate(
    target: Arc<dyn Target>,
    timeline: &SharedTimeline,
    clients: usize,
    duration: Duration,
    salt: u64,
) -> Result<Value> {
    *timeline.lock().unwrap() = Timeline::default();
    let start = Instant::now();
    let offered = offer(target, timeline, clients, duration, 0.0, salt).await;
    let accepted = offered.accepted;
    settle(timeline, SETTLE).await;
    let t = timeline.lock().unwrap();
    let finalized: Vec<Instant> = t
        .submitted
        .keys()
        .filter_map(|h| t.finalized.get(h).copied())
        .collect();
    let Some(last) = finalized.iter().max() else {
        bail!(
            "none of {accepted} accepted transactions was finalized within {SETTLE:?} ({} refused{})",
            offered.refused,
            offered.refusal.map(|r| format!(", first: {r}")).unwrap_or_default()
        );
    };
    let seconds = last.duration_since(start).as_secs_f64();
    let tps = finalized.len() as f64 / seconds;
    Ok(json!({
        "accepted": accepted,
        "refused": offered.refused,
        "first_refusal": offered.refusal,
        "finalized": finalized.len(),
        "unfinalized": accepted.saturating_sub(finalized.len()),
        "seconds": seconds,
        "tx_per_s": tps,
        "mb_per_s": tps * TX_BYTES as f64 / 1e6,
    }))
}

/// Latency at `rate` tx/s: submit -> notarized and submit -> finalized, as the client saw them.
async fn latency(
    target: Arc<dyn Target>,
    timeline: &SharedTimeline,
    clients: usize,
    duration: Duration,
    rate: f64,
    salt: u64,
) -> Result<Value> {
    *timeline.lock().unwrap() = Timeline::default();
    let offered = offer(target, timeline, clients, duration, rate, salt).await;
    let accepted = offered.accepted;
    settle(timeline, SETTLE).await;
    let t = timeline.lock().unwrap();
    let since_submit = |m: &ByName| -> Vec<Duration> {
        t.submitted
            .iter()
            .filter_map(|(h, s)| m.get(h).map(|at| at.saturating_duration_since(*s)))
            .collect()
    };
    let (mut notarized, mut finalized) = (since_submit(&t.notarized), since_submit(&t.finalized));
    // Submit -> notarized in two parts: until the leader proposed the block (the relay to the
    // leader and the wait for its next proposal), and from the proposal to the notarization
    // (the view: the block to the verifiers, their checks and votes, the subscriber's notice).
    let mut to_proposal = since_submit(&t.proposed);
    let mut view: Vec<Duration> = t
        .proposed
        .iter()
        .filter_map(|(h, p)| t.notarized.get(h).map(|n| n.saturating_duration_since(*p)))
        .collect();
    if finalized.is_empty() {
        bail!(
            "none of {accepted} accepted transactions was finalized within {SETTLE:?} ({} refused{})",
            offered.refused,
            offered.refusal.map(|r| format!(", first: {r}")).unwrap_or_default()
        );
    }
    let mut report = json!({
        "offered_tx_per_s": rate,
        "seconds": duration.as_secs_f64(),
        "accepted": accepted,
        "refused": offered.refused,
        "first_refusal": offered.refusal,
        "unfinalized": accepted.saturating_sub(finalized.len()),
        "finalized_p50_ms": percentile_ms(&mut finalized, 0.5),
        "finalized_p99_ms": percentile_ms(&mut finalized, 0.99),
    });
    if !notarized.is_empty() {
        report["notarized_p50_ms"] = json!(percentile_ms(&mut notarized, 0.5));
        report["notarized_p99_ms"] = json!(percentile_ms(&mut notarized, 0.99));
    }
    if !to_proposal.is_empty() {
        report["proposed_p50_ms"] = json!(percentile_ms(&mut to_proposal, 0.5));
        report["proposed_p99_ms"] = json!(percentile_ms(&mut to_proposal, 0.99));
        report["proposal_to_notarized_p50_ms"] = json!(percentile_ms(&mut view, 0.5));
        report["proposal_to_notarized_p99_ms"] = json!(percentile_ms(&mut view, 0.99));
    }
    if !t.notices.is_empty() {
        let mut notices = t.notices.clone();
        report["observed_blocks"] = json!(notices.len());
        report["observed_block_notice_p50_ms"] = json!(percentile_ms(&mut notices, 0.5));
    }
    Ok(report)
}

/// Records notarized and finalized receipts from validator `rpc`'s WebSocket subscription
/// (each notification carries the receipts of one certified block).
async fn observe_ordo(
    rpc: std::net::SocketAddr,
    timeline: SharedTimeline,
) -> Result<tokio::task::JoinHandle<()>> {
    let ws = WsClientBuilder::default()
        .max_buffer_capacity_per_subscription(1 << 20)
        .build(format!("ws://{rpc}"))
        .await
        .context("websocket")?;
    let mut sub = ws
        .subscribe::<ReceiptNotification, _>(
            "ordo_subscribeReceipts",
            rpc_params![],
            "ordo_unsubscribeReceipts",
        )
        .await?;
    Ok(tokio::spawn(async move {
        let _ws = ws;
        while let Some(Ok(block)) = sub.next().await {
            let now = Instant::now();
            let mut t = timeline.lock().unwrap();
            let proposed = instant_of_unix_ms(block.timestamp_ms);
            if block.status == Finality::Notarized {
                t.notices.push(now.saturating_duration_since(proposed));
            }
            for name in block.txs.iter().filter_map(|tx| Name::ordo(&tx.tx_hash)) {
                match block.status {
                    Finality::Notarized => {
                        t.proposed.entry(name).or_insert(proposed);
                        t.notarized.entry(name).or_insert(now)
                    }
                    Finality::Finalized => t.finalized.entry(name).or_insert(now),
                    _ => continue,
                };
            }
        }
    }))
}

/// Records committed transactions from validator `client`'s blocks, polled every 5 ms
/// (CometBFT's WebSocket events need a client of its own protocol; the poll adds at most 5 ms).
fn observe_comet(client: HttpClient, timeline: SharedTimeline) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = CometNet::height(&client).await.unwrap_or(0);
        loop {
            if let Ok(height) = CometNet::height(&client).await {
                while seen < height {
                    let Ok(txs) = CometNet::block_txs(&client, seen + 1).await else {
                        break;
                    };
                    seen += 1;
                    let now = Instant::now();
                    let mut t = timeline.lock().unwrap();
                    for tx in txs {
                        t.finalized.entry(Name::comet(&tx)).or_insert(now);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

/// Evidence that validator traffic went through the relays: connections and bytes of each pair
/// of validators (through either of its two relays: which one dials the other is up to the
/// nodes and their start order). An error if a pair exchanged nothing through them.
fn relay_report(links: &Links, validators: usize) -> Result<Value> {
    let mut traffic = Vec::new();
    let mut silent = Vec::new();
    for a in 0..validators {
        for b in a + 1..validators {
            let relays = [links.relay(a, b), links.relay(b, a)];
            let bytes: u64 = relays.iter().map(|r| r.bytes()).sum();
            let connections: u64 = relays.iter().map(|r| r.connections()).sum();
            traffic
                .push(json!({ "validators": [a, b], "connections": connections, "bytes": bytes }));
            if bytes == 0 {
                silent.push((a, b));
            }
        }
    }
    if !silent.is_empty() {
        bail!("validators {silent:?} never reached each other through their delay relays: {traffic:?}");
    }
    Ok(json!(traffic))
}

/// The rate of the low-load phase: a lightly used chain (3 batches of 100 a second), where a
/// transaction finds the leader idle, as a dApp developer's usually does.
const LOW_LOAD_TX_PER_S: f64 = 300.0;

/// How long the idle cluster is watched.
const IDLE: Duration = Duration::from_secs(10);

/// The cost of consensus alone: how often an idle cluster orders a (empty) block and the CPU its
/// validators spend per block, all of them together. A view's work (the threshold certificates'
/// pairings, commonware's journal and archive writes, the messages) is paid by every block
/// whatever it carries.
async fn idle_cost(cluster: &Cluster, watch: Duration) -> Result<Value> {
    progress(&format!("idle for {watch:?}"));
    let pids = cluster.processes().pids();
    let (height, cpu, start) = (
        cluster.final_height(0).await?,
        cpu_seconds(&pids)?,
        Instant::now(),
    );
    tokio::time::sleep(watch).await;
    let blocks = cluster.final_height(0).await?.saturating_sub(height);
    let (cpu, seconds) = (cpu_seconds(&pids)? - cpu, start.elapsed().as_secs_f64());
    if blocks == 0 {
        bail!("no block finalized in {seconds:.1} s of idling");
    }
    Ok(json!({
        "seconds": seconds,
        "blocks": blocks,
        "ms_per_block": seconds * 1000.0 / blocks as f64,
        "cpu_ms_per_block": cpu * 1000.0 / blocks as f64,
        "cores_busy": cpu / seconds,
    }))
}

/// CPU time (user + system) the processes `pids` have used, from `/proc/<pid>/stat`.
fn cpu_seconds(pids: &[u32]) -> Result<f64> {
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
    const TICKS_PER_S: f64 = 100.0;
    let mut ticks = 0u64;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("/proc/{pid}/stat"))?;
        ticks += cpu_ticks(&stat).with_context(|| format!("/proc/{pid}/stat: {stat}"))?;
    }
    Ok(ticks as f64 / TICKS_PER_S)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count from its last `)`,
    // after which field 3 comes first.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// Ordo: idle, saturation, half load, low load, leader failover, full restart; then the half
/// load again with the delay between validators.
async fn ordo(opts: &Options) -> Result<Value> {
    progress(&format!("Ordo: {} validators", opts.validators));
    let rollups = ROLLUPS.map(|r| format!("{r}:opaque")).join(",");
    let phase = Duration::from_secs(opts.seconds);
    let mut cluster = Cluster::start_with(
        opts.validators,
        &rollups,
        opts.block_interval_ms,
        &[],
        opts.configure(),
    )?;
    cluster.wait_finalized(2, Duration::from_secs(60)).await?;
    // What `node.runtime` came to on this machine (io_uring or tokio), as validator 0 says.
    let runtime = cluster.status(0).await?["runtime"].clone();
    let idle = idle_cost(&cluster, IDLE).await.unwrap_or_else(error);
    let timeline: SharedTimeline = Default::default();
    let observer = observe_ordo(cluster.rpc[0], timeline.clone()).await?;
    let target: Arc<dyn Target> = Arc::new(OrdoTarget {
        clients: (0..cluster.len()).map(|i| cluster.client(i)).collect(),
    });
    let saturation = saturate(target.clone(), &timeline, opts.clients, phase, 1).await?;
    let half = opts.latency_rate(&saturation);
    let before = NodeFigures::read(&cluster).await?;
    let mut half_load = latency(target.clone(), &timeline, opts.clients, phase, half, 2).await?;
    NodeFigures::read(&cluster)
        .await?
        .since(before)
        .add_to(&mut half_load);
    let before = NodeFigures::read(&cluster).await?;
    let mut low_load = latency(
        target.clone(),
        &timeline,
        opts.clients,
        phase,
        LOW_LOAD_TX_PER_S,
        7,
    )
    .await
    .unwrap_or_else(error);
    if low_load.get("error").is_none() {
        NodeFigures::read(&cluster)
            .await?
            .since(before)
            .add_to(&mut low_load);
    }
    observer.abort();

    let failover = recovery(opts.recovery_runs, &mut cluster, leader_failover).await;
    let restart = recovery(opts.recovery_runs, &mut cluster, full_restart).await;
    drop(cluster);

    let delayed = if let Some(reason) = &opts.skip_delay {
        json!({ "skipped": reason })
    } else {
        ordo_delayed(opts, &rollups, half)
            .await
            .unwrap_or_else(error)
    };
    let mut delayed = delayed;
    if let (Some(with), Some(without)) = (
        delayed["notarized_p50_ms"].as_f64(),
        half_load["notarized_p50_ms"].as_f64(),
    ) {
        // At least the relay to the leader, its proposal and the votes cross the delay.
        delayed["notarized_p50_rise_ms"] = json!(with - without);
    }
    Ok(json!({
        "runtime": runtime,
        "idle": idle,
        "saturation": saturation,
        "half_load": half_load,
        "low_load": low_load,
        "delayed": delayed,
        "leader_failover": failover,
        "full_restart": restart,
    }))
}

/// The stages of `ordo_status.blockLatency`, in the order a block goes through them.
const BLOCK_STAGES: [&str; 3] = ["arrival", "verification", "notarized"];

/// Each validator's own figures (`ordo_status`): its accepted -> notarized latency
/// (`preconfirmationLatency`, over its recent local submissions: no client or subscription in
/// the path) and where its recent blocks' time went (`blockLatency`).
struct NodeFigures {
    preconfirmation: Vec<Value>,
    /// Each validator's `blockLatency`: one summary per name in [`BLOCK_STAGES`].
    blocks: Vec<Value>,
}

impl NodeFigures {
    async fn read(cluster: &Cluster) -> Result<Self> {
        let mut figures = Self {
            preconfirmation: Vec::with_capacity(cluster.len()),
            blocks: Vec::with_capacity(cluster.len()),
        };
        for i in 0..cluster.len() {
            let status = cluster.status(i).await?;
            figures
                .preconfirmation
                .push(status["preconfirmationLatency"].clone());
            figures.blocks.push(status["blockLatency"].clone());
        }
        Ok(figures)
    }

    /// Marks in each summary how many of its window's samples came after `before` was read
    /// (`from_this_phase`: a slow phase leaves the previous phase's samples in the window).
    fn since(mut self, before: Self) -> Self {
        fn mark(after: &mut Value, before: &Value) {
            let added = after["total"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(before["total"].as_u64().unwrap_or(0));
            let window = after["window"].as_u64().unwrap_or(0);
            after["from_this_phase"] = json!(added.min(window));
        }
        for (after, before) in self.preconfirmation.iter_mut().zip(&before.preconfirmation) {
            mark(after, before);
        }
        for (after, before) in self.blocks.iter_mut().zip(&before.blocks) {
            for stage in BLOCK_STAGES {
                mark(&mut after[stage], &before[stage]);
            }
        }
        self
    }

    fn add_to(self, phase: &mut Value) {
        phase["node_preconfirmation"] = json!(self.preconfirmation);
        phase["node_blocks"] = json!(self.blocks);
    }
}

fn error(e: anyhow::Error) -> Value {
    json!({ "error": format!("{e:#}") })
}

/// Runs a recovery measure `runs` times in a row on one network: every run's figures (`ms` among
/// them) in `runs`, their `ms` in `runs_ms`, and the p50 (`ms`) and the maximum (`max_ms`). A
/// failed run ends the measure: then `error` says why, next to the runs before it, and there is
/// no p50 (the failure is the figure).
async fn recovery<N: Network>(
    runs: usize,
    network: &mut N,
    mut run: impl AsyncFnMut(&mut N) -> Result<Value>,
) -> Value {
    if runs == 0 {
        return json!({ "skipped": "--recovery-runs 0" });
    }
    progress(&format!("{runs} recovery runs"));
    let mut done = Vec::with_capacity(runs);
    let mut failure = None;
    for _ in 0..runs {
        match run(network).await {
            Ok(figures) => done.push(figures),
            Err(e) => {
                failure = Some(format!("run {} of {runs}: {e:#}", done.len() + 1));
                break;
            }
        }
    }
    let mut times: Vec<Duration> = done
        .iter()
        .filter_map(|r| r["ms"].as_f64())
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect();
    let runs_ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    let mut report = json!({ "runs": done, "runs_ms": runs_ms });
    match failure {
        Some(message) => report["error"] = json!(message),
        None => {
            report["ms"] = json!(percentile_ms(&mut times, 0.5));
            report["max_ms"] = json!(percentile_ms(&mut times, 1.0));
        }
    }
    report
}

/// kill -9 of the leader (CometBFT: the proposer of the newest block) -> a block of another
/// validator decided; then restarts it and lets it catch up, so that the next run starts from a
/// whole network.
async fn leader_failover<N: Network>(network: &mut N) -> Result<Value> {
    let failover = network.kill_leader(0, Duration::from_secs(30)).await?;
    network.spawn(failover.leader)?;
    network
        .wait_caught_up(failover.leader, Duration::from_secs(60))
        .await?;
    let caught_up = network.final_height(failover.observer).await? + 2;
    network
        .wait_finalized(caught_up, Duration::from_secs(60))
        .await?;
    Ok(json!({
        "killed": failover.leader,
        "observer": failover.observer,
        "ms": failover.elapsed.as_secs_f64() * 1000.0,
        "height": failover.height,
    }))
}

/// kill -9 of every validator, restart -> the first block proposed after the kill decided;
/// then waits until every validator holds it final, so that the next run starts from a whole
/// network.
async fn full_restart<N: Network>(network: &mut N) -> Result<Value> {
    let restart = network.restart_all(0, Duration::from_secs(60)).await?;
    network
        .wait_finalized(restart.height, Duration::from_secs(60))
        .await?;
    Ok(json!({
        "ms": restart.elapsed.as_secs_f64() * 1000.0,
        "height": restart.height,
    }))
}

async fn ordo_delayed(opts: &Options, rollups: &str, rate: f64) -> Result<Value> {
    progress(&format!(
        "Ordo: {} validators, {:?} between them",
        opts.validators, opts.delay
    ));
    let mut cluster = Cluster::create(
        opts.validators,
        rollups,
        opts.block_interval_ms,
        &[],
        opts.configure(),
    )?;
    let links = Links::new(&cluster.p2p, opts.delay).await?;
    cluster.route_peers(|from, to| links.address(from, to))?;
    cluster.spawn_all()?;
    cluster.wait_finalized(2, Duration::from_secs(60)).await?;
    let timeline: SharedTimeline = Default::default();
    let observer = observe_ordo(cluster.rpc[0], timeline.clone()).await?;
    let target: Arc<dyn Target> = Arc::new(OrdoTarget {
        clients: (0..cluster.len()).map(|i| cluster.client(i)).collect(),
    });
    let before = NodeFigures::read(&cluster).await?;
    let mut report = latency(
        target,
        &timeline,
        opts.clients,
        Duration::from_secs(opts.seconds),
        rate,
        3,
    )
    .await?;
    NodeFigures::read(&cluster)
        .await?
        .since(before)
        .add_to(&mut report);
    observer.abort();
    report["relays"] = relay_report(&links, opts.validators)?;
    Ok(report)
}

/// CometBFT: saturation, half of its saturation, leader failover, full restart; then the half
/// rate with the delay.
async fn cometbft(opts: &Options) -> Result<Value> {
    progress(&format!("CometBFT: {} validators", opts.validators));
    let phase = Duration::from_secs(opts.seconds);
    let mut net = CometNet::start(opts.validators, opts.block_interval_ms)?;
    if let Err(e) = net.wait_finalized(2, Duration::from_secs(60)).await {
        return Err(e.context(format!("logs kept in {}", net.keep_logs().display())));
    }
    let timeline: SharedTimeline = Default::default();
    let observer = observe_comet(net.client(0), timeline.clone());
    let target: Arc<dyn Target> = Arc::new(CometTarget {
        clients: (0..net.len()).map(|i| net.client(i)).collect(),
    });
    let saturation = saturate(target.clone(), &timeline, opts.clients, phase, 4).await;
    let result = match saturation {
        Ok(saturation) => {
            let half = opts.latency_rate(&saturation);
            latency(target, &timeline, opts.clients, phase, half, 5)
                .await
                .map(|l| (saturation, half, l))
        }
        Err(e) => Err(e),
    };
    observer.abort();
    let (saturation, half, half_load) = match result {
        Ok(figures) => figures,
        Err(e) => return Err(e.context(format!("logs kept in {}", net.keep_logs().display()))),
    };
    let mut failover = recovery(opts.recovery_runs, &mut net, leader_failover).await;
    let mut restart = recovery(opts.recovery_runs, &mut net, full_restart).await;
    if failover["error"].is_string() || restart["error"].is_string() {
        let logs = json!(net.keep_logs());
        for measure in [&mut failover, &mut restart] {
            if measure["error"].is_string() {
                measure["logs_kept_in"] = logs.clone();
            }
        }
    }
    let version = net.version.clone();
    drop(net);
    let delayed = if let Some(reason) = &opts.skip_delay {
        json!({ "skipped": reason })
    } else {
        cometbft_delayed(opts, half).await.unwrap_or_else(error)
    };
    Ok(json!({
        "version": version,
        "saturation": saturation,
        "half_load": half_load,
        "delayed": delayed,
        "leader_failover": failover,
        "full_restart": restart,
    }))
}

async fn cometbft_delayed(opts: &Options, rate: f64) -> Result<Value> {
    progress(&format!(
        "CometBFT: {} validators, {:?} between them",
        opts.validators, opts.delay
    ));
    let mut net = CometNet::create(opts.validators, opts.block_interval_ms)?;
    let links = Links::new(&net.p2p, opts.delay).await?;
    net.route_peers(|from, to| links.address(from, to))?;
    net.spawn_all()?;
    net.wait_finalized(2, Duration::from_secs(60)).await?;
    let timeline: SharedTimeline = Default::default();
    let observer = observe_comet(net.client(0), timeline.clone());
    let target: Arc<dyn Target> = Arc::new(CometTarget {
        clients: (0..net.len()).map(|i| net.client(i)).collect(),
    });
    let report = latency(
        target,
        &timeline,
        opts.clients,
        Duration::from_secs(opts.seconds),
        rate,
        6,
    )
    .await;
    observer.abort();
    let mut report = report?;
    report["relays"] = relay_report(&links, opts.validators)?;
    Ok(report)
}

/// Round trips through a relay in front of an echo server take twice the relay's delay.
async fn check_delay(delay: Duration) -> Result<Value> {
    let mut rtts = relay::echo_round_trips(delay, 10).await?;
    let p50 = percentile_ms(&mut rtts, 0.5);
    let expected = 2.0 * delay.as_secs_f64() * 1000.0;
    // Timers round up to the millisecond, and a busy machine adds some on top.
    if !(expected..expected + 30.0).contains(&p50) {
        bail!("the delay relay does not delay as configured: round trip {p50:.1} ms, expected {expected} ms");
    }
    Ok(json!({ "echo_rtt_p50_ms": p50, "expected_ms": expected }))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ratio(a: &Value, b: &Value) -> Value {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => json!(a / b),
        _ => Value::Null,
    }
}

/// Ordo / CometBFT for every figure both have (> 1: Ordo more tx/s, or slower).
fn ratios(ordo: &Value, comet: &Value) -> Value {
    let pick = |v: &Value, path: &[&str]| path.iter().fold(v.clone(), |v, k| v[*k].clone());
    let mut out = serde_json::Map::new();
    let pairs: [(&str, &[&str], &[&str]); 11] = [
        (
            "tx_per_s",
            &["saturation", "tx_per_s"],
            &["saturation", "tx_per_s"],
        ),
        (
            "finalized_p50",
            &["half_load", "finalized_p50_ms"],
            &["half_load", "finalized_p50_ms"],
        ),
        (
            "finalized_p99",
            &["half_load", "finalized_p99_ms"],
            &["half_load", "finalized_p99_ms"],
        ),
        (
            "notarized_vs_committed_p50",
            &["half_load", "notarized_p50_ms"],
            &["half_load", "finalized_p50_ms"],
        ),
        (
            "notarized_vs_committed_p99",
            &["half_load", "notarized_p99_ms"],
            &["half_load", "finalized_p99_ms"],
        ),
        (
            "delayed_finalized_p50",
            &["delayed", "finalized_p50_ms"],
            &["delayed", "finalized_p50_ms"],
        ),
        (
            "delayed_notarized_vs_committed_p50",
            &["delayed", "notarized_p50_ms"],
            &["delayed", "finalized_p50_ms"],
        ),
        (
            "leader_failover_p50",
            &["leader_failover", "ms"],
            &["leader_failover", "ms"],
        ),
        (
            "leader_failover_max",
            &["leader_failover", "max_ms"],
            &["leader_failover", "max_ms"],
        ),
        (
            "full_restart_p50",
            &["full_restart", "ms"],
            &["full_restart", "ms"],
        ),
        (
            "full_restart_max",
            &["full_restart", "max_ms"],
            &["full_restart", "max_ms"],
        ),
    ];
    for (name, a, b) in pairs {
        out.insert(name.into(), ratio(&pick(ordo, a), &pick(comet, b)));
    }
    Value::Object(out)
}

/// "p50 / p99" of a latency report's `kind` (notarized or finalized), or why there is none.
fn cell(report: &Value, kind: &str) -> String {
    two_figures(report, &format!("{kind}_p50_ms"), &format!("{kind}_p99_ms"))
}

/// "a / b" of a report's figures `a` and `b` (ms), or why there are none.
fn two_figures(report: &Value, a: &str, b: &str) -> String {
    if let Some(reason) = report["skipped"].as_str().or(report["error"].as_str()) {
        return format!("- ({})", reason.chars().take(40).collect::<String>());
    }
    match (report[a].as_f64(), report[b].as_f64()) {
        (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
        _ => "-".into(),
    }
}

/// A recovery measure's runs, "1234, 1180, 990 ms", or why there are none (or no more). Given a
/// part (`ordo`, `cometbft`) that did not run at all, why not.
fn runs(report: &Value) -> String {
    if let Some(reason) = report["skipped"].as_str() {
        return format!("skipped: {reason}");
    }
    let times: Vec<String> = report["runs_ms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|ms| format!("{ms:.0} ms"))
        .collect();
    match report["error"].as_str() {
        Some(e) if times.is_empty() => format!("failed: {e}"),
        Some(e) => format!("{}, then failed: {e}", times.join(", ")),
        None => times.join(", "),
    }
}

fn number(v: &Value, decimals: usize) -> String {
    v.as_f64()
        .map(|x| format!("{x:.decimals$}"))
        .unwrap_or_else(|| "-".into())
}

fn print_table(report: &Value) {
    let o = &report["ordo"];
    let c = &report["cometbft"];
    let r = &report["ratios"];
    let delay = report["config"]["delay_ms"].as_u64().unwrap_or(0);
    let row = |what: &str, ordo: String, comet: String, ratio: String| {
        println!("{what:<40} {ordo:>16} {comet:>16} {ratio:>14}");
    };
    // Submit -> notarized in its two parts, below the line of the whole.
    let split = |part: &Value| {
        for (what, kind) in [
            ("  of it: submit->proposed p50 / p99 ms", "proposed"),
            (
                "  of it: proposed->notarized p50 / p99",
                "proposal_to_notarized",
            ),
        ] {
            row(what, cell(part, kind), String::new(), String::new());
        }
    };
    row("", "Ordo".into(), "CometBFT".into(), "Ordo/CometBFT".into());
    if let Some(runtime) = o["runtime"].as_str() {
        row(
            "consensus runtime (node.runtime)",
            runtime.into(),
            String::new(),
            String::new(),
        );
    }
    row(
        "idle: ms per block / CPU ms per block",
        two_figures(&o["idle"], "ms_per_block", "cpu_ms_per_block"),
        String::new(),
        String::new(),
    );
    row(
        "ordered tx/s at saturation",
        number(&o["saturation"]["tx_per_s"], 0),
        number(&c["saturation"]["tx_per_s"], 0),
        number(&r["tx_per_s"], 2),
    );
    row(
        "ordered MB/s at saturation",
        number(&o["saturation"]["mb_per_s"], 2),
        number(&c["saturation"]["mb_per_s"], 2),
        String::new(),
    );
    row(
        "half load: offered tx/s",
        number(&o["half_load"]["offered_tx_per_s"], 0),
        number(&c["half_load"]["offered_tx_per_s"], 0),
        String::new(),
    );
    row(
        "submit->notarized p50 / p99 ms",
        cell(&o["half_load"], "notarized"),
        "(commit below)".into(),
        format!(
            "{} / {}",
            number(&r["notarized_vs_committed_p50"], 2),
            number(&r["notarized_vs_committed_p99"], 2)
        ),
    );
    split(&o["half_load"]);
    row(
        "submit->finalized p50 / p99 ms",
        cell(&o["half_load"], "finalized"),
        cell(&c["half_load"], "finalized"),
        format!(
            "{} / {}",
            number(&r["finalized_p50"], 2),
            number(&r["finalized_p99"], 2)
        ),
    );
    row(
        &format!(
            "low load ({} tx/s): notarized p50 / p99",
            number(&o["low_load"]["offered_tx_per_s"], 0)
        ),
        cell(&o["low_load"], "notarized"),
        String::new(),
        String::new(),
    );
    split(&o["low_load"]);
    row(
        &format!("+{delay} ms one-way: notarized p50 / p99"),
        cell(&o["delayed"], "notarized"),
        String::new(),
        number(&r["delayed_notarized_vs_committed_p50"], 2),
    );
    split(&o["delayed"]);
    row(
        &format!("+{delay} ms one-way: finalized p50 / p99"),
        cell(&o["delayed"], "finalized"),
        cell(&c["delayed"], "finalized"),
        number(&r["delayed_finalized_p50"], 2),
    );
    for (what, key) in [
        ("leader kill -9 -> other's block p50/max", "leader_failover"),
        ("kill -9 all, restart -> block p50/max", "full_restart"),
    ] {
        row(
            what,
            two_figures(&o[key], "ms", "max_ms"),
            two_figures(&c[key], "ms", "max_ms"),
            format!(
                "{} / {}",
                number(&r[format!("{key}_p50")], 2),
                number(&r[format!("{key}_max")], 2)
            ),
        );
    }
    for (what, key) in [
        ("leader failover", "leader_failover"),
        ("full restart", "full_restart"),
    ] {
        for (name, part) in [("Ordo", o), ("CometBFT", c)] {
            let line = match &part[key] {
                // The whole part did not run (its reason is printed in full below).
                Value::Null => runs(part).chars().take(80).collect(),
                measure => runs(measure),
            };
            println!("{what} runs, {name}: {line}");
        }
    }
    for (i, l) in o["half_load"]["node_preconfirmation"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        println!(
            "validator {i}: accepted->notarized p50 {} ms, p99 {} ms (its last {} local txs measured, {} of them in the half-load phase)",
            l["p50Ms"], l["p99Ms"], l["window"], l["from_this_phase"]
        );
    }
    let delayed = format!("+{delay} ms one-way");
    for (phase, name) in [
        (&o["half_load"], "half load"),
        (&o["low_load"], "low load"),
        (&o["delayed"], delayed.as_str()),
    ] {
        for (i, b) in phase["node_blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            // The leader verifies no one else's block: its arrival and verification are empty.
            let p50 = |stage: &str| match b[stage]["p50Ms"].as_u64() {
                Some(ms) => format!("{ms} ms"),
                None => "-".to_string(),
            };
            println!(
                "validator {i}, {name}: block timestamp -> verifying p50 {}, verification p50 {}, timestamp -> notarized p50 {} (its last {} blocks, {} from the phase)",
                p50("arrival"),
                p50("verification"),
                p50("notarized"),
                b["notarized"]["window"],
                b["notarized"]["from_this_phase"]
            );
        }
        if let Some(ms) = phase["observed_block_notice_p50_ms"].as_f64() {
            println!(
                "client subscribed to validator 0, {name}: block timestamp -> notarized notice p50 {ms:.0} ms ({} blocks)",
                phase["observed_blocks"]
            );
        }
    }
    for (name, part) in [("ordo", o), ("cometbft", c)] {
        if let Some(reason) = part["skipped"].as_str() {
            println!("{name}: skipped: {reason}");
        }
        if let Some(message) = part["error"].as_str() {
            println!("{name}: failed: {message}");
        }
        if let Some(message) = part["delayed"]["error"].as_str() {
            println!("{name} with delay: failed: {message}");
        }
    }
    println!(
        "delay check: echo round trip through a relay {} ms (expected {}); load average {} -> {}",
        number(&report["delay_check"]["echo_rtt_p50_ms"], 1),
        2 * delay,
        report["load_average"]["start"].as_str().unwrap_or("?"),
        report["load_average"]["end"].as_str().unwrap_or("?"),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut opts = Options::parse()?;
    progress("start");
    let load_at_start = load_average();

    // The delay mechanism on its own: a round trip through one relay is twice the delay. If it
    // is not, the delayed runs are not made (their figures would mean nothing).
    let delay_check = if let Some(reason) = &opts.skip_delay {
        json!({ "skipped": reason })
    } else {
        check_delay(opts.delay).await.unwrap_or_else(error)
    };
    if let Some(message) = delay_check["error"].as_str() {
        opts.skip_delay = Some(format!("delay check failed: {message}"));
    }

    let ordo = if opts.ordo {
        ordo(&opts).await.unwrap_or_else(error)
    } else {
        json!({ "skipped": "--no-ordo" })
    };
    let cometbft = if !opts.cometbft {
        json!({ "skipped": "--no-cometbft" })
    } else if !ordo_tests::cometbft::binary().exists() {
        json!({ "skipped": format!("{} not found (`make cometbft-bin` builds it)", ordo_tests::cometbft::binary().display()) })
    } else {
        cometbft(&opts).await.unwrap_or_else(error)
    };
    let ratios = ratios(&ordo, &cometbft);
    let report = json!({
        "config": {
            "validators": opts.validators,
            "clients": opts.clients,
            "tx_bytes": TX_BYTES,
            "rollups": ROLLUPS.len(),
            "seconds_per_phase": opts.seconds,
            "block_interval_ms": opts.block_interval_ms,
            "delay_ms": opts.delay.as_millis() as u64,
            "ordo_config": opts
                .overrides
                .iter()
                .map(|(path, value)| format!("{}={value}", path.join(".")))
                .collect::<Vec<_>>(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        },
        "load_average": { "start": load_at_start, "end": load_average() },
        "delay_check": delay_check,
        "ordo": ordo,
        "cometbft": cometbft,
        "ratios": ratios,
    });
    println!("{report}");
    print_table(&report);
    if report["ordo"]["error"].is_string() {
        bail!("the Ordo benchmark failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_overrides_nested_keys_with_toml_values() {
        let (path, value) = parse_override("consensus.optimistic_views=2").unwrap();
        assert_eq!(path, ["consensus", "optimistic_views"]);
        assert_eq!(value, toml::Value::Integer(2));
        let (path, value) = parse_override("node.log_level=\"debug\"").unwrap();
        assert_eq!(path, ["node", "log_level"]);
        assert_eq!(value, toml::Value::String("debug".into()));
    }

    #[test]
    fn set_refuses_what_is_not_section_key_value() {
        for bad in [
            "optimistic_views=2",
            "consensus.=2",
            "consensus.x",
            "consensus.x=two",
        ] {
            assert!(parse_override(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_time_whatever_the_command_name() {
        let stat = "4242 (ordo (node) x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 731 129 0 0 20 0 9";
        assert_eq!(cpu_ticks(stat), Some(731 + 129));
        assert_eq!(cpu_ticks("4242 (ordo-node) S 1"), None);
        assert!(cpu_seconds(&[std::process::id()]).is_ok());
    }

    #[test]
    fn set_changes_one_key_and_keeps_the_rest() {
        let mut config: toml::Table =
            toml::from_str("[consensus]\nterm_length = 1000\n[node]\nworker_threads = 2\n")
                .unwrap();
        let (path, value) = parse_override("consensus.optimistic_views=4").unwrap();
        apply_override(&mut config, &path, value).unwrap();
        assert_eq!(
            config["consensus"]["optimistic_views"].as_integer(),
            Some(4)
        );
        assert_eq!(config["consensus"]["term_length"].as_integer(), Some(1000));
        assert_eq!(config["node"]["worker_threads"].as_integer(), Some(2));

        let (path, value) = parse_override("node.worker_threads.x=1").unwrap();
        let error = apply_override(&mut config, &path, value).unwrap_err();
        assert!(
            error.to_string().contains("`worker_threads` is a value"),
            "{error}"
        );
        assert_eq!(config["node"]["worker_threads"].as_integer(), Some(2));
    }
}
