//! The L1 follower against a real anvil: it rebuilds the inbox queue from logs, ignores re-orgs
//! shallower than its confirmation depth, and rewinds through deeper ones (`anvil_reorg`).

use alloy::providers::Provider;
use ordo_l1::{follow, FollowerConfig, L1State};
use ordo_tests::l1::{Anvil, Inbox};
use std::time::{Duration, Instant};

const ROLLUP: u64 = 903;
const CONFIRMATIONS: u64 = 3;

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_tracks_confirmed_l1_through_reorgs() {
    let dir = tempfile::tempdir().unwrap();
    let anvil = Anvil::start(dir.path()).await.unwrap();
    let inbox = Inbox::deploy(&anvil, 5).await.unwrap();
    let state = L1State::new([ROLLUP]);
    let follower = tokio::spawn(follow(
        FollowerConfig {
            rpc_url: anvil.url(),
            inbox: inbox.address,
            confirmations: CONFIRMATIONS,
            start_block: 0,
            poll_interval: Duration::from_millis(50),
            request_timeout: Duration::from_secs(2),
            max_blocks_per_poll: 64,
        },
        state.clone(),
    ));
    let provider = anvil.provider();
    let queued = |s: &L1State| s.with_queue(ROLLUP, |q| q.len());

    // An entry becomes known once its block has CONFIRMATIONS blocks on top.
    let a = inbox.submit(ROLLUP, b"entry a").await.unwrap();
    wait_until("entry a", || queued(&state) == 1).await;
    let head = state.head().unwrap();
    assert!(head.number >= a.l1_block);
    let tip = provider.get_block_number().await.unwrap();
    assert!(
        tip >= head.number + CONFIRMATIONS,
        "used an unconfirmed block"
    );

    // A re-org shallower than the confirmation depth: entry b is mined, then its block is
    // replaced before it is confirmed. The follower never sees it.
    let b = inbox.submit(ROLLUP, b"entry b").await.unwrap();
    let tip = provider.get_block_number().await.unwrap();
    let depth = tip - b.l1_block + 1;
    if depth < CONFIRMATIONS {
        let _: () = provider
            .raw_request("anvil_reorg".into(), (depth, Vec::<()>::new()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(CONFIRMATIONS + 2)).await;
        assert_eq!(queued(&state), 1, "an unconfirmed, re-orged entry was used");
    } else {
        // anvil mined faster than we could re-org: b is legitimately confirmed.
        wait_until("entry b", || queued(&state) == 2).await;
    }
    let before = queued(&state);

    // A re-org deeper than the confirmation depth: an entry the follower already used is
    // replaced. The follower rewinds and rebuilds the queue from the new fork.
    let c = inbox.submit(ROLLUP, b"entry c").await.unwrap();
    wait_until("entry c", || queued(&state) == before + 1).await;
    let old_hash = state.hash_at(c.l1_block).unwrap();
    let tip = provider.get_block_number().await.unwrap();
    let depth = tip - c.l1_block + 1;
    let _: () = provider
        .raw_request("anvil_reorg".into(), (depth, Vec::<()>::new()))
        .await
        .unwrap();
    wait_until("the follower to rewind", || {
        state.hash_at(c.l1_block).is_some_and(|h| h != old_hash)
    })
    .await;
    assert_eq!(queued(&state), before, "the re-orged entry is still queued");

    // The queue goes on from the new fork with a consistent accumulator chain.
    let d = inbox.submit(ROLLUP, b"entry d").await.unwrap();
    assert_eq!(d.index, before);
    wait_until("entry d", || queued(&state) == before + 1).await;
    follower.abort();
}
