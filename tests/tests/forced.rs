//! Forced inclusion against a real L1: anvil (from the contracts' npm packages) with the
//! `ForcedInclusionInbox` deployed, and 4 real `ordo-node` validators following it. Transactions
//! are sent only to the L1 inbox, never to a validator's RPC.
//!
//! 1. A queued transaction appears in its rollup's certified stream by its deadline; its receipt
//!    says forced and verifies offline.
//! 2. A malformed entry is consumed without being included; the entry behind it lands.
//! 3. Validator 0 censors (test-only switch): while it leads, the entry lands anyway, and the
//!    honest validators refuse its blocks once the entry is due.
//! 4. Validator 3's L1 endpoint is cut: it never votes against a valid block, the chain goes on.
//! 5. anvil restarts: the followers reconnect and the next entry lands.

use jsonrpsee::{core::client::ClientT, rpc_params};
use ordo_tests::{
    cluster::Cluster,
    l1::{Anvil, Inbox, Proxy, Queued},
    network::Network as _,
    txgen,
};
use serde_json::Value;
use std::time::{Duration, Instant};

const ROLLUPS: &str = "901:evm,902:evm,903:opaque";
const ROLLUP: u64 = 901;
/// L1 blocks (1 s each on this anvil) until an entry is due.
const INCLUSION_DELAY: u64 = 5;
const CENSOR: usize = 0;
const CUT_OFF: usize = 3;

fn hash_of(tx: &[u8]) -> String {
    format!("0x{}", hex::encode(ordo_types::tx_hash(tx)))
}

/// Waits for a notarized or finalized receipt of `hash` on validator `via`.
/// Prints how long after the L1 submission was mined the receipt appeared.
async fn wait_receipt(cluster: &Cluster, via: usize, hash: &str, timeout: Duration) -> Value {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        if let Ok(r) = cluster.receipts(via, &[hash.to_string()]).await {
            let status = r[0]["status"].as_str().unwrap_or_default();
            if status == "notarized" || status == "finalized" {
                println!(
                    "{hash}: {status} {:?} after its L1 block was mined",
                    started.elapsed()
                );
                return r[0].clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{hash} not included within {timeout:?}; logs in {}",
            cluster.path().display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn block(cluster: &Cluster, via: usize, height: u64) -> Value {
    cluster
        .client(via)
        .request("ordo_getBlock", rpc_params![height])
        .await
        .expect("getBlock")
}

/// Checks the receipt of a forced transaction: marked forced, verifies offline, and no block
/// before it named an L1 block at or past the entry's deadline. Returns its L1 reference.
async fn assert_forced_on_time(
    cluster: &Cluster,
    receipt: &Value,
    queued: &Queued,
    what: &str,
) -> u64 {
    let r = &receipt["receipt"];
    assert_eq!(r["forced"], true, "{what}: receipt not marked forced: {r}");
    let height = r["height"].as_u64().unwrap();
    let l1 = r["header"]["l1"]["number"].as_u64().unwrap();
    let parent = block(cluster, 1, height - 1).await;
    let parent_l1 = parent["header"]["l1"]["number"].as_u64().unwrap();
    assert!(
        parent_l1 < queued.deadline,
        "{what}: block {} named L1 block {parent_l1} >= deadline {} without it",
        height - 1,
        queued.deadline
    );
    let file = cluster.path().join("forced-receipt.json");
    std::fs::write(&file, serde_json::to_vec(receipt).unwrap()).unwrap();
    let (ok, out) = cluster.verify(&file).unwrap();
    assert!(ok && out.contains("forced"), "{what}: verify failed: {out}");
    println!(
        "{what}: queued at L1 {} (due {}), included at height {height} with L1 ref {l1}",
        queued.l1_block, queued.deadline
    );
    l1
}

fn log_of(cluster: &Cluster, i: usize) -> String {
    std::fs::read_to_string(cluster.path().join(format!("validator-{i}.log"))).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_inclusion_against_anvil() {
    let l1_dir = tempfile::Builder::new()
        .prefix("ordo-l1")
        .tempdir()
        .unwrap();
    let mut anvil = Anvil::start(l1_dir.path()).await.expect("anvil");
    let inbox = Inbox::deploy(&anvil, INCLUSION_DELAY)
        .await
        .expect("deploy");
    let mut proxy = Proxy::start(anvil.addr()).await.unwrap();
    let proxy_url = proxy.url();
    let genesis_args = inbox.genesis_args(&anvil);
    let cluster = Cluster::start_with(
        4,
        ROLLUPS,
        50,
        &genesis_args,
        Box::new(move |i, config| {
            // Terms long enough that the censor keeps leading past an entry's deadline.
            config["consensus"]
                .as_table_mut()
                .unwrap()
                .insert("term_length".into(), 200.into());
            if i == CENSOR {
                let mut testing = toml::Table::new();
                testing.insert("censor_forced".into(), true.into());
                config.insert("testing".into(), testing.into());
            }
            if i == CUT_OFF {
                config["l1"]
                    .as_table_mut()
                    .unwrap()
                    .insert("rpc".into(), proxy_url.clone().into());
            }
        }),
    )
    .expect("cluster");
    cluster
        .wait_finalized(2, Duration::from_secs(60))
        .await
        .unwrap();
    let txs = txgen::evm_transfers(ROLLUP, 5, 5, 0xf0);

    // 1. Only on L1: it lands by its deadline, marked forced, and verifies.
    let queued = inbox.submit(ROLLUP, &txs[0]).await.unwrap();
    let receipt = wait_receipt(&cluster, 1, &hash_of(&txs[0]), Duration::from_secs(60)).await;
    assert_forced_on_time(&cluster, &receipt, &queued, "forced tx").await;

    // 2. A malformed entry is consumed, never included, and does not block the next one.
    let garbage = vec![0xde; 300];
    let bad = inbox.submit(ROLLUP, &garbage).await.unwrap();
    let queued = inbox.submit(ROLLUP, &txs[1]).await.unwrap();
    assert_eq!(queued.index, bad.index + 1);
    let receipt = wait_receipt(&cluster, 1, &hash_of(&txs[1]), Duration::from_secs(60)).await;
    assert_forced_on_time(&cluster, &receipt, &queued, "entry after a malformed one").await;
    let cursor = receipt["receipt"]["header"]["forced"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rollup"] == ROLLUP)
        .unwrap()["nextIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(cursor, queued.index + 1, "cursor moved past both entries");
    let r = cluster.receipts(1, &[hash_of(&garbage)]).await.unwrap();
    assert!(
        r[0]["receipt"].is_null(),
        "malformed entry was included: {}",
        r[0]
    );

    // 3. The censor leads: wait for the start of its term (so it still leads at the deadline),
    // then queue an entry.
    let started = Instant::now();
    while cluster.leader(1).await.ok() == Some(CENSOR) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "validator {CENSOR} never stops leading"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while cluster.leader(1).await.ok() != Some(CENSOR) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "validator {CENSOR} never led"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let submitted = Instant::now();
    let queued = inbox.submit(ROLLUP, &txs[2]).await.unwrap();
    let receipt = wait_receipt(&cluster, 1, &hash_of(&txs[2]), Duration::from_secs(60)).await;
    println!(
        "censored entry landed {:?} after submission",
        submitted.elapsed()
    );
    assert_forced_on_time(&cluster, &receipt, &queued, "censored tx").await;
    let leader = receipt["receipt"]["header"]["leader"].as_str().unwrap();
    assert_ne!(
        leader.trim_start_matches("0x"),
        cluster.public_keys[CENSOR],
        "the censor included it"
    );
    let refusals: usize = (0..4)
        .filter(|&i| i != CENSOR)
        .map(|i| log_of(&cluster, i).matches("forced cursor").count())
        .sum();
    assert!(
        refusals > 0,
        "no honest validator refused the censor's blocks"
    );
    println!("honest validators refused {refusals} censoring proposals");

    // 4. Validator 3 loses its L1 endpoint: it waits instead of voting against valid blocks.
    let before = log_of(&cluster, CUT_OFF).len();
    proxy.cut();
    let queued = inbox.submit(ROLLUP, &txs[3]).await.unwrap();
    let receipt = wait_receipt(&cluster, 1, &hash_of(&txs[3]), Duration::from_secs(60)).await;
    assert_forced_on_time(&cluster, &receipt, &queued, "with one L1 endpoint down").await;
    let height = receipt["receipt"]["height"].as_u64().unwrap();
    for i in [0, 1, 2] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while cluster.status(i).await.unwrap()["finalizedHeight"]
            .as_u64()
            .unwrap()
            < height + 5
        {
            assert!(
                Instant::now() < deadline,
                "chain stopped with one L1 endpoint down"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let after = log_of(&cluster, CUT_OFF);
    assert!(
        !after[before..].contains("rejecting block"),
        "validator {CUT_OFF} voted against a block while its L1 was down"
    );
    proxy.restore().await.unwrap();

    // 5. anvil restarts (state kept): followers reconnect and catch up.
    anvil.restart(Duration::from_secs(2)).await.unwrap();
    let queued = inbox.submit(ROLLUP, &txs[4]).await.unwrap();
    let receipt = wait_receipt(&cluster, 1, &hash_of(&txs[4]), Duration::from_secs(60)).await;
    assert_forced_on_time(&cluster, &receipt, &queued, "after an anvil restart").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(&cluster, CUT_OFF).contains("L1 endpoint reachable again") {
        assert!(
            Instant::now() < deadline,
            "validator {CUT_OFF} did not reconnect to L1"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Reconnected, it shows the L1 head from its next poll on.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = cluster.status(CUT_OFF).await.unwrap();
        assert!(status["finalizedHeight"].as_u64().unwrap() > height);
        if status["l1Head"]["number"].as_u64().unwrap_or(0) >= queued.l1_block {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ordo_status does not show the caught-up L1 head: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // anvil reloads its state file, so the chain the followers knew is still there.
    for i in 0..4 {
        assert!(
            !log_of(&cluster, i).contains("re-org"),
            "validator {i} saw an L1 re-org across the anvil restart"
        );
    }
    drop(cluster);
    drop(proxy);
    drop(anvil);
}
