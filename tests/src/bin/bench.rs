//! `make bench`: ordered throughput and preconfirmation latency of local validators.
//!
//! Starts a cluster of real `ordo-node` processes on loopback, saturates it with 200-byte
//! transactions over 3 rollups from concurrent clients, then offers half that rate and measures
//! submit -> notarized (preconfirmation) and submit -> finalized from a WebSocket subscription,
//! next to each validator's own accepted -> notarized figure (`ordo_status`). Prints a JSON line
//! and a short table.

use anyhow::{Context as _, Result};
use jsonrpsee::{core::client::SubscriptionClientT, rpc_params, ws_client::WsClientBuilder};
use ordo_tests::{cluster::Cluster, txgen};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const ROLLUPS: [u64; 3] = [901, 902, 903];

#[derive(Default)]
struct Timeline {
    submitted: HashMap<String, Instant>,
    notarized: HashMap<String, Instant>,
    finalized: HashMap<String, Instant>,
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(mut v: Vec<Duration>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// Offers load from `clients` concurrent clients (each sends batches of 100 and waits for the
/// answer) for `duration` at `rate` tx/s (0 = as fast as they go); returns count sent.
async fn offer(
    clients: usize,
    cluster: &Arc<Cluster>,
    timeline: &Arc<Mutex<Timeline>>,
    duration: Duration,
    rate: u64,
    salt: u64,
) -> usize {
    let batch = 100;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let cluster = cluster.clone();
        let timeline = timeline.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut sent = 0usize;
            let mut round = 0u64;
            while start.elapsed() < duration {
                let rollup = ROLLUPS[(c + round as usize) % ROLLUPS.len()];
                let txs = txgen::opaque(batch, 200, (salt << 32) | ((c as u64) << 24) | round);
                round += 1;
                let via = (c + round as usize) % cluster.len();
                let at = Instant::now();
                let Ok(hashes) = cluster.submit(via, rollup, &txs).await else {
                    continue;
                };
                {
                    let mut t = timeline.lock().unwrap();
                    for h in hashes {
                        t.submitted.insert(h, at);
                    }
                }
                sent += batch;
                if rate > 0 {
                    let per_client = rate as f64 / clients as f64;
                    let due = start + Duration::from_secs_f64(sent as f64 / per_client);
                    tokio::time::sleep_until(due.into()).await;
                }
            }
            sent
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total
}

async fn settle(timeline: &Arc<Mutex<Timeline>>, timeout: Duration) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        {
            let t = timeline.lock().unwrap();
            if t.submitted.keys().all(|h| t.finalized.contains_key(h)) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let validators = arg("--validators", 4) as usize;
    let seconds = arg("--seconds", 10);
    // Fewer clients leave the cluster idle between their round trips (6 reached ~3,900 tx/s,
    // 16 ~6,900, 32 ~7,800 on 2 cores): saturation needs many in flight.
    let clients = arg("--clients", 32) as usize;
    let rollups = ROLLUPS.map(|r| format!("{r}:opaque")).join(",");
    let cluster = Arc::new(Cluster::start(validators, &rollups, 20)?);
    cluster.wait_finalized(2, Duration::from_secs(60)).await?;

    let timeline: Arc<Mutex<Timeline>> = Default::default();
    let ws = WsClientBuilder::default()
        .max_buffer_capacity_per_subscription(1 << 20)
        .build(format!("ws://{}", cluster.rpc[0]))
        .await
        .context("websocket")?;
    let mut sub = ws
        .subscribe::<Value, _>(
            "ordo_subscribeReceipts",
            rpc_params![],
            "ordo_unsubscribeReceipts",
        )
        .await?;
    let listener = {
        let timeline = timeline.clone();
        tokio::spawn(async move {
            while let Some(Ok(v)) = sub.next().await {
                let now = Instant::now();
                let items = match v {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                let mut t = timeline.lock().unwrap();
                for item in items {
                    let hash = item["txHash"].as_str().unwrap_or_default().to_string();
                    match item["status"].as_str() {
                        Some("notarized") => t.notarized.entry(hash).or_insert(now),
                        Some("finalized") => t.finalized.entry(hash).or_insert(now),
                        _ => continue,
                    };
                }
            }
        })
    };

    // Saturation.
    let start = Instant::now();
    let sent = offer(
        clients,
        &cluster,
        &timeline,
        Duration::from_secs(seconds),
        0,
        1,
    )
    .await;
    settle(&timeline, Duration::from_secs(60)).await;
    let (finalized, last) = {
        let t = timeline.lock().unwrap();
        let last = t.finalized.values().max().copied().unwrap_or(start);
        (
            t.submitted
                .keys()
                .filter(|h| t.finalized.contains_key(*h))
                .count(),
            last,
        )
    };
    let elapsed = last.duration_since(start).as_secs_f64();
    let tps = finalized as f64 / elapsed;
    let mbps = tps * 200.0 / 1e6;

    // Latency at half of saturation.
    *timeline.lock().unwrap() = Timeline::default();
    let half = (tps / 2.0).max(100.0) as u64;
    offer(
        clients,
        &cluster,
        &timeline,
        Duration::from_secs(seconds),
        half,
        2,
    )
    .await;
    settle(&timeline, Duration::from_secs(60)).await;
    let (notarized, finals, half_count) = {
        let t = timeline.lock().unwrap();
        let lat = |m: &HashMap<String, Instant>| -> Vec<Duration> {
            t.submitted
                .iter()
                .filter_map(|(h, s)| m.get(h).map(|at| at.saturating_duration_since(*s)))
                .collect()
        };
        (lat(&t.notarized), lat(&t.finalized), t.submitted.len())
    };
    listener.abort();
    // The nodes' own measure of the same (accepted -> notarized seen locally, no client or
    // subscription in the path): p50/p99 over each validator's recent local submissions.
    let mut node_side = Vec::new();
    for i in 0..cluster.len() {
        if let Ok(status) = cluster.status(i).await {
            node_side.push(status["preconfirmationLatency"].clone());
        }
    }

    let report = json!({
        "validators": validators,
        "clients": clients,
        "tx_bytes": 200,
        "rollups": 3,
        "saturation": { "sent": sent, "finalized": finalized, "seconds": elapsed, "tx_per_s": tps, "mb_per_s": mbps },
        "half_load": {
            "offered_tx_per_s": half, "txs": half_count,
            "notarized_p50_ms": percentile(notarized.clone(), 0.5),
            "notarized_p99_ms": percentile(notarized, 0.99),
            "finalized_p50_ms": percentile(finals.clone(), 0.5),
            "finalized_p99_ms": percentile(finals, 0.99),
            "node_preconfirmation": node_side,
        }
    });
    println!("{report}");
    let h = &report["half_load"];
    println!("ordered throughput   {tps:>10.0} tx/s  ({mbps:.2} MB/s, {finalized} txs)");
    println!(
        "submit->notarized    p50 {:>7.1} ms   p99 {:>7.1} ms   (at {half} tx/s)",
        h["notarized_p50_ms"].as_f64().unwrap_or(f64::NAN),
        h["notarized_p99_ms"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "submit->finalized    p50 {:>7.1} ms   p99 {:>7.1} ms",
        h["finalized_p50_ms"].as_f64().unwrap_or(f64::NAN),
        h["finalized_p99_ms"].as_f64().unwrap_or(f64::NAN)
    );
    for (i, l) in h["node_preconfirmation"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        println!(
            "validator {i}: accepted->notarized p50 {} ms   p99 {} ms   (its last {} local txs)",
            l["p50Ms"], l["p99Ms"], l["window"]
        );
    }
    Ok(())
}
