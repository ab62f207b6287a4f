//! The OP Stack adopts Ordo's order: anvil (L1) + 4 Ordo validators + the adapter + unmodified
//! op-geth and op-node (verifier mode), for rollup 901.
//!
//! 1. 1,000 signed L2 transfers sent to Ordo appear in op-geth's blocks in Ordo's certified
//!    order; a transaction with a bad nonce among them is filtered and the chain goes on.
//! 2. op-node's safe head (derived from the batches on L1) reaches the last L2 block, and its
//!    hash is the block the adapter built.
//! 3. A second replica (its own op-geth, op-node and adapter) started mid-run builds identical
//!    blocks; after kill -9 of the first adapter the safe head keeps advancing on both op-nodes.
//! 4. The first adapter restarts, resumes from its op-geth's head and builds the same blocks.

use ordo_tests::{
    cluster::{free_port_range, Cluster},
    l1::{Anvil, Inbox},
    network::Network as _,
    op::{rpc, write_genesis, Replica, RollupInputs},
    txgen,
};
use serde_json::Value;
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

const ROLLUP: u64 = 901;
const TXS: usize = 1_000;
const SENDERS: usize = 20;
/// anvil's second development account: the rollup's batcher.
const BATCHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// Every sequenced (non-deposit) transaction hash in L2 blocks `1..=last`, in chain order.
async fn l2_order(replica: &Replica, last: u64) -> Vec<String> {
    let mut order = Vec::new();
    for n in 1..=last {
        let block = replica.block(n).await.unwrap().expect("block");
        for tx in block["transactions"].as_array().unwrap() {
            if tx["type"] != "0x7e" {
                order.push(tx["hash"].as_str().unwrap().to_string());
            }
        }
    }
    order
}

async fn block_hash(replica: &Replica, n: u64) -> String {
    replica.block(n).await.unwrap().expect("block")["hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The test's directory, kept (and printed) when the test fails.
struct Workdir(Option<tempfile::TempDir>);

impl Workdir {
    fn path(&self) -> &std::path::Path {
        self.0.as_ref().expect("present until drop").path()
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let kept = self.0.take().expect("present until drop").keep();
            eprintln!("rollup logs kept in {}", kept.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_stack_adopts_ordos_order() {
    let dir = Workdir(Some(
        tempfile::Builder::new()
            .prefix("ordo-op")
            .tempdir()
            .unwrap(),
    ));
    let anvil = Anvil::start(dir.path()).await.expect("anvil");
    let inbox = Inbox::deploy(&anvil, 5).await.expect("deploy inbox");
    let genesis_args = inbox.genesis_args(&anvil);
    // Replica ports first: validator 1 serves rollup 901's whole Ethereum RPC, reads from a's
    // op-geth.
    let ports = free_port_range(2 * Replica::PORTS);
    // Held until the replicas start, so the cluster does not pick these ports.
    let mut reserved: Vec<std::net::TcpListener> = (0..2 * Replica::PORTS)
        .map(|i| std::net::TcpListener::bind(("127.0.0.1", ports + i)).unwrap())
        .collect();
    let a_rpc = format!("http://127.0.0.1:{ports}");
    let cluster = Cluster::start_with(
        4,
        "901:evm,902:evm,903:opaque",
        100,
        &genesis_args,
        Box::new(move |i, config| {
            if i == 1 {
                let mut upstreams = toml::Table::new();
                upstreams.insert(ROLLUP.to_string(), a_rpc.clone().into());
                config.insert("execution_rpc".into(), upstreams.into());
            }
        }),
    )
    .expect("cluster");
    cluster
        .wait_finalized(2, Duration::from_secs(60))
        .await
        .unwrap();

    // The rollup: its genesis funds the transfer senders.
    let senders = txgen::sender_keys(SENDERS, 0x0b);
    let funded: Vec<String> = senders
        .iter()
        .map(|k| format!("{:#x}", k.address()))
        .collect();
    let genesis = dir.path().join("l2-genesis.json");
    let rollup_json = dir.path().join("rollup.json");
    write_genesis(&genesis, ROLLUP, &funded).expect("l2 genesis");
    let ordo_ws = format!("ws://{}", cluster.rpc[1]);
    let inputs = RollupInputs {
        chain_id: ROLLUP,
        l1_url: &anvil.url(),
        ordo_ws: &ordo_ws,
        group_key: &cluster.group_key,
        batcher_key: BATCHER_KEY,
    };
    reserved.drain(..Replica::PORTS as usize);
    let mut a = Replica::start(
        &dir.path().join("a"),
        &inputs,
        &genesis,
        &rollup_json,
        ports,
    )
    .await
    .expect("replica a");
    a.start_adapter().unwrap();
    a.wait_heads(Duration::from_secs(60), "first L2 blocks", |u, _| u >= 2)
        .await
        .unwrap();

    // 1,000 transfers plus one with a nonce 10 ahead of its sender's last.
    let mut txs = txgen::evm_transfers(ROLLUP, TXS, SENDERS, 0x0b);
    let bad = txgen::evm_transfers(ROLLUP, SENDERS * 60, SENDERS, 0x0b)
        .pop()
        .unwrap();
    txs.insert(TXS / 2, bad.clone());
    let bad_hash = format!("0x{}", hex::encode(ordo_types::tx_hash(&bad)));
    let submitted = Instant::now();
    let hashes = cluster.submit(0, ROLLUP, &txs).await.expect("submit");

    // Unsafe inclusion: every good transaction in op-geth's chain.
    let good: Vec<&String> = hashes.iter().filter(|h| **h != bad_hash).collect();
    let mut first_seen: HashMap<String, Duration> = HashMap::new();
    // Hash of each block as first built (before op-node derived anything over it).
    let mut built: Vec<String> = Vec::new();
    let mut scanned = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    let arrived =
        |seen: &HashMap<String, Duration>| good.iter().filter(|h| seen.contains_key(**h)).count();
    while arrived(&first_seen) < good.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} transactions reached op-geth (logs in {})",
            arrived(&first_seen),
            good.len(),
            dir.path().display()
        );
        let (u, _) = a.heads().await.unwrap();
        while scanned < u {
            scanned += 1;
            let block = a.block(scanned).await.unwrap().expect("block");
            built.push(block["hash"].as_str().unwrap().to_string());
            for tx in block["transactions"].as_array().unwrap() {
                let h = tx["hash"].as_str().unwrap().to_string();
                first_seen.entry(h).or_insert(submitted.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last_block = scanned;
    let mut latencies: Vec<Duration> = good.iter().map(|h| first_seen[*h]).collect();
    latencies.sort();
    println!(
        "submit -> unsafe L2 inclusion: p50 {:?}, p99 {:?}, last {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies.last().unwrap()
    );
    assert!(
        !first_seen.contains_key(&bad_hash),
        "bad-nonce tx was included"
    );

    // Order: op-geth's order is Ordo's certified order (height, then index in the batch).
    let receipts = cluster.receipts(1, &hashes).await.unwrap();
    let mut certified: Vec<(u64, u64, String)> = receipts
        .iter()
        .zip(&hashes)
        .map(|(r, h)| {
            let r: &Value = &r["receipt"];
            (
                r["height"].as_u64().unwrap(),
                r["index"].as_u64().unwrap(),
                h.clone(),
            )
        })
        .collect();
    certified.sort();
    let certified: Vec<String> = certified
        .into_iter()
        .map(|(_, _, h)| h)
        .filter(|h| *h != bad_hash)
        .collect();
    let l2: Vec<String> = l2_order(&a, last_block)
        .await
        .into_iter()
        .filter(|h| first_seen.contains_key(h))
        .collect();
    assert_eq!(l2, certified, "op-geth's order differs from Ordo's");
    let adapter_log = std::fs::read_to_string(a.dir.join("adapter.log")).unwrap();
    assert!(
        adapter_log.contains(&bad_hash[2..]) || adapter_log.contains(&bad_hash),
        "the filtered transaction is not reported in the adapter's log"
    );

    // One URL for the rollup: Ordo answers writes and its own methods, op-geth the reads.
    let url = format!("http://{}/rollup/{ROLLUP}", cluster.rpc[1]);
    let sender = format!("{:#x}", senders[0].address());
    assert_eq!(
        rpc(&url, "eth_chainId", serde_json::json!([]))
            .await
            .unwrap(),
        "0x385"
    );
    let nonce = rpc(
        &url,
        "eth_getTransactionCount",
        serde_json::json!([sender, "latest"]),
    )
    .await
    .unwrap();
    assert_eq!(
        nonce,
        format!("{:#x}", TXS / SENDERS),
        "nonce read through /rollup/901"
    );
    let receipt = rpc(
        &url,
        "eth_getTransactionReceipt",
        serde_json::json!([good[0]]),
    )
    .await
    .unwrap();
    assert_eq!(
        receipt["status"], "0x1",
        "L2 receipt through /rollup/901: {receipt}"
    );
    let preconf = rpc(&url, "ordo_getReceipt", serde_json::json!([good[0]]))
        .await
        .unwrap();
    assert_eq!(preconf["status"], "finalized");
    println!("/rollup/{ROLLUP}: chain id and ordo_getReceipt from Ordo, nonce and L2 receipt from op-geth");

    // Safe head: op-node derives the same blocks from the batches on L1.
    a.wait_heads(Duration::from_secs(120), "safe head", |_, s| {
        s >= last_block
    })
    .await
    .unwrap();
    println!(
        "submit -> safe head past the last transfer: {:?}",
        submitted.elapsed()
    );
    for (n, hash) in (1..=last_block).zip(&built) {
        assert_eq!(
            &block_hash(&a, n).await,
            hash,
            "op-node replaced the adapter's block {n} when deriving it"
        );
    }
    // Number and hash from one status: the safe head keeps moving.
    let status = a.sync_status().await.unwrap();
    let safe = status["safe_l2"]["number"].as_u64().unwrap();
    let safe_hash = status["safe_l2"]["hash"].as_str().unwrap().to_string();
    assert_eq!(safe_hash, block_hash(&a, safe).await);
    println!("op-node's safe head {safe} ({safe_hash}) is the adapter's block");

    // A second replica joins mid-run and builds the same chain.
    drop(reserved);
    let mut b = Replica::start(
        &dir.path().join("b"),
        &inputs,
        &genesis,
        &rollup_json,
        ports + Replica::PORTS,
    )
    .await
    .expect("replica b");
    b.start_adapter().unwrap();
    let target = a.heads().await.unwrap().0;
    b.wait_heads(Duration::from_secs(120), "replica b catches up", |u, _| {
        u >= target
    })
    .await
    .unwrap();
    for n in (1..=target)
        .step_by((target as usize / 20).max(1))
        .chain([target])
    {
        assert_eq!(
            block_hash(&a, n).await,
            block_hash(&b, n).await,
            "block {n} differs"
        );
    }
    println!("replica b: blocks 1..={target} identical to replica a");

    // kill -9 of the first adapter: b's batches keep both safe heads moving.
    a.kill_adapter();
    let (_, safe_a) = a.heads().await.unwrap();
    let (_, safe_b) = b.heads().await.unwrap();
    let moved = Instant::now();
    b.wait_heads(Duration::from_secs(90), "safe head after kill", |_, s| {
        s >= safe_b + 10
    })
    .await
    .unwrap();
    a.wait_heads(Duration::from_secs(90), "a's op-node follows L1", |_, s| {
        s >= safe_a + 10
    })
    .await
    .unwrap();
    println!(
        "after kill -9 of adapter a: safe heads advanced 10 blocks in {:?}",
        moved.elapsed()
    );
    assert_eq!(
        block_hash(&a, safe_a + 10).await,
        block_hash(&b, safe_a + 10).await
    );

    // Adapter a restarts: it resumes from op-geth's head and keeps building b's chain.
    let restarted = Instant::now();
    a.start_adapter().unwrap();
    let target = b.heads().await.unwrap().0 + 5;
    a.wait_heads(Duration::from_secs(90), "restarted adapter a", |u, _| {
        u >= target
    })
    .await
    .unwrap();
    b.wait_heads(Duration::from_secs(90), "replica b", |u, _| u >= target)
        .await
        .unwrap();
    assert_eq!(block_hash(&a, target).await, block_hash(&b, target).await);
    let log = std::fs::read_to_string(a.dir.join("adapter.log")).unwrap();
    let resumed = log
        .lines()
        .filter(|l| l.contains("adapter starting"))
        .nth(1)
        .expect("second start logged")
        .to_string();
    assert!(
        !resumed.contains("l2_head=0"),
        "restart did not resume: {resumed}"
    );
    println!(
        "adapter a restarted and built block {target} (identical to b) {:?} later",
        restarted.elapsed()
    );
}
